//! A full disk, for real: two cameras record onto a 3 MiB tmpfs until it is full. The write
//! error closes each clip valid and raises an alert, buffering goes on, retention makes room, and
//! recording resumes by itself in a new file of the same event. The catalog stays consistent.
//! (Mounting needs root, which CI has.)

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use vigil::catalog::{Catalog, CatalogWriter};
use vigil::clips::ClipStatus;
use vigil::notice::Notice;
use vigil::retention::{Policy, Retention};
use vigil_core::pool::Pool;
use vigil_core::recorder::MotionSource;
use vigil_core::settings::RecordingSettings;

/// A tmpfs mounted for the test's lifetime.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .expect("mount runs");
        assert!(
            out.status.success(),
            "mounting a tmpfs needs root (CI runs as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

#[test]
fn full_disk_closes_clips_valid_then_recording_resumes_after_retention() {
    let dir = tempfile::tempdir().unwrap();
    let _fs = Tmpfs::mount(&dir.path().join("clips"), "3m");
    let cat = Arc::new(Catalog::open(&dir.path().join("catalog.db")).unwrap());
    let pool = Pool::new(50 << 20);
    let settings = RecordingSettings {
        pre_buffer_secs: 2,
        post_buffer_secs: 1,
        ..Default::default()
    };
    let mut cams: Vec<SimCamera> = ["a", "b"]
        .iter()
        .map(|n| SimCamera::with_pool(SAMPLE_H264, settings.clone(), dir.path(), pool.clone(), n))
        .collect();
    let mut writer = CatalogWriter::new(cat.clone(), dir.path().join("clips"));
    let names: [std::sync::Arc<str>; 2] = ["a".into(), "b".into()];
    let mut seen: Vec<usize> = vec![0, 0];
    let mut pump = |cams: &mut Vec<SimCamera>, secs: f64| {
        // Both cameras advance together, a second at a time.
        let mut t = cams[0].mono().secs_since(cams[0].start);
        while t < secs {
            t = (t + 1.0).min(secs);
            for (i, c) in cams.iter_mut().enumerate() {
                c.run_until(t);
                for n in &c.notices[seen[i]..] {
                    writer.apply(&names[i], n);
                }
                seen[i] = c.notices.len();
            }
        }
    };
    pump(&mut cams, 3.0);
    for c in cams.iter_mut() {
        c.motion_start(MotionSource::Onvif);
    }
    // ~62 KB/s per camera: 3 MiB is full within ~30 s of recording.
    pump(&mut cams, 40.0);
    let failed = |c: &SimCamera| {
        c.notices
            .iter()
            .filter(|n| matches!(n, Notice::WriteFailed { .. }))
            .count()
    };
    assert!(cams.iter().any(|c| failed(c) > 0), "the disk filled up");
    for c in &cams {
        for r in &c.closed {
            let f = check_clip(&r.path);
            assert!(f.first_video_packet_key, "{}", r.path.display());
        }
    }
    let broken: Vec<_> = cams
        .iter()
        .flat_map(|c| c.closed.iter())
        .filter(|r| r.close_reason == Some("write_error"))
        .collect();
    let why: Vec<String> = cams
        .iter()
        .flat_map(|c| c.notices.iter())
        .filter_map(|n| match n {
            Notice::WriteFailed { message, .. } => Some(message.clone()),
            Notice::ClipClosed(r) => {
                Some(format!("closed {:?} {} frames", r.close_reason, r.frames))
            }
            Notice::ClipDiscarded(r) => Some(format!("discarded {:?}", r.close_reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        broken.len(),
        2,
        "each camera's clip was closed by the write error: {why:#?}"
    );
    for r in &broken {
        assert!(r.frames > 300, "closed valid with what it had: {r:?}");
    }
    for c in &cams {
        assert!(
            c.pipeline.counters().packets_in > 1000,
            "the stream kept flowing"
        );
        if failed(c) > 0 {
            assert!(c.pipeline.counters().write_errors > 0);
        }
    }

    // Retention's turn: keep at most 1 MiB of clips.
    let retention = Retention::new(
        cat.clone(),
        dir.path().join("clips"),
        Policy {
            max_bytes: Some(1 << 20),
            ..Default::default()
        },
    );
    let deleted = retention.run(cams[0].clocks().wall);
    assert!(!deleted.is_empty());
    let closed_before: Vec<usize> = cams.iter().map(|c| c.closed.len()).collect();
    let resumed = |c: &SimCamera| {
        c.notices
            .iter()
            .filter(|n| matches!(n, Notice::ClipOpened(r) if r.event == 1))
            .count()
    };
    let opened_before: Vec<usize> = cams.iter().map(resumed).collect();
    // Motion is still on: within a retry period and a GOP, recording resumes by itself.
    pump(&mut cams, 48.0);
    for (i, c) in cams.iter().enumerate() {
        assert!(
            resumed(c) > opened_before[i],
            "camera {i} resumed recording in a new file"
        );
    }
    for c in cams.iter_mut() {
        c.motion_end(MotionSource::Onvif);
    }
    pump(&mut cams, 52.0);
    for (i, c) in cams.iter().enumerate() {
        assert!(c.closed.len() > closed_before[i]);
        let last = c.closed.last().unwrap();
        assert!(check_clip(&last.path).first_video_packet_key);
    }
    // The catalog agrees with the files: nothing to reconcile.
    let report = cat
        .reconcile(&dir.path().join("clips"), &["a".into(), "b".into()])
        .unwrap();
    let rows = cat.clips(&Default::default()).unwrap();
    assert!(
        rows.iter().all(|r| r.status == ClipStatus::Complete),
        "{rows:#?}"
    );
    assert_eq!(report, Default::default(), "{report:?}");
}
