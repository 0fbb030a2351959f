//! The web UI in a real browser: Debian's headless Chromium, driven by playwright-core
//! (`tests/browser/ui.mjs`, one scenario per test), against a real `vigil demo` or `vigil run`.
//! What the page shows is checked in the browser; what it changed is read back through the API.
//! Screenshots of every page land in `target/ui-screenshots/`.
//!
//! Chromium, node and playwright-core come from `scripts/setup`; without them these tests fail,
//! saying so (they never skip).

mod common;
mod rtsp_support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const TOKEN: &str = "ui-test-token-7f3a";

fn screenshots_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is `<target>/tmp`.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("a target dir")
        .join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The browser-test folder, once Chromium, node and playwright-core are known to be there.
fn browser_ready() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is not installed ({chromium} is missing): run scripts/setup \
         (it installs Debian's chromium package)"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is not installed: run scripts/setup"
    );
    assert!(
        dir.join("node_modules/playwright-core/package.json")
            .exists(),
        "playwright-core is not installed in {}: run scripts/setup (it runs npm ci there)",
        dir.display()
    );
    dir
}

/// Runs one scenario of ui.mjs against `base`; returns the JSON it printed. Panics with its log
/// when it fails or takes longer than `limit`.
fn scenario(name: &str, base: &str, token: &str, limit: Duration) -> Value {
    scenario_with(name, base, &[("VIGIL_TOKEN", token)], limit)
}

/// [`scenario`] with these environment variables for ui.mjs.
fn scenario_with(name: &str, base: &str, env: &[(&str, &str)], limit: Duration) -> Value {
    let dir = browser_ready();
    let mut child = Command::new("node")
        .arg("ui.mjs")
        .args([name, base])
        .arg(screenshots_dir())
        .current_dir(&dir)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for node") {
            break Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    eprintln!("{err}");
    let Some(status) = status else {
        panic!("ui.mjs {name} did not finish within {limit:?}:\n{err}");
    };
    assert!(status.success(), "ui.mjs {name} failed ({status}):\n{err}");
    let last = out.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("ui.mjs {name} printed {out:?}: {e}"))
}

fn assert_screenshots(names: &[&str]) {
    for n in names {
        let p = screenshots_dir().join(format!("{n}.png"));
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(len > 10_000, "screenshot {} missing or empty", p.display());
    }
}

