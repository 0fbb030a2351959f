//! Live streams: an endless fragmented MP4 made from a camera's packets as they arrive.
//!
//! [`LiveMuxer`] turns one viewer's packets into `ftyp`+`moov` (no `mehd`: the stream has no
//! length) and then one `moof`+`mdat` per packet, sent at once. A fragment is two pieces, the
//! headers (built per viewer, ~100 bytes) and the packet's own [`Bytes`] as the `mdat` payload,
//! so no viewer copies packet data.
//!
//! Timing: a clip's writer holds each sample until the next one gives its duration; a live
//! stream can't wait a frame interval (200 ms at 5 fps). So each sample goes out with the
//! track's previous duration as an estimate, and every fragment's `tfdt` carries the sample's
//! exact decode time: players take the time from `tfdt` and the small difference between the
//! estimate and the truth never adds up. Decode times start at 0 on the stream's first video
//! keyframe; audio starts at its offset from that keyframe (from the packets' times), as in
//! clips.
//!
//! A viewer that fell behind and skipped packets resumes at a video keyframe after a
//! [`LiveMuxer::cut`]: the timeline is kept continuous across the cut (the gap is taken out of
//! both tracks), so a player sees the picture jump, not a hole it would stall at.

use bytes::Bytes;

use super::fragment::{put_moof, SampleEntry, Traf};
use super::init::{self, AUDIO_TRACK_ID, VIDEO_TRACK_ID};
use super::Fmp4Error;
use crate::packet::{Packet, StreamParams, TrackKind, VIDEO_TIMESCALE};

/// The stream's decode-time origin, set by its first video keyframe.
#[derive(Debug, Clone, Copy)]
struct Origin {
    /// That keyframe's time on our clock (µs).
    time_us: i64,
}

#[derive(Debug)]
struct LiveTrack {
    id: u32,
    kind: TrackKind,
    timescale: u32,
    /// Until a second sample gives one: 1/30 s of video, one AAC frame.
    default_duration: u32,
    last_duration: Option<u32>,
    /// pts − base − shift = decode time; `base` is set by the track's first sample.
    base: Option<i64>,
    shift: i64,
    last_decode: Option<u64>,
}

impl LiveTrack {
    fn new(id: u32, kind: TrackKind, timescale: u32, default_duration: u32) -> Self {
        LiveTrack {
            id,
            kind,
            timescale,
            default_duration,
            last_duration: None,
            base: None,
            shift: 0,
            last_decode: None,
        }
    }

    /// The decode time of a sample at `pts`, kept increasing, and the duration to give the
    /// sample before it.
    fn place(&mut self, pts: i64, base: i64) -> u64 {
        let base = *self.base.get_or_insert(base);
        let raw = pts.saturating_sub(base).saturating_sub(self.shift).max(0) as u64;
        let decode = match self.last_decode {
            Some(last) if raw <= last => last + 1,
            _ => raw,
        };
        if let Some(last) = self.last_decode {
            let d = u32::try_from(decode - last).unwrap_or(u32::MAX);
            self.last_duration = Some(d);
        }
        self.last_decode = Some(decode);
        decode
    }

    fn estimated_duration(&self) -> u32 {
        self.last_duration.unwrap_or(self.default_duration)
    }

    /// Ticks of this track in `us` microseconds.
    fn ticks(&self, us: i64) -> i64 {
        (i128::from(us) * i128::from(self.timescale) / 1_000_000) as i64
    }
}

/// One viewer's live fMP4 stream (module docs).
#[derive(Debug)]
pub struct LiveMuxer {
    video: LiveTrack,
    audio: Option<LiveTrack>,
    origin: Option<Origin>,
    sequence: u32,
    /// A cut was asked for: the next video keyframe continues where the stream left off.
    cut: bool,
    fragments: u64,
    /// The latest fragment's track id and decode time (for its `prft`).
    last: Option<(u32, u64)>,
}

impl LiveMuxer {
    /// A muxer for `params`, and the stream's init segment (`ftyp` + `moov`).
    pub fn new(params: &StreamParams) -> Result<(LiveMuxer, Bytes), Fmp4Error> {
        let init = init::build_live(params)?;
        let audio = params
            .audio
            .as_ref()
            .map(|a| LiveTrack::new(AUDIO_TRACK_ID, TrackKind::Audio, a.sample_rate, 1024));
        let m = LiveMuxer {
            video: LiveTrack::new(
                VIDEO_TRACK_ID,
                TrackKind::Video,
                VIDEO_TIMESCALE,
                VIDEO_TIMESCALE / 30,
            ),
            audio,
            origin: None,
            sequence: 0,
            cut: false,
            fragments: 0,
            last: None,
        };
        Ok((m, Bytes::from(init.bytes)))
    }

