//! Event kinds through a real `vigil run` (docs/events.md): events of each kind from the API's
//! motion trigger are stored with their kind, a clip carries the kinds that happened during it,
//! `record_on` decides which kinds record (changed live through the config API), and the kind
//! filters and metrics see it all. The ONVIF side (camera analytics → kinds) is in
//! `onvif_kinds.rs`.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const CAM: &str = "back%20yard";

fn get(addr: &str, path: &str) -> Value {
    let (st, _, body) = http(addr, "GET", path, &[], b"");
    assert_eq!(st, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn post(addr: &str, path: &str, body: Value) -> (u16, Value) {
    let (st, _, b) = http(addr, "POST", path, &[], body.to_string().as_bytes());
    (st, serde_json::from_slice(&b).unwrap_or(Value::Null))
}

fn motion(addr: &str, body: Value) {
    let (st, v) = post(addr, &format!("/api/cameras/{CAM}/motion"), body);
    assert_eq!(st, 202, "{v}");
}

fn list(v: &Value, key: &str) -> Vec<Value> {
    v[key].as_array().cloned().unwrap_or_default()
}

/// Events of `kind` once there are `n` and all have ended.
fn ended_events(addr: &str, kind: &str, n: usize) -> Vec<Value> {
    poll_until(
        &format!("{n} ended {kind} events"),
        Duration::from_secs(30),
        || {
            let ev = list(
                &get(addr, &format!("/api/events?camera={CAM}&kind={kind}")),
                "events",
            );
            (ev.len() == n && ev.iter().all(|e| !e["end"].is_null())).then_some(ev)
        },
    )
}

/// The clips once there are `n`, all complete.
fn complete_clips(addr: &str, n: usize) -> Vec<Value> {
    poll_until(
        &format!("{n} complete clips"),
        Duration::from_secs(30),
        || {
            let c = list(
                &get(addr, &format!("/api/recordings?camera={CAM}")),
                "recordings",
            );
            (c.len() == n && c.iter().all(|r| r["status"] == "complete")).then_some(c)
        },
    )
}

fn wait_buffered(addr: &str) {
    poll_until("2 s buffered", Duration::from_secs(20), || {
        let b = get(addr, &format!("/api/motion_recording/buffer_stats/{CAM}"));
        (b["duration_secs"].as_f64().unwrap_or(0.0) >= 2.0).then_some(())
    });
}

#[test]
fn kinds_are_stored_recorded_per_record_on_and_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunProcess::start(&write_run_config(dir.path(), "", ""));
    let a = run.addr.as_str();
    wait_buffered(a);

    // The defaults: record_on is every kind but input.
    let cfg = get(a, &format!("/api/motion_recording/config/{CAM}"));
    assert_eq!(cfg["pulse_secs"], 5);
    assert_eq!(cfg["record_on"].as_array().unwrap().len(), 10, "{cfg}");
    assert!(!cfg["record_on"]
        .as_array()
        .unwrap()
        .contains(&json!("input")));

    // A person: a clip whose kinds say so, and its event linked to it.
    motion(
        a,
        json!({"action": "pulse", "kind": "person", "duration_ms": 1500}),
    );
    let person = ended_events(a, "person", 1);
    let clips = complete_clips(a, 1);
    assert_eq!(clips[0]["kinds"], json!(["person"]), "{clips:?}");
    assert_eq!(person[0]["clip_ids"], json!([clips[0]["id"]]));
    assert_eq!(person[0]["source"], "api");
    assert_eq!(clips[0]["event_id"], person[0]["id"]);

    // An input (not in record_on): an event, no clip.
    motion(
        a,
        json!({"action": "pulse", "kind": "input", "duration_ms": 300}),
    );
    let input = ended_events(a, "input", 1);
    assert_eq!(input[0]["clip_ids"], json!([]));
    assert_eq!(complete_clips(a, 1).len(), 1);

    // Motion and a vehicle overlapping: one clip with both kinds, two events.
    motion(a, json!({"action": "start"}));
    motion(
        a,
        json!({"action": "pulse", "kind": "vehicle", "duration_ms": 500}),
    );
    let vehicle = ended_events(a, "vehicle", 1);
    let cam = get(a, "/api/cameras")["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "back yard")
        .cloned()
        .unwrap();
    assert_eq!(cam["active_kinds"], json!(["motion"]), "{cam}");
    motion(a, json!({"action": "stop"}));
    let motion_ev = ended_events(a, "motion", 1);
    let clips = complete_clips(a, 2);
    let both = &clips[0];
    assert_eq!(both["kinds"], json!(["motion", "vehicle"]), "{clips:?}");
    assert_eq!(motion_ev[0]["clip_ids"], json!([both["id"]]));
    assert_eq!(vehicle[0]["clip_ids"], json!([both["id"]]));
    assert_eq!(
        motion_ev[0]["overlapping_events"], 1,
        "the vehicle came during the motion"
    );

    // record_on = ["person"], live: motion is stored but records nothing; a person records.
    let (st, cfg) = post(
        a,
        &format!("/api/motion_recording/config/{CAM}"),
        json!({"record_on": ["person"]}),
    );
    assert_eq!(st, 200, "{cfg}");
    assert_eq!(cfg["record_on"], json!(["person"]));
    motion(a, json!({"action": "pulse", "duration_ms": 300}));
    let motions = ended_events(a, "motion", 2);
    assert_eq!(motions[0]["clip_ids"], json!([]), "{motions:?}");
    assert_eq!(complete_clips(a, 2).len(), 2);
    motion(
        a,
        json!({"action": "pulse", "kind": "person", "duration_ms": 800}),
    );
    ended_events(a, "person", 2);
    let clips = complete_clips(a, 3);
    assert_eq!(clips[0]["kinds"], json!(["person"]));

    // Filters.
    let by_kind = |k: &str| {
        list(
            &get(a, &format!("/api/recordings?camera={CAM}&kind={k}")),
            "recordings",
        )
        .len()
    };
    assert_eq!(
        (
            by_kind("person"),
            by_kind("vehicle"),
            by_kind("motion"),
            by_kind("tamper")
        ),
        (2, 1, 1, 0)
    );
    let all = list(&get(a, &format!("/api/events?camera={CAM}")), "events");
    assert_eq!(all.len(), 6, "{all:?}");

    // Refused, naming the field and the kinds.
    for (path, body) in [
        (
            format!("/api/cameras/{CAM}/motion"),
            json!({"action": "pulse", "kind": "people"}),
        ),
        (
            format!("/api/motion_recording/config/{CAM}"),
            json!({"record_on": ["person", "ghost"]}),
        ),
        (
            format!("/api/motion_recording/config/{CAM}"),
            json!({"record_on": "person"}),
        ),
        (
            format!("/api/motion_recording/config/{CAM}"),
            json!({"pulse_secs": 0}),
        ),
    ] {
        let (st, v) = post(a, &path, body.clone());
        assert_eq!(st, 400, "{body}: {v}");
        let e = v["error"].as_str().unwrap();
        assert!(
            e.starts_with("kind:") || e.starts_with("record_on:") || e.starts_with("pulse_secs:"),
            "{e}"
        );
    }
    for path in ["/api/recordings?kind=people", "/api/events?kind="] {
        let (st, _, b) = http(a, "GET", path, &[], b"");
        let b = String::from_utf8_lossy(&b);
        assert_eq!(st, 400, "{path}: {b}");
        assert!(b.contains("line_crossing"), "{path}: {b}");
    }
    assert_eq!(
        get(a, &format!("/api/motion_recording/config/{CAM}"))["record_on"],
        json!(["person"]),
        "nothing changed"
    );

    // Metrics per camera and kind.
    let (_, _, m) = http(a, "GET", "/metrics", &[], b"");
    let m = String::from_utf8_lossy(&m);
    for (kind, n) in [
        ("person", 2),
        ("motion", 2),
        ("vehicle", 1),
        ("input", 1),
        ("tamper", 0),
    ] {
        let line = format!("vigil_events_total{{camera=\"back yard\",kind=\"{kind}\"}} {n}");
        assert!(m.contains(&line), "{line} in\n{m}");
    }
    assert!(m.contains("vigil_event_active{camera=\"back yard\",kind=\"person\"} 0"));
    run.stop();

    // record_on survives a restart (stored with the settings).
    let run = RunProcess::start(&dir.path().join("vigil.toml"));
    assert_eq!(
        get(&run.addr, &format!("/api/motion_recording/config/{CAM}"))["record_on"],
        json!(["person"])
    );
    run.stop();
}

/// `record_on` changed while events are on: a kind that stops recording ends its part of the
/// motion at once (the clip closes after its post-roll while the event goes on); one that starts
/// recording opens a clip at once.
#[test]
fn record_on_changed_live_acts_on_the_events_already_on() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunProcess::start(&write_run_config(dir.path(), "", ""));
    let a = run.addr.as_str();
    wait_buffered(a);
    let state = || {
        get(a, "/api/cameras")["cameras"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "back yard")
            .cloned()
            .unwrap()
    };
    let set = |kinds: Value| {
        let (st, v) = post(
            a,
            &format!("/api/motion_recording/config/{CAM}"),
            json!({ "record_on": kinds }),
        );
        assert_eq!(st, 200, "{v}");
    };

    motion(a, json!({"action": "start", "kind": "sound"}));
    poll_until("RECORDING on a sound", Duration::from_secs(10), || {
        (state()["state"] == "RECORDING").then_some(())
    });
    set(json!(["person"]));
    let clips = complete_clips(a, 1);
    assert_eq!(clips[0]["kinds"], json!(["sound"]));
    let cam = state();
    assert_eq!(
        cam["active_kinds"],
        json!(["sound"]),
        "the event goes on: {cam}"
    );
    assert_eq!(cam["state"], "BUFFERING", "{cam}");

    set(json!(["sound"]));
    poll_until("RECORDING again", Duration::from_secs(10), || {
        (state()["state"] == "RECORDING").then_some(())
    });
    motion(a, json!({"action": "stop", "kind": "sound"}));
    let clips = complete_clips(a, 2);
    assert_eq!(clips[0]["kinds"], json!(["sound"]));
    let sound = ended_events(a, "sound", 1);
    assert_eq!(
        sound[0]["clip_ids"].as_array().unwrap().len(),
        2,
        "one event, two clips: {sound:?}"
    );
    run.stop();
}
