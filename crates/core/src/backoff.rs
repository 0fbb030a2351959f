//! Capped exponential backoff with jitter, for every retry loop (RTSP reconnects, ONVIF
//! resubscriptions, asking a camera for its stream URL).
//!
//! The `n`th retry (from 0) waits `d = min(base·2ⁿ, cap)` drawn down into `[d/2, d]` ("equal
//! jitter"), so cameras that dropped together (a switch rebooted) don't all come back in the
//! same instant, and a broken camera costs a handful of attempts a minute, never a hot loop.

use std::time::Duration;

use crate::rng::{unit, SplitMix64};

/// The `n`th retry delay (0-based): `base·2ⁿ` capped at `cap`, then jittered into `[d/2, d]` by
/// `r` (a uniform `u64`; 0 gives `d/2`, `u64::MAX` about `d`).
pub fn delay(base: Duration, cap: Duration, n: u32, r: u64) -> Duration {
    let d = base.saturating_mul(1u32 << n.min(31)).min(cap);
    let half = d / 2;
    half + half.mul_f64(unit(r))
}

/// The retry state of one loop: how many attempts failed in a row, and the jitter's generator.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    failures: u32,
    rng: SplitMix64,
}

impl Backoff {
    /// Delays from about `min` (at least 1 ms) up to `max`. `seed` makes the jitter
    /// reproducible in tests; production seeds it randomly ([`crate::rng::random_seed`]).
    pub fn new(min: Duration, max: Duration, seed: u64) -> Backoff {
        let min = min.max(Duration::from_millis(1));
        Backoff {
            min,
            max: max.max(min),
            failures: 0,
            rng: SplitMix64::new(seed),
        }
    }

    /// The delay before the next attempt; the one after it will be (about) twice as long.
    pub fn next_delay(&mut self) -> Duration {
        let d = delay(self.min, self.max, self.failures, self.rng.next_u64());
        self.failures = self.failures.saturating_add(1);
        d
    }

    /// Back to the shortest delay (after an attempt that went well).
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_up_to_the_cap_with_jitter_in_the_upper_half() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 7);
        let bases = [1, 2, 4, 8, 16, 30, 30, 30];
        for base in bases {
            let d = b.next_delay().as_secs_f64();
            let base = base as f64;
            assert!(
                d >= base / 2.0 && d <= base,
                "{d} not in [{}, {base}]",
                base / 2.0
            );
        }
    }

    #[test]
    fn reset_starts_over() {
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), 3);
        for _ in 0..10 {
            b.next_delay();
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_secs(1));
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut seen = std::collections::BTreeSet::new();
        for seed in 0..20 {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(30), seed);
            seen.insert(b.next_delay().as_millis());
        }
        assert!(seen.len() > 10, "delays hardly differ: {seen:?}");
    }

    #[test]
    fn same_seed_same_delays() {
        let run = |seed| {
            let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(60), seed);
            (0..8).map(|_| b.next_delay()).collect::<Vec<_>>()
        };
        assert_eq!(run(5), run(5));
        assert_ne!(run(5), run(6));
    }

    #[test]
    fn the_formula_at_its_bounds() {
        let (b, cap) = (Duration::from_secs(2), Duration::from_secs(60));
        assert_eq!(delay(b, cap, 3, 0), Duration::from_secs(8));
        assert_eq!(delay(b, cap, 3, u64::MAX).as_millis(), 16_000);
        assert_eq!(delay(b, cap, 40, u64::MAX), cap);
        assert_eq!(delay(b, cap, u32::MAX, 0), cap / 2);
    }

    #[test]
    fn a_zero_minimum_still_waits() {
        let mut b = Backoff::new(Duration::ZERO, Duration::ZERO, 1);
        assert!(b.next_delay() >= Duration::from_micros(500));
    }
}