    /// Fragments made so far.
    pub fn fragments(&self) -> u64 {
        self.fragments
    }

    /// Packets were skipped: the next video keyframe continues the timeline where it stopped
    /// (module docs). Packets before that keyframe are dropped.
    pub fn cut(&mut self) {
        self.cut = true;
    }

    /// The fragment carrying `p`: its headers (`moof` + `mdat` header) and its payload (the
    /// packet's data, shared). `None` for a packet the stream can't start with or that belongs
    /// to no track: anything before the first video keyframe (and after a cut, before the next
    /// one), audio older than that keyframe, audio when the stream has none.
    pub fn push(&mut self, p: &Packet) -> Option<(Bytes, Bytes)> {
        let time_us = p.time.0;
        if p.track == TrackKind::Video && p.keyframe && (self.origin.is_none() || self.cut) {
            self.begin_at(p, time_us);
        }
        let origin = self.origin?;
        if self.cut {
            return None;
        }
        let (track, base) = match p.track {
            TrackKind::Video => (&mut self.video, p.pts),
            TrackKind::Audio => {
                let a = self.audio.as_mut()?;
                if time_us < origin.time_us && a.last_decode.is_none() {
                    return None;
                }
                // The first audio sample sits at its offset from the origin keyframe.
                let offset = a.ticks(time_us - origin.time_us);
                (a, p.pts - offset)
            }
        };
        let decode_time = track.place(p.pts, base);
        let entry = SampleEntry {
            duration: track.estimated_duration(),
            size: u32::try_from(p.data.len()).ok()?,
            keyframe: p.keyframe,
        };
        let track_id = track.id;
        let traf = Traf {
            id: track_id,
            kind: track.kind,
            decode_time,
            samples: std::slice::from_ref(&entry),
        };
        self.sequence = self.sequence.wrapping_add(1);
        let mut head = Vec::with_capacity(128);
        put_moof(&mut head, self.sequence, &[traf]).ok()?;
        self.fragments += 1;
        self.last = Some((track_id, decode_time));
        Some((Bytes::from(head), p.data.clone()))
    }

    /// The latest fragment [`LiveMuxer::push`] made: its track id and decode time (`tfdt`).
    pub fn last_fragment(&self) -> Option<(u32, u64)> {
        self.last
    }

    /// Sets the origin at the stream's first keyframe, or after a cut shifts both tracks so
    /// that keyframe follows the last video sample sent.
    fn begin_at(&mut self, p: &Packet, time_us: i64) {
        self.cut = false;
        if self.origin.is_none() {
            self.origin = Some(Origin { time_us });
            return;
        }
        let (Some(base), Some(last)) = (self.video.base, self.video.last_decode) else {
            return;
        };
        let next = last + u64::from(self.video.estimated_duration());
        let raw = p.pts - base - self.video.shift;
        let jump = raw - next as i64;
        self.video.shift += jump;
        if let Some(a) = self.audio.as_mut() {
            a.shift += a.ticks(jump * 1_000_000 / i64::from(VIDEO_TIMESCALE));
        }
    }
}

/// The RFC 6381 `codecs` of a stream, as MSE's `isTypeSupported` and a `Content-Type` want
/// them: `avc1.PPCCLL` or `hvc1.…`, then `mp4a.40.N` when there is AAC audio.
pub fn codecs(params: &StreamParams) -> String {
    use crate::packet::VideoCodec;
    let c = &params.video.config;
    let mut s = match params.video.codec {
        VideoCodec::H264 if c.len() >= 4 => format!("avc1.{:02x}{:02x}{:02x}", c[1], c[2], c[3]),
        VideoCodec::H264 => "avc1".to_owned(),
        VideoCodec::H265 => hvc1_codec(c),
    };
    if let Some(a) = &params.audio {
        // audioObjectType: the first 5 bits of the AudioSpecificConfig (31: escape, 6 more).
        let aot = match a.config.first() {
            Some(b) if b >> 3 == 31 => {
                32 + ((u32::from(b & 0x07) << 3) | u32::from(a.config.get(1).map_or(0, |x| x >> 5)))
            }
            Some(b) => u32::from(b >> 3),
            None => 2,
        };
        s.push_str(&format!(",mp4a.40.{aot}"));
    }
    s
}

