//! The thin tokio driver: runs a [`PullPoint`] against a real camera, and one-shot probes.
//!
//! One task per camera (`run_events`); nothing is shared between cameras, so a slow camera
//! delays no other.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use vigil_core::rng::{random_seed, SplitMix64};
use vigil_core::time::{Clock, Time};

use crate::error::Error;
use crate::health::{Health, SubscriptionState};
use crate::http::HttpClient;
use crate::kinds::{KindMatcher, KindTopic};
use crate::ops::{self, Op};
use crate::pullpoint::{HttpReply, Input, MotionEvent, Now, Output, PullPoint, PullPointConfig};
use crate::security::UsernameToken;
use crate::soap::{self, Envelope};

/// One camera's ONVIF settings. [`CameraConfig::new`] fills in the timing defaults.
#[derive(Debug, Clone)]
pub struct CameraConfig {
    /// For logs.
    pub name: String,
    /// The device service URL, e.g. `http://192.0.2.20/onvif/device_service`.
    pub device_url: String,
    pub username: String,
    pub password: String,
    /// Motion topics beyond the default ones (docs/onvif.md, "Topics"), e.g. `tns1:VideoAnalytics/tnshik:MotionAlarm`.
    /// `onvif_topics`: more topics, each with its kind (`KIND=TOPIC`, motion by default).
    pub extra_topics: Vec<KindTopic>,
    /// Answer a `401 Basic` challenge (off by default: it sends the password in clear).
    pub allow_basic_auth: bool,
    /// An https:// device service's certificate is not checked (a camera's self-signed one).
    pub tls_insecure: bool,
    pub subscription_lifetime: Duration,
    pub pull_timeout: Duration,
    pub min_poll_interval: Duration,
    pub request_timeout: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
}

impl CameraConfig {
    pub fn new(name: &str, device_url: &str, username: &str, password: &str) -> Self {
        let d = PullPointConfig::new(device_url, username, password);
        CameraConfig {
            name: name.to_string(),
            device_url: device_url.to_string(),
            username: username.to_string(),
            password: password.to_string(),
            extra_topics: Vec::new(),
            allow_basic_auth: false,
            tls_insecure: false,
            subscription_lifetime: d.subscription_lifetime,
            pull_timeout: d.pull_timeout,
            min_poll_interval: d.min_poll_interval,
            request_timeout: d.request_timeout,
            backoff_base: d.backoff_base,
            backoff_cap: d.backoff_cap,
        }
    }

    pub fn pullpoint_config(&self, seed: u64) -> PullPointConfig {
        PullPointConfig {
            matcher: KindMatcher::new(&self.extra_topics),
            subscription_lifetime: self.subscription_lifetime,
            pull_timeout: self.pull_timeout,
            min_poll_interval: self.min_poll_interval,
            request_timeout: self.request_timeout,
            backoff_base: self.backoff_base,
            backoff_cap: self.backoff_cap,
            seed,
            ..PullPointConfig::new(&self.device_url, &self.username, &self.password)
        }
    }
}

fn now(clock: &dyn Clock) -> Now {
    Now {
        mono: tokio::time::Instant::now().into_std(),
        wall: clock.now(),
    }
}

type Pending = Pin<Box<dyn Future<Output = (u64, Result<HttpReply, Error>)> + Send>>;

