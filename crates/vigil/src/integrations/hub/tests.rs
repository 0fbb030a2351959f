use super::*;
use crate::clips::ClipStatus;

fn hub() -> Hub {
    Hub::new(
        Some(MqttTopics {
            prefix: "vigil".into(),
            discovery: Some("homeassistant".into()),
        }),
        "http://nvr:8080".into(),
    )
}

fn facts() -> CameraFacts {
    CameraFacts {
        enabled: true,
        record_on: KindSet::default_record_on(),
        state: "BUFFERING",
        stream_up: true,
        seen: KindSet::default(),
        last_clip: None,
    }
}

/// The MQTT messages of `outs` as `topic=payload` (discovery configs left out).
fn states(outs: &[Out]) -> Vec<String> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Mqtt(m) if !m.discovery => Some(format!("{}={}", m.topic, m.payload)),
            _ => None,
        })
        .collect()
}

fn hooks(outs: &[Out]) -> Vec<(WebhookEvent, Value)> {
    outs.iter()
        .filter_map(|o| match o {
            Out::Hook(e, v) => Some((*e, v.clone())),
            _ => None,
        })
        .collect()
}

fn started(id: u64, kind: EventKind, secs: i64) -> Notice {
    Notice::EventStarted {
        id,
        kind,
        source: MotionSource::Onvif,
        at: Time(secs * 1_000_000),
        camera_time: None,
    }
}

fn ended(id: u64, kind: EventKind, secs: i64) -> Notice {
    Notice::EventEnded {
        id,
        kind,
        source: MotionSource::Onvif,
        at: Time(secs * 1_000_000),
        timed_out: false,
        camera_time: None,
    }
}

