//! [`PreBuffer`]: one camera's GOP ring. Pushing, the window rule, thinning, flush and clear.
//! Moving GOPs between memory and disk is in `hybrid.rs`.

use std::collections::VecDeque;
use std::sync::Arc;

use super::flush::Flush;
use super::gop::{DiskEntry, Gop, MemEntry, Store, DISK_ENTRY_CHARGE};
use super::spool::{FileWriter, Segment, Spool, SpoolWriter, SEGMENT_TARGET_BYTES};
use super::stats::{BufferStats, Counters, Why};
use super::{BufferConfig, BufferError, DropReason, PushOutcome};
use crate::packet::Packet;
use crate::settings::BufferMode;
use crate::time::{duration_micros, Time};

/// Whether the newest GOP takes more packets.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Accept {
    /// No GOP open: nothing held yet, or after a clear or a flush.
    WaitKeyframe,
    Open,
    /// The open GOP lost a packet (spool error, pool refusal): the rest of it is undecodable.
    Broken,
}

/// A packet this much older than the newest is timestamps starting over, not tracks
/// interleaving (the same limit as a [`crate::timeline::Timeline`]'s forward gap).
const REWIND_US: i64 = crate::timeline::MAX_FORWARD_GAP_SECS * crate::time::MICROS_PER_SEC;

/// One camera's pre-event buffer, on its own (no pool). [`crate::pool::Pool`] holds each behind a
/// lock of its own; tests can drive one directly.
pub struct PreBuffer {
    pub(crate) cfg: BufferConfig,
    pub(crate) window_us: i64,
    /// Kept beyond the window, for a motion time that arrives late (vigil's own detector
    /// reports the frame that showed motion a moment after it came): 0 unless set.
    pub(crate) lead_us: i64,
    // Declared before `spool`: GOPs (and their segments) go before the spool removes its directory.
    pub(crate) gops: VecDeque<Gop>,
    /// Segments of GOPs that pool relief dropped from another camera's thread: unlinked by this
    /// buffer's own next operation (see `relieve`).
    pub(crate) retired: Vec<Arc<Segment>>,
    pub(crate) spool: Option<Spool>,
    pub(crate) accept: Accept,
    /// The newest packet time taken (the clock's reference), and the buffer's own monotonic
    /// clock there.
    last_time: Option<Time>,
    pub(crate) mono: i64,
    pub(crate) packets: u64,
    pub(crate) mem_bytes: u64,
    pub(crate) disk_bytes: u64,
    pub(crate) disk_entries: u64,
    /// Length of the last completed GOP: the capacity of the next one's `Vec`.
    len_hint: usize,
    pub(crate) segment_target: u64,
    /// Where spool payload writes go (the file, unless a test injected a writer).
    pub(crate) writer: Arc<dyn SpoolWriter>,
    pub(crate) c: Counters,
}

impl PreBuffer {
    /// A disk or hybrid buffer creates its spool directory now, so a bad path is an error here.
    pub fn new(cfg: BufferConfig) -> Result<PreBuffer, BufferError> {
        let spool = match cfg.mode {
            BufferMode::Memory => None,
            BufferMode::Disk | BufferMode::Hybrid => Some(Spool::open(&cfg.spool_dir)?),
        };
        Ok(PreBuffer {
            window_us: duration_micros(cfg.window),
            lead_us: 0,
            cfg,
            gops: VecDeque::new(),
            retired: Vec::new(),
            spool,
            accept: Accept::WaitKeyframe,
            last_time: None,
            mono: 0,
            packets: 0,
            mem_bytes: 0,
            disk_bytes: 0,
            disk_entries: 0,
            len_hint: 0,
            segment_target: SEGMENT_TARGET_BYTES,
            writer: Arc::new(FileWriter),
            c: Counters::default(),
        })
    }

    pub fn config(&self) -> &BufferConfig {
        &self.cfg
    }

    /// Size at which a new spool segment is started (default 4 MiB); for tests and tuning.
    pub fn set_segment_target(&mut self, bytes: u64) {
        self.segment_target = bytes.max(1);
        if let Some(s) = &mut self.spool {
            s.target = self.segment_target;
        }
    }

