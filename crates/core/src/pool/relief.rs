//! Making room: the pool's accounting (`Inner`, under the pool lock), what it reads of each buffer
//! without that lock (`Cell`), and the relief that keeps `used ≤ limit`. The rules, and who may
//! wait for which lock, are in the `pool` module docs.

use std::sync::atomic::{fence, AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};

use smallvec::SmallVec;

use crate::prebuffer::{Gop, PreBuffer, Why};

/// One buffer and what the pool reads of it without the pool lock.
pub(super) struct Cell {
    pub(super) buf: Mutex<PreBuffer>,
    /// Serializes the handle's own operations (push, flush, clear, reconfigure).
    pub(super) op: Mutex<()>,
    /// What an operation of the handle in progress may have changed before the pool knows
    /// ([`Flight`]): relief from elsewhere must leave that alone.
    pub(super) in_flight: AtomicU8,
    /// [`PreBuffer::can_relieve`] as of the buffer's last change.
    pub(super) relievable: AtomicBool,
    /// Whether its lock may be held across spool I/O ([`PreBuffer::touches_disk`], or a
    /// reconfiguration in progress). Relief waits for a busy buffer's lock only when not.
    pub(super) disk: AtomicBool,
}

pub(super) type Shared = Arc<Cell>;

/// What an operation in progress may have changed before the pool knows (`Cell::in_flight`).
#[derive(Copy, Clone, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum Flight {
    Idle,
    /// A packet added to the newest GOP (a push; a flush or a clear only takes away).
    Newest,
    /// A keyframe that started a new GOP: the GOP before it was the newest until then.
    NewGop,
    /// Any GOP's charge (a reconfiguration moves GOPs between memory and disk).
    Any,
}

impl Flight {
    pub(super) fn of(cell: &Cell) -> Flight {
        match cell.in_flight.load(Ordering::Relaxed) {
            0 => Flight::Idle,
            1 => Flight::Newest,
            2 => Flight::NewGop,
            _ => Flight::Any,
        }
    }

    /// How many of the newest GOPs relief from elsewhere leaves alone.
    fn spare(self) -> usize {
        match self {
            Flight::Idle => 0,
            Flight::Newest => 1,
            Flight::NewGop | Flight::Any => 2,
        }
    }

    pub(super) fn set(self, cell: &Cell) {
        cell.in_flight.store(self as u8, Ordering::Relaxed);
    }
}

pub(super) struct Slot {
    pub(super) name: String,
    pub(super) cell: Shared,
    /// The buffer's charge as the pool knows it; `used` is the sum of these.
    pub(super) charge: u64,
}

/// How relief sees a buffer.
#[derive(Copy, Clone)]
struct Candidate {
    charge: u64,
    relievable: bool,
}

