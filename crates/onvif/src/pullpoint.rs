//! The PullPoint lifecycle as a sans-IO state machine (retina/str0m style).
//!
//! ```text
//!            ┌───────────── failure: fault, timeout, connection error, ResourceUnknown ─────────────┐
//!            v                                                                                        │
//! Connecting: GetSystemDateAndTime → GetCapabilities (→ GetServices) → CreatePullPointSubscription ──┤
//!            │ ok                                                                                     │
//!            v                                                                                        │
//! Subscribed: PullMessages (long poll) ⟲ ── Renew when renew_at is (< 1 s) near ────────────────────┤
//!            │ Shutdown                                                                     Backoff ◄─┘
//!            v                                                      (capped exponential, jittered; then Connecting)
//! Unsubscribe → Stopped
//!
//! Shutdown during CreatePullPointSubscription waits for its reply (bounded) and unsubscribes
//! what it made; anywhere else before Subscribed it stops at once.
//! ```
//!
//! The driver calls [`PullPoint::handle_input`] with replies and [`PullPoint::handle_timeout`]
//! when the time from [`Output::Timeout`] comes, and acts on [`PullPoint::poll_output`] until it
//! says `Timeout` (wait) or `Stopped`. No clock, socket or thread inside: `now` is passed in, so
//! tests run an hour of camera life in microseconds.
//!
//! Lifetimes are computed from the camera's own `CurrentTime`/`TerminationTime` difference and
//! scheduled on the local monotonic clock; the camera's absolute time is never compared with the
//! local clock (cameras whose clock reads 2000 are common).

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use vigil_core::backoff;
use vigil_core::rng::SplitMix64;
use vigil_core::time::Time;

use crate::error::Error;
use crate::health::{Health, SubscriptionState};
use crate::kinds::{KindMatcher, KindState};
use crate::notification::{Item, NotificationMessage, PropertyOperation};
use crate::ops::{self, Op, SubscriptionReference};
use crate::security::UsernameToken;
use crate::soap::{self, Envelope};
use vigil_core::kind::{EventKind, KindSet};

/// Settings of one camera's event client. [`PullPointConfig::new`] gives the defaults.
#[derive(Debug, Clone)]
pub struct PullPointConfig {
    /// The device service, e.g. `http://192.0.2.20/onvif/device_service`.
    pub device_url: String,
    pub username: String,
    pub password: String,
    /// The default motion topics and the configured ones (`onvif_topics`, with their kinds).
    pub matcher: KindMatcher,
    /// Asked for at creation and on every Renew.
    pub subscription_lifetime: Duration,
    /// PullMessages `Timeout` (the long poll).
    pub pull_timeout: Duration,
    pub message_limit: u32,
    /// A PullMessages that comes back empty sooner than this is not repeated before it.
    pub min_poll_interval: Duration,
    /// Time allowed for any reply (PullMessages gets its own timeout on top).
    pub request_timeout: Duration,
    /// Renew this long before the subscription ends (at most half its lifetime).
    pub renew_margin: Duration,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// Seeds jitter, nonces and message ids (tests pass a constant).
    pub seed: u64,
}

impl PullPointConfig {
    pub fn new(device_url: &str, username: &str, password: &str) -> Self {
        PullPointConfig {
            device_url: device_url.to_string(),
            username: username.to_string(),
            password: password.to_string(),
            matcher: KindMatcher::default(),
            subscription_lifetime: Duration::from_secs(60),
            pull_timeout: Duration::from_secs(10),
            message_limit: 100,
            min_poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
            renew_margin: Duration::from_secs(10),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            seed: 0x5eed,
        }
    }
}

/// "Now" on both clocks: monotonic for scheduling, wall for WS-Security and health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub mono: Instant,
    pub wall: Time,
}

/// A SOAP request to POST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: u64,
    pub op: Op,
    pub url: String,
    /// The whole envelope.
    pub body: String,
    /// When the machine gives up on the reply (it reports this via `Output::Timeout`).
    pub deadline: Instant,
}

/// An HTTP reply (any status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    pub status: u16,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// The reply to request `id`, or why there is none (connection error).
    Reply {
        id: u64,
        result: Result<HttpReply, Error>,
    },
    /// Unsubscribe and stop.
    Shutdown,
}

