//! Live cameras: one tokio task per camera for its RTSP stream (reconnecting forever) and one
//! for its ONVIF events (the PullPoint lifecycle), both feeding the camera's worker through its
//! channel. A camera configured with only `onvif` gets its stream URL from the camera first
//! (GetProfiles + GetStreamUri), retried with backoff until it answers.
//!
//! These tasks run on [`IngestRuntime`]s of their own: one thread each, no work stealing, never
//! shared with the HTTP server (whose handlers query SQLite and may block for a while).
//! One thread serving every camera socket also wakes far less often than a pool of them, where
//! a task woken on one worker wakes another to steal (docs/PERFORMANCE.md).
//!
//! There are two (the app makes them):
//! - `ingest`, for RTSP over TCP, is *paced*: it reads its sockets every [`READ_EVERY`] instead of
//!   whenever bytes arrive. A camera sends a few TCP segments per frame, and waking a thread for
//!   each cost more than everything else vigil does with the frame; read every 500 ms, the bytes
//!   wait in the kernel's receive buffer (TCP's flow control holds the camera back if it ever
//!   fills, so nothing is lost) and one wake reads every camera's 500 ms at once. A session's
//!   times don't suffer: its first read is anchored on its last frame (`feed`).
//! - `events`, for ONVIF clients and RTSP over UDP, reacts at once: a motion event must not wait,
//!   and UDP has no flow control (a socket buffer that fills drops packets).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tracing::{info, warn};
use vigil_core::backoff::Backoff;
use vigil_core::kind::KindSet;
use vigil_core::recorder::MotionSource;
use vigil_core::rng::random_seed;
use vigil_core::time::Clock;

use crate::camera::{CameraMsg, CameraTx};
use crate::config::CameraConfig;
use crate::ingest::rtsp::{self, FreshRequests, Freshen, IngestStats, RtspConfig};
use crate::liveview::LiveFeed;
use crate::notice::{Notice, NoticeBus};
use crate::runtime::paced::Slot;

/// What the API shows of a camera's motion-event client (ONVIF).
pub trait EventSourceHealth: Send + Sync {
    /// The whole health record, as JSON.
    fn json(&self) -> serde_json::Value;
    /// (pulls, errors, renewals) so far.
    fn counters(&self) -> (u64, u64, u64);
}

/// How often the paced runtime reads its sockets (module docs). At 2-16 Mbit/s that is 125 KB to
/// 1 MB a camera per read: within what TCP's receive-buffer autotuning gives a reader this fast
/// (`bench/paced_read.py`). As long as the camera workers' [`crate::camera::BATCH_EVERY`]: a
/// frame waits at most twice this before it reaches its pre-buffer or clip, and nothing recorded
/// depends on that (a motion start takes what is queued first; labels are media-time based).
/// 200 ms cost twice the ingest CPU of a single camera (docs/PERFORMANCE.md).
pub const READ_EVERY: Duration = Duration::from_millis(500);

/// Asking ONVIF for a camera's stream URL is retried from about this delay…
const STREAM_URI_RETRY_MIN: Duration = Duration::from_secs(1);
/// …doubling up to this one (docs/design.md#retries).
const STREAM_URI_RETRY_MAX: Duration = Duration::from_secs(30);

