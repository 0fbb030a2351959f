//! Moving GOPs between memory and disk: the hybrid budget, pool relief, and live reconfiguration.
//!
//! A GOP lives wholly in memory or wholly in one spool segment. *Demoting* writes a memory GOP to
//! the spool with vectored writes and drops its `Bytes`; *promoting* reads a disk GOP back (one read
//! per contiguous extent). A demoted open GOP keeps growing on disk: its later packets are
//! appended to its segment. Either move happens only after the I/O succeeded, so a failure leaves
//! the GOP where it was.

use super::buffer::{Accept, PreBuffer};
use super::gop::{Gop, Store};
use super::spool::Spool;
use super::stats::Why;
use super::{BufferConfig, BufferError};
use crate::settings::BufferMode;
use crate::time::duration_micros;

impl PreBuffer {
    /// Writes GOP `i` to the spool. No-op for a GOP already on disk.
    pub(crate) fn demote(&mut self, i: usize) -> Result<(), BufferError> {
        if !self.gops.get(i).is_some_and(Gop::is_mem) {
            return Ok(());
        }
        let seg = self.spool_mut()?.segment_for_new_gop()?;
        let Some(g) = self.gops.get_mut(i) else {
            return Ok(());
        };
        let Store::Mem(v) = &g.store else {
            return Ok(());
        };
        let entries = seg.append_gop(self.writer.as_ref(), v)?;
        let n = entries.len() as u64;
        g.store = Store::Disk { seg, entries };
        self.mem_bytes -= g.bytes;
        self.disk_bytes += g.bytes;
        self.disk_entries += n;
        Ok(())
    }

    /// Reads GOP `i` back into memory. No-op for a GOP already in memory.
    pub(crate) fn promote(&mut self, i: usize) -> Result<(), BufferError> {
        let Some(g) = self.gops.get_mut(i) else {
            return Ok(());
        };
        let Store::Disk { seg, entries } = &g.store else {
            return Ok(());
        };
        let mut v = Vec::with_capacity(entries.len());
        seg.read(entries, |e, data| v.push(e.with_data(data)))?;
        let n = v.len() as u64;
        g.store = Store::Mem(v);
        self.disk_bytes -= g.bytes;
        self.disk_entries -= n;
        self.mem_bytes += g.bytes;
        Ok(())
    }

    /// Hybrid: demotes the oldest memory GOPs (the newest too, if it alone is over) until the
    /// memory held fits `hybrid_memory_bytes`. GOPs of packets smaller than
    /// [`super::DISK_ENTRY_CHARGE`] stay: they cost less in memory than indexed on disk.
    pub(crate) fn enforce_hybrid_budget(&mut self) -> Result<(), BufferError> {
        let budget = self.cfg.hybrid_memory_bytes;
        let mut i = 0;
        while self.mem_bytes > budget && i < self.gops.len() {
            if self.gops[i].demotion_helps() {
                if let Err(e) = self.demote(i) {
                    self.c.spool_errors += 1;
                    return Err(e);
                }
            }
            i += 1;
        }
        Ok(())
    }

    /// Whether pool pressure can take something from this buffer without touching its newest GOP.
    pub(crate) fn can_relieve(&self) -> bool {
        self.gops.len() >= 2
            || (self.cfg.mode == BufferMode::Hybrid && self.gops.iter().any(Gop::demotion_helps))
    }

    /// The GOP relief would demote: the oldest memory GOP whose demotion helps (hybrid only), the
    /// newest `spare` GOPs excepted.
    fn relief_demotion(&self, spare: usize) -> Option<usize> {
        if self.cfg.mode != BufferMode::Hybrid {
            return None;
        }
        let n = self.gops.len().saturating_sub(spare);
        self.gops.iter().take(n).position(Gop::demotion_helps)
    }

    /// Whether [`Self::relieve`] would write (a hybrid demotion): the pool runs it with its own lock
    /// released.
    pub(crate) fn relief_writes(&self, spare: usize) -> bool {
        self.relief_demotion(spare).is_some()
    }

