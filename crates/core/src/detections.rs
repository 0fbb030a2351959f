//! A camera's events by kind (docs/events.md): each (source, kind) pair is an event of its own,
//! numbered, from its start to its end. A person seen while motion is on is two overlapping
//! events. Timed like the recorder's motion: a pulse ends at its `until`, anything on ends by
//! itself `motion_timeout` after its latest start (cameras lose "off" messages); a repeated start
//! refreshes the event and never shortens it.
//!
//! Every kind is tracked here, whether or not it records: the driver hands only `record_on`
//! kinds to the recorder as well, and stores every event this reports.

use std::time::Duration;

use crate::kind::{EventKind, KindSet};
use crate::recorder::motion::SourceOn;
use crate::recorder::MotionSource;
use crate::time::Time;

/// An event that is on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Detection {
    pub id: u64,
    pub source: MotionSource,
    pub kind: EventKind,
    /// When it started (monotonic clock).
    pub start: Time,
    on: SourceOn,
}

impl Detection {
    /// A pulse's end, if it is one.
    pub fn until(&self) -> Option<Time> {
        self.on.until
    }
}

/// An event that ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Ended {
    pub id: u64,
    pub source: MotionSource,
    pub kind: EventKind,
    /// When it ended (monotonic clock): the end's arrival, its pulse end or its timeout.
    pub at: Time,
    pub timed_out: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Detections {
    /// Few at once: a list beats a map.
    on: Vec<Detection>,
    last_id: u64,
}

impl Detections {
    /// Turns (source, kind) on. Returns the new event, or `None` when it was on already (then
    /// only refreshed).
    pub fn start(
        &mut self,
        source: MotionSource,
        kind: EventKind,
        until: Option<Time>,
        now: Time,
    ) -> Option<Detection> {
        if let Some(d) = self.find(source, kind) {
            d.on.restart(until, now);
            return None;
        }
        self.last_id += 1;
        let d = Detection {
            id: self.last_id,
            source,
            kind,
            start: now,
            on: SourceOn::new(until, now),
        };
        self.on.push(d);
        Some(d)
    }

    /// Turns (source, kind) off; the event that ended, if it was on.
    pub fn end(&mut self, source: MotionSource, kind: EventKind, now: Time) -> Option<Ended> {
        let i = self
            .on
            .iter()
            .position(|d| d.source == source && d.kind == kind)?;
        let d = self.on.swap_remove(i);
        Some(Ended {
            id: d.id,
            source,
            kind,
            at: now,
            timed_out: false,
        })
    }

    /// Ends every event whose own end (pulse end, timeout) is at or before `now`, oldest end
    /// first.
    pub fn expire(&mut self, now: Time, timeout: Duration) -> Vec<Ended> {
        let mut ended = Vec::new();
        self.on.retain(|d| {
            let (at, timed_out) = d.on.ends_at(timeout);
            if at > now {
                return true;
            }
            ended.push(Ended {
                id: d.id,
                source: d.source,
                kind: d.kind,
                at,
                timed_out,
            });
            false
        });
        ended.sort_by_key(|e| (e.at, e.id));
        ended
    }

    /// Ends every event at `now` (the camera stops).
    pub fn end_all(&mut self, now: Time) -> Vec<Ended> {
        let mut all: Vec<Ended> = self
            .on
            .drain(..)
            .map(|d| Ended {
                id: d.id,
                source: d.source,
                kind: d.kind,
                at: now,
                timed_out: false,
            })
            .collect();
        all.sort_by_key(|e| e.id);
        all
    }

    /// The earliest time an event ends by itself.
    pub fn next_deadline(&self, timeout: Duration) -> Option<Time> {
        self.on.iter().map(|d| d.on.ends_at(timeout).0).min()
    }

    /// The events on now, oldest first.
    pub fn active(&self) -> impl Iterator<Item = &Detection> {
        let mut v: Vec<&Detection> = self.on.iter().collect();
        v.sort_by_key(|d| d.id);
        v.into_iter()
    }

    /// The kinds on now.
    pub fn kinds(&self) -> KindSet {
        self.on.iter().map(|d| d.kind).collect()
    }

    fn find(&mut self, source: MotionSource, kind: EventKind) -> Option<&mut Detection> {
        self.on
            .iter_mut()
            .find(|d| d.source == source && d.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(120);
    const ONVIF: MotionSource = MotionSource::Onvif;

    fn s(x: i64) -> Time {
        Time::from_secs(x)
    }

    #[test]
    fn each_kind_is_its_own_event() {
        let mut d = Detections::default();
        let m = d.start(ONVIF, EventKind::Motion, None, s(1)).unwrap();
        let p = d.start(ONVIF, EventKind::Person, None, s(2)).unwrap();
        assert_ne!(m.id, p.id);
        assert_eq!(
            d.start(ONVIF, EventKind::Person, None, s(3)),
            None,
            "refreshed"
        );
        assert_eq!(d.kinds().names(), ["motion", "person"]);
        let e = d.end(ONVIF, EventKind::Motion, s(4)).unwrap();
        assert_eq!((e.id, e.at, e.timed_out), (m.id, s(4), false));
        assert_eq!(d.kinds().names(), ["person"]);
        assert_eq!(d.end(ONVIF, EventKind::Motion, s(5)), None);
        let a = d
            .start(MotionSource::Api, EventKind::Person, None, s(5))
            .unwrap();
        assert_eq!(
            d.active().map(|x| x.id).collect::<Vec<_>>(),
            [p.id, a.id],
            "one event per source too"
        );
    }

    #[test]
    fn pulses_and_timeouts_end_by_themselves() {
        let mut d = Detections::default();
        let line = d
            .start(ONVIF, EventKind::LineCrossing, Some(s(15)), s(10))
            .unwrap();
        assert_eq!(line.until(), Some(s(15)));
        // A second crossing before the first pulse ended: one event, ending later.
        assert_eq!(
            d.start(ONVIF, EventKind::LineCrossing, Some(s(17)), s(12)),
            None
        );
        let person = d.start(ONVIF, EventKind::Person, None, s(10)).unwrap();
        assert_eq!(d.next_deadline(T), Some(s(17)));
        assert!(d.expire(s(16), T).is_empty());
        let e = d.expire(s(17), T);
        assert_eq!(e.len(), 1);
        assert_eq!((e[0].id, e[0].at, e[0].timed_out), (line.id, s(17), false));
        let e = d.expire(s(1000), T);
        assert_eq!(
            (e[0].id, e[0].at, e[0].timed_out),
            (person.id, s(130), true)
        );
        assert!(d.kinds().is_empty());
    }

    #[test]
    fn end_all_ends_everything_at_once() {
        let mut d = Detections::default();
        d.start(ONVIF, EventKind::Motion, None, s(1));
        d.start(ONVIF, EventKind::Sound, Some(s(9)), s(1));
        let e = d.end_all(s(3));
        assert_eq!(e.len(), 2);
        assert!(e.iter().all(|x| x.at == s(3) && !x.timed_out));
        assert_eq!(d.next_deadline(T), None);
    }
}
