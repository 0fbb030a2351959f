//! # The global buffer pool: one byte limit for every pre-buffer
//!
//! All cameras' [`PreBuffer`]s live inside one [`Pool`] (default limit 50 MiB, no fixed camera
//! count). A camera registers and gets a [`BufferHandle`]; dropping the handle unregisters the
//! buffer and deletes its spool.
//!
//! ## Charging
//! A buffer is charged the payload bytes it holds in memory plus
//! [`crate::prebuffer::DISK_ENTRY_CHARGE`] (48 B) per packet held on disk (its index entry).
//!
//! ## The limit holds after every push
//! After each push, while the sum charged is over the limit: among the buffers that have something
//! to give, pick the one furthest above its fair share (limit ÷ number of buffers; ties go to the
//! first in `per_buffer` order) and relieve it: a hybrid buffer demotes its oldest memory GOP to disk
//! (dropping its oldest GOP only when that isn't possible), any other drops its oldest GOP (counted
//! as dropped by pool pressure). No buffer ever loses its newest GOP to this. If the sum is still
//! over with only newest GOPs left, the packet just pushed is taken back
//! ([`DropReason::PoolFull`]) and its GOP takes no more packets until the next keyframe. So
//! `used ≤ limit` after every push, always.
//!
//! Lowering the limit (`set_limit`) or a mode change that brings disk GOPs back into memory has no
//! packet to refuse: after the usual relief, if still over, whole buffers' content goes (furthest
//! above fair share first), so the limit holds there too.
//!
//! ## Locking
//! One mutex over the whole pool; each push takes it once. Under it: the push, the window
//! eviction, spool *writes* (page-cache appends, no fsync) and the limit's enforcement. Not under
//! it: disk *reads* for a flush ([`Flush::into_packets`]), dropping what `clear` and unregistering
//! release, creating a new buffer's spool directory.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use smallvec::SmallVec;

use crate::packet::Packet;
use crate::prebuffer::{
    BufferConfig, BufferError, BufferStats, DropReason, Flush, PreBuffer, PushOutcome, SpoolWriter,
    Why,
};
use crate::time::Time;

/// The default `buffer_pool.limit`.
pub const DEFAULT_LIMIT_BYTES: u64 = 50 << 20;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolStats {
    pub limit_bytes: u64,
    pub used_bytes: u64,
    /// Highest `used_bytes` after any operation.
    pub peak_bytes: u64,
    pub buffers: usize,
    /// Each buffer's charge, in registration order (free slots reused).
    pub per_buffer: Vec<(String, u64)>,
}

struct Slot {
    name: String,
    buf: PreBuffer,
}

struct Inner {
    limit: u64,
    used: u64,
    peak: u64,
    slots: Vec<Option<Slot>>,
    count: usize,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    // A panic elsewhere while holding the lock leaves consistent counters (every update is a
    // before/after delta), so carry on.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The global pool. Clones share it.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Mutex<Inner>>,
}

impl Pool {
    pub fn new(limit_bytes: u64) -> Pool {
        Pool {
            inner: Arc::new(Mutex::new(Inner {
                limit: limit_bytes,
                used: 0,
                peak: 0,
                slots: Vec::new(),
                count: 0,
            })),
        }
    }

    /// Adds a camera's buffer. A disk/hybrid buffer whose spool directory can't be created, or a
    /// name already registered, is an error.
    pub fn register(&self, name: &str, cfg: BufferConfig) -> Result<BufferHandle, BufferError> {
        let taken = |g: &Inner| g.slots.iter().flatten().any(|s| s.name == name);
        // Checked before creating the spool too, so a duplicate never touches the other's dir.
        if taken(&lock(&self.inner)) {
            return Err(BufferError::DuplicateName(name.to_owned()));
        }
        let buf = PreBuffer::new(cfg)?; // directory creation: outside the lock
        let mut g = lock(&self.inner);
        if taken(&g) {
            return Err(BufferError::DuplicateName(name.to_owned()));
        }
        let slot = Slot {
            name: name.to_owned(),
            buf,
        };
        let index = match g.slots.iter().position(Option::is_none) {
            Some(i) => {
                g.slots[i] = Some(slot);
                i
            }
            None => {
                g.slots.push(Some(slot));
                g.slots.len() - 1
            }
        };
        g.count += 1;
        Ok(BufferHandle {
            inner: self.inner.clone(),
            index,
            name: name.to_owned(),
        })
    }

    pub fn stats(&self) -> PoolStats {
        let g = lock(&self.inner);
        PoolStats {
            limit_bytes: g.limit,
            used_bytes: g.used,
            peak_bytes: g.peak,
            buffers: g.count,
            per_buffer: g
                .slots
                .iter()
                .flatten()
                .map(|s| (s.name.clone(), s.buf.charged()))
                .collect(),
        }
    }

    /// Changes the limit live; a lower limit is enforced at once.
    pub fn set_limit(&self, limit_bytes: u64) {
        let mut g = lock(&self.inner);
        g.limit = limit_bytes;
        g.enforce(None, true);
    }
}

impl Inner {
    fn buf(&mut self, i: usize) -> Option<&mut PreBuffer> {
        self.slots
            .get_mut(i)
            .and_then(Option::as_mut)
            .map(|s| &mut s.buf)
    }

