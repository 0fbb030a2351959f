//! Pre-buffer benchmarks: add + evict throughput per mode (one camera, and 16 cameras pushed by 16
//! threads into one pool), and memory overhead per packet.
//!
//! The stream: 30 fps, a keyframe every 30 frames (~30 KB), P-frames ~6 KB (about 2 Mbit/s),
//! 5 s window, pushed through the `Pool` / `BufferHandle` API the recorder uses. Payloads are
//! created once; each push clones a `Bytes` (a refcount bump), so the numbers are the buffer's.
//!
//! The overhead figure comes from a counting global allocator: heap held by a buffer in steady
//! state, minus the payload bytes it holds, divided by the packets it holds. It is printed as
//! `overhead_per_packet_bytes=...` (target: < 64 in memory mode).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vigil_core::packet::{Packet, TrackKind};
use vigil_core::pool::{BufferHandle, Pool, DEFAULT_LIMIT_BYTES};
use vigil_core::prebuffer::BufferConfig;
use vigil_core::settings::BufferMode;
use vigil_core::time::Time;

struct Counting;

static HEAP: AtomicIsize = AtomicIsize::new(0);

// SAFETY: forwards to the system allocator, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        HEAP.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        HEAP.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc_zeroed(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        HEAP.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        HEAP.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        System.realloc(p, l, new)
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

const FPS: u64 = 30;
const GOP: u64 = 30;
const KEY_BYTES: usize = 30_000;
const P_BYTES: usize = 6_000;
const BATCH: u64 = 1_000;

fn config(mode: BufferMode, dir: &std::path::Path) -> BufferConfig {
    BufferConfig {
        window: Duration::from_secs(5),
        mode,
        keyframe_only: false,
        hybrid_memory_bytes: 512 << 10,
        spool_dir: dir.to_path_buf(),
    }
}

fn size_of_frame(frame: u64) -> usize {
    if frame.checked_rem(GOP) == Some(0) {
        KEY_BYTES
    } else {
        // A little variation, as real P-frames have.
        P_BYTES - 500 + (frame % 7) as usize * 150
    }
}

fn packet(frame: u64, data: Bytes) -> Packet {
    Packet {
        track: TrackKind::Video,
        pts: (frame * 3_000) as i64,
        time: Time((frame * 1_000_000 / FPS) as i64),
        keyframe: frame.checked_rem(GOP) == Some(0),
        data,
    }
}

/// A camera feeding one buffer with pre-made payloads.
struct Feed {
    h: BufferHandle,
    payloads: Vec<Bytes>,
    frame: u64,
}

impl Feed {
    fn new(h: BufferHandle) -> Feed {
        let payloads = (0..GOP)
            .map(|f| Bytes::from(vec![f as u8; size_of_frame(f)]))
            .collect();
        Feed {
            h,
            payloads,
            frame: 0,
        }
    }

    fn push(&mut self, n: u64) {
        for _ in 0..n {
            let data = self.payloads[(self.frame % GOP) as usize].clone();
            let _ = self.h.push(packet(self.frame, data));
            self.frame += 1;
        }
    }
}

fn add_evict(c: &mut Criterion) {
    let tmp = std::env::temp_dir().join(format!("vigil-bench-{}", std::process::id()));
    let mut g = c.benchmark_group("prebuffer_add_evict_2mbps_5s");
    g.throughput(Throughput::Elements(BATCH));
    for mode in [BufferMode::Memory, BufferMode::Disk, BufferMode::Hybrid] {
        let pool = Pool::new(DEFAULT_LIMIT_BYTES);
        let dir = tmp.join(mode.as_str());
        let Ok(h) = pool.register("cam", config(mode, &dir)) else {
            eprintln!("{mode}: spool not available, skipped");
            continue;
        };
        let mut feed = Feed::new(h);
        feed.push(FPS * 20); // steady state: several windows
        g.bench_function(mode.as_str(), |b| b.iter(|| feed.push(BATCH)));
        let s = feed.h.stats();
        eprintln!(
            "{mode}: held {} packets, {:.1} s, {} bytes, charged {}",
            s.packets, s.duration_secs, s.bytes, s.memory_bytes
        );
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&tmp);
}

