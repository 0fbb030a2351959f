//! Small, seedable random numbers for jitter, nonces and message ids: SplitMix64. Not for
//! secrets. The sans-IO code is handed a seed (tests pass a constant); the drivers get theirs
//! from [`random_seed`].

/// SplitMix64: one `u64` of state, every seed (0 included) gives a well-mixed sequence.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// 16 bytes, e.g. a WS-Security nonce or a message id.
    pub fn bytes16(&mut self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        b
    }
}

/// A number in [0, 1) from the top 53 bits of `r`.
pub fn unit(r: u64) -> f64 {
    (r >> 11) as f64 / (1u64 << 53) as f64
}

/// A seed that differs per process and per call (the standard library's randomly keyed hasher
/// over `salt`, e.g. a camera's name or URL). For the I/O drivers; nothing in this crate calls it.
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
    fn splitmix64_reference_values() {
        // The published first outputs for seed 1234567.
        let mut r = SplitMix64::new(1234567);
        assert_eq!(r.next_u64(), 6457827717110365317);
        assert_eq!(r.next_u64(), 3203168211198807973);
        assert_eq!(r.next_u64(), 9817491932198370423);
    }

    #[test]
    fn bytes16_is_two_draws_little_endian() {
        let mut a = SplitMix64::new(9);
        let mut b = SplitMix64::new(9);
        let bytes = a.bytes16();
        assert_eq!(bytes[..8], b.next_u64().to_le_bytes());
        assert_eq!(bytes[8..], b.next_u64().to_le_bytes());
    }

    #[test]
    fn unit_spans_zero_to_one() {
        assert_eq!(unit(0), 0.0);
        assert!(unit(u64::MAX) < 1.0 && unit(u64::MAX) > 0.999_999);
        assert_eq!(unit(1 << 63), 0.5);
    }

    #[test]
    fn random_seeds_differ_between_calls() {
        assert_ne!(random_seed("cam"), random_seed("cam"));
    }
}