fn get_json(addr: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    let (st, _, body) = http(addr, "GET", path, &headers, b"");
    (st, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[test]
fn dashboard_shows_the_demo_cameras_changing_state_live() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = DemoProcess::start(dir.path(), &[]);
    let line = demo.wait_for(&["status page on http://"], Duration::from_secs(30));
    let addr = line.rsplit("http://").next().unwrap().trim().to_owned();
    let v = scenario(
        "dashboard",
        &format!("http://{addr}"),
        "",
        Duration::from_secs(90),
    );

    assert_eq!(
        v["cameras"],
        serde_json::json!(["lobby-h264", "yard-h265", "door-h264-aac"])
    );
    // A badge went from BUFFERING to RECORDING in front of the browser (the demo's motion).
    let cam = v["changed"].as_str().unwrap();
    let seen: Vec<&str> = v["seen"][cam]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let b = seen.iter().position(|s| *s == "BUFFERING");
    let r = seen.iter().rposition(|s| *s == "RECORDING");
    assert!(
        matches!((b, r), (Some(b), Some(r)) if b < r),
        "{cam}'s badge showed {seen:?}"
    );
    assert_eq!(v["recording_card_marked"], true);
    assert!(v["pool_points"].as_u64().unwrap() >= 3, "{v}");
    assert!(
        v["pool_summary"]
            .as_str()
            .unwrap()
            .contains("used of 50.0 MiB"),
        "{v}"
    );
    assert!(
        v["stream_line"].as_str().unwrap().starts_with("up · h265"),
        "{v}"
    );
    assert_eq!(v["onvif_line"], "not configured");
    assert!(v["storage_alerts"].as_str().unwrap().contains("No alerts"));
    // Phone-sized: nothing wider than the screen, cards span it.
    assert!(v["overflow_phone"].as_i64().unwrap() <= 0, "{v}");
    assert!(v["overflow_desktop"].as_i64().unwrap() <= 0, "{v}");
    assert!(v["phone_card_width"].as_f64().unwrap() > 340.0, "{v}");
    assert_screenshots(&["dashboard", "camera", "storage", "dashboard-phone"]);
}

#[test]
fn settings_form_saves_and_shows_a_refused_value_at_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let run = RunProcess::start(&write_run_config(dir.path(), "", ""));
    let v = scenario(
        "settings",
        &format!("http://{}", run.addr),
        "",
        Duration::from_secs(60),
    );
    assert!(v["saved_status"].as_str().unwrap().starts_with("Saved"));
    assert_eq!(v["value_after_save"], "7");
    // Applied: the API says so.
    let (st, cfg) = get_json(&run.addr, "/api/motion_recording/config/back%20yard", None);
    assert_eq!(st, 200);
    assert_eq!(cfg["pre_buffer_secs"], 7, "{cfg}");
    assert_eq!(
        cfg["record_on"],
        serde_json::json!(["person", "vehicle"]),
        "{cfg}"
    );
    assert_eq!(
        v["record_on_saved"],
        serde_json::json!(["person", "vehicle"]),
        "{v}"
    );
    // The refused values changed nothing, and each error was shown at its own field.
    assert_eq!(cfg["post_buffer_secs"], 1, "{cfg}");
    let pre = v["pre_error"].as_str().unwrap();
    assert!(
        pre.contains("between 0 and 60") && pre.contains("90"),
        "{v}"
    );
    assert_eq!(v["pre_invalid"], "true");
    assert_eq!(v["pre_focused"], "f-pre_buffer_secs");
    assert_eq!(v["other_errors"], 0);
    assert_eq!(v["pre_error_cleared"], true);
    assert!(
        v["post_error"]
            .as_str()
            .unwrap()
            .contains("between 0 and 300"),
        "{v}"
    );
    assert_screenshots(&["camera-invalid"]);
    run.stop();
}

