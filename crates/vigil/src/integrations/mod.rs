//! Home Assistant, MQTT and webhooks (docs/integrations.md): a subscriber of the notice stream
//! that tells the outside world what the cameras do, and takes commands back over MQTT.
//!
//! Runs on a thread of its own ("integrations", a small tokio runtime) only when `[mqtt]` or a
//! `[[webhook]]` is configured. Nothing here can hold up a camera: the notice subscription is
//! bounded (a notice that finds it full is dropped for it alone and counted), the MQTT outbox
//! and each webhook's queue are bounded, and publishing never waits for the network.
//!
//! - [`hub`]: what to say, worked out from notices (pure);
//! - [`discovery`]: Home Assistant's discovery configs (pure);
//! - [`mqtt`]: the outbox and the connection (rumqttc);
//! - [`webhook`]: the webhooks' queues and deliveries (hyper, rustls).
//!
//! Clips are announced once the catalog has them (their id is the catalog's): the catalog
//! writer hands each opened and closed clip's row to [`ClipNote`]'s channel.

pub mod config;
pub mod discovery;
pub mod hub;
pub mod mqtt;
pub mod webhook;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use rumqttc::QoS;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tracing::{info, warn};
use vigil_core::kind::EventKind;
use vigil_core::recorder::MotionSource;

pub use config::{MqttConfig, WebhookConfig, WebhookEvent};
use hub::{CameraFacts, Command, Hub, MotionCommand, MqttTopics, Out};
use mqtt::{Link, MqttStats, Outbox};
use webhook::Hook;

use crate::camera::CameraMsg;
use crate::catalog::ClipRow;
use crate::notice::{Notice, Subscription};
use crate::runtime::live::IngestRuntime;
use crate::runtime::RuntimeHandle;

/// A clip as the catalog has it, opened or closed.
#[derive(Debug)]
pub struct ClipNote {
    pub closed: bool,
    pub row: ClipRow,
}

/// Notices the integrations' subscription holds before dropping (a few per motion event).
pub const NOTICE_QUEUE: usize = 4096;
/// Clips waiting to be announced.
pub const CLIP_QUEUE: usize = 1024;
/// How often pre-buffer levels and storage alerts are looked at.
const TICK: Duration = Duration::from_secs(5);
/// At shutdown: time for the broker to acknowledge the last messages and for webhooks to
/// deliver what is queued.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// The figures the API shows (`GET /api/integrations`).
#[derive(Default)]
pub struct IntegrationStats {
    mqtt: Option<Mutex<MqttStats>>,
    hooks: Mutex<Vec<Arc<Hook>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl IntegrationStats {
    /// Figures for what `config` configures (nothing counted yet).
    pub fn new(config: &crate::config::Config) -> IntegrationStats {
        IntegrationStats {
            mqtt: config.mqtt.as_ref().map(|m| {
                Mutex::new(MqttStats {
                    url: crate::util::redact_url(&m.url),
                    client_id: m.client_id(),
                    state: "connecting",
                    ..Default::default()
                })
            }),
            hooks: Mutex::new(config.webhooks.iter().cloned().map(Hook::new).collect()),
        }
    }

    pub fn json(&self) -> Value {
        let hooks: Vec<Value> = lock(&self.hooks).iter().map(|h| json!(h.stats())).collect();
        json!({
            "mqtt": self.mqtt.as_ref().map(|m| json!(*lock(m))),
            "webhooks": hooks,
        })
    }

    fn mqtt(&self, f: impl FnOnce(&mut MqttStats)) {
        if let Some(m) = &self.mqtt {
            f(&mut lock(m));
        }
    }

    pub fn mqtt_stats(&self) -> Option<MqttStats> {
        self.mqtt.as_ref().map(|m| lock(m).clone())
    }

    pub fn webhook_stats(&self) -> Vec<webhook::WebhookStats> {
        lock(&self.hooks).iter().map(|h| h.stats()).collect()
    }
}

/// The running integrations (module docs).
pub struct Integrations {
    runtime: IngestRuntime,
    done: std::sync::mpsc::Receiver<()>,
}

impl Integrations {
    /// Whether `config` asks for any.
    pub fn wanted(config: &crate::config::Config) -> bool {
        config.mqtt.is_some() || !config.webhooks.is_empty()
    }

