//! Helpers shared by the `recorder_*` tests: simulated time, packets, recorders in a given state.
// Each test file uses a different part; setups drop actions other tests assert.
#![allow(dead_code, unused_must_use)]

use std::time::Duration;

use vigil_core::kind::EventKind;
use vigil_core::packet::{PacketMeta, TrackKind};
use vigil_core::recorder::{
    Action, Actions, CloseReason, Input, MotionSource, OpenReason, PacketRoute, Recorder,
    RecorderConfig, State,
};
use vigil_core::time::Time;

pub use vigil_core::recorder::DropWhy;

pub const ONVIF: MotionSource = MotionSource::Onvif;
pub const API: MotionSource = MotionSource::Api;

/// Simulated time: seconds since an arbitrary epoch.
pub fn t(secs: f64) -> Time {
    Time::from_secs(1_800_000_000).plus_micros((secs * 1e6).round() as i64)
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// 10 s post-roll, 300 s clips, 120 s motion timeout, enabled.
pub fn config() -> RecorderConfig {
    RecorderConfig {
        enabled: true,
        post_roll: secs(10),
        max_clip: secs(300),
        motion_timeout: secs(120),
    }
}

pub fn key(at: f64) -> Input {
    Input::Packet(PacketMeta {
        track: TrackKind::Video,
        time: t(at),
        keyframe: true,
    })
}

pub fn frame(at: f64) -> Input {
    Input::Packet(PacketMeta {
        track: TrackKind::Video,
        time: t(at),
        keyframe: false,
    })
}

pub fn audio(at: f64) -> Input {
    Input::Packet(PacketMeta {
        track: TrackKind::Audio,
        time: t(at),
        keyframe: true,
    })
}

pub fn start(source: MotionSource) -> Input {
    Input::MotionStart {
        source,
        kind: EventKind::Motion,
        until: None,
    }
}

pub fn pulse(source: MotionSource, until: f64) -> Input {
    Input::MotionStart {
        source,
        kind: EventKind::Motion,
        until: Some(t(until)),
    }
}

pub fn end(source: MotionSource) -> Input {
    Input::MotionEnd {
        source,
        kind: EventKind::Motion,
    }
}

pub fn flushed(first: f64, packets: usize) -> Input {
    Input::Flushed {
        first: Some(t(first)),
        packets,
    }
}

pub fn flushed_empty() -> Input {
    Input::Flushed {
        first: None,
        packets: 0,
    }
}

pub fn changed(from: State, to: State) -> Action {
    Action::StateChanged { from, to }
}

pub fn open(event: u64, reason: OpenReason) -> Action {
    Action::OpenClip { event, reason }
}

pub fn close(reason: CloseReason) -> Action {
    Action::CloseClip { reason }
}

pub const WRITE: Action = Action::Route(PacketRoute::Write);
pub const BUFFER: Action = Action::Route(PacketRoute::Buffer);
pub const DROP_IDLE: Action = Action::Route(PacketRoute::Drop(DropWhy::Idle));
pub const DROP_AWAIT: Action = Action::Route(PacketRoute::Drop(DropWhy::AwaitingKeyframe));

/// The actions as a plain Vec, for `assert_eq!` against `vec![...]`.
pub fn v(a: Actions) -> Vec<Action> {
    a.into_vec()
}

/// A recorder that has seen the stream come up at t=0: BUFFERING.
pub fn buffering_with(config: RecorderConfig) -> Recorder {
    let mut r = Recorder::new(config);
    r.handle(Input::StreamUp, t(0.0));
    assert_eq!(r.state(), State::Buffering);
    r
}

pub fn buffering() -> Recorder {
    buffering_with(config())
}

/// RECORDING event 1 (ONVIF motion at t=10), clip started at t=5 by the flush.
pub fn recording_with(config: RecorderConfig) -> Recorder {
    let mut r = buffering_with(config);
    r.handle(start(ONVIF), t(10.0));
    r.handle(flushed(5.0, 150), t(10.0));
    assert_eq!(r.state(), State::Recording);
    r
}

pub fn recording() -> Recorder {
    recording_with(config())
}

/// FINALIZING: `recording()`, ONVIF ended at t=20, post-roll deadline t=30.
pub fn finalizing() -> Recorder {
    let mut r = recording();
    r.handle(end(ONVIF), t(20.0));
    assert_eq!(r.state(), State::Finalizing);
    r
}
