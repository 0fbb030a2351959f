//! The production [`RtspOpener`]: retina.
//!
//! Sets up the first video stream (H.264 or H.265) and the first AAC audio stream, asks retina
//! for MP4-ready frames (4-byte length-prefixed NAL units, parameter sets out of band, raw AAC),
//! and plays. Everything retina-specific stays in this file.

use bytes::Bytes;
use futures::StreamExt;
use retina::client::{
    Credentials, Demuxed, InitialSequenceNumberPolicy, InitialTimestampPolicy, PlayOptions,
    Session, SessionOptions, SetupOptions, TcpTransportOptions, UdpTransportOptions,
};
use retina::codec::{CodecItem, FrameFormat, ParametersRef, VideoParameters};
use vigil_core::packet::{AudioParams, VideoCodec, VideoParams};

use super::source::{
    BoxFuture, RawAudio, RawFrame, RawVideo, RtspOpener, RtspSession, SessionInfo,
};
use super::{RtspConfig, RtspError, Transport};

/// Opens sessions with retina.
#[derive(Debug, Default, Clone, Copy)]
pub struct RetinaOpener;

impl RtspOpener for RetinaOpener {
    fn open<'a>(
        &'a self,
        cfg: &'a RtspConfig,
    ) -> BoxFuture<'a, Result<Box<dyn RtspSession>, RtspError>> {
        Box::pin(async move {
            let s = open(cfg).await?;
            Ok(Box::new(s) as Box<dyn RtspSession>)
        })
    }
}

struct RetinaSession {
    demuxed: Demuxed,
    info: SessionInfo,
    video_stream: usize,
    audio_stream: Option<usize>,
    /// The first video frame carries the parameters even when they came from the SDP.
    first_video: bool,
}

impl RtspSession for RetinaSession {
    fn info(&self) -> &SessionInfo {
        &self.info
    }

    fn next(&mut self) -> BoxFuture<'_, Option<Result<RawFrame, RtspError>>> {
        // Cancel-safe: the only await is retina's `Stream::poll_next`, which keeps its state in
        // the stream; what follows it runs to the return without awaiting.
        Box::pin(async move {
            loop {
                let item = match self.demuxed.next().await? {
                    Ok(item) => item,
                    Err(e) => return Some(Err(RtspError::from_retina(&e))),
                };
                match item {
                    CodecItem::VideoFrame(f) if f.stream_id() == self.video_stream => {
                        let params = if f.has_new_parameters() || self.first_video {
                            self.first_video = false;
                            match self.video_params() {
                                Some(Ok(p)) => Some(p),
                                Some(Err(e)) => return Some(Err(e)),
                                None => None,
                            }
                        } else {
                            None
                        };
                        let ts = f.timestamp();
                        return Some(Ok(RawFrame::Video(RawVideo {
                            npt: ts.elapsed(),
                            clock_rate: ts.clock_rate().get(),
                            random_access: f.is_random_access_point(),
                            params,
                            loss: f.loss(),
                            data: Bytes::from(f.into_data()),
                        })));
                    }
                    CodecItem::AudioFrame(f) if Some(f.stream_id()) == self.audio_stream => {
                        let ts = f.timestamp();
                        return Some(Ok(RawFrame::Audio(RawAudio {
                            npt: ts.elapsed(),
                            clock_rate: ts.clock_rate().get(),
                            loss: f.loss(),
                            data: Bytes::copy_from_slice(f.data()),
                        })));
                    }
                    // RTCP, ONVIF metadata, streams not set up: nothing to record.
                    _ => continue,
                }
            }
        })
    }
}

impl RetinaSession {
    fn video_params(&self) -> Option<Result<VideoParams, RtspError>> {
        match self
            .demuxed
            .streams()
            .get(self.video_stream)?
            .parameters()?
        {
            ParametersRef::Video(v) => Some(video_params(v)),
            _ => None,
        }
    }
}

