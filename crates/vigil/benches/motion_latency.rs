//! Motion event in → the new clip's first bytes, pre-roll included, durable on disk: p50/p99 over
//! 100 events, for each pre-buffer mode. (A plain `harness = false` bench that prints figures.)
//!
//! The camera pipeline is the real one (pre-buffer in the pool, recorder, fMP4 writer, fsyncs on
//! the real disk under target/); the stream is the bundled 640x360 H.264 sample, fed with its own
//! timestamps as "now" so each event finds a full 5 s pre-buffer. What is timed is the handling of
//! the motion start: recorder decision, clip file creation (fsync + directory fsync), pre-roll
//! drain and write, one fsync.
//!
//! Run: `cargo bench -p vigil --bench motion_latency`

use std::time::{Duration, Instant};

use bytes::Bytes;
use vigil::camera::CameraPipeline;
use vigil::clips::ClipStore;
use vigil::ingest::file::LoopingFile;
use vigil::ingest::SourceEvent;
use vigil_core::fmp4::Mp4File;
use vigil_core::kind::EventKind;
use vigil_core::pool::Pool;
use vigil_core::prebuffer::BufferConfig;
use vigil_core::recorder::MotionSource;
use vigil_core::settings::{BufferMode, RecordingSettings};
use vigil_core::time::{Now, Time};

const SAMPLE: &[u8] = include_bytes!("../assets/samples/demo_h264.mp4");
const EVENTS: usize = 100;

fn run(mode: BufferMode) -> Vec<f64> {
    let dir =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-latency");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let settings = RecordingSettings {
        pre_buffer_secs: 5,
        post_buffer_secs: 0,
        buffer_mode: mode,
        ..Default::default()
    };
    let pool = Pool::new(50 << 20);
    let spool = dir.join("spool");
    let buffer = pool
        .register("cam", BufferConfig::from_settings(&settings, spool.clone()))
        .unwrap();
    let mut p = CameraPipeline::new(
        "cam",
        settings,
        buffer,
        ClipStore::new(dir.join("clips")),
        spool,
    );
    let t0 = Time::from_secs(1_795_561_113);
    let mut src = LoopingFile::new(Mp4File::parse(Bytes::from_static(SAMPLE)).unwrap(), t0);
    p.on_source(SourceEvent::Params(src.params()), Now::at(t0));
    let mut now = t0;
    let mut feed = |p: &mut CameraPipeline, secs: f64, now: &mut Time| {
        let until = now.plus(Duration::from_secs_f64(secs));
        while *now < until {
            let pkt = src.next_packet().unwrap();
            *now = pkt.time;
            if p.next_deadline().is_some_and(|d| d <= *now) {
                p.tick(Now::at(*now));
            }
            p.on_source(SourceEvent::Packet(pkt), Now::at(*now));
        }
    };
    let mut out = Vec::with_capacity(EVENTS);
    for _ in 0..EVENTS {
        feed(&mut p, 6.0, &mut now);
        let t = Instant::now();
        assert!(
            p.motion_start(MotionSource::Api, EventKind::Motion, None, Now::at(now)),
            "a clip opened"
        );
        out.push(t.elapsed().as_secs_f64() * 1000.0);
        feed(&mut p, 0.5, &mut now);
        p.motion_end(MotionSource::Api, EventKind::Motion, Now::at(now));
        feed(&mut p, 1.1, &mut now); // post-roll 0: closes at the next keyframe
        p.take_notices();
    }
    p.shutdown(Now::at(now));
    let _ = std::fs::remove_dir_all(&dir);
    out
}

fn pct(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s[((s.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing: run a short pass then.
    println!(
        "motion event -> pre-roll durable on disk, {EVENTS} events, 5 s pre-roll of 640x360 H.264:"
    );
    for mode in [BufferMode::Memory, BufferMode::Disk, BufferMode::Hybrid] {
        let v = run(mode);
        println!(
            "  {:<7} p50 {:6.2} ms   p99 {:6.2} ms   max {:6.2} ms",
            mode.as_str(),
            pct(&v, 0.50),
            pct(&v, 0.99),
            pct(&v, 1.0)
        );
    }
}
