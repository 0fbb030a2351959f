//! Motion sources: several at once, repeated starts, API pulses, the motion timeout.
// Setup steps drop their actions: other tests assert them.
#![allow(unused_must_use)]

mod recorder_common;

use recorder_common::*;
use vigil_core::recorder::{Action, Input, MotionSource, Recorder, RecorderConfig, State};

use State::*;

fn ended(at: f64, timed_out: bool) -> Action {
    Action::MotionEventEnded {
        event: 1,
        at: t(at),
        timed_out,
    }
}

#[test]
fn motion_stays_on_until_every_source_has_ended() {
    let mut r = recording(); // ONVIF on since t=10
    r.handle(start(API), t(11.0));
    assert_eq!(v(r.handle(end(ONVIF), t(12.0))), vec![]);
    assert_eq!(r.state(), Recording);
    assert!(r.stats().motion_active);
    assert_eq!(
        v(r.handle(end(API), t(13.0))),
        vec![ended(13.0, false), changed(Recording, Finalizing)]
    );
}

#[test]
fn a_repeated_start_from_the_same_source_is_not_an_overlap() {
    let mut r = recording();
    assert_eq!(v(r.handle(start(ONVIF), t(11.0))), vec![]);
    assert_eq!(r.stats().overlapping_events, 0);
    assert_eq!(r.stats().last_event_at, Some(t(10.0)));
    // One end is enough: the source was on once, not twice.
    assert_eq!(
        v(r.handle(end(ONVIF), t(12.0))),
        vec![ended(12.0, false), changed(Recording, Finalizing)]
    );
}

#[test]
fn a_pulse_ends_by_itself_at_its_end() {
    let mut r = buffering();
    r.handle(pulse(API, 15.0), t(10.0));
    r.handle(flushed(5.0, 10), t(10.0));
    assert_eq!(r.next_deadline(), Some(t(15.0)));
    assert_eq!(v(r.handle(Input::Tick, t(14.9))), vec![]);
    assert_eq!(
        v(r.handle(Input::Tick, t(15.0))),
        vec![
            Action::MotionEventEnded {
                event: 1,
                at: t(15.0),
                timed_out: false
            },
            changed(Recording, Finalizing)
        ]
    );
    assert_eq!(r.next_deadline(), Some(t(25.0)));
}

#[test]
fn a_pulse_end_is_noticed_by_any_input_and_reported_at_its_end() {
    let mut r = buffering();
    r.handle(pulse(API, 15.0), t(10.0));
    r.handle(flushed(5.0, 10), t(10.0));
    // No Tick came; a packet at 15.5 notices the end first, then is routed.
    assert_eq!(
        v(r.handle(frame(15.5), t(15.5))),
        vec![
            Action::MotionEventEnded {
                event: 1,
                at: t(15.0),
                timed_out: false
            },
            changed(Recording, Finalizing),
            WRITE
        ]
    );
    // The post-roll counts from the pulse's end.
    assert_eq!(r.next_deadline(), Some(t(25.0)));
}

#[test]
fn a_pulse_that_has_already_ended_ends_in_the_same_call() {
    let mut r = buffering();
    assert_eq!(
        v(r.handle(pulse(API, 10.0), t(10.0))),
        vec![
            Action::MotionEventStarted {
                event: 1,
                source: API,
                at: t(10.0)
            },
            open(1, vigil_core::recorder::OpenReason::Motion),
            Action::FlushPreBuffer,
            changed(Buffering, Recording),
            Action::MotionEventEnded {
                event: 1,
                at: t(10.0),
                timed_out: false
            },
            changed(Recording, Finalizing),
        ]
    );
    // The flush answer, at the same time, has nothing left to do.
    assert_eq!(v(r.handle(flushed(5.0, 10), t(10.0))), vec![]);
    assert_eq!(r.next_deadline(), Some(t(20.0)));
}

#[test]
fn a_pulse_on_top_of_a_pulse_ends_at_the_later_end() {
    let mut r = buffering();
    r.handle(pulse(API, 40.0), t(10.0));
    r.handle(pulse(API, 20.0), t(12.0));
    assert_eq!(r.next_deadline(), Some(t(40.0)));
    // A plain start makes it last until an end (or the timeout from this start).
    r.handle(start(API), t(13.0));
    assert_eq!(r.next_deadline(), Some(t(133.0)));
}