pub(super) struct Inner {
    pub(super) limit: u64,
    pub(super) used: u64,
    pub(super) peak: u64,
    pub(super) slots: Vec<Option<Slot>>,
    pub(super) count: usize,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while holding a lock leaves consistent counters (every update is a
    // before/after delta), so carry on.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The lock, if nobody holds it.
pub(super) fn try_lock<T>(m: &Mutex<T>) -> Option<MutexGuard<'_, T>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// Runs `f` on a buffer (its lock held): its result, and how much the buffer's charge changed.
pub(super) fn change<R>(
    cell: &Cell,
    b: &mut PreBuffer,
    f: impl FnOnce(&mut PreBuffer) -> R,
) -> (R, i128) {
    let before = b.charged();
    let r = f(b);
    cell.relievable.store(b.can_relieve(), Ordering::Relaxed);
    cell.disk.store(b.touches_disk(), Ordering::Relaxed);
    (r, i128::from(b.charged()) - i128::from(before))
}

impl Inner {
    /// Slot `i`, if it still holds `cell` (a slot is reused once its handle is dropped).
    pub(super) fn slot(&mut self, i: usize, cell: &Shared) -> Option<&mut Slot> {
        self.slots
            .get_mut(i)
            .and_then(Option::as_mut)
            .filter(|s| Arc::ptr_eq(&s.cell, cell))
    }

    fn charge(&self, i: usize) -> u64 {
        self.slots
            .get(i)
            .and_then(Option::as_ref)
            .map_or(0, |s| s.charge)
    }

    /// Whether buffer `i`'s charge can grow by `delta` within the limit (a shrinking one always
    /// can).
    pub(super) fn fits(&self, delta: i128) -> bool {
        delta <= 0 || i128::from(self.used) + delta <= i128::from(self.limit)
    }

    /// Applies a change of buffer `i`'s charge.
    pub(super) fn publish(&mut self, i: usize, cell: &Shared, delta: i128) {
        let Some(s) = self.slot(i, cell) else {
            return;
        };
        // Never below zero: relief from elsewhere only takes what the pool already counted.
        let sum = i128::from(s.charge) + delta;
        debug_assert!(sum >= 0, "buffer {i} charged {} {delta:+}", s.charge);
        let after = u64::try_from(sum.max(0)).unwrap_or(u64::MAX);
        let before = std::mem::replace(&mut s.charge, after);
        self.used = self.used.saturating_sub(before).saturating_add(after);
        self.peak = self.peak.max(self.used);
    }

    /// The buffer furthest above its fair share among those `can` accepts. `own` stands in for
    /// the slot of the buffer whose operation is ending (with its change not yet published).
    fn furthest_above(
        &self,
        own: Option<(usize, Candidate)>,
        can: impl Fn(usize, Candidate) -> bool,
    ) -> Option<usize> {
        let fair = i128::from(self.limit / self.count.max(1) as u64);
        let mut best: Option<(usize, i128)> = None;
        for (i, s) in self.slots.iter().enumerate() {
            let Some(s) = s else { continue };
            let c = match own {
                Some((o, c)) if o == i => c,
                _ => Candidate {
                    charge: s.charge,
                    relievable: s.cell.relievable.load(Ordering::Relaxed),
                },
            };
            if !can(i, c) {
                continue;
            }
            let excess = i128::from(c.charge) - fair;
            match best {
                Some((_, e)) if e >= excess => {}
                _ => best = Some((i, excess)),
            }
        }
        best.map(|(i, _)| i)
    }
}

/// What the end of an operation may do to make room for the buffer's new charge.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(super) enum Ending {
    /// A push whose packet was held: relief, then the packet is taken back.
    Push,
    /// Relief only (flush, clear and a refused packet never grow the charge).
    Relief,
    /// Relief, then whole buffers' content (a reconfiguration, a lowered limit).
    Hard,
}

/// The buffer whose operation is ending: its op lock is held, its buffer lock is not.
pub(super) struct Own<'a> {
    pub(super) index: usize,
    pub(super) cell: &'a Shared,
    /// Its change of charge so far, not yet published.
    pub(super) delta: i128,
}

type Passed = SmallVec<[usize; 8]>;

/// Makes room and publishes `own`'s change (with no `own`: brings `used` under the limit). See the
/// module docs. Returns whether the pushed packet was taken back. Called with no buffer lock held;
/// GOPs dropped go to `freed`, for the caller to free once every lock is released.
pub(super) fn enforce(
    pool: &Mutex<Inner>,
    mut own: Option<Own<'_>>,
    ending: Ending,
    freed: &mut Vec<Gop>,
) -> bool {
    let mut g = lock(pool);
    // Buffers that had nothing more to give, or were busy.
    let mut passed = Passed::new();
    let (mut refused, mut hard) = (false, false);
    loop {
        let fits = match &own {
            Some(o) => g.fits(o.delta),
            None => g.used <= g.limit,
        };
        if fits {
            break;
        }
        let me = own.as_ref().map(|o| {
            let charge = i128::from(g.charge(o.index)) + o.delta;
            let c = Candidate {
                charge: u64::try_from(charge.max(0)).unwrap_or(u64::MAX),
                relievable: o.cell.relievable.load(Ordering::Relaxed),
            };
            (o.index, c)
        });
        let victim = g.furthest_above(me, |i, c| {
            !passed.contains(&i) && if hard { c.charge > 0 } else { c.relievable }
        });
        match (victim, &mut own) {
            (Some(v), Some(o)) if v == o.index => {
                let delta;
                (g, delta) = relieve_own(pool, g, o.cell, hard, freed);
                o.delta += delta;
                if delta >= 0 {
                    passed.push(v);
                }
            }
            (Some(v), _) => {
                // Only a caller holding no lock at all (set_limit) waits for a busy buffer.
                let wait = own.is_none();
                g = relieve_other(pool, g, v, hard, wait, &mut passed, freed);
            }
            (None, Some(o)) if ending == Ending::Push && !refused => {
                drop(g);
                let mut b = lock(&o.cell.buf);
                o.delta += change(o.cell, &mut b, PreBuffer::refuse_last).1;
                drop(b);
                g = lock(pool);
                refused = true;
            }
            (None, _) if ending == Ending::Hard && !hard => {
                hard = true;
                passed.clear();
            }
            // What is left is newest GOPs, or held by busy buffers.
            (None, _) => break,
        }
    }
    if let Some(o) = &own {
        g.publish(o.index, o.cell, o.delta);
    }
    refused
}

