//! One session's frames turned into [`SourceEvent`]s: no I/O, no clock of its own.
//!
//! - Nothing is sent before the session's first video keyframe: a GOP can't start earlier, and
//!   audio before it would have no video to go with. `Params` goes out right before that keyframe.
//! - New video parameters (a new SPS, a resolution change) are held until the next keyframe and
//!   sent right before it, so the packet after a `Params` is always a keyframe; frames in between
//!   are dropped (they belong to neither the old clip nor the new one).
//! - H.265 keyframes are IRAP pictures read from the NAL headers, and RASL pictures are dropped
//!   (see `h265.rs`): the leading pictures of open GOPs (only present with B-frames) are lost,
//!   in exchange every GOP the pre-buffer holds decodes on its own, whichever one a clip starts at.
//! - Time: the session is anchored on our monotonic clock when its first keyframe arrives
//!   (`now` minus that frame's media time), and each track's [`Timeline`] starts at the anchor
//!   plus the track's first media time, so audio and video keep the offset the server's
//!   RTP-Info gave them. From then on the [`Anchor`] slews the packets' times toward our clock,
//!   at most 1 ms per second of media, as the camera's clock drifts from ours. The camera's RTCP
//!   clock is not used: camera clocks are often wrong, ours is what motion events and deadlines
//!   run on. "Arrives" is when vigil reads it, and TCP sessions are read only
//!   every `live::READ_EVERY`: the first keyframe may have waited in the socket that long. So
//!   each read until the session is anchored is held whole ([`FirstRead`]) and fed as if its
//!   *last* frame, which arrived just before the read, arrived at the read: labels are then
//!   right to about a frame interval, whatever the pacing. (Anchored on the first keyframe as
//!   read, they were late by up to the pacing, and a post-roll judged on labels ended early by
//!   as much.)

use std::sync::Arc;

use vigil_core::anchor::Anchor;
use vigil_core::packet::VIDEO_TIMESCALE;
use vigil_core::packet::{AudioParams, StreamParams, TrackKind, VideoCodec, VideoParams};
use vigil_core::time::{Now, MICROS_PER_SEC};
use vigil_core::timeline::Timeline;

use super::h265::{self, Picture};
use super::source::{RawAudio, RawFrame, RawVideo};
use super::stats::IngestStats;
use crate::ingest::SourceEvent;

pub struct Feed {
    audio: Option<AudioParams>,
    /// The parameters last sent.
    sent: Option<Arc<StreamParams>>,
    /// Video parameters known but not sent yet (waiting for a keyframe).
    pending: Option<VideoParams>,
    /// Where media time 0 is on our monotonic clock, and the slew that keeps it there.
    anchor: Option<Anchor>,
    video_line: Option<Timeline>,
    audio_line: Option<Timeline>,
}

impl Feed {
    pub fn new(audio: Option<AudioParams>) -> Feed {
        Feed {
            audio,
            sent: None,
            pending: None,
            anchor: None,
            video_line: None,
            audio_line: None,
        }
    }

    /// The session has sent its parameters: the camera's stream is up.
    pub fn is_up(&self) -> bool {
        self.sent.is_some()
    }

    /// Timestamp jumps the timelines bridged so far.
    pub fn discontinuities(&self) -> u64 {
        [&self.video_line, &self.audio_line]
            .into_iter()
            .flatten()
            .map(|l| l.stats().discontinuities)
            .sum()
    }

    /// Handles one frame that arrived at `now`. Returns false when `send` said the receiver is
    /// gone.
    pub fn push(
        &mut self,
        frame: RawFrame,
        now: Now,
        stats: &IngestStats,
        send: &mut dyn FnMut(SourceEvent) -> bool,
    ) -> bool {
        match frame {
            RawFrame::Video(v) => self.video(v, now, stats, send),
            RawFrame::Audio(a) => self.audio(a, now, stats, send),
        }
    }

