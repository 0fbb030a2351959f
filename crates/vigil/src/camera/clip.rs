//! A camera's clip slot: the clip file being written (if any), and what happens when writing
//! fails.
//!
//! A failed write (a full disk, an I/O error) closes the clip at once, valid up to its last whole
//! fragment (the fMP4 writer cuts the torn one off), reports it closed with reason `write_error`,
//! and leaves the slot *broken* for that motion event. The recorder doesn't need to know: while
//! it keeps routing packets to the clip, the slot tries again at the next video keyframe, at most
//! every [`RETRY_EVERY`], and once a new file can be created the event's recording resumes in it
//! (reason `resumed`). Meanwhile retention has had its chance to free space.
//!
//! Labels: a clip is named after the wall clock when it opens, and the wall clock's offset from
//! the monotonic one then is kept for its life: its start is the label of its first frame, its
//! end that start plus its media duration, whatever the wall clock does meanwhile.

use std::time::Duration;

use tracing::{error, info, warn};
use vigil_core::fmp4::ClipWriter;
use vigil_core::packet::{Packet, StreamParams, TrackKind};
use vigil_core::time::{Now, Time};

use super::pipeline::PipelineCounters;
use crate::clips::{ClipRecord, ClipStatus, ClipStore};
use crate::notice::Notice;

/// How often a broken slot tries to open a new file.
pub const RETRY_EVERY: Duration = Duration::from_secs(5);

struct Open {
    writer: ClipWriter,
    record: ClipRecord,
    /// Wall minus monotonic when it opened: turns its packets' times into its labels.
    wall_offset: i64,
    /// Clips opened by motion report their achieved pre-roll (not rollover / codec-change files).
    measure_pre_roll: bool,
}

struct Broken {
    event: u64,
    trigger: &'static str,
    /// Monotonic clock.
    retry_at: Time,
}

/// Where the slot reports what happened.
pub(super) struct Report<'a> {
    pub camera: &'a str,
    pub notices: &'a mut Vec<Notice>,
    pub counters: &'a mut PipelineCounters,
    pub last_error: &'a mut Option<(Time, String)>,
}

impl Report<'_> {
    fn error(&mut self, now: Now, msg: String) {
        self.counters.write_errors += 1;
        error!(camera = %self.camera, "{msg}");
        self.notices.push(Notice::WriteFailed {
            at: now.wall,
            message: msg.clone(),
        });
        *self.last_error = Some((now.wall, msg));
    }
}

pub(super) struct ClipSlot {
    store: ClipStore,
    open: Option<Open>,
    broken: Option<Broken>,
}

impl ClipSlot {
    pub fn new(store: ClipStore) -> Self {
        ClipSlot {
            store,
            open: None,
            broken: None,
        }
    }

    pub fn current(&self) -> Option<&ClipRecord> {
        self.open.as_ref().map(|o| &o.record)
    }

