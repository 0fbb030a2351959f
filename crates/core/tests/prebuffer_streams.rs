//! Random camera streams for the pre-buffer property tests (included by `prebuffer_props.rs` and
//! `prebuffer_modes.rs` with `#[path]`), plus a check of the generator itself.

#![allow(dead_code)]

use bytes::Bytes;
use proptest::prelude::*;
use vigil_core::packet::{Packet, TrackKind};
use vigil_core::time::Time;

#[derive(Clone, Debug)]
pub struct StreamSpec {
    /// Non-keyframe video packets before the first keyframe.
    pub lead_in: usize,
    /// Frames per GOP (1–90).
    pub gops: Vec<usize>,
    /// Base frame interval, and per-frame extra jitter (cycled).
    pub frame_ms: i64,
    pub jitter_ms: Vec<i64>,
    /// An audio packet after every n-th video frame (0: no audio).
    pub audio_every: usize,
    /// Flush after packet `index % len`, at the newest time + `extra_ms`.
    pub flushes: Vec<(usize, i64)>,
    pub size_seed: u64,
}

pub fn spec(max_gops: usize) -> impl Strategy<Value = StreamSpec> {
    (
        0usize..4,
        prop::collection::vec(1usize..=90, 1..max_gops),
        5i64..=120,
        prop::collection::vec(0i64..40, 1..8),
        0usize..4,
        prop::collection::vec((any::<usize>(), 0i64..3_000), 0..4),
        any::<u64>(),
    )
        .prop_map(
            |(lead_in, gops, frame_ms, jitter_ms, audio_every, flushes, size_seed)| StreamSpec {
                lead_in,
                gops,
                frame_ms,
                jitter_ms,
                audio_every,
                flushes,
                size_seed,
            },
        )
}

/// A payload unique to packet `i`: its index in the first bytes, a length from 1 to ~700 bytes.
fn payload(i: usize, seed: u64, key: bool) -> Bytes {
    let h = (i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    let len = 1 + (h % if key { 700 } else { 300 }) as usize;
    let tag = (i as u32).to_le_bytes();
    Bytes::from(
        (0..len)
            .map(|j| tag[j % 4] ^ (j / 4) as u8)
            .collect::<Vec<u8>>(),
    )
}

pub struct Stream {
    pub packets: Vec<Packet>,
    /// (flush after this packet index, flush time)
    pub flushes: Vec<(usize, Time)>,
}

pub fn build(s: &StreamSpec) -> Stream {
    let mut packets = vec![];
    let mut t = 1_000_000_000i64; // µs
    let push = |packets: &mut Vec<Packet>, track, key: bool, t: i64| {
        let i = packets.len();
        packets.push(Packet {
            track,
            pts: t / 10,
            time: Time(t),
            keyframe: key || track == TrackKind::Audio,
            data: payload(i, s.size_seed, key),
        });
    };
    let frames = (0..s.lead_in)
        .map(|_| false)
        .chain(s.gops.iter().flat_map(|&n| (0..n).map(|f| f == 0)));
    for (frame, key) in frames.enumerate() {
        push(&mut packets, TrackKind::Video, key, t);
        if frame.checked_rem(s.audio_every) == Some(0) {
            push(&mut packets, TrackKind::Audio, false, t + s.frame_ms * 500);
        }
        t += (s.frame_ms + s.jitter_ms[frame % s.jitter_ms.len()]) * 1_000;
    }
    let mut flushes: Vec<(usize, Time)> = s
        .flushes
        .iter()
        .map(|&(i, extra)| {
            let i = i % packets.len();
            (i, packets[i].time.plus_micros(extra * 1_000))
        })
        .collect();
    flushes.sort_by_key(|f| f.0);
    flushes.dedup_by_key(|f| f.0);
    Stream { packets, flushes }
}

proptest! {
    #[test]
    fn generated_streams_are_monotonic_with_unique_payloads(s in spec(20)) {
        let st = build(&s);
        for w in st.packets.windows(2) {
            prop_assert!(w[0].time < w[1].time);
            prop_assert_ne!(&w[0].data, &w[1].data);
        }
        let keys = st.packets.iter().filter(|p| p.starts_gop()).count();
        prop_assert_eq!(keys, s.gops.len());
    }
}
