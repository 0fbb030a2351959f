//! Cameras added, changed and removed through the API while vigil records others
//! (docs/cameras.md): a `vigil run` with two config-file cameras, the added camera's streams from
//! the real RTSP test server.

mod common;
mod rtsp_support;

use std::time::Duration;

use serde_json::{json, Value};

fn call(addr: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let b = body.map(|b| b.to_string()).unwrap_or_default();
    let (st, _, out) = common::http(addr, method, path, &[], b.as_bytes());
    let v = serde_json::from_slice(&out).unwrap_or(Value::Null);
    (st, v)
}

fn get(addr: &str, path: &str) -> Value {
    let (st, v) = call(addr, "GET", path, None);
    assert_eq!(st, 200, "GET {path}: {v}");
    v
}

fn names(addr: &str) -> Vec<String> {
    get(addr, "/api/cameras")["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

fn camera_status(addr: &str, name: &str) -> Value {
    get(addr, "/api/cameras")["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

fn complete_clips(addr: &str, camera: &str) -> Vec<Value> {
    get(addr, &format!("/api/recordings?camera={camera}"))["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "complete")
        .cloned()
        .collect()
}

/// The longest gap between two consecutive video frames of an MP4 (seconds).
fn longest_gap(file: &std::path::Path) -> f64 {
    let j = common::probe(file);
    let video = j["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .unwrap()["index"]
        .as_u64();
    let mut t: Vec<f64> = j["packets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["stream_index"].as_u64() == video)
        .filter_map(|p| p["pts_time"].as_str()?.parse().ok())
        .collect();
    t.sort_by(f64::total_cmp);
    t.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

#[test]
fn cameras_are_added_changed_and_deleted_while_the_others_record() {
    let dir = tempfile::tempdir().unwrap();
    let rtsp = rtsp_support::RtspServer::start(&[("one", "h264.mp4"), ("two", "h265_open.mp4")]);
    let config = common::write_run_config(dir.path(), "", "");
    let run = common::RunProcess::start(&config);
    let a = run.addr.clone();
    common::poll_until("front's pre-buffer", Duration::from_secs(20), || {
        let b = get(&a, "/api/motion_recording/buffer_stats/front");
        (b["duration_secs"].as_f64() >= Some(2.0)).then_some(())
    });
    // front records all along: its clip must show no gap.
    common::post_motion(&a, "front", r#"{"action":"pulse","duration_ms":15000}"#);

    // Bad bodies: 400 naming the key, nothing changes.
    for (body, key) in [
        (json!({"name": "garage"}), "url"),
        (json!({"name": "garage", "url": "http://x/"}), "url"),
        (
            json!({"name": "garage", "url": "rtsp://x/", "pre_buffer_secs": 99}),
            "pre_buffer_secs",
        ),
        (
            json!({"name": "garage", "url": "rtsp://x/", "pre_buffer_secs": "ten"}),
            "pre_buffer_secs",
        ),
        (
            json!({"name": "garage", "url": "rtsp://x/", "colour": "red"}),
            "colour",
        ),
        (
            json!({"name": "garage", "url": "rtsp://x/", "detect_masks": [[[0, 0], [1, 0]]]}),
            "detect_masks",
        ),
        (json!(["garage"]), "body"),
    ] {
        let (st, e) = call(&a, "POST", "/api/cameras", Some(body.clone()));
        assert_eq!(st, 400, "{body}: {e}");
        let msg = e["error"].as_str().unwrap();
        assert!(msg.starts_with(&format!("{key}:")), "{body}: {msg}");
    }
    let (st, e) = call(
        &a,
        "POST",
        "/api/cameras",
        Some(json!({"name": "front", "url": "rtsp://x/"})),
    );
    assert_eq!(st, 409, "{e}");
    assert_eq!(names(&a), ["front", "back yard"]);

    // Added: it records within seconds, its password never shown.
    let (st, c) = call(
        &a,
        "POST",
        "/api/cameras",
        Some(json!({
            "name": "garage", "url": rtsp.url("one"), "username": "u", "password": "garage-secret",
            "pre_buffer_secs": 1, "post_buffer_secs": 1, "max_age_days": 3
        })),
    );
    assert_eq!(st, 201, "{c}");
    assert_eq!(c["origin"], "api");
    assert_eq!(c["password_set"], true);
    assert_eq!(c["pre_buffer_secs"], 1);
    assert!(!c.to_string().contains("garage-secret"), "{c}");
    assert_eq!(names(&a), ["front", "back yard", "garage"]);
    common::poll_until("garage's pre-buffer", Duration::from_secs(20), || {
        let b = get(&a, "/api/motion_recording/buffer_stats/garage");
        (b["duration_secs"].as_f64() >= Some(1.0)).then_some(())
    });
    common::post_motion(&a, "garage", r#"{"action":"pulse","duration_ms":500}"#);
    let first = common::poll_until("garage's clip", Duration::from_secs(20), || {
        complete_clips(&a, "garage").pop()
    });
    assert_eq!(first["video_codec"], "h264");
    let storage = get(&a, "/api/storage");
    assert_eq!(
        storage["retention"]["camera_max_age_days"]["garage"], 3,
        "{storage}"
    );

    // Changed: GET's keys back with a new URL; the password stays, the camera reconnects to
    // the new stream.
    let mut keys = get(&a, "/api/cameras/garage");
    keys["url"] = json!(rtsp.url("two"));
    let (st, c) = call(&a, "PUT", "/api/cameras/garage", Some(keys.clone()));
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["password_set"], true);
    common::poll_until("garage on the new stream", Duration::from_secs(20), || {
        let s = camera_status(&a, "garage");
        (s["stream"]["video_codec"] == "h265").then_some(())
    });
    // A bad PUT changes nothing.
    keys["transport"] = json!("pigeon");
    let (st, e) = call(&a, "PUT", "/api/cameras/garage", Some(keys));
    assert_eq!(st, 400, "{e}");
    assert!(
        e["error"].as_str().unwrap().starts_with("transport:"),
        "{e}"
    );
    assert_eq!(get(&a, "/api/cameras/garage")["url"], rtsp.url("two"));
    // A config-file camera can be changed but neither renamed nor deleted.
    let mut front = get(&a, "/api/cameras/front");
    assert_eq!(front["origin"], "config");
    front["name"] = json!("porch");
    let (st, e) = call(&a, "PUT", "/api/cameras/front", Some(front));
    assert_eq!(st, 409, "{e}");
    let (st, e) = call(&a, "DELETE", "/api/cameras/front", None);
    assert_eq!(st, 409, "{e}");
    assert!(e["error"].as_str().unwrap().contains("config file"), "{e}");

    // front's clip, recorded through all of it, has no gap.
    let clip = common::poll_until("front's clip", Duration::from_secs(40), || {
        complete_clips(&a, "front").pop()
    });
    let (f, facts) = common::download_clip(&a, &clip, dir.path(), "front.mp4");
    assert!(facts.duration >= 14.0, "{facts:?}");
    let gap = longest_gap(&f);
    assert!(gap < 0.5, "front's clip has a {gap} s gap");

    // Kept over a restart of vigil.
    run.stop();
    let run = common::RunProcess::start(&config);
    let a = run.addr.clone();
    assert_eq!(names(&a), ["front", "back yard", "garage"]);
    let g = get(&a, "/api/cameras/garage");
    assert_eq!(
        (g["origin"].clone(), g["url"].clone()),
        (json!("api"), json!(rtsp.url("two")))
    );

    // Deleted: gone from the API, its clips kept.
    let (st, d) = call(&a, "DELETE", "/api/cameras/garage", None);
    assert_eq!(st, 200, "{d}");
    assert_eq!(d["clips_deleted"], 0);
    assert_eq!(names(&a), ["front", "back yard"]);
    let (st, _) = call(&a, "GET", "/api/cameras/garage", None);
    assert_eq!(st, 404);
    assert!(!complete_clips(&a, "garage").is_empty(), "its clips stay");
    // Added again and deleted with its clips.
    let (st, _) = call(
        &a,
        "POST",
        "/api/cameras",
        Some(json!({"name": "garage", "url": rtsp.url("one")})),
    );
    assert_eq!(st, 201);
    let (st, d) = call(&a, "DELETE", "/api/cameras/garage?delete_clips=true", None);
    assert_eq!(st, 200, "{d}");
    assert!(d["clips_deleted"].as_u64() >= Some(1), "{d}");
    assert!(complete_clips(&a, "garage").is_empty());
    run.stop();
}
