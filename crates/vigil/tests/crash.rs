//! Crash safety: SIGKILL a real vigil in the middle of writing a clip; the clip is then recovered
//! to its last whole fragment and decodes cleanly.

mod common;

use std::time::Duration;

use common::*;

#[test]
fn sigkill_mid_clip_then_recovery_leaves_a_clean_clip() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = DemoProcess::start(dir.path(), &["--exit-after", "120"]);
    let opened = demo.wait_for(&["lobby-h264", "clip opened"], Duration::from_secs(40));
    let path = std::path::PathBuf::from(log_field(&opened, "path").unwrap());
    // Poll until the pre-roll and a couple of live fragments are on disk, then kill -9.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut size = 0;
    while std::time::Instant::now() < deadline {
        size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        if size > 500_000 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(size > 500_000, "clip grew to only {size} bytes");
    demo.child.kill().unwrap(); // SIGKILL
    demo.child.wait().unwrap();

    // A killed clip has no closing index and no duration yet; plain ffprobe may still read it,
    // but the real check is what the next start does to it.
    let mut again = DemoProcess::start(dir.path(), &["--exit-after", "0.5"]);
    let status = again.wait_exit(Duration::from_secs(30));
    assert!(status.success());
    let f = check_clip(&path);
    assert!(f.first_video_packet_key);
    assert!(f.duration >= 5.0, "pre-roll survived: {}", f.duration);
    // The duration now matches the frames actually kept.
    assert!(
        (f.duration - f.video_packets as f64 / 30.0).abs() < 0.05,
        "duration {} for {} frames",
        f.duration,
        f.video_packets
    );

    // The catalog knows: the killed clip's row is `recovered`, with the duration kept; every
    // row has its file and every file its row.
    let cat = vigil::catalog::Catalog::open(&dir.path().join("catalog.db")).unwrap();
    let rows = cat.clips(&Default::default()).unwrap();
    let root = dir.path().join("clips");
    let killed = rows
        .iter()
        .find(|r| root.join(&r.key) == path)
        .expect("a row for the killed clip");
    assert_eq!(killed.status, vigil::clips::ClipStatus::Recovered);
    assert!(
        (killed.duration_secs - f.duration).abs() < 0.1,
        "{killed:?}"
    );
    assert!(
        killed.start.is_some() && killed.pre_roll_secs >= 5.0,
        "{killed:?}"
    );
    let files = mp4s_under(&root);
    assert_eq!(files.len(), rows.len(), "{files:?} vs {rows:#?}");
    for r in &rows {
        assert!(root.join(&r.key).exists(), "{r:?}");
    }
    drop(cat);

    // And the recover command itself: on a torn copy (cut mid-fragment) it cuts back cleanly.
    let torn = dir.path().join("torn.mp4");
    let data = std::fs::read(&path).unwrap();
    std::fs::write(&torn, &data[..data.len() - 7_777]).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigil"))
        .arg("recover")
        .arg(&torn)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("torn tail cut"));
    let g = check_clip(&torn);
    assert!(g.first_video_packet_key);
    assert!(g.video_packets < f.video_packets);
}
