//! Encoded packets and the stream parameters they belong to.
//!
//! A [`Packet`] is one encoded access unit (a video frame or an audio frame), exactly as it will be
//! stored as an MP4 sample: video is length-prefixed NAL units (4-byte big-endian lengths, the form
//! retina and MP4 both use), audio is one raw AAC frame (no ADTS header). Its payload is a
//! [`Bytes`], so the pre-buffer, the flush and the clip writer all share one allocation: packet data is
//! never copied on its way from ingest to disk.

use bytes::Bytes;
use std::fmt;

use crate::time::Time;

/// Video media time is always expressed in this timescale (the RTP clock rate of video).
pub const VIDEO_TIMESCALE: u32 = 90_000;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum TrackKind {
    Video,
    Audio,
}

/// One encoded access unit.
#[derive(Clone, PartialEq, Eq)]
pub struct Packet {
    pub track: TrackKind,
    /// Presentation time in the track's timescale ([`VIDEO_TIMESCALE`] for video, the sample rate
    /// for audio). Increasing per track after [`crate::timeline::Timeline`] has seen it.
    pub pts: i64,
    /// Time of this packet on our monotonic clock: the session's anchor plus its media time
    /// (slewed toward our clock for a live session, see [`crate::anchor`]). Deadlines are
    /// compared with it; labels are made from it only through [`crate::time::Now::label`].
    pub time: Time,
    /// A random-access point (H.264 IDR, H.265 IRAP). Always true for audio.
    pub keyframe: bool,
    pub data: Bytes,
}

impl fmt::Debug for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Packet")
            .field("track", &self.track)
            .field("pts", &self.pts)
            .field("time", &self.time)
            .field("keyframe", &self.keyframe)
            .field("len", &self.data.len())
            .finish()
    }
}

impl Packet {
    pub fn meta(&self) -> PacketMeta {
        PacketMeta {
            track: self.track,
            time: self.time,
            keyframe: self.keyframe,
        }
    }

    /// A video packet that starts a GOP.
    pub fn starts_gop(&self) -> bool {
        self.track == TrackKind::Video && self.keyframe
    }
}

/// What the recorder state machine needs to know of a packet: no payload.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PacketMeta {
    pub track: TrackKind,
    pub time: Time,
    pub keyframe: bool,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    H264,
    H265,
}

impl VideoCodec {
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264",
            VideoCodec::H265 => "h265",
        }
    }
}

/// Everything the clip writer needs to describe the video track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VideoParams {
    pub codec: VideoCodec,
    pub width: u16,
    pub height: u16,
    /// The camera's own decoder configuration record: the body of an `avcC` box
    /// (AVCDecoderConfigurationRecord) for H.264, of an `hvcC` box for H.265.
    pub config: Bytes,
}

/// Everything the clip writer needs to describe the AAC audio track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AudioParams {
    pub sample_rate: u32,
    pub channels: u16,
    /// The AudioSpecificConfig (ISO 14496-3), as carried in `esds`.
    pub config: Bytes,
}

/// The parameters of one camera stream. A change (new SPS, new resolution) means a new clip.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamParams {
    pub video: VideoParams,
    pub audio: Option<AudioParams>,
}

impl StreamParams {
    pub fn timescale(&self, track: TrackKind) -> u32 {
        match track {
            TrackKind::Video => VIDEO_TIMESCALE,
            TrackKind::Audio => self
                .audio
                .as_ref()
                .map_or(VIDEO_TIMESCALE, |a| a.sample_rate),
        }
    }
}
