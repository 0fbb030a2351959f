//! What a camera reports, and the one stream of it that everyone else subscribes to.
//!
//! A camera's worker, its stream and its event client report [`Notice`]s: recorder state changes,
//! motion on/off with its source, clips opened / started (pre-roll known) / closed, write
//! failures, the stream going up or down, the event client's health. They are published once on
//! the [`NoticeBus`]; the catalog writer, and later MQTT, webhooks and the UI's live updates,
//! each hold a [`Subscription`].
//!
//! Two promises, kept by construction:
//! - **A slow subscriber never stalls a camera.** Publishing never blocks: an ordinary
//!   subscription has a bounded queue, and a notice that finds it full is dropped *for that
//!   subscriber only* and counted ([`SubscriberStats::dropped`], `/metrics`).
//! - **The catalog never loses a notice.** Its subscription is [`NoticeBus::subscribe_lossless`]:
//!   an unbounded queue (notices are a few per motion event, never per packet, so it only grows
//!   while the catalog's disk is slower than the cameras' events). At shutdown the runtime stops
//!   the cameras first, then closes the bus; a subscriber reads every queued notice before its
//!   `recv` says the stream ended.
//!
//! This module imports nothing of the camera's internals: the catalog and the notifiers depend
//! on it, not on `camera`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};

use serde::Serialize;
use tokio::sync::mpsc;
use vigil_core::kind::EventKind;
use vigil_core::recorder::{MotionSource, State};
use vigil_core::time::Time;

use crate::clips::ClipRecord;

/// Something a camera did or had happen to it. Every time in it is a wall-clock label
/// (docs/time.md): notices are for people and records, never for deadlines.
#[derive(Debug, Clone)]
pub enum Notice {
    /// The camera set started the camera (its worker, source and event client).
    Started {
        at: Time,
    },
    /// The camera set stopped the camera; every notice of its worker came before this one.
    Stopped {
        at: Time,
    },
    /// The camera was taken out of the set for good (after its `Stopped`), not restarted:
    /// whatever announced it (Home Assistant's device) goes away.
    Removed {
        at: Time,
    },
    /// Its recording settings changed (the API, MQTT): whether motion recording is on, and
    /// which kinds record.
    Configured {
        enabled: bool,
        record_on: vigil_core::kind::KindSet,
        at: Time,
    },
    /// The recorder's state changed.
    State {
        from: State,
        to: State,
        at: Time,
    },
    MotionStarted {
        /// The recorder's event number (per run of the camera's worker).
        event: u64,
        source: MotionSource,
        at: Time,
        /// The camera's own time for it, when the source gave one.
        camera_time: Option<Time>,
    },
    /// Another source reported motion during an event: the same clip goes on.
    MotionOverlap {
        event: u64,
        source: MotionSource,
        at: Time,
    },
    MotionEnded {
        event: u64,
        /// The source of the event (the one that started it).
        source: MotionSource,
        at: Time,
        /// No "motion off" came: the source's motion timeout ended it.
        timed_out: bool,
        camera_time: Option<Time>,
    },
    /// An event of one kind began (docs/events.md): every kind, recording or not. `id` numbers
    /// the camera's events from 1 at each start of the camera.
    EventStarted {
        id: u64,
        kind: EventKind,
        source: MotionSource,
        at: Time,
        camera_time: Option<Time>,
    },
    EventEnded {
        id: u64,
        kind: EventKind,
        source: MotionSource,
        at: Time,
        timed_out: bool,
        camera_time: Option<Time>,
    },
    ClipOpened(ClipRecord),
    /// The pre-roll is in the clip: its start (first frame) and achieved pre-roll are known.
    ClipStarted(ClipRecord),
    ClipClosed(ClipRecord),
    /// A clip closed with no video frame in it; its file was removed.
    ClipDiscarded(ClipRecord),
    /// Writing a clip failed (a full disk, an I/O error); the clip was closed valid.
    WriteFailed {
        at: Time,
        message: String,
    },
    /// The camera's stream came up (`up`) or went away (`detail` says why).
    Stream {
        up: bool,
        at: Time,
        detail: Option<String>,
    },
    /// The camera's motion-event client (ONVIF) changed state: `connecting`, `subscribed`,
    /// `backoff` or `stopped`; `error` is the last failure, if any.
    EventClient {
        state: &'static str,
        at: Time,
        error: Option<String>,
    },
}

