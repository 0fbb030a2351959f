//! A live session's place on our monotonic clock, and how it is kept there.
//!
//! A session is anchored once, when its first keyframe arrives: a packet's time is then the
//! anchor plus its media time, and media time runs on the camera's clock. Camera clocks drift
//! from ours by tens of ppm (seconds a day), so over a session that lasts days the packets'
//! times would drift from the clock every deadline runs on and every label is made from.
//!
//! [`Anchor::stamp`] slews the session toward our clock instead. A packet can't arrive before it
//! was sent, only after, by however long the network and our paced reads held it, so the
//! smallest lag (arrival − time) over a [`WINDOW`] of media is the best estimate of how far the
//! session has drifted; the correction added to every packet's time moves toward it by at most
//! [`MAX_SLEW_PER_SEC`] per second of media. That is ten times the drift of any camera clock,
//! so the correction keeps up, and small enough that nothing notices: a frame interval
//! changes by 0.1 %, a 10 s pre-roll by at most 10 ms. Media time (`pts`, the MP4's sample
//! durations) is never touched, and each track's times keep strictly increasing.

use std::time::Duration;

use crate::packet::TrackKind;
use crate::time::{duration_micros, Time};

/// The fastest the correction moves: 1 ms per second of media (1000 ppm).
pub const MAX_SLEW_PER_SEC: Duration = Duration::from_millis(1);

/// How much media the smallest lag is taken over before it becomes the correction's target.
/// Long enough to hold reads whose newest frame had hardly waited (a camera's drift over it is
/// a few ms), short enough to follow a drift as it changes with the camera's temperature.
pub const WINDOW: Duration = Duration::from_secs(60);

/// One session's anchor and its slewed correction.
#[derive(Debug, Clone)]
pub struct Anchor {
    /// Our monotonic clock at media time 0, as anchored.
    base: Time,
    /// Added to every packet's time.
    correction: i64,
    /// Where the correction is heading: the smallest lag of the last whole window.
    target: i64,
    /// The newest packet time seen (uncorrected): the slew moves with it.
    newest: Option<Time>,
    /// Media (µs) not yet turned into slew, below one µs of correction's worth.
    carry: i64,
    /// The window being measured: where it started, and its smallest lag so far.
    window: Option<(Time, i64)>,
    /// Each track's last time given out (video, audio).
    last: [Option<Time>; 2],
}

impl Anchor {
    /// Anchors a session on a frame of media time `media_micros` that arrived at `arrived`.
    pub fn new(arrived: Time, media_micros: i64) -> Anchor {
        Anchor {
            base: arrived.plus_micros(-media_micros),
            correction: 0,
            target: 0,
            newest: None,
            carry: 0,
            window: None,
            last: [None, None],
        }
    }

    /// Our monotonic clock at media time 0, as anchored (before any correction).
    pub fn base(&self) -> Time {
        self.base
    }

    /// The correction added to packets' times now, in microseconds.
    pub fn correction_micros(&self) -> i64 {
        self.correction
    }

    /// The time of a packet of `track`, given its time on the session's timeline as anchored
    /// (`base` + media time) and our monotonic clock when it arrived. Strictly increasing per
    /// track when `time` is.
    pub fn stamp(&mut self, track: TrackKind, time: Time, arrived: Time) -> Time {
        self.slew_to(time);
        self.measure(time, arrived);
        let mut out = time.plus_micros(self.correction);
        let last = &mut self.last[match track {
            TrackKind::Video => 0,
            TrackKind::Audio => 1,
        }];
        if let Some(l) = *last {
            // Out of reach at the bounded rate (a frame lasts far more than 0.1 % of itself);
            // kept as a guarantee.
            if out <= l {
                out = l.plus_micros(1);
            }
        }
        *last = Some(out);
        out
    }

    /// Moves the correction toward its target by what the media since the newest packet
    /// allows.
    fn slew_to(&mut self, time: Time) {
        let Some(newest) = self.newest else {
            self.newest = Some(time);
            return;
        };
        if time <= newest {
            return;
        }
        self.newest = Some(time);
        let per_micro = 1_000_000 / duration_micros(MAX_SLEW_PER_SEC).max(1);
        let media = time.micros_since(newest).saturating_add(self.carry);
        let allowed = media / per_micro;
        self.carry = media % per_micro;
        let step = self
            .target
            .saturating_sub(self.correction)
            .clamp(-allowed, allowed);
        self.correction += step;
    }