/// A motion message from the camera.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct MotionEvent {
    /// What the camera saw (docs/events.md): plain motion, a person, a line crossed, ...
    #[serde(serialize_with = "ser_kind")]
    pub kind: EventKind,
    /// This message says it started (`true`) or ended.
    pub on: bool,
    /// An event with no "off" (a line crossed): on for the camera's `pulse_secs`.
    pub pulse: bool,
    /// The topic as the camera wrote it, e.g. `tns1:RuleEngine/CellMotionDetector/Motion`.
    pub topic: String,
    pub source: Vec<Item>,
    /// The camera's UtcTime, when it parses: advisory; timing uses `received_at`.
    #[serde(skip)]
    pub camera_time: Option<Time>,
    /// Local clock when the reply carrying it arrived.
    #[serde(skip)]
    pub received_at: Time,
    /// A `PropertyOperation="Initialized"` message: the current state at subscription start
    /// (sync the recorder to it rather than treat it as an edge).
    pub initialized: bool,
    /// Whether this kind is on at the camera after this message, from any topic or source
    /// (several rules or topics can report the same kind; this is their OR).
    pub camera_motion: bool,
}

fn ser_kind<S: serde::Serializer>(k: &EventKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.as_str())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Transmit(Request),
    Motion(MotionEvent),
    /// Nothing to do until a reply comes or this instant passes (then call `handle_timeout`).
    Timeout(Instant),
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Clock,
    Capabilities,
    Services,
    Subscribe,
}

#[derive(Debug, Clone)]
struct Subscription {
    reference: SubscriptionReference,
    renew_at: Instant,
    expires: Instant,
}

#[derive(Debug, Clone)]
enum Stage {
    Connecting(Step),
    Subscribed(Subscription),
    Backoff,
    /// Shut down while CreatePullPointSubscription was out: the camera may already have made the
    /// subscription, so its reply is awaited (until `by`) to unsubscribe it rather than leave it
    /// taking one of the camera's few slots until it expires.
    Abandoning {
        by: Instant,
    },
    Unsubscribing,
    Stopped,
}

#[derive(Debug, Clone, Copy)]
struct InFlight {
    id: u64,
    op: Op,
    sent: Instant,
    deadline: Instant,
}

/// One camera's PullPoint client. See the module docs.
#[derive(Debug)]
pub struct PullPoint {
    cfg: PullPointConfig,
    stage: Stage,
    inflight: Option<InFlight>,
    /// While idle: when the next request is due.
    wake: Option<Instant>,
    out: VecDeque<Output>,
    next_id: u64,
    rng: SplitMix64,
    clock_offset_us: i64,
    event_xaddr: Option<String>,
    failures: u32,
    /// The kinds on per (topic, source), for `camera_motion`.
    motion: BTreeMap<String, KindSet>,
    health: Health,
}

impl PullPoint {
    pub fn new(cfg: PullPointConfig, now: Now) -> Self {
        let rng = SplitMix64::new(cfg.seed);
        let mut pp = PullPoint {
            cfg,
            stage: Stage::Connecting(Step::Clock),
            inflight: None,
            wake: None,
            out: VecDeque::new(),
            next_id: 1,
            rng,
            clock_offset_us: 0,
            event_xaddr: None,
            failures: 0,
            motion: BTreeMap::new(),
            health: Health::default(),
        };
        pp.drive(now);
        pp
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    pub fn config(&self) -> &PullPointConfig {
        &self.cfg
    }

    /// The camera's clock now, as far as this client knows.
    pub fn camera_time(&self, now: Now) -> Time {
        now.wall.plus_micros(self.clock_offset_us)
    }

    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.out.pop_front() {
            return o;
        }
        if matches!(self.stage, Stage::Stopped) {
            return Output::Stopped;
        }
        match (self.inflight, self.wake) {
            (Some(f), _) => Output::Timeout(f.deadline),
            (None, Some(w)) => Output::Timeout(w),
            // Not reached: drive() always leaves a request in flight or a wake time.
            (None, None) => Output::Stopped,
        }
    }

    pub fn handle_timeout(&mut self, now: Now) {
        self.drive(now);
    }

    pub fn handle_input(&mut self, input: Input, now: Now) {
        match input {
            Input::Shutdown => self.shutdown(now),
            Input::Reply { id, result } => {
                let Some(f) = self.inflight.filter(|f| f.id == id) else {
                    return; // a reply to something abandoned
                };
                self.inflight = None;
                let result = result.and_then(|r| soap::parse_reply(r.status, &r.body));
                self.on_reply(f, result, now);
            }
        }
        self.drive(now);
    }

