//! One worker thread per camera, owning that camera's [`CameraPipeline`].
//!
//! Sources, motion triggers and the API talk to a camera only through its channel, so a slow disk
//! or a broken stream on one camera never holds up another. The worker keeps a [`CameraStatus`]
//! snapshot fresh for whoever wants to show it.
//!
//! Stream events (packets) don't wake the worker: they wait in the channel and the worker takes
//! them all on its next round, at most [`BATCH_EVERY`] later. Everything else (motion, settings,
//! shutdown) wakes it at once, and it takes the queued packets first, so the order of events is
//! kept exactly. Waking a thread per packet cost more than everything the worker does with the
//! packet (docs/PERFORMANCE.md): ~30 wakes a second per camera become 2.

mod clip;
mod pipeline;

pub use clip::RETRY_EVERY;
pub use pipeline::{CameraPipeline, LatencyHistogram, PipelineCounters, LATENCY_BUCKETS_MS};

use std::collections::VecDeque;
use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;
use vigil_core::kind::{EventKind, KindSet};
use vigil_core::prebuffer::BufferStats;
use vigil_core::recorder::{MotionSource, RecorderStats};
use vigil_core::settings::RecordingSettings;
use vigil_core::time::{Clock, Now, Time};

use crate::clips::ClipRecord;
use crate::ingest::SourceEvent;
use crate::notice::Notice;

/// How often the status snapshot is refreshed when nothing else happens.
const STATUS_EVERY: Duration = Duration::from_millis(500);
/// How long packets may wait in the channel before the worker takes them (see the module docs).
/// Buffer stats and post-roll ends (judged on the packets' own times) are late by at most this;
/// a recorded frame reaches its clip file at most this later, well inside the ~1 s fragment it
/// is synced with. 200 ms cost twice the worker CPU for nothing a user could see.
pub const BATCH_EVERY: Duration = Duration::from_millis(500);
/// Closed clips kept in the snapshot.
const RECENT_CLIPS: usize = 50;

pub enum CameraMsg {
    Source(SourceEvent),
    /// An event of `kind` starts (plain motion is [`EventKind::Motion`]).
    MotionStart {
        source: MotionSource,
        kind: EventKind,
        /// A pulse's end, on the monotonic clock ([`Clock::monotonic`]).
        until: Option<Time>,
        /// When vigil received the event: the start latency (event in → pre-roll durable on
        /// disk) is measured from here.
        received: std::time::Instant,
        /// The camera's own time for the event, when it sent one (ONVIF UtcTime).
        camera_time: Option<Time>,
    },
    MotionEnd {
        source: MotionSource,
        kind: EventKind,
        camera_time: Option<Time>,
    },
    /// An event with no "off" (a line crossed, an object counted): on for the camera's
    /// `pulse_secs`.
    Pulse {
        source: MotionSource,
        kind: EventKind,
        received: std::time::Instant,
        camera_time: Option<Time>,
    },
    /// vigil's own motion detection (`crate::detect`): motion on or off, `at` the time of the
    /// frame that showed it (monotonic, on the same clock as every packet), so a clip's
    /// pre-roll is counted from the frame, not from when the analysis was done.
    Detected {
        on: bool,
        at: Time,
        received: std::time::Instant,
    },
    Configure(RecordingSettings),
    /// The pre-buffer keeps this much more than its pre-roll (a detector's delay:
    /// `crate::detect::lead`).
    Lead(Duration),
    Shutdown,
}

/// What the status page shows of a camera.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CameraStatus {
    pub name: String,
    pub state: &'static str,
    pub stream_up: bool,
    pub video_codec: Option<&'static str>,
    pub width: u16,
    pub height: u16,
    #[serde(skip)]
    pub recorder: RecorderStats,
    #[serde(skip)]
    pub buffer: BufferStats,
    pub counters: PipelineCounters,
    #[serde(skip)]
    pub start_latency: LatencyHistogram,
    /// Motion event in → pre-roll durable on disk, for the latest clip opened by motion.
    pub last_start_latency_ms: Option<f64>,
    /// The latest clip write error, when there was one.
    #[serde(skip)]
    pub last_error: Option<(Time, String)>,
    pub current_clip: Option<ClipRecord>,
    pub recent_clips: VecDeque<ClipRecord>,
    #[serde(serialize_with = "crate::clips::ser_time_opt")]
    pub updated_at: Option<Time>,
    /// The event kinds on now (any source).
    #[serde(skip)]
    pub active_kinds: KindSet,
    /// Events started per kind ([`EventKind::ALL`] order).
    #[serde(skip)]
    pub kind_events: [u64; EventKind::ALL.len()],
}

