//! ONVIF motion events recorded end to end: a simulated ONVIF camera (real SOAP 1.2 over HTTP,
//! WS-Security digest, PullPoint lifecycle) drives a real vigil app whose video comes from a
//! looping file; clips are checked with ffprobe/ffmpeg and the catalog.

mod common;

use std::time::{Duration, Instant};

use common::until_async as until;
use common::*;
use vigil::catalog::ClipRow;
use vigil::clips::ClipStatus;
use vigil::runtime::Runtime as App;
use vigil_onvif_sim::{SimCamera as OnvifCam, SimConfig, Vendor};

const PRE: f64 = 2.0;
const POST: f64 = 2.0;

async fn start(dir: &std::path::Path, sim: &OnvifCam, password: &str) -> App {
    let defaults = format!("pre_buffer_secs = {PRE}\npost_buffer_secs = {POST}");
    onvif_app(dir, &sim.device_url(), password, &defaults, "")
}

fn state(app: &App) -> &'static str {
    app.handle().camera("cam").unwrap().status().state
}

/// Waits (polling, up to 10 s) until the camera's recorder is in `want`; `what` names the step.
async fn in_state(app: &App, want: &str, what: &str) {
    until(what, Duration::from_secs(10), || {
        (state(app) == want).then_some(())
    })
    .await;
}

fn clips(app: &App) -> Vec<ClipRow> {
    let mut v = app.handle().catalog().clips(&Default::default()).unwrap();
    v.reverse(); // oldest first
    v
}

