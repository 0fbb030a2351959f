//! A simulated ONVIF camera: a real HTTP/1.1 + SOAP 1.2 server on 127.0.0.1 speaking the
//! device, media and event services well enough for a real ONVIF client, in one of several
//! vendor dialects ([`Vendor`]). Tests drive it through [`SimCamera`]: raise motion, emit other
//! topics, reboot it, change its password, and read counters of what the client did.
//!
//! Modules: [`dialect`] (how each vendor writes replies), `server` (accept loop, HTTP, auth),
//! `handlers` (the SOAP operations and subscriptions).

pub mod dialect;
pub mod discovery;
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
    /// What GetStreamUri answers for the main profile (`Profile_1`, 1920x1080 H.264).
    pub rtsp_url: String,
    /// A sub-stream profile (`Profile_2`, 640x360 H.264) and its URL; `None`: the camera has
    /// only the main profile.
    pub sub_rtsp_url: Option<String>,
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
            sub_rtsp_url: None,
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
        Self::start_inner(addr, cfg, None).await
    }

    /// Starts on 127.0.0.1 serving https:// with this certificate chain and key (PEM files),
    /// as cameras with their own (often self-signed) certificate do.
    pub async fn start_tls(
        cfg: SimConfig,
        cert: &std::path::Path,
        key: &std::path::Path,
    ) -> std::io::Result<SimCamera> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
        let certs = CertificateDer::pem_file_iter(cert)
            .map_err(|e| bad(&e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&e))?;
        let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(&e))?;
        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&e))?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        Self::start_inner(
            "127.0.0.1:0".parse().expect("literal address"),
            cfg,
            Some(acceptor),
        )
        .await
    }

    async fn start_inner(
        addr: SocketAddr,
        cfg: SimConfig,
        tls: Option<tokio_rustls::TlsAcceptor>,
    ) -> std::io::Result<SimCamera> {
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
            base_url: format!("{}://{addr}", if tls.is_some() { "https" } else { "http" }),
            clock: Arc::new(SystemClock),
        });
        let task = tokio::spawn(server::serve(listener, shared.clone(), tls));
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

    /// Queues any notification for every subscription: `topic` (prefixes as the vendor writes
    /// them; `tns1`, `tnshik`, `tnsaxis` and the other well-known ones resolve), `operation`
    /// (`Changed`, `Initialized`, `Deleted`, or `""` for an event with none), Source and Data
    /// items in order. The building block of the vendors' detections in [`dialect`]'s helpers.
    pub fn notify(
        &self,
        topic: &str,
        operation: &'static str,
        source: &[(&str, &str)],
        data: &[(&str, &str)],
    ) {
        let mut st = self.shared.lock();
        let now = self.shared.cam_now(&st);
        let own = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let m = Message {
            topic: topic.to_string(),
            operation,
            source: own(source),
            item: String::new(),
            value: String::new(),
            more: own(data),
            utc: now,
        };
        self.shared.push_all(&mut st, &[m]);
    }

    /// A vendor's detection message (see [`Detection`]), `on` or off (a pulse ignores `on`).
    pub fn detect(&self, d: Detection, on: bool) {
        let (topic, op, source, data) = d.message(on);
        let source: Vec<(&str, &str)> = source.iter().map(|(a, b)| (*a, b.as_str())).collect();
        let data: Vec<(&str, &str)> = data.iter().map(|(a, b)| (*a, b.as_str())).collect();
        self.notify(topic, op, &source, &data);
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

/// Detections as real cameras send them (docs/onvif.md, "Kinds"; the samples in
/// `crates/onvif/tests/samples`), for [`SimCamera::detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    /// Reolink: `tns1:RuleEngine/MyRuleDetector/PeopleDetect`, Data `State`.
    ReolinkPerson,
    /// Reolink: `…/VehicleDetect`.
    ReolinkVehicle,
    /// Reolink: `…/DogCatDetect`.
    ReolinkAnimal,
    /// Reolink: `…/FaceDetect`.
    ReolinkFace,
    /// Reolink: `…/Package`.
    ReolinkPackage,
    /// Tapo: `tns1:RuleEngine/TPSmartEventDetector/TPSmartEvent`, Data `IsPeople`.
    TapoPerson,
    /// Tapo: the same topic, Data `IsPet`.
    TapoPet,
    /// ONVIF: `tns1:RuleEngine/LineDetector/Crossed`, no PropertyOperation, Data `ObjectId`:
    /// a pulse.
    LineCrossed,
    /// Hikvision: `tns1:RuleEngine/tnshik:FieldDetector/ObjectsInside`, Data `IsInside`.
    HikvisionIntrusion,
    /// ONVIF: `tns1:RuleEngine/TamperDetector/Tamper`, Data `IsTamper`.
    Tamper,
    /// ONVIF: `tns1:AudioAnalytics/Audio/DetectedSound`, Data `IsSoundDetected`.
    Sound,
    /// AJAX / generic analytics: `tns1:RuleEngine/ObjectDetection/Object`, Data
    /// `ClassTypes="Human Vehicle"` and `State` (off: `ClassTypes=""`).
    HumanAndVehicle,
    /// Axis Object Analytics: `tnsaxis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1`,
    /// Data `active`, `classTypes="human"`, `objectId`.
    AxisHuman,
    /// Housekeeping: `tns1:Monitoring/ProcessorUsage`, Data `Value` (never a kind).
    ProcessorUsage,
    /// Housekeeping: `tns1:Device/HardwareFailure/StorageFailure`, Data `Failed`.
    StorageFailure,
}