/// The way into a camera's worker; cheap to clone, one per source.
#[derive(Clone)]
pub struct CameraTx {
    tx: Sender<CameraMsg>,
    worker: std::thread::Thread,
}

impl CameraTx {
    /// Sends `msg` and wakes the worker at once. False when the worker is gone.
    pub fn send(&self, msg: CameraMsg) -> bool {
        let ok = self.tx.send(msg).is_ok();
        self.worker.unpark();
        ok
    }

    /// Queues a stream event for the worker's next round without waking it (module docs).
    /// False when the worker is gone.
    pub fn send_source(&self, ev: SourceEvent) -> bool {
        self.tx.send(CameraMsg::Source(ev)).is_ok()
    }
}

/// A running camera worker.
pub struct CameraHandle {
    name: String,
    tx: CameraTx,
    status: Arc<Mutex<CameraStatus>>,
    /// The camera's current settings as last set (the worker applies them live).
    settings: Mutex<RecordingSettings>,
    /// Taken by [`CameraHandle::shutdown`]; readers sharing the handle never hold the thread.
    join: Mutex<Option<JoinHandle<()>>>,
}

impl CameraHandle {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn sender(&self) -> CameraTx {
        self.tx.clone()
    }

    /// Sends `msg` and wakes the worker. False when the worker is gone.
    pub fn send(&self, msg: CameraMsg) -> bool {
        self.tx.send(msg)
    }

