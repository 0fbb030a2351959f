//! A simulated ONVIF camera: a real HTTP/1.1 + SOAP 1.2 server on 127.0.0.1 speaking the
//! device, media and event services well enough for a real ONVIF client, in one of several
//! vendor dialects ([`Vendor`]). Tests drive it through [`SimCamera`]: raise motion, emit other
//! topics, reboot it, change its password, and read counters of what the client did.
//!
//! Modules: [`dialect`] (how each vendor writes replies), `server` (accept loop, HTTP, auth),
//! `handlers` (the SOAP operations and subscriptions).

pub mod dialect;
mod handlers;
mod server;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use vigil_core::rng::SplitMix64;
use vigil_core::time::{Clock, SystemClock, Time};

pub use dialect::{Bools, Message, TopicSpec, Vendor};

/// Which credentials the camera demands (GetSystemDateAndTime never needs any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// WS-Security UsernameToken PasswordDigest in the SOAP header.
    WsSecurity,
    /// HTTP Digest (`401` + `WWW-Authenticate: Digest`); the SOAP header is not checked.
    HttpDigest,
    /// Both.
    Both,
}

impl AuthMode {
    pub fn parse(s: &str) -> Option<AuthMode> {
        Some(match s {
            "ws" | "wsse" | "ws-security" => AuthMode::WsSecurity,
            "digest" | "http-digest" => AuthMode::HttpDigest,
            "both" => AuthMode::Both,
            _ => return None,
        })
    }
    fn ws(self) -> bool {
        self != AuthMode::HttpDigest
    }
    fn digest(self) -> bool {
        self != AuthMode::WsSecurity
    }
}

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub vendor: Vendor,
    pub username: String,
    pub password: String,
    pub auth: AuthMode,
    /// The camera's clock minus the real clock, in seconds (negative: behind).
    pub clock_skew_secs: i64,
    /// The longest subscription lifetime granted at creation and on Renew.
    pub max_termination: Duration,
    /// The longest PullMessages long poll honoured.
    pub max_pull_timeout: Duration,
    /// WS-Security `Created` further than this from the camera's clock is refused.
    pub created_tolerance: Duration,
    /// What GetStreamUri answers.
    pub rtsp_url: String,
    /// Overrides the vendor's motion topics.
    pub motion_topics: Option<Vec<TopicSpec>>,
}

impl SimConfig {
    pub fn new(vendor: Vendor) -> Self {
        SimConfig {
            vendor,
            username: "admin".into(),
            password: "secret".into(),
            auth: AuthMode::WsSecurity,
            clock_skew_secs: 0,
            max_termination: Duration::from_secs(60),
            max_pull_timeout: Duration::from_secs(60),
            created_tolerance: Duration::from_secs(300),
            rtsp_url: "rtsp://127.0.0.1:8554/stream".into(),
            motion_topics: None,
        }
    }
}

/// What the client did, as the camera saw it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    pub requests: u64,
    pub subscriptions_created: u64,
    pub renewals: u64,
    pub pulls: u64,
    pub unsubscribes: u64,
    /// Requests refused for bad credentials (WS-Security or a wrong HTTP Digest response).
    pub auth_failures: u64,
    /// `401` challenges sent to requests without HTTP Digest credentials.
    pub digest_challenges: u64,
    /// Subscription calls refused for a missing ReferenceParameter header.
    pub invalid_args: u64,
    /// Calls on a subscription that expired or was forgotten.
    pub resource_unknown: u64,
    pub messages_delivered: u64,
    pub stream_uri_requests: u64,
    pub reboots: u64,
    /// Connections dropped while "rebooting".
    pub refused_connections: u64,
    pub active_subscriptions: u64,
}

#[derive(Debug)]
struct Sub {
    address: String,
    termination: Time,
    queue: VecDeque<Message>,
    notify: Arc<Notify>,
}

#[derive(Debug)]
struct State {
    cfg: SimConfig,
    subs: BTreeMap<u64, Sub>,
    next_sub: u64,
    motion_on: bool,
    down_until: Option<tokio::time::Instant>,
    recent_nonces: VecDeque<String>,
    digest_nonce: String,
    rng: SplitMix64,
}

impl State {
    fn random_hex(&mut self) -> String {
        format!("{:016x}{:016x}", self.rng.next_u64(), self.rng.next_u64())
    }

    fn motion_topics(&self) -> Vec<TopicSpec> {
        self.cfg
            .motion_topics
            .clone()
            .unwrap_or_else(|| self.cfg.vendor.motion_topics())
    }
}

