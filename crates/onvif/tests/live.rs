//! The real client (`run_events`, `probe`, `stream_uri`) against the simulated camera over
//! 127.0.0.1, for every vendor dialect. Waits are on the sim's counters and the event channel,
//! each bounded; the one fixed window is the "no hot loop" measurement.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use vigil_core::kind::EventKind;
use vigil_core::time::SystemClock;
use vigil_onvif::{
    probe, run_events, stream_uri, CameraConfig, Error, Health, MotionEvent, SubscriptionState,
};
use vigil_onvif_sim::{AuthMode, SimCamera, SimConfig, Vendor};

const LIMIT: Duration = Duration::from_secs(15);
const AXIS_VMD: &str = "tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY#active";

struct Client {
    events: mpsc::Receiver<MotionEvent>,
    health: watch::Receiver<Health>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

fn config(cam: &SimCamera) -> CameraConfig {
    let mut c = CameraConfig::new("cam", &cam.device_url(), "admin", "secret");
    c.pull_timeout = Duration::from_secs(5);
    c.backoff_base = Duration::from_millis(200);
    c.backoff_cap = Duration::from_secs(1);
    c.request_timeout = Duration::from_secs(5);
    if cam.vendor() == Vendor::Axis {
        c.extra_topics.push(AXIS_VMD.parse().unwrap());
    }
    c
}

fn start(cfg: CameraConfig) -> Client {
    let (tx, events) = mpsc::channel(64);
    let (htx, health) = watch::channel(Health::default());
    let (stop, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(run_events(
        cfg,
        Arc::new(SystemClock),
        tx,
        htx,
        async move {
            let _ = stop_rx.await;
        },
    ));
    Client {
        events,
        health,
        stop: Some(stop),
        task,
    }
}

impl Client {
    /// The next motion event that satisfies `pred` (others are skipped).
    async fn next(&mut self, what: &str, pred: impl Fn(&MotionEvent) -> bool) -> MotionEvent {
        let wait = async {
            loop {
                match self.events.recv().await {
                    Some(ev) if pred(&ev) => return ev,
                    Some(_) => continue,
                    None => panic!("event channel closed waiting for {what}"),
                }
            }
        };
        match tokio::time::timeout(LIMIT, wait).await {
            Ok(ev) => ev,
            Err(_) => panic!(
                "no {what} within {LIMIT:?}; health {:?}",
                *self.health.borrow()
            ),
        }
    }

    async fn health_until(&mut self, what: &str, pred: impl Fn(&Health) -> bool) -> Health {
        let got = tokio::time::timeout(LIMIT, self.health.wait_for(|h| pred(h)))
            .await
            .ok()
            .and_then(|r| r.ok().map(|h| h.clone()));
        got.unwrap_or_else(|| panic!("health never {what}: {:?}", *self.health.borrow()))
    }

    async fn stop(mut self) -> Health {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(LIMIT, &mut self.task)
            .await
            .expect("client stops")
            .expect("client task");
        let h = self.health.borrow().clone();
        h
    }
}

async fn wait(cam: &SimCamera, what: &str, pred: impl FnMut(&vigil_onvif_sim::Counters) -> bool) {
    if let Err(c) = cam.wait_for(LIMIT, pred).await {
        panic!("sim never saw {what}: {c:?}");
    }
}

/// Subscribes, sees the Initialized state, then motion on and off, then unsubscribes.
async fn motion_round_trip(vendor: Vendor, tweak: impl FnOnce(&mut SimConfig)) -> SimCamera {
    let mut sc = SimConfig::new(vendor);
    tweak(&mut sc);
    let cam = SimCamera::start(sc).await.unwrap();
    let mut client = start(config(&cam));
    let init = client.next("Initialized", |e| e.initialized).await;
    assert!(!init.on && !init.camera_motion, "{init:?}");
    cam.motion(true);
    let on = client.next("motion on", |e| !e.initialized).await;
    assert!(on.on && on.camera_motion, "{on:?}");
    cam.motion(false);
    let off = client
        .next("motion off", |e| !e.initialized && !e.camera_motion)
        .await;
    assert!(!off.on, "{off:?}");
    let h = client.stop().await;
    assert_eq!(h.state, SubscriptionState::Stopped);
    assert!(h.pulls >= 2 && h.errors == 0, "{h:?}");
    let c = cam.counters();
    assert_eq!(c.subscriptions_created, 1, "{c:?}");
    assert_eq!(c.unsubscribes, 1, "unsubscribed on shutdown: {c:?}");
    assert_eq!(c.active_subscriptions, 0);
    assert_eq!(
        c.auth_failures + c.invalid_args + c.resource_unknown,
        0,
        "{c:?}"
    );
    cam
}

#[tokio::test]
async fn hikvision_motion_on_off() {
    motion_round_trip(Vendor::Hikvision, |_| {}).await;
}

/// Axis: shared endpoint, so PullMessages/Renew/Unsubscribe only work because the client echoes
/// `dom0:SubscriptionId` (the sim answers `ter:InvalidArgs` otherwise); motion under `tnsaxis:`.
#[tokio::test]
async fn axis_motion_on_off_with_reference_parameters() {
    let cam = motion_round_trip(Vendor::Axis, |_| {}).await;
    assert!(cam.counters().pulls >= 2);
}

#[tokio::test]
async fn reolink_motion_on_off() {
    motion_round_trip(Vendor::Reolink, |_| {}).await;
}

#[tokio::test]
async fn pelco_motion_on_off() {
    motion_round_trip(Vendor::Pelco, |_| {}).await;
}

#[tokio::test]
async fn http_digest_camera() {
    let cam = motion_round_trip(Vendor::Hikvision, |c| c.auth = AuthMode::HttpDigest).await;
    let c = cam.counters();
    assert!(c.digest_challenges >= 1, "{c:?}");
}

#[tokio::test]
async fn digest_and_ws_security_together_on_axis() {
    motion_round_trip(Vendor::Axis, |c| c.auth = AuthMode::Both).await;
}

/// A camera whose clock reads 26 years behind (360 Vision's read 2000): WS-Security `Created`
/// must be on the camera's clock or the sim refuses it.
#[tokio::test]
async fn camera_clock_far_behind() {
    motion_round_trip(Vendor::Reolink, |c| c.clock_skew_secs = -26 * 365 * 86_400).await;
}

#[tokio::test]
async fn initialized_syncs_motion_already_on() {
    let cam = SimCamera::start(SimConfig::new(Vendor::Pelco))
        .await
        .unwrap();
    cam.motion(true);
    let mut client = start(config(&cam));
    let init = client.next("Initialized", |e| e.initialized).await;
    assert!(init.on && init.camera_motion, "{init:?}");
    assert_eq!(init.topic, "tns1:RuleEngine/CellMotionDetector/Motion");
    client.stop().await;
}

#[tokio::test]
async fn housekeeping_says_nothing_and_a_detection_has_its_kind() {
    let cam = SimCamera::start(SimConfig::new(Vendor::Hikvision))
        .await
        .unwrap();
    let mut client = start(config(&cam));
    client.next("Initialized", |e| e.initialized).await;
    client.next("Initialized", |e| e.initialized).await; // two motion topics on Hikvision
    cam.emit("tns1:Monitoring/ProcessorUsage", "Value", "1");
    cam.emit(
        "tns1:Device/HardwareFailure/StorageFailure",
        "Failed",
        "true",
    );
    cam.emit(
        "tns1:RuleEngine/MyRuleDetector/PeopleDetect",
        "State",
        "true",
    );
    wait(&cam, "the emitted messages delivered", |c| {
        c.messages_delivered >= 13
    })
    .await;
    // Housekeeping says nothing; the person detection is a person, not motion.
    let ev = client.next("a live event", |e| !e.initialized).await;
    assert_eq!(
        (ev.kind, ev.on, ev.topic.as_str()),
        (
            EventKind::Person,
            true,
            "tns1:RuleEngine/MyRuleDetector/PeopleDetect"
        ),
        "{ev:?}"
    );
    cam.motion(true);
    let ev = client.next("motion", |e| !e.initialized).await;
    assert!(ev.on && ev.kind == EventKind::Motion, "{ev:?}");
    assert!(
        ev.topic == "tns1:RuleEngine/CellMotionDetector/Motion"
            || ev.topic == "tns1:VideoSource/MotionAlarm",
        "{ev:?}"
    );
    let h = client.stop().await;
    assert!(h.messages >= 15, "all messages counted: {h:?}");
}

#[tokio::test]
async fn extra_topic_with_vendor_prefix_mid_path() {
    let cam = SimCamera::start(SimConfig::new(Vendor::Hikvision))
        .await
        .unwrap();
    let mut cfg = config(&cam);
    cfg.extra_topics
        .push("tns1:VideoAnalytics/tnshik:MotionAlarm".parse().unwrap());
    let mut client = start(cfg);
    let init = client
        .next("tnshik Initialized", |e| {
            e.topic == "tns1:VideoAnalytics/tnshik:MotionAlarm"
        })
        .await;
    assert!(init.initialized && !init.on);
    cam.emit("tns1:VideoAnalytics/tnshik:MotionAlarm", "State", "TRUE");
    let ev = client.next("tnshik motion", |e| !e.initialized).await;
    assert!(ev.on && ev.topic.ends_with("tnshik:MotionAlarm"), "{ev:?}");
    client.stop().await;
}

#[tokio::test]
async fn wrong_password_reports_and_backs_off() {
    let mut sc = SimConfig::new(Vendor::Axis);
    sc.password = "other".into();
    let cam = SimCamera::start(sc).await.unwrap();
    let mut client = start(config(&cam));
    let h = client
        .health_until("NotAuthorized", |h| {
            h.last_error
                .as_deref()
                .is_some_and(|e| e.starts_with("NotAuthorized: wrong username or password"))
        })
        .await;
    assert!(h.errors >= 1 && h.subscriptions == 0, "{h:?}");
    // No hot loop: with backoff 0.2 s doubling to a 1 s cap, a 3 s window holds a handful of
    // attempts (a loop without backoff would make hundreds).
    let before = cam.counters().auth_failures;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = cam.counters().auth_failures - before;
    assert!((1..=8).contains(&during), "{during} attempts in 3 s");
    let h = client.health.borrow().clone();
    assert!(
        matches!(
            h.state,
            SubscriptionState::Backoff | SubscriptionState::Connecting
        ),
        "{h:?}"
    );
    // The right password (changed on the camera) lets it through on the next attempt.
    cam.set_password("secret");
    wait(&cam, "a subscription", |c| c.subscriptions_created >= 1).await;
    client
        .health_until("subscribed", |h| h.state == SubscriptionState::Subscribed)
        .await;
    client.stop().await;
}

#[tokio::test]
async fn reboot_resubscribes_and_next_motion_arrives() {
    for vendor in [Vendor::Hikvision, Vendor::Axis] {
        let cam = SimCamera::start(SimConfig::new(vendor)).await.unwrap();
        let mut client = start(config(&cam));
        client.next("Initialized", |e| e.initialized).await;
        wait(&cam, "a long poll", |c| c.pulls >= 1).await;
        cam.reboot_for(Duration::from_millis(500));
        wait(&cam, "a new subscription", |c| c.subscriptions_created >= 2).await;
        client
            .next("Initialized after reboot", |e| e.initialized)
            .await;
        cam.motion(true);
        let ev = client.next("motion after reboot", |e| !e.initialized).await;
        assert!(ev.on, "{vendor:?}: {ev:?}");
        let h = client.stop().await;
        assert!(h.errors >= 1 && h.subscriptions >= 2, "{vendor:?}: {h:?}");
    }
}

#[tokio::test]
async fn renews_a_three_second_subscription() {
    let mut sc = SimConfig::new(Vendor::Reolink);
    sc.max_termination = Duration::from_secs(3);
    let cam = SimCamera::start(sc).await.unwrap();
    let mut client = start(config(&cam));
    wait(&cam, "three renewals", |c| c.renewals >= 3).await;
    let c = cam.counters();
    assert_eq!(
        c.subscriptions_created, 1,
        "renewed in time, never lost: {c:?}"
    );
    assert_eq!(c.resource_unknown, 0, "{c:?}");
    cam.motion(true);
    assert!(client.next("motion", |e| !e.initialized).await.on);
    let h = client.stop().await;
    assert!(h.renewals >= 3, "{h:?}");
}

#[tokio::test]
async fn probe_and_stream_uri() {
    let mut sc = SimConfig::new(Vendor::Hikvision);
    sc.rtsp_url = "rtsp://127.0.0.1:8554/main".into();
    sc.clock_skew_secs = 3600;
    let cam = SimCamera::start(sc).await.unwrap();
    let cfg = config(&cam);
    let r = probe(&cfg, Arc::new(SystemClock)).await.unwrap();
    assert_eq!(r.stream_uri.as_deref(), Some("rtsp://127.0.0.1:8554/main"));
    let offset = r.clock_offset_ms.unwrap();
    assert!((3_598_000..=3_602_000).contains(&offset), "{offset}");
    assert!(r.events_ok, "{r:?}");
    assert!(r.event_service.unwrap().ends_with("/onvif/Events"));
    assert!(
        r.initial_topics.iter().any(|t| t.contains("tnshik")),
        "{:?}",
        r.initial_topics
    );
    assert_eq!(
        r.motion_topics,
        vec![
            "tns1:RuleEngine/CellMotionDetector/Motion".to_string(),
            "tns1:VideoSource/MotionAlarm".to_string(),
            // Known without configuring it (docs/onvif.md, "Kinds").
            "tns1:VideoAnalytics/tnshik:MotionAlarm".to_string(),
        ]
    );
    assert!(
        r.kind_topics
            .iter()
            .any(|t| t == "tamper: tns1:VideoSource/GlobalSceneChange/ImagingService"),
        "{:?}",
        r.kind_topics
    );
    let c = cam.counters();
    assert_eq!(
        (c.subscriptions_created, c.unsubscribes),
        (1, 1),
        "probe cleans up: {c:?}"
    );
    assert_eq!(
        stream_uri(&cfg, Arc::new(SystemClock)).await.unwrap(),
        "rtsp://127.0.0.1:8554/main"
    );

    cam.set_password("changed");
    match probe(&cfg, Arc::new(SystemClock)).await {
        Err(Error::NotAuthorized(_)) => {}
        other => panic!("{other:?}"),
    }
    drop(cam);
}

#[tokio::test]
async fn unreachable_camera_is_a_connection_error() {
    let cam = SimCamera::start(SimConfig::new(Vendor::Hikvision))
        .await
        .unwrap();
    let cfg = config(&cam);
    drop(cam);
    // Let the runtime drop the aborted accept task (and with it the listening socket).
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    match probe(&cfg, Arc::new(SystemClock)).await {
        Err(Error::Connect(_)) => {}
        other => panic!("{other:?}"),
    }
}
