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
//! `used ≤ limit` after every push, always. (One exception to the choice, see Locking: a buffer in
//! the middle of an operation of its own may be passed over.)
//!
//! Lowering the limit (`set_limit`) or a mode change that brings disk GOPs back into memory has no
//! packet to refuse: after the usual relief, if still over, whole buffers' content goes (furthest
//! above fair share first), so the limit holds there too.
//!
//! ## Locking
//! A slow disk on one camera never holds up another. Each buffer has a lock of its own, held for
//! any change to it: a camera's push, flush, clear or reconfigure runs under it, spool writes and
//! reads, window eviction and its own hybrid demotions included (a second lock per handle keeps
//! one camera's operations in order). The pool's lock covers the accounting only, each buffer's
//! charge as the pool knows it (`used` is their sum) and the limit, and is never held across I/O.
//!
//! An operation ends by publishing its change of charge under the pool lock, and a charge that
//! grew is published only once it fits (the relief above comes first): `used ≤ limit` whenever
//! anyone looks. Nobody waits for the pool lock while holding a buffer's lock (if the pool lock is
//! busy, the buffer's is let go first), so relief, under the pool lock, can take any buffer's lock
//! that is free and wait for one that is never held across I/O (a memory buffer: busy for a
//! moment). A busy disk or hybrid buffer, perhaps waiting on its disk, is passed over and the next
//! one furthest above its fair share gives instead. While an operation's change is not published
//! yet, relief from elsewhere spares that buffer's newest GOP (which holds what the operation
//! added, and the one before it if a keyframe started a new GOP; a hybrid buffer with nothing
//! else to demote is passed over), so relief only ever takes what the pool has counted and no
//! buffer loses the GOP that was its newest when the pool last saw it.
//!
//! Relief of a hybrid buffer is a spool write (a demotion): it is written with the pool lock
//! released, holding the victim's lock. The pusher waits for that one GOP write to the victim's
//! spool, never for a write the victim already had in progress. GOPs that relief drops are freed
//! once every lock is released, and a segment file they were the last to use is unlinked by its
//! own buffer's next operation. [`Pool::set_limit`] holds no buffer's lock, so it waits for busy
//! buffers (with the pool lock released) and a lowered limit holds once it returns.
//! [`BufferHandle::stats`] takes its buffer's lock: it waits for that camera's operation in
//! progress, never for another's. Under no lock at all: a flush's disk reads
//! ([`Flush::into_packets`]), freeing what `clear`, relief and unregistering release, creating a new
//! buffer's spool directory.

mod relief;

use std::sync::atomic::{fence, AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use crate::packet::Packet;
use crate::prebuffer::{
    BufferConfig, BufferError, BufferStats, DropReason, Flush, PreBuffer, PushOutcome, SpoolWriter,
    Why,
};
use crate::time::Time;
use relief::{change, enforce, lock, try_lock, Cell, Ending, Flight, Inner, Own, Shared, Slot};

/// The default `buffer_pool.limit`.
pub const DEFAULT_LIMIT_BYTES: u64 = 50 << 20;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolStats {
    pub limit_bytes: u64,
    pub used_bytes: u64,
    /// Highest `used_bytes` after any operation.
    pub peak_bytes: u64,
    pub buffers: usize,
    /// Each buffer's charge as the pool knows it (an operation in progress counts once it ends),
    /// in registration order (free slots reused).
    pub per_buffer: Vec<(String, u64)>,
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
        let cell = Arc::new(Cell {
            disk: AtomicBool::new(buf.touches_disk()),
            buf: Mutex::new(buf),
            op: Mutex::new(()),
            in_flight: AtomicU8::new(Flight::Idle as u8),
            relievable: AtomicBool::new(false),
        });
        let mut g = lock(&self.inner);
        if taken(&g) {
            return Err(BufferError::DuplicateName(name.to_owned()));
        }
        let slot = Slot {
            name: name.to_owned(),
            cell: cell.clone(),
            charge: 0,
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
            pool: self.inner.clone(),
            cell,
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
                .map(|s| (s.name.clone(), s.charge))
                .collect(),
        }
    }

    /// Changes the limit live; a lower limit is enforced at once (busy buffers are waited for, so
    /// it holds when this returns).
    pub fn set_limit(&self, limit_bytes: u64) {
        lock(&self.inner).limit = limit_bytes;
        let mut freed = Vec::new();
        enforce(&self.inner, None, Ending::Hard, &mut freed);
        drop(freed);
    }
}

/// One camera's buffer in the pool. Not `Clone`: dropping it unregisters the buffer and deletes
/// its spool.
pub struct BufferHandle {
    pool: Arc<Mutex<Inner>>,
    cell: Shared,
    index: usize,
    name: String,
}