struct Shared {
    state: Mutex<State>,
    counters: watch::Sender<Counters>,
    base_url: String,
    clock: Arc<dyn Clock>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, f: impl FnOnce(&mut Counters)) {
        self.counters.send_modify(f);
    }

    /// The camera's clock (real clock + skew).
    fn cam_now(&self, st: &State) -> Time {
        self.clock
            .now()
            .plus_micros(st.cfg.clock_skew_secs.saturating_mul(1_000_000))
    }

    /// Forgets expired subscriptions.
    fn expire(&self, st: &mut State) {
        let now = self.cam_now(st);
        st.subs.retain(|_, s| s.termination > now);
        let n = st.subs.len() as u64;
        self.count(|c| c.active_subscriptions = n);
    }

    fn push_all(&self, st: &mut State, msgs: &[Message]) {
        for s in st.subs.values_mut() {
            s.queue.extend(msgs.iter().cloned());
            s.notify.notify_one();
        }
    }
}

/// A running simulated camera. Dropping it stops the server.
pub struct SimCamera {
    shared: Arc<Shared>,
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SimCamera {
    /// Starts on 127.0.0.1 with a free port.
    pub async fn start(cfg: SimConfig) -> std::io::Result<SimCamera> {
        Self::start_on("127.0.0.1:0".parse().expect("literal address"), cfg).await
    }

    pub async fn start_on(addr: SocketAddr, cfg: SimConfig) -> std::io::Result<SimCamera> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ u64::from(addr.port());
        let mut state = State {
            cfg,
            subs: BTreeMap::new(),
            next_sub: 1,
            motion_on: false,
            down_until: None,
            recent_nonces: VecDeque::new(),
            digest_nonce: String::new(),
            rng: SplitMix64::new(seed),
        };
        state.digest_nonce = state.random_hex();
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            counters: watch::Sender::new(Counters::default()),
            base_url: format!("http://{addr}"),
            clock: Arc::new(SystemClock),
        });
        let task = tokio::spawn(server::serve(listener, shared.clone()));
        Ok(SimCamera { shared, addr, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/onvif/device_service`
    pub fn device_url(&self) -> String {
        format!("{}/onvif/device_service", self.shared.base_url)
    }

    pub fn vendor(&self) -> Vendor {
        self.shared.lock().cfg.vendor
    }

    /// Motion starts (`true`) or ends: every subscription gets the vendor's motion message(s).
    pub fn motion(&self, on: bool) {
        let mut st = self.shared.lock();
        st.motion_on = on;
        let now = self.shared.cam_now(&st);
        let msgs: Vec<Message> = st
            .motion_topics()
            .iter()
            .map(|t| t.message("Changed", t.bools.write(on), now))
            .collect();
        self.shared.push_all(&mut st, &msgs);
    }

    /// Sends any topic (`Changed`), e.g. `tns1:Monitoring/ProcessorUsage`, `Value`, `42`.
    pub fn emit(&self, topic: &str, item: &str, value: &str) {
        let mut st = self.shared.lock();
        let now = self.shared.cam_now(&st);
        let m = TopicSpec::new(topic, item, Bools::TrueFalse).message("Changed", value, now);
        self.shared.push_all(&mut st, &[m]);
    }

    /// Forgets every subscription (pending long polls are cut off), as a reboot does.
    pub fn reboot(&self) {
        self.reboot_for(Duration::ZERO);
    }

    /// Reboots and drops every new connection for `down`.
    pub fn reboot_for(&self, down: Duration) {
        let mut st = self.shared.lock();
        for s in st.subs.values() {
            s.notify.notify_one();
        }
        st.subs.clear();
        st.motion_on = false;
        st.digest_nonce = st.random_hex();
        st.down_until = (!down.is_zero()).then(|| tokio::time::Instant::now() + down);
        drop(st);
        self.shared.count(|c| {
            c.reboots += 1;
            c.active_subscriptions = 0;
        });
    }

    pub fn set_password(&self, password: &str) {
        self.shared.lock().cfg.password = password.to_string();
    }

    pub fn counters(&self) -> Counters {
        self.shared.counters.borrow().clone()
    }

    /// A receiver that sees every counter change.
    pub fn watch_counters(&self) -> watch::Receiver<Counters> {
        self.shared.counters.subscribe()
    }

    /// Waits until `pred` holds for the counters (checked on every change), at most `limit`.
    /// `Err` carries the counters at the time limit.
    pub async fn wait_for(
        &self,
        limit: Duration,
        mut pred: impl FnMut(&Counters) -> bool,
    ) -> Result<Counters, Counters> {
        let mut rx = self.watch_counters();
        let got = tokio::time::timeout(limit, rx.wait_for(|c| pred(c)))
            .await
            .ok()
            .and_then(|r| r.ok().map(|c| c.clone()));
        got.ok_or_else(|| self.counters())
    }
}

impl Drop for SimCamera {
    fn drop(&mut self) {
        self.task.abort();
    }
}
