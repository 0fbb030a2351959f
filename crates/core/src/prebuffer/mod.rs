//! # The pre-event buffer: one camera's GOP ring
//!
//! Holds the last `pre_buffer_secs` of *encoded* packets so a clip can start before the motion
//! that triggered it. Every buffer lives inside the global [`crate::pool::Pool`], which charges it
//! against one byte limit; [`PreBuffer`] is the single-buffer type the pool holds.
//!
//! ## GOPs
//! A GOP starts at a video keyframe and holds every packet, video and interleaved audio, that
//! arrives until the next video keyframe. Packets with no GOP open (before the first keyframe,
//! after a clear or a flush) are refused ([`DropReason::NoKeyframeYet`]). Payloads are `Bytes`,
//! moved in and shared: memory mode never copies packet data. Everything leaves in whole GOPs.
//! Memory per packet is a 56-byte entry in its GOP's `Vec`, which is sized from the previous GOP
//! and shrunk to fit when the GOP completes (`gop.rs`).
//!
//! ## The window rule
//! Guarantee (docs/design.md#pre-event-buffer): a flush at T starts on a keyframe at or before T − window (once the stream has
//! run that long and the pool allows), and no more than one GOP earlier. So:
//! - after each push, while the buffer has ≥ 2 GOPs and the *second*-oldest starts at or before
//!   newest − window, the oldest is evicted (no later flush can start on it);
//! - `flush(T)` starts on the latest GOP whose start ≤ T − window (the oldest if none), returns it
//!   and everything after it in arrival order, discards what is earlier, and leaves the buffer
//!   empty: packets after a flush belong to the clip, and the caller pushes again (from a keyframe)
//!   once the clip is closed. Window 0 flushes just the newest GOP.
//!
//! Times are compared on a per-buffer monotonic clock that advances by the forward steps of packet
//! time only, so a backwards timestamp jump pauses eviction instead of stalling it for as long as
//! the jump (the [`crate::timeline::Timeline`] normally prevents such jumps anyway).
//!
//! ## keyframe_only
//! When a new GOP starts, the GOP that was newest is thinned to its keyframe (its audio and other
//! video dropped, counted as `thinned_packets`). The newest GOP is always complete; the clip
//! writer stretches sample durations over the gaps.
//!
//! ## Modes
//! - `memory`: everything in memory.
//! - `disk`: each payload is appended to the camera's spool as it arrives (no fsync: scratch data);
//!   memory keeps a 32-byte index entry per packet. See `spool.rs` for the layout (a directory of
//!   segment files per camera, deleted as their GOPs go).
//! - `hybrid`: new GOPs in memory; when the memory held exceeds `hybrid_memory_bytes`, the oldest
//!   memory GOPs are demoted to the spool (`hybrid.rs`).
//!
//! A flush moves GOPs out under the buffer's lock; [`Flush::into_packets`] does the disk reads
//! later, outside any lock (one read per contiguous extent, then `Bytes` slices of it).
//!
//! A spool I/O error never corrupts the buffer: the packet is refused with `Err`, and its GOP takes
//! no more packets until the next keyframe ([`DropReason::GopBroken`]): a GOP with a hole can't be
//! decoded past it, while what it holds up to the hole stays valid.
//!
//! ## Stats
//! See [`BufferStats`]; the module docs of `stats.rs` give the accounting identity the tests check.

mod buffer;
mod flush;
mod gop;
mod hybrid;
mod spool;
mod stats;

use std::path::PathBuf;
use std::time::Duration;

pub use buffer::PreBuffer;
pub use flush::Flush;
pub use gop::DISK_ENTRY_CHARGE;
pub use spool::{FileWriter, SpoolWriter, SEGMENT_TARGET_BYTES};
pub use stats::BufferStats;

pub(crate) use gop::Gop;
pub(crate) use stats::Why;

use crate::settings::{BufferMode, RecordingSettings};

/// How one camera's buffer behaves. Built from the camera's settings; changed live with
/// `reconfigure`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferConfig {
    pub window: Duration,
    pub mode: BufferMode,
    pub keyframe_only: bool,
    /// Hybrid mode: memory held before the oldest GOPs are demoted to disk.
    pub hybrid_memory_bytes: u64,
    /// The camera's own spool directory (created on demand for disk and hybrid modes).
    pub spool_dir: PathBuf,
}

impl BufferConfig {
    pub fn from_settings(s: &RecordingSettings, spool_dir: PathBuf) -> Self {
        BufferConfig {
            window: s.pre_roll(),
            mode: s.buffer_mode,
            keyframe_only: s.keyframe_only,
            hybrid_memory_bytes: s.hybrid_memory_bytes,
            spool_dir,
        }
    }
}

/// What `push` did with a packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PushOutcome {
    Held,
    Dropped(DropReason),
}

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// No GOP open: before the first video keyframe, or after a clear or a flush.
    NoKeyframeYet,
    /// The pool could not make room without taking a buffer's newest GOP.
    PoolFull,
    /// The open GOP lost a packet earlier (spool error, pool refusal); waiting for a keyframe.
    GopBroken,
}

#[derive(Debug, thiserror::Error)]
pub enum BufferError {
    /// Creating, writing or reading the spool failed (disk full, bad directory, ...).
    #[error("pre-buffer spool {}: {source}", path.display())]
    Spool {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A zero-length packet (the timeline drops these; the buffer refuses them too).
    #[error("empty packet refused")]
    EmptyPacket,
    /// `Pool::register` with a name already registered.
    #[error("a pre-buffer named {0:?} is already registered")]
    DuplicateName(String),
}

#[cfg(test)]
mod tests;
