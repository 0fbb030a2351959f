//! A slow disk on one camera never holds up another. Camera A's spool writer is made to stop in the
//! middle of a write (a gate the test opens); meanwhile other cameras, on other threads, push,
//! flush and are relieved by the pool as usual, and the pool's limit holds throughout.
//!
//! Another camera finishing is awaited on a channel with a generous bound only so that a regression
//! (its pushes stuck behind A's write) fails with a message instead of hanging; nothing here
//! measures speed.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use vigil_core::packet::{Packet, TrackKind};
use vigil_core::pool::{BufferHandle, Pool};
use vigil_core::prebuffer::{BufferConfig, FileWriter, PushOutcome, SpoolWriter};
use vigil_core::settings::BufferMode;
use vigil_core::time::Time;

/// How long another camera may take before the test calls it stuck.
const STUCK: Duration = Duration::from_secs(20);
const GOP: i64 = 30;

/// Frame `i` of a 30 fps stream with a keyframe every `GOP` frames; the payload is tagged with `i`.
fn frame(i: i64, len: usize) -> Packet {
    Packet {
        track: TrackKind::Video,
        pts: i * 3_000,
        time: Time(i * 33_333),
        keyframe: i % GOP == 0,
        data: Bytes::from(vec![(i % 251) as u8; len]),
    }
}

fn config(
    mode: BufferMode,
    window: Duration,
    hybrid_memory_bytes: u64,
    dir: &Path,
) -> BufferConfig {
    BufferConfig {
        window,
        mode,
        keyframe_only: false,
        hybrid_memory_bytes,
        spool_dir: dir.to_path_buf(),
    }
}

/// A spool writer that, once armed, stops its next write until the test opens the gate.
struct Gate {
    armed: AtomicBool,
    stopped: Sender<()>,
    open: Mutex<Receiver<()>>,
}

/// The test's side of a [`Gate`]: told when a write has stopped; opens the gate.
struct Keeper {
    stopped: Receiver<()>,
    open: Sender<()>,
}

fn gate() -> (Arc<Gate>, Keeper) {
    let (stopped_tx, stopped) = mpsc::channel();
    let (open, open_rx) = mpsc::channel();
    let gate = Gate {
        armed: AtomicBool::new(false),
        stopped: stopped_tx,
        open: Mutex::new(open_rx),
    };
    (Arc::new(gate), Keeper { stopped, open })
}

impl SpoolWriter for Gate {
    fn write_all_at(&self, file: &File, offset: u64, parts: &[&[u8]]) -> io::Result<()> {
        if self.armed.swap(false, Ordering::SeqCst) {
            let _ = self.stopped.send(());
            if let Ok(open) = self.open.lock() {
                let _ = open.recv();
            }
        }
        FileWriter.write_all_at(file, offset, parts)
    }
}

impl Keeper {
    fn wait_stopped(&self) {
        let stopped = self.stopped.recv_timeout(STUCK);
        assert!(stopped.is_ok(), "the gated write never started");
    }

    /// `rx`'s report; if it doesn't come, opens the gate (so everything stuck behind the write
    /// can finish and the test ends) and fails with `stuck`.
    fn expect<T>(&self, rx: &Receiver<T>, stuck: &str) -> T {
        match rx.recv_timeout(STUCK) {
            Ok(v) => v,
            Err(_) => {
                let _ = self.open.send(());
                panic!("{stuck}");
            }
        }
    }

    fn open(&self) {
        let _ = self.open.send(());
    }
}

/// Pushes frames `from..to`, each held, checking the pool's limit after each.
fn push_all(h: &BufferHandle, pool: &Pool, from: i64, to: i64, len: usize) -> Vec<Packet> {
    let mut pushed = vec![];
    for i in from..to {
        let p = frame(i, len);
        assert_eq!(h.push(p.clone()).unwrap(), PushOutcome::Held, "frame {i}");
        let ps = pool.stats();
        assert!(ps.used_bytes <= ps.limit_bytes, "{ps:?}");
        pushed.push(p);
    }
    pushed
}