    fn video(
        &mut self,
        v: RawVideo,
        now: Now,
        stats: &IngestStats,
        send: &mut dyn FnMut(SourceEvent) -> bool,
    ) -> bool {
        if v.loss > 0 {
            stats.update(|s| s.lost_rtp_packets += u64::from(v.loss));
        }
        if let Some(p) = v.params {
            if self.sent.as_ref().map(|s| &s.video) != Some(&p) {
                self.pending = Some(p);
            }
        }
        let codec = match (&self.pending, &self.sent) {
            (Some(p), _) => p.codec,
            (None, Some(s)) => s.video.codec,
            (None, None) => {
                // No parameters yet: nothing can be decoded.
                stats.update(|s| s.dropped_before_keyframe += 1);
                return true;
            }
        };
        let keyframe = match codec {
            VideoCodec::H264 => v.random_access,
            VideoCodec::H265 => match h265::classify(&v.data) {
                Picture::Irap => true,
                Picture::Rasl => {
                    stats.update(|s| s.rasl_dropped += 1);
                    return true;
                }
                Picture::Other => false,
            },
        };
        if self.pending.is_some() {
            if !keyframe {
                stats.update(|s| s.dropped_before_keyframe += 1);
                return true;
            }
            let Some(video) = self.pending.take() else {
                return true;
            };
            let params = Arc::new(StreamParams {
                video,
                audio: self.audio.clone(),
            });
            if self.sent.is_none() {
                // Before the event goes out, so whoever sees it sees the stats say "up" too.
                stats.up(now.wall);
            }
            self.sent = Some(params.clone());
            if !send(SourceEvent::Params(params)) {
                return false;
            }
        }
        let npt = rescale(v.npt, v.clock_rate, VIDEO_TIMESCALE);
        let audio_rate = self.audio_rate();
        let anchor = self
            .anchor
            .get_or_insert_with(|| Anchor::new(now.mono, micros(v.npt, v.clock_rate)));
        let line = self.video_line.get_or_insert_with(|| {
            let start = anchor.base().plus_micros(micros(npt, VIDEO_TIMESCALE));
            Timeline::new(start, VIDEO_TIMESCALE, audio_rate)
        });
        let Ok(mut packet) = line.accept(TrackKind::Video, npt, keyframe, v.data) else {
            return true; // empty: nothing to record
        };
        packet.time = anchor.stamp(TrackKind::Video, packet.time, now.mono);
        stats.packet(true, packet.data.len());
        send(SourceEvent::Packet(packet))
    }

    fn audio(
        &mut self,
        a: RawAudio,
        now: Now,
        stats: &IngestStats,
        send: &mut dyn FnMut(SourceEvent) -> bool,
    ) -> bool {
        let rate = self.audio_rate();
        let (Some(anchor), false) = (self.anchor.as_mut(), self.pending.is_some()) else {
            stats.update(|s| s.dropped_before_keyframe += 1);
            return true;
        };
        if a.loss > 0 {
            stats.update(|s| s.lost_rtp_packets += u64::from(a.loss));
        }
        let npt = rescale(a.npt, a.clock_rate, rate);
        let line = self.audio_line.get_or_insert_with(|| {
            let start = anchor.base().plus_micros(micros(npt, rate));
            Timeline::new(start, VIDEO_TIMESCALE, rate)
        });
        let Ok(mut packet) = line.accept(TrackKind::Audio, npt, true, a.data) else {
            return true;
        };
        packet.time = anchor.stamp(TrackKind::Audio, packet.time, now.mono);
        stats.packet(false, packet.data.len());
        send(SourceEvent::Packet(packet))
    }

    fn audio_rate(&self) -> u32 {
        self.audio
            .as_ref()
            .map_or(VIDEO_TIMESCALE, |a| a.sample_rate)
    }
}

/// The frames of one read of a session not anchored yet, held until the read is over (the
/// stream has nothing more ready), then fed as if the last one had arrived when the read ended
/// and the others their media-time distance before it (module docs). A read without a keyframe
/// anchors nothing (its frames are dropped as before any keyframe); the next read is held too.
#[derive(Default)]
pub struct FirstRead {
    frames: Vec<RawFrame>,
}

impl FirstRead {
    /// More than any read holds (300 frames: seconds of a camera's stream); a read that long
    /// is released there, as if it had ended.
    pub const MAX_FRAMES: usize = 300;

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Holds `frame`; false when it was full (`frame` is then held too: release it now).
    pub fn hold(&mut self, frame: RawFrame) -> bool {
        self.frames.push(frame);
        self.frames.len() < Self::MAX_FRAMES
    }

    /// Feeds the held frames to `feed`, the last as arriving at `now`. Returns false when
    /// `send` said the receiver is gone.
    pub fn release(
        self,
        feed: &mut Feed,
        now: Now,
        stats: &IngestStats,
        send: &mut dyn FnMut(SourceEvent) -> bool,
    ) -> bool {
        let Some(last) = self.frames.last().map(media_micros) else {
            return true;
        };
        self.frames.into_iter().all(|f| {
            let at = now.plus_micros(media_micros(&f) - last);
            feed.push(f, at, stats, send)
        })
    }
}

fn media_micros(f: &RawFrame) -> i64 {
    match f {
        RawFrame::Video(v) => micros(v.npt, v.clock_rate),
        RawFrame::Audio(a) => micros(a.npt, a.clock_rate),
    }
}

fn micros(ticks: i64, rate: u32) -> i64 {
    rescale(ticks, rate, MICROS_PER_SEC as u32)
}