    fn shutdown(&mut self, now: Now) {
        // Everything shutdown still sends and awaits ends by then.
        let by = now.mono + self.cfg.request_timeout.min(Duration::from_secs(5));
        match &self.stage {
            Stage::Stopped | Stage::Unsubscribing | Stage::Abandoning { .. } => {}
            Stage::Subscribed(sub) => {
                let reference = sub.reference.clone();
                self.unsubscribe(&reference, by, now);
            }
            Stage::Connecting(Step::Subscribe)
                if self
                    .inflight
                    .is_some_and(|f| f.op == Op::CreatePullPointSubscription) =>
            {
                if let Some(f) = self.inflight.as_mut() {
                    f.deadline = f.deadline.min(by);
                }
                self.wake = None;
                self.stage = Stage::Abandoning { by };
            }
            _ => self.stop(),
        }
    }

    /// Abandons whatever is in flight and sends Unsubscribe for `reference`, due by `by`.
    fn unsubscribe(&mut self, reference: &SubscriptionReference, by: Instant, now: Now) {
        self.inflight = None;
        self.wake = None;
        self.stage = Stage::Unsubscribing;
        self.transmit(
            Op::Unsubscribe,
            reference.address.clone(),
            ops::unsubscribe(),
            &reference.reference_headers,
            by,
            now,
        );
    }

    fn stop(&mut self) {
        self.inflight = None;
        self.wake = None;
        self.stage = Stage::Stopped;
        self.health.state = SubscriptionState::Stopped;
        self.health.subscription = None;
        self.health.backoff_ms = None;
    }

    /// Sends whatever is due now; expires a request whose deadline passed.
    fn drive(&mut self, now: Now) {
        if let Some(f) = self.inflight {
            if now.mono < f.deadline {
                return;
            }
            self.inflight = None;
            let waited = f.deadline.saturating_duration_since(f.sent);
            if matches!(self.stage, Stage::Unsubscribing | Stage::Abandoning { .. }) {
                self.stop();
                return;
            }
            self.fail(Error::Timeout(waited), now);
        }
        if let Some(w) = self.wake {
            if now.mono < w {
                return;
            }
        }
        self.wake = None;
        if matches!(self.stage, Stage::Backoff) {
            self.stage = Stage::Connecting(Step::Clock);
            self.health.state = SubscriptionState::Connecting;
            self.health.backoff_ms = None;
        }
        let short = now.mono + self.cfg.request_timeout;
        match self.stage.clone() {
            Stage::Connecting(step) => {
                let device = self.cfg.device_url.clone();
                let event = self.event_xaddr.clone().unwrap_or_else(|| device.clone());
                let (op, url, body) = match step {
                    Step::Clock => (
                        Op::GetSystemDateAndTime,
                        device,
                        ops::get_system_date_and_time(),
                    ),
                    Step::Capabilities => (Op::GetCapabilities, device, ops::get_capabilities()),
                    Step::Services => (Op::GetServices, device, ops::get_services()),
                    Step::Subscribe => (
                        Op::CreatePullPointSubscription,
                        event,
                        ops::create_pull_point_subscription(self.cfg.subscription_lifetime),
                    ),
                };
                self.transmit(op, url, body, &[], short, now);
            }
            Stage::Subscribed(sub) => {
                let r = &sub.reference;
                // A pull lasts whole seconds: with less than one left before the renewal,
                // renew now rather than pull past it (a short-lived subscription, 3 s on some
                // cameras, would otherwise have little left for a slow answer).
                if now.mono + Duration::from_secs(1) > sub.renew_at {
                    let body = ops::renew(self.cfg.subscription_lifetime);
                    self.transmit(
                        Op::Renew,
                        r.address.clone(),
                        body,
                        &r.reference_headers,
                        short,
                        now,
                    );
                } else {
                    // Come back before the renewal is due; whole seconds, at least one.
                    let until_renew = sub.renew_at - now.mono;
                    let secs = self.cfg.pull_timeout.min(until_renew).as_secs().max(1);
                    let timeout = Duration::from_secs(secs);
                    let body = ops::pull_messages(timeout, self.cfg.message_limit);
                    let deadline = now.mono + timeout + self.cfg.request_timeout;
                    self.transmit(
                        Op::PullMessages,
                        r.address.clone(),
                        body,
                        &r.reference_headers,
                        deadline,
                        now,
                    );
                }
            }
            Stage::Backoff | Stage::Abandoning { .. } | Stage::Unsubscribing | Stage::Stopped => {}
        }
    }

