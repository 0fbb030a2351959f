//! [`Recorder`]: the state machine itself. See the module docs for the diagram and the table.

use super::motion::{Expired, Motion};
use super::types::{
    Action, Actions, CloseReason, DropWhy, Input, MotionSource, OpenReason, PacketRoute,
    RecorderConfig, RecorderStats, State, CLOSE_GRACE,
};
use crate::kind::EventKind;
use crate::packet::{PacketMeta, TrackKind};
use crate::time::{duration_micros, Time};

/// How far the open clip has got.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum ClipStart {
    /// `FlushPreBuffer` sent, `Flushed` not yet received.
    AwaitingFlush,
    /// Nothing written yet: the clip starts at the next video keyframe.
    AwaitingKeyframe,
    /// Written since this time (the time of its first packet, a video keyframe).
    Since(Time),
}

#[derive(Copy, Clone, Debug)]
struct Clip {
    event: u64,
    start: ClipStart,
}

/// One camera's recorder: feed it [`Input`]s with the current time, execute the [`Action`]s it
/// returns, in order. Pure: no I/O, no clock.
#[derive(Clone, Debug)]
pub struct Recorder {
    config: RecorderConfig,
    state: State,
    stream_up: bool,
    shut_down: bool,
    motion: Motion,
    /// The live event: `Some` while motion is on or its clip is open.
    event: Option<u64>,
    last_event_id: u64,
    /// `Some` exactly in RECORDING and FINALIZING.
    clip: Option<Clip>,
    /// FINALIZING only: from this time on, the clip ends at the next video keyframe.
    post_roll_deadline: Option<Time>,
    /// The `now` of the latest input (lets [`Recorder::next_deadline`] tell post-roll from grace).
    last_now: Option<Time>,
    clips_recorded: u64,
    motion_events: u64,
    overlapping_events: u64,
    last_event_at: Option<Time>,
}

