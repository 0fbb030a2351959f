//! Per-track sample queues and the `moof` + `mdat` builder.
//!
//! An MP4 sample's duration is the distance to the next sample of its track, so the newest
//! sample of each track is held back ("pending") until its successor arrives; only the samples
//! before it are complete and can go into a fragment.

use bytes::{BufMut, Bytes};

use super::boxes::{begin_box, begin_full_box, end_box, put_mdat_header};
use super::Fmp4Error;
use crate::packet::TrackKind;

/// `sample_depends_on = 2` (an I-frame): a sync sample.
pub(super) const FLAGS_SYNC: u32 = 0x0200_0000;
/// `sample_depends_on = 1`, `sample_is_non_sync_sample = 1`.
pub(super) const FLAGS_NON_SYNC: u32 = 0x0101_0000;

/// tfhd: default-base-is-moof (offsets are relative to the moof).
const TFHD_DEFAULT_BASE_IS_MOOF: u32 = 0x02_0000;
/// trun: data-offset, sample-duration, sample-size and sample-flags present.
const TRUN_FLAGS: u32 = 0x0001 | 0x0100 | 0x0200 | 0x0400;

#[derive(Debug)]
struct Queued {
    data: Bytes,
    duration: u32,
    keyframe: bool,
}

#[derive(Debug)]
struct Pending {
    pts: i64,
    data: Bytes,
    keyframe: bool,
}

/// One track's samples on their way into fragments, and what has been written of it.
#[derive(Debug)]
pub(super) struct TrackQueue {
    pub id: u32,
    pub kind: TrackKind,
    /// Used for the last sample when the track has only one: 1/30 s of video, 1024 AAC ticks.
    default_duration: u32,
    queued: Vec<Queued>,
    queued_ticks: u64,
    queued_bytes: u64,
    pending: Option<Pending>,
    last_duration: Option<u32>,
    /// Decode time of the first queued (or next accepted) sample.
    next_decode: u64,
    /// Samples and keyframes accepted and not dropped.
    pub samples: u64,
    pub keyframes: u64,
    /// Ticks written to disk so far.
    pub written_ticks: u64,
}

/// A random-access point of one fragment, for the `tfra`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct RandomAccess {
    pub track_id: u32,
    pub time: u64,
    pub moof_offset: u64,
    /// 1-based numbers of the traf in the moof and of the sample in the trun.
    pub traf: u8,
    pub sample: u32,
}

impl TrackQueue {
    pub(super) fn new(id: u32, kind: TrackKind, default_duration: u32) -> Self {
        TrackQueue {
            id,
            kind,
            default_duration,
            queued: Vec::new(),
            queued_ticks: 0,
            queued_bytes: 0,
            pending: None,
            last_duration: None,
            next_decode: 0,
            samples: 0,
            keyframes: 0,
            written_ticks: 0,
        }
    }

    pub(super) fn last_pts(&self) -> Option<i64> {
        self.pending.as_ref().map(|p| p.pts)
    }

    /// Sets the decode time of the track's first sample (before any is pushed).
    pub(super) fn start_at(&mut self, decode_time: u64) {
        self.next_decode = decode_time;
    }

    pub(super) fn queued_ticks(&self) -> u64 {
        self.queued_ticks
    }

    pub(super) fn queued_bytes(&self) -> u64 {
        self.queued_bytes
    }

    pub(super) fn has_queued(&self) -> bool {
        !self.queued.is_empty()
    }

    /// Accepts a sample. The caller has checked that `pts` is greater than [`Self::last_pts`].
    pub(super) fn push(&mut self, pts: i64, keyframe: bool, data: Bytes) {
        if let Some(prev) = self.pending.take() {
            let delta = pts.saturating_sub(prev.pts).max(1);
            self.enqueue(
                prev.data,
                prev.keyframe,
                u32::try_from(delta).unwrap_or(u32::MAX),
            );
        }
        self.samples += 1;
        self.keyframes += u64::from(keyframe);
        self.pending = Some(Pending {
            pts,
            data,
            keyframe,
        });
    }

    fn enqueue(&mut self, data: Bytes, keyframe: bool, duration: u32) {
        self.queued_ticks += u64::from(duration);
        self.queued_bytes += data.len() as u64;
        self.last_duration = Some(duration);
        self.queued.push(Queued {
            data,
            duration,
            keyframe,
        });
    }