    /// Replaces the spool's writer (default [`FileWriter`]) for every write from now on: the seam
    /// a test uses to make this buffer's disk stall or fail.
    pub fn set_spool_writer(&mut self, writer: Arc<dyn SpoolWriter>) {
        self.writer = writer;
    }

    /// Takes one packet. `Err` only for a spool failure or an empty packet; the packet is refused
    /// and the buffer stays consistent.
    pub fn push(&mut self, pkt: Packet) -> Result<PushOutcome, BufferError> {
        let r = self.push_unpeaked(pkt);
        self.note_peak();
        r
    }

    /// `push` without the peak update (the pool notes the peak after enforcing its limit).
    pub(crate) fn push_unpeaked(&mut self, pkt: Packet) -> Result<PushOutcome, BufferError> {
        self.retired.clear();
        let len = pkt.data.len() as u64;
        if len == 0 {
            self.c.drop(Why::Broken, 1, 0);
            return Err(BufferError::EmptyPacket);
        }
        if pkt.starts_gop() {
            self.start_gop(pkt)?;
        } else {
            match self.accept {
                Accept::Open if !self.gops.is_empty() => self.append(pkt)?,
                Accept::Open | Accept::WaitKeyframe => {
                    self.c.drop(Why::NoKeyframe, 1, len);
                    return Ok(PushOutcome::Dropped(DropReason::NoKeyframeYet));
                }
                Accept::Broken => {
                    self.c.drop(Why::Broken, 1, len);
                    return Ok(PushOutcome::Dropped(DropReason::GopBroken));
                }
            }
        }
        self.evict_by_window();
        if self.cfg.mode == BufferMode::Hybrid {
            // A failed demotion is counted; the packet itself is held (in memory).
            let _ = self.enforce_hybrid_budget();
        }
        Ok(PushOutcome::Held)
    }

    pub(crate) fn note_peak(&mut self) {
        self.c.peak_bytes = self.c.peak_bytes.max(self.bytes());
    }

    /// The buffer's clock only moves forward, by how far a packet is past the newest one taken:
    /// a packet older than that (an audio frame sent after a newer video frame) counts as no
    /// time passing, and the stretch up to the newest is not counted again from it. So the
    /// window keeps meaning "this much stream" whatever the timestamps do.
    fn clock_at(&self, t: Time) -> i64 {
        match self.last_time {
            None => self.mono,
            Some(newest) => self.mono.saturating_add(t.micros_since(newest).max(0)),
        }
    }

    fn commit_clock(&mut self, t: Time, mono: i64) {
        // A packet far older than the newest is the stream's timestamps starting over (a
        // source without a `Timeline`): the clock goes on from it. A little older is the tracks'
        // interleaving: the newest stays the reference.
        let rewound = |newest: Time| newest.micros_since(t) > REWIND_US;
        self.last_time = match self.last_time {
            Some(newest) if t < newest && !rewound(newest) => Some(newest),
            _ => Some(t),
        };
        self.mono = mono;
    }

    fn spool_failed(&mut self, len: u64) {
        self.c.spool_errors += 1;
        self.c.drop(Why::Broken, 1, len);
        self.accept = Accept::Broken;
    }

    pub(crate) fn spool_mut(&mut self) -> Result<&mut Spool, BufferError> {
        let s = match self.spool.take() {
            Some(s) => s,
            None => {
                let mut s = Spool::open(&self.cfg.spool_dir)?;
                s.target = self.segment_target;
                s
            }
        };
        Ok(self.spool.insert(s))
    }