    fn transmit(
        &mut self,
        op: Op,
        url: String,
        body: String,
        headers: &[String],
        deadline: Instant,
        now: Now,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        let token = op.needs_auth().then(|| {
            UsernameToken::new(
                &self.cfg.username,
                &self.cfg.password,
                self.rng.bytes16(),
                self.camera_time(now),
            )
        });
        let message_id = soap::message_id(self.rng.bytes16());
        let envelope = Envelope {
            action: op.action(),
            to: &url,
            message_id: &message_id,
            security: token.as_ref(),
            extra_headers: headers,
            body: &body,
        }
        .to_xml();
        self.inflight = Some(InFlight {
            id,
            op,
            sent: now.mono,
            deadline,
        });
        self.out.push_back(Output::Transmit(Request {
            id,
            op,
            url,
            body: envelope,
            deadline,
        }));
    }

    fn fail(&mut self, err: Error, now: Now) {
        self.health.errors += 1;
        self.health.consecutive_failures = self.health.consecutive_failures.saturating_add(1);
        self.health.last_error = Some(err.to_string());
        self.health.last_error_at = Some(now.wall);
        self.health.subscription = None;
        let delay = backoff::delay(
            self.cfg.backoff_base,
            self.cfg.backoff_cap,
            self.failures,
            self.rng.next_u64(),
        );
        self.failures = self.failures.saturating_add(1);
        self.stage = Stage::Backoff;
        self.wake = Some(now.mono + delay);
        self.health.state = SubscriptionState::Backoff;
        self.health.backoff_ms = Some(delay.as_millis() as u64);
    }

    fn on_reply(&mut self, f: InFlight, result: Result<soap::Reply, Error>, now: Now) {
        if let Stage::Abandoning { by } = self.stage {
            // The reply to the creation: undo it, if it made anything.
            match result.and_then(|r| ops::parse_create_pull_point(&r.body)) {
                Ok(c) => self.unsubscribe(&c.reference, by, now),
                Err(_) => self.stop(),
            }
            return;
        }
        match (f.op, result) {
            (Op::Unsubscribe, _) => self.stop(),
            (Op::GetSystemDateAndTime, Ok(r)) => {
                if let Ok(Some(cam)) = ops::parse_system_date_and_time(&r.body) {
                    self.clock_offset_us = cam.micros_since(now.wall);
                    self.health.clock_offset_ms = Some(self.clock_offset_us / 1000);
                }
                self.stage = Stage::Connecting(Step::Capabilities);
            }
            // A camera that wants credentials even for this: keep the last offset and go on.
            (Op::GetSystemDateAndTime, Err(Error::Fault(_) | Error::NotAuthorized(_))) => {
                self.stage = Stage::Connecting(Step::Capabilities);
            }
            (Op::GetCapabilities, Ok(r)) => match ops::parse_capabilities(&r.body) {
                Ok(ops::ServiceAddrs {
                    events: Some(x), ..
                }) => self.found_events(&x),
                _ => self.stage = Stage::Connecting(Step::Services),
            },
            (Op::GetCapabilities, Err(Error::Fault(_) | Error::Unexpected { .. })) => {
                self.stage = Stage::Connecting(Step::Services);
            }
            (Op::GetServices, Ok(r)) => match ops::parse_services(&r.body) {
                Ok(ops::ServiceAddrs {
                    events: Some(x), ..
                }) => self.found_events(&x),
                Ok(_) => self.fail(Error::NoService("event"), now),
                Err(e) => self.fail(e, now),
            },
            (Op::CreatePullPointSubscription, Ok(r)) => match ops::parse_create_pull_point(&r.body)
            {
                Ok(c) => {
                    let remaining = self.remaining(c.current_time, c.termination_time, now);
                    self.health.subscriptions += 1;
                    self.health.state = SubscriptionState::Subscribed;
                    self.health.subscription = Some(c.reference.address.clone());
                    let mut sub = Subscription {
                        reference: c.reference,
                        renew_at: now.mono,
                        expires: now.mono,
                    };
                    self.schedule(&mut sub, remaining, now);
                    self.stage = Stage::Subscribed(sub);
                }
                Err(e) => self.fail(e, now),
            },
            (Op::PullMessages, Ok(r)) => match ops::parse_pull_messages(&r.body) {
                Ok(p) => self.pulled(f, p, now),
                Err(e) => self.fail(e, now),
            },
            (Op::Renew, Ok(r)) => match ops::parse_renew(&r.body) {
                Ok(rr) => {
                    let remaining = self.remaining(rr.current_time, rr.termination_time, now);
                    self.health.renewals += 1;
                    if let Stage::Subscribed(mut sub) = self.stage.clone() {
                        self.schedule(&mut sub, remaining, now);
                        self.stage = Stage::Subscribed(sub);
                    }
                }
                Err(e) => self.fail(e, now),
            },
            (_, Err(e)) => self.fail(e, now),
            (op @ (Op::GetProfiles | Op::GetStreamUri), Ok(_)) => self.fail(
                Error::Unexpected {
                    op: op.name(),
                    what: "not part of the event lifecycle".into(),
                },
                now,
            ),
        }
    }