/// Runs one camera's event subscription until `shutdown` resolves (then unsubscribes) or the
/// `events` receiver is dropped. Motion goes to `events`; health is published on `health`.
/// Never returns early on camera trouble: it retries with backoff forever.
pub async fn run_events(
    cfg: CameraConfig,
    clock: Arc<dyn Clock>,
    events: mpsc::Sender<MotionEvent>,
    health: watch::Sender<Health>,
    shutdown: impl Future<Output = ()>,
) {
    let seed = random_seed(&cfg.device_url);
    let http = HttpClient::new(
        &cfg.username,
        &cfg.password,
        cfg.allow_basic_auth,
        seed ^ 0x9e37,
    )
    .tls_insecure(cfg.tls_insecure);
    let mut sm = PullPoint::new(cfg.pullpoint_config(seed), now(&*clock));
    let mut inflight: Option<Pending> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    let mut shutting_down = false;
    let mut published = Health::default();
    loop {
        publish(&cfg.name, &health, &mut published, sm.health());
        match sm.poll_output() {
            Output::Transmit(req) => {
                let http = http.clone();
                inflight = Some(Box::pin(async move {
                    let r = http.post_soap(&req.url, req.op.action(), &req.body).await;
                    (req.id, r)
                }));
            }
            Output::Motion(ev) => {
                tracing::debug!(camera = %cfg.name, kind = %ev.kind, on = ev.on, pulse = ev.pulse, topic = %ev.topic, initialized = ev.initialized, "ONVIF event");
                if events.send(ev).await.is_err() && !shutting_down {
                    shutting_down = true;
                    sm.handle_input(Input::Shutdown, now(&*clock));
                }
            }
            Output::Timeout(at) => {
                let at = tokio::time::Instant::from_std(at);
                let reply = async {
                    match inflight.as_mut() {
                        Some(f) => f.await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    (id, result) = reply => {
                        inflight = None;
                        sm.handle_input(Input::Reply { id, result }, now(&*clock));
                    }
                    _ = tokio::time::sleep_until(at) => sm.handle_timeout(now(&*clock)),
                    _ = &mut shutdown, if !shutting_down => {
                        // The request out stays out: the state machine says whether it still
                        // wants the reply (a subscription being created, to undo it) or sends
                        // something else, which replaces it.
                        shutting_down = true;
                        sm.handle_input(Input::Shutdown, now(&*clock));
                    }
                }
            }
            Output::Stopped => break,
        }
    }
    publish(&cfg.name, &health, &mut published, sm.health());
}

fn publish(name: &str, tx: &watch::Sender<Health>, last: &mut Health, h: &Health) {
    if h == last {
        return;
    }
    if h.errors > last.errors {
        tracing::warn!(
            camera = %name,
            error = h.last_error.as_deref().unwrap_or(""),
            backoff_ms = h.backoff_ms.unwrap_or(0),
            "ONVIF event subscription failed; retrying"
        );
    }
    if h.state != last.state {
        match h.state {
            SubscriptionState::Subscribed => tracing::info!(
                camera = %name,
                subscription = h.subscription.as_deref().unwrap_or(""),
                "ONVIF events subscribed"
            ),
            SubscriptionState::Stopped => tracing::info!(camera = %name, "ONVIF events stopped"),
            _ => {}
        }
    }
    *last = h.clone();
    tx.send_replace(h.clone());
}

/// What `vigil check` reports about a camera's ONVIF side.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ProbeReport {
    /// Camera clock minus local clock.
    pub clock_offset_ms: Option<i64>,
    pub event_service: Option<String>,
    pub media_service: Option<String>,
    /// RTSP URL of the first media profile.
    pub stream_uri: Option<String>,
    pub stream_uri_error: Option<String>,
    /// A pull point could be created, pulled once and removed.
    pub events_ok: bool,
    pub events_error: Option<String>,
    /// Topics of the messages in the first pull (usually the Initialized burst).
    pub initial_topics: Vec<String>,
    /// Those among them that vigil treats as motion.
    pub motion_topics: Vec<String>,
    /// Those that carry another kind (`person: tns1:RuleEngine/MyRuleDetector/PeopleDetect`).
    pub kind_topics: Vec<String>,
}

/// One-shot, sequential calls sharing the learned clock offset and HTTP auth.
struct Session {
    cfg: CameraConfig,
    clock: Arc<dyn Clock>,
    http: HttpClient,
    rng: SplitMix64,
    offset_us: i64,
}

impl Session {
    fn new(cfg: &CameraConfig, clock: Arc<dyn Clock>) -> Session {
        let seed = random_seed(&cfg.device_url);
        Session {
            http: HttpClient::new(&cfg.username, &cfg.password, cfg.allow_basic_auth, seed)
                .tls_insecure(cfg.tls_insecure),
            cfg: cfg.clone(),
            clock,
            rng: SplitMix64::new(seed ^ 0x51),
            offset_us: 0,
        }
    }