    fn start_gop(&mut self, pkt: Packet) -> Result<(), BufferError> {
        let len = pkt.data.len() as u64;
        let time = pkt.time;
        let mono = self.clock_at(time);
        let cap = self.len_hint.max(1);
        let store = if self.cfg.mode == BufferMode::Disk {
            let written = self
                .spool_mut()
                .and_then(Spool::segment_for_new_gop)
                .and_then(|seg| {
                    let (off, l) = seg.append(self.writer.as_ref(), &pkt.data)?;
                    Ok((seg, off, l))
                });
            let (seg, off, l) = match written {
                Ok(w) => w,
                Err(e) => {
                    self.spool_failed(len);
                    return Err(e);
                }
            };
            let mut entries = Vec::with_capacity(cap);
            entries.push(DiskEntry::from_packet(&pkt, off, l));
            self.disk_bytes += len;
            self.disk_entries += 1;
            Store::Disk { seg, entries }
        } else {
            let mut v = Vec::with_capacity(cap);
            v.push(MemEntry::from_packet(pkt));
            self.mem_bytes += len;
            Store::Mem(v)
        };
        self.commit_clock(time, mono);
        self.close_newest();
        self.gops.push_back(Gop {
            start: time,
            mono,
            bytes: len,
            store,
        });
        self.packets += 1;
        self.accept = Accept::Open;
        Ok(())
    }

    /// The newest GOP is complete: thin it (keyframe_only) or give back its slack.
    fn close_newest(&mut self) {
        let Some(g) = self.gops.back_mut() else {
            return;
        };
        self.len_hint = g.len();
        if self.cfg.keyframe_only {
            self.thin(self.gops.len() - 1);
        } else {
            g.shrink();
        }
    }

    /// Keeps only the keyframe of GOP `i`.
    pub(crate) fn thin(&mut self, i: usize) {
        let Some(g) = self.gops.get_mut(i) else {
            return;
        };
        let n = g.len().saturating_sub(1) as u64;
        if n == 0 {
            return;
        }
        let removed = match &mut g.store {
            Store::Mem(v) => {
                let r: u64 = v[1..].iter().map(|e| e.data.len() as u64).sum();
                v.truncate(1);
                v.shrink_to_fit();
                self.mem_bytes -= r;
                r
            }
            Store::Disk { entries, .. } => {
                let r: u64 = entries[1..].iter().map(|e| u64::from(e.len)).sum();
                entries.truncate(1);
                entries.shrink_to_fit();
                self.disk_bytes -= r;
                self.disk_entries -= n;
                r
            }
        };
        g.bytes -= removed;
        self.packets -= n;
        self.c.drop(Why::Thinned, n, removed);
    }

    fn append(&mut self, pkt: Packet) -> Result<(), BufferError> {
        let len = pkt.data.len() as u64;
        let time = pkt.time;
        let mono = self.clock_at(time);
        let Some(g) = self.gops.back_mut() else {
            return Ok(());
        };
        match &mut g.store {
            Store::Mem(v) => {
                v.push(MemEntry::from_packet(pkt));
                self.mem_bytes += len;
            }
            Store::Disk { seg, entries } => match seg.append(self.writer.as_ref(), &pkt.data) {
                Ok((off, l)) => {
                    entries.push(DiskEntry::from_packet(&pkt, off, l));
                    self.disk_bytes += len;
                    self.disk_entries += 1;
                }
                Err(e) => {
                    self.spool_failed(len);
                    return Err(e);
                }
            },
        }
        g.bytes += len;
        self.packets += 1;
        self.commit_clock(time, mono);
        Ok(())
    }

    /// Keeps `lead` more than the window, so that a flush for a motion time up to `lead` older
    /// than the newest packet still finds its whole pre-roll.
    pub fn set_lead(&mut self, lead: std::time::Duration) {
        self.lead_us = duration_micros(lead);
        self.evict_by_window();
    }

    /// The window rule: while the second-oldest GOP starts at or before newest − window (− the
    /// lead), the oldest is not needed by any flush from now on.
    pub(crate) fn evict_by_window(&mut self) {
        let limit = self
            .mono
            .saturating_sub(self.window_us.saturating_add(self.lead_us));
        while self.gops.len() >= 2 && self.gops[1].mono <= limit {
            self.pop_front(Why::Window);
        }
    }

