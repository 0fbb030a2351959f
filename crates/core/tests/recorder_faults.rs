//! Stream loss, disabling, live config changes, and inputs that arrive where they make no sense.
// Setup steps drop their actions: other tests assert them.
#![allow(unused_must_use)]

mod recorder_common;

use recorder_common::*;
use vigil_core::recorder::{
    Action, CloseReason, Input, OpenReason, Recorder, RecorderConfig, State,
};

use State::*;

fn disabled() -> RecorderConfig {
    RecorderConfig {
        enabled: false,
        ..config()
    }
}

#[test]
fn stream_lost_while_recording_closes_the_clip_and_keeps_the_motion() {
    let mut r = recording();
    assert_eq!(
        v(r.handle(Input::StreamLost, t(15.0))),
        vec![
            close(CloseReason::StreamLost),
            Action::ClearBuffer,
            changed(Recording, Idle)
        ]
    );
    let s = r.stats();
    assert!(s.motion_active && !s.clip_open);
    assert_eq!(s.current_event, Some(1));
    assert_eq!(v(r.handle(key(15.5), t(15.5))), vec![DROP_IDLE]);
}

#[test]
fn stream_back_with_motion_still_on_opens_a_new_clip_of_the_same_event() {
    let mut r = recording();
    r.handle(Input::StreamLost, t(15.0));
    assert_eq!(
        v(r.handle(Input::StreamUp, t(18.0))),
        vec![
            changed(Idle, Buffering),
            open(1, OpenReason::Reconnected),
            Action::FlushPreBuffer,
            changed(Buffering, Recording),
        ]
    );
    // The buffer was cleared, so the flush is empty: the clip waits for a keyframe.
    r.handle(flushed_empty(), t(18.0));
    assert_eq!(v(r.handle(frame(18.1), t(18.1))), vec![DROP_AWAIT]);
    assert_eq!(v(r.handle(key(18.5), t(18.5))), vec![WRITE]);
    let s = r.stats();
    assert_eq!((s.clips_recorded, s.motion_events), (2, 1));
}

#[test]
fn stream_back_after_motion_ended_only_buffers() {
    let mut r = recording();
    r.handle(Input::StreamLost, t(15.0));
    r.handle(end(ONVIF), t(16.0));
    assert_eq!(r.stats().current_event, None);
    assert_eq!(
        v(r.handle(Input::StreamUp, t(18.0))),
        vec![changed(Idle, Buffering)]
    );
}

#[test]
fn stream_lost_during_the_post_roll_ends_the_clip_and_the_event() {
    let mut r = finalizing();
    assert_eq!(
        v(r.handle(Input::StreamLost, t(25.0))),
        vec![
            close(CloseReason::StreamLost),
            Action::ClearBuffer,
            changed(Finalizing, Idle)
        ]
    );
    assert_eq!(r.stats().current_event, None);
    assert_eq!(r.next_deadline(), None);
    assert_eq!(
        v(r.handle(Input::StreamUp, t(26.0))),
        vec![changed(Idle, Buffering)]
    );
}

#[test]
fn stream_lost_while_buffering_clears_the_buffer() {
    let mut r = buffering();
    assert_eq!(
        v(r.handle(Input::StreamLost, t(5.0))),
        vec![Action::ClearBuffer, changed(Buffering, Idle)]
    );
    assert_eq!(v(r.handle(Input::StreamLost, t(6.0))), vec![]);
}

#[test]
fn stream_up_twice_changes_nothing() {
    let mut r = buffering();
    assert_eq!(v(r.handle(Input::StreamUp, t(1.0))), vec![]);
    let mut r = recording();
    assert_eq!(v(r.handle(Input::StreamUp, t(11.0))), vec![]);
    assert_eq!(r.state(), Recording);
}

#[test]
fn disabling_while_recording_closes_the_clip() {
    let mut r = recording();
    assert_eq!(
        v(r.handle(Input::Configure(disabled()), t(12.0))),
        vec![
            close(CloseReason::Disabled),
            Action::ClearBuffer,
            changed(Recording, Idle)
        ]
    );
    assert!(r.stats().motion_active);
    assert!(!r.config().enabled);
    assert_eq!(v(r.handle(frame(12.1), t(12.1))), vec![DROP_IDLE]);
    // Enabled again with motion still on: a new clip of the same event.
    assert_eq!(
        v(r.handle(Input::Configure(config()), t(13.0))),
        vec![
            changed(Idle, Buffering),
            open(1, OpenReason::Enabled),
            Action::FlushPreBuffer,
            changed(Buffering, Recording),
        ]
    );
}

#[test]
fn disabling_while_buffering_clears_the_buffer() {
    let mut r = buffering();
    assert_eq!(
        v(r.handle(Input::Configure(disabled()), t(2.0))),
        vec![Action::ClearBuffer, changed(Buffering, Idle)]
    );
    assert_eq!(v(r.handle(Input::Configure(disabled()), t(3.0))), vec![]);
}

