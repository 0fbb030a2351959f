//! The pool's promises, on 64 buffers at random rates, sizes and GOP lengths pushed in random
//! interleaving: `used ≤ limit` after every push, no buffer loses its newest GOP, eviction takes
//! from the buffer furthest above its fair share, peak and per-buffer bytes add up.

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use vigil_core::packet::{Packet, TrackKind};
use vigil_core::pool::{BufferHandle, Pool};
use vigil_core::prebuffer::{BufferConfig, BufferStats, PushOutcome};
use vigil_core::settings::BufferMode;
use vigil_core::time::Time;

const BUFFERS: usize = 64;

#[derive(Clone, Debug)]
struct Cam {
    gop_len: u64,
    frame_ms: i64,
    p_size: usize,
    key_size: usize,
}

impl Cam {
    fn max_gop_bytes(&self) -> u64 {
        self.key_size as u64 + (self.gop_len - 1) * self.p_size as u64
    }
}

fn cam() -> impl Strategy<Value = Cam> {
    (1u64..20, 20i64..100, 1usize..400, 1usize..4).prop_map(|(gop_len, frame_ms, p, k)| Cam {
        gop_len,
        frame_ms,
        p_size: p,
        key_size: p * k,
    })
}

/// One camera's stream state.
#[derive(Default)]
struct Feed {
    frame: u64,
    /// Packets pushed since (and including) the last keyframe, and the last packet's time.
    since_key: u64,
    last: Option<Time>,
}

impl Feed {
    fn next(&mut self, c: &Cam) -> Packet {
        let key = self.frame.checked_rem(c.gop_len) == Some(0);
        let ms = self.frame as i64 * c.frame_ms;
        self.frame += 1;
        Packet {
            track: TrackKind::Video,
            pts: ms * 90,
            time: Time(ms * 1_000),
            keyframe: key,
            data: Bytes::from(vec![0u8; if key { c.key_size } else { c.p_size }]),
        }
    }
}

fn memory_config() -> BufferConfig {
    BufferConfig {
        // Longer than any stream here: only the pool evicts.
        window: Duration::from_secs(600),
        mode: BufferMode::Memory,
        keyframe_only: false,
        hybrid_memory_bytes: 0,
        spool_dir: std::env::temp_dir().join("vigil-pool-unused"),
    }
}

fn register(pool: &Pool, n: usize) -> Vec<BufferHandle> {
    (0..n)
        .map(|i| pool.register(&format!("cam{i}"), memory_config()).unwrap())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn limit_holds_newest_gops_survive_and_victims_are_furthest_above_fair_share(
        cams in prop::collection::vec(cam(), BUFFERS),
        order in prop::collection::vec(0usize..BUFFERS, 2_000..6_000),
        headroom in 100u64..130,
    ) {
        // Big enough for every newest GOP at once: the pool never has to refuse.
        let limit = cams.iter().map(Cam::max_gop_bytes).sum::<u64>() * headroom / 100;
        let pool = Pool::new(limit);
        let hs = register(&pool, BUFFERS);
        let mut feeds: Vec<Feed> = (0..BUFFERS).map(|_| Feed::default()).collect();
        let fair = (limit / BUFFERS as u64) as i128;
        let mut max_used = 0;
        let mut victims_checked = 0;
        for &i in &order {
            let before: Vec<BufferStats> = hs.iter().map(|h| h.stats()).collect();
            let p = feeds[i].next(&cams[i]);
            let (len, key, time) = (p.data.len() as u64, p.keyframe, p.time);
            prop_assert_eq!(hs[i].push(p).unwrap(), PushOutcome::Held);
            let f = &mut feeds[i];
            f.since_key = if key { 1 } else { f.since_key + 1 };
            f.last = Some(time);

            let ps = pool.stats();
            prop_assert!(ps.used_bytes <= limit, "used {} > limit {}", ps.used_bytes, limit);
            prop_assert_eq!(ps.used_bytes, ps.per_buffer.iter().map(|b| b.1).sum::<u64>());
            max_used = max_used.max(ps.used_bytes);
            prop_assert_eq!(ps.peak_bytes, max_used);

            let after: Vec<BufferStats> = hs.iter().map(|h| h.stats()).collect();
            for (j, s) in after.iter().enumerate() {
                // Every buffer still holds its whole newest GOP.
                if feeds[j].frame > 0 {
                    prop_assert!(s.packets >= feeds[j].since_key, "cam{} lost its newest GOP", j);
                    prop_assert_eq!(s.newest, feeds[j].last);
                }
            }
            // One victim: it must have been the furthest above fair share among the buffers with
            // something to give, in the state right after the packet went in.
            let victims: Vec<usize> = (0..BUFFERS)
                .filter(|&j| after[j].dropped_pool_packets > before[j].dropped_pool_packets)
                .collect();
            if let [v] = victims[..] {
                let excess = |j: usize| {
                    let extra = if j == i { len } else { 0 };
                    i128::from(before[j].memory_bytes + extra) - fair
                };
                let gops = |j: usize| before[j].gops + u64::from(j == i && key);
                let best = (0..BUFFERS).filter(|&j| gops(j) >= 2).map(excess).max();
                prop_assert_eq!(Some(excess(v)), best, "victim cam{} not furthest above fair share", v);
                victims_checked += 1;
            }
        }
        for (j, h) in hs.iter().enumerate() {
            let f = h.flush(Time::from_secs(1_000)).unwrap();
            if feeds[j].frame > 0 {
                let pkts = f.into_packets().unwrap();
                prop_assert!(pkts[0].starts_gop());
                prop_assert!(pkts.len() as u64 >= feeds[j].since_key);
            }
        }
        let pool_drops: u64 = hs.iter().map(|h| h.stats().dropped_pool_packets).sum();
        prop_assert!(victims_checked > 0 || pool_drops == 0, "no eviction was checked");
    }
}

