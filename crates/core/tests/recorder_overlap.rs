//! ORIGIN.md "Overlapping Event Handling": motion during recording, during the post-roll, and after.
// Setup steps drop their actions: other tests assert them.
#![allow(unused_must_use)]

mod recorder_common;

use recorder_common::*;
use vigil_core::recorder::{Action, CloseReason, Input, OpenReason, RecorderConfig, State};

use State::*;

#[test]
fn motion_during_active_recording_extends_the_same_file() {
    let mut r = recording(); // event 1, ONVIF on
    assert_eq!(
        v(r.handle(start(API), t(15.0))),
        vec![Action::MotionOverlap {
            event: 1,
            source: API,
            at: t(15.0)
        }]
    );
    assert_eq!(r.state(), Recording);
    assert_eq!(v(r.handle(frame(15.1), t(15.1))), vec![WRITE]);
    let s = r.stats();
    assert_eq!(s.clips_recorded, 1, "no new file");
    assert_eq!(s.overlapping_events, 1);
    assert_eq!(s.motion_events, 1);
    assert_eq!(s.last_event_at, Some(t(15.0)));
    assert_eq!(s.current_event, Some(1));
}

#[test]
fn motion_during_post_buffer_returns_to_recording_in_the_same_file() {
    let mut r = finalizing(); // deadline t=30
    assert_eq!(
        v(r.handle(start(ONVIF), t(25.0))),
        vec![
            Action::MotionOverlap {
                event: 1,
                source: ONVIF,
                at: t(25.0)
            },
            changed(Finalizing, Recording),
        ]
    );
    // The old deadline is gone: a keyframe after it is written, not closed on.
    assert_eq!(r.next_deadline(), Some(t(145.0)));
    assert_eq!(v(r.handle(key(31.0), t(31.0))), vec![WRITE]);
    assert_eq!(r.stats().clips_recorded, 1);
    assert_eq!(r.stats().overlapping_events, 1);
    // The event ends again, with a fresh post-roll.
    assert_eq!(
        v(r.handle(end(ONVIF), t(40.0))),
        vec![
            Action::MotionEventEnded {
                event: 1,
                at: t(40.0),
                timed_out: false
            },
            changed(Recording, Finalizing),
        ]
    );
    assert_eq!(r.next_deadline(), Some(t(50.0)));
}

#[test]
fn motion_after_the_deadline_but_before_the_closing_keyframe_keeps_the_clip() {
    let mut r = finalizing();
    r.handle(frame(30.5), t(30.5)); // past the deadline, waiting for a keyframe
    assert_eq!(
        v(r.handle(start(API), t(31.0))),
        vec![
            Action::MotionOverlap {
                event: 1,
                source: API,
                at: t(31.0)
            },
            changed(Finalizing, Recording),
        ]
    );
    assert_eq!(v(r.handle(key(32.0), t(32.0))), vec![WRITE]);
}

#[test]
fn motion_after_recording_stopped_opens_a_new_file_for_a_new_event() {
    let mut r = finalizing();
    r.handle(key(31.0), t(31.0)); // closes the clip of event 1
    assert_eq!(r.state(), Buffering);
    assert_eq!(
        v(r.handle(start(ONVIF), t(40.0))),
        vec![
            Action::MotionEventStarted {
                event: 2,
                source: ONVIF,
                at: t(40.0)
            },
            open(2, OpenReason::Motion),
            Action::FlushPreBuffer,
            changed(Buffering, Recording),
        ]
    );
    let s = r.stats();
    assert_eq!(s.clips_recorded, 2);
    assert_eq!(s.motion_events, 2);
    assert_eq!(s.overlapping_events, 0);
    assert_eq!(s.current_event, Some(2));
}

#[test]
fn motion_after_the_close_grace_opens_a_new_event() {
    let mut r = finalizing();
    // No keyframe and no Tick: the late start itself notices the grace has run out.
    assert_eq!(
        v(r.handle(start(API), t(41.0))),
        vec![
            close(CloseReason::PostRollExpired),
            changed(Finalizing, Buffering),
            Action::MotionEventStarted {
                event: 2,
                source: API,
                at: t(41.0)
            },
            open(2, OpenReason::Motion),
            Action::FlushPreBuffer,
            changed(Buffering, Recording),
        ]
    );
}

#[test]
fn closely_spaced_events_make_one_continuous_clip() {
    let mut r = recording_with(RecorderConfig {
        post_roll: secs(5),
        ..config()
    });
    let mut now = 10.0;
    for _ in 0..10 {
        r.handle(end(ONVIF), t(now + 1.0));
        r.handle(key(now + 2.0), t(now + 2.0));
        r.handle(start(ONVIF), t(now + 3.0));
        now += 3.0;
    }
    let s = r.stats();
    assert_eq!(s.clips_recorded, 1);
    assert_eq!(s.overlapping_events, 10);
    assert_eq!(r.state(), Recording);
}

#[test]
fn a_tick_during_recording_changes_nothing() {
    let mut r = recording();
    assert_eq!(v(r.handle(Input::Tick, t(50.0))), vec![]);
    assert_eq!(r.state(), Recording);
}