/// Waits until every recording the API lists is complete and there are `n` of them.
fn wait_for_clips(addr: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, v) = get_json(addr, "/api/recordings", Some(TOKEN));
        let recs = v["recordings"].as_array().cloned().unwrap_or_default();
        if recs.len() == n && recs.iter().all(|r| r["status"] == "complete") {
            return recs;
        }
        assert!(Instant::now() < deadline, "clips never completed: {v}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn recordings_play_seek_protect_and_delete_behind_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_run_config(dir.path(), &format!("api_token = \"{TOKEN}\""), "");
    let run = RunProcess::start(&cfg);
    let auth = format!("Bearer {TOKEN}");
    // Motion once the pre-buffers hold their 2 s, so the clips have a pre-roll to show.
    let deadline = Instant::now() + Duration::from_secs(20);
    for cam in ["front", "back%20yard"] {
        let path = format!("/api/motion_recording/buffer_stats/{cam}");
        while get_json(&run.addr, &path, Some(TOKEN)).1["duration_secs"]
            .as_f64()
            .unwrap_or(0.0)
            < 2.0
        {
            assert!(
                Instant::now() < deadline,
                "{cam}'s pre-buffer never held 2 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    for cam in ["front", "back%20yard"] {
        let (st, _, b) = http(
            &run.addr,
            "POST",
            &format!("/api/cameras/{cam}/motion"),
            &[("Authorization", &auth)],
            br#"{"action":"pulse","duration_ms":3000}"#,
        );
        assert_eq!(st, 202, "{}", String::from_utf8_lossy(&b));
    }
    let clips = wait_for_clips(&run.addr, 2);

    let v = scenario(
        "recordings",
        &format!("http://{}", run.addr),
        TOKEN,
        Duration::from_secs(90),
    );
    assert_eq!(v["token_stored"], TOKEN);
    // Each row shows the pre-roll the API reports.
    for row in v["rows"].as_array().unwrap() {
        let api = clips.iter().find(|c| c["id"] == row["id"]).unwrap();
        assert!(api["pre_roll_secs"].as_f64().unwrap() >= 2.0, "{api}");
        let want = format!("{:.1} s", api["pre_roll_secs"].as_f64().unwrap());
        assert_eq!(row["preroll"], want.as_str(), "{row} vs {api}");
    }
    assert!(
        v["hash_after_filter"]
            .as_str()
            .unwrap()
            .contains("camera=front"),
        "{v}"
    );
    // Kinds: the API's motion pulses show a "motion" badge; the kind filter is in the URL.
    for row in v["rows"].as_array().unwrap() {
        assert_eq!(row["kinds"], serde_json::json!(["motion"]), "{row}");
    }
    assert!(
        v["hash_kind"].as_str().unwrap().contains("kind=person"),
        "{v}"
    );
    // Played (through ?token=, since a <video> cannot send a header) and seeked.
    assert_eq!(v["video_src_has_token"], true);
    assert!(v["played_to"].as_f64().unwrap() > 0.5, "{v}");
    let (to, target) = (
        v["seeked_to"].as_f64().unwrap(),
        v["seek_target"].as_f64().unwrap(),
    );
    assert!(
        (to - target).abs() < 0.1 && target > 2.0,
        "seeked to {to}, asked {target}"
    );
    assert_eq!(v["player_error_hidden"], true);
    // Protected and deleted, as the API sees it.
    let (st, p) = get_json(
        &run.addr,
        &format!("/api/recordings/{}", v["protected_id"]),
        Some(TOKEN),
    );
    assert_eq!((st, &p["protected"]), (200, &Value::Bool(true)), "{p}");
    let gone = v["deleted"].as_i64().unwrap();
    assert_eq!(v["api_after_delete"], 404);
    let (st, _) = get_json(&run.addr, &format!("/api/recordings/{gone}"), Some(TOKEN));
    assert_eq!(st, 404);
    let (_, list) = get_json(&run.addr, "/api/recordings", Some(TOKEN));
    let ids: Vec<i64> = list["recordings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["id"].as_i64())
        .collect();
    assert!(!ids.contains(&gone) && ids.len() == 1, "{list}");
    // The timeline: a bar per clip; at a minute's span each shows its pre-roll; a click played
    // that clip from its motion (the pre-roll's end); Left / Right went to the earlier / later.
    assert_eq!(v["timeline_day_bars"].as_array().unwrap().len(), 2, "{v}");
    let pre = v["timeline_pre_roll"].as_f64().unwrap();
    let at = v["timeline_seeked"]["at"].as_f64().unwrap();
    assert!(
        (at - pre).abs() < 0.1 && pre >= 2.0,
        "played from {at}, motion at {pre}"
    );
    assert_eq!(v["timeline_playing"], v["timeline_selected"], "{v}");
    assert_eq!(v["after_left"], v["timeline_order"][0], "{v}");
    assert_eq!(v["after_right"], v["timeline_order"][1], "{v}");
    assert_screenshots(&["timeline"]);
    // A phone reuses the stored token and fits the screen.
    assert_eq!(v["phone_asked_token"], false);
    assert!(v["overflow_phone"].as_i64().unwrap() <= 0, "{v}");
    assert_screenshots(&["recordings", "recordings-phone"]);
    run.stop();
}

/// `?token=` opens a clip's file (for `<video>` and download links) and nothing else; the page
/// itself and its files need no token.
#[test]
fn query_token_opens_clip_files_only() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_run_config(dir.path(), &format!("api_token = \"{TOKEN}\""), "");
    let run = RunProcess::start(&cfg);
    let a = run.addr.as_str();
    let status = |path: &str| http(a, "GET", path, &[], b"").0;
    // Past the token check, to "no such recording".
    assert_eq!(
        status(&format!("/api/recordings/99/file?token={TOKEN}")),
        404
    );
    assert_eq!(status("/api/recordings/99/file?token=wrong"), 401);
    assert_eq!(status("/api/recordings/99/file"), 401);
    for path in [
        "/api/recordings/99",
        "/api/recordings",
        "/api/cameras",
        "/api/history",
        "/metrics",
    ] {
        assert_eq!(status(&format!("{path}?token={TOKEN}")), 401, "{path}");
    }
    let (st, h) = get_json(a, "/api/history", Some(TOKEN));
    assert_eq!(st, 200, "{h}");
    for path in ["/", "/ui/app.js", "/ui/app.css", "/healthz"] {
        assert_eq!(status(path), 200, "{path}");
    }
    run.stop();
}

/// Live view in the browser, on the demo: every H.264 camera plays on the dashboard, on the grid
/// and on its own page (the AAC one with its sound turned on); an H.265 camera plays or, where
/// this Chromium has no H.265 decoder, says so; a hidden tab stops watching; the API counts the
/// viewers all along.
#[test]
fn live_view_plays_on_the_dashboard_the_grid_and_the_camera_page() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = DemoProcess::start(dir.path(), &[]);
    let line = demo.wait_for(&["status page on http://"], Duration::from_secs(30));
    let addr = line.rsplit("http://").next().unwrap().trim().to_owned();
    let v = scenario(
        "live",
        &format!("http://{addr}"),
        "",
        Duration::from_secs(150),
    );

    let h264: Vec<&str> = v["h264"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(h264, ["lobby-h264", "door-h264-aac"], "{v}");
    for cam in &h264 {
        for page in ["dashboard", "grid"] {
            let seen = &v[page][cam];
            assert!(
                seen["readyState"].as_u64().unwrap() >= 2,
                "{page} {cam}: {seen}"
            );
            assert!(seen["width"].as_u64().unwrap() > 0, "{page} {cam}: {seen}");
        }
        assert!(v["first_frame_ms"][cam].as_f64().is_some(), "{v}");
    }
    // The H.265 camera: played if this browser can, else said so in words.
    if v["supported"]["yard-h265"] == true {
        assert!(v["dashboard"]["yard-h265"]["readyState"].as_u64().unwrap() >= 2);
    } else {
        let msg = v["h265_message"]["yard-h265"].as_str().unwrap();
        assert!(msg.contains("H.265 can't play in this browser"), "{msg}");
    }
    assert_eq!(v["codecs"]["door-h264-aac"], "avc1.64001e,mp4a.40.2", "{v}");
    // Viewers as the server counted them: one per playing card; none while the tab was hidden,
    // on the grid one each again, on a camera page that camera alone, none once the browser left.
    for cam in &h264 {
        assert_eq!(v["viewers_dashboard"][cam], 1, "{v}");
        assert_eq!(v["viewers_grid"][cam], 1, "{v}");
    }
    for (cam, n) in v["viewers_hidden"].as_object().unwrap() {
        assert_eq!(n, 0, "{cam} while hidden: {v}");
    }
    assert_eq!(v["viewers_camera_page"]["door-h264-aac"], 1, "{v}");
    assert_eq!(v["grid_hash"], "#/live?cols=2");
    assert_eq!(v["person_post"], 202, "{v}");
    assert!(
        v["kinds_now"]
            .as_array()
            .unwrap()
            .contains(&Value::from("person")),
        "{v}"
    );
    assert_eq!(v["silent_sound_disabled"]["disabled"], true, "{v}");
    assert_eq!(v["unmuted"], true, "{v}");
    assert_eq!(v["sound_pressed"], "true", "{v}");
    for (cam, n) in v["viewers_after"].as_object().unwrap() {
        assert_eq!(n, 0, "{cam} after the browser closed: {v}");
    }
    let (st, metrics) = {
        let (st, _, body) = http(&addr, "GET", "/metrics", &[], b"");
        (st, String::from_utf8_lossy(&body).into_owned())
    };
    assert_eq!(st, 200);
    let total = |cam: &str| -> f64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("vigil_live_viewers_total{") && l.contains(&format!("\"{cam}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0)
    };
    // Dashboard, after the tab came back, grid (twice: its size changed), camera page.
    assert!(total("lobby-h264") >= 4.0, "{metrics}");
    assert_screenshots(&["live-dashboard", "live-grid", "camera-live"]);
}

/// A camera whose picture size changes every 5 s (new SPS in-band, from the RTSP test bed): each
/// change ends the live stream (new codec parameters) and the page's player reconnects by itself
/// and plays the new size.
#[test]
fn live_view_reconnects_when_the_camera_changes_its_parameters() {
    let server = rtsp_support::RtspServer::start(&[("resize", "h264_resize.mp4")]);
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("vigil.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n\n[[camera]]\nname = \"resize\"\nurl = \"{}\"\n",
            dir.path().join("data").display(),
            server.url("resize")
        ),
    )
    .unwrap();
    let run = RunProcess::start(&cfg);
    let v = scenario_with(
        "live_reconnect",
        &format!("http://{}", run.addr),
        &[("VIGIL_CAMERA", "resize")],
        Duration::from_secs(120),
    );
    let sizes: Vec<&str> = v["sizes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        sizes.contains(&"320x240") && sizes.contains(&"480x360"),
        "{v}"
    );
    let states: Vec<&str> = v["states"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(states.iter().filter(|s| **s == "retry").count() >= 2, "{v}");
    assert!(v["last"]["readyState"].as_u64().unwrap() >= 2, "{v}");
    assert_screenshots(&["live-reconnect"]);
    run.stop();
}

/// Eight cameras on one dashboard, more than the six HTTP/1.1 connections a browser opens to a
/// host: every one plays (live view goes over WebSockets, which don't count against that), and
/// the page's API calls still get through.
#[test]
fn live_view_of_eight_cameras_leaves_the_page_its_api_calls() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n\n[defaults]\npre_buffer_secs = 2\npost_buffer_secs = 1\n",
        dir.path().join("data").display()
    );
    let sample = dir.path().join("cam.mp4");
    std::fs::write(&sample, SAMPLE_H264).unwrap();
    for i in 1..=8 {
        cfg.push_str(&format!(
            "\n[[camera]]\nname = \"cam{i}\"\nurl = \"file:{}\"\n",
            sample.display()
        ));
    }
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, cfg).unwrap();
    let run = RunProcess::start(&path);
    let v = scenario(
        "live_many",
        &format!("http://{}", run.addr),
        "",
        Duration::from_secs(120),
    );
    assert_eq!(v["cameras"], 8, "{v}");
    assert_eq!(v["playing"].as_array().unwrap().len(), 8, "{v}");
    assert_eq!(v["badge"], "RECORDING", "{v}");
    assert_screenshots(&["live-many"]);
    run.stop();
}

