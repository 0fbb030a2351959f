//! Event kinds from a camera's own analytics, end to end (issue 13): the simulated ONVIF camera
//! sends each vendor's detection message, a real vigil app (video from a looping file) records
//! a clip per detection with the right kinds, `record_on` keeps plain motion from recording while
//! still storing it, and housekeeping messages give no clip and no event.

mod common;

use std::time::Duration;

use common::until_async as until;
use common::*;
use vigil::catalog::{ClipRow, EventFilter};
use vigil::runtime::Runtime as App;
use vigil_onvif_sim::{Detection, SimCamera as OnvifCam, SimConfig, Vendor};

async fn start(dir: &std::path::Path, sim: &OnvifCam, camera: &str) -> App {
    let defaults = "pre_buffer_secs = 1\npost_buffer_secs = 1\npulse_secs = 1";
    onvif_app(dir, &sim.device_url(), "secret", defaults, camera)
}

fn state(app: &App) -> &'static str {
    app.handle().camera("cam").unwrap().status().state
}

fn clips(app: &App) -> Vec<ClipRow> {
    app.handle().catalog().clips(&Default::default()).unwrap()
}

fn events(app: &App) -> Vec<vigil::catalog::EventRow> {
    app.handle()
        .catalog()
        .events(&EventFilter::default())
        .unwrap()
}

async fn ready(app: &App) {
    onvif_ready(app, 1.0).await;
}

/// The newest clip once it is complete and there are `n`.
async fn clip_done(app: &App, n: usize, what: &str) -> ClipRow {
    until(what, Duration::from_secs(20), || {
        let c = clips(app);
        (c.len() == n && c[0].status == vigil::clips::ClipStatus::Complete).then(|| c[0].clone())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_detection_records_a_clip_with_its_kinds() {
    let dir = tempfile::tempdir().unwrap();
    let sim = OnvifCam::start(SimConfig::new(Vendor::Hikvision))
        .await
        .unwrap();
    let app = start(dir.path(), &sim, "").await;
    ready(&app).await;

    let cases: &[(Detection, &[&str])] = &[
        (Detection::ReolinkPerson, &["person"]),
        (Detection::ReolinkVehicle, &["vehicle"]),
        (Detection::ReolinkAnimal, &["animal"]),
        (Detection::ReolinkFace, &["face"]),
        (Detection::ReolinkPackage, &["package"]),
        (Detection::TapoPerson, &["person"]),
        (Detection::TapoPet, &["animal"]),
        (Detection::HikvisionIntrusion, &["intrusion"]),
        (Detection::Tamper, &["tamper"]),
        (Detection::Sound, &["sound"]),
        (Detection::HumanAndVehicle, &["person", "vehicle"]),
        (Detection::AxisHuman, &["person"]),
        (Detection::LineCrossed, &["line_crossing"]),
    ];
    for (n, (d, kinds)) in cases.iter().enumerate() {
        sim.detect(*d, true);
        until(
            &format!("{d:?}: RECORDING"),
            Duration::from_secs(10),
            || (state(&app) == "RECORDING").then_some(()),
        )
        .await;
        // A line crossing ends by itself (pulse_secs); the others when the camera says so.
        sim.detect(*d, false);
        let c = clip_done(&app, n + 1, &format!("{d:?}: its clip")).await;
        assert_eq!(c.kinds.names(), *kinds, "{d:?}: {c:?}");
        let facts = check_clip(&dir.path().join("clips").join(&c.key));
        assert!(facts.first_video_packet_key, "{d:?}");
        until(
            &format!("{d:?}: BUFFERING again"),
            Duration::from_secs(10),
            || (state(&app) == "BUFFERING").then_some(()),
        )
        .await;
    }
    // One event per kind and detection, each ended, with its clip.
    let ev = events(&app);
    let line = ev.iter().find(|e| e.kind == "line_crossing").unwrap();
    assert!(line.end.is_some() && !line.timed_out, "{line:?}");
    assert!(
        ev.iter()
            .all(|e| e.source == "onvif" && e.clip_ids.len() == 1),
        "{ev:#?}"
    );
    assert_eq!(
        ev.iter().filter(|e| e.kind == "person").count(),
        4,
        "{ev:#?}"
    );

    // Housekeeping: no event, no clip.
    let before = (clips(&app).len(), events(&app).len());
    let delivered = sim.counters().messages_delivered;
    sim.detect(Detection::ProcessorUsage, true);
    sim.detect(Detection::StorageFailure, true);
    until(
        "the housekeeping delivered",
        Duration::from_secs(10),
        || (sim.counters().messages_delivered >= delivered + 2).then_some(()),
    )
    .await;
    // A marker after them: once its event is stored, theirs would be too.
    sim.detect(Detection::Sound, true);
    until("the marker", Duration::from_secs(10), || {
        (events(&app).len() > before.1).then_some(())
    })
    .await;
    let after = events(&app);
    assert_eq!(after.len(), before.1 + 1, "{after:#?}");
    assert_eq!(after[0].kind, "sound");
    sim.detect(Detection::Sound, false);
    clip_done(&app, before.0 + 1, "the marker's clip").await;
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_on_person_stores_motion_without_a_clip() {
    let dir = tempfile::tempdir().unwrap();
    let sim = OnvifCam::start(SimConfig::new(Vendor::Hikvision))
        .await
        .unwrap();
    let app = start(dir.path(), &sim, "record_on = [\"person\"]").await;
    ready(&app).await;

    sim.motion(true);
    until("a motion event stored", Duration::from_secs(10), || {
        events(&app)
            .iter()
            .any(|e| e.kind == "motion")
            .then_some(())
    })
    .await;
    sim.motion(false);
    until("the motion event ended", Duration::from_secs(10), || {
        events(&app)
            .iter()
            .any(|e| e.kind == "motion" && e.end.is_some())
            .then_some(())
    })
    .await;
    assert!(clips(&app).is_empty(), "motion does not record");
    assert_eq!(state(&app), "BUFFERING");

    sim.detect(Detection::ReolinkPerson, true);
    until("RECORDING on a person", Duration::from_secs(10), || {
        (state(&app) == "RECORDING").then_some(())
    })
    .await;
    sim.detect(Detection::ReolinkPerson, false);
    let c = clip_done(&app, 1, "the person's clip").await;
    assert_eq!(c.kinds.names(), ["person"]);
    let motion = events(&app)
        .into_iter()
        .find(|e| e.kind == "motion")
        .unwrap();
    assert!(motion.clip_ids.is_empty(), "{motion:?}");
    app.shutdown().await;
}
