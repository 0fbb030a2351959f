//! One camera's recording pipeline: the core's pure [`Recorder`] decides, this executes.
//!
//! Every input (a packet, a motion start, a tick) goes to the recorder with the current time; the
//! actions it returns are carried out in order on the camera's pre-buffer and clip writer. A packet
//! goes either to the pre-buffer or to the open clip, never both, so clips of one camera never repeat
//! a frame and a clip's pre-roll starts exactly where the previous clip ended when motion comes back
//! quickly.
//!
//! Failures stay inside the camera: a clip that can't be written is closed valid (the fMP4 writer
//! cuts back to its last whole fragment), logged, and the recorder carries on.

use std::sync::Arc;

use tracing::{error, info, warn};
use vigil_core::fmp4::ClipWriter;
use vigil_core::packet::{Packet, StreamParams};
use vigil_core::pool::BufferHandle;
use vigil_core::prebuffer::{BufferConfig, PushOutcome};
use vigil_core::recorder::{
    Action, Actions, Input, MotionSource, OpenReason, PacketRoute, Recorder, RecorderConfig, State,
};
use vigil_core::settings::{RecordingSettings, SettingsError};
use vigil_core::time::Time;

use crate::clips::{ClipRecord, ClipStatus, ClipStore};
use crate::ingest::SourceEvent;

/// Something the pipeline did that the rest of vigil (status page, later the catalog) wants to know.
#[derive(Debug, Clone)]
pub enum Notice {
    State {
        from: State,
        to: State,
        at: Time,
    },
    MotionStarted {
        event: u64,
        source: MotionSource,
        at: Time,
    },
    MotionOverlap {
        event: u64,
        source: MotionSource,
        at: Time,
    },
    MotionEnded {
        event: u64,
        at: Time,
        timed_out: bool,
    },
    ClipOpened(ClipRecord),
    /// The pre-roll is in the clip: its start (first frame) and achieved pre-roll are known.
    ClipStarted(ClipRecord),
    ClipClosed(ClipRecord),
    /// A clip closed with no video frame in it; its file was removed.
    ClipDiscarded(ClipRecord),
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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
}

struct OpenClip {
    writer: Option<ClipWriter>,
    record: ClipRecord,
    /// Clips opened by motion (not rollover or codec change) report their achieved pre-roll:
    /// the time from their first frame to the newest packet when motion started.
    measure_pre_roll: bool,
}