    /// Takes the packet's lag into the window; a whole window sets the target.
    fn measure(&mut self, time: Time, arrived: Time) {
        let lag = arrived.micros_since(time);
        match &mut self.window {
            None => self.window = Some((time, lag)),
            Some((start, min)) => {
                *min = (*min).min(lag);
                if time.micros_since(*start) >= duration_micros(WINDOW) {
                    self.target = *min;
                    self.window = None;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MICROS_PER_SEC;

    const READ_EVERY: i64 = 500_000;
    const TRANSIT: i64 = 5_000;

    /// A tiny deterministic generator for arrival jitter.
    struct Lcg(u64);
    impl Lcg {
        fn below(&mut self, n: i64) -> i64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) % n as u64) as i64
        }
    }

    /// A session `secs` long from a camera whose clock runs `ppm` fast (slow when negative):
    /// 30 fps video and 48 kHz AAC, each frame sent when our clock says it was captured, held
    /// 5-45 ms on the way (now and then 2 s), and read every 500 ms, as the paced runtime reads.
    /// The anchor starts `anchor_error` µs off. Checks every packet's time and the slew's rate.
    /// A label's error is label − capture time − the smallest transit.
    fn session(ppm: i64, secs: i64, anchor_error: i64) -> Errors {
        let mut rng = Lcg(ppm as u64 ^ 0x5eed);
        let mut a = Anchor::new(Time(TRANSIT + anchor_error), 0);
        let (video, audio) = (1_000_000.0 / 30.0, 1_024.0 * 1_000_000.0 / 48_000.0);
        let (mut next_v, mut next_a) = (0.0f64, 0.0f64);
        let mut last = [None::<Time>; 2];
        let (mut newest, mut correction) = (None::<Time>, 0i64);
        let mut e = Errors::default();
        while next_v < (secs * MICROS_PER_SEC) as f64 {
            let (track, captured) = if next_v <= next_a {
                next_v += video;
                (TrackKind::Video, next_v - video)
            } else {
                next_a += audio;
                (TrackKind::Audio, next_a - audio)
            };
            let captured = captured.round() as i64;
            // The camera stamps it on its own clock.
            let media = captured + captured * ppm / 1_000_000;
            let held = if rng.below(1_000) == 0 {
                2_000_000
            } else {
                rng.below(40_000)
            };
            let came = captured + TRANSIT + held;
            let read = (came + READ_EVERY - 1) / READ_EVERY * READ_EVERY;
            let raw = a.base().plus_micros(media);
            let t = a.stamp(track, raw, Time(read));

            let i = track as usize;
            assert!(
                last[i].is_none_or(|l| t > l),
                "{track:?} went back at {t:?}"
            );
            last[i] = Some(t);
            if newest.is_none_or(|n| raw > n) {
                let moved = newest.map_or(0, |n| raw.micros_since(n));
                let step = (a.correction_micros() - correction).abs();
                assert!(
                    step <= moved / 1_000 + 1,
                    "slewed {step} µs over {moved} µs of media"
                );
                newest = Some(raw);
                correction = a.correction_micros();
            }
            e.end = t.0 - captured - TRANSIT;
            e.end_unslewed = raw.0 - captured - TRANSIT;
            if captured >= secs * MICROS_PER_SEC / 2 {
                e.worst_second_half = e.worst_second_half.max(e.end.abs());
            }
        }
        e
    }

    #[derive(Debug, Default)]
    struct Errors {
        end: i64,
        end_unslewed: i64,
        /// The largest error (either way) over the second half of the session.
        worst_second_half: i64,
    }

    #[test]
    fn labels_follow_our_clock_through_a_day_of_a_drifting_camera() {
        for ppm in [100, -100] {
            let e = session(ppm, 86_400, 0);
            // Without the slew a day of 100 ppm is 8.64 s.
            assert!(e.end_unslewed.abs() > 8_000_000, "{ppm} ppm: {e:?}");
            assert!(e.worst_second_half <= 50_000, "{ppm} ppm: {e:?}");
        }
    }

    #[test]
    fn an_anchor_off_by_two_seconds_is_corrected_at_the_bounded_rate() {
        // Labels 2 s early: packets seem to arrive 2 s late. The first window measures it,
        // then the correction moves 1 ms per second of media.
        let after_1000 = session(0, 60 + 1_000, -2_000_000).end;
        assert!(
            (-1_050_000..=-950_000).contains(&after_1000),
            "{after_1000} µs off after 1000 s of slewing"
        );
        let after_2100 = session(0, 60 + 2_100, -2_000_000).end;
        assert!(after_2100.abs() <= 50_000, "{after_2100} µs off");
    }

    #[test]
    fn nothing_moves_before_a_whole_window() {
        let mut a = Anchor::new(Time::from_secs(10), 0);
        for k in 0..30 * 59 {
            let t = a.base().plus_micros(k * 33_333);
            // Arriving 3 s late, every one.
            let out = a.stamp(TrackKind::Video, t, t.plus_micros(3 * MICROS_PER_SEC));
            assert_eq!(out, t);
        }
        assert_eq!(a.correction_micros(), 0);
    }
}
