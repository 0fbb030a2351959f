//! Capped exponential backoff with jitter, for reconnecting to a camera.
//!
//! The base delay doubles after every failed session, from `min` up to `max`; each actual delay is
//! drawn from [base/2, base] ("equal jitter"), so many cameras that dropped together (a switch
//! rebooted) don't all come back in the same instant, and a broken camera costs a handful of
//! attempts a minute, never a hot loop.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    base: Duration,
    rng: u64,
}

impl Backoff {
    /// `seed` makes the jitter reproducible in tests; production seeds it randomly.
    pub fn new(min: Duration, max: Duration, seed: u64) -> Backoff {
        let min = min.max(Duration::from_millis(1));
        Backoff {
            min,
            max: max.max(min),
            base: min,
            // Spread nearby seeds apart (splitmix64's finalizer); xorshift must not start at 0.
            rng: mix(seed) | 1,
        }
    }

    /// The delay before the next attempt; the one after it will be (about) twice as long.
    pub fn next_delay(&mut self) -> Duration {
        let base = self.base;
        self.base = (self.base * 2).min(self.max);
        let half = base / 2;
        half + half.mul_f64(self.unit())
    }

    /// Back to the shortest delay (after a session that ran well).
    pub fn reset(&mut self) {
        self.base = self.min;
    }

    /// A number in [0, 1) from xorshift64*: plenty for jitter, no dependency.
    fn unit(&mut self) -> f64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A seed that differs per process and per camera.
pub fn random_seed(salt: &str) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write(salt.as_bytes());
    h.finish()
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
}
