//! What a camera saw: the kind of an event (docs/events.md), and sets of kinds.
//!
//! Every event has one kind. Plain motion is [`EventKind::Motion`]; a camera's own analytics
//! (ONVIF) add person, vehicle, line crossing, ... Per camera, `record_on` (a [`KindSet`]) says
//! which kinds open or extend a clip; every kind is stored as an event all the same.

use std::fmt;
use std::str::FromStr;

#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Motion,
    Person,
    Vehicle,
    Animal,
    Face,
    Package,
    LineCrossing,
    Intrusion,
    Tamper,
    Sound,
    /// A digital input (a door contact, a doorbell button wired to the camera).
    Input,
}

impl EventKind {
    pub const ALL: [EventKind; 11] = [
        EventKind::Motion,
        EventKind::Person,
        EventKind::Vehicle,
        EventKind::Animal,
        EventKind::Face,
        EventKind::Package,
        EventKind::LineCrossing,
        EventKind::Intrusion,
        EventKind::Tamper,
        EventKind::Sound,
        EventKind::Input,
    ];

    /// The name used in the config file, the API, MQTT topics and the catalog.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Motion => "motion",
            EventKind::Person => "person",
            EventKind::Vehicle => "vehicle",
            EventKind::Animal => "animal",
            EventKind::Face => "face",
            EventKind::Package => "package",
            EventKind::LineCrossing => "line_crossing",
            EventKind::Intrusion => "intrusion",
            EventKind::Tamper => "tamper",
            EventKind::Sound => "sound",
            EventKind::Input => "input",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Every kind's name, comma-separated (for error messages).
    pub fn names() -> String {
        EventKind::ALL.map(EventKind::as_str).join(", ")
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is no kind; the message lists the kinds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event kind {0:?}: expected one of {kinds}", kinds = EventKind::names())]
pub struct UnknownKind(pub String);

impl FromStr for EventKind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, UnknownKind> {
        EventKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

/// A set of kinds (a bit each).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Default)]
pub struct KindSet(u16);

impl KindSet {
    pub const EMPTY: KindSet = KindSet(0);

    /// Every kind but [`EventKind::Input`]: the default `record_on` (a door contact alone is
    /// rarely worth a clip; motion that comes with it is).
    pub fn default_record_on() -> KindSet {
        let mut s = KindSet::all();
        s.remove(EventKind::Input);
        s
    }

    pub fn all() -> KindSet {
        EventKind::ALL.into_iter().collect()
    }

    pub fn contains(self, k: EventKind) -> bool {
        self.0 & (1 << k.index()) != 0
    }

    pub fn insert(&mut self, k: EventKind) {
        self.0 |= 1 << k.index();
    }

    pub fn remove(&mut self, k: EventKind) {
        self.0 &= !(1 << k.index());
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// In [`EventKind::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = EventKind> {
        EventKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }

    /// The names, in [`EventKind::ALL`] order.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(EventKind::as_str).collect()
    }

    /// Parses names; a repeated name is allowed, an unknown one is refused.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<KindSet, UnknownKind> {
        let mut s = KindSet::EMPTY;
        for n in names {
            s.insert(n.trim().parse()?);
        }
        Ok(s)
    }
}

impl FromIterator<EventKind> for KindSet {
    fn from_iter<I: IntoIterator<Item = EventKind>>(iter: I) -> Self {
        let mut s = KindSet::EMPTY;
        for k in iter {
            s.insert(k);
        }
        s
    }
}

impl fmt::Debug for KindSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(k.as_str().parse::<EventKind>().unwrap(), k);
        }
        let e = "people".parse::<EventKind>().unwrap_err();
        assert!(e.to_string().contains("line_crossing"), "{e}");
        assert!(e.to_string().contains("\"people\""), "{e}");
    }

    #[test]
    fn sets() {
        let d = KindSet::default_record_on();
        assert!(d.contains(EventKind::Person) && !d.contains(EventKind::Input));
        assert_eq!(d.iter().count(), 10);
        let s = KindSet::parse(["person", "vehicle", "person"]).unwrap();
        assert_eq!(s.names(), ["person", "vehicle"]);
        assert!(KindSet::parse(["person", "ghost"]).is_err());
        assert!(KindSet::EMPTY.is_empty());
        assert_eq!(format!("{s:?}"), "{Person, Vehicle}");
    }
}