#[test]
fn a_new_post_roll_applies_to_the_next_deadline() {
    let mut r = finalizing(); // deadline t=30 with the old 10 s
    let long = RecorderConfig {
        post_roll: secs(60),
        ..config()
    };
    assert_eq!(v(r.handle(Input::Configure(long), t(21.0))), vec![]);
    assert_eq!(r.state(), Finalizing);
    assert_eq!(
        r.next_deadline(),
        Some(t(30.0)),
        "the running post-roll keeps its deadline"
    );
    r.handle(start(ONVIF), t(22.0));
    r.handle(end(ONVIF), t(23.0));
    assert_eq!(r.next_deadline(), Some(t(83.0)));
}

#[test]
fn flushed_with_no_clip_open_is_ignored() {
    let mut r = Recorder::new(config());
    assert_eq!(v(r.handle(flushed(0.0, 5), t(1.0))), vec![]);
    let mut r = buffering();
    assert_eq!(v(r.handle(flushed_empty(), t(1.0))), vec![]);
    assert_eq!(r.state(), Buffering);
    // A second answer to one flush changes nothing either.
    let mut r = recording(); // clip started at t=5
    r.handle(flushed_empty(), t(11.0));
    assert_eq!(v(r.handle(frame(11.1), t(11.1))), vec![WRITE]);
}

#[test]
fn packets_before_the_flush_answer_wait_for_a_keyframe() {
    // A driver that routes packets before answering the flush: the clip cannot start mid-GOP.
    let mut r = buffering();
    r.handle(start(ONVIF), t(10.0));
    assert_eq!(v(r.handle(frame(10.04), t(10.04))), vec![DROP_AWAIT]);
    assert_eq!(v(r.handle(key(10.5), t(10.5))), vec![WRITE]);
    assert_eq!(v(r.handle(flushed(5.0, 10), t(10.6))), vec![]);
}

#[test]
fn time_going_backwards_is_survived() {
    let mut r = finalizing();
    assert_eq!(v(r.handle(key(10.0), t(5.0))), vec![WRITE]);
    assert_eq!(v(r.handle(Input::Tick, t(0.0))), vec![]);
    assert_eq!(r.state(), Finalizing);
    let mut r = recording_with(RecorderConfig {
        max_clip: secs(1),
        ..config()
    });
    assert_eq!(v(r.handle(key(1.0), t(11.0))), vec![WRITE]);
}

#[test]
fn extreme_times_and_durations_do_not_panic() {
    let huge = RecorderConfig {
        enabled: true,
        post_roll: std::time::Duration::MAX,
        max_clip: std::time::Duration::MAX,
        motion_timeout: std::time::Duration::MAX,
    };
    let mut r = Recorder::new(huge);
    let far = vigil_core::time::Time(i64::MAX);
    let past = vigil_core::time::Time(i64::MIN);
    for now in [past, far] {
        for input in every_input() {
            r.handle(input, now);
        }
        let _ = r.next_deadline();
    }
}

fn every_input() -> Vec<Input> {
    vec![
        Input::StreamUp,
        start(ONVIF),
        pulse(API, -1e9),
        flushed(0.0, 1),
        flushed_empty(),
        key(0.0),
        frame(0.0),
        audio(0.0),
        Input::ParamsChanged,
        Input::Tick,
        end(ONVIF),
        end(API),
        Input::Configure(config()),
        Input::Configure(disabled()),
        Input::StreamLost,
        Input::Shutdown,
    ]
}

#[test]
fn every_input_in_every_state_is_handled() {
    let makers: [(State, fn() -> Recorder); 4] = [
        (Idle, || Recorder::new(config())),
        (Buffering, buffering),
        (Recording, recording),
        (Finalizing, finalizing),
    ];
    for (state, make) in makers {
        for input in every_input() {
            let mut r = make();
            assert_eq!(r.state(), state);
            let packet = matches!(input, Input::Packet(_));
            let out = v(r.handle(input.clone(), t(25.0)));
            let routes = out.iter().filter(|a| matches!(a, Action::Route(_))).count();
            assert_eq!(routes, usize::from(packet), "{state} {input:?}: {out:?}");
            if packet {
                assert!(matches!(out.last(), Some(Action::Route(_))));
            }
            // One StateChanged per change, chained, ending in the state the recorder reports.
            let mut at = state;
            for a in &out {
                if let Action::StateChanged { from, to } = a {
                    assert_eq!(*from, at, "{state} {input:?}: {out:?}");
                    assert_ne!(from, to);
                    at = *to;
                }
            }
            assert_eq!(r.state(), at, "{state} {input:?}: {out:?}");
        }
    }
}
