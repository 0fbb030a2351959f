//! The main path: IDLE → BUFFERING → RECORDING → FINALIZING → BUFFERING, with exact action lists.
// Setup steps drop their actions: other tests assert them.
#![allow(unused_must_use)]

mod recorder_common;

use recorder_common::*;
use vigil_core::recorder::{
    Action, CloseReason, Input, MotionSource, OpenReason, Recorder, RecorderConfig, RecorderStats,
    State, CLOSE_GRACE,
};
use vigil_core::settings::RecordingSettings;

use State::*;

#[test]
fn names_are_the_ones_logged() {
    let names: Vec<String> = [Idle, Buffering, Recording, Finalizing]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(names, ["IDLE", "BUFFERING", "RECORDING", "FINALIZING"]);
    assert_eq!(Finalizing.as_str(), "FINALIZING");
    let sources: Vec<&str> = MotionSource::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(sources, ["onvif", "api", "demo", "detector", "mqtt"]);
    assert_eq!(MotionSource::Detector.to_string(), "detector");
    let opens: Vec<&str> = [
        OpenReason::Motion,
        OpenReason::Rollover,
        OpenReason::ParamsChanged,
        OpenReason::Reconnected,
        OpenReason::Enabled,
    ]
    .iter()
    .map(|r| r.as_str())
    .collect();
    assert_eq!(
        opens,
        [
            "motion",
            "rollover",
            "params_changed",
            "reconnected",
            "enabled"
        ]
    );
    let closes: Vec<String> = [
        CloseReason::PostRollExpired,
        CloseReason::Rollover,
        CloseReason::StreamLost,
        CloseReason::Disabled,
        CloseReason::ParamsChanged,
        CloseReason::Shutdown,
    ]
    .iter()
    .map(|r| r.to_string())
    .collect();
    assert_eq!(
        closes,
        [
            "post_roll_expired",
            "rollover",
            "stream_lost",
            "disabled",
            "params_changed",
            "shutdown"
        ]
    );
    assert_eq!(DropWhy::AwaitingKeyframe.as_str(), "awaiting_keyframe");
    assert_eq!(DropWhy::Idle.to_string(), "idle");
}

#[test]
fn config_comes_from_settings() {
    let s = RecordingSettings {
        enabled: false,
        post_buffer_secs: 7,
        max_clip_secs: 60,
        motion_timeout_secs: 30,
        ..Default::default()
    };
    let c = RecorderConfig::from_settings(&s);
    assert_eq!(
        c,
        RecorderConfig {
            enabled: false,
            post_roll: secs(7),
            max_clip: secs(60),
            motion_timeout: secs(30)
        }
    );
    assert_eq!(RecorderConfig::default().post_roll, secs(10));
}

