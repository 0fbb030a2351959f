//! Buffer statistics: what is held now (gauges) and what happened (counters).
//!
//! Accounting identity, per buffer: every packet offered to `push` is, at any moment, exactly one
//! of held (`packets`), handed to a flush (the sum of `last_flush_packets` over flushes), or
//! dropped (`dropped_packets`). Dropped is the sum of: `dropped_window_packets`,
//! `dropped_pool_packets`, `refused_no_keyframe`, `thinned_packets`, `cleared_packets` and
//! `refused_gop_broken` (broken GOP, spool error, empty packet).

use crate::settings::BufferMode;
use crate::time::Time;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct BufferStats {
    pub mode: BufferMode,
    /// Packets held (memory and disk).
    pub packets: u64,
    /// Payload bytes held, memory and disk.
    pub bytes: u64,
    /// What this buffer is charged in the pool: payload held in memory plus
    /// [`super::DISK_ENTRY_CHARGE`] per packet held on disk.
    pub memory_bytes: u64,
    /// Payload bytes held on disk.
    pub disk_bytes: u64,
    /// Newest packet time − oldest GOP start.
    pub duration_secs: f64,
    /// Video keyframes held (one per GOP).
    pub keyframes: u64,
    pub gops: u64,
    /// Start of the oldest GOP held.
    pub oldest: Option<Time>,
    /// Time of the newest packet held.
    pub newest: Option<Time>,
    /// Every packet that will never reach a flush (see the module docs for the breakdown).
    pub dropped_packets: u64,
    pub dropped_bytes: u64,
    /// Evicted by the window, or discarded by a flush because they were before its start.
    pub dropped_window_packets: u64,
    pub dropped_window_bytes: u64,
    /// Evicted by pool pressure, or refused because the pool was full.
    pub dropped_pool_packets: u64,
    pub dropped_pool_bytes: u64,
    /// Refused because no GOP was open (before the first keyframe, after a clear or a flush).
    pub refused_no_keyframe: u64,
    /// Dropped by `keyframe_only` thinning.
    pub thinned_packets: u64,
    /// Dropped by `clear`.
    pub cleared_packets: u64,
    /// Refused because their GOP had lost a packet (spool error, pool refusal), because the spool
    /// write failed, or because they were empty.
    pub refused_gop_broken: u64,
    /// Spool I/O errors (writes, segment creation, failed demotions/promotions).
    pub spool_errors: u64,
    /// Highest `bytes` seen after a push.
    pub peak_bytes: u64,
    pub flushes: u64,
    pub last_flush_packets: u64,
    /// Newest − first packet time of the last flush (the pre-roll it carried).
    pub last_flush_secs: f64,
}

/// What a drop is counted as.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    Window,
    Pool,
    NoKeyframe,
    Thinned,
    Cleared,
    Broken,
}

/// The cumulative part of [`BufferStats`].
#[derive(Clone, Debug, Default)]
pub(crate) struct Counters {
    pub dropped_packets: u64,
    pub dropped_bytes: u64,
    pub dropped_window_packets: u64,
    pub dropped_window_bytes: u64,
    pub dropped_pool_packets: u64,
    pub dropped_pool_bytes: u64,
    pub refused_no_keyframe: u64,
    pub thinned_packets: u64,
    pub cleared_packets: u64,
    pub refused_gop_broken: u64,
    pub spool_errors: u64,
    pub peak_bytes: u64,
    pub flushes: u64,
    pub last_flush_packets: u64,
    pub last_flush_secs: f64,
}

impl Counters {
    pub fn drop(&mut self, why: Why, packets: u64, bytes: u64) {
        self.dropped_packets += packets;
        self.dropped_bytes += bytes;
        match why {
            Why::Window => {
                self.dropped_window_packets += packets;
                self.dropped_window_bytes += bytes;
            }
            Why::Pool => {
                self.dropped_pool_packets += packets;
                self.dropped_pool_bytes += bytes;
            }
            Why::NoKeyframe => self.refused_no_keyframe += packets,
            Why::Thinned => self.thinned_packets += packets,
            Why::Cleared => self.cleared_packets += packets,
            Why::Broken => self.refused_gop_broken += packets,
        }
    }

    pub fn fill(&self, s: &mut BufferStats) {
        s.dropped_packets = self.dropped_packets;
        s.dropped_bytes = self.dropped_bytes;
        s.dropped_window_packets = self.dropped_window_packets;
        s.dropped_window_bytes = self.dropped_window_bytes;
        s.dropped_pool_packets = self.dropped_pool_packets;
        s.dropped_pool_bytes = self.dropped_pool_bytes;
        s.refused_no_keyframe = self.refused_no_keyframe;
        s.thinned_packets = self.thinned_packets;
        s.cleared_packets = self.cleared_packets;
        s.refused_gop_broken = self.refused_gop_broken;
        s.spool_errors = self.spool_errors;
        s.peak_bytes = self.peak_bytes;
        s.flushes = self.flushes;
        s.last_flush_packets = self.last_flush_packets;
        s.last_flush_secs = self.last_flush_secs;
    }
}