/// `ticks` at `from` Hz expressed at `to` Hz (the identity when the rates match, as they do
/// for 90 kHz video and AAC whose RTP clock is its sample rate).
fn rescale(ticks: i64, from: u32, to: u32) -> i64 {
    if from == to || from == 0 {
        return ticks;
    }
    (i128::from(ticks) * i128::from(to) / i128::from(from)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use vigil_core::time::Time;

    fn vparams(codec: VideoCodec, width: u16) -> VideoParams {
        VideoParams {
            codec,
            width,
            height: 240,
            config: Bytes::from_static(b"cfg"),
        }
    }

    fn aparams() -> AudioParams {
        AudioParams {
            sample_rate: 44_100,
            channels: 2,
            config: Bytes::from_static(&[0x12, 0x10]),
        }
    }

    /// An H.265 access unit with one NAL of this type.
    fn h265_au(nal_type: u8) -> Bytes {
        let mut v = vec![0, 0, 0, 3, nal_type << 1, 1, 0xaa];
        v.truncate(7);
        Bytes::from(v)
    }

    fn video(npt: i64, key: bool, params: Option<VideoParams>) -> RawFrame {
        RawFrame::Video(RawVideo {
            npt,
            clock_rate: 90_000,
            random_access: key,
            params,
            loss: 0,
            data: Bytes::from_static(&[0, 0, 0, 1, 0x65]),
        })
    }

    fn h265(npt: i64, nal_type: u8, params: Option<VideoParams>) -> RawFrame {
        RawFrame::Video(RawVideo {
            npt,
            clock_rate: 90_000,
            random_access: nal_type == 19 || nal_type == 20, // retina's IDR-only view
            params,
            loss: 0,
            data: h265_au(nal_type),
        })
    }

    fn audio(npt: i64) -> RawFrame {
        RawFrame::Audio(RawAudio {
            npt,
            clock_rate: 44_100,
            loss: 0,
            data: Bytes::from_static(&[1, 2, 3]),
        })
    }

    /// Feeds frames arriving at the given times; returns what came out.
    fn run(feed: &mut Feed, frames: Vec<(i64, RawFrame)>) -> Vec<SourceEvent> {
        let stats = IngestStats::new();
        let mut out = Vec::new();
        for (at_ms, f) in frames {
            let now = Now::at(Time::from_secs(1000).plus_micros(at_ms * 1000));
            assert!(feed.push(f, now, &stats, &mut |e| {
                out.push(e);
                true
            }));
        }
        out
    }

    fn describe(ev: &SourceEvent) -> String {
        match ev {
            SourceEvent::Params(p) => format!("params w={}", p.video.width),
            SourceEvent::Packet(p) => format!(
                "{:?}{} {}",
                p.track,
                if p.keyframe && p.track == TrackKind::Video {
                    "*"
                } else {
                    ""
                },
                p.time.micros_since(Time::from_secs(1000)) / 1000
            ),
            SourceEvent::Lost(w) => format!("lost {w}"),
        }
    }

    #[test]
    fn waits_for_a_keyframe_then_sends_params_first() {
        let p = vparams(VideoCodec::H264, 320);
        let mut feed = Feed::new(Some(aparams()));
        let out = run(
            &mut feed,
            vec![
                (0, video(0, false, Some(p.clone()))),
                (5, audio(0)),
                (33, video(3_000, true, None)),
                (40, audio(1_024 * 2)),
                (66, video(6_000, false, None)),
            ],
        );
        let got: Vec<_> = out.iter().map(describe).collect();
        // Anchored at the keyframe's arrival (33 ms, media time 33.3 ms): media time 0 = 0 ms.
        assert_eq!(got, ["params w=320", "Video* 33", "Audio 46", "Video 66"]);
        let SourceEvent::Params(sp) = &out[0] else {
            panic!()
        };
        assert_eq!(sp.audio, Some(aparams()));
    }

    #[test]
    fn the_first_read_is_anchored_on_its_last_frame() {
        // Three frames and an audio frame read together at 1000 s + 500 ms: they waited in the
        // socket, the last arriving just before the read. The last is labelled with the read's
        // time, the others their media distance before it.
        let p = vparams(VideoCodec::H264, 320);
        let mut feed = Feed::new(Some(aparams()));
        let mut first = FirstRead::default();
        for f in [
            video(0, true, Some(p)),
            video(3_000, false, None),
            audio(1_470), // 33.3 ms at 44.1 kHz
            video(6_000, false, None),
        ] {
            assert!(first.hold(f));
        }
        let stats = IngestStats::new();
        let mut out = Vec::new();
        let now = Now::at(Time::from_secs(1000).plus_micros(500_000));
        assert!(first.release(&mut feed, now, &stats, &mut |e| {
            out.push(e);
            true
        }));
        let got: Vec<_> = out.iter().map(describe).collect();
        assert_eq!(
            got,
            [
                "params w=320",
                "Video* 433",
                "Video 466",
                "Audio 466",
                "Video 500"
            ]
        );
    }

    #[test]
    fn a_first_read_says_when_it_is_full() {
        let mut first = FirstRead::default();
        for i in 1..FirstRead::MAX_FRAMES {
            assert!(first.hold(video(i as i64 * 3_000, false, None)));
        }
        assert!(!first.hold(video(0, false, None)));
    }

    #[test]
    fn new_parameters_wait_for_the_next_keyframe() {
        let a = vparams(VideoCodec::H264, 320);
        let b = vparams(VideoCodec::H264, 640);
        let mut feed = Feed::new(None);
        let out = run(
            &mut feed,
            vec![
                (0, video(0, true, Some(a.clone()))),
                (33, video(3_000, false, Some(b.clone()))), // new SPS on a non-key frame
                (66, video(6_000, false, None)),
                (100, video(9_000, true, None)),
                (133, video(12_000, true, Some(b.clone()))), // same again: nothing new
            ],
        );
        let got: Vec<_> = out.iter().map(describe).collect();
        assert_eq!(
            got,
            [
                "params w=320",
                "Video* 0",
                "params w=640",
                "Video* 100",
                "Video* 133"
            ]
        );
    }

    #[test]
    fn h265_cra_is_a_keyframe_and_rasl_is_dropped() {
        let p = vparams(VideoCodec::H265, 320);
        let mut feed = Feed::new(None);
        let stats = IngestStats::new();
        let mut out = Vec::new();
        let frames = vec![
            h265(0, 1, Some(p)),   // trailing: before any keyframe
            h265(3_000, 21, None), // CRA: retina says not random access
            h265(6_000, 8, None),  // RASL_N
            h265(9_000, 9, None),  // RASL_R
            h265(12_000, 1, None),
            h265(15_000, 16, None), // BLA
        ];
        for (i, f) in frames.into_iter().enumerate() {
            let now = Now::at(Time::from_secs(1).plus_micros(i as i64 * 33_333));
            feed.push(f, now, &stats, &mut |e| {
                out.push(e);
                true
            });
        }
        let keys: Vec<_> = out
            .iter()
            .filter_map(|e| match e {
                SourceEvent::Packet(p) => Some(p.keyframe),
                _ => None,
            })
            .collect();
        assert_eq!(keys, [true, false, true]);
        let s = stats.snapshot();
        assert_eq!((s.rasl_dropped, s.dropped_before_keyframe), (2, 1));
    }

    #[test]
    fn audio_keeps_its_offset_from_video() {
        let mut feed = Feed::new(Some(aparams()));
        // Video's first keyframe at media time 1 s arrives at 500 ms; audio at media 1.5 s.
        let out = run(
            &mut feed,
            vec![
                (
                    500,
                    video(90_000, true, Some(vparams(VideoCodec::H264, 320))),
                ),
                (600, audio(44_100 + 22_050)),
            ],
        );
        let got: Vec<_> = out.iter().map(describe).collect();
        assert_eq!(got, ["params w=320", "Video* 500", "Audio 1000"]);
    }

    #[test]
    fn a_drifting_camera_is_slewed_toward_our_clock() {
        // Ten minutes of a camera whose clock runs 500 ppm fast: its media time ends 300 ms
        // ahead of ours. Each frame arrives when our clock says it was sent.
        let mut feed = Feed::new(None);
        let stats = IngestStats::new();
        let start = Time::from_secs(1000);
        let (mut last, mut off) = (None, 0);
        for k in 0..30 * 600i64 {
            let ours = k * 1_000_000 / 30;
            let npt = (ours + ours / 2_000) * 9 / 100;
            let params = (k == 0).then(|| vparams(VideoCodec::H264, 320));
            let now = Now::at(start.plus_micros(ours));
            assert!(
                feed.push(video(npt, k % 30 == 0, params), now, &stats, &mut |e| {
                    if let SourceEvent::Packet(p) = e {
                        assert!(last.is_none_or(|l| p.time > l), "time went back");
                        last = Some(p.time);
                        off = p.time.micros_since(now.mono);
                    }
                    true
                })
            );
        }
        assert!(
            off.abs() <= 40_000,
            "{off} µs off our clock (300 ms unslewed)"
        );
    }

    #[test]
    fn a_gone_receiver_stops_the_feed() {
        let mut feed = Feed::new(None);
        let stats = IngestStats::new();
        let ok = feed.push(
            video(0, true, Some(vparams(VideoCodec::H264, 320))),
            Now::default(),
            &stats,
            &mut |_| false,
        );
        assert!(!ok);
    }

    #[test]
    fn rescale_is_exact_for_common_rates() {
        assert_eq!(rescale(90_000, 90_000, 90_000), 90_000);
        assert_eq!(rescale(45_000, 45_000, 90_000), 90_000);
        assert_eq!(micros(44_100, 44_100), 1_000_000);
    }
}
