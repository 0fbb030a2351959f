//! Clip boundaries inside one event: `max_clip` rollover and new codec parameters.
// Setup steps drop their actions: other tests assert them.
#![allow(unused_must_use)]

mod recorder_common;

use recorder_common::*;
use vigil_core::recorder::{Action, CloseReason, Input, OpenReason, RecorderConfig, State};

use State::*;

fn short_clips() -> RecorderConfig {
    RecorderConfig {
        max_clip: secs(60),
        ..config()
    }
}

fn rollover() -> Vec<Action> {
    vec![
        close(CloseReason::Rollover),
        open(1, OpenReason::Rollover),
        WRITE,
    ]
}

#[test]
fn a_keyframe_at_max_clip_rolls_over_to_a_new_file_of_the_same_event() {
    let mut r = recording_with(short_clips()); // clip starts at t=5 (the flush)
    assert_eq!(v(r.handle(key(64.9), t(64.9))), vec![WRITE]);
    assert_eq!(v(r.handle(frame(65.0), t(65.0))), vec![WRITE]);
    assert_eq!(v(r.handle(audio(65.01), t(65.01))), vec![WRITE]);
    // Measured from the flushed pre-roll's first packet, on the packet's own time.
    assert_eq!(v(r.handle(key(65.5), t(65.5))), rollover());
    assert_eq!(r.state(), Recording);
    assert_eq!(r.stats().clips_recorded, 2);
    assert_eq!(r.stats().current_event, Some(1));
    // The new clip started at that keyframe.
    assert_eq!(v(r.handle(key(125.0), t(125.0))), vec![WRITE]);
    assert_eq!(v(r.handle(key(125.5), t(125.5))), rollover());
    assert_eq!(r.stats().clips_recorded, 3);
}

#[test]
fn a_long_gop_rolls_over_at_the_first_keyframe_after_max_clip() {
    let mut r = recording_with(short_clips());
    for i in 0..100 {
        let at = 10.0 + f64::from(i);
        assert_eq!(v(r.handle(frame(at), t(at))), vec![WRITE]);
    }
    assert_eq!(v(r.handle(key(110.0), t(110.0))), rollover());
}

#[test]
fn rollover_happens_during_the_post_roll_too() {
    let mut r = recording_with(RecorderConfig {
        post_roll: secs(30),
        ..short_clips()
    });
    r.handle(end(ONVIF), t(50.0)); // deadline t=80
    assert_eq!(v(r.handle(key(65.0), t(65.0))), rollover());
    assert_eq!(r.state(), Finalizing);
    // After the deadline, the next keyframe closes the clip instead.
    assert_eq!(
        v(r.handle(key(80.0), t(80.0))),
        vec![
            close(CloseReason::PostRollExpired),
            changed(Finalizing, Buffering),
            BUFFER
        ]
    );
}

#[test]
fn the_post_roll_close_wins_over_a_rollover_on_the_same_keyframe() {
    let mut r = recording_with(short_clips());
    r.handle(end(ONVIF), t(60.0)); // deadline t=70, max_clip reached at t=65
    assert_eq!(
        v(r.handle(key(70.0), t(70.0))),
        vec![
            close(CloseReason::PostRollExpired),
            changed(Finalizing, Buffering),
            BUFFER
        ]
    );
    assert_eq!(r.stats().clips_recorded, 1);
}

#[test]
fn a_smaller_max_clip_applies_at_the_next_keyframe() {
    let mut r = recording(); // 300 s clips, started at t=5
    r.handle(Input::Configure(short_clips()), t(70.0));
    assert_eq!(v(r.handle(key(70.0), t(70.0))), rollover());
}

#[test]
fn a_clip_waiting_for_its_first_keyframe_never_rolls_over() {
    let mut r = buffering_with(RecorderConfig {
        max_clip: secs(0),
        ..config()
    });
    r.handle(start(ONVIF), t(10.0));
    r.handle(flushed_empty(), t(10.0));
    assert_eq!(v(r.handle(key(11.0), t(11.0))), vec![WRITE]);
    assert_eq!(v(r.handle(frame(11.04), t(11.04))), vec![WRITE]);
    assert_eq!(v(r.handle(key(12.0), t(12.0))), rollover());
}

#[test]
fn new_params_while_recording_start_a_new_clip_at_the_next_keyframe() {
    let mut r = recording();
    assert_eq!(
        v(r.handle(Input::ParamsChanged, t(20.0))),
        vec![
            close(CloseReason::ParamsChanged),
            Action::ClearBuffer,
            open(1, OpenReason::ParamsChanged),
        ]
    );
    assert_eq!(r.state(), Recording);
    assert_eq!(v(r.handle(audio(20.01), t(20.01))), vec![DROP_AWAIT]);
    assert_eq!(v(r.handle(key(20.04), t(20.04))), vec![WRITE]);
    assert_eq!(v(r.handle(frame(20.08), t(20.08))), vec![WRITE]);
    let s = r.stats();
    assert_eq!(s.clips_recorded, 2);
    assert_eq!(s.current_event, Some(1));
    // A Flushed nobody asked for is ignored.
    assert_eq!(v(r.handle(flushed(1.0, 3), t(20.1))), vec![]);
}

#[test]
fn new_params_during_the_post_roll_keep_its_deadline() {
    let mut r = finalizing(); // deadline t=30
    assert_eq!(
        v(r.handle(Input::ParamsChanged, t(25.0))),
        vec![
            close(CloseReason::ParamsChanged),
            Action::ClearBuffer,
            open(1, OpenReason::ParamsChanged),
        ]
    );
    assert_eq!(r.state(), Finalizing);
    assert_eq!(r.next_deadline(), Some(t(30.0)));
    assert_eq!(v(r.handle(key(25.04), t(25.04))), vec![WRITE]);
    assert_eq!(
        v(r.handle(key(31.0), t(31.0))),
        vec![
            close(CloseReason::PostRollExpired),
            changed(Finalizing, Buffering),
            BUFFER
        ]
    );
}

#[test]
fn new_params_after_the_deadline_close_the_clip() {
    let mut r = finalizing();
    assert_eq!(
        v(r.handle(Input::ParamsChanged, t(30.5))),
        vec![
            close(CloseReason::ParamsChanged),
            Action::ClearBuffer,
            changed(Finalizing, Buffering),
        ]
    );
    assert_eq!(v(r.handle(key(30.54), t(30.54))), vec![BUFFER]);
    assert_eq!(r.stats().clips_recorded, 1);
    assert_eq!(r.stats().current_event, None);
}

#[test]
fn new_params_while_buffering_clear_the_buffer() {
    let mut r = buffering();
    assert_eq!(
        v(r.handle(Input::ParamsChanged, t(3.0))),
        vec![Action::ClearBuffer]
    );
    assert_eq!(r.state(), Buffering);
}

#[test]
fn new_params_while_idle_do_nothing() {
    let mut r = vigil_core::recorder::Recorder::new(config());
    assert_eq!(v(r.handle(Input::ParamsChanged, t(3.0))), vec![]);
    assert_eq!(r.state(), Idle);
}
