//! Walking an MP4 track's sample tables (`stbl`): sizes, times, sync samples and positions,
//! with every count checked against the bytes that hold it.

use bytes::Bytes;

use super::boxes::{find, malformed, require, Cursor};
use super::reader::Sample;
use super::Fmp4Error;
use crate::packet::TrackKind;

/// A track's samples and their decode times, in the output timescale, and its total duration.
pub(super) struct TrackSamples {
    pub dts: Vec<i64>,
    pub samples: Vec<Sample>,
    pub duration: i64,
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
pub(super) fn samples(
    file: &Bytes,
    stbl: &[u8],
    timescale: u32,
    kind: TrackKind,
    out_scale: u32,
) -> Result<TrackSamples, Fmp4Error> {
    let stsz = require(stbl, b"stsz", "stbl")?;
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
    let (mut stts_left, mut stts) = table(stbl, b"stts", 8)?.ok_or_else(|| malformed("no stts"))?;
    let mut ctts = table(stbl, b"ctts", 8)?;
    let sync: Option<Vec<u32>> = match table(stbl, b"stss", 4)? {
        Some((count, mut c)) => Some((0..count).map(|_| c.u32()).collect::<Result<_, _>>()?),
        None => None,
    };
    let (stsc_count, stsc) = table(stbl, b"stsc", 12)?.ok_or_else(|| malformed("no stsc"))?;
    let mut stsc = ChunkMap::new(stsc_count, stsc, n)?;
    let (chunk_count, mut chunks, wide) = match table(stbl, b"stco", 4)? {
        Some((n, c)) => (n, c, false),
        None => {
            let (n, c) = table(stbl, b"co64", 8)?.ok_or_else(|| malformed("no stco/co64"))?;
            (n, c, true)
        }
    };

    // n is bounded by the file's size (checked above); reserve no more than a real file needs
    // before the samples themselves are checked.
    let reserve = n.min(1 << 16);
    let mut out = TrackSamples {
        dts: Vec::with_capacity(reserve),
        samples: Vec::with_capacity(reserve),
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
        let keyframe = match &sync {
            _ if kind == TrackKind::Audio => true,
            None => true, // no stss: every sample is a sync sample
            Some(s) => s.binary_search(&(i as u32 + 1)).is_ok(),
        };
        out.dts.push(rescale(dts, timescale, out_scale));
        out.samples.push(Sample {
            track: kind,
            pts: rescale(dts + cto, timescale, out_scale),
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
    out.duration = rescale(dts, timescale, out_scale);
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