/// Subscribed, and the pre-buffer holds its window before motion comes.
async fn subscribed(app: &App) {
    onvif_ready(app, PRE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn motion_on_for_3s_then_off_makes_one_clip() {
    let dir = tempfile::tempdir().unwrap();
    let sim = OnvifCam::start(SimConfig::new(Vendor::Hikvision))
        .await
        .unwrap();
    let app = start(dir.path(), &sim, "secret").await;
    subscribed(&app).await;
    sim.motion(true);
    in_state(&app, "RECORDING", "RECORDING").await;
    let on_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await; // the motion itself lasts 3 s
    sim.motion(false);
    in_state(&app, "FINALIZING", "FINALIZING").await;
    let motion = on_at.elapsed().as_secs_f64();
    let c = until("a complete clip", Duration::from_secs(15), || {
        let c = clips(&app);
        (c.len() == 1 && c[0].status == ClipStatus::Complete).then(|| c[0].clone())
    })
    .await;
    let f = check_clip(&app.handle().clips_root().join(&c.key));
    assert!(f.first_video_packet_key);
    assert!(c.pre_roll_secs >= PRE, "{c:?}");
    let expected = c.pre_roll_secs + motion + POST;
    assert!(
        (f.duration - expected).abs() <= GOP_SECS + 0.3,
        "duration {} vs pre-roll {} + motion {motion:.2} + post-roll {POST}",
        f.duration,
        c.pre_roll_secs
    );
    let ev = app.handle().catalog().events(&Default::default()).unwrap();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].source, "onvif");
    assert!(
        ev[0].camera_start.is_some(),
        "the camera's own time is kept"
    );
    app.shutdown().await;
    sim.wait_for(Duration::from_secs(5), |c| c.unsubscribes >= 1)
        .await
        .expect("unsubscribed on shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_and_post_roll_motion_share_a_clip_and_later_motion_makes_another() {
    let dir = tempfile::tempdir().unwrap();
    let sim = OnvifCam::start(SimConfig::new(Vendor::Hikvision))
        .await
        .unwrap();
    let app = start(dir.path(), &sim, "secret").await;
    subscribed(&app).await;
    // Two motion topics overlap (CellMotionDetector, then MotionAlarm too).
    sim.motion(true);
    in_state(&app, "RECORDING", "RECORDING").await;
    sim.emit("tns1:VideoSource/MotionAlarm", "State", "true");
    tokio::time::sleep(Duration::from_millis(500)).await;
    sim.motion(false); // MotionAlarm still on: motion goes on
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(state(&app), "RECORDING");
    sim.emit("tns1:VideoSource/MotionAlarm", "State", "false");
    in_state(&app, "FINALIZING", "FINALIZING").await;
    // Motion again during the post-roll: back to RECORDING, same clip.
    sim.motion(true);
    in_state(&app, "RECORDING", "RECORDING again").await;
    sim.motion(false);
    until("the clip closed", Duration::from_secs(15), || {
        (clips(&app)
            .iter()
            .filter(|c| c.status == ClipStatus::Complete)
            .count()
            == 1)
            .then_some(())
    })
    .await;
    assert_eq!(clips(&app).len(), 1);
    // Motion after the clip closed: a second clip.
    sim.motion(true);
    in_state(&app, "RECORDING", "RECORDING a new clip").await;
    sim.motion(false);
    let c = until("two complete clips", Duration::from_secs(15), || {
        let c = clips(&app);
        (c.len() == 2 && c.iter().all(|c| c.status == ClipStatus::Complete)).then_some(c)
    })
    .await;
    for r in &c {
        assert!(check_clip(&app.handle().clips_root().join(&r.key)).first_video_packet_key);
    }
    assert_ne!(c[0].event_id, c[1].event_id);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_motion_topics_record_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sim = OnvifCam::start(SimConfig::new(Vendor::Reolink))
        .await
        .unwrap();
    let app = start(dir.path(), &sim, "secret").await;
    subscribed(&app).await;
    let before = sim.counters().messages_delivered;
    sim.emit("tns1:Device/Trigger/DigitalInput", "LogicalState", "true");
    sim.emit(
        "tns1:VideoSource/ImageTooBlurry/AnalyticsService",
        "State",
        "true",
    );
    sim.wait_for(Duration::from_secs(10), |c| {
        c.messages_delivered >= before + 2
    })
    .await
    .expect("the camera delivered both messages");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(state(&app), "BUFFERING");
    assert!(clips(&app).is_empty());
    assert!(
        app.handle().camera("cam").unwrap().onvif_health().unwrap()["messages"]
            .as_u64()
            .unwrap()
            >= 2
    );
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_reported_and_retried_with_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let sim = OnvifCam::start(SimConfig::new(Vendor::Hikvision))
        .await
        .unwrap();
    let app = start(dir.path(), &sim, "wrong").await;
    let h = until("an auth error in health", Duration::from_secs(10), || {
        let h = app.handle().camera("cam").unwrap().onvif_health().unwrap();
        h["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("NotAuthorized"))
            .then_some(h)
    })
    .await;
    assert_eq!(h["state"], "backoff", "{h}");
    // No hot loop: over 3 s only a handful of attempts reach the camera.
    let a = sim.counters().auth_failures;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let b = sim.counters().auth_failures;
    assert!(b - a <= 4, "{} attempts in 3 s", b - a);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_camera_reboot_the_next_motion_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let sim = OnvifCam::start(SimConfig::new(Vendor::Hikvision))
        .await
        .unwrap();
    let app = start(dir.path(), &sim, "secret").await;
    subscribed(&app).await;
    let subs = sim.counters().subscriptions_created;
    sim.reboot();
    sim.wait_for(Duration::from_secs(20), |c| {
        c.subscriptions_created > subs && c.active_subscriptions >= 1
    })
    .await
    .expect("re-subscribed after the reboot");
    sim.motion(true);
    in_state(&app, "RECORDING", "RECORDING").await;
    sim.motion(false);
    until("a complete clip", Duration::from_secs(15), || {
        let c = clips(&app);
        (c.len() == 1 && c[0].status == ClipStatus::Complete).then_some(())
    })
    .await;
    app.shutdown().await;
}

/// An https:// device service with the camera's own certificate (not signed by anyone the
/// system trusts): refused in words without `onvif_insecure`, motion recorded with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_camera_with_its_own_certificate_needs_onvif_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let (_ca, cert, key) = make_certs(dir.path());
    let sim = OnvifCam::start_tls(SimConfig::new(Vendor::Axis), &cert, &key)
        .await
        .unwrap();
    assert!(sim.device_url().starts_with("https://"));
    let defaults = format!("pre_buffer_secs = {PRE}\npost_buffer_secs = {POST}");
    // Checked against the system's roots: refused, and why.
    let strict = tempfile::tempdir().unwrap();
    let app = onvif_app(strict.path(), &sim.device_url(), "secret", &defaults, "");
    let err = until("the certificate refused", Duration::from_secs(15), || {
        let h = app.handle().camera("cam").unwrap().onvif_health().unwrap();
        h["last_error"].as_str().map(str::to_owned)
    })
    .await;
    assert!(
        err.contains("TLS") && err.contains("onvif_insecure"),
        "{err}"
    );
    app.shutdown().await;
    // Told to accept the camera's own certificate: subscribed, motion recorded.
    let app = onvif_app(
        dir.path(),
        &sim.device_url(),
        "secret",
        &defaults,
        "onvif_insecure = true",
    );
    subscribed(&app).await;
    sim.motion(true);
    in_state(&app, "RECORDING", "RECORDING over https").await;
    sim.motion(false);
    until("a complete clip", Duration::from_secs(20), || {
        let c = clips(&app);
        (c.len() == 1 && c[0].status == ClipStatus::Complete).then_some(())
    })
    .await;
    app.shutdown().await;
}