#[path = "common/s3.rs"]
mod s3;

#[test]
fn a_clip_only_the_store_has_plays_and_a_store_that_is_down_is_shown() {
    let mut server = s3::S3Server::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_run_config(dir.path(), "", "");
    let text = std::fs::read_to_string(&config).unwrap();
    let store = server.config("keep_local_days = 0");
    std::fs::write(&config, format!("{store}\n{text}")).unwrap();
    let run = RunProcess::start(&config);
    wait_streaming_camera(&run.addr, "front", &[]);
    common::post_motion(
        &run.addr,
        "front",
        r#"{"action":"pulse","duration_ms":500}"#,
    );
    common::poll_until("a clip only the store has", Duration::from_secs(60), || {
        let (_, r) = get_json(&run.addr, "/api/recordings", None);
        r["recordings"]
            .as_array()?
            .iter()
            .any(|c| c["store_status"] == "stored" && c["local"] == false)
            .then_some(())
    });
    let base = format!("http://{}", run.addr);
    let v = scenario("clip_store", &base, "", Duration::from_secs(60));
    assert_eq!(v["badge"], "in store only", "{v}");
    assert!(v["played"].as_f64().unwrap() > 0.5, "{v}");
    // The store goes away: the storage page says so.
    server.kill();
    common::post_motion(
        &run.addr,
        "front",
        r#"{"action":"pulse","duration_ms":500}"#,
    );
    common::poll_until("the store's alert", Duration::from_secs(60), || {
        let (_, s) = get_json(&run.addr, "/api/storage", None);
        s["alerts"]
            .as_array()?
            .iter()
            .any(|a| a["kind"] == "clip_store")
            .then_some(())
    });
    let v = scenario("clip_store_down", &base, "", Duration::from_secs(60));
    assert!(v["card"].as_str().unwrap().contains("not answering"), "{v}");
    assert!(v["alert"].as_str().unwrap().contains("clip_store"), "{v}");
    assert_screenshots(&["clip_store_list", "clip_store"]);
    run.stop();
}

