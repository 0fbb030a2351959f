//! The camera set through the real parts: `vigil run` with three cameras streaming from the
//! RTSP test bed. One camera is restarted through the API (`POST /api/cameras/b/restart`, which
//! goes through the camera set) while the other two record: their clips go on with no gap, and
//! the restarted camera streams and records again.

mod common;
mod rtsp_support;

use std::path::Path;
use std::time::{Duration, Instant};
use vigil_core::kind::EventKind;

use common::*;
use rtsp_support::RtspServer;
use serde_json::{json, Value};

const PRE: f64 = 2.0;

fn call(addr: &str, method: &str, path: &str, body: Option<Value>) -> Value {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let headers: &[(&str, &str)] = &[("Content-Type", "application/json")];
    let (status, _, resp) = http(addr, method, path, headers, body.as_bytes());
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {}",
        String::from_utf8_lossy(&resp)
    );
    serde_json::from_slice(&resp).unwrap()
}

fn cameras(addr: &str) -> Vec<Value> {
    call(addr, "GET", "/api/cameras", None)["cameras"]
        .as_array()
        .unwrap()
        .clone()
}

fn camera(addr: &str, name: &str) -> Value {
    cameras(addr)
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap_or(Value::Null)
}

fn clips_of(addr: &str, name: &str) -> Vec<Value> {
    let mut v = call(addr, "GET", &format!("/api/recordings?camera={name}"), None)["recordings"]
        .as_array()
        .unwrap()
        .clone();
    v.reverse(); // oldest first
    v
}

fn motion(addr: &str, name: &str, action: &str) {
    call(
        addr,
        "POST",
        &format!("/api/cameras/{name}/motion"),
        Some(json!({ "action": action })),
    );
}

/// Up: every camera streaming with a full pre-buffer.
fn all_buffering(addr: &str, names: &[&str]) {
    poll_until(
        "streams up, pre-buffers full",
        Duration::from_secs(40),
        || {
            names
                .iter()
                .all(|n| {
                    let c = camera(addr, n);
                    let b = call(
                        addr,
                        "GET",
                        &format!("/api/motion_recording/buffer_stats/{n}"),
                        None,
                    );
                    c["state"] == "BUFFERING"
                        && c["stream"]["up"] == true
                        && b["duration_secs"].as_f64().unwrap_or(0.0) >= PRE
                })
                .then_some(())
        },
    );
}

/// Fetches a clip's file through the API into `dir`.
fn download(addr: &str, clip: &Value, dir: &Path) -> std::path::PathBuf {
    let id = clip["id"].as_i64().unwrap();
    let (status, _, body) = http(addr, "GET", &format!("/api/recordings/{id}/file"), &[], b"");
    assert_eq!(status, 200, "clip {id}");
    let p = dir.join(format!("clip-{id}.mp4"));
    std::fs::write(&p, body).unwrap();
    p
}