/// A runtime camera tasks run on (module docs). Dropping it without [`IngestRuntime::stop`]
/// also ends its thread, cancelling what still runs.
pub struct IngestRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IngestRuntime {
    /// A runtime on a thread called `name`. With `read_every`, paced: its I/O is looked at only
    /// that often (module docs); its timers are then late by up to that much too.
    pub fn start(name: &str, read_every: Option<Duration>) -> std::io::Result<IngestRuntime> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        if let Some(every) = read_every {
            handle.spawn(pace(every));
        }
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                // Ends on `stop` or when the sender is dropped; dropping `rt` here cancels any
                // task still running.
                let _ = rt.block_on(stopped);
            })?;
        Ok(IngestRuntime {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// The paced runtime for RTSP over TCP, read every [`READ_EVERY`] (module docs).
    pub fn ingest() -> std::io::Result<IngestRuntime> {
        Self::start("ingest", Some(READ_EVERY))
    }

    /// The runtime that reacts at once, for ONVIF clients and RTSP over UDP (module docs).
    pub fn events() -> std::io::Result<IngestRuntime> {
        Self::start("events", None)
    }

    /// Ends the runtime's thread (tasks still running are cancelled) and waits for it.
    /// Blocks: call it off the async runtime.
    pub fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for IngestRuntime {
    fn drop(&mut self) {
        // Without joining: a drop may happen on an async thread.
        self.stop.take();
    }
}

/// The pacer of a paced runtime: it holds the runtime's one thread asleep for `every`, then
/// yields. A task that yields is polled again only after the runtime has looked at its I/O
/// (without blocking) and run every task that made ready, so each round is: sleep, collect what
/// every socket got meanwhile, let the camera tasks take it all, sleep again. Asleep here, the
/// thread isn't waiting in epoll, so bytes arriving don't wake it. Sleeping blocks the runtime
/// on purpose; nothing else runs on it.
async fn pace(every: Duration) {
    loop {
        std::thread::sleep(every);
        tokio::task::yield_now().await;
    }
}

/// How long a motion event waits at most for its camera's source to take in what waits in its
/// socket ([`Freshener`]). The source answers in well under a millisecond; a slot that can't
/// (its runtime cancelled mid-stop) must not hold motion up for long.
pub const FRESH_WAIT: Duration = Duration::from_millis(250);

/// Makes a camera's source take in everything waiting in its socket before a motion event is
/// handed on (`ingest::rtsp::Freshen`), kicking its paced slot so that happens now rather than
/// at the next round. For a camera without an RTSP source (`file:`) it does nothing.
#[derive(Clone, Default)]
pub struct Freshener {
    ask: Option<Freshen>,
    slot: Option<Arc<Slot>>,
}

impl Freshener {
    pub fn new(ask: Freshen, slot: Option<Arc<Slot>>) -> Freshener {
        Freshener {
            ask: Some(ask),
            slot,
        }
    }

    /// Returns once the source has sent on what was waiting, or after [`FRESH_WAIT`].
    pub async fn fresh(&self) {
        let Some(answer) = self.ask.as_ref().and_then(Freshen::ask) else {
            return;
        };
        if let Some(slot) = &self.slot {
            slot.kick();
        }
        if tokio::time::timeout(FRESH_WAIT, answer).await.is_err() {
            warn!(
                "the camera's source did not answer within {FRESH_WAIT:?}: motion handed on as is"
            );
        }
    }
}

/// Resolves when `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}

pub fn onvif_config(cam: &CameraConfig, url: &str) -> vigil_onvif::CameraConfig {
    let mut c = vigil_onvif::CameraConfig::new(
        &cam.name,
        url,
        cam.username.as_deref().unwrap_or(""),
        cam.password.as_deref().unwrap_or(""),
    );
    c.extra_topics = cam.onvif_topics.clone();
    c.tls_insecure = cam.keys.onvif_insecure;
    c
}

/// The RTSP ingest task of `cam` (its `url`, or the one its ONVIF service gives), to run on
/// its paced slot (TCP) or the events runtime (UDP) until `stop` turns true. Every event goes
/// to the camera's live view first, then to its worker.
pub fn rtsp_task(
    cam: &CameraConfig,
    clock: Arc<dyn Clock>,
    tx: CameraTx,
    live: Arc<LiveFeed>,
    stats: Arc<IngestStats>,
    stop: watch::Receiver<bool>,
    fresh: FreshRequests,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let cam = cam.clone();
    let mut fresh = fresh;
    async move {
        let url = match cam.url.clone() {
            Some(u) => u,
            None => {
                let Some(onvif) = cam.onvif.clone() else {
                    return;
                };
                let cfg = onvif_config(&cam, &onvif);
                let mut backoff = Backoff::new(
                    STREAM_URI_RETRY_MIN,
                    STREAM_URI_RETRY_MAX,
                    random_seed(&onvif),
                );
                loop {
                    let wait = backoff.next_delay();
                    tokio::select! {
                        _ = stopped(stop.clone()) => return,
                        r = fresh.answering(vigil_onvif::stream_uri(&cfg, clock.clone())) => match r {
                            Ok(u) => {
                                info!(camera = %cam.name, "stream URL from ONVIF: {u}");
                                break u;
                            }
                            Err(e) => warn!(camera = %cam.name, "no stream URL from ONVIF yet ({e}); retrying in {:.1} s", wait.as_secs_f64()),
                        },
                    }
                    tokio::select! {
                        _ = stopped(stop.clone()) => return,
                        _ = fresh.answering(tokio::time::sleep(wait)) => {}
                    }
                }
            }
        };
        let mut cfg = RtspConfig::new(url);
        cfg.username = cam.username.clone();
        cfg.password = cam.password.clone();
        cfg.transport = cam.transport;
        rtsp::run(
            cfg,
            clock,
            stats,
            move |ev| {
                live.observe(&ev);
                tx.send_source(ev)
            },
            stopped(stop),
            fresh,
        )
        .await;
    }
}

/// The detect stream of `cam` when it has one of its own (`detect_url = "rtsp://…"`): a second
/// RTSP session whose packets go to the detector only.
pub fn detect_rtsp_task(
    cam: &CameraConfig,
    url: String,
    clock: Arc<dyn Clock>,
    detector: Arc<crate::detect::Detector>,
    stop: watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut cfg = RtspConfig::new(url);
    cfg.username = cam.username.clone();
    cfg.password = cam.password.clone();
    cfg.transport = cam.transport;
    async move {
        // Nobody asks a detect stream for fresh reads.
        let (_ask, fresh) = crate::ingest::rtsp::fresh_channel();
        rtsp::run(
            cfg,
            clock,
            Arc::new(IngestStats::new()),
            move |ev| {
                detector.offer(&ev);
                true
            },
            stopped(stop),
            fresh,
        )
        .await;
    }
}

/// The detect stream of a camera with `onvif`, `detect = true` and no `detect_url`: its ONVIF
/// sub-stream (the smallest H.264 profile after the first, `vigil_onvif::sub_stream_uri`).
/// Until the camera answers, the detector looks at the main stream (`on_main` stays true); when
/// it has a sub-stream, `on_main` turns false and a session of its own feeds the detector; when
/// it has none, the main stream it is, for good.
pub fn detect_onvif_task(
    cam: &CameraConfig,
    device_url: &str,
    clock: Arc<dyn Clock>,
    detector: Arc<crate::detect::Detector>,
    on_main: Arc<std::sync::atomic::AtomicBool>,
    stop: watch::Receiver<bool>,
) -> impl std::future::Future<Output = ()> + Send + 'static {
    let cam = cam.clone();
    let cfg = onvif_config(&cam, device_url);
    let mut backoff = Backoff::new(
        STREAM_URI_RETRY_MIN,
        STREAM_URI_RETRY_MAX,
        random_seed(device_url),
    );
    async move {
        let url = loop {
            let wait = backoff.next_delay();
            tokio::select! {
                _ = stopped(stop.clone()) => return,
                r = vigil_onvif::sub_stream_uri(&cfg, clock.clone()) => match r {
                    Ok(Some((p, url))) => {
                        info!(camera = %cam.name, "motion detection on the ONVIF sub-stream {} ({}x{}): {}", p.token, p.width.unwrap_or(0), p.height.unwrap_or(0), crate::util::redact_url(&url));
                        break url;
                    }
                    Ok(None) => {
                        info!(camera = %cam.name, "no H.264 sub-stream in the camera's ONVIF profiles: motion detection on the main stream");
                        detector.set_stream("main stream (the camera has no H.264 sub-stream)");
                        return;
                    }
                    Err(e) => warn!(camera = %cam.name, "no ONVIF sub-stream yet ({e}); detecting on the main stream meanwhile, asking again in {:.1} s", wait.as_secs_f64()),
                },
            }
            tokio::select! {
                _ = stopped(stop.clone()) => return,
                _ = tokio::time::sleep(wait) => {}
            }
        };
        on_main.store(false, std::sync::atomic::Ordering::Relaxed);
        detector.set_stream(&format!(
            "ONVIF sub-stream {}",
            crate::util::redact_url(&url)
        ));
        detect_rtsp_task(&cam, url, clock, detector, stop).await;
    }
}

/// The health of a camera's ONVIF client, as the API shows it.
struct OnvifHealth(watch::Receiver<vigil_onvif::Health>);

impl EventSourceHealth for OnvifHealth {
    fn json(&self) -> serde_json::Value {
        serde_json::to_value(&*self.0.borrow()).unwrap_or(serde_json::Value::Null)
    }
    fn counters(&self) -> (u64, u64, u64) {
        let h = self.0.borrow();
        (h.pulls, h.errors, h.renewals)
    }
}

/// The ONVIF event task of `cam`, to run on the events runtime until `stop` turns true: the
/// camera's motion state (the OR of all its motion topics) drives motion start/end;
/// `Initialized` messages sync it. Each change of the client's state is published as a
/// [`Notice::EventClient`].
pub fn onvif_task(
    cam: &CameraConfig,
    device_url: &str,
    clock: Arc<dyn Clock>,
    tx: CameraTx,
    fresh: Freshener,
    notices: NoticeBus,
    stop: watch::Receiver<bool>,
) -> (
    impl std::future::Future<Output = ()> + Send + 'static,
    Arc<dyn EventSourceHealth>,
) {
    let cfg = onvif_config(cam, device_url);
    let (health_tx, health_rx) = watch::channel(vigil_onvif::Health::default());
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::channel::<vigil_onvif::MotionEvent>(64);
    let name = cam.name.clone();
    let mut watch_health = health_rx.clone();
    let task = async move {
        let report = {
            let (name, clock) = (name.clone(), clock.clone());
            async move {
                let mut last = None;
                loop {
                    let (state, error) = {
                        let h = watch_health.borrow_and_update();
                        (h.state, h.last_error.clone())
                    };
                    if last != Some(state) {
                        last = Some(state);
                        let at = clock.now();
                        let state = state.as_str();
                        notices.publish(&name, Notice::EventClient { state, at, error });
                    }
                    if watch_health.changed().await.is_err() {
                        return; // the client is gone
                    }
                }
            }
        };
        let client = vigil_onvif::run_events(cfg, clock, ev_tx, health_tx, stopped(stop));
        let forward = async move {
            // Per kind, whether the camera has it on (any topic or source): only changes go on,
            // and every pulse.
            let mut on = KindSet::EMPTY;
            while let Some(ev) = ev_rx.recv().await {
                let kind = ev.kind;
                if !ev.pulse && ev.camera_motion == on.contains(kind) {
                    continue;
                }
                let received = Instant::now();
                // The recorder judges the event against the media up to its arrival.
                fresh.fresh().await;
                let source = MotionSource::Onvif;
                let camera_time = ev.camera_time;
                let msg = if ev.pulse {
                    CameraMsg::Pulse {
                        source,
                        kind,
                        received,
                        camera_time,
                    }
                } else if ev.camera_motion {
                    on.insert(kind);
                    CameraMsg::MotionStart {
                        source,
                        kind,
                        until: None,
                        received,
                        camera_time,
                    }
                } else {
                    on.remove(kind);
                    CameraMsg::MotionEnd {
                        source,
                        kind,
                        camera_time,
                    }
                };
                if !tx.send(msg) {
                    return;
                }
            }
        };
        // The client returns after unsubscribing on stop; then the forwarder and the reporter
        // see their channels close and end too.
        tokio::join!(client, forward, report);
        info!(camera = %name, "ONVIF events stopped");
    };
    (task, Arc::new(OnvifHealth(health_rx)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::SocketAddr;
    use std::sync::mpsc::Receiver;
    use tokio::io::AsyncReadExt;

    /// A task on `rt` that accepts one connection on the address returned, sends it one byte,
    /// then reads it to its end; it sends (the bytes, how many reads returned some).
    fn read_all_on(rt: &IngestRuntime) -> (SocketAddr, Receiver<(Vec<u8>, usize)>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        listener.set_nonblocking(true).unwrap();
        let (done, result) = std::sync::mpsc::channel();
        rt.handle().spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let (mut conn, _) = listener.accept().await.unwrap();
            // "Ready", as a camera's session is set up before its stream flows.
            tokio::io::AsyncWriteExt::write_all(&mut conn, b"!")
                .await
                .unwrap();
            let (mut all, mut reads) = (Vec::new(), 0);
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = conn.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                reads += 1;
                all.extend_from_slice(&buf[..n]);
            }
            done.send((all, reads)).unwrap();
        });
        (addr, result)
    }

    #[test]
    fn a_paced_runtime_reads_what_arrived_meanwhile_in_one_go() {
        let every = Duration::from_millis(50);
        let rt = IngestRuntime::start("paced-test", Some(every)).unwrap();
        let (addr, result) = read_all_on(&rt);
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        std::io::Read::read_exact(&mut conn, &mut [0u8]).unwrap();
        conn.set_nodelay(true).unwrap();
        // A camera-like trickle: 250 small writes, each its own segment, 2 ms apart.
        let started = Instant::now();
        let mut sent = Vec::new();
        for i in 0..250u32 {
            let chunk = i.to_be_bytes();
            conn.write_all(&chunk).unwrap();
            sent.extend_from_slice(&chunk);
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(conn);
        let (got, reads) = result.recv_timeout(Duration::from_secs(10)).unwrap();
        let rounds = (started.elapsed().as_millis() / every.as_millis()) as usize + 2;
        assert_eq!(got, sent, "every byte, in order");
        // Unpaced, nearly every write is a read of its own (~250).
        assert!(reads <= rounds, "{reads} reads in at most {rounds} rounds");
        rt.stop();
    }

    #[test]
    fn a_paced_runtime_loses_nothing_from_a_stream_faster_than_any_camera() {
        // 40 Mbit/s in 10 ms bursts (a 4K camera sends 8-16): 1 MB arrives between two reads,
        // more than the receive buffer starts with, so the kernel must grow it (it does: TCP
        // receive autotuning follows the reader's rate) or hold the sender back; either way
        // nothing may be lost or reordered.
        let rt = IngestRuntime::start("paced-test", Some(READ_EVERY)).unwrap();
        let (addr, result) = read_all_on(&rt);
        let mut conn = std::net::TcpStream::connect(addr).unwrap();
        std::io::Read::read_exact(&mut conn, &mut [0u8]).unwrap();
        let sent: Vec<u8> = (0..7_500_000u32).map(|i| (i % 251) as u8).collect();
        let started = Instant::now();
        for (k, burst) in sent.chunks(50_000).enumerate() {
            let due = started + Duration::from_millis(10 * k as u64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
            conn.write_all(burst).unwrap();
        }
        drop(conn);
        let (got, _) = result.recv_timeout(Duration::from_secs(60)).unwrap();
        assert!(
            got == sent,
            "{} of {} bytes, in order",
            got.len(),
            sent.len()
        );
        rt.stop();
    }
}
