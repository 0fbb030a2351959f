//! One camera's recording pipeline: the core's pure [`Recorder`] decides, this executes.
//!
//! Every input (a packet, a motion start, a tick) goes to the recorder with the current time; the
//! actions it returns are carried out in order on the camera's pre-buffer and clip writer.
//!
//! Time: each input is handed both clocks ([`Now`]). The recorder, the pre-buffer and every
//! deadline see only the monotonic one (packets' times are on it too); what leaves the pipeline
//! as a label (notices, hence catalog rows; clip file names; the status) is on the wall clock.
//! A motion event is labelled when it starts, and its overlaps and end are that label plus the
//! monotonic time since; a clip is labelled when it opens (its file name) and when its pre-roll
//! is written (its start), and its end is its start plus its media duration. So a step of the
//! wall clock never gives a row a negative or huge duration: it shows between rows, as a gap
//! or an overlap (docs/time.md). A packet
//! goes either to the pre-buffer or to the open clip, never both, so clips of one camera never repeat
//! a frame and a clip's pre-roll starts exactly where the previous clip ended when motion comes back
//! quickly.
//!
//! Failures stay inside the camera: a clip that can't be written is closed valid (the fMP4 writer
//! cuts back to its last whole fragment), logged, and recording resumes in a new file once it
//! can (see [`super::clip`]).

use std::sync::Arc;

use tracing::{error, info, warn};
use vigil_core::detections::{self, Detection, Detections};
use vigil_core::kind::{EventKind, KindSet};
use vigil_core::packet::{Packet, StreamParams, TrackKind};
use vigil_core::pool::BufferHandle;
use vigil_core::prebuffer::BufferStats;
use vigil_core::prebuffer::{BufferConfig, PushOutcome};
use vigil_core::recorder::RecorderStats;
use vigil_core::recorder::{
    Action, Actions, Input, MotionSource, OpenReason, PacketRoute, Recorder, RecorderConfig, State,
};
use vigil_core::settings::{RecordingSettings, SettingsError};
use vigil_core::time::{Now, Time};

use super::clip::{ClipSlot, Report};
use crate::clips::{ClipRecord, ClipStore};
use crate::ingest::SourceEvent;
use crate::notice::Notice;

/// Borrows the pipeline's reporting fields for the clip slot (disjoint from `self.clip`).
macro_rules! report {
    ($s:ident) => {
        Report {
            camera: &$s.name,
            notices: &mut $s.notices,
            counters: &mut $s.counters,
            last_error: &mut $s.last_error,
        }
    };
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PipelineCounters {
    pub packets_in: u64,
    pub packets_written: u64,
    pub packets_buffered: u64,
    pub packets_dropped: u64,
    pub write_errors: u64,
    pub buffer_errors: u64,
}

#[derive(Debug, Clone, Copy)]
struct EventInfo {
    id: u64,
    source: MotionSource,
    /// When it started, on the monotonic clock and as labelled.
    start: Time,
    start_label: Time,
}

impl EventInfo {
    /// The label of a monotonic instant of this event: its start's label plus the time since.
    fn label(&self, at: Time) -> Time {
        self.start_label.plus_micros(at.micros_since(self.start))
    }
}

pub struct CameraPipeline {
    name: String,
    recorder: Recorder,
    buffer: BufferHandle,
    spool_dir: std::path::PathBuf,
    settings: RecordingSettings,
    params: Option<Arc<StreamParams>>,
    stream_up: bool,
    /// Time of the newest packet of this stream session (monotonic clock).
    newest_packet: Option<Time>,
    event: Option<EventInfo>,
    clip: ClipSlot,
    notices: Vec<Notice>,
    counters: PipelineCounters,
    start_latency: LatencyHistogram,
    last_error: Option<(Time, String)>,
    /// The label of the latest motion start counted (a new event or an overlap).
    last_event_label: Option<Time>,
    /// Both clocks at the input being handled.
    now: Now,
    /// The camera's time for the motion input being handled, if it gave one.
    camera_time: Option<Time>,
    /// While a detected start is handled: the time of the frame that showed the motion (the
    /// pre-roll is counted from it).
    seen_at: Option<Time>,
    /// Makes the picture of each clip (crate::thumbs).
    thumbs: Option<crate::thumbs::Thumbnailer>,
    /// For an H.265 clip, whose frames vigil can't decode: the detect stream's keyframe at a
    /// time (its detector's H.264 sub-stream), when there is one.
    picture_source: Option<crate::thumbs::PictureSource>,
    /// The open clip has no picture yet: its first keyframe gives it one (a clip opened without
    /// a pre-roll: a rollover, new parameters, a pre-buffer with no keyframe).
    picture_pending: bool,
    /// Every event by kind (recording or not); only `record_on` kinds reach the recorder.
    detections: Detections,
    /// Events started per kind ([`EventKind::index`]), for the metrics.
    kind_events: [u64; EventKind::ALL.len()],
    /// The start label of each event on (id → label), so that its end is labelled from it
    /// (steady across a wall-clock step, as [`EventInfo::label`]).
    event_labels: Vec<(u64, EventInfo)>,
}

/// Motion event in → first clip bytes (pre-roll included) durable on disk.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencyHistogram {
    /// Upper bounds in milliseconds of [`LATENCY_BUCKETS_MS`], plus one overflow bucket.
    pub counts: [u64; LATENCY_BUCKETS_MS.len() + 1],
    pub count: u64,
    pub sum_ms: f64,
    pub last_ms: Option<f64>,
    pub max_ms: f64,
}

