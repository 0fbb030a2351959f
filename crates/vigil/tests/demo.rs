//! `vigil demo` as a user runs it: a real process, real time, real files, its status page.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;

fn http_get(addr: &str, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(addr).expect("connect to the status page");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut body = String::new();
    s.read_to_string(&mut body).unwrap();
    body
}

#[test]
fn demo_records_one_clip_per_camera_with_pre_roll_and_status_page() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = DemoProcess::start(dir.path(), &["--exit-after", "29"]);
    let line = demo.wait_for(&["status page on http://"], Duration::from_secs(30));
    let addr = line.rsplit("http://").next().unwrap().trim().to_owned();
    assert!(http_get(&addr, "/healthz").contains("ok"));
    // The first camera's clip opens at 8 s; by then the page shows a camera recording.
    demo.wait_for(&["lobby-h264", "clip opened"], Duration::from_secs(20));
    // The status snapshot follows the log line within a moment: poll it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (page, v) = loop {
        // The server-rendered status page (`/` is the web UI, which fetches the same facts).
        let page = http_get(&addr, "/status");
        let json = http_get(&addr, "/status.json");
        let body = &json[json.find("\r\n\r\n").unwrap() + 4..];
        let v: serde_json::Value =
            serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("{e}: {body}"));
        let ready = v["cameras"][0]["last_start_latency_ms"].as_f64().is_some();
        if ready || std::time::Instant::now() > deadline {
            break (page, v);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        page.contains("200 OK") && page.contains("lobby-h264"),
        "{page}"
    );
    assert!(page.contains("RECORDING"), "{page}");
    assert_eq!(v["cameras"].as_array().unwrap().len(), 3);
    assert!(v["pool"]["used_bytes"].as_u64().unwrap() > 0);
    let lobby = &v["cameras"][0];
    assert_eq!(lobby["name"], "lobby-h264");
    assert_eq!(lobby["state"], "RECORDING");
    assert!(
        lobby["last_start_latency_ms"].as_f64().is_some(),
        "the clip's start latency is measured: {lobby}"
    );

    let status = demo.wait_exit(Duration::from_secs(60));
    assert!(
        status.success(),
        "demo exit: {status}\n{}",
        demo.log.join("\n")
    );
    let log = demo.log.join("\n");

    // Motion 8 s → 17 s (with a return during post-roll at 13 s and an overlapping pulse),
    // post-roll 5 s, pre-roll 5 s: one clip per camera of about 19 s, closed by the post-roll.
    let clips = mp4s_under(&dir.path().join("clips"));
    assert_eq!(clips.len(), 3, "{clips:?}\n{log}");
    let closed: Vec<&String> = demo
        .log
        .iter()
        .filter(|l| l.contains("clip closed"))
        .collect();
    assert_eq!(closed.len(), 3, "{log}");
    for line in closed {
        assert_eq!(
            log_field(line, "reason"),
            Some("post_roll_expired"),
            "{line}"
        );
        let pre: f64 = log_field(line, "pre_roll_secs").unwrap().parse().unwrap();
        assert!(pre >= 5.0, "achieved pre-roll {pre} < 5: {line}");
        let path = std::path::PathBuf::from(log_field(line, "path").unwrap());
        let f = check_clip(&path);
        assert!(f.first_video_packet_key, "{}", path.display());
        let expected = pre + 9.0 + 5.0;
        assert!(
            (f.duration - expected).abs() <= GOP_SECS + 0.3,
            "{}: duration {} vs expected {expected}",
            path.display(),
            f.duration
        );
    }
    // The catalog has the same clips, complete, linked to their motion events.
    let cat = vigil::catalog::Catalog::open(&dir.path().join("catalog.db")).unwrap();
    let rows = cat.clips(&Default::default()).unwrap();
    assert_eq!(rows.len(), 3, "{rows:#?}");
    for r in &rows {
        assert_eq!(r.status, vigil::clips::ClipStatus::Complete, "{r:?}");
        assert!(
            r.pre_roll_secs >= 5.0 && r.frames > 0 && r.bytes > 0,
            "{r:?}"
        );
        assert!(dir.path().join("clips").join(&r.key).exists());
    }
    // Per camera three motion events (docs/events.md: one per source and start): the demo's,
    // its return during the post-roll, and the API pulse that came while it was on; all three
    // happened during the camera's one clip.
    let events = cat.events(&Default::default()).unwrap();
    assert_eq!(events.len(), 9, "{events:#?}");
    for r in &rows {
        let mine: Vec<_> = events.iter().filter(|e| e.camera == r.camera).collect();
        let sources: Vec<&str> = mine.iter().map(|e| e.source.as_str()).collect();
        assert_eq!(sources.len(), 3, "{mine:#?}");
        assert_eq!(
            sources.iter().filter(|s| **s == "demo").count(),
            2,
            "{mine:#?}"
        );
        assert_eq!(
            sources.iter().filter(|s| **s == "api").count(),
            1,
            "{mine:#?}"
        );
        for e in &mine {
            assert_eq!(e.kind, "motion");
            assert_eq!(e.clip_ids, [r.id], "{e:?}");
            assert!(e.end.is_some());
        }
        let overlaps: u32 = mine.iter().map(|e| e.overlapping_events).sum();
        assert_eq!(
            overlaps, 1,
            "the API pulse during the demo's motion: {mine:#?}"
        );
        assert_eq!(r.kinds.names(), ["motion"]);
    }

    // One log line per state change: each camera went BUFFERING→RECORDING→FINALIZING→RECORDING
    // →FINALIZING→BUFFERING.
    for from_to in [
        "BUFFERING -> RECORDING",
        "FINALIZING -> RECORDING",
        "FINALIZING -> BUFFERING",
    ] {
        let n = demo.log.iter().filter(|l| l.contains(from_to)).count();
        assert_eq!(n, 3, "{from_to}: {n}\n{log}");
    }
    assert_eq!(
        demo.log
            .iter()
            .filter(|l| l.contains("RECORDING -> FINALIZING"))
            .count(),
        6
    );
}