    fn estimated_last_duration(&self) -> u32 {
        self.last_duration.unwrap_or(self.default_duration)
    }

    /// Completes the pending sample with the track's previous sample duration (end of clip).
    pub(super) fn close(&mut self) {
        if let Some(p) = self.pending.take() {
            let d = self.estimated_last_duration();
            self.enqueue(p.data, p.keyframe, d);
        }
    }

    /// The track's duration once everything accepted is written.
    pub(super) fn total_ticks(&self) -> u64 {
        let pending = self
            .pending
            .as_ref()
            .map_or(0, |_| u64::from(self.estimated_last_duration()));
        self.written_ticks + self.queued_ticks + pending
    }

    /// Forgets the samples not yet on disk (after a failed write).
    pub(super) fn drop_unwritten(&mut self) {
        let pending = self.pending.take();
        let dropped = self.queued.len() as u64 + u64::from(pending.is_some());
        let dropped_keys = self.queued.iter().filter(|q| q.keyframe).count() as u64
            + u64::from(pending.is_some_and(|p| p.keyframe));
        self.samples -= dropped;
        self.keyframes -= dropped_keys;
        self.clear_queued();
    }

    fn clear_queued(&mut self) {
        self.queued.clear();
        self.queued_ticks = 0;
        self.queued_bytes = 0;
    }

    /// The queued samples are on disk now.
    pub(super) fn mark_written(&mut self) {
        self.written_ticks += self.queued_ticks;
        self.next_decode += self.queued_ticks;
        self.clear_queued();
    }

    /// The first random-access point among the queued samples: (decode time, 1-based index).
    fn random_access(&self) -> Option<(u64, u32)> {
        let mut t = self.next_decode;
        for (i, s) in self.queued.iter().enumerate() {
            if s.keyframe || self.kind == TrackKind::Audio {
                return Some((t, u32::try_from(i + 1).ok()?));
            }
            t += u64::from(s.duration);
        }
        None
    }
}

fn too_large(what: &str) -> Fmp4Error {
    Fmp4Error::InvalidParams(format!("fragment too large: {what}"))
}

/// One sample as a `trun` entry describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SampleEntry {
    pub duration: u32,
    pub size: u32,
    pub keyframe: bool,
}

/// One track's run in a fragment.
pub(super) struct Traf<'a> {
    pub id: u32,
    pub kind: TrackKind,
    /// Decode time of the first sample (`tfdt`).
    pub decode_time: u64,
    pub samples: &'a [SampleEntry],
}

