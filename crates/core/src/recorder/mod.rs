//! The recorder state machine (one per camera): IDLE / BUFFERING / RECORDING / FINALIZING.
//!
//! Pure, sans-IO: [`Recorder::handle`]`(input, now) -> actions`. No clock, no files, no tokio.
//! Every time it sees or gives (`now`, packet times, pulse ends, deadlines, the `at` of motion
//! actions) is on the monotonic clock, so a step of the wall clock changes nothing here. The
//! driver owns the pre-buffer and the clip writer, executes the [`Action`]s in order, answers
//! [`Action::FlushPreBuffer`] with [`Input::Flushed`], and sends [`Input::Tick`] at
//! [`Recorder::next_deadline`]. Every packet goes either to the pre-buffer or to the open clip,
//! never both, and the machine says which: one [`Action::Route`] per packet, always its last action.
//!
//! ```text
//!              StreamUp (enabled) / enabled (stream up)
//!   +------+ ----------------------------------------> +-----------+
//!   | IDLE |                                           | BUFFERING | <-------------------+
//!   +------+ <---------------------------------------- +-----------+                     |
//!     ^  ^       StreamLost / disabled / Shutdown            |                           |
//!     |  |       ClearBuffer                                 | MotionStart: new event,   |
//!     |  |                                                   | OpenClip{Motion},         |
//!     |  |                                                   | FlushPreBuffer            |
//!     |  |                                                   v                           |
//!     |  |   StreamLost / disabled / Shutdown          +-----------+                     |
//!     |  +-------------------------------------------- | RECORDING | <---+               |
//!     |      CloseClip, ClearBuffer                    +-----------+     |               |
//!     |                                      last MotionEnd |            | MotionStart:  |
//!     |                                      or timeout     |            | overlap,      |
//!     |                                                     v            | same clip     |
//!     |      StreamLost / disabled / Shutdown         +------------+     |               |
//!     +---------------------------------------------- | FINALIZING | ----+               |
//!            CloseClip, ClearBuffer                   +------------+ --------------------+
//!                                                      post-roll over: CloseClip at the next
//!                                                      video keyframe (or after CLOSE_GRACE)
//! ```
//!
//! Entering BUFFERING while motion is on goes straight on to RECORDING in the same call
//! (IDLE → BUFFERING → RECORDING, two `StateChanged`). Rollover and new codec parameters change
//! the clip, not the state. Every state change emits exactly one [`Action::StateChanged`].
//!
//! | State | Input | Actions (in order) | Next |
//! |---|---|---|---|
//! | IDLE | `StreamUp` (enabled), `Configure` enabling (stream up) | `StateChanged` | BUFFERING |
//! | IDLE → BUFFERING | motion already on (same event) | then `OpenClip{Reconnected \| Enabled}`, `FlushPreBuffer`, `StateChanged` | RECORDING |
//! | IDLE | `Packet` | `Route(Drop(Idle))` | IDLE |
//! | IDLE | `MotionStart` (motion off) | `MotionEventStarted` (remembered, no clip) | IDLE |
//! | BUFFERING | `Packet` | `Route(Buffer)` | BUFFERING |
//! | BUFFERING | `MotionStart` | `MotionEventStarted`, `OpenClip{Motion}`, `FlushPreBuffer`, `StateChanged` | RECORDING |
//! | BUFFERING | `ParamsChanged` | `ClearBuffer` | BUFFERING |
//! | RECORDING, FINALIZING | `Flushed{first: Some(t)}` | clip starts at `t` | same |
//! | RECORDING, FINALIZING | `Flushed{first: None}` | clip awaits a video keyframe: until then other packets `Route(Drop(AwaitingKeyframe))` | same |
//! | RECORDING | `Packet` | `Route(Write)` | RECORDING |
//! | RECORDING | `MotionStart`, new source | `MotionOverlap` | RECORDING |
//! | RECORDING | `MotionStart`, source already on | nothing (timeout refreshed) | RECORDING |
//! | RECORDING | last `MotionEnd`, pulse end or timeout | `MotionEventEnded`, `StateChanged`; post-roll deadline = end + `post_roll` | FINALIZING |
//! | FINALIZING | `Packet` before the deadline, or not a video keyframe | `Route(Write)` | FINALIZING |
//! | FINALIZING | video keyframe at/after the deadline | `CloseClip{PostRollExpired}`, `StateChanged`, `Route(Buffer)` | BUFFERING |
//! | FINALIZING | any input ≥ deadline + [`CLOSE_GRACE`] | `CloseClip{PostRollExpired}`, `StateChanged` | BUFFERING |
//! | FINALIZING | `MotionStart` | `MotionOverlap`, `StateChanged` | RECORDING |
//! | RECORDING, FINALIZING | video keyframe ≥ clip start + `max_clip` | `CloseClip{Rollover}`, `OpenClip{Rollover}` (same event), `Route(Write)` | same |
//! | RECORDING, FINALIZING | `ParamsChanged` | `CloseClip{ParamsChanged}`, `ClearBuffer`, `OpenClip{ParamsChanged}` (same event, awaits keyframe) | same |
//! | FINALIZING past the deadline | `ParamsChanged` | `CloseClip{ParamsChanged}`, `ClearBuffer`, `StateChanged` | BUFFERING |
//! | BUFFERING, RECORDING, FINALIZING | `StreamLost` / `Configure` disabling | `CloseClip{StreamLost \| Disabled}` (if open), `ClearBuffer`, `StateChanged`; motion kept | IDLE |
//! | any | `Shutdown` | `MotionEventEnded` (if on), `CloseClip{Shutdown}` (if open), `ClearBuffer`, `StateChanged` | IDLE, then every input ignored, packets dropped |
//! | any | `MotionEnd` of a source that is off, `Flushed` with no flush pending | nothing | same |
//!
//! Motion: each ([`MotionSource`], [`crate::kind::EventKind`]) pair is a source, on or off on its
//! own (the driver hands in only the kinds in `record_on`); motion is on while any is. A source
//! ends by itself at its pulse end (`MotionStart{until}`) or `motion_timeout` after its latest
//! start, whichever is first, reported with `at` = that end time. Timers are checked before every
//! input and again after every input but a packet, so a pulse that has already ended ends in the
//! same call, and when `handle` returns no timer is due (a `Flushed` never has actions). A
//! repeated start never shortens motion. Motion that starts while IDLE is an event without a clip
//! until the recorder reaches BUFFERING.
//!
//! Live configuration: `enabled` acts at once; `max_clip` applies at the next keyframe,
//! `motion_timeout` at the next check (to sources already on too), `post_roll` to the next
//! deadline computed (a running post-roll keeps its deadline).

mod machine;
pub(crate) mod motion;
mod types;

pub use machine::Recorder;
pub use types::{
    Action, Actions, CloseReason, DropWhy, Input, MotionSource, OpenReason, PacketRoute,
    RecorderConfig, RecorderStats, State, CLOSE_GRACE,
};