    /// Runs `f` on buffer `i`, keeping `used` in step with its charge.
    fn with<R>(&mut self, i: usize, f: impl FnOnce(&mut PreBuffer) -> R) -> Option<R> {
        let buf = self.buf(i)?;
        let before = buf.charged();
        let r = f(buf);
        let after = buf.charged();
        self.used = self.used.saturating_sub(before).saturating_add(after);
        Some(r)
    }

    /// The buffer furthest above its fair share among those `can` accepts.
    fn furthest_above(&self, can: impl Fn(usize, &PreBuffer) -> bool) -> Option<usize> {
        let fair = i128::from(self.limit / self.count.max(1) as u64);
        let mut best: Option<(usize, i128)> = None;
        for (i, s) in self.slots.iter().enumerate() {
            let Some(s) = s else { continue };
            if !can(i, &s.buf) {
                continue;
            }
            let excess = i128::from(s.buf.charged()) - fair;
            match best {
                Some((_, e)) if e >= excess => {}
                _ => best = Some((i, excess)),
            }
        }
        best.map(|(i, _)| i)
    }

    /// Brings `used` under the limit (see the module docs). Returns whether the pusher's last
    /// packet was taken back.
    fn enforce(&mut self, pusher: Option<usize>, hard: bool) -> bool {
        let mut stuck: SmallVec<[usize; 8]> = SmallVec::new();
        while self.used > self.limit {
            let Some(i) = self.furthest_above(|i, b| !stuck.contains(&i) && b.can_relieve()) else {
                break;
            };
            let before = self.used;
            let relieved = self.with(i, PreBuffer::relieve).unwrap_or(false);
            if !relieved || self.used >= before {
                stuck.push(i);
            }
        }
        let mut refused = false;
        if self.used > self.limit {
            if let Some(p) = pusher {
                refused = self.with(p, PreBuffer::refuse_last).is_some();
            }
        }
        while hard && self.used > self.limit {
            let Some(i) = self.furthest_above(|_, b| b.packets > 0) else {
                break;
            };
            if let Some(gops) = self.with(i, |b| b.take_all(Why::Pool)) {
                drop(gops);
            }
        }
        self.peak = self.peak.max(self.used);
        refused
    }
}

/// One camera's buffer in the pool. Not `Clone`: dropping it unregisters the buffer and deletes
/// its spool.
pub struct BufferHandle {
    inner: Arc<Mutex<Inner>>,
    index: usize,
    name: String,
}

impl BufferHandle {
    /// Takes one packet (see the module docs for what the pool may do). `Err` only for a spool
    /// I/O error or an empty packet: the packet is refused, the buffer stays consistent.
    pub fn push(&self, pkt: Packet) -> Result<PushOutcome, BufferError> {
        let mut g = lock(&self.inner);
        let i = self.index;
        let Some(r) = g.with(i, |b| b.push_unpeaked(pkt)) else {
            return Ok(PushOutcome::Dropped(DropReason::PoolFull));
        };
        let held = matches!(r, Ok(PushOutcome::Held));
        let mut r = r;
        if g.used > g.limit && g.enforce(held.then_some(i), false) {
            r = Ok(PushOutcome::Dropped(DropReason::PoolFull));
        }
        g.peak = g.peak.max(g.used);
        if let Some(b) = g.buf(i) {
            b.note_peak();
        }
        r
    }

    /// The pre-roll for a clip starting at `at` (see [`PreBuffer::flush`]). Leaves the buffer
    /// empty. Disk data is read by [`Flush::into_packets`], outside the pool lock.
    pub fn flush(&self, at: Time) -> Result<Flush, BufferError> {
        let mut g = lock(&self.inner);
        Ok(g.with(self.index, |b| b.flush(at)).unwrap_or_default())
    }

    /// Drops everything held (stream lost, codec change).
    pub fn clear(&self) {
        let gops = lock(&self.inner).with(self.index, |b| b.take_all(Why::Cleared));
        drop(gops); // outside the lock: payloads freed, segment files unlinked
    }

    /// New settings, live (see [`PreBuffer::reconfigure`]). Disk reads for a switch to memory
    /// happen under the pool lock: a rare, operator-driven event.
    pub fn reconfigure(&self, cfg: BufferConfig) -> Result<(), BufferError> {
        let mut g = lock(&self.inner);
        let r = g.with(self.index, |b| b.reconfigure(cfg)).unwrap_or(Ok(()));
        if g.used > g.limit {
            g.enforce(None, true);
        }
        g.peak = g.peak.max(g.used);
        r
    }

    pub fn stats(&self) -> BufferStats {
        let mut g = lock(&self.inner);
        g.buf(self.index).map(|b| b.stats()).unwrap_or_default()
    }

    /// See [`PreBuffer::set_spool_writer`].
    pub fn set_spool_writer(&self, writer: Arc<dyn SpoolWriter>) {
        if let Some(b) = lock(&self.inner).buf(self.index) {
            b.set_spool_writer(writer);
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for BufferHandle {
    fn drop(&mut self) {
        let slot = {
            let mut g = lock(&self.inner);
            let slot = g.slots.get_mut(self.index).and_then(Option::take);
            if let Some(s) = &slot {
                g.used = g.used.saturating_sub(s.buf.charged());
                g.count -= 1;
            }
            slot
        };
        drop(slot); // outside the lock: payloads freed, spool deleted
    }
}