/// Writes a `moof` with one `traf` per entry of `trafs` (in that order) and the header of the
/// `mdat` after it, into `buf` (appended). The `mdat`'s payload is the samples' data, track by
/// track in the same order, for the caller to add. Returns the payload's length.
pub(super) fn put_moof(
    buf: &mut Vec<u8>,
    sequence: u32,
    trafs: &[Traf<'_>],
) -> Result<u64, Fmp4Error> {
    let start = buf.len();
    // (position of the trun data_offset field, offset of the track's data within the mdat payload)
    let mut offsets = Vec::with_capacity(trafs.len());
    let mut payload = 0u64;

    let moof = begin_box(buf, b"moof");
    let mfhd = begin_full_box(buf, b"mfhd", 0, 0);
    buf.put_u32(sequence);
    end_box(buf, mfhd);
    for t in trafs {
        let traf = begin_box(buf, b"traf");
        let tfhd = begin_full_box(buf, b"tfhd", 0, TFHD_DEFAULT_BASE_IS_MOOF);
        buf.put_u32(t.id);
        end_box(buf, tfhd);
        let tfdt = begin_full_box(buf, b"tfdt", 1, 0);
        buf.put_u64(t.decode_time);
        end_box(buf, tfdt);
        let trun = begin_full_box(buf, b"trun", 0, TRUN_FLAGS);
        buf.put_u32(u32::try_from(t.samples.len()).map_err(|_| too_large("sample count"))?);
        offsets.push((buf.len(), payload));
        buf.put_i32(0); // data_offset, patched below
        for s in t.samples {
            let flags = match (t.kind, s.keyframe) {
                (TrackKind::Video, false) => FLAGS_NON_SYNC,
                _ => FLAGS_SYNC,
            };
            buf.put_u32(s.duration);
            buf.put_u32(s.size);
            buf.put_u32(flags);
            payload += u64::from(s.size);
        }
        end_box(buf, trun);
        end_box(buf, traf);
    }
    end_box(buf, moof);
    let moof_size = (buf.len() - start) as u64;
    let header = put_mdat_header(buf, payload) as u64;
    for (pos, off) in offsets {
        let data_offset =
            i32::try_from(moof_size + header + off).map_err(|_| too_large("data offset"))?;
        buf[pos..pos + 4].copy_from_slice(&data_offset.to_be_bytes());
    }
    Ok(payload)
}

/// Builds one `moof` + `mdat` holding every queued sample of `tracks` into `buf` (cleared
/// first; its capacity is reused from fragment to fragment). Returns the random-access points,
/// with `moof_offset` left at 0 for the caller to fill in. The queues are not changed: call
/// [`TrackQueue::mark_written`] once the bytes are on disk.
pub(super) fn build(
    buf: &mut Vec<u8>,
    sequence: u32,
    tracks: [Option<&TrackQueue>; 2],
) -> Result<[Option<RandomAccess>; 2], Fmp4Error> {
    buf.clear();
    let mut ras = [None, None];
    let queued: Vec<&TrackQueue> = tracks
        .into_iter()
        .flatten()
        .filter(|t| t.has_queued())
        .collect();
    let entries = queued
        .iter()
        .map(|t| {
            t.queued
                .iter()
                .map(|s| {
                    Ok(SampleEntry {
                        duration: s.duration,
                        size: u32::try_from(s.data.len()).map_err(|_| too_large("sample size"))?,
                        keyframe: s.keyframe,
                    })
                })
                .collect::<Result<Vec<_>, Fmp4Error>>()
        })
        .collect::<Result<Vec<_>, Fmp4Error>>()?;
    let trafs: Vec<Traf<'_>> = queued
        .iter()
        .zip(&entries)
        .map(|(t, samples)| Traf {
            id: t.id,
            kind: t.kind,
            decode_time: t.next_decode,
            samples,
        })
        .collect();
    put_moof(buf, sequence, &trafs)?;
    for (traf_no, t) in queued.iter().enumerate() {
        ras[traf_no] = t.random_access().map(|(time, sample)| RandomAccess {
            track_id: t.id,
            time,
            moof_offset: 0,
            traf: traf_no as u8 + 1,
            sample,
        });
    }
    for t in &queued {
        for s in &t.queued {
            buf.extend_from_slice(&s.data);
        }
    }
    Ok(ras)
}

#[cfg(test)]
mod tests {
    use super::super::boxes::{boxes, find, Cursor};
    use super::*;

    fn sample(n: u8, len: usize) -> Bytes {
        Bytes::from(vec![n; len])
    }

    /// Parses a trun back: (data_offset, [(duration, size, flags)]).
    fn parse_trun(traf: &[u8]) -> (u64, i32, Vec<(u32, u32, u32)>) {
        let tfdt = find(traf, b"tfdt").unwrap().unwrap();
        let mut c = Cursor::new(tfdt.body, "tfdt");
        assert_eq!(c.version_flags().unwrap().0, 1);
        let base = c.u64().unwrap();
        let trun = find(traf, b"trun").unwrap().unwrap();
        let mut c = Cursor::new(trun.body, "trun");
        assert_eq!(c.version_flags().unwrap().1, 0x701);
        let n = c.u32().unwrap();
        let off = c.u32().unwrap() as i32;
        let entries = (0..n)
            .map(|_| (c.u32().unwrap(), c.u32().unwrap(), c.u32().unwrap()))
            .collect();
        assert_eq!(c.remaining(), 0);
        (base, off, entries)
    }

    #[test]
    fn durations_come_from_the_next_sample_and_the_last_one_waits() {
        let mut q = TrackQueue::new(1, TrackKind::Video, 3000);
        q.push(0, true, sample(1, 10));
        assert!(!q.has_queued());
        assert_eq!(q.total_ticks(), 3000, "one sample: default duration");
        q.push(3600, false, sample(2, 10));
        q.push(6600, false, sample(3, 10));
        assert_eq!(q.queued_ticks(), 6600);
        assert_eq!(
            q.total_ticks(),
            6600 + 3000,
            "pending gets the previous duration"
        );
        q.close();
        assert_eq!(q.queued_ticks(), 9600);
        assert_eq!(q.last_pts(), None);
    }

    #[test]
    fn fragment_offsets_point_at_each_tracks_data() {
        let mut v = TrackQueue::new(1, TrackKind::Video, 3000);
        v.start_at(0);
        for (i, pts) in [0, 3000, 6000, 9000].into_iter().enumerate() {
            v.push(pts, i == 0, sample(i as u8 + 1, 100 + i));
        }
        let mut a = TrackQueue::new(2, TrackKind::Audio, 1024);
        a.start_at(480);
        for (i, pts) in [0, 1024, 2048].into_iter().enumerate() {
            a.push(pts, true, sample(0xa0 + i as u8, 7));
        }
        let mut buf = Vec::new();
        let ras = build(&mut buf, 5, [Some(&v), Some(&a)]).unwrap();

        let top: Vec<_> = boxes(&buf).map(|b| b.unwrap()).collect();
        assert_eq!(top.len(), 2);
        assert_eq!((&top[0].kind, &top[1].kind), (b"moof", b"mdat"));
        assert_eq!(top[1].body.len(), 100 + 101 + 102 + 2 * 7);
        let mfhd = find(top[0].body, b"mfhd").unwrap().unwrap();
        assert_eq!(&mfhd.body[4..], &[0, 0, 0, 5]);
        let trafs: Vec<_> = boxes(top[0].body)
            .map(|b| b.unwrap())
            .filter(|b| &b.kind == b"traf")
            .collect();
        assert_eq!(trafs.len(), 2);

        let (base, off, entries) = parse_trun(trafs[0].body);
        assert_eq!(base, 0);
        assert_eq!(
            entries,
            vec![
                (3000, 100, FLAGS_SYNC),
                (3000, 101, FLAGS_NON_SYNC),
                (3000, 102, FLAGS_NON_SYNC)
            ]
        );
        let off = off as usize;
        assert_eq!(&buf[off..off + 100], &[1u8; 100][..]);
        assert_eq!(buf[off + 100], 2);

        let (base, off, entries) = parse_trun(trafs[1].body);
        assert_eq!(base, 480);
        assert_eq!(entries, vec![(1024, 7, FLAGS_SYNC), (1024, 7, FLAGS_SYNC)]);
        assert_eq!(
            &buf[off as usize..off as usize + 14],
            &[[0xa0; 7], [0xa1; 7]].concat()[..]
        );
        assert_eq!(off as usize + 14, buf.len());

        assert_eq!(ras[0].map(|r| (r.time, r.traf, r.sample)), Some((0, 1, 1)));
        assert_eq!(
            ras[1].map(|r| (r.time, r.traf, r.sample)),
            Some((480, 2, 1))
        );

        // After the write, decode times continue where the fragment ended.
        v.mark_written();
        a.mark_written();
        v.push(12_000, true, sample(9, 1));
        let ras = build(&mut buf, 6, [Some(&v), Some(&a)]).unwrap();
        let moof = boxes(&buf).next().unwrap().unwrap();
        let trafs: Vec<_> = boxes(moof.body)
            .filter_map(|b| b.ok())
            .filter(|b| &b.kind == b"traf")
            .collect();
        assert_eq!(trafs.len(), 1, "audio has nothing queued: no traf");
        let (base, _, entries) = parse_trun(trafs[0].body);
        assert_eq!((base, entries), (9000, vec![(3000, 103, FLAGS_NON_SYNC)]));
        assert_eq!(ras, [None, None], "no keyframe in this fragment");
        assert_eq!(v.written_ticks, 9000);
    }

    #[test]
    fn random_access_is_the_first_keyframe() {
        let mut v = TrackQueue::new(1, TrackKind::Video, 3000);
        v.start_at(90_000);
        for (i, pts) in [0i64, 3000, 6000, 9000].into_iter().enumerate() {
            v.push(pts, i == 2, sample(0, 1));
        }
        assert_eq!(v.random_access(), Some((96_000, 3)));
    }

    #[test]
    fn dropping_unwritten_samples_rolls_back_the_counts() {
        let mut v = TrackQueue::new(1, TrackKind::Video, 3000);
        v.push(0, true, sample(0, 1));
        v.push(3000, false, sample(0, 1));
        v.mark_written();
        v.push(6000, true, sample(0, 1));
        v.push(9000, false, sample(0, 1));
        v.drop_unwritten();
        assert_eq!((v.samples, v.keyframes), (1, 1));
        assert_eq!(v.total_ticks(), 3000);
    }
}