#[test]
fn integrations_page_shows_a_broker_that_is_away_and_a_failing_webhook() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on these ports (they were free a moment ago).
    let free = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (mqtt, hook) = (free(), free());
    let extra = format!(
        "\n[mqtt]\nurl = \"mqtt://127.0.0.1:{mqtt}\"\n\n[[webhook]]\nurl = \"http://127.0.0.1:{hook}/x\"\n"
    );
    let run = RunProcess::start(&write_run_config(dir.path(), &extra, ""));
    // A stream up is a webhook event: the dead receiver gets something to fail on.
    let v = scenario(
        "integrations",
        &format!("http://{}", run.addr),
        "",
        Duration::from_secs(60),
    );
    assert_eq!(v["nav_active"], true);
    assert_eq!(v["mqtt_state"], "Not connected, trying again", "{v}");
    assert!(
        v["mqtt_error"]
            .as_str()
            .unwrap()
            .contains("cannot reach the broker"),
        "{v}"
    );
    assert!(
        v["hook_url"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{hook}")),
        "{v}"
    );
    assert!(!v["hook_error"].as_str().unwrap().is_empty(), "{v}");
    assert_screenshots(&["integrations"]);
    run.stop();
}

#[test]
fn clip_pictures_show_in_the_list_and_timeline_and_the_detector_on_its_camera() {
    let dir = tempfile::tempdir().unwrap();
    let f = motion_media(
        dir.path(),
        "crossing",
        12.0,
        &crossing(4.0, 8.0, 0.0, 580.0),
    );
    let cfg = format!(
        "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{d}\"\n[defaults]\npre_buffer_secs = 2\npost_buffer_secs = 1\n\
         [[camera]]\nname = \"yard\"\nurl = \"file:{f}\"\ndetect = true\n\
         [[camera]]\nname = \"gate\"\nurl = \"file:{f}\"\n",
        d = dir.path().display(),
        f = f.display()
    );
    let path = dir.path().join("vigil.toml");
    std::fs::write(&path, cfg).unwrap();
    let run = RunProcess::start(&path);
    // A clip from the detector, and its picture made.
    poll_until("a clip with its picture", Duration::from_secs(40), || {
        let (st, v) = get_json(&run.addr, "/api/recordings", None);
        let id = v["recordings"]
            .as_array()?
            .iter()
            .find(|c| st == 200 && c["status"] == "complete")?["id"]
            .clone();
        let (st, _, _) = http(
            &run.addr,
            "GET",
            &format!("/api/recordings/{id}/thumbnail.jpg"),
            &[],
            b"",
        );
        (st == 200).then_some(())
    });
    let v = scenario(
        "pictures",
        &format!("http://{}", run.addr),
        "",
        Duration::from_secs(90),
    );
    assert_eq!(v["thumb_width"], 320, "{v}");
    assert_eq!(v["preview"], 320, "{v}");
    assert_eq!(v["snapshot_width"], 640, "{v}");
    assert_eq!(v["saw_motion"], true, "{v}");
    // Detection turned on for gate from its page, with the mask drawn over its left half.
    assert_eq!(v["gate_picture"], 640, "{v}");
    assert_eq!(v["draft_points"], 4, "{v}");
    assert_eq!(v["masks_drawn"], 1, "{v}");
    let d = &v["gate_detect"];
    assert_eq!(d["detect"], true, "{v}");
    assert_eq!(d["detect_min_secs"], 0.4, "{v}");
    let mask = d["detect_masks"][0].as_array().unwrap();
    assert_eq!(mask.len(), 4, "{v}");
    for (p, [x, y]) in mask
        .iter()
        .zip([[0.02, 0.02], [0.5, 0.02], [0.5, 0.98], [0.02, 0.98]])
    {
        let (px, py) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
        assert!(
            (px - x).abs() < 0.01 && (py - y).abs() < 0.01,
            "{p} vs [{x}, {y}]: {v}"
        );
    }
    assert!(v["gate_detector"].is_string(), "{v}");
    assert!(
        v["threshold_error"]
            .as_str()
            .unwrap()
            .contains("between 1 and 255"),
        "{v}"
    );
    assert_screenshots(&[
        "recordings-pictures",
        "camera-detect",
        "camera-detect-settings",
    ]);
    run.stop();
}

