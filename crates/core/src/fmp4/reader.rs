//! [`Mp4File`]: a small demuxer for ordinary (non-fragmented) MP4 files, as ffmpeg makes them,
//! for the looping-file source. It reads the sample tables of the first H.264/H.265 video track
//! and the first AAC audio track; other tracks and boxes are ignored. Every size and count is
//! checked against the data it describes, so a malformed file is an error, never a panic or a
//! huge allocation.

use std::path::Path;

use bytes::Bytes;

use super::boxes::{boxes, find, malformed, require, BoxRef, Cursor};
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

/// A track's samples: (decode time, sample) in its output timescale, and its total duration.
struct TrackSamples {
    dts: Vec<i64>,
    samples: Vec<Sample>,
    duration: i64,
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
        let v = samples(&file, &video, TrackKind::Video, VIDEO_TIMESCALE)?;
        let (a, audio_params) = match audio {
            Some(t) => {
                let Entry::Audio(p) = &t.entry else {
                    return Err(malformed("audio track without audio entry"));
                };
                let p = p.clone();
                (
                    Some(samples(&file, &t, TrackKind::Audio, p.sample_rate)?),
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
    Ok(Some(AudioParams {
        sample_rate: if rate != 0 { rate } else { timescale },
        channels,
        config: file.slice_ref(asc),
    }))
}

/// A full-box table: its entries as a cursor, checked to hold `count` entries of `width` bytes.
fn table<'a>(
    stbl: &'a [u8],
    kind: &[u8; 4],
    width: usize,
) -> Result<Option<(u32, Cursor<'a>)>, Fmp4Error> {
    let Some(b) = find(stbl, kind)? else {
        return Ok(None);
    };
    let mut c = Cursor::new(b.body, "sample table");
    let (_, _) = c.version_flags()?;
    let count = c.u32()?;
    if (count as usize).saturating_mul(width) > c.remaining() {
        return Err(malformed(format!(
            "'{}' claims {count} entries, has room for {}",
            String::from_utf8_lossy(kind),
            c.remaining() / width
        )));
    }
    Ok(Some((count, c)))
}

fn rescale(v: i64, from: u32, to: u32) -> i64 {
    if from == to {
        return v;
    }
    let (from, to) = (i128::from(from), i128::from(to));
    let scaled = (i128::from(v) * to + from / 2).div_euclid(from);
    scaled.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// Walks one track's sample tables: sizes (stsz), times (stts, ctts), sync samples (stss) and
/// positions (stsc + stco/co64). Every table must describe exactly the samples stsz counts.
fn samples(
    file: &Bytes,
    t: &Track<'_>,
    kind: TrackKind,
    out_scale: u32,
) -> Result<TrackSamples, Fmp4Error> {
    let stsz = require(t.stbl, b"stsz", "stbl")?;
    let mut sizes = Cursor::new(stsz.body, "stsz");
    sizes.version_flags()?;
    let constant = sizes.u32()?;
    let n = sizes.u32()? as usize;
    let fits = if constant == 0 {
        n.saturating_mul(4) <= sizes.remaining()
    } else {
        n.saturating_mul(constant as usize) <= file.len()
    };
    if !fits {
        return Err(malformed(format!("stsz: {n} samples do not fit")));
    }
    let (mut stts_left, mut stts) =
        table(t.stbl, b"stts", 8)?.ok_or_else(|| malformed("no stts"))?;
    let mut ctts = table(t.stbl, b"ctts", 8)?;
    let sync: Option<Vec<u32>> = match table(t.stbl, b"stss", 4)? {
        Some((count, mut c)) => Some((0..count).map(|_| c.u32()).collect::<Result<_, _>>()?),
        None => None,
    };
    let (stsc_count, stsc) = table(t.stbl, b"stsc", 12)?.ok_or_else(|| malformed("no stsc"))?;
    let mut stsc = ChunkMap::new(stsc_count, stsc, n)?;
    let (chunk_count, mut chunks, wide) = match table(t.stbl, b"stco", 4)? {
        Some((n, c)) => (n, c, false),
        None => {
            let (n, c) = table(t.stbl, b"co64", 8)?.ok_or_else(|| malformed("no stco/co64"))?;
            (n, c, true)
        }
    };

    let mut out = TrackSamples {
        dts: Vec::with_capacity(n),
        samples: Vec::with_capacity(n),
        duration: 0,
    };
    let (mut stts_run, mut delta, mut dts) = (0u32, 0i64, 0i64);
    let (mut ctts_run, mut cto) = (0u32, 0i64);
    let (mut chunk, mut in_chunk, mut offset) = (0u64, 0u32, 0u64);
    for i in 0..n {
        while stts_run == 0 {
            if stts_left == 0 {
                return Err(malformed("stts covers fewer samples than stsz"));
            }
            stts_left -= 1;
            stts_run = stts.u32()?;
            delta = i64::from(stts.u32()?);
        }
        stts_run -= 1;
        if let Some((left, c)) = ctts.as_mut() {
            while ctts_run == 0 {
                if *left == 0 {
                    return Err(malformed("ctts covers fewer samples than stsz"));
                }
                *left -= 1;
                ctts_run = c.u32()?;
                cto = i64::from(c.u32()? as i32);
            }
            ctts_run -= 1;
        }
        while in_chunk == 0 {
            chunk += 1;
            if chunk > u64::from(chunk_count) {
                return Err(malformed("chunks hold fewer samples than stsz"));
            }
            offset = if wide {
                chunks.u64()?
            } else {
                u64::from(chunks.u32()?)
            };
            in_chunk = stsc.samples_in(chunk)?;
        }
        in_chunk -= 1;
        let size = if constant == 0 {
            sizes.u32()?
        } else {
            constant
        };
        let end = offset
            .checked_add(u64::from(size))
            .filter(|&e| e <= file.len() as u64)
            .ok_or_else(|| malformed(format!("sample {i} lies past the end of the file")))?;
        let data = file.slice(offset as usize..end as usize);
        offset = end;
        let keyframe = kind == TrackKind::Audio
            || sync
                .as_ref()
                .map_or(true, |s| s.binary_search(&(i as u32 + 1)).is_ok());
        out.dts.push(rescale(dts, t.timescale, out_scale));
        out.samples.push(Sample {
            track: kind,
            pts: rescale(dts + cto, t.timescale, out_scale),
            keyframe,
            data,
        });
        dts += delta;
    }
    if stts_run != 0 || stts_left != 0 {
        return Err(malformed("stts covers more samples than stsz"));
    }
    if ctts.is_some_and(|(left, _)| left != 0) || ctts_run != 0 {
        return Err(malformed("ctts covers more samples than stsz"));
    }
    if in_chunk != 0 {
        return Err(malformed("chunks hold more samples than stsz"));
    }
    out.duration = rescale(dts, t.timescale, out_scale);
    Ok(out)
}

/// `stsc`: which chunks hold how many samples. Runs are given by their first chunk (from 1, increasing).
struct ChunkMap<'a> {
    c: Cursor<'a>,
    left: u32,
    per_chunk: u32,
    next_first: u64,
}

impl<'a> ChunkMap<'a> {
    fn new(count: u32, c: Cursor<'a>, samples: usize) -> Result<Self, Fmp4Error> {
        if count == 0 && samples > 0 {
            return Err(malformed("stsc is empty"));
        }
        let map = ChunkMap {
            c,
            left: count,
            per_chunk: 0,
            next_first: 1,
        };
        if count > 0 && map.peek_first() != Some(1) {
            return Err(malformed("stsc: first run does not start at chunk 1"));
        }
        Ok(map)
    }

    fn peek_first(&self) -> Option<u64> {
        (self.left > 0).then(|| self.c.clone().u32().ok().map(u64::from))?
    }

    /// Samples in chunk `chunk` (called with 1, 2, 3, ...).
    fn samples_in(&mut self, chunk: u64) -> Result<u32, Fmp4Error> {
        while chunk >= self.next_first {
            let first = u64::from(self.c.u32()?);
            self.per_chunk = self.c.u32()?;
            self.c.skip(4)?;
            self.left -= 1;
            self.next_first = match self.peek_first() {
                Some(next) if next > first => next,
                Some(_) => return Err(malformed("stsc: first chunks not increasing")),
                None => u64::MAX,
            };
        }
        Ok(self.per_chunk)
    }
}
