//! The looping-file source (`file:` URLs): an MP4 played forever at real-time rate, through the
//! same [`Timeline`] and the same pipeline as a live camera. Used by `vigil demo` and the tests.
//!
//! Each pass over the file continues the media timeline where the last one ended (the loop period
//! is the video's length), so the pre-buffer and the clips see one continuous stream.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vigil_core::fmp4::{Fmp4Error, Mp4File};
use vigil_core::packet::{Packet, StreamParams, TrackKind, VIDEO_TIMESCALE};
use vigil_core::time::{Clock, Time};
use vigil_core::timeline::Timeline;

use super::SourceEvent;

/// `file:/abs/path.mp4` or `file:relative.mp4` → the path.
pub fn path_from_url(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("file:")?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    (!rest.is_empty()).then(|| PathBuf::from(rest))
}

/// An MP4 file replayed in a loop, stamped like a live stream.
pub struct LoopingFile {
    file: Mp4File,
    params: Arc<StreamParams>,
    timeline: Timeline,
    next: usize,
    pass: i64,
    /// Loop period in each track's timescale.
    period_video: i64,
    period_audio: i64,
}

impl LoopingFile {
    pub fn open(path: &Path, start: Time) -> Result<LoopingFile, Fmp4Error> {
        Ok(Self::new(Mp4File::open(path)?, start))
    }

    /// `start` is the time of the first packet on our monotonic clock.
    pub fn new(mut file: Mp4File, start: Time) -> LoopingFile {
        let params = Arc::new(file.params.clone());
        let sample_rate = params.audio.as_ref().map_or(48_000, |a| a.sample_rate);
        // The loop period is the video's length; audio running past it is trimmed, so the seam
        // has neither a gap in the video nor overlapping audio.
        let secs = (file.video_duration as f64 / f64::from(VIDEO_TIMESCALE)).max(0.001);
        let audio_end = (secs * f64::from(sample_rate)).round() as i64;
        file.samples
            .retain(|s| s.track == TrackKind::Video || s.pts < audio_end);
        LoopingFile {
            timeline: Timeline::new(start, VIDEO_TIMESCALE, sample_rate),
            period_video: (secs * f64::from(VIDEO_TIMESCALE)).round() as i64,
            period_audio: audio_end,
            params,
            file,
            next: 0,
            pass: 0,
        }
    }

    pub fn params(&self) -> Arc<StreamParams> {
        self.params.clone()
    }

    /// The next packet, forever. `None` only for a file with no samples.
    pub fn next_packet(&mut self) -> Option<Packet> {
        // A file whose every sample is refused (all empty) must not spin forever.
        for _ in 0..=self.file.samples.len() {
            if self.file.samples.is_empty() {
                return None;
            }
            if self.next == self.file.samples.len() {
                self.next = 0;
                self.pass += 1;
            }
            let s = &self.file.samples[self.next];
            self.next += 1;
            let offset = match s.track {
                TrackKind::Video => self.pass * self.period_video,
                TrackKind::Audio => self.pass * self.period_audio,
            };
            if let Ok(p) = self
                .timeline
                .accept(s.track, s.pts + offset, s.keyframe, s.data.clone())
            {
                return Some(p);
            }
        }
        None
    }

    /// Plays the file at real-time rate into `send` until `stop` is set or `send` says the
    /// receiver is gone (returns false).
    pub fn run_paced(
        mut self,
        clock: Arc<dyn Clock>,
        mut send: impl FnMut(SourceEvent) -> bool,
        stop: Arc<AtomicBool>,
    ) {
        if !send(SourceEvent::Params(self.params())) {
            return;
        }
        while !stop.load(Ordering::Relaxed) {
            let Some(p) = self.next_packet() else {
                send(SourceEvent::Lost("file has no playable samples".into()));
                return;
            };
            // Wait until the packet is due, in short steps so a stop request is noticed promptly.
            loop {
                let remaining = p.time.micros_since(clock.monotonic());
                if remaining <= 0 || stop.load(Ordering::Relaxed) {
                    break;
                }
                std::thread::sleep(Duration::from_micros(remaining.min(100_000) as u64));
            }
            if !send(SourceEvent::Packet(p)) {
                return;
            }
        }
    }
}
