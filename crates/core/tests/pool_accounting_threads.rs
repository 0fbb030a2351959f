//! Cameras in all three modes pushing, flushing and changing mode at once on their own threads,
//! under a limit far too small for them: `used ≤ limit` whenever anyone looks, and once they stop,
//! what the pool charges each buffer is exactly what that buffer holds. (Each buffer has its own
//! lock and the pool publishes changes of charge; this checks that none is lost or counted twice.)

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use vigil_core::packet::{Packet, TrackKind};
use vigil_core::pool::{BufferHandle, Pool};
use vigil_core::prebuffer::BufferConfig;
use vigil_core::settings::BufferMode;
use vigil_core::time::Time;

const MODES: [BufferMode; 3] = [BufferMode::Memory, BufferMode::Disk, BufferMode::Hybrid];

fn video(ms: i64, key: bool, len: usize) -> Packet {
    Packet {
        track: TrackKind::Video,
        pts: ms * 90,
        time: Time(ms * 1_000),
        keyframe: key,
        data: Bytes::from(vec![(ms % 251) as u8; len]),
    }
}

fn config(mode: BufferMode, dir: &Path) -> BufferConfig {
    BufferConfig {
        window: Duration::from_secs(30),
        mode,
        keyframe_only: false,
        hybrid_memory_bytes: 30_000,
        spool_dir: dir.to_path_buf(),
    }
}

/// Sets the flag when dropped, so the watcher stops even if a worker's failure unwinds the test.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// One camera: pushes, a flush now and then (checked), a mode change now and then.
fn camera(pool: &Pool, t: usize, dir: &Path) -> BufferHandle {
    let h = pool
        .register(&format!("cam{t}"), config(MODES[t % 3], dir))
        .unwrap();
    let gop = 8 + t as i64;
    for f in 0..6_000i64 {
        let key = f % gop == 0;
        let len = if key {
            12_000
        } else {
            300 + (f % 5) as usize * 400
        };
        h.push(video(f * 33, key, len)).unwrap();
        if f % 1_500 == 700 {
            let pkts = h.flush(Time(f * 33_000)).unwrap().into_packets().unwrap();
            if let Some(first) = pkts.first() {
                assert!(first.starts_gop());
                assert!(pkts.windows(2).all(|w| w[0].time < w[1].time));
            }
        }
        if f % 2_000 == 1_000 {
            let next = MODES[(t + (f / 2_000) as usize + 1) % 3];
            h.reconfigure(config(next, dir)).unwrap();
        }
    }
    h
}

#[test]
fn all_modes_under_pressure_keep_the_accounting_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let limit = 400_000;
    let pool = &Pool::new(limit);
    let stop = &AtomicBool::new(false);
    let hs: Vec<BufferHandle> = thread::scope(|s| {
        let _stop = StopOnDrop(stop);
        let workers: Vec<_> = (0..9)
            .map(|t| {
                let dir = tmp.path().join(format!("cam{t}"));
                s.spawn(move || camera(pool, t, &dir))
            })
            .collect();
        let watcher = s.spawn(move || {
            let mut looks = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let ps = pool.stats();
                assert!(ps.used_bytes <= limit && ps.peak_bytes <= limit, "{ps:?}");
                assert_eq!(
                    ps.used_bytes,
                    ps.per_buffer.iter().map(|b| b.1).sum::<u64>()
                );
                looks += 1;
                thread::yield_now();
            }
            looks
        });
        let hs = workers.into_iter().map(|w| w.join().unwrap()).collect();
        stop.store(true, Ordering::Relaxed);
        assert!(watcher.join().unwrap() > 0);
        hs
    });
    let ps = pool.stats();
    assert!(ps.used_bytes <= limit);
    assert_eq!(
        ps.used_bytes,
        ps.per_buffer.iter().map(|b| b.1).sum::<u64>()
    );
    for h in &hs {
        let charged = ps.per_buffer.iter().find(|b| b.0 == h.name()).map(|b| b.1);
        assert_eq!(charged, Some(h.stats().memory_bytes), "{}", h.name());
    }
    let stats: Vec<_> = hs.iter().map(BufferHandle::stats).collect();
    assert!(
        stats.iter().any(|s| s.dropped_pool_packets > 0),
        "the pool never had to relieve anyone"
    );
    assert!(stats.iter().all(|s| s.spool_errors == 0));
}
