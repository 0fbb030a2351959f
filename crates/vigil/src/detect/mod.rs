//! Motion detection of vigil's own (docs/detection.md), for cameras whose ONVIF events are
//! missing, broken or taken: `detect = true` decodes the camera's detect stream on a thread of
//! its own, analyses a small grey picture a few times a second ([`model`]) and sends `motion`
//! events (source `detector`) into the camera's worker, the same way ONVIF events go.
//!
//! The detector never holds up recording: it is offered the stream's packets through a bounded
//! queue; when it can't keep up the queue's overflow is dropped and it skips to the next
//! keyframe (counted). A stream it can't decode (H.265, corrupt parameters) is said once, in
//! the log and in the camera's `detect` status, and recording goes on.
//!
//! Alignment: a detected start carries the time of the frame that first showed the motion, on
//! vigil's monotonic clock (every session's packets are anchored on it), so the clip's pre-roll
//! is counted from there, not from when the analysis finished.

pub mod decode;
pub mod keys;
pub mod model;
pub mod zones;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use serde::Serialize;
use tracing::{info, warn};
use vigil_core::packet::TrackKind;
use vigil_core::time::{Clock, Time};

use crate::camera::{CameraMsg, CameraTx};
use crate::ingest::SourceEvent;
use decode::{analysis_size, H264};
pub use keys::DetectKeys;
use model::{Change, Model, Params};
pub use zones::Polygon;

/// Frames analysed per second at most while every frame is decoded.
pub const ANALYSIS_FPS: f64 = 5.0;
/// From a keyframe that shows motion, every frame is decoded until the motion is confirmed
/// (`detect_min_secs`) or this long has passed without it; the rest of the time only keyframes
/// are (docs/detection.md, "How much is decoded").
pub const FULL_HOLD_SECS: f64 = 1.0;
/// Packets waiting for the detector at most.
const QUEUE: usize = 120;
/// Keyframes of the detect stream kept for clip pictures ([`Detector::picture_at`]): a few
/// seconds, enough to reach back over `detect_min_secs` and the queue.
const KEYS_KEPT: usize = 4;

/// How much longer than its pre-roll a detect camera's pre-buffer keeps: motion is reported
/// `detect_min_secs` after the frame that first showed it, plus the analysis interval and the
/// queue's delay.
pub fn lead(cfg: &DetectConfig) -> std::time::Duration {
    std::time::Duration::from_secs_f64(cfg.params.min_secs + 1.0)
}

/// A camera's detection settings (`detect*` keys, docs/CONFIG.md).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectConfig {
    /// The stream to decode; `None`: the camera's own (recorded) stream.
    pub url: Option<String>,
    pub params: Params,
    pub zones: Vec<Polygon>,
    pub masks: Vec<Polygon>,
}

/// What the detector is doing, as the API shows it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct DetectStats {
    /// `waiting` (for the stream), `detecting`, `unsupported` (a stream it can't decode).
    pub state: &'static str,
    /// Why it is not detecting, in words.
    pub message: Option<String>,
    /// Motion now (after `detect_min_secs`).
    pub motion: bool,
    /// The latest analysed frame: share of the picture that moved (%), and its areas
    /// (`[x, y, w, h]` in 0..1).
    pub changed_percent: f64,
    pub boxes: Vec<[f32; 4]>,
    pub frames_decoded: u64,
    /// Frames not decoded (between keyframes while nothing moves).
    pub frames_skipped: u64,
    pub frames_analyzed: u64,
    /// Packets the decoder refused (corrupt); it then waits for the next keyframe.
    pub decode_errors: u64,
    /// Packets dropped because the detector was behind.
    pub skipped_packets: u64,
    pub events: u64,
    /// The analysis picture's size.
    pub width: usize,
    pub height: usize,
    /// Which stream it decodes, in words (`main stream`, `ONVIF sub-stream rtsp://…`,
    /// `detect_url rtsp://…`; no password).
    pub stream: String,
}

