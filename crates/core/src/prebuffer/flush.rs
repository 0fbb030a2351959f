//! What a flush hands over: the pre-roll, still partly on disk.
//!
//! `flush` runs under the buffer's lock, so it only moves GOPs out of the buffer (no copy, no I/O).
//! Disk reads happen in [`Flush::into_packets`], on the caller's thread, outside any lock.

use std::fmt;
use std::sync::Arc;

use super::gop::{DiskEntry, Gop, MemEntry, Store};
use super::spool::Segment;
use super::BufferError;
use crate::packet::Packet;
use crate::time::Time;

enum Part {
    Mem(Vec<MemEntry>),
    Disk {
        seg: Arc<Segment>,
        entries: Vec<DiskEntry>,
    },
}

/// The packets of a flush, in arrival order, starting with a video keyframe.
#[derive(Default)]
pub struct Flush {
    parts: Vec<Part>,
    start: Option<Time>,
    len: usize,
}

impl Flush {
    pub(crate) fn from_gops(gops: impl Iterator<Item = Gop>) -> Flush {
        let mut f = Flush::default();
        for g in gops {
            f.start.get_or_insert(g.start);
            f.len += g.len();
            match g.store {
                Store::Mem(v) => f.parts.push(Part::Mem(v)),
                Store::Disk { seg, entries } => match f.parts.last_mut() {
                    // Consecutive GOPs in one segment: one index, so adjacent runs coalesce.
                    Some(Part::Disk { seg: s, entries: e }) if Arc::ptr_eq(s, &seg) => {
                        e.extend_from_slice(&entries)
                    }
                    _ => f.parts.push(Part::Disk { seg, entries }),
                },
            }
        }
        f
    }

    /// Time of the first packet (the keyframe the pre-roll starts on).
    pub fn start(&self) -> Option<Time> {
        self.start
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The packets, reading disk parts back: one read per contiguous extent, then `Bytes` slices
    /// of it. Memory parts are moved, never copied.
    pub fn into_packets(self) -> Result<Vec<Packet>, BufferError> {
        let mut out = Vec::with_capacity(self.len);
        for part in self.parts {
            match part {
                Part::Mem(v) => out.extend(v.into_iter().map(MemEntry::into_packet)),
                Part::Disk { seg, entries } => seg.read(&entries, |e, data| {
                    out.push(e.with_data(data).into_packet())
                })?,
            }
        }
        Ok(out)
    }
}

impl fmt::Debug for Flush {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flush")
            .field("start", &self.start)
            .field("len", &self.len)
            .finish()
    }
}