    async fn call(
        &mut self,
        op: Op,
        url: &str,
        body: &str,
        headers: &[String],
        extra_time: Duration,
    ) -> Result<soap::Reply, Error> {
        let token = op.needs_auth().then(|| {
            let cam_now: Time = self.clock.now().plus_micros(self.offset_us);
            UsernameToken::new(
                &self.cfg.username,
                &self.cfg.password,
                self.rng.bytes16(),
                cam_now,
            )
        });
        let id = soap::message_id(self.rng.bytes16());
        let env = Envelope {
            action: op.action(),
            to: url,
            message_id: &id,
            security: token.as_ref(),
            extra_headers: headers,
            body,
        }
        .to_xml();
        let limit = self.cfg.request_timeout + extra_time;
        let reply = tokio::time::timeout(limit, self.http.post_soap(url, op.action(), &env))
            .await
            .map_err(|_| Error::Timeout(limit))??;
        soap::parse_reply(reply.status, &reply.body)
    }

    /// GetSystemDateAndTime, then GetCapabilities (GetServices as fallback).
    async fn discover(&mut self) -> Result<(Option<i64>, ops::ServiceAddrs), Error> {
        let device = self.cfg.device_url.clone();
        let mut offset_ms = None;
        match self
            .call(
                Op::GetSystemDateAndTime,
                &device,
                &ops::get_system_date_and_time(),
                &[],
                Duration::ZERO,
            )
            .await
        {
            Ok(r) => {
                if let Ok(Some(cam)) = ops::parse_system_date_and_time(&r.body) {
                    self.offset_us = cam.micros_since(self.clock.now());
                    offset_ms = Some(self.offset_us / 1000);
                }
            }
            Err(Error::Fault(_) | Error::NotAuthorized(_)) => {}
            Err(e) => return Err(e),
        }
        let caps = match self
            .call(
                Op::GetCapabilities,
                &device,
                &ops::get_capabilities(),
                &[],
                Duration::ZERO,
            )
            .await
        {
            Ok(r) => ops::parse_capabilities(&r.body).unwrap_or_default(),
            Err(e @ Error::NotAuthorized(_)) => return Err(e),
            Err(_) => ops::ServiceAddrs::default(),
        };
        let mut addrs = caps;
        if addrs.events.is_none() || addrs.media.is_none() {
            if let Ok(r) = self
                .call(
                    Op::GetServices,
                    &device,
                    &ops::get_services(),
                    &[],
                    Duration::ZERO,
                )
                .await
            {
                let s = ops::parse_services(&r.body).unwrap_or_default();
                addrs.events = addrs.events.or(s.events);
                addrs.media = addrs.media.or(s.media);
            }
        }
        addrs.events = addrs.events.map(|x| ops::fix_xaddr(&device, &x));
        addrs.media = addrs.media.map(|x| ops::fix_xaddr(&device, &x));
        Ok((offset_ms, addrs))
    }

    async fn profiles(&mut self, media: &str) -> Result<Vec<ops::MediaProfile>, Error> {
        let r = self
            .call(
                Op::GetProfiles,
                media,
                &ops::get_profiles(),
                &[],
                Duration::ZERO,
            )
            .await?;
        ops::parse_profiles(&r.body)
    }

    async fn uri_of(&mut self, media: &str, token: &str) -> Result<String, Error> {
        let r = self
            .call(
                Op::GetStreamUri,
                media,
                &ops::get_stream_uri(token),
                &[],
                Duration::ZERO,
            )
            .await?;
        ops::parse_stream_uri(&r.body)
    }