#[test]
fn a_started_camera_announces_its_device_and_states() {
    let mut h = hub();
    let mut out = Vec::new();
    h.camera_started("front door", facts(), &mut out);
    let disc: Vec<&Msg> = out
        .iter()
        .filter_map(|o| match o {
            Out::Mqtt(m) if m.discovery => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(
        disc.len(),
        7,
        "motion, stream, state, recording, trigger, last clip, buffer"
    );
    assert!(disc.iter().all(|m| m.retain));
    let s = h.safe("front door").unwrap().to_owned();
    assert_eq!(
        states(&out),
        [
            format!("vigil/{s}/available=online"),
            format!("vigil/{s}/motion=OFF"),
            format!("vigil/{s}/state=BUFFERING"),
            format!("vigil/{s}/stream=ON"),
            format!("vigil/{s}/recording=ON"),
        ]
    );
}

#[test]
fn events_drive_motion_kinds_and_messages() {
    let mut h = hub();
    let mut out = Vec::new();
    h.camera_started("cam", facts(), &mut out);
    out.clear();
    h.apply("cam", &started(1, EventKind::Person, 10), &mut out);
    let st = states(&out);
    assert_eq!(st[0], "vigil/cam/person=ON");
    assert_eq!(st[1], "vigil/cam/motion=ON");
    let ev: Value = serde_json::from_str(st[2].strip_prefix("vigil/cam/event=").unwrap()).unwrap();
    assert_eq!(
        ev,
        json!({"camera": "cam", "kind": "person", "source": "onvif", "type": "start",
               "time": "1970-01-01T00:00:10.000Z", "event_id": 1})
    );
    let disc = out.iter().any(|o| {
        matches!(o, Out::Mqtt(m) if m.discovery
            && m.topic == "homeassistant/binary_sensor/vigil_cam/person/config")
    });
    assert!(disc, "the first person seen gets its sensor");
    assert_eq!(hooks(&out)[0].0, WebhookEvent::MotionStart);

    // Plain motion on top: motion already ON, no second ON; then the person ends first.
    out.clear();
    h.apply("cam", &started(2, EventKind::Motion, 11), &mut out);
    assert_eq!(states(&out).len(), 1, "only the event: {:?}", states(&out));
    out.clear();
    h.apply("cam", &ended(1, EventKind::Person, 12), &mut out);
    assert_eq!(states(&out)[0], "vigil/cam/person=OFF");
    assert!(!states(&out)
        .iter()
        .any(|s| s.starts_with("vigil/cam/motion=")));
    out.clear();
    h.apply("cam", &ended(2, EventKind::Motion, 13), &mut out);
    assert_eq!(states(&out)[0], "vigil/cam/motion=OFF");
    assert_eq!(hooks(&out)[0].0, WebhookEvent::MotionEnd);
}

#[test]
fn motion_follows_record_on() {
    let mut h = hub();
    let mut out = Vec::new();
    let mut f = facts();
    f.record_on = KindSet::parse(["person"]).unwrap();
    h.camera_started("cam", f, &mut out);
    out.clear();
    h.apply("cam", &started(1, EventKind::Vehicle, 1), &mut out);
    assert!(!states(&out).contains(&"vigil/cam/motion=ON".to_owned()));
    assert!(states(&out).contains(&"vigil/cam/vehicle=ON".to_owned()));
    out.clear();
    h.apply(
        "cam",
        &Notice::Configured {
            enabled: false,
            record_on: KindSet::parse(["vehicle"]).unwrap(),
            at: Time(0),
        },
        &mut out,
    );
    assert_eq!(
        states(&out),
        ["vigil/cam/recording=OFF", "vigil/cam/motion=ON"]
    );
}

#[test]
fn commands_parse_and_bad_ones_say_why() {
    let mut h = hub();
    h.camera_started("front door", facts(), &mut Vec::new());
    let s = h.safe("front door").unwrap().to_owned();
    let t = |leaf: &str| format!("vigil/{s}/{leaf}");
    assert_eq!(
        h.command(&t("motion/set"), b"pulse\n").unwrap(),
        Some(("front door".into(), Command::Motion(MotionCommand::Pulse)))
    );
    assert_eq!(
        h.command(&t("recording/set"), b"OFF").unwrap(),
        Some(("front door".into(), Command::Recording(false)))
    );
    assert!(h
        .command(&t("motion/set"), b"maybe")
        .unwrap_err()
        .contains("ON, OFF or PULSE"));
    assert!(h.command(&t("recording/set"), b"PULSE").is_err());
    assert!(h.command(&t("recording/set"), &[0xff, 0xfe]).is_err());
    assert!(h
        .command("vigil/nope/motion/set", b"ON")
        .unwrap_err()
        .contains("no camera"));
    assert_eq!(
        h.command(&t("motion"), b"ON").unwrap(),
        None,
        "a state, not a command"
    );
    assert_eq!(h.command("other/x/motion/set", b"ON").unwrap(), None);
    assert!(h.is_ha_status("homeassistant/status"));
    assert!(!h.is_ha_status("homeassistant/statusx"));
}

#[test]
fn clips_are_announced_with_their_link() {
    let mut h = hub();
    h.camera_started("cam", facts(), &mut Vec::new());
    let row = ClipRow {
        id: 42,
        camera: "cam".into(),
        event_id: Some(1),
        key: "cam/x.mp4".into(),
        status: ClipStatus::Complete,
        start: Some(Time(5_000_000)),
        end: Some(Time(20_000_000)),
        duration_secs: 15.0,
        bytes: 1000,
        frames: 450,
        video_codec: "h264".into(),
        width: 640,
        height: 360,
        pre_roll_secs: 5.0,
        trigger: "motion".into(),
        close_reason: Some("motion_ended".into()),
        protected: false,
        kinds: KindSet::parse(["person"]).unwrap(),
        store_status: crate::catalog::StoreStatus::Local,
        local: true,
        node: String::new(),
    };
    let mut out = Vec::new();
    h.clip(true, &row, &mut out);
    let st = states(&out);
    let clip: Value = serde_json::from_str(st[0].strip_prefix("vigil/cam/clip=").unwrap()).unwrap();
    assert_eq!(clip["id"], 42);
    assert_eq!(clip["pre_roll_secs"], 5.0);
    assert_eq!(clip["kinds"], json!(["person"]));
    assert_eq!(clip["url"], "http://nvr:8080/api/recordings/42/file");
    assert!(st[1].starts_with("vigil/cam/last_clip={"));
    assert_eq!(hooks(&out)[0].0, WebhookEvent::ClipClosed);
    out.clear();
    h.clip(false, &row, &mut out);
    assert_eq!(states(&out).len(), 0, "an opened clip is a webhook only");
    assert_eq!(hooks(&out)[0].0, WebhookEvent::ClipOpened);
}

#[test]
fn a_removed_camera_clears_its_device() {
    let mut h = hub();
    let mut f = facts();
    f.seen = KindSet::parse(["vehicle"]).unwrap();
    h.camera_started("cam", f, &mut Vec::new());
    let mut out = Vec::new();
    h.apply("cam", &Notice::Stopped { at: Time(0) }, &mut out);
    assert!(states(&out).contains(&"vigil/cam/available=offline".to_owned()));
    out.clear();
    h.apply("cam", &Notice::Removed { at: Time(0) }, &mut out);
    let cleared: Vec<&Msg> = out
        .iter()
        .filter_map(|o| match o {
            Out::Mqtt(m) => Some(m),
            _ => None,
        })
        .collect();
    assert!(cleared.iter().all(|m| m.retain && m.payload.is_empty()));
    assert_eq!(
        cleared.iter().filter(|m| m.discovery).count(),
        8,
        "7 + vehicle"
    );
    assert!(cleared.iter().any(|m| m.topic == "vigil/cam/vehicle"));
    assert!(h.safe("cam").is_none());
}

#[test]
fn buffer_levels_are_published_when_they_change() {
    let mut h = hub();
    h.camera_started("cam", facts(), &mut Vec::new());
    let mut out = Vec::new();
    h.buffer("cam", 2.5, 5, &mut out);
    assert_eq!(
        states(&out),
        [r#"vigil/cam/buffer={"percent":50,"secs":2.5,"target_secs":5}"#]
    );
    out.clear();
    h.buffer("cam", 2.51, 5, &mut out);
    assert!(out.is_empty());
    h.buffer("cam", 9.0, 5, &mut out);
    assert!(states(&out)[0].contains("\"percent\":100"));
}

#[test]
fn without_mqtt_only_webhooks_come_out() {
    let mut h = Hub::new(None, "http://x".into());
    let mut out = Vec::new();
    h.camera_started("cam", facts(), &mut out);
    h.apply("cam", &started(1, EventKind::Motion, 1), &mut out);
    h.apply(
        "cam",
        &Notice::Stream {
            up: false,
            at: Time(0),
            detail: Some("gone".into()),
        },
        &mut out,
    );
    assert!(states(&out).is_empty());
    let hs: Vec<WebhookEvent> = hooks(&out).into_iter().map(|h| h.0).collect();
    assert_eq!(hs, [WebhookEvent::MotionStart, WebhookEvent::CameraDown]);
    assert!(h.subscriptions().is_empty() && h.birth().is_none());
}
