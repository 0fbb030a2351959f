//! [`Mp4File`]: a small demuxer for ordinary (non-fragmented) MP4 files, as ffmpeg makes them,
//! for the looping-file source. It reads the sample tables of the first H.264/H.265 video track
//! and the first AAC audio track; other tracks and boxes are ignored. Every size and count is
//! checked against the data it describes, so a malformed file is an error, never a panic or a
//! huge allocation.

use std::path::Path;

use bytes::Bytes;

use super::boxes::{boxes, find, malformed, require, BoxRef, Cursor};
use super::stbl::{samples, TrackSamples};
use super::Fmp4Error;
use crate::packet::{
    AudioParams, StreamParams, TrackKind, VideoCodec, VideoParams, VIDEO_TIMESCALE,
};

/// One sample of a file, ready to become a [`crate::packet::Packet`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sample {
    pub track: TrackKind,
    /// Presentation time: 90 kHz for video, the sample rate for audio.
    pub pts: i64,
    pub keyframe: bool,
    /// A zero-copy slice of the file's bytes.
    pub data: Bytes,
}

#[derive(Clone, Debug)]
pub struct Mp4File {
    pub params: StreamParams,
    /// Video and audio samples in decode order, merged by decode time.
    pub samples: Vec<Sample>,
    /// Sum of the video sample durations, 90 kHz.
    pub video_duration: i64,
    /// Sum of the audio sample durations, in the audio sample rate (0 without audio).
    pub audio_duration: i64,
}

enum Entry {
    Video(VideoParams),
    Audio(AudioParams),
}

struct Track<'a> {
    timescale: u32,
    entry: Entry,
    stbl: &'a [u8],
}

impl Mp4File {
    pub fn open(path: &Path) -> Result<Mp4File, Fmp4Error> {
        let data = std::fs::read(path).map_err(|e| Fmp4Error::io("reading", path, e))?;
        Mp4File::parse(Bytes::from(data))
    }

    pub fn parse(file: Bytes) -> Result<Mp4File, Fmp4Error> {
        let moov = require(&file, b"moov", "file")?;
        let (mut video, mut audio) = (None, None);
        for trak in boxes(moov.body) {
            let trak = trak?;
            if &trak.kind != b"trak" {
                continue;
            }
            match parse_trak(&file, &trak)? {
                Some(
                    t @ Track {
                        entry: Entry::Video(_),
                        ..
                    },
                ) if video.is_none() => video = Some(t),
                Some(
                    t @ Track {
                        entry: Entry::Audio(_),
                        ..
                    },
                ) if audio.is_none() => audio = Some(t),
                _ => {}
            }
        }
        let video = video
            .ok_or_else(|| Fmp4Error::Unsupported("no H.264 or H.265 video track".to_string()))?;
        let v = samples(
            &file,
            video.stbl,
            video.timescale,
            TrackKind::Video,
            VIDEO_TIMESCALE,
        )?;
        let (a, audio_params) = match audio {
            Some(t) => {
                let Entry::Audio(p) = &t.entry else {
                    return Err(malformed("audio track without audio entry"));
                };
                let p = p.clone();
                (
                    Some(samples(
                        &file,
                        t.stbl,
                        t.timescale,
                        TrackKind::Audio,
                        p.sample_rate,
                    )?),
                    Some(p),
                )
            }
            None => (None, None),
        };
        let Entry::Video(video_params) = video.entry else {
            return Err(malformed("video track without video entry"));
        };
        let audio_duration = a.as_ref().map_or(0, |a| a.duration);
        let audio_rate = audio_params.as_ref().map_or(1, |p| p.sample_rate);
        Ok(Mp4File {
            params: StreamParams {
                video: video_params,
                audio: audio_params,
            },
            samples: merge(v.dts, v.samples, a, audio_rate),
            video_duration: v.duration,
            audio_duration,
        })
    }
}