/// Users in the browser over HTTPS (docs/users.md): sign in, a viewer's pages, an admin's,
/// the cookie's flags, the limiter.
#[test]
fn users_sign_in_over_https_and_viewers_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = make_certs(dir.path());
    let config = write_run_config(
        dir.path(),
        &format!(
            "api_token = \"{TOKEN}\"\ntls_cert = \"{}\"\ntls_key = \"{}\"",
            cert.display(),
            key.display()
        ),
        "",
    );
    for (name, role, pw) in [
        ("alice", "admin", "alice-password"),
        ("bob", "viewer", "bob-password"),
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_vigil"))
            .args(["user", "add", name, "--role", role, "--config"])
            .arg(&config)
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        writeln!(child.stdin.take().unwrap(), "{pw}").unwrap();
        assert!(child.wait().unwrap().success());
    }
    let run = RunProcess::start(&config);
    // A clip to list.
    let auth = format!("Bearer {TOKEN}");
    let (st, _, _) = https(
        &run.addr,
        &ca,
        "POST",
        "/api/cameras/front/motion",
        &[("Authorization", &auth)],
        br#"{"action":"pulse","duration_ms":500}"#,
    );
    assert_eq!(st, 202);
    poll_until("a clip", Duration::from_secs(30), || {
        let (_, _, b) = https(
            &run.addr,
            &ca,
            "GET",
            "/api/recordings",
            &[("Authorization", &auth)],
            b"",
        );
        let v: Value = serde_json::from_slice(&b).ok()?;
        (v["recordings"]
            .as_array()?
            .iter()
            .any(|c| c["status"] == "complete"))
        .then_some(())
    });
    let v = scenario_with(
        "users",
        &format!("https://{}", run.addr),
        &[],
        Duration::from_secs(120),
    );
    assert_eq!(v["wrong_password"], "wrong name or password", "{v}");
    assert_eq!(v["viewer_who"], "bob (viewer)", "{v}");
    assert_eq!(
        v["cookie"],
        serde_json::json!({"httpOnly": true, "secure": true, "sameSite": "Strict"}),
        "{v}"
    );
    assert_eq!(v["viewer_forms_visible"], 0, "{v}");
    assert_eq!(v["viewer_trigger_visible"], 0, "{v}");
    assert_eq!(v["viewer_delete_buttons"], 0, "{v}");
    assert_eq!(v["viewer_delete_status"], 403, "{v}");
    assert_eq!(v["admin_forms_visible"], 2, "{v}");
    assert!(
        v["admin_saved"].as_str().unwrap().starts_with("Saved"),
        "{v}"
    );
    assert!(v["limited"].as_str().unwrap().contains("too many"), "{v}");
    assert_screenshots(&[
        "sign-in",
        "recordings-viewer",
        "camera-admin",
        "sign-in-limited",
    ]);
    run.stop();
}

