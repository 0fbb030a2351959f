//! The `moov` facts that outlive its writing: where the duration fields sit (so `finish` and
//! `recover` can patch them in place), each track's id, kind and timescale.
//!
//! The writer records these while it builds the moov ([`super::init`]); `recover` finds the same
//! fields again by parsing the moov of a file on disk. A unit test checks that both agree.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::boxes::{boxes, find, require, BoxRef, Cursor};
use super::Fmp4Error;
use crate::packet::TrackKind;

/// A 32- or 64-bit duration field at an absolute file offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Field {
    pub offset: u64,
    pub wide: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TrackInfo {
    pub id: u32,
    /// From the handler: `vide` → video, `soun` → audio, anything else → `None`.
    pub kind: Option<TrackKind>,
    pub timescale: u32,
    pub tkhd: Field,
    pub mdhd: Field,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MoovInfo {
    pub movie_timescale: u32,
    pub mvhd: Field,
    pub mehd: Option<Field>,
    pub tracks: Vec<TrackInfo>,
}

/// What a clip holds, per track, in the track's own timescale.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Durations {
    pub video: u64,
    pub audio: u64,
}

/// `ticks` of `from` timescale in `to` timescale, rounded to nearest.
pub(super) fn rescale(ticks: u64, from: u32, to: u32) -> u64 {
    if from == 0 {
        return 0;
    }
    let v = (u128::from(ticks) * u128::from(to) + u128::from(from) / 2) / u128::from(from);
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn body_offset(parent: u64, b: &BoxRef<'_>) -> u64 {
    parent + b.offset as u64 + (b.size - b.body.len()) as u64
}

impl MoovInfo {
    /// Parses the body of a `moov` box that starts at file offset `body_off`.
    pub(super) fn parse(moov: &[u8], body_off: u64) -> Result<MoovInfo, Fmp4Error> {
        let mvhd = require(moov, b"mvhd", "moov")?;
        let mvhd_off = body_offset(body_off, &mvhd);
        let mut c = Cursor::new(mvhd.body, "mvhd");
        let (v, _) = c.version_flags()?;
        let wide = v == 1;
        c.skip(if wide { 16 } else { 8 })?;
        let movie_timescale = c.u32()?;
        let mvhd = Field {
            offset: mvhd_off + 4 + if wide { 20 } else { 12 },
            wide,
        };
        c.uint(wide)?;

        let mut mehd = None;
        if let Some(mvex) = find(moov, b"mvex")? {
            if let Some(m) = find(mvex.body, b"mehd")? {
                let off = body_offset(body_offset(body_off, &mvex), &m);
                let mut c = Cursor::new(m.body, "mehd");
                let (v, _) = c.version_flags()?;
                c.uint(v == 1)?;
                mehd = Some(Field {
                    offset: off + 4,
                    wide: v == 1,
                });
            }
        }

        let mut tracks = Vec::new();
        for trak in boxes(moov) {
            let trak = trak?;
            if &trak.kind == b"trak" {
                tracks.push(parse_trak(&trak, body_offset(body_off, &trak))?);
            }
        }
        Ok(MoovInfo {
            movie_timescale,
            mvhd,
            mehd,
            tracks,
        })
    }

    pub(super) fn track(&self, id: u32) -> Option<&TrackInfo> {
        self.tracks.iter().find(|t| t.id == id)
    }
}

fn parse_trak(trak: &BoxRef<'_>, off: u64) -> Result<TrackInfo, Fmp4Error> {
    let tkhd = require(trak.body, b"tkhd", "trak")?;
    let tkhd_off = body_offset(off, &tkhd);
    let mut c = Cursor::new(tkhd.body, "tkhd");
    let (v, _) = c.version_flags()?;
    let wide = v == 1;
    c.skip(if wide { 16 } else { 8 })?;
    let id = c.u32()?;
    c.skip(4)?;
    c.uint(wide)?;
    let tkhd = Field {
        offset: tkhd_off + 4 + if wide { 24 } else { 16 },
        wide,
    };

    let mdia = require(trak.body, b"mdia", "trak")?;
    let mdia_off = body_offset(off, &mdia);
    let mdhd = require(mdia.body, b"mdhd", "mdia")?;
    let mdhd_off = body_offset(mdia_off, &mdhd);
    let mut c = Cursor::new(mdhd.body, "mdhd");
    let (v, _) = c.version_flags()?;
    let wide = v == 1;
    c.skip(if wide { 16 } else { 8 })?;
    let timescale = c.u32()?;
    c.uint(wide)?;
    let mdhd = Field {
        offset: mdhd_off + 4 + if wide { 20 } else { 12 },
        wide,
    };

    let kind = match find(mdia.body, b"hdlr")? {
        Some(h) => {
            let mut c = Cursor::new(h.body, "hdlr");
            c.skip(8)?;
            match &c.fourcc()? {
                b"vide" => Some(TrackKind::Video),
                b"soun" => Some(TrackKind::Audio),
                _ => None,
            }
        }
        None => None,
    };
    Ok(TrackInfo {
        id,
        kind,
        timescale,
        tkhd,
        mdhd,
    })
}

fn read_field(file: &File, f: Field) -> io::Result<u64> {
    let mut b = [0u8; 8];
    if f.wide {
        file.read_exact_at(&mut b, f.offset)?;
        Ok(u64::from_be_bytes(b))
    } else {
        file.read_exact_at(&mut b[..4], f.offset)?;
        Ok(u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
    }
}

/// Writes `value` into the field unless it already holds it. Returns whether it wrote.
fn write_field(file: &File, f: Field, value: u64) -> io::Result<bool> {
    let value = if f.wide {
        value
    } else {
        value.min(u64::from(u32::MAX))
    };
    if read_field(file, f)? == value {
        return Ok(false);
    }
    if f.wide {
        file.write_all_at(&value.to_be_bytes(), f.offset)?;
    } else {
        file.write_all_at(&(value as u32).to_be_bytes(), f.offset)?;
    }
    Ok(true)
}

/// Patches every duration field in place: `mdhd` in the track's timescale, `tkhd`, `mvhd` and
/// `mehd` in the movie timescale (the movie lasts as long as its longest track). Fields that
/// already hold the right value are not rewritten. Returns whether anything changed.
pub(super) fn patch_durations(file: &File, info: &MoovInfo, d: Durations) -> io::Result<bool> {
    let mut changed = false;
    let mut movie = 0u64;
    for t in &info.tracks {
        let ticks = match t.kind {
            Some(TrackKind::Video) => d.video,
            Some(TrackKind::Audio) => d.audio,
            None => continue,
        };
        let in_movie = rescale(ticks, t.timescale, info.movie_timescale);
        movie = movie.max(in_movie);
        changed |= write_field(file, t.mdhd, ticks)?;
        changed |= write_field(file, t.tkhd, in_movie)?;
    }
    changed |= write_field(file, info.mvhd, movie)?;
    if let Some(mehd) = info.mehd {
        changed |= write_field(file, mehd, movie)?;
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_rounds_to_nearest() {
        assert_eq!(rescale(90_000, 90_000, 1000), 1000);
        assert_eq!(rescale(3_003, 90_000, 1000), 33);
        assert_eq!(rescale(45, 90_000, 1000), 1);
        assert_eq!(rescale(44, 90_000, 1000), 0);
        assert_eq!(rescale(1024, 48_000, 1000), 21);
        assert_eq!(rescale(5, 0, 1000), 0);
        assert_eq!(rescale(u64::MAX, 1, 1000), u64::MAX);
    }
}