async fn open(cfg: &RtspConfig) -> Result<RetinaSession, RtspError> {
    let (url, creds) = cfg.target()?;
    let options = SessionOptions::default()
        .creds(creds.map(|(username, password)| Credentials { username, password }))
        .user_agent(format!("vigil/{}", env!("CARGO_PKG_VERSION")));
    let mut session = Session::describe(url, options)
        .await
        .map_err(|e| RtspError::from_retina(&e))?;

    let streams = session.streams();
    let video_stream = streams
        .iter()
        .position(|s| s.media() == "video")
        .ok_or_else(|| RtspError::NoVideo {
            offered: streams
                .iter()
                .map(|s| format!("{}/{}", s.media(), s.encoding_name()))
                .collect(),
        })?;
    let encoding = streams[video_stream].encoding_name();
    if !matches!(encoding, "h264" | "h265") {
        return Err(RtspError::UnsupportedVideo(encoding.to_owned()));
    }
    // The first AAC stream whose configuration parses: a bad `config` in the SDP would make
    // retina refuse the whole session, and the video is worth more than the audio.
    let audio_stream = streams.iter().position(|s| {
        s.media() == "audio"
            && s.encoding_name() == "mpeg4-generic"
            && matches!(s.parameters(), Some(ParametersRef::Audio(_)))
    });
    let skipped_audio = streams
        .iter()
        .enumerate()
        .filter(|(i, s)| s.media() == "audio" && Some(*i) != audio_stream)
        .map(|(_, s)| s.encoding_name().to_owned())
        .collect();
    let tool = session.tool().map(|t| t.to_string());

    for i in std::iter::once(video_stream).chain(audio_stream) {
        let transport = match cfg.transport {
            Transport::Tcp => retina::client::Transport::Tcp(TcpTransportOptions::default()),
            Transport::Udp => retina::client::Transport::Udp(UdpTransportOptions::default()),
        };
        let setup = SetupOptions::default()
            .transport(transport)
            .frame_format(FrameFormat::MP4);
        session
            .setup(i, setup)
            .await
            .map_err(|e| RtspError::from_retina(&e))?;
    }
    // Permissive: use RTP-Info's rtptime to keep audio and video in step when the server gives
    // it for every stream, and don't refuse a camera that leaves it out.
    // RTP-Info's `seq` is ignored: sequence numbers start from the first packet. Servers get it
    // wrong often enough (fixed 0 or 1 on some cameras; gst-rtsp-server's shared media sends a
    // packet one *before* it when a client joins while others play), and retina would otherwise
    // end the session at once as "out-of-order packet". Loss before the first packet doesn't
    // matter here: nothing is recorded before the first keyframe anyway.
    let playing = session
        .play(
            PlayOptions::default()
                .initial_timestamp(InitialTimestampPolicy::Permissive)
                .initial_seq(InitialSequenceNumberPolicy::Ignore),
        )
        .await
        .map_err(|e| RtspError::from_retina(&e))?;
    let demuxed = playing.demuxed().map_err(|e| RtspError::from_retina(&e))?;
    let audio = audio_stream.and_then(|i| match demuxed.streams().get(i)?.parameters()? {
        ParametersRef::Audio(a) => Some(AudioParams {
            sample_rate: a.clock_rate(),
            channels: a.channels().get(),
            config: Bytes::copy_from_slice(a.extra_data()),
        }),
        _ => None,
    });
    Ok(RetinaSession {
        demuxed,
        info: SessionInfo {
            audio,
            skipped_audio,
            tool,
        },
        video_stream,
        audio_stream,
        first_video: true,
    })
}

/// retina's parameters as the clip writer wants them.
fn video_params(v: &VideoParameters) -> Result<VideoParams, RtspError> {
    let codec = match v.rfc6381_codec().get(..4) {
        Some("avc1") => VideoCodec::H264,
        Some("hvc1" | "hev1") => VideoCodec::H265,
        _ => return Err(RtspError::UnsupportedVideo(v.rfc6381_codec().to_owned())),
    };
    let (w, h) = v.pixel_dimensions();
    let dim = |x: u32| u16::try_from(x).ok().filter(|&x| x > 0);
    let (Some(width), Some(height)) = (dim(w), dim(h)) else {
        return Err(RtspError::Protocol(format!("bad picture size {w}x{h}")));
    };
    Ok(VideoParams {
        codec,
        width,
        height,
        // With FrameFormat::MP4 this is the avcC / hvcC body.
        config: Bytes::copy_from_slice(v.extra_data()),
    })
}

impl RtspError {
    fn from_retina(e: &retina::Error) -> RtspError {
        let msg = e.to_string();
        match e.status_code() {
            Some(401) => RtspError::Unauthorized(msg),
            Some(404) => RtspError::NotFound(msg),
            _ => RtspError::Protocol(msg),
        }
    }
}
