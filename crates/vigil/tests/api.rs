//! The HTTP API against a running `vigil run` (real process, real files, real SQLite): every
//! endpoint and every error path, settings that persist and apply live, Range downloads, and
//! `/metrics` read by a Prometheus text-format parser.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const TOKEN: &str = "s3cret-token";

struct Api {
    addr: String,
}

impl Api {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let (st, _, b) = http(
            &self.addr,
            method,
            path,
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            body.as_bytes(),
        );
        let v = serde_json::from_slice(&b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&b).into()));
        (st, v)
    }
    fn get(&self, path: &str) -> Value {
        let (st, v) = self.call("GET", path, None);
        assert_eq!(st, 200, "GET {path}: {v}");
        v
    }
    fn raw(&self, path: &str, range: Option<&str>) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let auth = format!("Bearer {TOKEN}");
        let mut h = vec![("Authorization", auth.as_str())];
        if let Some(r) = range {
            h.push(("Range", r));
        }
        http(&self.addr, "GET", path, &h, b"")
    }
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    poll_until(what, limit, || f().then_some(()));
}

#[test]
fn every_endpoint_and_error_path() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_run_config(dir.path(), &format!("api_token = \"{TOKEN}\""), "");
    let run = RunProcess::start(&cfg);
    let api = Api {
        addr: run.addr.clone(),
    };

    // Auth: /api and /metrics need the token; /healthz doesn't.
    for path in ["/api/cameras", "/metrics", "/api/recordings"] {
        let (st, _, b) = http(&api.addr, "GET", path, &[], b"");
        assert_eq!(st, 401, "{path}");
        assert!(String::from_utf8_lossy(&b).contains("error"));
        let (st, _, _) = http(
            &api.addr,
            "GET",
            path,
            &[("Authorization", "Bearer nope")],
            b"",
        );
        assert_eq!(st, 401, "{path} with a wrong token");
    }
    assert_eq!(http(&api.addr, "GET", "/healthz", &[], b"").0, 200);

    // Cameras: both listed, passwords never shown.
    let cams = api.get("/api/cameras");
    assert_eq!(cams["cameras"].as_array().unwrap().len(), 2);
    assert!(!cams.to_string().contains("hunter2"), "{cams}");
    assert_eq!(cams["cameras"][0]["name"], "front");

    // Config: read, invalid value (400 naming the field), bad JSON, unknown camera.
    let c = api.get("/api/motion_recording/config/front");
    assert_eq!(c["pre_buffer_secs"], 2);
    for k in [
        "camera",
        "enabled",
        "pre_buffer_secs",
        "post_buffer_secs",
        "max_clip_secs",
        "buffer_mode",
        "keyframe_only",
    ] {
        assert!(c.get(k).is_some(), "{k} in {c}");
    }
    let (st, e) = api.call(
        "POST",
        "/api/motion_recording/config/front",
        Some(json!({"post_buffer_secs": 301})),
    );
    assert_eq!(st, 400);
    assert!(
        e["error"].as_str().unwrap().starts_with("post_buffer_secs"),
        "{e}"
    );
    let (st, e) = api.call(
        "POST",
        "/api/motion_recording/config/front",
        Some(json!({"buffer_mode": 3})),
    );
    assert_eq!(st, 400);
    assert!(
        e["error"].as_str().unwrap().starts_with("buffer_mode"),
        "{e}"
    );
    let (st, _, b) = http(
        &api.addr,
        "POST",
        "/api/motion_recording/config/front",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        b"{not json",
    );
    assert_eq!(st, 400, "{}", String::from_utf8_lossy(&b));
    assert_eq!(
        api.call("GET", "/api/motion_recording/config/nobody", None)
            .0,
        404
    );
    assert_eq!(
        api.call(
            "POST",
            "/api/motion_recording/config/nobody",
            Some(json!({}))
        )
        .0,
        404
    );
    assert_eq!(
        api.call("GET", "/api/motion_recording/stats/nobody", None)
            .0,
        404
    );
    assert_eq!(
        api.call("GET", "/api/motion_recording/buffer_stats/nobody", None)
            .0,
        404
    );
    assert_eq!(
        api.call(
            "POST",
            "/api/cameras/nobody/motion",
            Some(json!({"action": "start"}))
        )
        .0,
        404
    );
    assert_eq!(api.call("GET", "/api/nothing-here", None).0, 404);

    // A valid change applies live: the pre-buffer grows to the new window.
    let (st, c) = api.call(
        "POST",
        "/api/motion_recording/config/front",
        Some(json!({"pre_buffer_secs": 4})),
    );
    assert_eq!(st, 200, "{c}");
    assert_eq!(c["pre_buffer_secs"], 4);
    wait_until(
        "the buffer to hold the new 4 s window",
        Duration::from_secs(20),
        || {
            api.get("/api/motion_recording/buffer_stats/front")["duration_secs"]
                .as_f64()
                .unwrap()
                >= 4.0
        },
    );

    // Motion trigger: bad bodies, then a pulse that records a clip.
    for (body, field) in [
        (json!({"action": "dance"}), "action"),
        (json!({}), "action"),
        (json!({"action": "pulse", "duration_ms": 0}), "duration_ms"),
        (json!({"action": "pulse", "extra": 1}), "extra"),
    ] {
        let (st, e) = api.call("POST", "/api/cameras/front/motion", Some(body));
        assert_eq!(st, 400);
        assert!(e["error"].as_str().unwrap().starts_with(field), "{e}");
    }
    let (st, _) = api.call(
        "POST",
        "/api/cameras/front/motion",
        Some(json!({"action": "pulse", "duration_ms": 1500})),
    );
    assert_eq!(st, 202);
    let (st, _) = api.call(
        "POST",
        "/api/cameras/back%20yard/motion",
        Some(json!({"action": "start"})),
    );
    assert_eq!(st, 202);
    wait_until("back yard recording", Duration::from_secs(10), || {
        api.get("/api/motion_recording/stats/back%20yard")["state"] == "RECORDING"
    });
    let (st, _) = api.call(
        "POST",
        "/api/cameras/back%20yard/motion",
        Some(json!({"action": "stop"})),
    );
    assert_eq!(st, 202);
    wait_until("two complete recordings", Duration::from_secs(30), || {
        let r = api.get("/api/recordings");
        let v = r["recordings"].as_array().unwrap();
        v.len() == 2 && v.iter().all(|c| c["status"] == "complete")
    });

    // Stats, buffer stats, pool, events.
    let s = api.get("/api/motion_recording/stats/front");
    assert_eq!(s["clips_recorded"], 1);
    assert_eq!(s["motion_events"], 1);
    assert!(s["last_start_latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(s["last_event_at"].as_str().unwrap().ends_with('Z'));
    let b = api.get("/api/motion_recording/buffer_stats/front");
    for k in [
        "mode",
        "packets",
        "bytes",
        "duration_secs",
        "keyframes",
        "dropped_packets",
        "dropped_bytes",
        "peak_bytes",
        "flushes",
    ] {
        assert!(b.get(k).is_some(), "{k} in {b}");
    }
    assert_eq!(b["flushes"], 1);
    let p = api.get("/api/buffer_pool");
    assert_eq!(p["buffers"], 2);
    assert!(p["used_bytes"].as_u64().unwrap() <= p["limit_bytes"].as_u64().unwrap());
    let ev = api.get("/api/events?camera=front");
    assert_eq!(ev["events"].as_array().unwrap().len(), 1, "{ev}");
    assert_eq!(ev["events"][0]["source"], "api");

    // Recordings: filters and their errors.
    let all = api.get("/api/recordings");
    let recs = all["recordings"].as_array().unwrap();
    let front = recs
        .iter()
        .find(|r| r["camera"] == "front")
        .unwrap()
        .clone();
    assert!(
        front["pre_roll_secs"].as_f64().unwrap() >= 4.0,
        "new window applied: {front}"
    );
    for k in [
        "id",
        "camera",
        "start",
        "end",
        "duration_secs",
        "pre_roll_secs",
        "bytes",
        "video_codec",
        "width",
        "height",
        "status",
    ] {
        assert!(front.get(k).is_some(), "{k} in {front}");
    }
    assert_eq!(
        api.get("/api/recordings?camera=front")["recordings"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        api.get("/api/recordings?limit=1")["recordings"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let start = front["start"].as_str().unwrap();
    let end = front["end"].as_str().unwrap();
    let q = format!("/api/recordings?camera=front&from={start}&to={end}");
    assert_eq!(api.get(&q)["recordings"].as_array().unwrap().len(), 1);
    let q = format!("/api/recordings?camera=front&to={start}");
    assert_eq!(
        api.get(&q)["recordings"].as_array().unwrap().len(),
        0,
        "to is exclusive"
    );
    for (q, st) in [
        ("/api/recordings?from=yesterday", 400),
        ("/api/recordings?limit=0", 400),
        ("/api/recordings?camera=nobody", 404),
        ("/api/recordings?colour=red", 400),
        ("/api/recordings/abc", 400),
        ("/api/recordings/99999", 404),
        ("/api/recordings/99999/file", 404),
        ("/api/events?to=never", 400),
    ] {
        assert_eq!(api.call("GET", q, None).0, st, "{q}");
    }

    // One recording, and its file with Range.
    let id = front["id"].as_i64().unwrap();
    assert_eq!(api.get(&format!("/api/recordings/{id}"))["id"], id);
    let (st, h, full) = api.raw(&format!("/api/recordings/{id}/file"), None);
    assert_eq!(st, 200);
    assert_eq!(header(&h, "content-type"), Some("video/mp4"));
    assert_eq!(header(&h, "accept-ranges"), Some("bytes"));
    assert_eq!(full.len() as u64, front["bytes"].as_u64().unwrap());
    let len = full.len();
    let (st, h, b) = api.raw(&format!("/api/recordings/{id}/file"), Some("bytes=0-99"));
    assert_eq!(st, 206);
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes 0-99/{len}").as_str())
    );
    assert_eq!(b, full[..100]);
    let (st, _, b) = api.raw(
        &format!("/api/recordings/{id}/file"),
        Some("bytes=1000-1999"),
    );
    assert_eq!(st, 206);
    assert_eq!(b, full[1000..2000]);
    let (st, h, b) = api.raw(&format!("/api/recordings/{id}/file"), Some("bytes=-500"));
    assert_eq!(st, 206);
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes {}-{}/{len}", len - 500, len - 1).as_str())
    );
    assert_eq!(b, full[len - 500..]);
    let (st, h, _) = api.raw(
        &format!("/api/recordings/{id}/file"),
        Some(&format!("bytes={len}-")),
    );
    assert_eq!(st, 416);
    assert_eq!(
        header(&h, "content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    let saved = dir.path().join("download.mp4");
    std::fs::write(&saved, &full).unwrap();
    assert!(check_clip(&saved).first_video_packet_key);

    // Storage.
    let st = api.get("/api/storage");
    assert!(st["disk"]["total_bytes"].as_u64().unwrap() > 0);
    assert_eq!(st["clips"], 2);
    assert!(st["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["camera"] == "front" && c["clips"] == 1));
    assert!(st["alerts"].as_array().unwrap().is_empty());

    // Metrics, through a Prometheus text-format parser.
    let (code, _, body) = api.raw("/metrics", None);
    assert_eq!(code, 200);
    let text = String::from_utf8(body).unwrap();
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("valid Prometheus text");
    let value = |name: &str, camera: &str| -> f64 {
        let s = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get("camera") == Some(camera))
            .unwrap_or_else(|| panic!("{name}{{camera={camera}}} in\n{text}"));
        match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: {other:?}"),
        }
    };
    assert_eq!(value("vigil_clips_total", "front"), 1.0);
    assert_eq!(value("vigil_motion_events_total", "back yard"), 1.0);
    assert!(value("vigil_packets_received_total", "front") > 100.0);
    assert!(value("vigil_last_pre_roll_seconds", "front") >= 4.0);
    let hist = scrape
        .samples
        .iter()
        .find(|s| {
            s.metric == "vigil_motion_start_latency_seconds"
                && s.labels.get("camera") == Some("front")
        })
        .expect("latency histogram");
    match &hist.value {
        prometheus_parse::Value::Histogram(buckets) => {
            assert_eq!(
                buckets.last().unwrap().count,
                1.0,
                "one clip start observed"
            );
        }
        other => panic!("histogram expected: {other:?}"),
    }
    let pool_used = scrape
        .samples
        .iter()
        .find(|s| s.metric == "vigil_pool_used_bytes")
        .unwrap();
    assert!(matches!(pool_used.value, prometheus_parse::Value::Gauge(v) if v >= 0.0));

    // Protect, then delete: file and row go; a second delete is 404.
    let (st, v) = api.call(
        "POST",
        &format!("/api/recordings/{id}/protect"),
        Some(json!({"protected": true})),
    );
    assert_eq!((st, v["protected"].clone()), (200, json!(true)));
    assert_eq!(api.get(&format!("/api/recordings/{id}"))["protected"], true);
    let path = dir.path().join("clips");
    let before = mp4s_under(&path).len();
    let (st, _) = api.call("DELETE", &format!("/api/recordings/{id}"), None);
    assert_eq!(st, 200);
    assert_eq!(mp4s_under(&path).len(), before - 1);
    assert_eq!(
        api.call("GET", &format!("/api/recordings/{id}"), None).0,
        404
    );
    assert_eq!(
        api.call("DELETE", &format!("/api/recordings/{id}"), None).0,
        404
    );

    // Settings survive a restart.
    run.stop();
    let run = RunProcess::start(&cfg);
    let api = Api {
        addr: run.addr.clone(),
    };
    assert_eq!(
        api.get("/api/motion_recording/config/front")["pre_buffer_secs"],
        4
    );
    assert_eq!(
        api.get("/api/motion_recording/config/back%20yard")["pre_buffer_secs"],
        2
    );
    assert_eq!(
        api.get("/api/recordings")["recordings"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    run.stop();
}