    /// Starts the hub on a thread of its own. `notices` must be subscribed before the cameras
    /// start (so that it sees them start); `clips` is fed by the catalog writer.
    pub fn start(
        rt: RuntimeHandle,
        stats: Arc<IntegrationStats>,
        notices: Subscription,
        clips: mpsc::Receiver<ClipNote>,
    ) -> std::io::Result<Integrations> {
        let runtime = IngestRuntime::start("integrations", None)?;
        let (done_tx, done) = std::sync::mpsc::channel();
        runtime.handle().spawn(async move {
            run(rt, stats, notices, clips).await;
            let _ = done_tx.send(());
        });
        Ok(Integrations { runtime, done })
    }

    /// Waits for the hub to announce the last notices and clips (call after the notice stream
    /// is closed and the catalog writer is done), then ends its thread. Blocks, at most a few
    /// seconds.
    pub fn stop(self) {
        if self.done.recv_timeout(STOP_GRACE * 3).is_err() {
            warn!("integrations: not finished in time; stopping them");
        }
        self.runtime.stop();
    }
}

/// The camera's facts for the hub, read from the runtime and the catalog.
fn facts(rt: &RuntimeHandle, name: &str) -> Option<CameraFacts> {
    let cam = rt.camera(name)?;
    let (settings, status) = (cam.settings(), cam.status());
    let catalog = rt.catalog();
    Some(CameraFacts {
        enabled: settings.enabled,
        record_on: settings.record_on,
        state: status.state,
        stream_up: status.stream_up,
        seen: catalog.kinds_seen(name).unwrap_or_default(),
        last_clip: catalog.last_clip(name).ok().flatten(),
    })
}

/// The next report of the MQTT connection, or never without one.
async fn next_link(links: &mut Option<mpsc::UnboundedReceiver<Link>>) -> Option<Link> {
    match links {
        Some(l) => l.recv().await,
        None => std::future::pending().await,
    }
}

struct Ctx {
    rt: RuntimeHandle,
    stats: Arc<IntegrationStats>,
    hub: Hub,
    outbox: Outbox,
    client: Option<rumqttc::AsyncClient>,
    hooks: Vec<Arc<Hook>>,
    /// Storage alerts up at the last look (a new one is a `disk_alert`).
    alerts: Vec<String>,
}

impl Ctx {
    fn send(&mut self, outs: Vec<Out>) {
        for o in outs {
            match o {
                Out::Mqtt(m) => {
                    if self.client.is_some() {
                        self.outbox.push(m);
                    }
                }
                Out::Hook(e, body) => {
                    for h in &self.hooks {
                        h.offer(e, &body);
                    }
                }
            }
        }
    }

    /// Hands what the outbox has to the client, as far as its queue takes it.
    fn flush(&mut self) {
        if let Some(client) = &self.client {
            while let Some(m) = self.outbox.take_next() {
                let payload = m.payload.clone().into_bytes();
                match client.try_publish(&m.topic, QoS::AtLeastOnce, m.retain, payload) {
                    Ok(()) => self.outbox.handed(m),
                    Err(_) => {
                        self.outbox.unpop(m);
                        break;
                    }
                }
            }
        }
        let (dropped, acked, queued) = (
            self.outbox.dropped,
            self.outbox.acked,
            self.outbox.pending() as u64,
        );
        self.stats.mqtt(|s| {
            s.dropped = dropped;
            s.sent = acked;
            s.queued = queued;
        });
    }

    fn started(&mut self, name: &str) {
        if let Some(f) = facts(&self.rt, name) {
            let mut outs = Vec::new();
            self.hub.camera_started(name, f, &mut outs);
            self.send(outs);
        }
    }

    fn notice(&mut self, camera: &str, n: &Notice) {
        if let Notice::Started { .. } = n {
            self.started(camera);
            return;
        }
        let mut outs = Vec::new();
        self.hub.apply(camera, n, &mut outs);
        self.send(outs);
    }

