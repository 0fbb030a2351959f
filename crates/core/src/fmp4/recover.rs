//! [`recover`]: cut a clip's torn tail (crash, power loss) back to the last whole fragment.
//! The rule is written down in the module docs of [`crate::fmp4`].

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::boxes::{boxes, find, malformed, parse_header, Cursor, FourCC, Header};
use super::moov::{patch_durations, Durations, MoovInfo};
use super::Fmp4Error;
use crate::packet::TrackKind;

/// A moov or moof larger than this is not one of ours (they are kilobytes).
const MAX_INDEX_BOX: u64 = 64 << 20;

/// What [`recover`] found and kept.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovered {
    pub original_bytes: u64,
    pub kept_bytes: u64,
    /// Whether anything was cut off.
    pub truncated: bool,
    /// Whole `moof`+`mdat` fragments kept.
    pub fragments: u64,
    pub video_samples: u64,
    /// Video duration kept (sum of the kept fragments' video sample durations).
    pub duration_secs: f64,
}

/// Cuts a fragmented MP4 back to its last whole fragment, patches its durations and syncs it.
/// A good file is left unchanged. A file without a whole `ftyp` + `moov` (with `mvex`) is
/// [`Fmp4Error::Malformed`] and is not touched.
pub fn recover(path: &Path) -> Result<Recovered, Fmp4Error> {
    let io = |op| move |e| Fmp4Error::io(op, path, e);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io("opening"))?;
    let len = file.metadata().map_err(io("reading the size of"))?.len();

    let ftyp = top_box(&file, 0, len)
        .filter(|(h, size)| &h.kind == b"ftyp" && *size <= MAX_INDEX_BOX)
        .ok_or_else(|| malformed("no whole 'ftyp' at the start"))?;
    let moov_at = ftyp.1;
    let (moov_h, moov_size) = top_box(&file, moov_at, len)
        .filter(|(h, size)| &h.kind == b"moov" && *size <= MAX_INDEX_BOX)
        .ok_or_else(|| malformed("no whole 'moov' after the 'ftyp'"))?;
    let moov = read_at(&file, moov_at, moov_size).map_err(io("reading"))?;
    let body = &moov[moov_h.header_len..];
    if find(body, b"mvex")?.is_none() {
        return Err(malformed("not a fragmented MP4 (no 'mvex')"));
    }
    let info = MoovInfo::parse(body, moov_at + moov_h.header_len as u64)?;
    let kind_of = |id: u32| info.track(id).and_then(|t| t.kind);

    let mut pos = moov_at + moov_size;
    let mut kept = pos;
    let (mut fragments, mut video_samples) = (0u64, 0u64);
    let mut durations = Durations::default();
    while let Some((h, size)) = top_box(&file, pos, len) {
        match &h.kind {
            b"moof" => {
                let Some(frag) = whole_fragment(&file, pos, h, size, len) else {
                    break;
                };
                for t in &frag.tracks {
                    match kind_of(t.id) {
                        Some(TrackKind::Video) => {
                            durations.video += t.ticks;
                            video_samples += t.samples;
                        }
                        Some(TrackKind::Audio) => durations.audio += t.ticks,
                        None => {}
                    }
                }
                fragments += 1;
                pos += size + frag.mdat_size;
                kept = pos;
            }
            b"mfra" => {
                // The index `finish` writes last: keep it when whole (anything after it goes).
                if whole_mfra(&file, pos, h, size) {
                    kept = pos + size;
                }
                break;
            }
            b"free" | b"skip" | b"mdat" => pos += size,
            _ => break,
        }
    }

    let truncated = kept < len;
    if truncated {
        file.set_len(kept).map_err(io("truncating"))?;
    }
    let patched = patch_durations(&file, &info, durations).map_err(io("patching"))?;
    if truncated || patched {
        file.sync_data().map_err(io("syncing"))?;
    }
    let video_timescale = info
        .tracks
        .iter()
        .find(|t| t.kind == Some(TrackKind::Video))
        .map_or(0, |t| t.timescale);
    Ok(Recovered {
        original_bytes: len,
        kept_bytes: kept,
        truncated,
        fragments,
        video_samples,
        duration_secs: if video_timescale == 0 {
            0.0
        } else {
            durations.video as f64 / f64::from(video_timescale)
        },
    })
}

fn read_at(file: &File, pos: u64, n: u64) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n as usize];
    file.read_exact_at(&mut buf, pos)?;
    Ok(buf)
}

/// The header and size of the top-level box at `pos`, if it is whole: its header is complete,
/// its size is explicit, at least its header, and within the file.
fn top_box(file: &File, pos: u64, len: u64) -> Option<(Header, u64)> {
    let mut buf = [0u8; 16];
    let n = len.checked_sub(pos)?.min(16) as usize;
    file.read_exact_at(&mut buf[..n], pos).ok()?;
    let h = parse_header(&buf[..n])?;
    let size = h.size?;
    (size >= h.header_len as u64 && size <= len - pos).then_some((h, size))
}

struct TrackTotals {
    id: u32,
    samples: u64,
    ticks: u64,
}

struct Fragment {
    tracks: Vec<TrackTotals>,
    mdat_size: u64,
}