/// A flush at the newest frame must be exactly the frames from the latest keyframe at or before
/// newest − window: a valid GOP-aligned pre-roll, every packet intact.
fn assert_pre_roll(got: &[Packet], pushed: &[Packet], window: Duration) {
    let newest = pushed[pushed.len() - 1].time;
    let target = newest.0 - window.as_micros() as i64;
    let first = pushed
        .iter()
        .rposition(|p| p.keyframe && p.time.0 <= target)
        .unwrap_or(0);
    assert!(got[0].starts_gop(), "pre-roll starts on a keyframe");
    assert!(got.windows(2).all(|w| w[0].time < w[1].time));
    assert_eq!(got.len(), pushed.len() - first);
    assert!(
        got == &pushed[first..],
        "pre-roll packets differ from those pushed"
    );
}

/// Registers camera `name` in `pool`, its spool under `dir/name`.
fn register(
    pool: &Pool,
    dir: &Path,
    name: &str,
    mode: BufferMode,
    window: Duration,
    hybrid_memory_bytes: u64,
) -> BufferHandle {
    pool.register(
        name,
        config(mode, window, hybrid_memory_bytes, &dir.join(name)),
    )
    .unwrap()
}

#[test]
fn a_camera_stuck_in_a_spool_write_holds_up_no_other_camera() {
    let tmp = tempfile::tempdir().unwrap();
    let window = Duration::from_secs(2);
    let pool = &Pool::new(50 << 20);
    let a = register(pool, tmp.path(), "a", BufferMode::Disk, window, 0);
    let b = register(pool, tmp.path(), "b", BufferMode::Disk, window, 0);
    let (gate, keeper) = gate();
    a.set_spool_writer(gate.clone());
    let mut a_pushed = push_all(&a, pool, 0, 40, 4_000);

    thread::scope(|s| {
        gate.armed.store(true, Ordering::SeqCst);
        let a_stuck = s.spawn(|| {
            let p = frame(40, 4_000);
            (a.push(p.clone()), p)
        });
        keeper.wait_stopped();

        // B, on its own thread: thousands of packets and a flush while A's write is stopped.
        let (done_tx, done) = mpsc::channel();
        let b = &b;
        s.spawn(move || {
            let pushed = push_all(b, pool, 0, 3_000, 6_000);
            let newest = pushed[pushed.len() - 1].time;
            let got = b.flush(newest).unwrap().into_packets().unwrap();
            let _ = done_tx.send((pushed, got));
        });
        let (pushed, got) = keeper.expect(
            &done,
            "camera B's pushes were held up by camera A's stuck spool write",
        );
        assert_pre_roll(&got, &pushed, window);
        let ps = pool.stats();
        assert_eq!(
            ps.per_buffer[0],
            ("a".to_owned(), 40 * 48),
            "A as of its last push"
        );

        keeper.open();
        let (r, p) = a_stuck.join().unwrap();
        assert_eq!(r.unwrap(), PushOutcome::Held);
        a_pushed.push(p);
    });
    a_pushed.extend(push_all(&a, pool, 41, 100, 4_000));
    let newest = a_pushed[a_pushed.len() - 1].time;
    let got = a.flush(newest).unwrap().into_packets().unwrap();
    assert_pre_roll(&got, &a_pushed, window);
    let ps = pool.stats();
    assert_eq!((ps.used_bytes, ps.per_buffer.len()), (0, 2));
}