/// Interleaves video and audio by decode time (video first on ties).
fn merge(
    vdts: Vec<i64>,
    video: Vec<Sample>,
    audio: Option<TrackSamples>,
    rate: u32,
) -> Vec<Sample> {
    let Some(audio) = audio else {
        return video;
    };
    let mut out = Vec::with_capacity(video.len() + audio.samples.len());
    let mut vi = vdts.into_iter().zip(video).peekable();
    let mut ai = audio.dts.into_iter().zip(audio.samples).peekable();
    loop {
        let take_video = match (vi.peek(), ai.peek()) {
            (Some((vd, _)), Some((ad, _))) => {
                i128::from(*vd) * i128::from(rate) <= i128::from(*ad) * i128::from(VIDEO_TIMESCALE)
            }
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_video { vi.next() } else { ai.next() };
        out.extend(next.map(|(_, s)| s));
    }
    out
}

fn parse_trak<'a>(file: &Bytes, trak: &BoxRef<'a>) -> Result<Option<Track<'a>>, Fmp4Error> {
    let mdia = require(trak.body, b"mdia", "trak")?;
    let mdhd = require(mdia.body, b"mdhd", "mdia")?;
    let mut c = Cursor::new(mdhd.body, "mdhd");
    let (v, _) = c.version_flags()?;
    c.skip(if v == 1 { 16 } else { 8 })?;
    let timescale = c.u32()?;
    if timescale == 0 {
        return Err(malformed("mdhd: timescale 0"));
    }
    let Some(hdlr) = find(mdia.body, b"hdlr")? else {
        return Ok(None);
    };
    let mut c = Cursor::new(hdlr.body, "hdlr");
    c.skip(8)?;
    let handler = c.fourcc()?;
    if &handler != b"vide" && &handler != b"soun" {
        return Ok(None);
    }
    let minf = require(mdia.body, b"minf", "mdia")?;
    let stbl = require(minf.body, b"stbl", "minf")?;
    let stsd = require(stbl.body, b"stsd", "stbl")?;
    let mut c = Cursor::new(stsd.body, "stsd");
    c.skip(8)?;
    let Some(entry) = boxes(c.rest()).next().transpose()? else {
        return Err(malformed("stsd: no entry"));
    };
    let entry = match (&handler, &entry.kind) {
        (b"vide", b"avc1" | b"avc3") => video_entry(file, entry.body, VideoCodec::H264, b"avcC")?,
        (b"vide", b"hvc1" | b"hev1") => video_entry(file, entry.body, VideoCodec::H265, b"hvcC")?,
        (b"soun", b"mp4a") => match audio_entry(file, entry.body, timescale)? {
            Some(a) => Entry::Audio(a),
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    Ok(Some(Track {
        timescale,
        entry,
        stbl: stbl.body,
    }))
}

fn video_entry(
    file: &Bytes,
    body: &[u8],
    codec: VideoCodec,
    config: &[u8; 4],
) -> Result<Entry, Fmp4Error> {
    let mut c = Cursor::new(body, "visual sample entry");
    c.skip(24)?;
    let (width, height) = (c.u16()?, c.u16()?);
    c.skip(50)?;
    let cfg = require(c.rest(), config, "visual sample entry")?;
    Ok(Entry::Video(VideoParams {
        codec,
        width,
        height,
        config: file.slice_ref(cfg.body),
    }))
}

/// An `mp4a` entry; `None` when it is not AAC.
fn audio_entry(
    file: &Bytes,
    body: &[u8],
    timescale: u32,
) -> Result<Option<AudioParams>, Fmp4Error> {
    let mut c = Cursor::new(body, "audio sample entry");
    c.skip(8)?;
    let version = c.u16()?;
    c.skip(6)?;
    let channels = c.u16()?;
    c.skip(6)?;
    let rate = c.u32()? >> 16;
    // QuickTime sound description versions 1 and 2 have extra fields before the children.
    c.skip(match version {
        1 => 16,
        2 => 36,
        _ => 0,
    })?;
    let esds = require(c.rest(), b"esds", "mp4a")?;
    let mut c = Cursor::new(esds.body, "esds");
    c.version_flags()?;
    let (tag, es) = c.descriptor()?;
    if tag != 0x03 {
        return Err(malformed("esds: no ES_Descriptor"));
    }
    let mut c = Cursor::new(es, "ES_Descriptor");
    c.skip(2)?;
    let flags = c.u8()?;
    if flags & 0x80 != 0 {
        c.skip(2)?;
    }
    if flags & 0x40 != 0 {
        let n = c.u8()?;
        c.skip(usize::from(n))?;
    }
    if flags & 0x20 != 0 {
        c.skip(2)?;
    }
    let dcd = loop {
        if c.remaining() == 0 {
            return Err(malformed("esds: no DecoderConfigDescriptor"));
        }
        if let (0x04, body) = c.descriptor()? {
            break body;
        }
    };
    let mut c = Cursor::new(dcd, "DecoderConfigDescriptor");
    let object_type = c.u8()?;
    if !matches!(object_type, 0x40 | 0x66..=0x68) {
        return Ok(None);
    }
    c.skip(12)?;
    let asc = loop {
        if c.remaining() == 0 {
            return Err(malformed("esds: no AudioSpecificConfig"));
        }
        if let (0x05, body) = c.descriptor()? {
            break body;
        }
    };
    if asc.is_empty() {
        return Err(malformed("esds: empty AudioSpecificConfig"));
    }
    // The AudioSpecificConfig is what decoders trust; mp4 muxers often write a template
    // channel count of 2 in the sample entry.
    let (asc_rate, asc_channels) = asc_rate_and_channels(asc);
    Ok(Some(AudioParams {
        sample_rate: [rate, asc_rate.unwrap_or(0), timescale]
            .into_iter()
            .find(|&r| r != 0)
            .unwrap_or(timescale),
        channels: asc_channels.unwrap_or(channels),
        config: file.slice_ref(asc),
    }))
}

/// Sample rate and channel count from an AudioSpecificConfig (ISO 14496-3 1.6.2.1), when given.
fn asc_rate_and_channels(asc: &[u8]) -> (Option<u32>, Option<u16>) {
    const RATES: [u32; 13] = [
        96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025,
        8_000, 7_350,
    ];
    let mut bits = asc
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| u32::from((b >> i) & 1)));
    let mut read =
        |n: u32| -> Option<u32> { (0..n).try_fold(0, |acc, _| Some(acc << 1 | bits.next()?)) };
    let Some(object_type) = read(5) else {
        return (None, None);
    };
    if object_type == 31 && read(6).is_none() {
        return (None, None);
    }
    let rate = match read(4) {
        Some(15) => read(24),
        Some(i) => RATES.get(i as usize).copied(),
        None => None,
    };
    let channels = match read(4) {
        Some(c @ 1..=6) => Some(c as u16),
        Some(7) => Some(8),
        _ => None,
    };
    (rate, channels)
}
