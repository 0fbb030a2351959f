//! Fragmented MP4 clips: the writer, torn-tail recovery, a box-tree dump, and a small reader.
//!
//! # File layout
//!
//! ```text
//! ftyp                       isom / iso5 iso6 mp41 (+avc1)
//! moov
//!   mvhd                     timescale 1000, duration patched at finish
//!   trak (video, id 1)       tkhd, mdia(mdhd 90 kHz, hdlr vide, minf(vmhd, dinf, stbl(stsd avc1|hvc1, empty tables)))
//!   trak (audio, id 2)       only when the stream has AAC: mdhd at the sample rate, hdlr soun, mp4a + esds
//!   mvex                     mehd (64-bit duration, patched at finish and by recover), trex per track
//! moof + mdat                one fragment per ~1 s of video (FRAGMENT_TARGET): mfhd, traf per track
//! moof + mdat                (tfhd default-base-is-moof, tfdt, trun with duration/size/flags per sample)
//! ...
//! mfra                       tfra per track (the random-access points of each fragment) + mfro
//! ```
//!
//! The camera's own decoder configuration (avcC / hvcC body, AudioSpecificConfig) goes into the
//! sample entries unchanged. Video decode time starts at 0 on the clip's first sample, which is
//! always a video keyframe; audio decode time starts at the first audio packet's time offset
//! from that keyframe, so both tracks stay in sync without edit lists.
//!
//! # Durability order
//!
//! 1. [`ClipWriter::create`] writes `ftyp` + `moov`, fdatasyncs the file and fsyncs its directory:
//!    from then on the clip exists and is a valid (empty) MP4.
//! 2. Each fragment is built in one reused buffer, written with one positional write at the end
//!    of the last whole fragment, then fdatasync'd. A sample's duration is only known when the
//!    next sample of its track arrives, so the newest sample of each track waits for the next
//!    fragment; [`ClipWriter::sync_fragment`] forces out everything complete.
//!    [`ClipWriter::write_batch`] (the pre-roll flush) writes its fragments back to back and
//!    syncs once at the end: the same bytes, one fdatasync instead of one per second of pre-roll.
//! 3. [`ClipWriter::finish`] writes the last samples, patches the durations in place (`mehd`,
//!    `mvhd`, `tkhd`, `mdhd` at offsets remembered when the moov was built), appends `mfra`, syncs.
//!
//! A file is therefore valid after every step: everything before the end of the last synced
//! fragment is on disk, and only the fragment being written can be torn.
//!
//! # Failure (full disk)
//!
//! When a write or sync fails (ENOSPC, EIO, EFBIG), the writer truncates the file back to the end
//! of the last whole fragment (best effort), drops the samples it could not write, returns the
//! error, and refuses further writes ([`Fmp4Error::Closed`]). [`ClipWriter::finish`] still closes
//! the clip: it patches the durations of what was written and appends the `mfra`. If `finish`
//! itself fails, the file is still left truncated to whole fragments; [`recover`] then tells what
//! it holds.
//!
//! # Recovery rule
//!
//! After a crash, [`recover`] scans the top-level boxes: `ftyp`, `moov`, then `moof`+`mdat`
//! pairs. It stops at the first box that is short, runs past the end of the file, has an
//! impossible size, is not `moof`/`mdat`/`mfra`/`free` (a power loss can leave zeros), or at a
//! `moof` that does not parse or whose sample sizes do not add up to the following `mdat`. The
//! file is cut at the end of the last whole fragment, the durations are patched from the kept
//! fragments, and the file is synced. A whole `mfra` after the last fragment is kept (so
//! recovering a good file changes nothing); anything after it goes. A file without a whole
//! `ftyp` + `moov` with `mvex` (including an ordinary, non-fragmented MP4) is refused untouched.
//!
//! # Why `mehd` and `mfra`
//!
//! A fragmented file's `moov` says nothing about its length, so a player would have to read every
//! `moof` to learn the duration. `mehd` (and the other patched durations) tell it up front, and the
//! `mfra` at the end lets a player seek without scanning: it lists each fragment's offset and the
//! time of its first random-access point (a video keyframe; a fragment without one has no video
//! entry). Neither is needed for the file to play, which is why a torn `mfra` is simply dropped.
//!
//! # The reader
//!
//! [`Mp4File`] reads the sample tables of ordinary MP4 files (moov first or last) for the
//! looping-file source. It ignores edit lists: an AAC track's priming frame keeps pts 0, as in
//! the clips vigil writes. Audio pts are in the sample rate's ticks (rescaled if the track's
//! timescale differs), as [`crate::packet::Packet`] wants them.
//!
//! # Modules
//!
//! - `boxes`: box header and descriptor encoding, and a bounds-checked cursor for parsing.
//! - `init`: builds `ftyp` + `moov`; `moov`: finds and patches its duration fields.
//! - `fragment`: per-track sample queues and the `moof`+`mdat` builder.
//! - `writer`: [`ClipWriter`]; `recover`: [`recover`]; `inspect`: [`inspect`].
//! - `live`: [`LiveMuxer`], one viewer's endless stream (a fragment per packet, sent at once).
//! - `reader`: [`Mp4File`], the looping-file source's demuxer; `stbl`: its sample-table walker.

mod boxes;
mod fragment;
mod init;
mod inspect;
mod live;
mod moov;
mod reader;
mod recover;
mod stbl;
mod writer;

use std::io;
use std::path::PathBuf;
use std::time::Duration;

pub use inspect::inspect;
pub use live::{codecs, prft, LiveMuxer};
pub use reader::{Mp4File, Sample};
pub use recover::{recover, Recovered};
pub use writer::{ClipSummary, ClipWriter, SkipReason, WriteOutcome};

/// A fragment is written once the complete video samples queued span at least this long.
pub const FRAGMENT_TARGET: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum Fmp4Error {
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done, e.g. "writing fragment to".
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("malformed MP4: {0}")]
    Malformed(String),
    #[error("unsupported MP4: {0}")]
    Unsupported(String),
    #[error("invalid stream parameters: {0}")]
    InvalidParams(String),
    #[error("clip writer is closed after an earlier write error; call finish()")]
    Closed,
}

impl Fmp4Error {
    pub(crate) fn io(op: &'static str, path: &std::path::Path, source: io::Error) -> Fmp4Error {
        Fmp4Error::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}