impl BufferHandle {
    /// Runs `op` on this buffer under its own lock, then settles its change with the pool. Returns
    /// `op`'s result and whether the pushed packet was taken back.
    fn run<R>(
        &self,
        flight: Flight,
        op: impl FnOnce(&mut PreBuffer) -> R,
        ending: impl FnOnce(&R) -> Ending,
    ) -> (R, bool) {
        let cell = &*self.cell;
        let _op = lock(&cell.op);
        flight.set(cell);
        let mut b = lock(&cell.buf);
        let (r, delta) = change(cell, &mut b, op);
        // Usually: the pool lock is free and the new charge fits. Publish holding both locks.
        if let Some(mut g) = try_lock(&self.pool) {
            if g.fits(delta) {
                g.publish(self.index, &self.cell, delta);
                drop(g);
                b.note_peak();
                Flight::Idle.set(cell);
                return (r, false);
            }
        }
        // Otherwise never wait for the pool lock holding a buffer's: a buffer waiting its turn
        // stays open to relief.
        drop(b);
        let mut freed = Vec::new();
        let own = Own {
            index: self.index,
            cell: &self.cell,
            delta,
        };
        let refused = enforce(&self.pool, Some(own), ending(&r), &mut freed);
        lock(&cell.buf).note_peak();
        Flight::Idle.set(cell);
        drop(freed); // outside every lock: payloads freed
        (r, refused)
    }

    /// Takes one packet (see the module docs for what the pool may do). `Err` only for a spool
    /// I/O error or an empty packet: the packet is refused, the buffer stays consistent.
    pub fn push(&self, pkt: Packet) -> Result<PushOutcome, BufferError> {
        let ending = |r: &Result<PushOutcome, BufferError>| match r {
            Ok(PushOutcome::Held) => Ending::Push,
            _ => Ending::Relief,
        };
        let flight = if pkt.starts_gop() {
            Flight::NewGop
        } else {
            Flight::Newest
        };
        match self.run(flight, |b| b.push_unpeaked(pkt), ending) {
            (_, true) => Ok(PushOutcome::Dropped(DropReason::PoolFull)),
            (r, false) => r,
        }
    }

    /// The pre-roll for a clip starting at `at` (see [`PreBuffer::flush`]). Leaves the buffer
    /// empty. Disk data is read by [`Flush::into_packets`], outside any lock.
    pub fn flush(&self, at: Time) -> Result<Flush, BufferError> {
        Ok(self
            .run(Flight::Newest, |b| b.flush(at), |_| Ending::Relief)
            .0)
    }

    /// Drops everything held (stream lost, codec change).
    pub fn clear(&self) {
        let (gops, _) = self.run(
            Flight::Newest,
            |b| b.take_all(Why::Cleared),
            |_| Ending::Relief,
        );
        drop(gops); // outside the locks: payloads freed, segment files unlinked
    }

    /// New settings, live (see [`PreBuffer::reconfigure`]). Disk reads and writes for a mode
    /// change happen under this buffer's lock only.
    pub fn reconfigure(&self, cfg: BufferConfig) -> Result<(), BufferError> {
        // Before taking the lock: relief must not wait for it while the mode change does I/O. The
        // fence pairs with relief's after a failed `try_lock` (which reads the lock's state).
        self.cell.disk.store(true, Ordering::Relaxed);
        fence(Ordering::Release);
        self.run(Flight::Any, |b| b.reconfigure(cfg), |_| Ending::Hard)
            .0
    }

    /// See [`PreBuffer::set_lead`].
    pub fn set_lead(&self, lead: std::time::Duration) {
        self.run(Flight::Any, |b| b.set_lead(lead), |_| Ending::Relief);
    }

    /// Waits for an operation of this buffer's own in progress, if any; never for another's.
    pub fn stats(&self) -> BufferStats {
        lock(&self.cell.buf).stats()
    }

    /// See [`PreBuffer::set_spool_writer`].
    pub fn set_spool_writer(&self, writer: Arc<dyn SpoolWriter>) {
        lock(&self.cell.buf).set_spool_writer(writer);
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for BufferHandle {
    fn drop(&mut self) {
        let slot = {
            let mut g = lock(&self.pool);
            let slot = g.slots.get_mut(self.index).and_then(Option::take);
            if let Some(s) = &slot {
                g.used = g.used.saturating_sub(s.charge);
                g.count -= 1;
            }
            slot
        };
        drop(slot); // outside the lock; the buffer goes with the handle: payloads freed, spool deleted
    }
}
