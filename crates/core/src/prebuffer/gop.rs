//! GOPs and the compact per-packet entries they hold.
//!
//! A memory entry is the payload `Bytes` (32 B) + pts + time + flags = 56 B; a disk entry replaces
//! the `Bytes` with a spool offset and length (32 B). A GOP's entries live in one `Vec`, sized from
//! the previous GOP's length and shrunk to fit when the GOP completes, so steady-state memory is
//! ~56 B per packet plus a GOP header shared by the whole GOP.

use std::sync::Arc;

use bytes::Bytes;

use super::spool::Segment;
use crate::packet::{Packet, TrackKind};
use crate::time::Time;

/// Pool charge for one packet whose payload is on disk: the 32-byte index entry plus its share of
/// the GOP header and `Vec` slack, rounded up. Memory-held packets are charged their payload only.
pub const DISK_ENTRY_CHARGE: u64 = 48;

const FLAG_VIDEO: u8 = 1;
const FLAG_KEY: u8 = 2;

fn flags_of(p: &Packet) -> u8 {
    let mut f = 0;
    if p.track == TrackKind::Video {
        f |= FLAG_VIDEO;
    }
    if p.keyframe {
        f |= FLAG_KEY;
    }
    f
}

fn track_of(flags: u8) -> TrackKind {
    if flags & FLAG_VIDEO != 0 {
        TrackKind::Video
    } else {
        TrackKind::Audio
    }
}

/// One packet held in memory.
#[derive(Clone, Debug)]
pub(crate) struct MemEntry {
    pub data: Bytes,
    pub pts: i64,
    pub time: i64,
    pub flags: u8,
}

impl MemEntry {
    pub fn from_packet(p: Packet) -> MemEntry {
        MemEntry {
            flags: flags_of(&p),
            pts: p.pts,
            time: p.time.0,
            data: p.data,
        }
    }

    pub fn into_packet(self) -> Packet {
        Packet {
            track: track_of(self.flags),
            pts: self.pts,
            time: Time(self.time),
            keyframe: self.flags & FLAG_KEY != 0,
            data: self.data,
        }
    }

    pub fn to_disk(&self, offset: u64, len: u32) -> DiskEntry {
        DiskEntry {
            offset,
            pts: self.pts,
            time: self.time,
            len,
            flags: self.flags,
        }
    }
}

/// One packet whose payload is in a spool segment.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DiskEntry {
    pub offset: u64,
    pub pts: i64,
    pub time: i64,
    pub len: u32,
    pub flags: u8,
}

impl DiskEntry {
    pub fn from_packet(p: &Packet, offset: u64, len: u32) -> DiskEntry {
        DiskEntry {
            offset,
            pts: p.pts,
            time: p.time.0,
            len,
            flags: flags_of(p),
        }
    }

    pub fn with_data(&self, data: Bytes) -> MemEntry {
        MemEntry {
            data,
            pts: self.pts,
            time: self.time,
            flags: self.flags,
        }
    }

    pub fn end(&self) -> u64 {
        self.offset + u64::from(self.len)
    }
}

/// Where a GOP's payloads are. A GOP lives entirely in memory or entirely in one spool segment.
pub(crate) enum Store {
    Mem(Vec<MemEntry>),
    Disk {
        seg: Arc<Segment>,
        entries: Vec<DiskEntry>,
    },
}

/// A group of pictures: a video keyframe and every packet (video and audio) after it until the next
/// video keyframe.
pub(crate) struct Gop {
    /// Time of the keyframe (the packets' timeline).
    pub start: Time,
    /// The keyframe's position on the buffer's monotonic clock (see `PreBuffer::advance_clock`).
    pub mono: i64,
    /// Payload bytes of the packets held.
    pub bytes: u64,
    pub store: Store,
}

impl Gop {
    pub fn len(&self) -> usize {
        match &self.store {
            Store::Mem(v) => v.len(),
            Store::Disk { entries, .. } => entries.len(),
        }
    }

    pub fn is_mem(&self) -> bool {
        matches!(self.store, Store::Mem(_))
    }

    /// Whether moving this GOP to disk lowers its charge (not so for packets under 48 bytes).
    pub fn demotion_helps(&self) -> bool {
        self.is_mem() && self.bytes > self.len() as u64 * DISK_ENTRY_CHARGE
    }

    /// Time of the last packet held.
    pub fn last_time(&self) -> Time {
        match &self.store {
            Store::Mem(v) => v.last().map_or(self.start, |e| Time(e.time)),
            Store::Disk { entries, .. } => entries.last().map_or(self.start, |e| Time(e.time)),
        }
    }

    /// Gives back the capacity slack of a GOP that will get no more packets.
    pub fn shrink(&mut self) {
        match &mut self.store {
            Store::Mem(v) => v.shrink_to_fit(),
            Store::Disk { entries, .. } => entries.shrink_to_fit(),
        }
    }
}