    fn link(&mut self, l: Link) {
        let now = self.rt.clock().now().to_string();
        match l {
            Link::Connected => {
                self.outbox.connected(self.hub.birth());
                if let Some(c) = &self.client {
                    let subs = self.hub.subscriptions();
                    let _ = c.try_subscribe_many(
                        subs.into_iter()
                            .map(|t| rumqttc::SubscribeFilter::new(t, QoS::AtLeastOnce)),
                    );
                }
                self.stats.mqtt(|s| {
                    s.state = "connected";
                    s.connected = true;
                    s.connected_since = Some(now);
                    s.retry_in_secs = None;
                    s.connects += 1;
                });
            }
            Link::Acked => self.outbox.ack(),
            Link::Failed { error, retry_in } => {
                self.outbox.disconnected();
                self.stats.mqtt(|s| {
                    s.state = "backoff";
                    s.connected = false;
                    s.connected_since = None;
                    s.last_error = Some(error);
                    s.last_error_at = Some(now);
                    s.retry_in_secs = Some(retry_in.as_secs_f64());
                    s.connect_failures += 1;
                });
            }
            Link::Message { topic, payload } => self.message(&topic, &payload),
        }
    }

    fn message(&mut self, topic: &str, payload: &[u8]) {
        if self.hub.is_ha_status(topic) {
            if payload == b"online" {
                info!("Home Assistant is online: sending discovery again");
                self.outbox.resend_discovery();
            }
            return;
        }
        match self.hub.command(topic, payload) {
            Ok(None) => {}
            Ok(Some((camera, cmd))) => {
                self.stats.mqtt(|s| s.commands += 1);
                let rt = self.rt.clone();
                tokio::spawn(async move { execute(rt, camera, cmd).await });
            }
            Err(e) => {
                warn!("MQTT command ignored: {e}");
                self.stats.mqtt(|s| s.commands_rejected += 1);
            }
        }
    }