/// Cameras added, changed and deleted from the UI (docs/cameras.md).
#[test]
fn cameras_are_added_changed_and_deleted_from_the_ui() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_run_config(dir.path(), "", "");
    let (good, other) = (dir.path().join("porch.mp4"), dir.path().join("porch2.mp4"));
    std::fs::write(&good, SAMPLE_H264).unwrap();
    std::fs::write(&other, SAMPLE_H264_AAC).unwrap();
    let run = RunProcess::start(&config);
    let files = format!("{},{}", good.display(), other.display());
    let v = scenario_with(
        "cameras",
        &format!("http://{}", run.addr),
        &[("VIGIL_FILES", files.as_str())],
        Duration::from_secs(90),
    );
    assert!(
        v["failed_test"]
            .as_str()
            .unwrap()
            .contains("porch: file FAILED"),
        "{v}"
    );
    assert!(
        v["failed_status"].as_str().unwrap().contains("Save again"),
        "{v}"
    );
    assert_eq!(v["cameras_after_failed_test"], 2, "{v}");
    assert_eq!(v["added"], format!("file:{}", good.display()), "{v}");
    assert_eq!(v["delete_visible"], true, "{v}");
    assert_eq!(v["changed"], format!("file:{}", other.display()), "{v}");
    assert_eq!(v["front_delete_visible"], false, "{v}");
    assert_eq!(v["front_name_disabled"], true, "{v}");
    assert_eq!(
        v["after_delete"],
        serde_json::json!(["front", "back yard"]),
        "{v}"
    );
    assert_screenshots(&["camera-add"]);
    run.stop();
}

