//! Properties of the window rule, checked against a model on random streams: random GOP lengths
//! (1–90 frames), frame intervals, interleaved audio, windows 0–60 s and flush times ≥ newest.
//!
//! The model is the window guarantee itself (docs/design.md#pre-event-buffer): after each push the buffer holds exactly the input from
//! the latest keyframe at or before newest − window (or the first keyframe) to the newest packet;
//! a flush at T returns exactly the input from the latest keyframe at or before T − window (or the
//! oldest held) to the newest packet, byte for byte.

#[path = "prebuffer_streams.rs"]
mod streams;

use std::time::Duration;

use proptest::prelude::*;
use vigil_core::packet::Packet;
use vigil_core::pool::{BufferHandle, Pool};
use vigil_core::prebuffer::{BufferConfig, DropReason, PushOutcome};
use vigil_core::settings::BufferMode;
use vigil_core::time::Time;

use streams::{build, spec};

/// What the buffer must hold: indices of held keyframes (GOP starts) in the input.
#[derive(Default)]
struct Model {
    gop_starts: Vec<usize>,
}

impl Model {
    fn oldest(&self) -> Option<usize> {
        self.gop_starts.first().copied()
    }
}

fn handle(pool: &Pool, window_ms: u64, keyframe_only: bool) -> BufferHandle {
    let cfg = BufferConfig {
        window: Duration::from_millis(window_ms),
        mode: BufferMode::Memory,
        keyframe_only,
        hybrid_memory_bytes: 0,
        spool_dir: std::env::temp_dir().join("vigil-props-unused"),
    };
    pool.register("cam", cfg).unwrap()
}

/// The expected flush: from GOP start `first` on; with keyframe_only, GOPs before the newest
/// are just their keyframe.
fn expected(input: &[Packet], starts: &[usize], upto: usize, thin: bool) -> Vec<Packet> {
    let Some(&first) = starts.first() else {
        return vec![];
    };
    if !thin {
        return input[first..=upto].to_vec();
    }
    let newest = starts[starts.len() - 1];
    let mut out: Vec<Packet> = starts[..starts.len() - 1]
        .iter()
        .map(|&i| input[i].clone())
        .collect();
    out.extend_from_slice(&input[newest..=upto]);
    out
}

fn run(window_ms: u64, keyframe_only: bool, s: &streams::StreamSpec) -> Result<(), TestCaseError> {
    let st = build(s);
    let input = &st.packets;
    let window = window_ms as i64 * 1_000;
    let pool = Pool::new(u64::MAX);
    let h = handle(&pool, window_ms, keyframe_only);
    let mut m = Model::default();
    let mut flushes = st.flushes.iter().peekable();
    for (i, p) in input.iter().enumerate() {
        let out = h.push(p.clone()).unwrap();
        if p.starts_gop() {
            prop_assert_eq!(out, PushOutcome::Held);
            m.gop_starts.push(i);
        } else if m.gop_starts.is_empty() {
            prop_assert_eq!(out, PushOutcome::Dropped(DropReason::NoKeyframeYet));
        } else {
            prop_assert_eq!(out, PushOutcome::Held);
        }
        // The window rule on the model.
        let limit = p.time.0 - window;
        while m.gop_starts.len() >= 2 && input[m.gop_starts[1]].time.0 <= limit {
            m.gop_starts.remove(0);
        }
        // Only whole GOPs go: the buffer is exactly the model's suffix (thinned if asked).
        let st_ = h.stats();
        let want = expected(input, &m.gop_starts, i, keyframe_only);
        prop_assert_eq!(st_.packets, want.len() as u64, "after packet {}", i);
        prop_assert_eq!(
            st_.bytes,
            want.iter().map(|p| p.data.len() as u64).sum::<u64>()
        );
        prop_assert_eq!(st_.oldest, m.oldest().map(|k| input[k].time));
        prop_assert_eq!(st_.gops, m.gop_starts.len() as u64);

        if flushes.peek().map(|f| f.0) == Some(i) {
            let Some(&(_, at)) = flushes.next() else {
                unreachable!()
            };
            check_flush(&h, &mut m, input, i, at, window, keyframe_only)?;
        }
    }
    let newest = input[input.len() - 1].time;
    check_flush(
        &h,
        &mut m,
        input,
        input.len() - 1,
        newest,
        window,
        keyframe_only,
    )
}

fn check_flush(
    h: &BufferHandle,
    m: &mut Model,
    input: &[Packet],
    upto: usize,
    at: Time,
    window: i64,
    thin: bool,
) -> Result<(), TestCaseError> {
    let target = at.0 - window;
    let start = m
        .gop_starts
        .iter()
        .rposition(|&k| input[k].time.0 <= target)
        .unwrap_or(0);
    let f = h.flush(at).unwrap();
    let got = f.into_packets().unwrap();
    let want = expected(
        input,
        &m.gop_starts[start.min(m.gop_starts.len())..],
        upto,
        thin,
    );
    prop_assert_eq!(&got, &want);
    if let Some(first) = got.first() {
        prop_assert!(first.starts_gop());
        let ran_long_enough = input[m.gop_starts[0]].time.0 <= target;
        if ran_long_enough {
            prop_assert!(first.time.0 <= target, "flush starts after T − window");
        }
        // At most one GOP earlier: the next keyframe in the flush is after T − window.
        if let Some(next) = got.iter().skip(1).find(|p| p.starts_gop()) {
            prop_assert!(next.time.0 > target, "flush starts more than one GOP early");
        }
    }
    prop_assert_eq!(h.stats().packets, 0);
    m.gop_starts.clear();
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn window_guarantee_whole_gops_and_exact_flushes(
        window_ms in prop_oneof![Just(0u64), 0u64..=60_000],
        s in spec(40),
    ) {
        run(window_ms, false, &s)?;
    }

    #[test]
    fn keyframe_only_keeps_keyframes_and_a_whole_newest_gop(
        window_ms in 0u64..=60_000,
        s in spec(30),
    ) {
        run(window_ms, true, &s)?;
    }
}