    fn tick(&mut self, look_at_alerts: bool) {
        let mut outs = Vec::new();
        for cam in self.rt.cameras().list() {
            let (b, s) = (cam.status().buffer, cam.settings());
            self.hub
                .buffer(cam.name(), b.duration_secs, s.pre_buffer_secs, &mut outs);
        }
        if look_at_alerts {
            let now = self.rt.clock().now();
            let mut up = Vec::new();
            for a in self.rt.alerts() {
                let kind = a["kind"].as_str().unwrap_or_default().to_owned();
                // A clip that could not be written is told by its camera's notice.
                if kind == "clip_write" {
                    continue;
                }
                if !self.alerts.contains(&kind) {
                    let msg = a["message"].as_str().unwrap_or_default();
                    self.hub.alert(&kind, msg, now, &mut outs);
                }
                up.push(kind);
            }
            self.alerts = up;
        }
        self.send(outs);
    }
}

/// Carries out an MQTT command, as the API would.
async fn execute(rt: RuntimeHandle, camera: String, cmd: Command) {
    let Some(cam) = rt.camera(&camera) else {
        return;
    };
    match cmd {
        Command::Motion(m) => {
            let received = Instant::now();
            // The recorder judges the event against the media up to its arrival.
            cam.fresh().await;
            let now = rt.clock().monotonic();
            let pulse = Duration::from_secs(u64::from(cam.settings().pulse_secs));
            let msg = match m {
                MotionCommand::On => CameraMsg::MotionStart {
                    source: MotionSource::Mqtt,
                    kind: EventKind::Motion,
                    until: None,
                    received,
                    camera_time: None,
                },
                MotionCommand::Pulse => CameraMsg::MotionStart {
                    source: MotionSource::Mqtt,
                    kind: EventKind::Motion,
                    until: Some(now.plus(pulse)),
                    received,
                    camera_time: None,
                },
                MotionCommand::Off => CameraMsg::MotionEnd {
                    source: MotionSource::Mqtt,
                    kind: EventKind::Motion,
                    camera_time: None,
                },
            };
            info!(camera = %camera, "MQTT motion command: {m:?}");
            cam.send(msg);
        }
        Command::Recording(on) => {
            let mut s = cam.settings();
            if s.enabled == on {
                return;
            }
            s.enabled = on;
            info!(camera = %camera, "MQTT: motion recording {}", if on { "on" } else { "off" });
            let r = tokio::task::spawn_blocking(move || rt.cameras().configure(&camera, s)).await;
            if let Ok(Err(e)) = r {
                warn!("MQTT recording command failed: {e}");
            }
        }
    }
}

async fn run(
    rt: RuntimeHandle,
    stats: Arc<IntegrationStats>,
    mut notices: Subscription,
    mut clips: mpsc::Receiver<ClipNote>,
) {
    let config = rt.config().clone();
    let hooks: Vec<Arc<Hook>> = lock(&stats.hooks).clone();
    let closed = Arc::new(AtomicBool::new(false));
    let mut hook_tasks = Vec::new();
    if !hooks.is_empty() {
        let client = webhook::client();
        for h in &hooks {
            hook_tasks.push(tokio::spawn(h.clone().run(
                client.clone(),
                rt.clock().clone(),
                closed.clone(),
            )));
        }
    }
    let topics = config.mqtt.as_ref().map(|m| MqttTopics {
        prefix: m.topic_prefix.clone(),
        discovery: (!m.discovery_prefix.is_empty()).then(|| m.discovery_prefix.clone()),
    });
    let mut ctx = Ctx {
        hub: Hub::new(topics, config.public_url()),
        outbox: Outbox::default(),
        client: None,
        hooks,
        alerts: Vec::new(),
        rt: rt.clone(),
        stats: stats.clone(),
    };
    let mut links = None;
    let mut conn_task = None;
    if let Some(m) = &config.mqtt {
        match mqtt::connect(m, &format!("{}/available", m.topic_prefix)) {
            Ok(c) => {
                ctx.client = Some(c.client);
                links = Some(c.links);
                conn_task = Some(c.task);
            }
            Err(e) => {
                warn!("MQTT: {e:#}");
                stats.mqtt(|s| {
                    s.state = "stopped";
                    s.last_error = Some(format!("{e:#}"));
                });
            }
        }
    }
    // Cameras started before the subscription (none when the runtime starts us first).
    for name in rt.cameras().names() {
        ctx.started(&name);
    }
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ticks = 0u64;
    let (mut notices_done, mut clips_done) = (false, false);
    while !(notices_done && clips_done) {
        tokio::select! {
            n = notices.recv(), if !notices_done => match n {
                Some(n) => ctx.notice(&n.camera, &n.notice),
                None => notices_done = true,
            },
            c = clips.recv(), if !clips_done => match c {
                Some(c) => {
                    let mut outs = Vec::new();
                    ctx.hub.clip(c.closed, &c.row, &mut outs);
                    ctx.send(outs);
                }
                None => clips_done = true,
            },
            Some(l) = next_link(&mut links) => ctx.link(l),
            _ = tick.tick() => {
                ticks += 1;
                ctx.tick(ticks % 6 == 1);
            }
        }
        ctx.flush();
    }
    // Stopping: everything is announced. Say goodbye, and give the broker and the webhooks a
    // moment to take the last messages.
    let deadline = tokio::time::Instant::now() + STOP_GRACE;
    if let Some(client) = ctx.client.clone() {
        if let Some(mut b) = ctx.hub.birth() {
            b.payload = "offline".into();
            ctx.outbox.push(b);
        }
        ctx.flush();
        while ctx.outbox.is_connected() && ctx.outbox.pending() > 0 {
            tokio::select! {
                Some(l) = next_link(&mut links) => ctx.link(l),
                _ = tokio::time::sleep_until(deadline) => break,
            }
            ctx.flush();
        }
        let _ = client.try_disconnect();
        if let Some(t) = conn_task {
            if tokio::time::timeout_at(deadline, t).await.is_err() {
                // It is cancelled with the runtime.
            }
        }
    }
    stats.mqtt(|s| {
        s.state = "stopped";
        s.connected = false;
    });
    closed.store(true, std::sync::atomic::Ordering::Relaxed);
    for h in &ctx.hooks {
        h.kick();
    }
    for t in hook_tasks {
        let _ = tokio::time::timeout_at(deadline, t).await;
    }
}