pub const LATENCY_BUCKETS_MS: [f64; 10] =
    [1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 250.0, 500.0, 1000.0];

impl LatencyHistogram {
    pub fn observe(&mut self, d: std::time::Duration) {
        let ms = d.as_secs_f64() * 1000.0;
        let i = LATENCY_BUCKETS_MS
            .iter()
            .position(|&b| ms <= b)
            .unwrap_or(LATENCY_BUCKETS_MS.len());
        self.counts[i] += 1;
        self.count += 1;
        self.sum_ms += ms;
        self.last_ms = Some(ms);
        self.max_ms = self.max_ms.max(ms);
    }
}

impl CameraPipeline {
    pub fn new(
        name: &str,
        settings: RecordingSettings,
        buffer: BufferHandle,
        store: ClipStore,
        spool_dir: std::path::PathBuf,
    ) -> Self {
        CameraPipeline {
            name: name.to_owned(),
            recorder: Recorder::new(RecorderConfig::from_settings(&settings)),
            buffer,
            spool_dir,
            settings,
            params: None,
            stream_up: false,
            newest_packet: None,
            event: None,
            clip: ClipSlot::new(store),
            notices: Vec::new(),
            counters: PipelineCounters::default(),
            start_latency: LatencyHistogram::default(),
            last_error: None,
            last_event_label: None,
            now: Now::default(),
            camera_time: None,
            seen_at: None,
            thumbs: None,
            picture_source: None,
            picture_pending: false,
            detections: Detections::default(),
            kind_events: [0; EventKind::ALL.len()],
            event_labels: Vec::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn state(&self) -> State {
        self.recorder.state()
    }
    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }
    pub fn buffer(&self) -> &BufferHandle {
        &self.buffer
    }
    pub fn settings(&self) -> &RecordingSettings {
        &self.settings
    }
    pub fn params(&self) -> Option<&Arc<StreamParams>> {
        self.params.as_ref()
    }
    pub fn stream_up(&self) -> bool {
        self.stream_up
    }
    pub fn counters(&self) -> PipelineCounters {
        self.counters
    }
    pub fn current_clip(&self) -> Option<&ClipRecord> {
        self.clip.current()
    }
    /// The next deadline (the recorder's, or an event's end), on the monotonic clock.
    pub fn next_deadline(&self) -> Option<Time> {
        let events = self
            .detections
            .next_deadline(self.settings.motion_timeout());
        match (self.recorder.next_deadline(), events) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The event kinds on now.
    pub fn active_kinds(&self) -> KindSet {
        self.detections.kinds()
    }

    /// Events started so far, per kind ([`EventKind::ALL`] order).
    pub fn kind_events(&self) -> [u64; EventKind::ALL.len()] {
        self.kind_events
    }

    /// The recorder's figures, its latest event time labelled.
    pub fn recorder_stats(&self) -> RecorderStats {
        RecorderStats {
            last_event_at: self.last_event_label,
            ..self.recorder.stats()
        }
    }

    /// The pre-buffer's figures, its oldest and newest packet labelled as the clocks read at
    /// the latest input.
    pub fn buffer_stats(&self) -> BufferStats {
        let s = self.buffer.stats();
        BufferStats {
            oldest: s.oldest.map(|t| self.now.label(t)),
            newest: s.newest.map(|t| self.now.label(t)),
            ..s
        }
    }

    /// Everything noticed since the last call.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    pub fn on_source(&mut self, ev: SourceEvent, now: Now) {
        match ev {
            SourceEvent::Params(p) => {
                let changed = self.params.as_deref() != Some(&*p);
                self.params = Some(p);
                if !self.stream_up {
                    self.stream_up = true;
                    self.notices.push(Notice::Stream {
                        up: true,
                        at: now.wall,
                        detail: None,
                    });
                    self.run(Input::StreamUp, None, now);
                } else if changed {
                    self.run(Input::ParamsChanged, None, now);
                }
            }
            SourceEvent::Packet(p) => {
                self.counters.packets_in += 1;
                // The newest, not the last: audio and video are separate streams, and an audio
                // frame can arrive after a newer video frame.
                self.newest_packet = Some(self.newest_packet.map_or(p.time, |t| t.max(p.time)));
                self.run(Input::Packet(p.meta()), Some(p), now);
            }
            SourceEvent::Lost(why) => {
                warn!(camera = %self.name, "stream lost: {why}");
                self.stream_up = false;
                self.notices.push(Notice::Stream {
                    up: false,
                    at: now.wall,
                    detail: Some(why),
                });
                self.newest_packet = None;
                self.run(Input::StreamLost, None, now);
            }
        }
    }

    /// An event of `kind` starts (or goes on). True when this start opened a clip (and its
    /// pre-roll is now durable). `until` (a pulse's end) is on the monotonic clock. Every kind is
    /// an event ([`Notice::EventStarted`]); only `record_on` kinds reach the recorder.
    pub fn motion_start(
        &mut self,
        source: MotionSource,
        kind: EventKind,
        until: Option<Time>,
        now: Now,
    ) -> bool {
        self.now = now;
        if let Some(d) = self.detections.start(source, kind, until, now.mono) {
            self.kind_events[kind.index()] += 1;
            info!(camera = %self.name, event = d.id, %source, %kind, "event started");
            let info = EventInfo {
                id: d.id,
                source,
                start: d.start,
                start_label: now.label(d.start),
            };
            self.event_labels.push((d.id, info));
            self.notices.push(Notice::EventStarted {
                id: d.id,
                kind,
                source,
                at: info.start_label,
                camera_time: self.camera_time,
            });
        }
        if !self.settings.record_on.contains(kind) {
            self.camera_time = None;
            return false;
        }
        let before = self.recorder.stats().clips_recorded;
        self.recorder_start(source, kind, until, now);
        self.recorder.stats().clips_recorded > before
    }

    fn recorder_start(
        &mut self,
        source: MotionSource,
        kind: EventKind,
        until: Option<Time>,
        now: Now,
    ) {
        let input = Input::MotionStart {
            source,
            kind,
            until,
        };
        self.run(input, None, now);
    }

    /// A pulse of `kind`: on for the camera's `pulse_secs` (an event with no "off").
    pub fn pulse(&mut self, source: MotionSource, kind: EventKind, now: Now) -> bool {
        let until = now.mono.plus(self.settings.pulse());
        self.motion_start(source, kind, Some(until), now)
    }

    /// Records how long a motion start took from arrival to a durable pre-roll.
    pub fn note_start_latency(&mut self, d: std::time::Duration) {
        self.start_latency.observe(d);
    }

    pub fn start_latency(&self) -> &LatencyHistogram {
        &self.start_latency
    }

    /// The latest clip write error (when, what).
    pub fn last_error(&self) -> Option<&(Time, String)> {
        self.last_error.as_ref()
    }

    pub fn motion_end(&mut self, source: MotionSource, kind: EventKind, now: Now) {
        self.now = now;
        if let Some(e) = self.detections.end(source, kind, now.mono) {
            self.event_ended(e, self.camera_time);
        }
        if self.settings.record_on.contains(kind) {
            self.run(Input::MotionEnd { source, kind }, None, now);
        }
        self.camera_time = None;
    }

    pub fn tick(&mut self, now: Now) {
        self.now = now;
        for e in self
            .detections
            .expire(now.mono, self.settings.motion_timeout())
        {
            self.event_ended(e, None);
        }
        self.run(Input::Tick, None, now);
    }

    pub fn shutdown(&mut self, now: Now) {
        self.now = now;
        for e in self.detections.end_all(now.mono) {
            self.event_ended(e, None);
        }
        self.run(Input::Shutdown, None, now);
    }

    fn event_ended(&mut self, e: detections::Ended, camera_time: Option<Time>) {
        info!(camera = %self.name, event = e.id, source = %e.source, kind = %e.kind, timed_out = e.timed_out, "event ended");
        let at = match self.event_labels.iter().position(|(id, _)| *id == e.id) {
            Some(i) => self.event_labels.swap_remove(i).1.label(e.at),
            None => self.now.label(e.at),
        };
        self.notices.push(Notice::EventEnded {
            id: e.id,
            kind: e.kind,
            source: e.source,
            at,
            timed_out: e.timed_out,
            camera_time,
        });
    }

    /// Applies new settings live: the buffer's window and mode, the recorder's timers. Invalid
    /// settings are refused whole (the error names the field) and nothing changes.
    pub fn configure(
        &mut self,
        settings: RecordingSettings,
        now: Now,
    ) -> Result<(), SettingsError> {
        settings.validate()?;
        let cfg = BufferConfig::from_settings(&settings, self.spool_dir.clone());
        if let Err(e) = self.buffer.reconfigure(cfg) {
            error!(camera = %self.name, "pre-buffer reconfigure failed: {e}");
            self.counters.buffer_errors += 1;
        }
        let (was, is) = (self.settings.record_on, settings.record_on);
        self.settings = settings;
        let rc = RecorderConfig::from_settings(&self.settings);
        self.run(Input::Configure(rc), None, now);
        // Events on now whose kind starts or stops recording: the recorder hears of it now.
        let active: Vec<Detection> = self.detections.active().copied().collect();
        for d in active {
            let (source, kind) = (d.source, d.kind);
            if was.contains(kind) && !is.contains(kind) {
                self.run(Input::MotionEnd { source, kind }, None, now);
            } else if !was.contains(kind) && is.contains(kind) {
                self.recorder_start(source, kind, d.until(), now);
            }
        }
        Ok(())
    }

    fn run(&mut self, input: Input, packet: Option<Packet>, now: Now) {
        self.now = now;
        let actions = self.recorder.handle(input, now.mono);
        self.execute(actions, packet, now);
        self.camera_time = None;
    }

    /// The camera's own time for the next motion start or end handed in (ONVIF's UtcTime).
    pub fn set_camera_time(&mut self, t: Option<Time>) {
        self.camera_time = t;
    }

    pub fn set_thumbnailer(&mut self, t: crate::thumbs::Thumbnailer) {
        self.thumbs = Some(t);
    }

    /// Where an H.265 clip's picture comes from (a detector on an H.264 stream).
    pub fn set_picture_source(&mut self, s: crate::thumbs::PictureSource) {
        self.picture_source = Some(s);
    }

    /// Asks for the open clip's picture: the frame at `at` among `packets`, or for an H.265
    /// clip the picture source's. True when nothing more is to be done for it (asked, or there
    /// is no way to make one); false when `packets` had no keyframe to start from.
    fn give_picture(&self, packets: &[Packet], at: Time) -> bool {
        let (Some(t), Some(params), Some(clip)) = (&self.thumbs, &self.params, self.clip.current())
        else {
            return true;
        };
        if params.video.codec == vigil_core::packet::VideoCodec::H264 {
            if !packets
                .iter()
                .any(|p| p.keyframe && p.track == TrackKind::Video)
            {
                return false;
            }
            t.offer(&clip.path, params, packets, at);
        } else if let Some((p, pk)) = self.picture_source.as_ref().and_then(|s| s(at)) {
            t.offer(&clip.path, &p, &pk, at);
        }
        true
    }

    /// Motion seen by vigil's own detector in the frame of time `at` (crate::detect): a
    /// `motion` event of source `detector`, its pre-roll counted from that frame.
    pub fn detected_start(&mut self, at: Time, now: Now) -> bool {
        self.camera_time = None;
        self.seen_at = Some(at);
        let opened = self.motion_start(MotionSource::Detector, EventKind::Motion, None, now);
        self.seen_at = None;
        opened
    }

    fn execute(&mut self, actions: Actions, mut packet: Option<Packet>, now: Now) {
        for action in actions {
            match action {
                Action::StateChanged { from, to } => {
                    info!(camera = %self.name, "state {from} -> {to}");
                    self.notices.push(Notice::State {
                        from,
                        to,
                        at: now.wall,
                    });
                }
                Action::MotionEventStarted { event, source, at } => {
                    info!(camera = %self.name, event, %source, "motion started");
                    let info = EventInfo {
                        id: event,
                        source,
                        start: at,
                        start_label: now.label(at),
                    };
                    self.event = Some(info);
                    self.last_event_label = Some(info.start_label);
                    self.notices.push(Notice::MotionStarted {
                        event,
                        source,
                        at: info.start_label,
                        camera_time: self.camera_time,
                    });
                }
                Action::MotionOverlap { event, source, at } => {
                    info!(camera = %self.name, event, %source, "overlapping motion extends the clip");
                    let at = self.event_label(event, at, now);
                    self.last_event_label = Some(at);
                    self.notices
                        .push(Notice::MotionOverlap { event, source, at });
                }
                Action::MotionEventEnded {
                    event,
                    at,
                    timed_out,
                } => {
                    info!(camera = %self.name, event, timed_out, "motion ended");
                    let source = self
                        .event
                        .filter(|e| e.id == event)
                        .map_or(MotionSource::Api, |e| e.source);
                    self.notices.push(Notice::MotionEnded {
                        event,
                        source,
                        at: self.event_label(event, at, now),
                        timed_out,
                        camera_time: if timed_out { None } else { self.camera_time },
                    });
                }
                Action::OpenClip { event, reason } => self.open_clip(event, reason, now),
                Action::FlushPreBuffer => self.flush_pre_buffer(now),
                Action::CloseClip { reason } => self.close_clip(reason.as_str()),
                Action::ClearBuffer => self.buffer.clear(),
                Action::Route(route) => {
                    if let Some(p) = packet.take() {
                        self.route(route, p);
                    }
                }
            }
        }
    }

    fn route(&mut self, route: PacketRoute, p: Packet) {
        match route {
            PacketRoute::Write => {
                if self.picture_pending
                    && p.keyframe
                    && p.track == TrackKind::Video
                    && self.give_picture(std::slice::from_ref(&p), p.time)
                {
                    self.picture_pending = false;
                }
                // Disjoint field borrows: no per-packet clone of the parameters.
                let mut r = report!(self);
                self.clip
                    .write(&p, self.params.as_deref(), self.now, &mut r);
            }
            PacketRoute::Buffer => match self.buffer.push(p) {
                Ok(PushOutcome::Held) => self.counters.packets_buffered += 1,
                Ok(PushOutcome::Dropped(_)) => self.counters.packets_dropped += 1,
                Err(e) => {
                    self.counters.buffer_errors += 1;
                    warn!(camera = %self.name, "pre-buffer refused a packet: {e}");
                }
            },
            PacketRoute::Drop(_) => self.counters.packets_dropped += 1,
        }
    }

    fn open_clip(&mut self, event: u64, reason: OpenReason, now: Now) {
        let Some(params) = self.params.clone() else {
            error!(camera = %self.name, "cannot open a clip: no stream parameters yet");
            return;
        };
        let trigger = self
            .event
            .filter(|e| e.id == event)
            .map_or("unknown", |e| e.source.as_str());
        let measure_pre_roll = matches!(
            reason,
            OpenReason::Motion | OpenReason::Reconnected | OpenReason::Enabled
        );
        let mut r = report!(self);
        self.clip.open(
            event,
            reason.as_str(),
            measure_pre_roll,
            trigger,
            &params,
            now,
            &mut r,
        );
        self.picture_pending = true;
    }

    fn flush_pre_buffer(&mut self, now: Now) {
        // The pre-buffer's window is on the packets' timeline, which can be a little off our
        // clock (a session's slew catches up gradually): "now" there is the newest packet seen.
        let at = self.newest_packet.map_or(now.mono, |t| t.min(now.mono));
        // A detected motion was in an earlier frame than the newest: the pre-roll is counted
        // from that frame.
        let at = self.seen_at.map_or(at, |s| s.min(at));
        let packets = match self.buffer.flush(at).and_then(|f| f.into_packets()) {
            Ok(p) => p,
            Err(e) => {
                self.counters.buffer_errors += 1;
                error!(camera = %self.name, "pre-buffer flush failed: {e}");
                Vec::new()
            }
        };
        let first = packets.first().map(|p| p.time);
        let n = packets.len();
        // The whole pre-roll, made durable at once with one sync: it is what a user most fears
        // losing.
        let mut r = report!(self);
        self.clip.write_pre_roll(&packets, at, now, &mut r);
        // The clip's picture: the frame at the motion, decoded off this thread.
        if self.give_picture(&packets, at) {
            self.picture_pending = false;
        }
        let follow = self
            .recorder
            .handle(Input::Flushed { first, packets: n }, now.mono);
        self.execute(follow, None, now);
    }

    /// The label of a monotonic instant of `event`: from its start's label when it is the
    /// event we know (always, but for a start the pipeline missed), else as the clocks read now.
    fn event_label(&self, event: u64, at: Time, now: Now) -> Time {
        self.event
            .filter(|e| e.id == event)
            .map_or(now.label(at), |e| e.label(at))
    }

    fn close_clip(&mut self, reason: &'static str) {
        let mut r = report!(self);
        self.clip.close(reason, &mut r);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn latency_histogram_buckets_by_upper_bound() {
        let mut h = LatencyHistogram::default();
        for ms in [0.5, 1.0, 3.0, 49.0, 5000.0] {
            h.observe(Duration::from_secs_f64(ms / 1000.0));
        }
        assert_eq!(h.counts[0], 2, "<= 1 ms");
        assert_eq!(h.counts[2], 1, "<= 5 ms");
        assert_eq!(h.counts[5], 1, "<= 50 ms");
        assert_eq!(h.counts[LATENCY_BUCKETS_MS.len()], 1, "overflow");
        assert_eq!(h.count, 5);
        assert_eq!(h.max_ms, 5000.0);
        assert_eq!(h.last_ms, Some(5000.0));
    }
}