#[test]
fn relief_passes_over_a_camera_stuck_on_its_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let long = Duration::from_secs(600);
    let limit = 200_000;
    let pool = &Pool::new(limit);
    // A: hybrid, 150 KB in memory, far above its fair share (100 KB); its next push demotes a GOP.
    let a = register(pool, tmp.path(), "a", BufferMode::Hybrid, long, 150_000);
    let b = register(pool, tmp.path(), "b", BufferMode::Memory, long, 0);
    let (gate, keeper) = gate();
    a.set_spool_writer(gate.clone());
    push_all(&a, pool, 0, 150, 1_000);
    assert_eq!(a.stats().disk_bytes, 0);

    thread::scope(|s| {
        gate.armed.store(true, Ordering::SeqCst);
        let a_stuck = s.spawn(|| a.push(frame(150, 1_000)));
        keeper.wait_stopped();

        // B's pushes take the pool over its limit. A would give first, but it is busy with its
        // disk: B's own oldest GOPs go instead, and B is never kept waiting.
        let (done_tx, done) = mpsc::channel();
        let b = &b;
        s.spawn(move || {
            let pushed = push_all(b, pool, 0, 200, 1_000);
            let _ = done_tx.send((pushed, b.stats()));
        });
        let (pushed, sb) = keeper.expect(
            &done,
            "camera B's pushes were held up by camera A's stuck demotion",
        );
        assert!(sb.dropped_pool_packets > 0, "B gave room: {sb:?}");
        assert_eq!(sb.newest, Some(pushed[pushed.len() - 1].time));
        assert_eq!(
            pool.stats().per_buffer[0].1,
            150_000,
            "A as of its last push"
        );

        keeper.open();
        assert_eq!(a_stuck.join().unwrap().unwrap(), PushOutcome::Held);
    });
    let (sa, ps) = (a.stats(), pool.stats());
    assert!(sa.disk_bytes > 0 && sa.dropped_pool_packets == 0, "{sa:?}");
    assert!(ps.used_bytes <= limit);
    assert_eq!(
        ps.used_bytes,
        ps.per_buffer.iter().map(|b| b.1).sum::<u64>()
    );
    assert_eq!(ps.per_buffer[0].1, sa.memory_bytes);
}

#[test]
fn a_demotion_by_pool_pressure_writes_without_the_pool_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let long = Duration::from_secs(600);
    let limit = 200_000;
    let pool = &Pool::new(limit);
    // A: hybrid with no budget of its own, the furthest above its fair share: pool pressure
    // demotes its GOPs, writing to A's spool on the pushing camera's thread.
    let a = register(pool, tmp.path(), "a", BufferMode::Hybrid, long, 1 << 30);
    let b = register(pool, tmp.path(), "b", BufferMode::Memory, long, 0);
    let c = register(pool, tmp.path(), "c", BufferMode::Memory, long, 0);
    let (gate, keeper) = gate();
    a.set_spool_writer(gate.clone());
    push_all(&a, pool, 0, 150, 1_000);
    let mut c_pushed = push_all(&c, pool, 0, 60, 500);

    thread::scope(|s| {
        gate.armed.store(true, Ordering::SeqCst);
        // B pushes until the pool must relieve A; that demotion stops in A's writer.
        let b_pushing = s.spawn(|| push_all(&b, pool, 0, 60, 1_000));
        keeper.wait_stopped();

        // C pushes and flushes meanwhile: the pool lock is free. A and B are busy, so C's own
        // oldest GOPs make room for its packets, and the limit holds.
        let (done_tx, done) = mpsc::channel();
        let c = &c;
        s.spawn(move || {
            let pushed = push_all(c, pool, 60, 360, 500);
            let got = c
                .flush(Time::from_secs(60))
                .unwrap()
                .into_packets()
                .unwrap();
            let _ = done_tx.send((pushed, got, c.stats()));
        });
        let (pushed, got, sc) = keeper.expect(
            &done,
            "camera C was held up by a demotion of camera A's GOP",
        );
        c_pushed.extend(pushed);
        assert!(sc.dropped_pool_packets > 0, "C gave room: {sc:?}");
        let first = c_pushed.len() - got.len();
        assert!(got[0].starts_gop());
        assert!(
            got == c_pushed[first..],
            "C's pre-roll differs from its newest packets"
        );

        keeper.open();
        b_pushing.join().unwrap();
    });
    let (sa, ps) = (a.stats(), pool.stats());
    assert!(sa.disk_bytes > 0, "demoted: {sa:?}");
    assert_eq!(sa.dropped_pool_packets, 0, "demoted, not dropped");
    assert!(ps.used_bytes <= limit);
    assert_eq!(
        ps.used_bytes,
        ps.per_buffer.iter().map(|b| b.1).sum::<u64>()
    );
}