#[test]
fn a_start_with_no_end_times_out() {
    let mut r = recording(); // ONVIF started at t=10, timeout 120 s
    assert_eq!(r.next_deadline(), Some(t(130.0)));
    assert_eq!(
        v(r.handle(Input::Tick, t(130.0))),
        vec![ended(130.0, true), changed(Recording, Finalizing)]
    );
    assert_eq!(r.next_deadline(), Some(t(140.0)));
}

#[test]
fn the_timeout_counts_from_the_latest_start_of_that_source() {
    let mut r = recording();
    r.handle(start(ONVIF), t(100.0)); // ONVIF re-sync
    assert_eq!(v(r.handle(Input::Tick, t(130.0))), vec![]);
    assert_eq!(r.next_deadline(), Some(t(220.0)));
    assert_eq!(
        v(r.handle(Input::Tick, t(220.0))),
        vec![ended(220.0, true), changed(Recording, Finalizing)]
    );
}

#[test]
fn a_timed_out_source_does_not_end_motion_while_another_is_on() {
    let mut r = recording();
    r.handle(start(API), t(100.0));
    assert_eq!(v(r.handle(Input::Tick, t(130.0))), vec![]);
    assert!(r.stats().motion_active);
    assert_eq!(r.next_deadline(), Some(t(220.0)));
}

#[test]
fn a_pulse_longer_than_the_timeout_times_out() {
    let mut r = recording_with(RecorderConfig {
        motion_timeout: secs(30),
        ..config()
    });
    r.handle(end(ONVIF), t(11.0));
    r.handle(pulse(API, 500.0), t(12.0)); // overlap during the post-roll
    assert_eq!(r.next_deadline(), Some(t(42.0)));
    assert_eq!(
        v(r.handle(Input::Tick, t(42.0))),
        vec![ended(42.0, true), changed(Recording, Finalizing)]
    );
}

#[test]
fn a_changed_timeout_applies_to_sources_already_on() {
    let mut r = recording(); // ONVIF on since t=10
    r.handle(
        Input::Configure(RecorderConfig {
            motion_timeout: secs(5),
            ..config()
        }),
        t(12.0),
    );
    assert_eq!(r.next_deadline(), Some(t(15.0)));
    // Shorter still: the source has been on longer than that, so it times out at once.
    assert_eq!(
        v(r.handle(
            Input::Configure(RecorderConfig {
                motion_timeout: secs(1),
                ..config()
            }),
            t(13.0),
        )),
        vec![ended(11.0, true), changed(Recording, Finalizing)]
    );
    assert_eq!(r.next_deadline(), Some(t(21.0)));
}

#[test]
fn motion_times_out_while_idle_too() {
    let mut r = Recorder::new(config());
    r.handle(start(MotionSource::Demo), t(0.0));
    assert_eq!(r.next_deadline(), Some(t(120.0)));
    assert_eq!(
        v(r.handle(Input::Tick, t(121.0))),
        vec![Action::MotionEventEnded {
            event: 1,
            at: t(120.0),
            timed_out: true
        }]
    );
    assert_eq!(r.state(), Idle);
    assert_eq!(r.stats().current_event, None);
}

#[test]
fn a_second_source_while_idle_joins_the_same_event() {
    let mut r = Recorder::new(config());
    r.handle(start(ONVIF), t(0.0));
    assert_eq!(v(r.handle(start(API), t(1.0))), vec![]);
    assert_eq!(r.stats().motion_events, 1);
    assert_eq!(v(r.handle(end(ONVIF), t(2.0))), vec![]);
    assert_eq!(
        v(r.handle(end(API), t(3.0))),
        vec![Action::MotionEventEnded {
            event: 1,
            at: t(3.0),
            timed_out: false
        }]
    );
}

#[test]
fn an_end_from_a_source_that_is_off_is_ignored() {
    let mut r = recording();
    assert_eq!(v(r.handle(end(API), t(11.0))), vec![]);
    assert_eq!(r.state(), Recording);
    let mut r = buffering();
    assert_eq!(v(r.handle(end(ONVIF), t(1.0))), vec![]);
    let mut r = Recorder::new(config());
    assert_eq!(v(r.handle(end(ONVIF), t(1.0))), vec![]);
}
