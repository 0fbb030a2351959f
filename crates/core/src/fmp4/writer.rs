//! [`ClipWriter`]: packets in, a durable fragmented MP4 out. See the module docs of
//! [`crate::fmp4`] for the layout, the durability order and what happens on a full disk.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::BufMut;

use super::boxes::{begin_box, begin_full_box, end_box};
use super::fragment::{self, RandomAccess, TrackQueue};
use super::init::{self, AUDIO_TRACK_ID, VIDEO_TRACK_ID};
use super::moov::{patch_durations, rescale, Durations, MoovInfo};
use super::{Fmp4Error, FRAGMENT_TARGET};
use crate::packet::{Packet, StreamParams, TrackKind, VIDEO_TIMESCALE};
use crate::time::{Time, MICROS_PER_SEC};

/// A fragment is also cut when this much data is queued, whatever its duration.
const MAX_FRAGMENT_BYTES: u64 = 32 << 20;
/// Larger packets are refused: no camera sends them, and fragments must stay below 2 GiB.
const MAX_SAMPLE_BYTES: usize = 256 << 20;
/// Audio is written without waiting for video once this many seconds of it are queued.
const MAX_AUDIO_QUEUE_SECS: u64 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Queued,
    Skipped(SkipReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Video before the clip's first keyframe, or audio before (or earlier than) it.
    BeforeFirstKeyframe,
    /// Audio, but the clip was created without an audio track.
    NoAudioTrack,
    /// The packet's pts is not greater than the previous one of its track.
    TimeNotIncreasing,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ClipSummary {
    pub path: PathBuf,
    /// Bytes on disk (whole fragments; after `finish`, the whole file).
    pub bytes: u64,
    /// Time of the first video sample on the packets' timeline: the clip's start, pre-roll
    /// included. (The caller makes it a wall-clock label.)
    pub start: Option<Time>,
    /// `start` + `duration_secs`.
    pub end: Option<Time>,
    /// Video track duration, counting samples accepted but not yet written.
    pub duration_secs: f64,
    pub video_samples: u64,
    pub audio_samples: u64,
    pub fragments: u64,
    pub skipped: u64,
    pub keyframes: u64,
}

/// Writes one clip. Not thread-safe by design: one writer per camera task.
pub struct ClipWriter {
    path: PathBuf,
    file: File,
    info: MoovInfo,
    audio_rate: u32,
    video: TrackQueue,
    audio: Option<TrackQueue>,
    first_video_time: Option<Time>,
    /// End of the last whole fragment: the file's length.
    len: u64,
    sequence: u32,
    fragments: u64,
    skipped: u64,
    /// The fragment being built, reused.
    buf: Vec<u8>,
    random_access: Vec<RandomAccess>,
    /// A write failed: nothing more is written except the closing `finish`.
    failed: bool,
    /// Inside [`ClipWriter::write_batch`]: fragments are written but not yet synced.
    defer_sync: bool,
    /// Fragments written since the last fdatasync.
    unsynced: bool,
}

impl fmt::Debug for ClipWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClipWriter")
            .field("path", &self.path)
            .field("len", &self.len)
            .field("fragments", &self.fragments)
            .field("failed", &self.failed)
            .finish()
    }
}

fn sync_parent_dir(path: &Path) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}