    /// Pool pressure: hybrid demotes its oldest memory GOP; otherwise (or when that fails) the
    /// oldest GOP is dropped, never the newest. False when nothing could be done.
    ///
    /// The newest `spare` GOPs are left alone: the pool's relief from another thread while this
    /// buffer's own operation is in flight spares what that operation added to (the newest GOP,
    /// and the one before it when a keyframe started a new one). A hybrid buffer that only has
    /// spared GOPs to demote then gives nothing rather than drop one.
    ///
    /// A dropped GOP goes to `freed`, for the pool to free once its locks are released; a segment
    /// file it was the last to use is kept until this buffer's own next operation unlinks it
    /// (`retired`), so another camera's thread never waits on this camera's disk for that.
    pub(crate) fn relieve(&mut self, freed: &mut Vec<Gop>, spare: usize) -> bool {
        match self.relief_demotion(spare) {
            Some(i) => match self.demote(i) {
                Ok(()) => return true,
                Err(_) => self.c.spool_errors += 1,
            },
            None if spare > 0 && self.relief_demotion(0).is_some() => return false,
            None => {}
        }
        if self.gops.len() < 2.max(spare + 1) {
            return false;
        }
        if let Some(g) = self.pop_front(Why::Pool) {
            if let Store::Disk { seg, .. } = &g.store {
                self.retired.push(seg.clone());
            }
            freed.push(g);
        }
        true
    }

    /// Takes back the packet just pushed (the pool could not make room for it). Its GOP takes no
    /// more packets until the next keyframe.
    pub(crate) fn refuse_last(&mut self) {
        let Some(g) = self.gops.back_mut() else {
            return;
        };
        if g.len() <= 1 {
            if let Some(g) = self.gops.pop_back() {
                self.unaccount(&g);
                self.c.drop(Why::Pool, g.len() as u64, g.bytes);
            }
        } else {
            let len = match &mut g.store {
                Store::Mem(v) => v.pop().map_or(0, |e| {
                    let l = e.data.len() as u64;
                    self.mem_bytes -= l;
                    l
                }),
                Store::Disk { entries, .. } => entries.pop().map_or(0, |e| {
                    self.disk_bytes -= u64::from(e.len);
                    self.disk_entries -= 1;
                    u64::from(e.len)
                }),
            };
            g.bytes -= len;
            self.packets -= 1;
            self.c.drop(Why::Pool, 1, len);
        }
        self.accept = Accept::Broken;
    }

    /// Applies new settings live. A smaller window evicts now; turning `keyframe_only` on thins
    /// the held GOPs now; a mode change moves held GOPs (memory ↔ disk) without losing any.
    ///
    /// A spool directory that can't be created is an error and nothing changes. An I/O error while
    /// moving GOPs is returned with the new settings in effect: GOPs that could not move stay
    /// where they were, and are still flushed correctly.
    pub fn reconfigure(&mut self, cfg: BufferConfig) -> Result<(), BufferError> {
        let spool_ok = matches!(&self.spool, Some(s) if s.dir() == cfg.spool_dir);
        if cfg.mode != BufferMode::Memory && !spool_ok {
            let mut s = Spool::open(&cfg.spool_dir)?;
            s.target = self.segment_target;
            // The old spool's segments live on with the GOPs that reference them.
            self.spool = Some(s);
        }
        let thin_now = cfg.keyframe_only && !self.cfg.keyframe_only;
        self.window_us = duration_micros(cfg.window);
        self.cfg = cfg;
        if thin_now {
            for i in 0..self.gops.len().saturating_sub(1) {
                self.thin(i);
            }
        }
        self.evict_by_window();
        let mut result = Ok(());
        match self.cfg.mode {
            BufferMode::Memory => {
                for i in 0..self.gops.len() {
                    if let Err(e) = self.promote(i) {
                        self.c.spool_errors += 1;
                        result = result.and(Err(e));
                    }
                }
                if self.disk_entries == 0 {
                    self.spool = None;
                }
            }
            BufferMode::Disk => {
                for i in 0..self.gops.len() {
                    if let Err(e) = self.demote(i) {
                        self.c.spool_errors += 1;
                        result = Err(e);
                        break;
                    }
                }
            }
            BufferMode::Hybrid => result = self.enforce_hybrid_budget(),
        }
        result
    }
}