impl Recorder {
    /// Starts IDLE, stream down, no motion.
    pub fn new(config: RecorderConfig) -> Self {
        Recorder {
            config,
            state: State::Idle,
            stream_up: false,
            shut_down: false,
            motion: Motion::default(),
            event: None,
            last_event_id: 0,
            clip: None,
            post_roll_deadline: None,
            last_now: None,
            clips_recorded: 0,
            motion_events: 0,
            overlapping_events: 0,
            last_event_at: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> &RecorderConfig {
        &self.config
    }

    pub fn stats(&self) -> RecorderStats {
        RecorderStats {
            clips_recorded: self.clips_recorded,
            motion_events: self.motion_events,
            overlapping_events: self.overlapping_events,
            last_event_at: self.last_event_at,
            current_event: self.event,
            clip_open: self.clip.is_some(),
            motion_active: self.motion.is_active(),
        }
    }

    /// The earliest time a [`Input::Tick`] matters: a motion source ending by itself (pulse end or
    /// timeout), the post-roll deadline (from then on the clip ends at the next keyframe) and the
    /// [`CLOSE_GRACE`] after it. `None` when no timer runs.
    pub fn next_deadline(&self) -> Option<Time> {
        if self.shut_down {
            return None;
        }
        let motion = self.motion.next_deadline(self.config.motion_timeout);
        let clip = match (self.state, self.post_roll_deadline) {
            (State::Finalizing, Some(d)) if self.post_roll_passed_at(self.last_now) => {
                Some(d.plus(CLOSE_GRACE))
            }
            (State::Finalizing, Some(d)) => Some(d),
            _ => None,
        };
        match (motion, clip) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Feeds one input at `now` on the monotonic clock (the packets' timeline: every time the
    /// machine sees or gives is on it); returns what the driver must do, in order. Timers
    /// (motion sources ending by themselves, the close grace) are checked first, at `now`. When it
    /// returns, no timer is due: [`Recorder::next_deadline`] is later than `now` (or `None`).
    #[must_use = "the driver must execute the actions"]
    pub fn handle(&mut self, input: Input, now: Time) -> Actions {
        let mut out = Actions::new();
        self.last_now = Some(now);
        if self.shut_down {
            if let Input::Packet(_) = input {
                out.push(Action::Route(PacketRoute::Drop(DropWhy::Idle)));
            }
            return out;
        }
        self.advance(now, &mut out);
        let packet = matches!(input, Input::Packet(_));
        match input {
            Input::StreamUp => {
                self.stream_up = true;
                if self.state == State::Idle && self.config.enabled {
                    self.enter_buffering(OpenReason::Reconnected, &mut out);
                }
            }
            Input::StreamLost => {
                self.stream_up = false;
                self.go_idle(CloseReason::StreamLost, &mut out);
            }
            Input::Configure(config) => self.configure(config, &mut out),
            Input::MotionStart {
                source,
                kind,
                until,
            } => self.motion_start(source, kind, until, now, &mut out),
            Input::MotionEnd { source, kind } => {
                if self.motion.end(source, kind) && !self.motion.is_active() {
                    self.motion_ended(now, false, &mut out);
                }
            }
            Input::ParamsChanged => self.params_changed(now, &mut out),
            Input::Packet(meta) => {
                let route = self.route(meta, &mut out);
                out.push(Action::Route(route));
            }
            Input::Flushed { first, packets: _ } => {
                if let Some(clip) = &mut self.clip {
                    if clip.start == ClipStart::AwaitingFlush {
                        clip.start = first.map_or(ClipStart::AwaitingKeyframe, ClipStart::Since);
                    }
                }
            }
            Input::Tick => {}
            Input::Shutdown => self.shutdown(now, &mut out),
        }
        if !packet {
            // An input can leave a timer already due (a pulse that ended before it arrived, a
            // shorter motion timeout): act on it now, so that every timer is in the future when
            // `handle` returns and a `Flushed` answered at the same `now` never has actions.
            // (A packet sets no timer, and its `Route` must stay last.)
            self.advance(now, &mut out);
        }
        out
    }

    /// Timers, checked before every input: motion sources ending by themselves, and the close
    /// grace after the post-roll deadline.
    fn advance(&mut self, now: Time, out: &mut Actions) {
        if let Some(Expired { at, timed_out }) = self.motion.expire(now, self.config.motion_timeout)
        {
            self.motion_ended(at, timed_out, out);
        }
        if self.state == State::Finalizing
            && self
                .post_roll_deadline
                .is_some_and(|d| now >= d.plus(CLOSE_GRACE))
        {
            self.close_clip(CloseReason::PostRollExpired, out);
            self.set_state(State::Buffering, out);
        }
    }

    fn set_state(&mut self, to: State, out: &mut Actions) {
        if self.state != to {
            out.push(Action::StateChanged {
                from: self.state,
                to,
            });
            self.state = to;
        }
    }

    /// IDLE → BUFFERING, and straight on to RECORDING when motion is already on.
    fn enter_buffering(&mut self, reason: OpenReason, out: &mut Actions) {
        self.set_state(State::Buffering, out);
        if let Some(event) = self.event.filter(|_| self.motion.is_active()) {
            self.open_clip(event, reason, true, out);
            self.set_state(State::Recording, out);
        }
    }

    /// Closes the open clip (if any) and clears the pre-buffer: IDLE holds nothing.
    fn go_idle(&mut self, reason: CloseReason, out: &mut Actions) {
        self.close_clip(reason, out);
        if self.state != State::Idle {
            out.push(Action::ClearBuffer);
            self.set_state(State::Idle, out);
        }
    }

    fn open_clip(&mut self, event: u64, reason: OpenReason, flush: bool, out: &mut Actions) {
        out.push(Action::OpenClip { event, reason });
        self.clips_recorded += 1;
        self.event = Some(event);
        let start = if flush {
            out.push(Action::FlushPreBuffer);
            ClipStart::AwaitingFlush
        } else {
            ClipStart::AwaitingKeyframe
        };
        self.clip = Some(Clip { event, start });
    }

    /// Closes the open clip; the event is over once its clip is closed and motion is off.
    fn close_clip(&mut self, reason: CloseReason, out: &mut Actions) {
        if self.clip.take().is_some() {
            out.push(Action::CloseClip { reason });
            self.post_roll_deadline = None;
            if !self.motion.is_active() {
                self.event = None;
            }
        }
    }

    fn configure(&mut self, config: RecorderConfig, out: &mut Actions) {
        let enabled = config.enabled;
        // Other values apply from their next use: `max_clip` at the next keyframe,
        // `motion_timeout` at the next check, `post_roll` at the next motion end.
        self.config = config;
        if !enabled {
            self.go_idle(CloseReason::Disabled, out);
        } else if self.state == State::Idle && self.stream_up {
            self.enter_buffering(OpenReason::Enabled, out);
        }
    }

    fn motion_start(
        &mut self,
        source: MotionSource,
        kind: EventKind,
        until: Option<Time>,
        now: Time,
        out: &mut Actions,
    ) {
        if !self.motion.start(source, kind, until, now) {
            return; // already on: its timeout was refreshed, nothing else changes
        }
        if let Some(clip) = self.clip {
            out.push(Action::MotionOverlap {
                event: clip.event,
                source,
                at: now,
            });
            self.overlapping_events += 1;
            self.last_event_at = Some(now);
            self.post_roll_deadline = None;
            self.set_state(State::Recording, out);
            return;
        }
        if self.event.is_some() {
            return; // IDLE with the event already on from another source
        }
        self.last_event_id += 1;
        let event = self.last_event_id;
        self.event = Some(event);
        self.motion_events += 1;
        self.last_event_at = Some(now);
        out.push(Action::MotionEventStarted {
            event,
            source,
            at: now,
        });
        if self.state == State::Buffering {
            self.open_clip(event, OpenReason::Motion, true, out);
            self.set_state(State::Recording, out);
        }
    }

    /// The last source ended at `at`.
    fn motion_ended(&mut self, at: Time, timed_out: bool, out: &mut Actions) {
        let Some(event) = self.event else { return };
        out.push(Action::MotionEventEnded {
            event,
            at,
            timed_out,
        });
        if self.state == State::Recording {
            self.post_roll_deadline = Some(at.plus(self.config.post_roll));
            self.set_state(State::Finalizing, out);
        }
        if self.clip.is_none() {
            self.event = None;
        }
    }

    fn params_changed(&mut self, now: Time, out: &mut Actions) {
        match (self.state, self.clip) {
            (State::Buffering, _) => out.push(Action::ClearBuffer),
            (State::Recording | State::Finalizing, Some(clip)) => {
                let (passed, deadline) = (self.post_roll_passed(now), self.post_roll_deadline);
                self.close_clip(CloseReason::ParamsChanged, out);
                out.push(Action::ClearBuffer);
                if passed {
                    // Nothing left to record: a new clip would only wait for a keyframe to end on.
                    self.set_state(State::Buffering, out);
                } else {
                    self.open_clip(clip.event, OpenReason::ParamsChanged, false, out);
                    self.post_roll_deadline = deadline;
                }
            }
            _ => {}
        }
    }

    fn post_roll_passed(&self, now: Time) -> bool {
        self.post_roll_passed_at(Some(now))
    }

    fn post_roll_passed_at(&self, now: Option<Time>) -> bool {
        match (self.state, self.post_roll_deadline, now) {
            (State::Finalizing, Some(d), Some(now)) => now >= d,
            _ => false,
        }
    }

    /// Where a packet goes; may close, roll over or start the open clip on a video keyframe.
    fn route(&mut self, meta: PacketMeta, out: &mut Actions) -> PacketRoute {
        let keyframe = meta.track == TrackKind::Video && meta.keyframe;
        match self.state {
            State::Idle => return PacketRoute::Drop(DropWhy::Idle),
            State::Buffering => return PacketRoute::Buffer,
            State::Recording | State::Finalizing => {}
        }
        // The post-roll is judged on the keyframe's own time, not on when it is handled: the
        // driver may take packets in batches, some time after they arrived.
        if keyframe && self.post_roll_passed(meta.time) {
            // The keyframe starts the next pre-roll: nothing lost, nothing duplicated.
            self.close_clip(CloseReason::PostRollExpired, out);
            self.set_state(State::Buffering, out);
            return PacketRoute::Buffer;
        }
        let max_clip = duration_micros(self.config.max_clip);
        let Some(clip) = &mut self.clip else {
            return PacketRoute::Drop(DropWhy::Idle); // unreachable: a clip is open here
        };
        match clip.start {
            ClipStart::AwaitingFlush | ClipStart::AwaitingKeyframe if keyframe => {
                clip.start = ClipStart::Since(meta.time);
            }
            ClipStart::AwaitingFlush | ClipStart::AwaitingKeyframe => {
                return PacketRoute::Drop(DropWhy::AwaitingKeyframe);
            }
            ClipStart::Since(start) if keyframe && meta.time.micros_since(start) >= max_clip => {
                clip.start = ClipStart::Since(meta.time);
                let event = clip.event;
                out.push(Action::CloseClip {
                    reason: CloseReason::Rollover,
                });
                out.push(Action::OpenClip {
                    event,
                    reason: OpenReason::Rollover,
                });
                self.clips_recorded += 1;
            }
            ClipStart::Since(_) => {}
        }
        PacketRoute::Write
    }

    fn shutdown(&mut self, now: Time, out: &mut Actions) {
        if self.motion.is_active() {
            self.motion.clear();
            if let Some(event) = self.event {
                out.push(Action::MotionEventEnded {
                    event,
                    at: now,
                    timed_out: false,
                });
            }
        }
        self.go_idle(CloseReason::Shutdown, out);
        self.event = None;
        self.shut_down = true;
    }
}