/// `hvc1.<space><profile>.<compat, bit-reversed hex>.<L|H><level>.<constraint bytes>` from an
/// HEVCDecoderConfigurationRecord (ISO 14496-15 annex E).
fn hvc1_codec(c: &[u8]) -> String {
    if c.len() < 13 {
        return "hvc1".to_owned();
    }
    let space = ["", "A", "B", "C"][usize::from(c[1] >> 6)];
    let tier = if c[1] & 0x20 != 0 { 'H' } else { 'L' };
    let profile = c[1] & 0x1f;
    let compat = u32::from_be_bytes([c[2], c[3], c[4], c[5]]).reverse_bits();
    let level = c[12];
    let mut constraints: Vec<u8> = c[6..12].to_vec();
    while constraints.last() == Some(&0) {
        constraints.pop();
    }
    let mut s = format!("hvc1.{space}{profile}.{compat:x}.{tier}{level}");
    for b in constraints {
        s.push_str(&format!(".{b:x}"));
    }
    s
}

/// Seconds from the NTP epoch (1900) to the Unix epoch (1970).
const NTP_UNIX_OFFSET_SECS: u64 = 2_208_988_800;

/// A Producer Reference Time box (ISO/IEC 14496-12 8.16.5, version 1) for the fragment of
/// `track_id` that starts at `media_time` (its `tfdt`): `wall_us` (Unix microseconds) is when
/// that media was produced, as an NTP timestamp. It goes right before the fragment's `moof`;
/// players skip it, a latency probe reads it (`live.mp4?prft=1`).
pub fn prft(track_id: u32, wall_us: i64, media_time: u64) -> [u8; 32] {
    let us = u64::try_from(wall_us).unwrap_or(0);
    let secs = us / 1_000_000 + NTP_UNIX_OFFSET_SECS;
    let frac = ((us % 1_000_000) << 32) / 1_000_000;
    let mut b = [0u8; 32];
    b[0..4].copy_from_slice(&32u32.to_be_bytes());
    b[4..8].copy_from_slice(b"prft");
    b[8] = 1; // version 1 (64-bit media_time), flags 0
    b[12..16].copy_from_slice(&track_id.to_be_bytes());
    b[16..24].copy_from_slice(&((secs << 32) | frac).to_be_bytes());
    b[24..32].copy_from_slice(&media_time.to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    use super::super::boxes::{boxes, find, Cursor};
    use super::*;
    use crate::packet::{AudioParams, VideoCodec, VideoParams};
    use crate::time::Time;

    fn params(audio: bool) -> StreamParams {
        StreamParams {
            video: VideoParams {
                codec: VideoCodec::H264,
                width: 640,
                height: 360,
                config: Bytes::from_static(&[1, 0x64, 0x00, 0x1f, 0xff, 0xe1, 0, 0]),
            },
            audio: audio.then(|| AudioParams {
                sample_rate: 48_000,
                channels: 1,
                config: Bytes::from_static(&[0x11, 0x88]),
            }),
        }
    }

    fn video(ms: i64, key: bool) -> Packet {
        Packet {
            track: TrackKind::Video,
            pts: ms * 90,
            time: Time(1_000_000_000 + ms * 1000),
            keyframe: key,
            data: Bytes::from(vec![key as u8; 10]),
        }
    }

    fn audio(ms: i64) -> Packet {
        Packet {
            track: TrackKind::Audio,
            // A different origin from video's, as a camera's RTP clocks have.
            pts: 777_000 + ms * 48,
            time: Time(1_000_000_000 + ms * 1000),
            keyframe: true,
            data: Bytes::from(vec![0xaa; 6]),
        }
    }

    /// (track id, tfdt, [(duration, size, flags)]) of a fragment's one traf.
    fn parse(head: &[u8]) -> (u32, u64, Vec<(u32, u32, u32)>) {
        let moof = boxes(head).next().unwrap().unwrap();
        assert_eq!(&moof.kind, b"moof");
        let traf = find(moof.body, b"traf").unwrap().unwrap();
        let tfhd = find(traf.body, b"tfhd").unwrap().unwrap();
        let id = u32::from_be_bytes(tfhd.body[4..8].try_into().unwrap());
        let tfdt = find(traf.body, b"tfdt").unwrap().unwrap();
        let mut c = Cursor::new(tfdt.body, "tfdt");
        c.version_flags().unwrap();
        let base = c.u64().unwrap();
        let trun = find(traf.body, b"trun").unwrap().unwrap();
        let mut c = Cursor::new(trun.body, "trun");
        c.version_flags().unwrap();
        let n = c.u32().unwrap();
        let off = c.u32().unwrap() as usize;
        let e: Vec<_> = (0..n)
            .map(|_| (c.u32().unwrap(), c.u32().unwrap(), c.u32().unwrap()))
            .collect();
        // The data offset points just past the mdat header, which ends the head.
        assert_eq!(off, head.len());
        (id, base, e)
    }

    #[test]
    fn the_init_segment_has_no_length() {
        let (_, init) = LiveMuxer::new(&params(true)).unwrap();
        let top: Vec<_> = boxes(&init).map(|b| b.unwrap().kind).collect();
        assert_eq!(top, vec![*b"ftyp", *b"moov"]);
        let moov = find(&init, b"moov").unwrap().unwrap();
        let mvex = find(moov.body, b"mvex").unwrap().unwrap();
        assert!(find(mvex.body, b"mehd").unwrap().is_none());
        assert!(find(mvex.body, b"trex").unwrap().is_some());
    }

    #[test]
    fn starts_on_a_keyframe_and_each_packet_is_a_fragment_of_its_own() {
        let (mut m, _) = LiveMuxer::new(&params(true)).unwrap();
        assert!(m.push(&video(0, false)).is_none(), "no keyframe yet");
        assert!(
            m.push(&audio(10)).is_none(),
            "audio before the first keyframe"
        );
        let (head, data) = m.push(&video(40, true)).unwrap();
        assert_eq!(data.len(), 10);
        let (id, t, e) = parse(&head);
        assert_eq!((id, t), (VIDEO_TRACK_ID, 0));
        assert_eq!(e, vec![(3000, 10, 0x0200_0000)]);
        // Audio 25 ms after the keyframe starts 25 ms in, whatever its own clock says.
        let (head, _) = m.push(&audio(65)).unwrap();
        let (id, t, _) = parse(&head);
        assert_eq!((id, t), (AUDIO_TRACK_ID, 1200));
        let (head, _) = m.push(&video(80, false)).unwrap();
        let (_, t, e) = parse(&head);
        assert_eq!(t, 40 * 90, "exact decode time from the pts");
        assert_eq!(
            e[0].0,
            40 * 90,
            "duration estimated from the previous interval"
        );
        assert_eq!(e[0].2, 0x0101_0000, "not a sync sample");
        let (head, _) = m.push(&audio(86)).unwrap();
        assert_eq!(parse(&head).1, 1200 + 21 * 48);
        assert_eq!(m.fragments(), 4);
    }

    #[test]
    fn a_cut_keeps_the_timeline_continuous() {
        let (mut m, _) = LiveMuxer::new(&params(true)).unwrap();
        m.push(&video(0, true)).unwrap();
        m.push(&video(40, false)).unwrap();
        m.push(&audio(41)).unwrap();
        m.cut();
        assert!(m.push(&video(80, false)).is_none(), "waits for a keyframe");
        assert!(m.push(&audio(90)).is_none());
        // 5 s later: continues one frame after the last one sent.
        let (head, _) = m.push(&video(5040, true)).unwrap();
        assert_eq!(parse(&head).1, 80 * 90);
        let (head, _) = m.push(&video(5080, false)).unwrap();
        assert_eq!(parse(&head).1, 120 * 90);
        // Audio moved by the same 4960 ms.
        let (head, _) = m.push(&audio(5081)).unwrap();
        assert_eq!(parse(&head).1, (5081 - 4960) * 48);
    }

    #[test]
    fn decode_times_never_go_back() {
        let (mut m, _) = LiveMuxer::new(&params(false)).unwrap();
        m.push(&video(0, true)).unwrap();
        m.push(&video(40, false)).unwrap();
        let (head, _) = m.push(&video(40, false)).unwrap();
        assert_eq!(parse(&head).1, 40 * 90 + 1);
        assert!(m.push(&audio(50)).is_none(), "no audio track");
    }

    #[test]
    fn prft_box_bytes() {
        // 2026-01-01T00:00:00.5Z.
        let b = prft(1, 1_767_225_600_500_000, 90_000);
        assert_eq!(&b[0..8], &[0, 0, 0, 32, b'p', b'r', b'f', b't']);
        assert_eq!(&b[8..12], &[1, 0, 0, 0]);
        assert_eq!(&b[12..16], &1u32.to_be_bytes());
        let ntp = u64::from_be_bytes(b[16..24].try_into().unwrap());
        assert_eq!(ntp >> 32, 1_767_225_600 + 2_208_988_800);
        assert_eq!(ntp & 0xffff_ffff, 1 << 31, "half a second");
        assert_eq!(u64::from_be_bytes(b[24..32].try_into().unwrap()), 90_000);
    }

    #[test]
    fn codecs_strings() {
        assert_eq!(codecs(&params(false)), "avc1.64001f");
        assert_eq!(codecs(&params(true)), "avc1.64001f,mp4a.40.2");
        let mut p = params(false);
        p.video.codec = VideoCodec::H265;
        // Main profile, compat flags 0x60000000, main tier, level 93, progressive + frame-only.
        let mut hvcc = vec![1u8, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 93];
        hvcc.extend_from_slice(&[0xf0, 0, 0xfc]);
        p.video.config = Bytes::from(hvcc);
        assert_eq!(codecs(&p), "hvc1.1.6.L93.90");
    }
}