/// A running detector (module docs).
pub struct Detector {
    tx: Mutex<Option<SyncSender<SourceEvent>>>,
    /// Set when a packet was dropped: the detector needs a keyframe before the next one.
    behind: AtomicBool,
    /// The stream's latest parameters: sent again after an overflow (which may have dropped
    /// them), before the keyframe it resumes at.
    params: Mutex<Option<Arc<vigil_core::packet::StreamParams>>>,
    skipped: AtomicU64,
    stats: Arc<Mutex<DetectStats>>,
    /// The stream's latest keyframes (shared payloads): an H.265 camera's clip pictures come
    /// from its H.264 detect stream ([`Detector::picture_at`]).
    keys: Mutex<std::collections::VecDeque<vigil_core::packet::Packet>>,
    /// The stream is H.264 (only then are keyframes kept).
    h264: AtomicBool,
    /// Which stream it decodes (`DetectStats::stream`).
    stream: Mutex<String>,
    /// New settings for the thread to take before its next event.
    pending: Arc<Mutex<Option<DetectConfig>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Detector {
    /// Starts the detector thread of camera `name`; its events go to `camera`.
    pub fn spawn(
        name: &str,
        cfg: DetectConfig,
        camera: CameraTx,
        clock: Arc<dyn Clock>,
    ) -> std::io::Result<Arc<Detector>> {
        let (tx, rx) = sync_channel(QUEUE);
        let cfg_stream = cfg.url.clone();
        let stats = Arc::new(Mutex::new(DetectStats {
            state: "waiting",
            ..Default::default()
        }));
        let s = stats.clone();
        let pending = Arc::new(Mutex::new(None));
        let p = pending.clone();
        let n = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(format!("detect-{name}"))
            .spawn(move || run(&n, cfg, rx, camera, &*clock, &s, &p))?;
        Ok(Arc::new(Detector {
            tx: Mutex::new(Some(tx)),
            behind: AtomicBool::new(false),
            params: Mutex::new(None),
            skipped: AtomicU64::new(0),
            stats,
            keys: Mutex::new(std::collections::VecDeque::new()),
            h264: AtomicBool::new(false),
            stream: Mutex::new(match &cfg_stream {
                Some(u) => format!("detect_url {}", crate::util::redact_url(u)),
                None => "main stream".to_owned(),
            }),
            pending,
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// Offers a stream event (never blocks). Audio is not wanted.
    pub fn offer(&self, ev: &SourceEvent) {
        // Audio, half of a camera's packets, is turned away before any lock.
        if matches!(ev, SourceEvent::Packet(p) if p.track != TrackKind::Video) {
            return;
        }
        let tx = lock(&self.tx);
        let Some(tx) = tx.as_ref() else { return };
        let ev = match ev {
            SourceEvent::Packet(p) => {
                if self.behind.load(Ordering::Relaxed) {
                    if !p.keyframe {
                        self.skipped.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                    // Resume: the parameters first (the overflow may have eaten them).
                    let params = lock(&self.params).clone();
                    if let Some(params) = params {
                        if tx.try_send(SourceEvent::Params(params)).is_err() {
                            self.skipped.fetch_add(1, Ordering::Relaxed);
                            return;
                        }
                    }
                    self.behind.store(false, Ordering::Relaxed);
                }
                if p.keyframe && self.h264.load(Ordering::Relaxed) {
                    let mut keys = lock(&self.keys);
                    if keys.len() == KEYS_KEPT {
                        keys.pop_front();
                    }
                    keys.push_back(p.clone());
                }
                SourceEvent::Packet(p.clone())
            }
            SourceEvent::Params(p) => {
                let h264 = p.video.codec == vigil_core::packet::VideoCodec::H264;
                self.h264.store(h264, Ordering::Relaxed);
                if !h264 {
                    lock(&self.keys).clear();
                }
                *lock(&self.params) = Some(p.clone());
                SourceEvent::Params(p.clone())
            }
            SourceEvent::Lost(why) => SourceEvent::Lost(why.clone()),
        };
        match tx.try_send(ev) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                self.skipped.fetch_add(1, Ordering::Relaxed);
                self.behind.store(true, Ordering::Relaxed);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }

    /// New settings (thresholds, zones, masks), taken with the next frame. The stream stays:
    /// another `url` needs a new detector.
    pub fn reconfigure(&self, cfg: DetectConfig) {
        *lock(&self.pending) = Some(cfg);
    }

    /// A picture of the detect stream at `at` for a clip whose own frames can't be decoded:
    /// its newest keyframe at or before `at` (else the oldest kept), when the stream is H.264.
    pub fn picture_at(
        &self,
        at: Time,
    ) -> Option<(
        Arc<vigil_core::packet::StreamParams>,
        Vec<vigil_core::packet::Packet>,
    )> {
        let params = lock(&self.params).clone()?;
        if params.video.codec != vigil_core::packet::VideoCodec::H264 {
            return None;
        }
        let keys = lock(&self.keys);
        let k = keys
            .iter()
            .rev()
            .find(|k| k.time <= at)
            .or_else(|| keys.front())?;
        Some((params, vec![k.clone()]))
    }

    /// Says which stream it decodes now.
    pub fn set_stream(&self, what: &str) {
        *lock(&self.stream) = what.to_owned();
    }

    pub fn stats(&self) -> DetectStats {
        let mut s = lock(&self.stats).clone();
        s.skipped_packets = self.skipped.load(Ordering::Relaxed);
        s.stream = lock(&self.stream).clone();
        s
    }

    /// Ends the thread (its motion, if on, ends with it) and waits for it.
    pub fn stop(&self) {
        lock(&self.tx).take();
        if let Some(t) = lock(&self.thread).take() {
            let _ = t.join();
        }
    }
}

/// Seconds of a monotonic time (the model's clock).
fn secs(t: Time) -> f64 {
    t.0 as f64 / 1e6
}

fn from_secs(s: f64) -> Time {
    Time((s * 1e6).round() as i64)
}

/// The detector's work on one stream, event by event: decode, analyse, say when motion starts
/// or ends. The thread runs one; tests feed one a file's packets.
pub struct Analyzer {
    name: String,
    cfg: DetectConfig,
    decoder: Option<H264>,
    model: Option<Model>,
    need_key: bool,
    last_analysis: Option<Time>,
    /// Decoding every frame until this time (seconds); before, keyframes only.
    full_until: Option<f64>,
    said: Option<String>,
    stats: Arc<Mutex<DetectStats>>,
}

impl Analyzer {
    pub fn new(name: &str, cfg: DetectConfig) -> Analyzer {
        Analyzer {
            name: name.to_owned(),
            cfg,
            decoder: None,
            model: None,
            need_key: true,
            last_analysis: None,
            full_until: None,
            said: None,
            stats: Arc::new(Mutex::new(DetectStats {
                state: "waiting",
                ..Default::default()
            })),
        }
    }

    pub fn stats(&self) -> DetectStats {
        lock(&self.stats).clone()
    }

    fn reset(&mut self, now: Time) -> Option<Change> {
        self.need_key = true;
        self.last_analysis = None;
        self.full_until = None;
        self.model.as_mut().and_then(|m| m.reset(secs(now)))
    }

    /// New settings (the API), from the next frame on; the stream it decodes stays.
    pub fn reconfigure(&mut self, cfg: DetectConfig) {
        if let Some(m) = self.model.as_mut() {
            m.reconfigure(cfg.params.clone(), &cfg.zones, &cfg.masks);
        }
        info!(camera = %self.name, "motion detection settings changed");
        self.cfg = cfg;
    }

    /// Takes one stream event (`now`: the monotonic clock, for a loss).
    pub fn on_event(&mut self, ev: SourceEvent, now: Time) -> Option<Change> {
        match ev {
            SourceEvent::Params(p) => {
                let ended = self.reset(now);
                match H264::new(&p.video) {
                    Ok(d) => {
                        self.decoder = Some(d);
                        let (w, h) =
                            analysis_size(usize::from(p.video.width), usize::from(p.video.height));
                        self.model = Some(Model::new(
                            w,
                            h,
                            self.cfg.params.clone(),
                            &self.cfg.zones,
                            &self.cfg.masks,
                        ));
                        let mut s = lock(&self.stats);
                        (s.state, s.message, s.width, s.height) = ("detecting", None, w, h);
                        self.said = None;
                        info!(camera = %self.name, "motion detection on ({w}x{h} analysed)");
                    }
                    Err(e) => {
                        self.decoder = None;
                        self.model = None;
                        let msg = e.to_string();
                        if self.said.as_deref() != Some(&msg) {
                            warn!(camera = %self.name, "motion detection off: {msg}");
                            self.said = Some(msg.clone());
                        }
                        let mut s = lock(&self.stats);
                        (s.state, s.message) = ("unsupported", Some(msg));
                    }
                }
                ended
            }
            SourceEvent::Lost(_) => {
                if self.decoder.is_some() {
                    lock(&self.stats).state = "waiting";
                }
                self.reset(now)
            }
            SourceEvent::Packet(p) => self.packet(&p),
        }
    }

    fn packet(&mut self, p: &vigil_core::packet::Packet) -> Option<Change> {
        let (Some(dec), Some(m)) = (self.decoder.as_mut(), self.model.as_mut()) else {
            return None;
        };
        if p.track != TrackKind::Video || (self.need_key && !p.keyframe) {
            return None;
        }
        let t = secs(p.time);
        // Keyframes only, but while a motion seen on one is being confirmed: then every frame
        // (its references are there from that keyframe on).
        let full = self.full_until.is_some_and(|u| t <= u);
        if !full {
            self.full_until = None;
            if !p.keyframe {
                lock(&self.stats).frames_skipped += 1;
                return None;
            }
        }
        self.need_key = false;
        // A few frames a second are analysed (every keyframe when only those are decoded).
        let due = !full
            || self
                .last_analysis
                .is_none_or(|l| t - secs(l) >= 1.0 / ANALYSIS_FPS - 0.01);
        let (w, h) = m.size();
        let small = match dec.decode(&p.data, p.keyframe, |l, _| due.then(|| l.downscale(w, h))) {
            Ok(Some(small)) => {
                lock(&self.stats).frames_decoded += 1;
                small?
            }
            Ok(None) => return None,
            Err(e) => {
                self.need_key = true;
                let mut s = lock(&self.stats);
                s.decode_errors += 1;
                if s.decode_errors == 1 || s.decode_errors.is_multiple_of(100) {
                    warn!(camera = %self.name, "detect stream: a frame could not be decoded ({e}); waiting for the next keyframe ({} so far)", s.decode_errors);
                }
                return None;
            }
        };
        self.last_analysis = Some(p.time);
        let (a, change) = m.feed(&small, t);
        if m.is_on() {
            // Confirmed: keyframes are enough to follow it to its end.
            self.full_until = None;
        } else if a.moving {
            self.full_until = Some(t + FULL_HOLD_SECS);
        }
        let mut s = lock(&self.stats);
        s.frames_analyzed += 1;
        s.changed_percent = a.changed_percent;
        s.boxes = a.boxes;
        match change {
            Some(Change::Started { .. }) => {
                s.events += 1;
                s.motion = true;
            }
            Some(Change::Ended { .. }) => s.motion = false,
            None => {}
        }
        change
    }

    /// The end of the stream: motion that is on ends at `now`.
    pub fn finish(&mut self, now: Time) -> Option<Change> {
        let c = self.reset(now);
        if c.is_some() {
            lock(&self.stats).motion = false;
        }
        c
    }
}

/// The detector thread: an [`Analyzer`] whose changes go to the camera.
fn run(
    name: &str,
    cfg: DetectConfig,
    rx: Receiver<SourceEvent>,
    camera: CameraTx,
    clock: &dyn Clock,
    stats: &Mutex<DetectStats>,
    pending: &Mutex<Option<DetectConfig>>,
) {
    let mut a = Analyzer::new(name, cfg);
    let send = |change: Change| {
        let (on, at) = match change {
            Change::Started { at } => (true, at),
            Change::Ended { at } => (false, at),
        };
        camera.send(CameraMsg::Detected {
            on,
            at: from_secs(at),
            received: std::time::Instant::now(),
        });
    };
    while let Ok(ev) = rx.recv() {
        if let Some(cfg) = lock(pending).take() {
            a.reconfigure(cfg);
        }
        if let Some(c) = a.on_event(ev, clock.monotonic()) {
            send(c);
        }
        *lock(stats) = a.stats();
    }
    // Stopping: motion that is on ends here.
    if let Some(c) = a.finish(clock.monotonic()) {
        send(c);
    }
    *lock(stats) = a.stats();
}