    fn found_events(&mut self, xaddr: &str) {
        let x = ops::fix_xaddr(&self.cfg.device_url, xaddr);
        self.health.event_service = Some(x.clone());
        self.event_xaddr = Some(x);
        self.stage = Stage::Connecting(Step::Subscribe);
    }

    /// Lifetime left by the camera's own clock: TerminationTime − CurrentTime; without a
    /// CurrentTime, against our estimate of the camera clock; without either, what was asked.
    fn remaining(&self, current: Option<Time>, termination: Option<Time>, now: Now) -> Duration {
        match termination {
            Some(t) => {
                let c = current.unwrap_or_else(|| self.camera_time(now));
                Duration::from_micros(t.micros_since(c).max(0) as u64)
            }
            None => self.cfg.subscription_lifetime,
        }
    }

    fn schedule(&self, sub: &mut Subscription, remaining: Duration, now: Now) {
        // A camera granting (nearly) nothing still gets a renewal rate of at most one a second.
        let remaining = remaining.max(Duration::from_secs(2));
        let margin = self.cfg.renew_margin.min(remaining / 2);
        sub.expires = now.mono + remaining;
        sub.renew_at = sub.expires - margin;
    }

    fn pulled(&mut self, f: InFlight, p: ops::PullMessagesResponse, now: Now) {
        self.failures = 0;
        self.health.consecutive_failures = 0;
        self.health.pulls += 1;
        self.health.last_pull_at = Some(now.wall);
        self.health.messages += p.messages.len() as u64;
        if let (Stage::Subscribed(mut sub), Some(_)) = (self.stage.clone(), p.termination_time) {
            // A pull may report an earlier end than we planned for (never trust it to extend).
            let remaining = self.remaining(p.current_time, p.termination_time, now);
            if now.mono + remaining < sub.expires {
                self.schedule(&mut sub, remaining, now);
                self.stage = Stage::Subscribed(sub);
            }
        }
        if p.messages.is_empty() && now.mono < f.sent + self.cfg.min_poll_interval {
            self.wake = Some(f.sent + self.cfg.min_poll_interval);
        }
        for m in &p.messages {
            self.motion_message(m, now);
        }
    }

    fn motion_message(&mut self, m: &NotificationMessage, now: Now) {
        let c = crate::kinds::classify(m, &self.cfg.matcher);
        if c.is_empty() {
            return;
        }
        let mut key = m.topic.path.to_string();
        for i in &m.source {
            key.push_str(&format!("|{}={}", i.name, i.value));
        }
        let mut changes: Vec<(EventKind, KindState)> = Vec::new();
        let on = self.motion.entry(key.clone()).or_default();
        if c.clear {
            changes.extend(on.iter().map(|k| (k, KindState::Off)));
            *on = KindSet::EMPTY;
        }
        for (kind, state) in c.kinds {
            match state {
                KindState::On => on.insert(kind),
                KindState::Off => on.remove(kind),
                KindState::Pulse => {}
            }
            changes.push((kind, state));
        }
        if on.is_empty() {
            self.motion.remove(&key);
        }
        for (kind, state) in changes {
            self.health.motion_events += 1;
            self.out.push_back(Output::Motion(MotionEvent {
                kind,
                on: state == KindState::On,
                pulse: state == KindState::Pulse,
                topic: m.topic.text.clone(),
                source: m.source.clone(),
                camera_time: m.utc_time,
                received_at: now.wall,
                initialized: m.operation == PropertyOperation::Initialized,
                camera_motion: self.motion.values().any(|s| s.contains(kind)),
            }));
        }
    }
}
