//! A slow disk on one camera never holds up another, through the real pipeline (pre-buffer, pool,
//! recorder, fMP4 writer) under simulated time: camera A's spool writer stops in its first write
//! (a gate the test opens) while camera B, buffering on disk in the same pool, records a whole clip
//! with its pre-roll, checked with ffprobe and ffmpeg.
//!
//! B finishing is awaited on a channel with a generous bound only so that a regression (B stuck
//! behind A's write) fails with a message instead of hanging; nothing here measures speed.

mod common;

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::*;
use vigil_core::pool::Pool;
use vigil_core::prebuffer::{FileWriter, SpoolWriter};
use vigil_core::recorder::MotionSource;
use vigil_core::settings::{BufferMode, RecordingSettings};

/// How long camera B may take before the test calls it stuck.
const STUCK: Duration = Duration::from_secs(60);

/// A spool writer that stops its first write until the test opens the gate.
struct Gate {
    armed: AtomicBool,
    stopped: Sender<()>,
    open: Mutex<Receiver<()>>,
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

#[test]
fn a_camera_stuck_on_its_spool_does_not_stop_another_from_recording() {
    let dir = tempfile::tempdir().unwrap();
    let pool = Pool::new(50 << 20);
    let settings = RecordingSettings {
        pre_buffer_secs: 3,
        post_buffer_secs: 2,
        buffer_mode: BufferMode::Disk,
        ..RecordingSettings::default()
    };
    let (stopped_tx, stopped) = mpsc::channel();
    let (open, open_rx) = mpsc::channel();
    let gate = Arc::new(Gate {
        armed: AtomicBool::new(true),
        stopped: stopped_tx,
        open: Mutex::new(open_rx),
    });
    let (dir, pool, settings) = (dir.path(), &pool, &settings);

    thread::scope(|s| {
        let a = s.spawn(|| {
            let mut cam =
                SimCamera::with_pool(SAMPLE_H264, settings.clone(), dir, pool.clone(), "a");
            cam.pipeline.buffer().set_spool_writer(gate.clone());
            cam.run_until(10.0);
            let stats = cam.pipeline.buffer().stats();
            cam.shutdown();
            stats
        });
        assert!(
            stopped.recv_timeout(STUCK).is_ok(),
            "camera A's spool write never started"
        );

        // B, on its own thread: motion from 6 s to 8 s while A's write is stopped.
        let (done_tx, done) = mpsc::channel();
        s.spawn(move || {
            let mut cam =
                SimCamera::with_pool(SAMPLE_H264, settings.clone(), dir, pool.clone(), "b");
            cam.run_until(6.0);
            cam.motion_start(MotionSource::Api);
            cam.run_until(8.0);
            cam.motion_end(MotionSource::Api);
            cam.run_until(12.0);
            cam.shutdown();
            let _ = done_tx.send(cam.closed);
        });
        let closed = match done.recv_timeout(STUCK) {
            Ok(closed) => closed,
            Err(_) => {
                let _ = open.send(());
                panic!("camera B was held up by camera A's stuck spool write");
            }
        };
        assert_eq!(closed.len(), 1, "exactly one clip: {closed:#?}");
        let rec = &closed[0];
        assert_eq!(rec.close_reason, Some("post_roll_expired"));
        let facts = check_clip(&rec.path);
        assert!(facts.first_video_packet_key);
        assert!(
            rec.pre_roll_secs >= 3.0 && rec.pre_roll_secs <= 3.0 + GOP_SECS + 0.01,
            "achieved pre-roll {} for configured 3",
            rec.pre_roll_secs
        );

        let _ = open.send(());
        let sa = a.join().unwrap();
        assert_eq!(sa.spool_errors, 0);
        assert!(sa.packets > 0, "A buffers again once its write finishes");
    });
}
