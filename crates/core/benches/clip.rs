//! Flush of a 5 s pre-roll into a new clip on disk, durable (target < 20 ms), for each buffer mode.
//!
//! One iteration = what happens when motion starts: drain the pre-buffer (reading the spool back
//! for disk/hybrid), create the clip (ftyp+moov, fdatasync + directory fsync), write every packet,
//! and fdatasync the pre-roll fragments. The clip goes to a directory on the same disk as the
//! workspace (`target/`), not tmpfs, so the fsyncs are real.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use vigil_core::fmp4::{ClipWriter, Mp4File};
use vigil_core::packet::{Packet, StreamParams, TrackKind};
use vigil_core::pool::{BufferHandle, Pool};
use vigil_core::prebuffer::BufferConfig;
use vigil_core::settings::BufferMode;
use vigil_core::time::Time;

const FPS: i64 = 30;
/// 2 Mbit/s at 30 fps with a 1 s GOP: a ~30 KB keyframe and ~6.5 KB P-frames.
const KEY_BYTES: usize = 30_000;
const P_BYTES: usize = 6_500;

fn params() -> StreamParams {
    // The camera's own avcC, from a bundled sample.
    let sample = include_bytes!("../tests/fixtures/h264.mp4");
    Mp4File::parse(Bytes::from_static(sample))
        .expect("fixture parses")
        .params
}

fn fill(buf: &BufferHandle, secs: i64) -> Time {
    let key = Bytes::from(vec![0u8; KEY_BYTES]);
    let p = Bytes::from(vec![0u8; P_BYTES]);
    let mut t = Time::ZERO;
    for i in 0..secs * FPS {
        t = Time(i * 1_000_000 / FPS);
        let keyframe = i % FPS == 0;
        let data = if keyframe { key.clone() } else { p.clone() };
        let _ = buf.push(Packet {
            track: TrackKind::Video,
            pts: i * 3000,
            time: t,
            keyframe,
            data,
        });
    }
    t
}

fn out_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-clips");
    std::fs::create_dir_all(&d).expect("bench dir");
    d
}

fn flush_bench(c: &mut Criterion) {
    let params = params();
    let dir = out_dir();
    let mut g = c.benchmark_group("flush_5s_preroll_durable");
    g.measurement_time(Duration::from_secs(8)).sample_size(30);
    for mode in [BufferMode::Memory, BufferMode::Disk, BufferMode::Hybrid] {
        let pool = Pool::new(256 << 20);
        let cfg = BufferConfig {
            window: Duration::from_secs(5),
            mode,
            keyframe_only: false,
            hybrid_memory_bytes: 256 << 10,
            spool_dir: dir.join(format!("spool-{mode}")),
        };
        let buf = pool.register(mode.as_str(), cfg).expect("register");
        g.bench_function(mode.as_str(), |b| {
            b.iter_batched(
                || {
                    buf.clear();
                    let t = fill(&buf, 8);
                    // The previous iteration's clip, removed outside the measurement.
                    let path = dir.join(format!("clip-{mode}.mp4"));
                    let _ = std::fs::remove_file(&path);
                    (t, path)
                },
                |(t, path)| {
                    let packets = buf.flush(t).and_then(|f| f.into_packets()).expect("flush");
                    assert!(packets.len() >= 150, "a 5 s pre-roll");
                    let mut w = ClipWriter::create(&path, &params).expect("create");
                    w.write_batch(&packets).expect("write");
                    w
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

criterion_group!(benches, flush_bench);
criterion_main!(benches);