fn video(ms: i64, key: bool, len: usize) -> Packet {
    Packet {
        track: TrackKind::Video,
        pts: ms * 90,
        time: Time(ms * 1_000),
        keyframe: key,
        data: Bytes::from(vec![1u8; len]),
    }
}

#[test]
fn when_only_newest_gops_are_left_the_new_packet_is_refused() {
    use vigil_core::prebuffer::DropReason::{GopBroken, PoolFull};
    let pool = Pool::new(10_000);
    let hs = register(&pool, 2);
    let (a, b) = (&hs[0], &hs[1]);
    let held = PushOutcome::Held;
    assert_eq!(a.push(video(0, true, 6_000)).unwrap(), held);
    // B's keyframe does not fit beside A's only GOP: refused, B waits for its next keyframe.
    assert_eq!(
        b.push(video(0, true, 6_000)).unwrap(),
        PushOutcome::Dropped(PoolFull)
    );
    assert_eq!(
        b.push(video(33, false, 10)).unwrap(),
        PushOutcome::Dropped(GopBroken)
    );
    assert_eq!(a.push(video(33, false, 3_000)).unwrap(), held);
    // A's own newest GOP can't grow past the limit either.
    assert_eq!(
        a.push(video(66, false, 2_000)).unwrap(),
        PushOutcome::Dropped(PoolFull)
    );
    assert_eq!(
        a.push(video(100, false, 10)).unwrap(),
        PushOutcome::Dropped(GopBroken)
    );
    assert_eq!(pool.stats().used_bytes, 9_000);
    // A new keyframe opens a new GOP; the broken one is a valid prefix until it gets evicted.
    assert_eq!(a.push(video(133, true, 1_000)).unwrap(), held);
    assert_eq!(pool.stats().used_bytes, 10_000);
    assert_eq!(a.push(video(166, false, 500)).unwrap(), held);
    let sa = a.stats();
    assert_eq!((sa.packets, sa.bytes, sa.gops), (2, 1_500, 1));
    assert_eq!(
        (sa.dropped_pool_packets, sa.dropped_pool_bytes),
        (3, 11_000)
    );
    let sb = b.stats();
    assert_eq!((sb.dropped_pool_packets, sb.packets, sb.gops), (1, 0, 0));
    assert_eq!(b.push(video(200, true, 1_000)).unwrap(), held);
    assert_eq!(pool.stats().used_bytes, 2_500);
    assert_eq!(pool.stats().peak_bytes, 10_000);
    let f = b.flush(Time::from_secs(1)).unwrap();
    assert_eq!((f.start(), f.len()), (Some(Time(200_000)), 1));
}

#[test]
fn limit_too_small_for_every_newest_gop_still_holds_after_every_push() {
    let pool = Pool::new(40_000);
    let hs = register(&pool, 8);
    let mut refused = 0;
    for n in 0..3_000i64 {
        let i = (n * 7 % 8) as usize;
        let frame = n / 8;
        let key = frame % 10 == 0;
        let out = hs[i].push(video(frame * 33, key, if key { 8_000 } else { 1_500 }));
        if out.unwrap() != PushOutcome::Held {
            refused += 1;
        }
        let ps = pool.stats();
        assert!(ps.used_bytes <= 40_000);
        assert_eq!(
            ps.used_bytes,
            ps.per_buffer.iter().map(|b| b.1).sum::<u64>()
        );
    }
    assert!(refused > 0, "the refusal path was not exercised");
    for h in &hs {
        let f = h
            .flush(Time::from_secs(1_000))
            .unwrap()
            .into_packets()
            .unwrap();
        assert!(f.is_empty() || f[0].starts_gop());
    }
}

