//! The seam between vigil and the RTSP library: open a session, pull the next frame.
//!
//! Production uses [`super::client::RetinaOpener`]; tests hand the run loop scripted sessions, so
//! reconnects, backoff and parameter changes are tested without a network (Moonfire's habit).

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;
use vigil_core::packet::{AudioParams, VideoParams};

use super::{RtspConfig, RtspError};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Opens RTSP sessions (DESCRIBE, SETUP, PLAY).
pub trait RtspOpener: Send + Sync {
    fn open<'a>(
        &'a self,
        cfg: &'a RtspConfig,
    ) -> BoxFuture<'a, Result<Box<dyn RtspSession>, RtspError>>;
}

/// One playing session: frames until it ends.
pub trait RtspSession: Send {
    /// What was set up, known once the session plays.
    fn info(&self) -> &SessionInfo;
    /// The next frame; `None` when the server ended the session. Must be cancel-safe: the run
    /// loop drops a pending call when its stall watchdog wakes up, and calls again.
    fn next(&mut self) -> BoxFuture<'_, Option<Result<RawFrame, RtspError>>>;
}

/// What a session plays besides video.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionInfo {
    /// The AAC track recorded alongside the video, if the stream has one.
    pub audio: Option<AudioParams>,
    /// Audio the stream offers that vigil doesn't record (encoding names, e.g. `pcma`).
    pub skipped_audio: Vec<String>,
    /// The server's `a=tool` attribute, if any (helps when a camera misbehaves).
    pub tool: Option<String>,
}

/// A frame as the session delivers it: media time, not yet wall-clock time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawFrame {
    Video(RawVideo),
    Audio(RawAudio),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawVideo {
    /// Media time since the session's start (NPT), in `clock_rate` ticks.
    pub npt: i64,
    pub clock_rate: u32,
    /// The library's own keyframe flag (right for H.264; see `h265.rs` for H.265).
    pub random_access: bool,
    /// Set on the session's first frame and on a frame that brought new parameters.
    pub params: Option<VideoParams>,
    /// RTP packets lost just before this frame.
    pub loss: u16,
    /// 4-byte length-prefixed NAL units, without parameter sets.
    pub data: Bytes,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawAudio {
    pub npt: i64,
    pub clock_rate: u32,
    pub loss: u16,
    /// One raw AAC frame (no ADTS header).
    pub data: Bytes,
}