    async fn stream_uri(&mut self, media: &str) -> Result<String, Error> {
        let token = self
            .profiles(media)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Unexpected {
                op: Op::GetProfiles.name(),
                what: "no media profile".into(),
            })?
            .token;
        self.uri_of(media, &token).await
    }

    async fn try_events(&mut self, events: &str, report: &mut ProbeReport) -> Result<(), Error> {
        let r = self
            .call(
                Op::CreatePullPointSubscription,
                events,
                &ops::create_pull_point_subscription(Duration::from_secs(60)),
                &[],
                Duration::ZERO,
            )
            .await?;
        let sub = ops::parse_create_pull_point(&r.body)?;
        let addr = sub.reference.address.clone();
        let hdrs = sub.reference.reference_headers.clone();
        let pulled = self
            .call(
                Op::PullMessages,
                &addr,
                &ops::pull_messages(Duration::from_secs(1), 100),
                &hdrs,
                Duration::from_secs(1),
            )
            .await
            .and_then(|r| ops::parse_pull_messages(&r.body));
        // Remove the pull point whatever the pull said.
        let _ = self
            .call(
                Op::Unsubscribe,
                &addr,
                &ops::unsubscribe(),
                &hdrs,
                Duration::ZERO,
            )
            .await;
        let matcher = KindMatcher::new(&self.cfg.extra_topics);
        for m in pulled?.messages {
            let t = m.topic.text.clone();
            for (kind, _) in crate::kinds::classify(&m, &matcher).kinds {
                if kind == vigil_core::kind::EventKind::Motion {
                    if !report.motion_topics.contains(&t) {
                        report.motion_topics.push(t.clone());
                    }
                } else {
                    let line = format!("{kind}: {t}");
                    if !report.kind_topics.contains(&line) {
                        report.kind_topics.push(line);
                    }
                }
            }
            if !report.initial_topics.contains(&t) {
                report.initial_topics.push(t);
            }
        }
        Ok(())
    }
}

/// Probes a camera for `vigil check`: clock, services, stream URI, and one short pull point.
/// Errors only when the device service cannot be used at all (unreachable, wrong password);
/// partial failures are in the report.
pub async fn probe(cfg: &CameraConfig, clock: Arc<dyn Clock>) -> Result<ProbeReport, Error> {
    let mut s = Session::new(cfg, clock);
    let (offset, addrs) = s.discover().await?;
    let mut report = ProbeReport {
        clock_offset_ms: offset,
        event_service: addrs.events.clone(),
        media_service: addrs.media.clone(),
        ..ProbeReport::default()
    };
    match &addrs.media {
        Some(m) => match s.stream_uri(m).await {
            Ok(u) => report.stream_uri = Some(u),
            Err(e) => report.stream_uri_error = Some(e.to_string()),
        },
        None => report.stream_uri_error = Some(Error::NoService("media").to_string()),
    }
    match &addrs.events {
        Some(ev) => match s.try_events(ev, &mut report).await {
            Ok(()) => report.events_ok = true,
            Err(e) => report.events_error = Some(e.to_string()),
        },
        None => report.events_error = Some(Error::NoService("event").to_string()),
    }
    Ok(report)
}

/// The RTSP URL of the camera's sub-stream (the smallest H.264 profile after the first:
/// [`ops::sub_stream`]), for motion detection; `None` when it has no such profile.
pub async fn sub_stream_uri(
    cfg: &CameraConfig,
    clock: Arc<dyn Clock>,
) -> Result<Option<(ops::MediaProfile, String)>, Error> {
    let mut s = Session::new(cfg, clock);
    let (_, addrs) = s.discover().await?;
    let media = addrs.media.ok_or(Error::NoService("media"))?;
    let profiles = s.profiles(&media).await?;
    let Some(sub) = ops::sub_stream(&profiles).cloned() else {
        return Ok(None);
    };
    let uri = s.uri_of(&media, &sub.token).await?;
    Ok(Some((sub, uri)))
}

/// Every media profile of the camera with its RTSP URL (or why there is none), for discovery.
pub async fn profiles_with_uris(
    cfg: &CameraConfig,
    clock: Arc<dyn Clock>,
) -> Result<Vec<(ops::MediaProfile, Result<String, Error>)>, Error> {
    let mut s = Session::new(cfg, clock);
    let (_, addrs) = s.discover().await?;
    let media = addrs.media.ok_or(Error::NoService("media"))?;
    let profiles = s.profiles(&media).await?;
    let mut out = Vec::with_capacity(profiles.len());
    for p in profiles {
        let uri = s.uri_of(&media, &p.token).await;
        out.push((p, uri));
    }
    Ok(out)
}

/// The RTSP URL of the camera's first media profile (GetProfiles + GetStreamUri), for cameras
/// configured with only an ONVIF address. Credentials are not added to the URL.
pub async fn stream_uri(cfg: &CameraConfig, clock: Arc<dyn Clock>) -> Result<String, Error> {
    let mut s = Session::new(cfg, clock);
    let (_, addrs) = s.discover().await?;
    let media = addrs.media.ok_or(Error::NoService("media"))?;
    s.stream_uri(&media).await
}