    pub fn status(&self) -> CameraStatus {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn settings(&self) -> RecordingSettings {
        self.settings
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Applies new settings live. They must be valid (the caller validated and reported errors).
    pub fn configure(&self, settings: RecordingSettings) -> bool {
        match self.settings.lock() {
            Ok(mut s) => *s = settings.clone(),
            Err(p) => *p.into_inner() = settings.clone(),
        }
        self.send(CameraMsg::Configure(settings))
    }

    /// Asks the worker to close its clip and stop, and waits for it. Blocks; a second call
    /// returns at once.
    pub fn shutdown(&self) {
        self.tx.send(CameraMsg::Shutdown);
        let join = self
            .join
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(j) = join {
            let _ = j.join();
        }
    }
}

/// Starts a worker thread for `pipeline`. `on_notice` sees every notice (on the worker's thread).
pub fn spawn(
    pipeline: CameraPipeline,
    clock: Arc<dyn Clock>,
    on_notice: impl FnMut(&str, Notice) + Send + 'static,
) -> std::io::Result<CameraHandle> {
    let (tx, rx) = channel();
    let name = pipeline.name().to_owned();
    let settings = Mutex::new(pipeline.settings().clone());
    let status = Arc::new(Mutex::new(CameraStatus {
        name: name.clone(),
        // Until the worker's first snapshot: the recorder starts idle.
        state: vigil_core::recorder::State::Idle.as_str(),
        ..Default::default()
    }));
    let st = status.clone();
    let join = std::thread::Builder::new()
        .name(format!("cam-{name}"))
        .spawn(move || worker(pipeline, rx, clock, st, on_notice))?;
    let tx = CameraTx {
        tx,
        worker: join.thread().clone(),
    };
    Ok(CameraHandle {
        name,
        tx,
        status,
        settings,
        join: Mutex::new(Some(join)),
    })
}

fn worker(
    mut p: CameraPipeline,
    rx: Receiver<CameraMsg>,
    clock: Arc<dyn Clock>,
    status: Arc<Mutex<CameraStatus>>,
    mut on_notice: impl FnMut(&str, Notice),
) {
    let mut recent: VecDeque<ClipRecord> = VecDeque::new();
    // Deadlines and waits on the monotonic clock; the wall clock only labels (`Now`).
    let mut last_status: Option<Time> = None;
    // Whether more stream events are surely coming: the stream is up or the last round took some.
    let mut streaming = false;
    loop {
        let now = clock.monotonic();
        let mut wait = p
            .next_deadline()
            .map_or(STATUS_EVERY, |d| {
                Duration::from_micros(d.micros_since(now).max(0) as u64)
            })
            .min(STATUS_EVERY);
        if streaming {
            wait = wait.min(BATCH_EVERY);
        }
        if !wait.is_zero() {
            // Woken early by `CameraTx::send`; a spurious wake is just an early round.
            std::thread::park_timeout(wait);
        }
        streaming = false;
        let mut stop = false;
        loop {
            let msg = match rx.try_recv() {
                Ok(msg) => msg,
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    p.shutdown(Now::read(&*clock));
                    stop = true;
                    break;
                }
            };
            let now = Now::read(&*clock);
            match msg {
                CameraMsg::Source(ev) => {
                    streaming = true;
                    p.on_source(ev, now);
                }
                CameraMsg::MotionStart {
                    source,
                    kind,
                    until,
                    received,
                    camera_time,
                } => {
                    p.set_camera_time(camera_time);
                    if p.motion_start(source, kind, until, now) {
                        p.note_start_latency(received.elapsed());
                    }
                }
                CameraMsg::Pulse {
                    source,
                    kind,
                    received,
                    camera_time,
                } => {
                    p.set_camera_time(camera_time);
                    if p.pulse(source, kind, now) {
                        p.note_start_latency(received.elapsed());
                    }
                }
                CameraMsg::MotionEnd {
                    source,
                    kind,
                    camera_time,
                } => {
                    p.set_camera_time(camera_time);
                    p.motion_end(source, kind, now)
                }
                CameraMsg::Detected { on, at, received } => {
                    if on {
                        if p.detected_start(at, now) {
                            p.note_start_latency(received.elapsed());
                        }
                    } else {
                        p.set_camera_time(None);
                        p.motion_end(MotionSource::Detector, EventKind::Motion, now);
                    }
                }
                CameraMsg::Configure(s) => {
                    if let Err(e) = p.configure(s, now) {
                        tracing::warn!(camera = %p.name(), "settings refused: {e}");
                    }
                }
                CameraMsg::Lead(lead) => p.buffer().set_lead(lead),
                CameraMsg::Shutdown => {
                    p.shutdown(now);
                    stop = true;
                    break;
                }
            }
        }
        streaming |= p.stream_up();
        if !stop {
            let now = Now::read(&*clock);
            if p.next_deadline().is_some_and(|d| d <= now.mono) {
                p.tick(now);
            }
        }
        let notices = p.take_notices();
        let noticed = !notices.is_empty();
        for n in notices {
            if let Notice::ClipClosed(rec) = &n {
                recent.push_front(rec.clone());
                recent.truncate(RECENT_CLIPS);
            }
            on_notice(p.name(), n);
        }
        let now = Now::read(&*clock);
        let due = last_status.is_none_or(|t| now.mono.micros_since(t) >= 500_000);
        if stop || noticed || due {
            last_status = Some(now.mono);
            let snap = snapshot(&p, &recent, now);
            match status.lock() {
                Ok(mut s) => *s = snap,
                Err(poisoned) => *poisoned.into_inner() = snap,
            }
        }
        if stop {
            return;
        }
    }
}

fn snapshot(p: &CameraPipeline, recent: &VecDeque<ClipRecord>, now: Now) -> CameraStatus {
    CameraStatus {
        name: p.name().to_owned(),
        state: p.state().as_str(),
        stream_up: p.stream_up(),
        video_codec: p.params().map(|x| x.video.codec.name()),
        width: p.params().map_or(0, |x| x.video.width),
        height: p.params().map_or(0, |x| x.video.height),
        recorder: p.recorder_stats(),
        buffer: p.buffer_stats(),
        counters: p.counters(),
        start_latency: p.start_latency().clone(),
        last_start_latency_ms: p.start_latency().last_ms,
        last_error: p.last_error().cloned(),
        current_clip: p.current_clip().cloned(),
        recent_clips: recent.clone(),
        updated_at: Some(now.wall),
        active_kinds: p.active_kinds(),
        kind_events: p.kind_events(),
    }
}
