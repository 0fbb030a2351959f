//! Which motion sources are on, and when each one ends by itself. A source is a (where from,
//! kind) pair: ONVIF's person detection and ONVIF's plain motion are on and off on their own.
//!
//! A source ends by itself at the earlier of its pulse end (`until`) and its latest start plus the
//! motion timeout (cameras lose "off" events). The timeout is read from the config at each check,
//! so a changed `motion_timeout` applies to sources already on.

use std::time::Duration;

use super::types::MotionSource;
use crate::kind::EventKind;
use crate::time::Time;

const SLOTS: usize = MotionSource::ALL.len() * EventKind::ALL.len();

fn slot(source: MotionSource, kind: EventKind) -> usize {
    source.index() * EventKind::ALL.len() + kind.index()
}

/// One source that is on. Shared with [`crate::detections`], which times events the same way.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct SourceOn {
    pub last_start: Time,
    /// Pulse end; `None` = on until an end or the timeout.
    pub until: Option<Time>,
}

impl SourceOn {
    pub fn new(until: Option<Time>, now: Time) -> SourceOn {
        SourceOn {
            last_start: now,
            until,
        }
    }

    /// A repeated start (an ONVIF re-sync, a second pulse) only refreshes the timeout and never
    /// shortens: two pulses end at the later end, and a plain start on top of a pulse (or the
    /// reverse) lasts until an end.
    pub fn restart(&mut self, until: Option<Time>, now: Time) {
        self.last_start = now;
        self.until = match (self.until, until) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }

    /// When this source ends by itself, and whether that is the timeout.
    pub fn ends_at(&self, timeout: Duration) -> (Time, bool) {
        let timeout_at = self.last_start.plus(timeout);
        match self.until {
            Some(until) if until <= timeout_at => (until, false),
            _ => (timeout_at, true),
        }
    }
}

/// How motion ended by itself: the time the last source ended, and whether it timed out.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) struct Expired {
    pub at: Time,
    pub timed_out: bool,
}

#[derive(Clone, Debug)]
pub(super) struct Motion {
    sources: [Option<SourceOn>; SLOTS],
}

impl Default for Motion {
    fn default() -> Self {
        Motion {
            sources: [None; SLOTS],
        }
    }
}

impl Motion {
    pub fn is_active(&self) -> bool {
        self.sources.iter().any(Option::is_some)
    }

    /// Turns `source` on. Returns false when it was already on: a repeated start (an ONVIF re-sync,
    /// a second pulse) only refreshes the timeout and never shortens the motion: two pulses end at
    /// the later end, and a plain start on top of a pulse (or the reverse) lasts until an end.
    pub fn start(
        &mut self,
        source: MotionSource,
        kind: EventKind,
        until: Option<Time>,
        now: Time,
    ) -> bool {
        let slot = &mut self.sources[slot(source, kind)];
        match slot {
            Some(on) => {
                on.restart(until, now);
                false
            }
            None => {
                *slot = Some(SourceOn::new(until, now));
                true
            }
        }
    }

    /// Turns `source` off. Returns false when it was not on.
    pub fn end(&mut self, source: MotionSource, kind: EventKind) -> bool {
        self.sources[slot(source, kind)].take().is_some()
    }

    pub fn clear(&mut self) {
        self.sources = [None; SLOTS];
    }

    /// Ends every source whose own end is at or before `now`. Returns when and how motion ended
    /// if that turned the last source off.
    pub fn expire(&mut self, now: Time, timeout: Duration) -> Option<Expired> {
        let mut last: Option<Expired> = None;
        for slot in &mut self.sources {
            let Some(on) = slot else { continue };
            let (at, timed_out) = on.ends_at(timeout);
            if at <= now {
                *slot = None;
                if !matches!(last, Some(l) if l.at > at) {
                    last = Some(Expired { at, timed_out });
                }
            }
        }
        if self.is_active() {
            None
        } else {
            last
        }
    }

    /// The earliest time a source ends by itself.
    pub fn next_deadline(&self, timeout: Duration) -> Option<Time> {
        self.sources
            .iter()
            .flatten()
            .map(|on| on.ends_at(timeout).0)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(120);

    #[test]
    fn repeated_start_extends_never_shortens() {
        let mut m = Motion::default();
        let t0 = Time::from_secs(100);
        let k = EventKind::Motion;
        assert!(m.start(MotionSource::Api, k, Some(Time::from_secs(130)), t0));
        assert!(!m.start(MotionSource::Api, k, Some(Time::from_secs(110)), t0));
        assert_eq!(m.next_deadline(T), Some(Time::from_secs(130)));
        assert!(!m.start(MotionSource::Api, k, None, t0));
        assert_eq!(m.next_deadline(T), Some(Time::from_secs(220)));
    }

    #[test]
    fn expire_reports_the_last_source_to_end() {
        let mut m = Motion::default();
        let k = EventKind::Motion;
        m.start(MotionSource::Api, k, Some(Time::from_secs(5)), Time::ZERO);
        m.start(MotionSource::Onvif, k, None, Time::ZERO);
        assert_eq!(m.expire(Time::from_secs(6), T), None);
        assert!(m.is_active());
        let e = m.expire(Time::from_secs(500), T);
        assert_eq!(
            e,
            Some(Expired {
                at: Time::from_secs(120),
                timed_out: true
            })
        );
        assert!(!m.is_active());
    }

    #[test]
    fn kinds_of_one_source_are_on_and_off_on_their_own() {
        let mut m = Motion::default();
        let t0 = Time::from_secs(1);
        assert!(m.start(MotionSource::Onvif, EventKind::Motion, None, t0));
        assert!(m.start(MotionSource::Onvif, EventKind::Person, None, t0));
        assert!(m.end(MotionSource::Onvif, EventKind::Motion));
        assert!(m.is_active(), "the person is still there");
        assert!(!m.end(MotionSource::Onvif, EventKind::Motion));
        assert!(m.end(MotionSource::Onvif, EventKind::Person));
        assert!(!m.is_active());
    }
}