/// A notice as published: which camera, and its place in the bus's order.
#[derive(Debug)]
pub struct CameraNotice {
    pub camera: Arc<str>,
    /// Unique, from 1, in the order notices were published (one camera's worker publishes in
    /// order; notices of different threads may reach a queue a little out of `seq` order).
    pub seq: u64,
    pub notice: Notice,
}

/// A subscriber's figures, as `/metrics` shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriberStats {
    pub name: String,
    pub lossless: bool,
    /// Notices put in its queue.
    pub delivered: u64,
    /// Notices it lost because its queue was full (always 0 when lossless).
    pub dropped: u64,
    /// Notices waiting in its queue.
    pub queued: u64,
}

enum Tx {
    Bounded(mpsc::Sender<Arc<CameraNotice>>),
    Lossless(mpsc::UnboundedSender<Arc<CameraNotice>>),
}

enum Rx {
    Bounded(mpsc::Receiver<Arc<CameraNotice>>),
    Lossless(mpsc::UnboundedReceiver<Arc<CameraNotice>>),
}

/// A subscriber as the bus holds it. The sender lives here only, so that [`NoticeBus::close`]
/// (which drops these) ends every subscription's stream.
struct Subscriber {
    id: u64,
    tx: Tx,
    counters: Arc<Counters>,
}

/// A subscriber's figures, shared by the bus and the subscription.
struct Counters {
    name: String,
    lossless: bool,
    delivered: AtomicU64,
    dropped: AtomicU64,
    received: AtomicU64,
}

#[derive(Default)]
struct BusInner {
    subs: RwLock<Vec<Arc<Subscriber>>>,
    seq: AtomicU64,
    next_id: AtomicU64,
    closed: AtomicBool,
}

/// The stream of every camera's notices. Clones share it.
#[derive(Clone, Default)]
pub struct NoticeBus {
    inner: Arc<BusInner>,
}

impl NoticeBus {
    pub fn new() -> NoticeBus {
        NoticeBus::default()
    }