#[path = "common/pg.rs"]
mod pg;

/// A cluster seen from one node (docs/cluster.md): two nodes on a real PostgreSQL, a camera
/// each; node B's dashboard and camera page show the camera node A records, with its node,
/// play its live view (tunnelled through B to A) and draw its graphs from A's history.
#[test]
fn a_camera_another_node_records_plays_on_this_nodes_pages() {
    let server = pg::PgServer::start();
    let url = server.new_db();
    let dir = tempfile::tempdir().unwrap();
    let media = dir.path().join("media.mp4");
    std::fs::write(&media, SAMPLE_H264).unwrap();
    let cams = ["porch", "gate"];
    let (pa, pb) = (pg::free_port(), pg::free_port());
    let node = |name: &str, port: u16| {
        pg::cluster_node_config(dir.path(), name, port, &url, 5, &cams, &media)
    };
    let a = RunProcess::start(&node("node-a", pa));
    let b = RunProcess::start(&node("node-b", pb));
    // B lists the camera A records as A does: streaming, with its live view's codecs.
    let of_a = poll_until(
        "a camera each, A's listed in full by B",
        Duration::from_secs(60),
        || {
            let (_, v) = get_json(&b.addr, "/api/cameras", None);
            let list = v["cameras"].as_array()?.clone();
            let mine = |n: &str| list.iter().filter(|c| c["node"] == n).count();
            let full = list.iter().find(|c| {
                c["node"] == "node-a" && c["stream"]["up"] == true && c["live"]["codecs"] != ""
            })?;
            (mine("node-a") == 1 && mine("node-b") == 1)
                .then(|| full["name"].as_str().unwrap().to_owned())
        },
    );
    // A's history (its cameras' graphs) through B; a node that isn't there: 404.
    let hist = poll_until("A's history through B", Duration::from_secs(20), || {
        let (st, h) = get_json(&b.addr, "/api/history?node=node-a", None);
        assert_eq!(st, 200, "{h}");
        let has = h["samples"]
            .as_array()?
            .iter()
            .any(|s| s["cameras"].get(&of_a).is_some());
        has.then_some(h)
    });
    assert_eq!(hist["node"], "node-a");
    let (st, own) = get_json(&b.addr, "/api/history", None);
    assert_eq!((st, &own["node"]), (200, &Value::from("node-b")));
    let (st, e) = get_json(&b.addr, "/api/history?node=node-z", None);
    assert_eq!(st, 404, "{e}");
    let v = scenario_with(
        "cluster",
        &format!("http://{}", b.addr),
        &[("VIGIL_CAMERA", &of_a), ("VIGIL_NODE", "node-a")],
        Duration::from_secs(120),
    );
    assert_eq!(v["node_fact"], "node-a", "{v}");
    assert!(v["dashboard"]["currentTime"].as_f64().unwrap() > 1.0, "{v}");
    assert!(v["camera_page"]["width"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(
        v["viewers"], 1,
        "A counted the viewer on B's dashboard: {v}"
    );
    assert!(v["card_points"].as_u64().unwrap() >= 2, "{v}");
    assert!(v["camera_points"].as_u64().unwrap() >= 2, "{v}");
    assert_screenshots(&["cluster-dashboard", "cluster-camera"]);
    // The viewers were A's (the stream came from A), and went with the browser.
    poll_until("A's viewer gone", Duration::from_secs(20), || {
        let (_, v) = get_json(&a.addr, "/api/cameras", None);
        let c = v["cameras"]
            .as_array()?
            .iter()
            .find(|c| c["name"] == of_a.as_str())?
            .clone();
        (c["live"]["viewers"] == 0).then_some(())
    });
    b.stop();
    a.stop();
}