/// 16 cameras in one pool, each pushed by its own thread: what cameras cost each other through the
/// pool (in disk mode, each push's spool write). Throughput counts every camera's packets.
fn sixteen_threads(c: &mut Criterion) {
    const CAMERAS: u64 = 16;
    let tmp = std::env::temp_dir().join(format!("vigil-bench-mt-{}", std::process::id()));
    let mut g = c.benchmark_group("prebuffer_16_threads_16_cameras");
    g.throughput(Throughput::Elements(BATCH * CAMERAS));
    for mode in [BufferMode::Memory, BufferMode::Disk] {
        let pool = Pool::new(DEFAULT_LIMIT_BYTES);
        let mut feeds = Vec::new();
        for i in 0..CAMERAS {
            let dir = tmp.join(format!("{mode}-{i}"));
            match pool.register(&format!("cam{i}"), config(mode, &dir)) {
                Ok(h) => feeds.push(Feed::new(h)),
                Err(e) => eprintln!("{mode}: {e}"),
            }
        }
        if feeds.len() as u64 != CAMERAS {
            continue;
        }
        for f in &mut feeds {
            f.push(FPS * 20);
        }
        g.bench_function(mode.as_str(), |b| {
            b.iter_custom(|iters| {
                let start = Barrier::new(feeds.len() + 1);
                let t0 = std::thread::scope(|s| {
                    for f in feeds.iter_mut() {
                        let start = &start;
                        s.spawn(move || {
                            start.wait();
                            f.push(BATCH * iters);
                        });
                    }
                    start.wait();
                    Instant::now()
                });
                t0.elapsed()
            })
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Motion start: flush a full 5 s window and read it back (the pre-roll's share of the
/// event-to-first-bytes latency). Refilling between flushes is not timed.
fn flush(c: &mut Criterion) {
    let tmp = std::env::temp_dir().join(format!("vigil-bench-fl-{}", std::process::id()));
    let mut g = c.benchmark_group("prebuffer_flush_5s_window");
    for mode in [BufferMode::Memory, BufferMode::Disk, BufferMode::Hybrid] {
        let pool = Pool::new(DEFAULT_LIMIT_BYTES);
        let Ok(h) = pool.register("cam", config(mode, &tmp.join(mode.as_str()))) else {
            continue;
        };
        let mut feed = Feed::new(h);
        g.bench_function(mode.as_str(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // Back to a keyframe, then 8 s of stream: a full window held.
                    feed.frame = feed.frame.div_ceil(GOP) * GOP;
                    feed.push(FPS * 8);
                    let at = Time((feed.frame * 1_000_000 / FPS) as i64);
                    let t0 = Instant::now();
                    let pkts = feed.h.flush(at).and_then(|f| f.into_packets());
                    total += t0.elapsed();
                    assert!(pkts.is_ok_and(|p| p.len() as u64 >= FPS * 5));
                }
                total
            })
        });
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&tmp);
}

/// Heap held per packet beyond its payload, in steady state, with fresh payloads per packet.
fn overhead(mode: BufferMode, keyframe_only: bool) -> f64 {
    let tmp = std::env::temp_dir().join(format!("vigil-bench-oh-{}", std::process::id()));
    let pool = Pool::new(DEFAULT_LIMIT_BYTES);
    let mut cfg = config(mode, &tmp);
    cfg.keyframe_only = keyframe_only;
    let Ok(h) = pool.register("cam", cfg) else {
        return f64::NAN;
    };
    let base = HEAP.load(Ordering::Relaxed);
    for frame in 0..FPS * 60 {
        let _ = h.push(packet(frame, Bytes::from(vec![1u8; size_of_frame(frame)])));
    }
    let held = HEAP.load(Ordering::Relaxed) - base;
    let s = h.stats();
    let in_memory = (s.bytes - s.disk_bytes) as isize;
    let x = (held - in_memory) as f64 / s.packets.max(1) as f64;
    drop(h);
    let _ = std::fs::remove_dir_all(&tmp);
    x
}

fn memory_overhead(_c: &mut Criterion) {
    eprintln!(
        "overhead_per_packet_bytes={:.1}",
        overhead(BufferMode::Memory, false)
    );
    eprintln!(
        "overhead_per_packet_bytes_keyframe_only={:.1}",
        overhead(BufferMode::Memory, true)
    );
    eprintln!(
        "overhead_per_packet_bytes_disk={:.1}",
        overhead(BufferMode::Disk, false)
    );
}

criterion_group!(benches, memory_overhead, add_evict, sixteen_threads, flush);
criterion_main!(benches);