/// Reads and checks the `moof` at `pos` and the `mdat` after it. `None` if they are not a
/// whole, consistent fragment.
fn whole_fragment(file: &File, pos: u64, h: Header, size: u64, len: u64) -> Option<Fragment> {
    if size > MAX_INDEX_BOX {
        return None;
    }
    let (mdat, mdat_size) = top_box(file, pos + size, len)?;
    if &mdat.kind != b"mdat" {
        return None;
    }
    let moof = read_at(file, pos, size).ok()?;
    let data = (size + mdat.header_len as u64, size + mdat_size);
    let tracks = parse_moof(&moof[h.header_len..], data).ok()?;
    Some(Fragment { tracks, mdat_size })
}

/// Checks a moof's sample tables against its mdat: every trun's data lies inside the mdat
/// payload (`data`, as offsets from the moof's start) and the sizes add up to all of it.
fn parse_moof(moof: &[u8], data: (u64, u64)) -> Result<Vec<TrackTotals>, Fmp4Error> {
    let mut tracks = Vec::new();
    let mut total_size = 0u64;
    let mut next_base = 0u64;
    for (i, traf) in boxes(moof).enumerate() {
        let traf = traf?;
        if &traf.kind != b"traf" {
            continue;
        }
        let tfhd = super::boxes::require(traf.body, b"tfhd", "traf")?;
        let mut c = Cursor::new(tfhd.body, "tfhd");
        let (_, flags) = c.version_flags()?;
        let id = c.u32()?;
        let base = if flags & 0x1 != 0 {
            return Err(malformed("absolute base-data-offset is not used in clips"));
        } else if flags & 0x02_0000 != 0 || i == 0 {
            0
        } else {
            next_base
        };
        if flags & 0x2 != 0 {
            c.skip(4)?;
        }
        let default_duration = if flags & 0x8 != 0 { c.u32()? } else { 0 };
        let default_size = if flags & 0x10 != 0 { c.u32()? } else { 0 };

        let mut t = TrackTotals {
            id,
            samples: 0,
            ticks: 0,
        };
        let mut cursor = base;
        for trun in boxes(traf.body) {
            let trun = trun?;
            if &trun.kind != b"trun" {
                continue;
            }
            let (samples, ticks, bytes, offset) =
                parse_trun(trun.body, default_duration, default_size)?;
            if let Some(off) = offset {
                cursor = base
                    .checked_add_signed(off)
                    .ok_or_else(|| malformed("data offset"))?;
            }
            let end = cursor
                .checked_add(bytes)
                .ok_or_else(|| malformed("trun size"))?;
            if bytes > 0 && (cursor < data.0 || end > data.1) {
                return Err(malformed("trun data outside the mdat"));
            }
            cursor = end;
            total_size += bytes;
            t.samples += samples;
            t.ticks += ticks;
        }
        next_base = cursor;
        tracks.push(t);
    }
    if total_size != data.1 - data.0 {
        return Err(malformed("sample sizes do not add up to the mdat"));
    }
    Ok(tracks)
}

/// (samples, ticks, bytes, data_offset) of one trun.
fn parse_trun(
    body: &[u8],
    default_duration: u32,
    default_size: u32,
) -> Result<(u64, u64, u64, Option<i64>), Fmp4Error> {
    let mut c = Cursor::new(body, "trun");
    let (_, flags) = c.version_flags()?;
    let count = u64::from(c.u32()?);
    let offset = if flags & 0x1 != 0 {
        Some(i64::from(c.u32()? as i32))
    } else {
        None
    };
    if flags & 0x4 != 0 {
        c.skip(4)?;
    }
    // Per-sample fields, in order: duration, size, flags, composition offset.
    let has = |f: u32| flags & f != 0;
    let per_sample = [0x100, 0x200, 0x400, 0x800]
        .into_iter()
        .filter(|&f| has(f))
        .count() as u64
        * 4;
    if per_sample == 0 {
        let total = |d: u32| count * u64::from(d);
        return Ok((count, total(default_duration), total(default_size), offset));
    }
    if count * per_sample > c.remaining() as u64 {
        return Err(malformed("trun: more samples than entries"));
    }
    let (mut ticks, mut bytes) = (0u64, 0u64);
    for _ in 0..count {
        ticks += u64::from(if has(0x100) {
            c.u32()?
        } else {
            default_duration
        });
        bytes += u64::from(if has(0x200) { c.u32()? } else { default_size });
        c.skip(if has(0x400) { 4 } else { 0 } + if has(0x800) { 4 } else { 0 })?;
    }
    Ok((count, ticks, bytes, offset))
}

/// A trailing `mfra` is whole when its children parse and it ends with an `mfro` giving its size.
fn whole_mfra(file: &File, pos: u64, h: Header, size: u64) -> bool {
    if size > MAX_INDEX_BOX {
        return false;
    }
    let Ok(mfra) = read_at(file, pos, size) else {
        return false;
    };
    let mut last: Option<(FourCC, &[u8])> = None;
    for b in boxes(&mfra[h.header_len..]) {
        match b {
            Ok(b) => last = Some((b.kind, b.body)),
            Err(_) => return false,
        }
    }
    match last {
        Some((kind, body)) if &kind == b"mfro" && body.len() == 8 => {
            u64::from(u32::from_be_bytes([body[4], body[5], body[6], body[7]])) == size
        }
        _ => false,
    }
}