/// The largest step between consecutive video frames of a clip, in seconds.
fn largest_video_gap(path: &Path) -> f64 {
    let j = probe(path);
    let vindex = j["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .and_then(|s| s["index"].as_u64())
        .unwrap();
    let mut pts: Vec<f64> = j["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["stream_index"].as_u64() == Some(vindex))
        .filter_map(|p| p["pts_time"].as_str()?.parse().ok())
        .collect();
    pts.sort_by(f64::total_cmp);
    pts.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

#[test]
fn restarting_one_camera_leaves_the_others_recording_without_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let server = RtspServer::start(&[
        ("a", "h264.mp4"),
        ("b", "h264_aac.mp4"),
        ("c", "h265_open.mp4"),
    ]);
    let data = dir.path().join("data");
    let mut cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n\n[defaults]\npre_buffer_secs = {PRE}\npost_buffer_secs = 1\n",
        data.display()
    );
    for n in ["a", "b", "c"] {
        cfg.push_str(&format!(
            "\n[[camera]]\nname = \"{n}\"\nurl = \"{}\"\n",
            server.url(n)
        ));
    }
    let cfg_path = dir.path().join("vigil.toml");
    std::fs::write(&cfg_path, cfg).unwrap();
    let run = RunProcess::start(&cfg_path);
    let addr = run.addr.clone();
    all_buffering(&addr, &["a", "b", "c"]);

    // All three record.
    for n in ["a", "b", "c"] {
        motion(&addr, n, "start");
    }
    poll_until("all three recording", Duration::from_secs(10), || {
        ["a", "b", "c"]
            .iter()
            .all(|n| camera(&addr, n)["state"] == "RECORDING")
            .then_some(())
    });
    // Let a few fragments go by, then restart b through the camera set.
    poll_until("a few seconds recorded", Duration::from_secs(20), || {
        let c = clips_of(&addr, "a");
        (c.len() == 1
            && camera(&addr, "a")["stream"]["packets"]
                .as_u64()
                .unwrap_or(0)
                > 0)
        .then_some(())
    });
    std::thread::sleep(Duration::from_secs(2)); // the recording itself: 2 s before the restart
    let r = call(&addr, "POST", "/api/cameras/b/restart", None);
    assert_eq!(r["restarted"], true, "{r}");
    // b's clip was closed whole by the stop; a and c never left RECORDING.
    let b_first = clips_of(&addr, "b");
    assert_eq!(b_first.len(), 1, "{b_first:?}");
    assert_eq!(b_first[0]["status"], "complete", "{}", b_first[0]);
    assert_eq!(b_first[0]["close_reason"], "shutdown", "{}", b_first[0]);
    for n in ["a", "c"] {
        assert_eq!(
            camera(&addr, n)["state"],
            "RECORDING",
            "{n} during b's restart"
        );
    }
    // b is back: streaming again, its pre-buffer full, and it records again.
    all_buffering(&addr, &["b"]);
    motion(&addr, "b", "start");
    poll_until("b recording again", Duration::from_secs(10), || {
        (camera(&addr, "b")["state"] == "RECORDING").then_some(())
    });
    std::thread::sleep(Duration::from_secs(2)); // b's second clip: 2 s of motion
    for n in ["a", "b", "c"] {
        motion(&addr, n, "stop");
    }
    let done = |n: &str, count: usize| {
        poll_until(
            &format!("{n}'s clips complete"),
            Duration::from_secs(20),
            || {
                let c = clips_of(&addr, n);
                (c.len() == count && c.iter().all(|x| x["status"] == "complete")).then_some(c)
            },
        )
    };
    let (a, b, c) = (done("a", 1), done("b", 2), done("c", 1));

    for (name, clip) in [("a", &a[0]), ("c", &c[0])] {
        let p = download(&addr, clip, dir.path());
        let f = check_clip(&p);
        assert!(f.first_video_packet_key, "{name}: {f:?}");
        // Pre-roll + ≥ 2 s before the restart + the restart + b's 2 s + post-roll, in one clip.
        assert!(f.duration >= PRE + 4.0, "{name}: {f:?}");
        let gap = largest_video_gap(&p);
        assert!(
            gap < 0.5,
            "{name}: a {gap:.3} s hole in the clip across b's restart"
        );
    }
    for clip in &b {
        let p = download(&addr, clip, dir.path());
        let f = check_clip(&p);
        assert!(f.first_video_packet_key, "b: {f:?}");
        assert!(
            clip["pre_roll_secs"].as_f64().unwrap_or(0.0) >= PRE,
            "b: {clip}"
        );
    }
    run.stop();
    drop(server);
}

/// The camera set in-process: stopping one camera closes its clip, publishes `Stopped` after
/// every notice of its worker, frees its name, and leaves the other camera recording; starting
/// it again works; an unknown name is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_one_camera_in_the_set_leaves_the_other_recording() {
    use std::sync::Arc;
    use vigil::camera::CameraMsg;
    use vigil::notice::Notice;
    use vigil::runtime::{CameraSetError, Runtime};
    use vigil_core::recorder::MotionSource;

    let dir = tempfile::tempdir().unwrap();
    let config = two_file_cameras(dir.path());
    let a_config = config.cameras[0].clone();
    let rt = Runtime::start(config, Arc::new(vigil_core::time::SystemClock)).unwrap();
    let h = rt.handle();
    let mut notices = h.notices().subscribe("test", 1024);
    let h2 = h.clone();
    tokio::task::spawn_blocking(move || {
        poll_until("both buffering", Duration::from_secs(20), || {
            ["a", "b"]
                .iter()
                .all(|n| h2.camera(n).unwrap().status().buffer.duration_secs >= 1.0)
                .then_some(())
        });
        for n in ["a", "b"] {
            let msg = CameraMsg::MotionStart {
                source: MotionSource::Api,
                kind: EventKind::Motion,
                until: None,
                received: Instant::now(),
                camera_time: None,
            };
            assert!(h2.camera(n).unwrap().send(msg));
        }
        poll_until("both recording", Duration::from_secs(10), || {
            ["a", "b"]
                .iter()
                .all(|n| h2.camera(n).unwrap().status().state == "RECORDING")
                .then_some(())
        });
        h2.cameras().stop("a").unwrap();
        assert!(h2.camera("a").is_none(), "a is gone from the set");
        assert_eq!(h2.camera("b").unwrap().status().state, "RECORDING");
        assert!(matches!(
            h2.cameras().stop("a"),
            Err(CameraSetError::NotFound(_))
        ));
        h2.cameras().start(a_config.clone()).unwrap();
        assert!(matches!(
            h2.cameras().start(a_config),
            Err(CameraSetError::Exists(_))
        ));
        poll_until("a buffering again", Duration::from_secs(20), || {
            (h2.camera("a").unwrap().status().state == "BUFFERING").then_some(())
        });
        assert_eq!(h2.camera("b").unwrap().status().state, "RECORDING");
    })
    .await
    .unwrap();
    // a's clip was closed before its Stopped notice; then it started again.
    let mut seen = Vec::new();
    while let Some(n) = notices.try_recv() {
        if &*n.camera == "a" {
            seen.push(match &n.notice {
                Notice::ClipClosed(r) => format!("closed {:?}", r.close_reason),
                Notice::Stopped { .. } => "stopped".into(),
                Notice::Started { .. } => "started".into(),
                _ => continue,
            });
        }
    }
    assert_eq!(
        seen,
        ["closed Some(\"shutdown\")", "stopped", "started"],
        "{seen:?}"
    );
    rt.shutdown().await;
}