    /// Publishes `notice` of `camera` to every subscriber. Never blocks (module docs).
    pub fn publish(&self, camera: &str, notice: Notice) {
        let subs = self
            .inner
            .subs
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let seq = self.inner.seq.fetch_add(1, Ordering::Relaxed) + 1;
        if subs.is_empty() {
            return;
        }
        let n = Arc::new(CameraNotice {
            camera: camera.into(),
            seq,
            notice,
        });
        for s in subs.iter() {
            let ok = match &s.tx {
                Tx::Bounded(tx) => tx.try_send(n.clone()).is_ok(),
                Tx::Lossless(tx) => tx.send(n.clone()).is_ok(),
            };
            let c = &s.counters;
            if ok {
                c.delivered.fetch_add(1, Ordering::Relaxed);
            } else {
                // Full, or the subscription is being dropped this very moment.
                c.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Notices published so far.
    pub fn published(&self) -> u64 {
        self.inner.seq.load(Ordering::Relaxed)
    }

    /// A subscription with room for `capacity` notices; past that, notices are dropped for it
    /// and counted. `name` identifies it in `/metrics`.
    pub fn subscribe(&self, name: &str, capacity: usize) -> Subscription {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        self.add(name, Tx::Bounded(tx), Rx::Bounded(rx))
    }

    /// A subscription that gets every notice (unbounded queue): for the catalog only.
    pub fn subscribe_lossless(&self, name: &str) -> Subscription {
        let (tx, rx) = mpsc::unbounded_channel();
        self.add(name, Tx::Lossless(tx), Rx::Lossless(rx))
    }

    fn add(&self, name: &str, tx: Tx, rx: Rx) -> Subscription {
        let counters = Arc::new(Counters {
            name: name.to_owned(),
            lossless: matches!(tx, Tx::Lossless(_)),
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            received: AtomicU64::new(0),
        });
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let mut subs = self
            .inner
            .subs
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock `close` takes: a subscription made after the close ends at once
        // (its sender is dropped right here).
        if !self.inner.closed.load(Ordering::Relaxed) {
            subs.push(Arc::new(Subscriber {
                id,
                tx,
                counters: counters.clone(),
            }));
        }
        Subscription {
            rx,
            id,
            counters,
            bus: Arc::downgrade(&self.inner),
        }
    }

    /// Ends the stream: every subscriber reads what is queued, then `None`. Publishing after
    /// this reaches no one.
    pub fn close(&self) {
        let mut subs = self
            .inner
            .subs
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        self.inner.closed.store(true, Ordering::Relaxed);
        subs.clear();
    }

    /// Every current subscriber's figures, in subscription order.
    pub fn stats(&self) -> Vec<SubscriberStats> {
        let subs = self
            .inner
            .subs
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        subs.iter().map(|s| s.counters.stats()).collect()
    }
}

impl Counters {
    fn stats(&self) -> SubscriberStats {
        let delivered = self.delivered.load(Ordering::Relaxed);
        SubscriberStats {
            name: self.name.clone(),
            lossless: self.lossless,
            delivered,
            dropped: self.dropped.load(Ordering::Relaxed),
            queued: delivered.saturating_sub(self.received.load(Ordering::Relaxed)),
        }
    }
}

/// One subscriber's end of the stream. Dropping it unsubscribes.
pub struct Subscription {
    rx: Rx,
    id: u64,
    counters: Arc<Counters>,
    bus: Weak<BusInner>,
}

impl Subscription {
    /// The next notice; `None` once the bus is closed and the queue is empty.
    pub async fn recv(&mut self) -> Option<Arc<CameraNotice>> {
        let n = match &mut self.rx {
            Rx::Bounded(rx) => rx.recv().await,
            Rx::Lossless(rx) => rx.recv().await,
        };
        self.got(n)
    }

    /// [`Subscription::recv`] for a plain thread. Panics if called on an async runtime's thread.
    pub fn blocking_recv(&mut self) -> Option<Arc<CameraNotice>> {
        let n = match &mut self.rx {
            Rx::Bounded(rx) => rx.blocking_recv(),
            Rx::Lossless(rx) => rx.blocking_recv(),
        };
        self.got(n)
    }

    /// The next notice if one is queued.
    pub fn try_recv(&mut self) -> Option<Arc<CameraNotice>> {
        let n = match &mut self.rx {
            Rx::Bounded(rx) => rx.try_recv().ok(),
            Rx::Lossless(rx) => rx.try_recv().ok(),
        };
        self.got(n)
    }

    fn got(&self, n: Option<Arc<CameraNotice>>) -> Option<Arc<CameraNotice>> {
        if n.is_some() {
            self.counters.received.fetch_add(1, Ordering::Relaxed);
        }
        n
    }

    pub fn stats(&self) -> SubscriberStats {
        self.counters.stats()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(bus) = self.bus.upgrade() {
            let mut subs = bus.subs.write().unwrap_or_else(PoisonError::into_inner);
            subs.retain(|s| s.id != self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(at: i64) -> Notice {
        Notice::Started { at: Time(at) }
    }

    #[test]
    fn a_full_queue_drops_for_that_subscriber_only_and_counts() {
        let bus = NoticeBus::new();
        let mut slow = bus.subscribe("slow", 2);
        let mut all = bus.subscribe_lossless("catalog");
        for i in 0..10 {
            bus.publish("cam", started(i));
        }
        let s = slow.stats();
        assert_eq!((s.delivered, s.dropped, s.queued), (2, 8, 2));
        let mut seen = Vec::new();
        while let Some(n) = all.try_recv() {
            seen.push(n.seq);
        }
        assert_eq!(
            seen,
            (1..=10).collect::<Vec<_>>(),
            "lossless: every notice, in order"
        );
        assert_eq!(all.stats().dropped, 0);
        // The slow one keeps the oldest two; once it reads, new notices get in again.
        assert_eq!(slow.try_recv().map(|n| n.seq), Some(1));
        bus.publish("cam", started(11));
        assert_eq!(slow.try_recv().map(|n| n.seq), Some(2));
        assert_eq!(slow.try_recv().map(|n| n.seq), Some(11));
        assert_eq!(slow.stats().queued, 0);
    }

    #[test]
    fn close_lets_subscribers_drain_then_ends_them() {
        let bus = NoticeBus::new();
        let mut sub = bus.subscribe_lossless("catalog");
        bus.publish("a", started(1));
        bus.publish("b", started(2));
        bus.close();
        bus.publish("c", started(3));
        let got: Vec<_> = std::iter::from_fn(|| sub.blocking_recv())
            .map(|n| n.camera.to_string())
            .collect();
        assert_eq!(got, ["a", "b"]);
        let mut late = bus.subscribe("late", 4);
        assert!(
            late.blocking_recv().is_none(),
            "a subscription after close ends at once"
        );
    }

    #[test]
    fn dropping_a_subscription_unsubscribes() {
        let bus = NoticeBus::new();
        let sub = bus.subscribe("ui", 4);
        assert_eq!(bus.stats().len(), 1);
        drop(sub);
        assert!(bus.stats().is_empty());
        bus.publish("cam", started(1));
        assert_eq!(bus.published(), 1);
    }
}