/// Relieves the buffer whose operation is ending (all its content goes, when `hard`); its change
/// is the caller's to publish. A demotion writes, and a busy buffer lock is waited for, with the
/// pool lock released.
fn relieve_own<'p>(
    pool: &'p Mutex<Inner>,
    g: MutexGuard<'p, Inner>,
    cell: &Cell,
    hard: bool,
    freed: &mut Vec<Gop>,
) -> (MutexGuard<'p, Inner>, i128) {
    let relieve = |b: &mut PreBuffer| {
        if hard {
            freed.extend(b.take_all(Why::Pool));
        } else {
            b.relieve(freed, 0);
        }
    };
    if let Some(mut b) = try_lock(&cell.buf) {
        if hard || !b.relief_writes(0) {
            let ((), delta) = change(cell, &mut b, relieve);
            return (g, delta);
        }
    }
    drop(g);
    let mut b = lock(&cell.buf);
    let ((), delta) = change(cell, &mut b, relieve);
    drop(b);
    (lock(pool), delta)
}

/// Relieves buffer `v` (all its content goes, when `hard`) and publishes its change; `v` joins
/// `passed` when nothing could be taken.
///
/// Its lock: taken if free; waited for if the buffer never holds it across I/O (busy for a
/// moment, and its holder never waits for the pool lock); otherwise the buffer is passed over. If
/// its own operation is in flight, what that changed isn't counted yet: relief spares the newest
/// GOPs (where a push adds, and the GOP that was newest until a pushed keyframe), and passes over
/// a buffer whose operation may have changed any GOP (a reconfiguration) or when it would take
/// everything. With `wait` (set_limit, which holds no other
/// lock) such a buffer is waited for instead, its operation done, with the pool lock released. A
/// demotion writes with the pool lock released; nobody takes the pool lock back while holding a
/// buffer's.
fn relieve_other<'p>(
    pool: &'p Mutex<Inner>,
    mut g: MutexGuard<'p, Inner>,
    v: usize,
    hard: bool,
    wait: bool,
    passed: &mut Passed,
    freed: &mut Vec<Gop>,
) -> MutexGuard<'p, Inner> {
    let Some(cell) = g
        .slots
        .get(v)
        .and_then(Option::as_ref)
        .map(|s| s.cell.clone())
    else {
        passed.push(v);
        return g;
    };
    let mut relieve = |b: &mut PreBuffer, spare: usize| {
        change(&cell, b, |b| {
            if hard {
                freed.extend(b.take_all(Why::Pool));
                true
            } else {
                b.relieve(freed, spare)
            }
        })
    };
    let now = try_lock(&cell.buf).or_else(|| {
        fence(Ordering::Acquire); // sees a reconfiguration's flag, set before it took the lock
        let cpu_only = !cell.disk.load(Ordering::Relaxed);
        cpu_only.then(|| lock(&cell.buf))
    });
    let (op, mut b, spare) = match now {
        Some(mut b) => {
            // Read under the buffer's lock: an operation sets it before taking that lock.
            let flight = Flight::of(&cell);
            let spare = flight.spare();
            if flight == Flight::Any || (hard && flight != Flight::Idle) {
                drop(b);
                if !wait {
                    passed.push(v);
                    return g;
                }
                drop(g);
                let op = lock(&cell.op);
                (Some(op), lock(&cell.buf), 0)
            } else if hard || !b.relief_writes(spare) {
                let (relieved, delta) = relieve(&mut b, spare);
                g.publish(v, &cell, delta);
                if !relieved || delta >= 0 {
                    passed.push(v);
                }
                return g;
            } else {
                // A demotion: written with the pool lock released.
                drop(g);
                (None, b, spare)
            }
        }
        None if wait => {
            drop(g);
            // Its operation done, and no other starting: nothing in flight.
            let op = lock(&cell.op);
            (Some(op), lock(&cell.buf), 0)
        }
        None => {
            passed.push(v);
            return g;
        }
    };
    let (relieved, delta) = relieve(&mut b, spare);
    drop(b);
    let mut g = lock(pool);
    g.publish(v, &cell, delta);
    drop(op);
    if !relieved || delta >= 0 {
        passed.push(v);
    }
    g
}