impl Detection {
    /// (topic, operation, source items, data items).
    #[allow(clippy::type_complexity)]
    fn message(
        self,
        on: bool,
    ) -> (
        &'static str,
        &'static str,
        Vec<(&'static str, String)>,
        Vec<(&'static str, String)>,
    ) {
        let b = |v: bool| if v { "true" } else { "false" }.to_string();
        let src = vec![("Source", "VideoSourceToken".to_string())];
        match self {
            Detection::ReolinkPerson => (
                "tns1:RuleEngine/MyRuleDetector/PeopleDetect",
                "Changed",
                src,
                vec![("State", b(on))],
            ),
            Detection::ReolinkVehicle => (
                "tns1:RuleEngine/MyRuleDetector/VehicleDetect",
                "Changed",
                src,
                vec![("State", b(on))],
            ),
            Detection::ReolinkAnimal => (
                "tns1:RuleEngine/MyRuleDetector/DogCatDetect",
                "Changed",
                src,
                vec![("State", b(on))],
            ),
            Detection::ReolinkFace => (
                "tns1:RuleEngine/MyRuleDetector/FaceDetect",
                "Changed",
                src,
                vec![("State", b(on))],
            ),
            Detection::ReolinkPackage => (
                "tns1:RuleEngine/MyRuleDetector/Package",
                "Changed",
                src,
                vec![("State", b(on))],
            ),
            Detection::TapoPerson => (
                "tns1:RuleEngine/TPSmartEventDetector/TPSmartEvent",
                "Changed",
                vec![("VideoSourceConfigurationToken", "vsconf".to_string())],
                vec![("IsPeople", b(on))],
            ),
            Detection::TapoPet => (
                "tns1:RuleEngine/TPSmartEventDetector/TPSmartEvent",
                "Changed",
                vec![("VideoSourceConfigurationToken", "vsconf".to_string())],
                vec![("IsPet", b(on))],
            ),
            Detection::LineCrossed => (
                "tns1:RuleEngine/LineDetector/Crossed",
                "",
                vec![
                    ("VideoSourceConfigurationToken", "1".to_string()),
                    ("Rule", "Line1".to_string()),
                ],
                vec![("ObjectId", "17".to_string())],
            ),
            Detection::HikvisionIntrusion => (
                "tns1:RuleEngine/tnshik:FieldDetector/ObjectsInside",
                "Changed",
                vec![("Rule", "MyFieldDetector1".to_string())],
                vec![("IsInside", b(on))],
            ),
            Detection::Tamper => (
                "tns1:RuleEngine/TamperDetector/Tamper",
                "Changed",
                src,
                vec![("IsTamper", b(on))],
            ),
            Detection::Sound => (
                "tns1:AudioAnalytics/Audio/DetectedSound",
                "Changed",
                src,
                vec![("IsSoundDetected", b(on))],
            ),
            Detection::HumanAndVehicle => (
                "tns1:RuleEngine/ObjectDetection/Object",
                "Changed",
                src,
                vec![
                    (
                        "ClassTypes",
                        if on { "Human Vehicle" } else { "" }.to_string(),
                    ),
                    ("State", b(on)),
                ],
            ),
            Detection::AxisHuman => (
                "tnsaxis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1",
                "Changed",
                vec![],
                vec![
                    ("active", if on { "1" } else { "0" }.to_string()),
                    ("classTypes", if on { "human" } else { "" }.to_string()),
                    ("objectId", "234232".to_string()),
                ],
            ),
            Detection::ProcessorUsage => (
                "tns1:Monitoring/ProcessorUsage",
                "Changed",
                vec![("Token", "Processor_Usage".to_string())],
                vec![("Value", "75".to_string())],
            ),
            Detection::StorageFailure => (
                "tns1:Device/HardwareFailure/StorageFailure",
                "Changed",
                vec![("Token", "SD_1".to_string())],
                vec![("Failed", b(on))],
            ),
        }
    }
}