    pub(crate) fn unaccount(&mut self, g: &Gop) {
        self.packets -= g.len() as u64;
        match &g.store {
            Store::Mem(_) => self.mem_bytes -= g.bytes,
            Store::Disk { entries, .. } => {
                self.disk_bytes -= g.bytes;
                self.disk_entries -= entries.len() as u64;
            }
        }
    }

    pub(crate) fn pop_front(&mut self, why: Why) -> Option<Gop> {
        let g = self.gops.pop_front()?;
        self.unaccount(&g);
        self.c.drop(why, g.len() as u64, g.bytes);
        Some(g)
    }

    /// Everything from the latest GOP starting at or before `at` − window (or the oldest GOP when
    /// none does) to the newest packet. Earlier GOPs are discarded; the buffer is left empty and
    /// waits for a keyframe.
    pub fn flush(&mut self, at: Time) -> Flush {
        let at_mono = match self.last_time {
            Some(t) => self.mono.saturating_add(at.micros_since(t)),
            None => self.mono,
        };
        let target = at_mono.saturating_sub(self.window_us);
        let first = self
            .gops
            .iter()
            .rposition(|g| g.mono <= target)
            .unwrap_or(0);
        for _ in 0..first {
            self.pop_front(Why::Window);
        }
        let secs = match (self.gops.front(), self.gops.back()) {
            (Some(a), Some(b)) => b.last_time().secs_since(a.start).max(0.0),
            _ => 0.0,
        };
        let flush = Flush::from_gops(self.gops.drain(..));
        self.retired.clear();
        (
            self.packets,
            self.mem_bytes,
            self.disk_bytes,
            self.disk_entries,
        ) = (0, 0, 0, 0);
        self.accept = Accept::WaitKeyframe;
        if let Some(s) = &mut self.spool {
            s.retire_current();
        }
        self.c.flushes += 1;
        self.c.last_flush_packets = flush.len() as u64;
        self.c.last_flush_secs = secs;
        flush
    }

    /// Drops everything (stream lost, codec change); the next packet taken is a keyframe.
    pub fn clear(&mut self) {
        drop(self.take_all(Why::Cleared));
    }

    /// Empties the buffer, returning the GOPs so the caller can drop them outside a lock.
    pub(crate) fn take_all(&mut self, why: Why) -> VecDeque<Gop> {
        let gops = std::mem::take(&mut self.gops);
        self.retired.clear();
        self.c.drop(why, self.packets, self.bytes());
        (
            self.packets,
            self.mem_bytes,
            self.disk_bytes,
            self.disk_entries,
        ) = (0, 0, 0, 0);
        self.accept = Accept::WaitKeyframe;
        if let Some(s) = &mut self.spool {
            s.retire_current();
        }
        gops
    }

    /// Payload bytes held, memory and disk.
    pub fn bytes(&self) -> u64 {
        self.mem_bytes + self.disk_bytes
    }

    /// Whether an operation on this buffer may do spool I/O (write, read, create or unlink a
    /// segment): not a memory buffer with nothing on disk.
    pub(crate) fn touches_disk(&self) -> bool {
        self.cfg.mode != BufferMode::Memory
            || self.spool.is_some()
            || self.disk_entries > 0
            || !self.retired.is_empty()
    }

    /// What the pool charges this buffer.
    pub fn charged(&self) -> u64 {
        self.mem_bytes + self.disk_entries * DISK_ENTRY_CHARGE
    }

    pub fn stats(&self) -> BufferStats {
        let oldest = self.gops.front().map(|g| g.start);
        let newest = self.gops.back().map(Gop::last_time);
        let mut s = BufferStats {
            mode: self.cfg.mode,
            packets: self.packets,
            bytes: self.bytes(),
            memory_bytes: self.charged(),
            disk_bytes: self.disk_bytes,
            duration_secs: match (oldest, newest) {
                (Some(a), Some(b)) => b.secs_since(a).max(0.0),
                _ => 0.0,
            },
            keyframes: self.gops.len() as u64,
            gops: self.gops.len() as u64,
            oldest,
            newest,
            ..BufferStats::default()
        };
        self.c.fill(&mut s);
        s
    }
}