impl ClipWriter {
    /// Creates the file (it must not exist; its directory must), writes `ftyp` + `moov`, and
    /// makes it durable: fdatasync of the file and fsync of its directory.
    pub fn create(path: &Path, params: &StreamParams) -> Result<ClipWriter, Fmp4Error> {
        let init = init::build(params)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| Fmp4Error::io("creating", path, e))?;
        let written = file
            .write_all_at(&init.bytes, 0)
            .and_then(|()| file.sync_data())
            .and_then(|()| sync_parent_dir(path));
        if let Err(e) = written {
            drop(file);
            let _ = std::fs::remove_file(path); // a clip without its moov is worth nothing
            return Err(Fmp4Error::io("writing the header of", path, e));
        }
        let audio_rate = params.audio.as_ref().map_or(0, |a| a.sample_rate);
        Ok(ClipWriter {
            path: path.to_path_buf(),
            file,
            info: init.info,
            audio_rate,
            video: TrackQueue::new(VIDEO_TRACK_ID, TrackKind::Video, VIDEO_TIMESCALE / 30),
            audio: params
                .audio
                .as_ref()
                .map(|_| TrackQueue::new(AUDIO_TRACK_ID, TrackKind::Audio, 1024)),
            first_video_time: None,
            len: init.bytes.len() as u64,
            sequence: 1,
            fragments: 0,
            skipped: 0,
            buf: Vec::new(),
            random_access: Vec::new(),
            failed: false,
            defer_sync: false,
            unsynced: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues one packet; writes and syncs a fragment when about [`FRAGMENT_TARGET`] of video
    /// is complete. A clip always starts on a video keyframe: packets before it are skipped.
    pub fn write(&mut self, pkt: &Packet) -> Result<WriteOutcome, Fmp4Error> {
        if self.failed {
            return Err(Fmp4Error::Closed);
        }
        if pkt.data.len() > MAX_SAMPLE_BYTES {
            return Err(Fmp4Error::InvalidParams(format!(
                "packet of {} bytes is too large",
                pkt.data.len()
            )));
        }
        if let Err(reason) = self.accept(pkt) {
            self.skipped += 1;
            return Ok(WriteOutcome::Skipped(reason));
        }
        if self.fragment_due() {
            self.write_fragment()?;
        }
        Ok(WriteOutcome::Queued)
    }

    /// Writes a run of packets (a pre-roll flush) with ONE fdatasync at the end instead of one
    /// per fragment: the fragments are cut as usual, but only the last sync makes them durable,
    /// which is all a caller can observe. Returns how many packets were queued (not skipped).
    pub fn write_batch(&mut self, packets: &[Packet]) -> Result<usize, Fmp4Error> {
        self.defer_sync = true;
        let mut queued = 0;
        let mut result = Ok(());
        for p in packets {
            match self.write(p) {
                Ok(WriteOutcome::Queued) => queued += 1,
                Ok(WriteOutcome::Skipped(_)) => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        self.defer_sync = false;
        result?;
        self.sync_fragment()?;
        Ok(queued)
    }

    fn accept(&mut self, pkt: &Packet) -> Result<(), SkipReason> {
        let not_increasing = |q: &TrackQueue| q.last_pts().is_some_and(|last| pkt.pts <= last);
        match pkt.track {
            TrackKind::Video => {
                if self.first_video_time.is_none() && !pkt.keyframe {
                    return Err(SkipReason::BeforeFirstKeyframe);
                }
                if not_increasing(&self.video) {
                    return Err(SkipReason::TimeNotIncreasing);
                }
                self.first_video_time.get_or_insert(pkt.time);
                self.video.push(pkt.pts, pkt.keyframe, pkt.data.clone());
            }
            TrackKind::Audio => {
                let audio = self.audio.as_mut().ok_or(SkipReason::NoAudioTrack)?;
                let t0 = match self.first_video_time {
                    Some(t0) if pkt.time >= t0 => t0,
                    _ => return Err(SkipReason::BeforeFirstKeyframe),
                };
                if not_increasing(audio) {
                    return Err(SkipReason::TimeNotIncreasing);
                }
                if audio.samples == 0 {
                    // Audio starts where it is in time relative to the first frame.
                    let micros = pkt.time.micros_since(t0).max(0) as u64;
                    audio.start_at(rescale(micros, MICROS_PER_SEC as u32, self.audio_rate));
                }
                audio.push(pkt.pts, true, pkt.data.clone());
            }
        }
        Ok(())
    }

    fn fragment_due(&self) -> bool {
        let target = FRAGMENT_TARGET.as_micros() as u64 * u64::from(VIDEO_TIMESCALE) / 1_000_000;
        let audio = self.audio.as_ref();
        self.video.queued_ticks() >= target
            || audio.is_some_and(|a| {
                a.queued_ticks() >= MAX_AUDIO_QUEUE_SECS * u64::from(self.audio_rate)
            })
            || self.video.queued_bytes() + audio.map_or(0, |a| a.queued_bytes())
                >= MAX_FRAGMENT_BYTES
    }

    fn has_queued(&self) -> bool {
        self.video.has_queued() || self.audio.as_ref().is_some_and(|a| a.has_queued())
    }

    /// Writes every complete queued sample as a fragment now and fdatasyncs it (after the
    /// pre-roll, so it is durable at once). No-op if nothing is queued.
    pub fn sync_fragment(&mut self) -> Result<(), Fmp4Error> {
        if self.failed {
            return Err(Fmp4Error::Closed);
        }
        if self.has_queued() {
            self.write_fragment()?;
        } else if self.unsynced {
            self.sync()?;
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), Fmp4Error> {
        if let Err(e) = self.file.sync_data() {
            self.fail();
            return Err(Fmp4Error::io("syncing", &self.path, e));
        }
        self.unsynced = false;
        Ok(())
    }

    fn write_fragment(&mut self) -> Result<(), Fmp4Error> {
        let built = fragment::build(
            &mut self.buf,
            self.sequence,
            [Some(&self.video), self.audio.as_ref()],
        );
        let ras = match built {
            Ok(ras) => ras,
            Err(e) => {
                self.fail();
                return Err(e);
            }
        };
        let offset = self.len;
        let defer = self.defer_sync;
        let written = self.file.write_all_at(&self.buf, offset).and_then(|()| {
            if defer {
                Ok(())
            } else {
                self.file.sync_data()
            }
        });
        if let Err(e) = written {
            self.fail();
            return Err(Fmp4Error::io("writing a fragment to", &self.path, e));
        }
        self.len += self.buf.len() as u64;
        self.unsynced = defer;
        self.sequence = self.sequence.wrapping_add(1);
        self.fragments += 1;
        for ra in ras.into_iter().flatten() {
            self.random_access.push(RandomAccess {
                moof_offset: offset,
                ..ra
            });
        }
        self.video.mark_written();
        if let Some(a) = self.audio.as_mut() {
            a.mark_written();
        }
        Ok(())
    }

    /// Cuts the torn fragment off (best effort) and forgets what could not be written.
    fn fail(&mut self) {
        let _ = self.file.set_len(self.len);
        self.failed = true;
        self.video.drop_unwritten();
        if let Some(a) = self.audio.as_mut() {
            a.drop_unwritten();
        }
    }

    /// Writes the remaining samples, patches the durations, appends the `mfra` and syncs.
    /// After an earlier write error it closes the clip with the fragments already written.
    /// On error the file is still left holding whole fragments only.
    pub fn finish(mut self) -> Result<ClipSummary, Fmp4Error> {
        let mut first_err = None;
        if !self.failed {
            self.video.close();
            if let Some(a) = self.audio.as_mut() {
                a.close();
            }
            if self.has_queued() {
                first_err = self.write_fragment().err();
            }
        }
        let durations = Durations {
            video: self.video.written_ticks,
            audio: self.audio.as_ref().map_or(0, |a| a.written_ticks),
        };
        if let Err(e) = patch_durations(&self.file, &self.info, durations) {
            first_err.get_or_insert(Fmp4Error::io("patching the durations of", &self.path, e));
        }
        self.build_mfra();
        let written = self
            .file
            .write_all_at(&self.buf, self.len)
            .and_then(|()| self.file.sync_data());
        match written {
            Ok(()) => self.len += self.buf.len() as u64,
            Err(e) => {
                let _ = self.file.set_len(self.len);
                let _ = self.file.sync_data();
                first_err.get_or_insert(Fmp4Error::io("writing the index of", &self.path, e));
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(self.summary()),
        }
    }

    /// `mfra`: one `tfra` per track listing each fragment's first random-access point, then
    /// `mfro` with the mfra's size so a player finds it from the end of the file.
    fn build_mfra(&mut self) {
        let b = &mut self.buf;
        b.clear();
        let mfra = begin_box(b, b"mfra");
        let ids = [Some(VIDEO_TRACK_ID), self.audio.as_ref().map(|a| a.id)];
        for id in ids.into_iter().flatten() {
            let tfra = begin_full_box(b, b"tfra", 1, 0);
            b.put_u32(id);
            b.put_u32(0b00_00_11); // traf and trun numbers: 1 byte; sample number: 4 bytes
            let entries = self.random_access.iter().filter(|r| r.track_id == id);
            b.put_u32(entries.clone().count() as u32);
            for r in entries {
                b.put_u64(r.time);
                b.put_u64(r.moof_offset);
                b.put_u8(r.traf);
                b.put_u8(1);
                b.put_u32(r.sample);
            }
            end_box(b, tfra);
        }
        let mfro = begin_full_box(b, b"mfro", 0, 0);
        b.put_u32(0);
        end_box(b, mfro);
        end_box(b, mfra);
        let size = (b.len() - mfra) as u32;
        let n = b.len();
        b[n - 4..].copy_from_slice(&size.to_be_bytes());
    }

    /// What the clip holds so far.
    pub fn summary(&self) -> ClipSummary {
        let ticks = self.video.total_ticks();
        let micros = rescale(ticks, VIDEO_TIMESCALE, MICROS_PER_SEC as u32);
        ClipSummary {
            path: self.path.clone(),
            bytes: self.len,
            start: self.first_video_time,
            end: self
                .first_video_time
                .map(|t| t.plus_micros(i64::try_from(micros).unwrap_or(i64::MAX))),
            duration_secs: ticks as f64 / f64::from(VIDEO_TIMESCALE),
            video_samples: self.video.samples,
            audio_samples: self.audio.as_ref().map_or(0, |a| a.samples),
            fragments: self.fragments,
            skipped: self.skipped,
            keyframes: self.video.keyframes,
        }
    }
}