    /// Opens a new clip file for `event`. On failure the slot is broken and will retry.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        &mut self,
        event: u64,
        reason: &'static str,
        measure_pre_roll: bool,
        trigger: &'static str,
        params: &StreamParams,
        now: Now,
        r: &mut Report<'_>,
    ) -> bool {
        if self.open.is_some() {
            self.close("replaced", r);
        }
        self.broken = None;
        let mut record = ClipRecord {
            camera: r.camera.to_owned(),
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
        let created = self
            .store
            .new_clip_path(r.camera, now.wall, event)
            .map_err(|e| e.to_string())
            .and_then(|path| {
                record.path = path.clone();
                ClipWriter::create(&path, params).map_err(|e| e.to_string())
            });
        match created {
            Ok(writer) => {
                info!(camera = %r.camera, event, reason, path = %record.path.display(), "clip opened");
                r.notices.push(Notice::ClipOpened(record.clone()));
                self.open = Some(Open {
                    writer,
                    record,
                    wall_offset: now.wall_offset(),
                    measure_pre_roll,
                });
                true
            }
            Err(e) => {
                r.error(now, format!("cannot open a clip: {e}"));
                self.broken = Some(Broken {
                    event,
                    trigger,
                    retry_at: now.mono.plus(RETRY_EVERY),
                });
                false
            }
        }
    }

    /// Writes the drained pre-buffer (`at`: the moment the pre-roll is measured back from, on
    /// the packets' timeline) with one sync.
    pub fn write_pre_roll(&mut self, packets: &[Packet], at: Time, now: Now, r: &mut Report<'_>) {
        let Some(o) = self.open.as_mut() else {
            r.counters.packets_dropped += packets.len() as u64;
            return;
        };
        if let Some(first) = packets.first().map(|p| p.time) {
            if o.measure_pre_roll {
                o.record.pre_roll_secs = at.secs_since(first).max(0.0);
            }
            o.record.start = Some(first.plus_micros(o.wall_offset));
            r.notices.push(Notice::ClipStarted(o.record.clone()));
        }
        match o.writer.write_batch(packets) {
            Ok(queued) => r.counters.packets_written += queued as u64,
            Err(e) => self.fail(format!("clip write failed: {e}"), now, r),
        }
    }

    /// Writes one live packet; resumes a broken event's recording at a keyframe when it can.
    pub fn write(
        &mut self,
        p: &Packet,
        params: Option<&StreamParams>,
        now: Now,
        r: &mut Report<'_>,
    ) {
        if self.open.is_none() {
            let resumable = p.track == TrackKind::Video && p.keyframe;
            match (&self.broken, params) {
                (Some(b), Some(params)) if resumable && now.mono >= b.retry_at => {
                    let (event, trigger) = (b.event, b.trigger);
                    if !self.open(event, "resumed", false, trigger, params, now, r) {
                        r.counters.packets_dropped += 1;
                        return;
                    }
                }
                _ => {
                    r.counters.packets_dropped += 1;
                    return;
                }
            }
        }
        let Some(o) = self.open.as_mut() else { return };
        match o.writer.write(p) {
            Ok(_) => r.counters.packets_written += 1,
            Err(e) => self.fail(format!("clip write failed: {e}"), now, r),
        }
    }

    /// A write failed: close the clip where the writer cut it, and wait to resume.
    fn fail(&mut self, msg: String, now: Now, r: &mut Report<'_>) {
        r.error(now, format!("{msg}; closing the clip"));
        if let Some(o) = &self.open {
            self.broken = Some(Broken {
                event: o.record.event,
                trigger: o.record.trigger,
                retry_at: now.mono.plus(RETRY_EVERY),
            });
        }
        let broken = self.broken.take();
        self.close("write_error", r);
        self.broken = broken;
    }

    /// Closes the clip (if any) and ends any pending resume.
    pub fn close(&mut self, reason: &'static str, r: &mut Report<'_>) {
        self.broken = None;
        let Some(o) = self.open.take() else {
            return;
        };
        let mut record = o.record;
        let label = |t: Time| t.plus_micros(o.wall_offset);
        match o.writer.finish() {
            Ok(s) => {
                // The end is the start plus the media's duration (the writer's `end`), both
                // labelled with the offset the clip opened with.
                record.start = s.start.map(label).or(record.start);
                record.end = s.end.map(label);
                record.duration_secs = s.duration_secs;
                record.bytes = s.bytes;
                record.frames = s.video_samples;
            }
            Err(e) => {
                error!(camera = %r.camera, path = %record.path.display(), "finishing clip failed: {e}")
            }
        }
        if record.frames == 0 {
            // E.g. the stream was lost before the clip's first keyframe: nothing worth keeping.
            info!(camera = %r.camera, path = %record.path.display(), reason, "discarded a clip with no frames");
            if let Err(e) = std::fs::remove_file(&record.path) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    warn!(camera = %r.camera, "cannot remove empty clip: {e}");
                }
            }
            r.notices.push(Notice::ClipDiscarded(record));
            return;
        }
        record.close_reason = Some(reason);
        record.status = ClipStatus::Complete;
        info!(
            camera = %r.camera,
            path = %record.path.display(),
            duration_secs = format!("{:.2}", record.duration_secs),
            pre_roll_secs = format!("{:.2}", record.pre_roll_secs),
            bytes = record.bytes,
            reason,
            "clip closed"
        );
        r.notices.push(Notice::ClipClosed(record));
    }
}