#[test]
fn lowering_the_limit_applies_at_once() {
    let pool = Pool::new(1 << 20);
    let hs = register(&pool, 3);
    for f in 0..60 {
        for h in &hs {
            h.push(video(f * 33, f % 10 == 0, 1_000)).unwrap();
        }
    }
    assert_eq!(pool.stats().used_bytes, 180_000);
    pool.set_limit(50_000);
    let ps = pool.stats();
    assert!(ps.used_bytes <= 50_000);
    // Only old GOPs had to go: every buffer keeps its newest GOP (10 KB).
    for h in &hs {
        assert!(h.stats().packets >= 10);
    }
    // Below the newest GOPs: the limit still wins.
    pool.set_limit(15_000);
    assert!(pool.stats().used_bytes <= 15_000);
    assert_eq!(pool.stats().peak_bytes, 180_000);
}

#[test]
fn hybrid_buffers_demote_before_anything_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let pool = Pool::new(60_000);
    let mut cfg = memory_config();
    cfg.mode = BufferMode::Hybrid;
    cfg.hybrid_memory_bytes = 1 << 30;
    cfg.spool_dir = tmp.path().join("h");
    let h = pool.register("hybrid", cfg).unwrap();
    let m = pool.register("memory", memory_config()).unwrap();
    for f in 0..100 {
        h.push(video(f * 33, f % 10 == 0, 1_000)).unwrap();
        if f < 20 {
            m.push(video(f * 33, f % 10 == 0, 1_000)).unwrap();
        }
    }
    let (sh, sm) = (h.stats(), m.stats());
    assert_eq!(sh.dropped_pool_packets, 0, "demoted, not dropped");
    assert_eq!(sh.packets, 100);
    assert!(sh.disk_bytes >= 60_000, "{sh:?}");
    assert_eq!(
        sm.packets, 20,
        "the buffer under its fair share kept everything"
    );
    assert!(pool.stats().used_bytes <= 60_000);
}

#[test]
fn registration_names_are_unique_and_dropping_a_handle_frees_its_bytes() {
    let pool = Pool::new(1 << 20);
    let a = pool.register("a", memory_config()).unwrap();
    assert!(pool.register("a", memory_config()).is_err());
    let b = pool.register("b", memory_config()).unwrap();
    a.push(video(0, true, 700)).unwrap();
    b.push(video(0, true, 300)).unwrap();
    let ps = pool.stats();
    assert_eq!((ps.buffers, ps.used_bytes), (2, 1_000));
    assert_eq!(ps.per_buffer, vec![("a".into(), 700), ("b".into(), 300)]);
    assert_eq!(a.name(), "a");
    drop(a);
    let ps = pool.stats();
    assert_eq!((ps.buffers, ps.used_bytes), (1, 300));
    let a2 = pool.register("a", memory_config()).unwrap();
    assert_eq!(a2.stats().packets, 0);
}

#[test]
fn eight_threads_pushing_keep_the_pool_consistent() {
    let limit = 300_000;
    let pool = Pool::new(limit);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..8)
            .map(|t| {
                let pool = pool.clone();
                s.spawn(move || {
                    let h = pool.register(&format!("cam{t}"), memory_config()).unwrap();
                    for f in 0..20_000i64 {
                        let key = f % (10 + t) == 0;
                        let len = if key {
                            20_000
                        } else {
                            500 + (f % 7) as usize * 300
                        };
                        h.push(video(f * 33, key, len)).unwrap();
                        if f % 5_000 == 2_500 {
                            let flush = h.flush(Time((f * 33 + 1) * 1_000)).unwrap();
                            assert!(flush.into_packets().unwrap()[0].starts_gop());
                        }
                    }
                    h.stats()
                })
            })
            .collect();
        let watcher = s.spawn(|| {
            let mut looks = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let ps = pool.stats();
                assert!(ps.used_bytes <= limit);
                assert!(ps.peak_bytes <= limit);
                assert_eq!(
                    ps.used_bytes,
                    ps.per_buffer.iter().map(|b| b.1).sum::<u64>()
                );
                looks += 1;
                std::thread::sleep(Duration::from_micros(100));
            }
            looks
        });
        for w in workers {
            let st = w.join().unwrap();
            assert!(st.packets > 0 && st.flushes == 4);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(watcher.join().unwrap() > 0);
    });
    let ps = pool.stats();
    assert_eq!(
        (ps.buffers, ps.used_bytes),
        (0, 0),
        "handles dropped with their threads"
    );
    assert!(ps.peak_bytes > limit / 2);
}