#[test]
fn new_recorder_is_idle_and_drops_packets() {
    let mut r = Recorder::new(config());
    assert_eq!(r.state(), Idle);
    assert_eq!(v(r.handle(key(0.0), t(0.0))), vec![DROP_IDLE]);
    assert_eq!(v(r.handle(audio(0.1), t(0.1))), vec![DROP_IDLE]);
    assert_eq!(r.stats(), RecorderStats::default());
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn stream_up_when_enabled_starts_buffering() {
    let mut r = Recorder::new(config());
    assert_eq!(
        v(r.handle(Input::StreamUp, t(0.0))),
        vec![changed(Idle, Buffering)]
    );
    assert_eq!(r.state(), Buffering);
}

#[test]
fn stream_up_when_disabled_stays_idle() {
    let mut r = Recorder::new(RecorderConfig {
        enabled: false,
        ..config()
    });
    assert_eq!(v(r.handle(Input::StreamUp, t(0.0))), vec![]);
    assert_eq!(v(r.handle(key(0.1), t(0.1))), vec![DROP_IDLE]);
}

#[test]
fn enabling_with_stream_up_starts_buffering() {
    let off = RecorderConfig {
        enabled: false,
        ..config()
    };
    let mut r = Recorder::new(off.clone());
    r.handle(Input::StreamUp, t(0.0));
    assert_eq!(
        v(r.handle(Input::Configure(config()), t(1.0))),
        vec![changed(Idle, Buffering)]
    );
    assert_eq!(r.config(), &config());

    // With the stream down, enabling only remembers the setting.
    let mut r = Recorder::new(off);
    assert_eq!(v(r.handle(Input::Configure(config()), t(1.0))), vec![]);
    assert_eq!(r.state(), Idle);
    assert_eq!(
        v(r.handle(Input::StreamUp, t(2.0))),
        vec![changed(Idle, Buffering)]
    );
}

#[test]
fn buffering_routes_every_packet_to_the_buffer() {
    let mut r = buffering();
    for p in [key(0.0), frame(0.04), audio(0.05)] {
        assert_eq!(v(r.handle(p, t(0.1))), vec![BUFFER]);
    }
    assert_eq!(r.state(), Buffering);
}

#[test]
fn motion_in_buffering_opens_a_clip_with_the_pre_roll() {
    let mut r = buffering();
    assert_eq!(
        v(r.handle(start(ONVIF), t(10.0))),
        vec![
            Action::MotionEventStarted {
                event: 1,
                source: ONVIF,
                at: t(10.0)
            },
            open(1, OpenReason::Motion),
            Action::FlushPreBuffer,
            changed(Buffering, Recording),
        ]
    );
    assert_eq!(v(r.handle(flushed(5.0, 150), t(10.0))), vec![]);
    assert_eq!(v(r.handle(frame(10.04), t(10.04))), vec![WRITE]);
    assert_eq!(v(r.handle(audio(10.05), t(10.05))), vec![WRITE]);
    assert_eq!(
        r.stats(),
        RecorderStats {
            clips_recorded: 1,
            motion_events: 1,
            overlapping_events: 0,
            last_event_at: Some(t(10.0)),
            current_event: Some(1),
            clip_open: true,
            motion_active: true,
        }
    );
}

#[test]
fn empty_flush_waits_for_a_keyframe() {
    let mut r = buffering();
    r.handle(start(ONVIF), t(10.0));
    assert_eq!(v(r.handle(flushed_empty(), t(10.0))), vec![]);
    assert_eq!(v(r.handle(frame(10.04), t(10.04))), vec![DROP_AWAIT]);
    assert_eq!(v(r.handle(audio(10.05), t(10.05))), vec![DROP_AWAIT]);
    assert_eq!(v(r.handle(key(10.5), t(10.5))), vec![WRITE]);
    assert_eq!(v(r.handle(frame(10.54), t(10.54))), vec![WRITE]);
    assert_eq!(v(r.handle(audio(10.55), t(10.55))), vec![WRITE]);
    // The clip started at that keyframe: max_clip counts from there.
    let mut r2 = buffering_with(RecorderConfig {
        max_clip: secs(60),
        ..config()
    });
    r2.handle(start(ONVIF), t(10.0));
    r2.handle(flushed_empty(), t(10.0));
    r2.handle(key(12.0), t(12.0));
    assert_eq!(v(r2.handle(key(71.9), t(71.9))), vec![WRITE]);
    assert_eq!(
        v(r2.handle(key(72.0), t(72.0))),
        vec![
            close(CloseReason::Rollover),
            open(1, OpenReason::Rollover),
            WRITE
        ]
    );
}

#[test]
fn event_ids_increase_from_one() {
    let mut r = recording_with(RecorderConfig {
        post_roll: secs(0),
        ..config()
    });
    r.handle(end(ONVIF), t(20.0));
    r.handle(key(21.0), t(21.0)); // closes the clip: BUFFERING
    let out = v(r.handle(start(API), t(30.0)));
    assert_eq!(
        out[0],
        Action::MotionEventStarted {
            event: 2,
            source: API,
            at: t(30.0)
        }
    );
    assert_eq!(out[1], open(2, OpenReason::Motion));
}

#[test]
fn recording_writes_every_packet() {
    let mut r = recording();
    for p in [key(11.0), frame(11.04), audio(11.05)] {
        assert_eq!(v(r.handle(p, t(11.1))), vec![WRITE]);
    }
}

#[test]
fn last_motion_end_starts_the_post_roll() {
    let mut r = recording();
    assert_eq!(
        v(r.handle(end(ONVIF), t(20.0))),
        vec![
            Action::MotionEventEnded {
                event: 1,
                at: t(20.0),
                timed_out: false
            },
            changed(Recording, Finalizing),
        ]
    );
    assert_eq!(r.next_deadline(), Some(t(30.0)));
    let s = r.stats();
    assert!(s.clip_open && !s.motion_active);
    assert_eq!(s.current_event, Some(1));
}

#[test]
fn finalizing_writes_until_the_deadline_then_closes_at_the_next_keyframe() {
    let mut r = finalizing();
    assert_eq!(v(r.handle(key(25.0), t(25.0))), vec![WRITE]);
    assert_eq!(v(r.handle(frame(29.9), t(29.9))), vec![WRITE]);
    // The deadline passes: nothing happens until a keyframe arrives.
    assert_eq!(v(r.handle(Input::Tick, t(30.0))), vec![]);
    assert_eq!(v(r.handle(frame(30.5), t(30.5))), vec![WRITE]);
    assert_eq!(v(r.handle(audio(30.6), t(30.6))), vec![WRITE]);
    assert_eq!(
        v(r.handle(key(31.0), t(31.0))),
        vec![
            close(CloseReason::PostRollExpired),
            changed(Finalizing, Buffering),
            BUFFER
        ]
    );
    assert_eq!(v(r.handle(frame(31.04), t(31.04))), vec![BUFFER]);
    let s = r.stats();
    assert!(!s.clip_open && !s.motion_active);
    assert_eq!(s.current_event, None);
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn without_a_keyframe_the_close_grace_closes_the_clip() {
    let mut r = finalizing();
    assert_eq!(r.next_deadline(), Some(t(30.0)));
    r.handle(Input::Tick, t(30.0));
    assert_eq!(r.next_deadline(), Some(t(30.0).plus(CLOSE_GRACE)));
    assert_eq!(v(r.handle(frame(39.9), t(39.9))), vec![WRITE]);
    assert_eq!(
        v(r.handle(Input::Tick, t(40.0))),
        vec![
            close(CloseReason::PostRollExpired),
            changed(Finalizing, Buffering)
        ]
    );
    assert_eq!(r.state(), Buffering);
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn zero_post_roll_closes_at_the_next_keyframe() {
    let mut r = recording_with(RecorderConfig {
        post_roll: secs(0),
        ..config()
    });
    r.handle(end(ONVIF), t(20.0));
    assert_eq!(v(r.handle(frame(20.04), t(20.04))), vec![WRITE]);
    assert_eq!(
        v(r.handle(key(20.5), t(20.5))),
        vec![
            close(CloseReason::PostRollExpired),
            changed(Finalizing, Buffering),
            BUFFER
        ]
    );
}

#[test]
fn motion_while_idle_is_remembered_and_recorded_once_the_stream_is_up() {
    let mut r = Recorder::new(config());
    assert_eq!(
        v(r.handle(start(ONVIF), t(1.0))),
        vec![Action::MotionEventStarted {
            event: 1,
            source: ONVIF,
            at: t(1.0)
        }]
    );
    assert_eq!(r.state(), Idle);
    assert_eq!(
        v(r.handle(Input::StreamUp, t(2.0))),
        vec![
            changed(Idle, Buffering),
            open(1, OpenReason::Reconnected),
            Action::FlushPreBuffer,
            changed(Buffering, Recording),
        ]
    );
    r.handle(flushed_empty(), t(2.0));
    assert_eq!(v(r.handle(frame(2.1), t(2.1))), vec![DROP_AWAIT]);
    assert_eq!(v(r.handle(key(2.5), t(2.5))), vec![WRITE]);
}

#[test]
fn motion_while_disabled_is_recorded_once_enabled() {
    let mut r = Recorder::new(RecorderConfig {
        enabled: false,
        ..config()
    });
    r.handle(Input::StreamUp, t(0.0));
    r.handle(start(API), t(1.0));
    assert_eq!(r.stats().current_event, Some(1));
    assert_eq!(
        v(r.handle(Input::Configure(config()), t(2.0))),
        vec![
            changed(Idle, Buffering),
            open(1, OpenReason::Enabled),
            Action::FlushPreBuffer,
            changed(Buffering, Recording),
        ]
    );
}

#[test]
fn motion_that_starts_and_ends_while_idle_is_an_event_without_a_clip() {
    let mut r = Recorder::new(config());
    r.handle(start(ONVIF), t(1.0));
    assert_eq!(
        v(r.handle(end(ONVIF), t(3.0))),
        vec![Action::MotionEventEnded {
            event: 1,
            at: t(3.0),
            timed_out: false
        }]
    );
    assert_eq!(
        v(r.handle(Input::StreamUp, t(4.0))),
        vec![changed(Idle, Buffering)]
    );
    assert_eq!(r.stats().clips_recorded, 0);
}

#[test]
fn shutdown_closes_the_clip_and_ignores_everything_after() {
    let mut r = finalizing();
    assert_eq!(
        v(r.handle(Input::Shutdown, t(21.0))),
        vec![
            close(CloseReason::Shutdown),
            Action::ClearBuffer,
            changed(Finalizing, Idle)
        ]
    );
    assert_eq!(r.next_deadline(), None);
    for input in [
        Input::StreamUp,
        start(ONVIF),
        Input::Configure(config()),
        Input::Tick,
    ] {
        assert_eq!(v(r.handle(input, t(22.0))), vec![]);
    }
    assert_eq!(v(r.handle(key(23.0), t(23.0))), vec![DROP_IDLE]);
    assert_eq!(r.state(), Idle);
}

#[test]
fn shutdown_while_motion_is_on_ends_the_event() {
    let mut r = recording();
    assert_eq!(
        v(r.handle(Input::Shutdown, t(12.0))),
        vec![
            Action::MotionEventEnded {
                event: 1,
                at: t(12.0),
                timed_out: false
            },
            close(CloseReason::Shutdown),
            Action::ClearBuffer,
            changed(Recording, Idle),
        ]
    );
    let s = r.stats();
    assert!(!s.motion_active && !s.clip_open && s.current_event.is_none());
}

#[test]
fn shutdown_while_buffering_clears_the_buffer() {
    let mut r = buffering();
    assert_eq!(
        v(r.handle(Input::Shutdown, t(1.0))),
        vec![Action::ClearBuffer, changed(Buffering, Idle)]
    );
}

/// The driver may hand packets over in batches, some time after they arrived: the post-roll is
/// judged on each keyframe's own time, so a late batch neither cuts the post-roll short nor
/// stretches it.
#[test]
fn post_roll_is_judged_on_packet_time_not_handling_time() {
    let mut r = recording(); // post-roll 10 s
    r.handle(end(ONVIF), t(20.0)); // deadline t=30
                                   // Keyframe from t=29.9 handled at t=30.2: still post-roll, written.
    assert_eq!(v(r.handle(key(29.9), t(30.2))), vec![WRITE]);
    assert_eq!(r.state(), Finalizing);
    // The keyframe from t=30.0 ends it, whenever it is handled.
    assert_eq!(
        v(r.handle(key(30.0), t(30.25))),
        vec![
            close(CloseReason::PostRollExpired),
            changed(Finalizing, Buffering),
            BUFFER
        ]
    );
}
