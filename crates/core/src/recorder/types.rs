//! The recorder's vocabulary: states, inputs, actions, configuration and stats.

use std::fmt;
use std::time::Duration;

use crate::kind::EventKind;
use crate::packet::PacketMeta;
use crate::settings::RecordingSettings;
use crate::time::Time;

/// After the post-roll deadline the clip waits for the next video keyframe to end on; if none comes
/// within this long, a [`Input::Tick`] closes it anyway (a camera that stalls must not hold a clip open).
pub const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// The four recorder states (docs/state-machine.md).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Stream down, recording disabled, or shut down: nothing buffered, nothing written.
    Idle,
    /// Packets go to the pre-buffer, waiting for motion.
    Buffering,
    /// Motion is on: packets go to the open clip.
    Recording,
    /// Motion ended: packets still go to the clip until the post-roll has run out.
    Finalizing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Idle => "IDLE",
            State::Buffering => "BUFFERING",
            State::Recording => "RECORDING",
            State::Finalizing => "FINALIZING",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a motion start or end came from. Each source is tracked on its own: motion is on while
/// any source is on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum MotionSource {
    Onvif,
    Api,
    Demo,
    Detector,
    /// A command over MQTT (`<prefix>/<camera>/motion/set`).
    Mqtt,
}

impl MotionSource {
    pub const ALL: [MotionSource; 5] = [
        MotionSource::Onvif,
        MotionSource::Api,
        MotionSource::Demo,
        MotionSource::Detector,
        MotionSource::Mqtt,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MotionSource::Onvif => "onvif",
            MotionSource::Api => "api",
            MotionSource::Demo => "demo",
            MotionSource::Detector => "detector",
            MotionSource::Mqtt => "mqtt",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for MotionSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The part of a camera's [`RecordingSettings`] the state machine uses. Changed live with
/// [`Input::Configure`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecorderConfig {
    pub enabled: bool,
    pub post_roll: Duration,
    pub max_clip: Duration,
    pub motion_timeout: Duration,
}

impl RecorderConfig {
    pub fn from_settings(s: &RecordingSettings) -> Self {
        RecorderConfig {
            enabled: s.enabled,
            post_roll: s.post_roll(),
            max_clip: s.max_clip(),
            motion_timeout: s.motion_timeout(),
        }
    }
}

impl Default for RecorderConfig {
    /// The defaults of docs/CONFIG.md: enabled, 10 s post-roll, 300 s clips, 120 s motion timeout.
    fn default() -> Self {
        RecorderConfig::from_settings(&RecordingSettings::default())
    }
}

/// Everything that can happen to a recorder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    StreamUp,
    StreamLost,
    /// A live settings change, including `enabled` on/off.
    Configure(RecorderConfig),
    /// `until` makes the source end by itself at that time (the API's "pulse"). Each
    /// (source, kind) is on or off on its own; the driver hands in only the kinds that record
    /// (`record_on`).
    MotionStart {
        source: MotionSource,
        kind: EventKind,
        until: Option<Time>,
    },
    MotionEnd {
        source: MotionSource,
        kind: EventKind,
    },
    /// Codec parameters changed; the next video packet is a keyframe with the new parameters.
    ParamsChanged,
    Packet(PacketMeta),
    /// The driver's answer to [`Action::FlushPreBuffer`]: the time of the first flushed packet (a
    /// keyframe), `None` when the pre-buffer held nothing. `packets` is for the driver's logs; the
    /// machine only uses `first`. Ignored unless a flush is pending.
    Flushed {
        first: Option<Time>,
        packets: usize,
    },
    /// Time passed; call at [`super::Recorder::next_deadline`] (or periodically).
    Tick,
    Shutdown,
}

/// Why a clip was opened.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum OpenReason {
    /// A new motion event.
    Motion,
    /// The previous clip of the same event reached `max_clip`.
    Rollover,
    /// New codec parameters; the previous clip of the same event was closed.
    ParamsChanged,
    /// The stream came (back) up while motion was on.
    Reconnected,
    /// Recording was enabled while motion was on.
    Enabled,
}

impl OpenReason {
    /// snake_case, for logs and the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            OpenReason::Motion => "motion",
            OpenReason::Rollover => "rollover",
            OpenReason::ParamsChanged => "params_changed",
            OpenReason::Reconnected => "reconnected",
            OpenReason::Enabled => "enabled",
        }
    }
}

impl fmt::Display for OpenReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a clip was closed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum CloseReason {
    PostRollExpired,
    Rollover,
    StreamLost,
    Disabled,
    ParamsChanged,
    Shutdown,
}

impl CloseReason {
    /// snake_case, for logs and the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::PostRollExpired => "post_roll_expired",
            CloseReason::Rollover => "rollover",
            CloseReason::StreamLost => "stream_lost",
            CloseReason::Disabled => "disabled",
            CloseReason::ParamsChanged => "params_changed",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one packet goes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum PacketRoute {
    /// Into the open clip.
    Write,
    /// Into the pre-buffer.
    Buffer,
    Drop(DropWhy),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum DropWhy {
    /// The recorder is IDLE (stream down, disabled or shut down).
    Idle,
    /// The open clip has not started yet: it must start on a video keyframe.
    AwaitingKeyframe,
}

impl DropWhy {
    /// snake_case, for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            DropWhy::Idle => "idle",
            DropWhy::AwaitingKeyframe => "awaiting_keyframe",
        }
    }
}

impl fmt::Display for DropWhy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the driver must do, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Exactly one per state change; the driver logs one line per state change.
    StateChanged { from: State, to: State },
    /// A new motion event (motion went from off to on with no clip of an event open).
    MotionEventStarted {
        event: u64,
        source: MotionSource,
        at: Time,
    },
    /// A start from another source (or after the end, during the post-roll) while the event's
    /// clip is open.
    MotionOverlap {
        event: u64,
        source: MotionSource,
        at: Time,
    },
    /// All sources ended (or timed out). Emitted again for the same event when a start during
    /// FINALIZING revived it and it ends again: the last one is the event's end.
    MotionEventEnded {
        event: u64,
        at: Time,
        timed_out: bool,
    },
    /// Create a new clip file for `event`. Packets routed to `Write` go to it until `CloseClip`.
    OpenClip { event: u64, reason: OpenReason },
    /// Drain the pre-buffer into the clip just opened, then answer with [`Input::Flushed`].
    FlushPreBuffer,
    /// Finish the open clip. It may hold no packets (e.g. the stream was lost before its first
    /// keyframe): the driver discards such a clip.
    CloseClip { reason: CloseReason },
    /// Empty the pre-buffer.
    ClearBuffer,
    /// Exactly one per [`Input::Packet`], always the last action of that input.
    Route(PacketRoute),
}

/// Up to six actions without allocating; most inputs produce one or two.
pub type Actions = smallvec::SmallVec<[Action; 6]>;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecorderStats {
    /// Clips opened (`OpenClip` count, rollovers and reopenings included).
    pub clips_recorded: u64,
    /// `MotionEventStarted` count.
    pub motion_events: u64,
    /// `MotionOverlap` count.
    pub overlapping_events: u64,
    /// The latest counted motion start (a new event or an overlap).
    pub last_event_at: Option<Time>,
    /// The live event: motion on, or its clip still open.
    pub current_event: Option<u64>,
    pub clip_open: bool,
    pub motion_active: bool,
}
