//! Turns a source's raw timestamps into a clean, increasing media timeline, with times on our
//! monotonic clock.
//!
//! Cameras send timestamps that jump backwards (a wrapped or reset RTP clock), stall, or leap
//! forward; they also send empty packets. Everything downstream (the pre-buffer's window, GOP
//! eviction, MP4 sample durations) assumes time only moves forward, so every packet passes through a
//! [`Timeline`] first. A discontinuity is bridged with the track's last good frame duration, and the
//! track's timeline continues from there.

use bytes::Bytes;

use crate::packet::{Packet, TrackKind};
use crate::time::{Time, MICROS_PER_SEC};

/// A forward gap larger than this is treated as a discontinuity, not as real elapsed time.
pub const MAX_FORWARD_GAP_SECS: i64 = 10;

#[derive(Debug, Default, Clone, Copy)]
struct TrackLine {
    /// Raw pts of the previous packet, and the output pts it was given.
    last: Option<(i64, i64)>,
    /// The last good distance between two packets, in output ticks.
    last_delta: i64,
}

/// Why a packet was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Empty,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TimelineStats {
    pub packets: u64,
    pub empty_dropped: u64,
    pub discontinuities: u64,
}

/// One session's timeline (a new RTSP session or a new loop of a file gets a new one).
#[derive(Debug)]
pub struct Timeline {
    start: Time,
    video_timescale: u32,
    audio_timescale: u32,
    video: TrackLine,
    audio: TrackLine,
    stats: TimelineStats,
}

impl Timeline {
    /// `start` is the time of the session's first packet on our monotonic clock.
    pub fn new(start: Time, video_timescale: u32, audio_timescale: u32) -> Self {
        Timeline {
            start,
            video_timescale: video_timescale.max(1),
            audio_timescale: audio_timescale.max(1),
            video: TrackLine::default(),
            audio: TrackLine::default(),
            stats: TimelineStats::default(),
        }
    }

    pub fn stats(&self) -> TimelineStats {
        self.stats
    }

    /// Stamps one packet. Output pts start at 0 per track and strictly increase.
    pub fn accept(
        &mut self,
        track: TrackKind,
        raw_pts: i64,
        keyframe: bool,
        data: Bytes,
    ) -> Result<Packet, Refused> {
        if data.is_empty() {
            self.stats.empty_dropped += 1;
            return Err(Refused::Empty);
        }
        let timescale = match track {
            TrackKind::Video => self.video_timescale,
            TrackKind::Audio => self.audio_timescale,
        };
        let line = match track {
            TrackKind::Video => &mut self.video,
            TrackKind::Audio => &mut self.audio,
        };
        let max_gap = MAX_FORWARD_GAP_SECS * timescale as i64;
        let pts = match line.last {
            None => 0,
            Some((last_raw, last_out)) => {
                let delta = raw_pts.wrapping_sub(last_raw);
                if delta > 0 && delta <= max_gap {
                    line.last_delta = delta;
                    last_out + delta
                } else {
                    self.stats.discontinuities += 1;
                    // Bridge with the last good frame duration (or 1/30 s before we know one).
                    let bridge = if line.last_delta > 0 {
                        line.last_delta
                    } else {
                        (timescale as i64 / 30).max(1)
                    };
                    last_out + bridge
                }
            }
        };
        line.last = Some((raw_pts, pts));
        self.stats.packets += 1;
        let time = self
            .start
            .plus_micros(pts.saturating_mul(MICROS_PER_SEC) / timescale as i64);
        Ok(Packet {
            track,
            pts,
            time,
            keyframe: keyframe || track == TrackKind::Audio,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Bytes {
        Bytes::from_static(&[0, 0, 0, 1, 0x65])
    }

    #[test]
    fn forward_time_is_kept_and_anchored() {
        let mut t = Timeline::new(Time::from_secs(100), 90_000, 48_000);
        let a = t.accept(TrackKind::Video, 5_000, true, data()).unwrap();
        let b = t.accept(TrackKind::Video, 8_000, false, data()).unwrap();
        assert_eq!((a.pts, b.pts), (0, 3_000));
        assert_eq!(a.time, Time::from_secs(100));
        assert_eq!(b.time.micros_since(a.time), 33_333);
    }

    #[test]
    fn backwards_jump_is_bridged_and_time_keeps_increasing() {
        let mut t = Timeline::new(Time::ZERO, 90_000, 48_000);
        let mut out = vec![];
        for raw in [0, 3_000, 6_000, 1_000, 4_000, 7_000] {
            out.push(t.accept(TrackKind::Video, raw, false, data()).unwrap().pts);
        }
        assert_eq!(out, vec![0, 3_000, 6_000, 9_000, 12_000, 15_000]);
        assert_eq!(t.stats().discontinuities, 1);
    }

    #[test]
    fn huge_forward_leap_and_duplicate_are_discontinuities() {
        let mut t = Timeline::new(Time::ZERO, 90_000, 48_000);
        t.accept(TrackKind::Video, 0, true, data()).unwrap();
        t.accept(TrackKind::Video, 3_000, false, data()).unwrap();
        let leap = t
            .accept(TrackKind::Video, 3_000 + 90_000 * 3600, false, data())
            .unwrap();
        assert_eq!(leap.pts, 6_000);
        let dup = t
            .accept(TrackKind::Video, 3_000 + 90_000 * 3600, false, data())
            .unwrap();
        assert_eq!(dup.pts, 9_000);
        assert_eq!(t.stats().discontinuities, 2);
    }

    #[test]
    fn empty_packets_are_refused_and_counted() {
        let mut t = Timeline::new(Time::ZERO, 90_000, 48_000);
        assert_eq!(
            t.accept(TrackKind::Audio, 0, true, Bytes::new()),
            Err(Refused::Empty)
        );
        assert_eq!(t.stats().empty_dropped, 1);
    }

    #[test]
    fn tracks_are_independent() {
        let mut t = Timeline::new(Time::ZERO, 90_000, 48_000);
        t.accept(TrackKind::Video, 1_000_000, true, data()).unwrap();
        let a = t.accept(TrackKind::Audio, 77, true, data()).unwrap();
        let b = t.accept(TrackKind::Audio, 77 + 1024, true, data()).unwrap();
        assert_eq!((a.pts, b.pts), (0, 1024));
    }
}