pub struct CameraPipeline {
    name: String,
    recorder: Recorder,
    buffer: BufferHandle,
    store: ClipStore,
    spool_dir: std::path::PathBuf,
    settings: RecordingSettings,
    params: Option<Arc<StreamParams>>,
    stream_up: bool,
    /// Time of the newest packet of this stream session.
    newest_packet: Option<Time>,
    event: Option<EventInfo>,
    clip: Option<OpenClip>,
    notices: Vec<Notice>,
    counters: PipelineCounters,
    start_latency: LatencyHistogram,
    last_error: Option<(Time, String)>,
    /// The time of the input being handled.
    now: Time,
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
            store,
            spool_dir,
            settings,
            params: None,
            stream_up: false,
            newest_packet: None,
            event: None,
            clip: None,
            notices: Vec::new(),
            counters: PipelineCounters::default(),
            start_latency: LatencyHistogram::default(),
            last_error: None,
            now: Time::ZERO,
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
        self.clip.as_ref().map(|c| &c.record)
    }
    pub fn next_deadline(&self) -> Option<Time> {
        self.recorder.next_deadline()
    }

    /// Everything noticed since the last call.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    pub fn on_source(&mut self, ev: SourceEvent, now: Time) {
        match ev {
            SourceEvent::Params(p) => {
                let changed = self.params.as_deref() != Some(&*p);
                self.params = Some(p);
                if !self.stream_up {
                    self.stream_up = true;
                    self.run(Input::StreamUp, None, now);
                } else if changed {
                    self.run(Input::ParamsChanged, None, now);
                }
            }
            SourceEvent::Packet(p) => {
                self.counters.packets_in += 1;
                self.newest_packet = Some(p.time);
                self.run(Input::Packet(p.meta()), Some(p), now);
            }
            SourceEvent::Lost(why) => {
                warn!(camera = %self.name, "stream lost: {why}");
                self.stream_up = false;
                self.newest_packet = None;
                self.run(Input::StreamLost, None, now);
            }
        }
    }

    /// True when this start opened a clip (and its pre-roll is now durable).
    pub fn motion_start(&mut self, source: MotionSource, until: Option<Time>, now: Time) -> bool {
        let before = self.recorder.stats().clips_recorded;
        self.run(Input::MotionStart { source, until }, None, now);
        self.recorder.stats().clips_recorded > before
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

    pub fn motion_end(&mut self, source: MotionSource, now: Time) {
        self.run(Input::MotionEnd { source }, None, now);
    }

    pub fn tick(&mut self, now: Time) {
        self.run(Input::Tick, None, now);
    }

    pub fn shutdown(&mut self, now: Time) {
        self.run(Input::Shutdown, None, now);
    }

    /// Applies new settings live: the buffer's window and mode, the recorder's timers. Invalid
    /// settings are refused whole (the error names the field) and nothing changes.
    pub fn configure(
        &mut self,
        settings: RecordingSettings,
        now: Time,
    ) -> Result<(), SettingsError> {
        settings.validate()?;
        let cfg = BufferConfig::from_settings(&settings, self.spool_dir.clone());
        if let Err(e) = self.buffer.reconfigure(cfg) {
            error!(camera = %self.name, "pre-buffer reconfigure failed: {e}");
            self.counters.buffer_errors += 1;
        }
        self.settings = settings;
        let rc = RecorderConfig::from_settings(&self.settings);
        self.run(Input::Configure(rc), None, now);
        Ok(())
    }

    fn run(&mut self, input: Input, packet: Option<Packet>, now: Time) {
        self.now = now;
        let actions = self.recorder.handle(input, now);
        self.execute(actions, packet, now);
    }

    fn execute(&mut self, actions: Actions, mut packet: Option<Packet>, now: Time) {
        for action in actions {
            match action {
                Action::StateChanged { from, to } => {
                    info!(camera = %self.name, "state {from} -> {to}");
                    self.notices.push(Notice::State { from, to, at: now });
                }
                Action::MotionEventStarted { event, source, at } => {
                    info!(camera = %self.name, event, %source, "motion started");
                    self.event = Some(EventInfo { id: event, source });
                    self.notices
                        .push(Notice::MotionStarted { event, source, at });
                }
                Action::MotionOverlap { event, source, at } => {
                    info!(camera = %self.name, event, %source, "overlapping motion extends the clip");
                    self.notices
                        .push(Notice::MotionOverlap { event, source, at });
                }
                Action::MotionEventEnded {
                    event,
                    at,
                    timed_out,
                } => {
                    info!(camera = %self.name, event, timed_out, "motion ended");
                    self.notices.push(Notice::MotionEnded {
                        event,
                        at,
                        timed_out,
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
            PacketRoute::Write => self.write(&p),
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

    fn write(&mut self, p: &Packet) {
        let Some(clip) = self.clip.as_mut() else {
            self.counters.packets_dropped += 1;
            return;
        };
        let Some(w) = clip.writer.as_mut() else {
            self.counters.packets_dropped += 1;
            return;
        };
        match w.write(p) {
            Ok(_) => self.counters.packets_written += 1,
            Err(e) => {
                // The writer has cut the file back to its last whole fragment: close it there.
                self.counters.write_errors += 1;
                self.last_error = Some((self.now, format!("clip write failed: {e}")));
                error!(camera = %self.name, path = %clip.record.path.display(), "clip write failed, closing the clip: {e}");
                if let Some(w) = clip.writer.take() {
                    Self::finish_into(w, &mut clip.record);
                }
            }
        }
    }

    fn open_clip(&mut self, event: u64, reason: OpenReason, now: Time) {
        if self.clip.is_some() {
            // The recorder always closes before it opens; be safe anyway.
            self.close_clip("replaced");
        }
        let Some(params) = self.params.clone() else {
            error!(camera = %self.name, "cannot open a clip: no stream parameters yet");
            return;
        };
        let ev = self.event.filter(|e| e.id == event);
        let trigger = ev.map_or("unknown", |e| e.source.as_str());
        let measure_pre_roll = matches!(
            reason,
            OpenReason::Motion | OpenReason::Reconnected | OpenReason::Enabled
        );
        let mut record = ClipRecord {
            camera: self.name.clone(),
            path: Default::default(),
            event,
            start: None,
            end: None,
            duration_secs: 0.0,
            bytes: 0,
            video_codec: params.video.codec.name(),
            width: params.video.width,
            height: params.video.height,
            pre_roll_secs: 0.0,
            frames: 0,
            trigger,
            status: ClipStatus::Recording,
            close_reason: None,
        };
        let writer = self
            .store
            .new_clip_path(&self.name, now, event)
            .map_err(|e| e.to_string())
            .and_then(|path| {
                record.path = path.clone();
                ClipWriter::create(&path, &params).map_err(|e| e.to_string())
            });
        let writer = match writer {
            Ok(w) => {
                info!(camera = %self.name, event, reason = reason.as_str(), path = %record.path.display(), "clip opened");
                self.notices.push(Notice::ClipOpened(record.clone()));
                Some(w)
            }
            Err(e) => {
                self.counters.write_errors += 1;
                self.last_error = Some((now, format!("cannot open a clip: {e}")));
                error!(camera = %self.name, "cannot open a clip: {e}");
                None
            }
        };
        self.clip = Some(OpenClip {
            writer,
            record,
            measure_pre_roll,
        });
    }

    fn flush_pre_buffer(&mut self, now: Time) {
        // The pre-buffer's window is on the packets' timeline, which can drift from the wall
        // clock over a long session: "now" there is the newest packet seen.
        let at = self.newest_packet.map_or(now, |t| t.min(now));
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
        if let Some(clip) = self.clip.as_mut() {
            if let (true, Some(first)) = (clip.measure_pre_roll, first) {
                clip.record.pre_roll_secs = at.secs_since(first).max(0.0);
            }
            if first.is_some() {
                clip.record.start = first;
                self.notices.push(Notice::ClipStarted(clip.record.clone()));
            }
            if let Some(w) = clip.writer.as_mut() {
                // The whole pre-roll, made durable at once with one sync: it is what a user
                // most fears losing.
                match w.write_batch(&packets) {
                    Ok(queued) => self.counters.packets_written += queued as u64,
                    Err(e) => {
                        self.counters.write_errors += 1;
                        self.last_error = Some((now, format!("clip write failed: {e}")));
                        error!(camera = %self.name, "clip write failed, closing the clip: {e}");
                        if let Some(w) = clip.writer.take() {
                            Self::finish_into(w, &mut clip.record);
                        }
                    }
                }
            }
        }
        let follow = self
            .recorder
            .handle(Input::Flushed { first, packets: n }, now);
        self.execute(follow, None, now);
    }

    fn close_clip(&mut self, reason: &'static str) {
        let Some(mut clip) = self.clip.take() else {
            return;
        };
        if let Some(w) = clip.writer.take() {
            Self::finish_into(w, &mut clip.record);
        }
        if clip.record.frames == 0 {
            // E.g. the stream was lost before the clip's first keyframe: nothing worth keeping.
            info!(camera = %self.name, path = %clip.record.path.display(), reason, "discarded a clip with no frames");
            if let Err(e) = std::fs::remove_file(&clip.record.path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    warn!(camera = %self.name, "cannot remove empty clip: {e}");
                }
            }
            self.notices.push(Notice::ClipDiscarded(clip.record));
            return;
        }
        clip.record.close_reason = Some(reason);
        if clip.record.status == ClipStatus::Recording {
            clip.record.status = ClipStatus::Complete;
        }
        info!(
            camera = %self.name,
            path = %clip.record.path.display(),
            duration_secs = format!("{:.2}", clip.record.duration_secs),
            pre_roll_secs = format!("{:.2}", clip.record.pre_roll_secs),
            bytes = clip.record.bytes,
            reason,
            "clip closed"
        );
        self.notices.push(Notice::ClipClosed(clip.record));
    }

    fn finish_into(w: ClipWriter, record: &mut ClipRecord) {
        let summary = match w.finish() {
            Ok(s) => s,
            Err(e) => {
                error!(path = %record.path.display(), "finishing clip failed: {e}");
                return;
            }
        };
        record.start = summary.start;
        record.end = summary.end;
        record.duration_secs = summary.duration_secs;
        record.bytes = summary.bytes;
        record.frames = summary.video_samples;
        record.status = ClipStatus::Complete;
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
