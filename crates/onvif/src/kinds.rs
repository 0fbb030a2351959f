//! What an ONVIF notification says the camera saw: event kinds (docs/events.md) and whether each
//! is on, off or a pulse (docs/onvif.md, "Kinds").
//!
//! Matching is on the topic path's local names, whatever the namespace prefixes, with vendor
//! segments anywhere in the path (`tns1:RuleEngine/tnshik:LineDetector/...`). A kind comes from:
//!
//! 1. a configured topic (`onvif_topics`, `KIND=TOPIC[#ITEM]`), or the default motion topics;
//! 2. the topic itself (a segment such as `PeopleDetect`, `LineDetector`, `TamperDetector`,
//!    `DetectedSound`, `DigitalInput`, `MotionAlarm`);
//! 3. a Data item's name (`IsPeople`, `IsVehicle`, `IsPet`, `IsLineCross`, `IsTamper`, ...:
//!    Tapo's `TPSmartEvent`, one message per class);
//! 4. a Data item's value listing classes (`ClassTypes="Human Vehicle"`, Axis Object Analytics'
//!    `classTypes="human"`): several kinds at once; an empty list ends every kind this
//!    topic and source turned on ([`Classified::clear`]).
//!
//! The state is the message's boolean item (`IsMotion`, `State`, `Value`, `active`, `IsInside`,
//! the `Is…` item that named the kind, ...: `true`/`1`/`True`), off when the message is a
//! `Deleted`. A message with no state is a pulse when it is an event (no PropertyOperation, or a
//! kind that never has an "off": a line crossed, a plate read), and says nothing otherwise.
//! Housekeeping (processor usage, reboots, storage, recording jobs, day/night, ...) matches none of
//! the above and gives nothing. Never panics on any input.

use vigil_core::kind::EventKind;

use crate::notification::{NotificationMessage, PropertyOperation};
use crate::topics::{parse_bool, MotionMatcher, MOTION_ITEMS};

/// How a notification leaves one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KindState {
    On,
    Off,
    /// An event with no "off": on for the camera's `pulse_secs`.
    Pulse,
}

/// The kinds one notification speaks of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Classified {
    pub kinds: Vec<(EventKind, KindState)>,
    /// Every kind this topic and source turned on is off (an empty class list).
    pub clear: bool,
}

impl Classified {
    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty() && !self.clear
    }

    fn push(&mut self, kind: EventKind, state: KindState) {
        if !self.kinds.iter().any(|(k, _)| *k == kind) {
            self.kinds.push((kind, state));
        }
    }
}

/// Topic segments (local names, lower case) that name a kind. The first match along the path,
/// from its end, wins: `RuleEngine/FieldDetector/ObjectsInside` is intrusion.
const TOPIC_WORDS: &[(&str, EventKind)] = &[
    // People.
    ("peopledetect", EventKind::Person),
    ("persondetect", EventKind::Person),
    ("humandetect", EventKind::Person),
    ("peopledetection", EventKind::Person),
    ("persondetection", EventKind::Person),
    ("humandetection", EventKind::Person),
    ("humanshapedetection", EventKind::Person),
    ("person", EventKind::Person),
    ("people", EventKind::Person),
    ("human", EventKind::Person),
    // Vehicles and plates.
    ("vehicledetect", EventKind::Vehicle),
    ("vehicledetection", EventKind::Vehicle),
    ("vehicledetector", EventKind::Vehicle),
    ("vehicle", EventKind::Vehicle),
    ("licenseplate", EventKind::Vehicle),
    ("licenseplatedetector", EventKind::Vehicle),
    ("platerecognition", EventKind::Vehicle),
    ("anpr", EventKind::Vehicle),
    // Animals.
    ("dogcatdetect", EventKind::Animal),
    ("petdetect", EventKind::Animal),
    ("animaldetect", EventKind::Animal),
    ("animaldetection", EventKind::Animal),
    ("animal", EventKind::Animal),
    ("pet", EventKind::Animal),
    // Faces.
    ("facedetect", EventKind::Face),
    ("facedetection", EventKind::Face),
    ("facedetector", EventKind::Face),
    ("facerecognition", EventKind::Face),
    ("face", EventKind::Face),
    // Parcels.
    ("packagedetect", EventKind::Package),
    ("packagedetection", EventKind::Package),
    ("package", EventKind::Package),
    ("parcel", EventKind::Package),
    // Lines.
    ("linedetector", EventKind::LineCrossing),
    ("linedetection", EventKind::LineCrossing),
    ("linecrossing", EventKind::LineCrossing),
    ("linecross", EventKind::LineCrossing),
    ("crossline", EventKind::LineCrossing),
    ("crosslinedetection", EventKind::LineCrossing),
    ("tripwire", EventKind::LineCrossing),
    ("crossed", EventKind::LineCrossing),
    // Fields and regions.
    ("fielddetector", EventKind::Intrusion),
    ("fielddetection", EventKind::Intrusion),
    ("intrusion", EventKind::Intrusion),
    ("intrusiondetection", EventKind::Intrusion),
    ("regionentrance", EventKind::Intrusion),
    ("regionexiting", EventKind::Intrusion),
    ("loitering", EventKind::Intrusion),
    ("loiteringdetector", EventKind::Intrusion),
    ("objectsinside", EventKind::Intrusion),
    // Tampering.
    ("tamperdetector", EventKind::Tamper),
    ("tamper", EventKind::Tamper),
    ("tampering", EventKind::Tamper),
    ("globalscenechange", EventKind::Tamper),
    ("scenechange", EventKind::Tamper),
    ("videocover", EventKind::Tamper),
    ("videoblind", EventKind::Tamper),
    ("defocusdetection", EventKind::Tamper),
    ("shelterdetection", EventKind::Tamper),
    // Sound.
    ("detectedsound", EventKind::Sound),
    ("audioanalytics", EventKind::Sound),
    ("audiodetection", EventKind::Sound),
    ("audioalarm", EventKind::Sound),
    ("sounddetection", EventKind::Sound),
    ("audioexception", EventKind::Sound),
    ("babycry", EventKind::Sound),
    ("scream", EventKind::Sound),
    // Inputs.
    ("digitalinput", EventKind::Input),
    ("digitalinputs", EventKind::Input),
    ("inputport", EventKind::Input),
    ("virtualinput", EventKind::Input),
    ("doorbell", EventKind::Input),
    ("visitor", EventKind::Input),
    // Motion.
    ("motionalarm", EventKind::Motion),
    ("cellmotiondetector", EventKind::Motion),
    ("motionregiondetector", EventKind::Motion),
    ("motiondetection", EventKind::Motion),
    ("motiondetector", EventKind::Motion),
    ("vmd", EventKind::Motion),
    ("pir", EventKind::Motion),
];

/// Kinds that never say "off": a message of theirs with no state is a pulse.
const PULSE_KINDS: &[EventKind] = &[EventKind::LineCrossing];

/// Path segments that make a whole topic housekeeping, whatever else it says.
const HOUSEKEEPING: &[&str] = &[
    "monitoring",
    "processorusage",
    "operatingtime",
    "hardwarefailure",
    "storagefailure",
    "storage",
    "recordingconfig",
    "recordinghistory",
    "recordingjobstate",
    "daynightvision",
    "daynight",
    "network",
    "profile",
    "configuration",
    "ptz",
    "ptzcontroller",
    "relay",
    "digitaloutput",
    "systemmessage",
    "user",
];

/// Data item names that carry a kind and its state (`IsPeople="true"`).
const ITEM_WORDS: &[(&str, EventKind)] = &[
    ("ispeople", EventKind::Person),
    ("isperson", EventKind::Person),
    ("ishuman", EventKind::Person),
    ("isvehicle", EventKind::Vehicle),
    ("iscar", EventKind::Vehicle),
    ("ispet", EventKind::Animal),
    ("isanimal", EventKind::Animal),
    ("isdogcat", EventKind::Animal),
    ("isface", EventKind::Face),
    ("ispackage", EventKind::Package),
    ("islinecross", EventKind::LineCrossing),
    ("iscrossline", EventKind::LineCrossing),
    ("isintrusion", EventKind::Intrusion),
    ("isregionentrance", EventKind::Intrusion),
    ("istamper", EventKind::Tamper),
    ("iscover", EventKind::Tamper),
    ("issound", EventKind::Sound),
    ("isaudio", EventKind::Sound),
    ("isbabycry", EventKind::Sound),
    ("ismotion", EventKind::Motion),
];

/// Data item names whose value lists classes (`"Human Vehicle"`).
const CLASS_ITEMS: &[&str] = &[
    "classtypes",
    "classtype",
    "class",
    "objecttype",
    "objecttypes",
    "type",
];

/// Class names (lower case) in such a list.
const CLASS_WORDS: &[(&str, EventKind)] = &[
    ("human", EventKind::Person),
    ("person", EventKind::Person),
    ("people", EventKind::Person),
    ("pedestrian", EventKind::Person),
    ("vehicle", EventKind::Vehicle),
    ("car", EventKind::Vehicle),
    ("truck", EventKind::Vehicle),
    ("bus", EventKind::Vehicle),
    ("bike", EventKind::Vehicle),
    ("bicycle", EventKind::Vehicle),
    ("motorcycle", EventKind::Vehicle),
    ("motorcyclebicycle", EventKind::Vehicle),
    ("licenseplate", EventKind::Vehicle),
    ("animal", EventKind::Animal),
    ("pet", EventKind::Animal),
    ("dog", EventKind::Animal),
    ("cat", EventKind::Animal),
    ("face", EventKind::Face),
    ("package", EventKind::Package),
    ("parcel", EventKind::Package),
];

/// Other boolean Data items that carry the state, after [`MOTION_ITEMS`].
const STATE_ITEMS: &[&str] = &["IsInside", "state", "Alarm", "Active", "Triggered"];

/// What `msg` says, with `configured` (the default motion topics and `onvif_topics`) checked
/// first.
pub fn classify(msg: &NotificationMessage, configured: &KindMatcher) -> Classified {
    let mut out = Classified::default();
    let deleted = msg.operation == PropertyOperation::Deleted;
    let event = msg.operation == PropertyOperation::Absent;
    let item = |name: &str| {
        msg.data
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(name))
            .map(|i| i.value.as_str())
    };
    let general_state = || {
        MOTION_ITEMS
            .iter()
            .chain(STATE_ITEMS)
            .find_map(|n| item(n).and_then(parse_bool))
    };
    // No readable state: a pulse when the message is an event, or a change that carries no
    // state item at all (a plate read, an object counted); nothing for an unreadable state
    // (`-1`) or a subscription's initial sync without one.
    let stateless = !msg.data.iter().any(|i| {
        MOTION_ITEMS
            .iter()
            .chain(STATE_ITEMS)
            .any(|n| i.name.eq_ignore_ascii_case(n))
    });
    let change = msg.operation == PropertyOperation::Changed;
    let state_of = |on: Option<bool>, kind: EventKind| match (deleted, on) {
        (true, _) => Some(KindState::Off),
        (false, Some(true)) => Some(KindState::On),
        (false, Some(false)) => Some(KindState::Off),
        (false, None) if event || PULSE_KINDS.contains(&kind) || (change && stateless) => {
            Some(KindState::Pulse)
        }
        (false, None) => None,
    };

    // 1. Configured topics.
    if let Some((kind, on)) = configured.classify(msg) {
        if let Some(st) = state_of(on, kind) {
            out.push(kind, st);
        }
        return out;
    }
    let words: Vec<String> = msg
        .topic
        .path
        .0
        .iter()
        .map(|s| s.local.to_ascii_lowercase())
        .collect();
    if words.iter().any(|w| HOUSEKEEPING.contains(&w.as_str())) {
        return out;
    }

    // 4. Class lists (several kinds at once; empty: every kind of this topic and source ends).
    if let Some(list) = CLASS_ITEMS.iter().find_map(|n| item(n)) {
        let on = general_state();
        let classes: Vec<EventKind> = list
            .split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '|')
            .filter(|w| !w.is_empty())
            .filter_map(|w| {
                let w = w.to_ascii_lowercase();
                CLASS_WORDS.iter().find(|(n, _)| *n == w).map(|(_, k)| *k)
            })
            .collect();
        if list.trim().is_empty() || (on == Some(false) && classes.is_empty()) || deleted {
            out.clear = true;
            return out;
        }
        for k in classes {
            if let Some(st) = state_of(on, k) {
                out.push(k, st);
            }
        }
        if !out.kinds.is_empty() {
            return out;
        }
    }

    // 3. Data items that name a kind (`IsPeople`), each with its own state.
    for i in &msg.data {
        let name = i.name.to_ascii_lowercase();
        if let Some((_, k)) = ITEM_WORDS.iter().find(|(n, _)| *n == name) {
            if name == "ismotion" && topic_kind(&words).is_some_and(|t| t != EventKind::Motion) {
                continue; // a detector's own motion flag: the topic's kind says it
            }
            if let Some(st) = state_of(parse_bool(&i.value), *k) {
                out.push(*k, st);
            }
        }
    }
    if !out.kinds.is_empty() {
        return out;
    }

    // 2. The topic.
    if let Some(kind) = topic_kind(&words) {
        let named = ITEM_WORDS
            .iter()
            .filter(|(_, k)| *k == kind)
            .find_map(|(n, _)| item(n).and_then(parse_bool));
        if let Some(st) = state_of(named.or_else(general_state), kind) {
            out.push(kind, st);
        }
    }
    out
}

/// The kind a topic path names (its last naming segment), if any.
fn topic_kind(words: &[String]) -> Option<EventKind> {
    // Axis: `tns1:Device/tnsaxis:IO/Port` (and `VirtualInput`) are its inputs.
    if words.windows(2).any(|w| w[0] == "io" && w[1] == "port") {
        return Some(EventKind::Input);
    }
    words
        .iter()
        .rev()
        .find_map(|w| TOPIC_WORDS.iter().find(|(n, _)| n == w).map(|(_, k)| *k))
}

/// The configured topics (`onvif_topics`, `KIND=TOPIC[#ITEM]`) and the default motion topics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindMatcher {
    /// Topics of each kind: plain motion's defaults and those configured as motion.
    pub motion: MotionMatcher,
    /// Topics configured with another kind.
    pub other: Vec<(EventKind, crate::topics::MotionTopic)>,
}

impl KindMatcher {
    /// From `onvif_topics` entries already parsed ([`KindTopic`]).
    pub fn new(topics: &[KindTopic]) -> KindMatcher {
        let motion: Vec<_> = topics
            .iter()
            .filter(|t| t.kind == EventKind::Motion)
            .map(|t| t.topic.clone())
            .collect();
        KindMatcher {
            motion: MotionMatcher::new(&motion),
            other: topics
                .iter()
                .filter(|t| t.kind != EventKind::Motion)
                .map(|t| (t.kind, t.topic.clone()))
                .collect(),
        }
    }

    /// A configured topic's kind and its state (`None`: no readable state).
    fn classify(&self, msg: &NotificationMessage) -> Option<(EventKind, Option<bool>)> {
        for (kind, t) in &self.other {
            if t.path.matches(&msg.topic.path) {
                return Some((*kind, state_item(msg, t.item.as_deref())));
            }
        }
        let t = self
            .motion
            .topics
            .iter()
            .find(|t| t.path.matches(&msg.topic.path))?;
        Some((EventKind::Motion, state_item(msg, t.item.as_deref())))
    }
}

fn state_item(msg: &NotificationMessage, item: Option<&str>) -> Option<bool> {
    let find = |name: &str| {
        msg.data
            .iter()
            .find(|i| i.name.eq_ignore_ascii_case(name))
            .map(|i| i.value.as_str())
    };
    item.and_then(find)
        .or_else(|| MOTION_ITEMS.iter().chain(STATE_ITEMS).find_map(|n| find(n)))
        .and_then(parse_bool)
}

/// An `onvif_topics` entry: `TOPIC[#ITEM]` (kind motion) or `KIND=TOPIC[#ITEM]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindTopic {
    pub kind: EventKind,
    pub topic: crate::topics::MotionTopic,
}

impl std::str::FromStr for KindTopic {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (kind, rest) = match s.split_once('=') {
            Some((k, t)) if !k.contains(':') && !k.contains('/') => (
                k.trim()
                    .parse::<EventKind>()
                    .map_err(|e| format!("{s:?}: {e}"))?,
                t,
            ),
            _ => (EventKind::Motion, s),
        };
        let topic = rest
            .parse::<crate::topics::MotionTopic>()
            .map_err(|e| e.to_string())?;
        Ok(KindTopic { kind, topic })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notification::{Item, Topic};
    use crate::topics::TopicPath;

    fn msg(topic: &str, op: PropertyOperation, data: &[(&str, &str)]) -> NotificationMessage {
        NotificationMessage {
            topic: Topic {
                text: topic.into(),
                dialect: None,
                path: TopicPath::resolve(topic, |p| match p {
                    "tnshik" => Some("http://www.hikvision.com/2011/event/topics".into()),
                    "tnsaxis" => Some("http://www.axis.com/2009/event/topics".into()),
                    "x" => Some("urn:vendor".into()),
                    _ => None,
                }),
            },
            operation: op,
            utc_time: None,
            utc_time_raw: None,
            source: vec![],
            key: vec![],
            data: data
                .iter()
                .map(|(n, v)| Item {
                    name: (*n).into(),
                    value: (*v).into(),
                })
                .collect(),
            data_elements: vec![],
            subscription_address: None,
        }
    }

    fn kinds(m: &NotificationMessage) -> Vec<(EventKind, KindState)> {
        classify(m, &KindMatcher::default()).kinds
    }

    use EventKind::*;
    use KindState::*;
    use PropertyOperation::{Absent, Changed, Deleted, Initialized};

    #[test]
    fn topics_name_kinds_whatever_the_prefix() {
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], EventKind, KindState);
        let cases: &[Case] = &[
            (
                "tns1:RuleEngine/MyRuleDetector/PeopleDetect",
                &[("State", "true")],
                Person,
                On,
            ),
            (
                "tns1:RuleEngine/MyRuleDetector/VehicleDetect",
                &[("State", "false")],
                Vehicle,
                Off,
            ),
            (
                "tns1:RuleEngine/MyRuleDetector/DogCatDetect",
                &[("State", "1")],
                Animal,
                On,
            ),
            (
                "tns1:RuleEngine/MyRuleDetector/FaceDetect",
                &[("State", "True")],
                Face,
                On,
            ),
            (
                "tns1:RuleEngine/MyRuleDetector/Package",
                &[("State", "true")],
                Package,
                On,
            ),
            (
                "tns1:RuleEngine/tnshik:FieldDetector/ObjectsInside",
                &[("IsInside", "true")],
                Intrusion,
                On,
            ),
            (
                "tns1:RuleEngine/FieldDetector/ObjectsInside",
                &[("IsInside", "false")],
                Intrusion,
                Off,
            ),
            (
                "tns1:RuleEngine/TamperDetector/Tamper",
                &[("IsTamper", "true")],
                Tamper,
                On,
            ),
            (
                "tns1:VideoSource/GlobalSceneChange/ImagingService",
                &[("State", "true")],
                Tamper,
                On,
            ),
            (
                "tns1:AudioAnalytics/Audio/DetectedSound",
                &[("IsSoundDetected", "x"), ("State", "1")],
                Sound,
                On,
            ),
            (
                "tns1:Device/Trigger/DigitalInput",
                &[("LogicalState", "true")],
                Input,
                On,
            ),
            (
                "tns1:VideoAnalytics/tnshik:MotionAlarm",
                &[("State", "FALSE")],
                Motion,
                Off,
            ),
            ("x:Any/Where/PIR", &[("state", "1")], Motion, On),
        ];
        for (topic, data, kind, st) in cases {
            assert_eq!(kinds(&msg(topic, Changed, data)), [(*kind, *st)], "{topic}");
        }
    }

    #[test]
    fn lines_are_pulses_and_events_without_state_too() {
        let m = msg(
            "tns1:RuleEngine/LineDetector/Crossed",
            Absent,
            &[("ObjectId", "12")],
        );
        assert_eq!(kinds(&m), [(LineCrossing, Pulse)]);
        // A Changed line crossing with only an object id is still a pulse: it has no "off".
        let m = msg(
            "tns1:RuleEngine/tnshik:LineDetector/Crossed",
            Changed,
            &[("ObjectId", "3")],
        );
        assert_eq!(kinds(&m), [(LineCrossing, Pulse)]);
        // A plate read (Hikvision ANPR) is an event: a pulse.
        let m = msg(
            "tns1:RuleEngine/VehicleDetector/tnshik:Vehicle",
            Absent,
            &[("PlateNumber", "XX0000")],
        );
        assert_eq!(kinds(&m), [(Vehicle, Pulse)]);
        // A state topic with no readable state says nothing.
        let m = msg(
            "tns1:RuleEngine/MyRuleDetector/PeopleDetect",
            Changed,
            &[("State", "-1")],
        );
        assert!(kinds(&m).is_empty());
        // Deleted is off.
        let m = msg("tns1:RuleEngine/MyRuleDetector/PeopleDetect", Deleted, &[]);
        assert_eq!(kinds(&m), [(Person, Off)]);
    }

    #[test]
    fn items_name_kinds_tapo_style() {
        let m = msg(
            "tns1:RuleEngine/TPSmartEventDetector/TPSmartEvent",
            Changed,
            &[("IsPeople", "true")],
        );
        assert_eq!(kinds(&m), [(Person, On)]);
        let m = msg(
            "tns1:RuleEngine/TPSmartEventDetector/TPSmartEvent",
            Changed,
            &[("IsVehicle", "false"), ("IsPet", "true")],
        );
        assert_eq!(kinds(&m), [(Vehicle, Off), (Animal, On)]);
        let m = msg(
            "tns1:RuleEngine/PeopleDetector/People",
            Changed,
            &[("IsPeople", "1")],
        );
        assert_eq!(kinds(&m), [(Person, On)]);
        let m = msg(
            "tns1:RuleEngine/CellMotionDetector/Motion",
            Changed,
            &[("IsMotion", "true")],
        );
        assert_eq!(kinds(&m), [(Motion, On)]);
    }

    #[test]
    fn class_lists_give_several_kinds_and_an_empty_one_clears() {
        let m = msg(
            "tns1:RuleEngine/x:ObjectDetection/Object",
            Changed,
            &[("ClassTypes", "Human Vehicle"), ("State", "true")],
        );
        assert_eq!(kinds(&m), [(Person, On), (Vehicle, On)]);
        let m = msg(
            "tnsaxis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1",
            Changed,
            &[
                ("active", "1"),
                ("classTypes", "human"),
                ("objectId", "234232"),
            ],
        );
        assert_eq!(kinds(&m), [(Person, On)]);
        let m = msg(
            "tnsaxis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1",
            Changed,
            &[("active", "0"), ("classTypes", "")],
        );
        let c = classify(&m, &KindMatcher::default());
        assert!(c.clear && c.kinds.is_empty(), "{c:?}");
    }

    #[test]
    fn housekeeping_gives_nothing() {
        for (topic, data) in [
            ("tns1:Monitoring/ProcessorUsage", &[("Value", "75")][..]),
            (
                "tns1:Monitoring/OperatingTime/LastReboot",
                &[("Status", "2019-02-10T21:52:37Z")],
            ),
            (
                "tns1:Device/HardwareFailure/StorageFailure",
                &[("Failed", "true")],
            ),
            ("tnsaxis:Storage/Alert", &[("alert", "1")]),
            ("tns1:VideoSource/tnsaxis:DayNightVision", &[("day", "1")]),
            ("tns1:RecordingConfig/JobState", &[("State", "Active")]),
            ("tns1:Device/Trigger/Relay", &[("LogicalState", "active")]),
            ("tns1:Something/Unknown", &[("State", "true")]),
        ] {
            let c = classify(&msg(topic, Changed, data), &KindMatcher::default());
            assert!(c.is_empty(), "{topic}: {c:?}");
        }
    }

    proptest::proptest! {
        /// Any topic text, operation and items: a classification, never a panic.
        #[test]
        fn never_panics(
            topic in "[a-zA-Z0-9:/_ .#=-]{0,60}",
            op in 0u8..5,
            items in proptest::collection::vec(("[a-zA-Z]{0,12}", "[a-zA-Z0-9 ,;|-]{0,20}"), 0..5),
            configured in "[a-z_]{0,12}=?[a-zA-Z0-9:/#]{0,30}",
        ) {
            let op = match op {
                0 => Absent,
                1 => Changed,
                2 => Initialized,
                3 => Deleted,
                _ => PropertyOperation::Other("x".into()),
            };
            let data: Vec<(&str, &str)> = items.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            let m = msg(&topic, op, &data);
            let matcher = configured
                .parse::<KindTopic>()
                .map(|t| KindMatcher::new(&[t]))
                .unwrap_or_default();
            let c = classify(&m, &matcher);
            // Each kind at most once.
            for (i, (k, _)) in c.kinds.iter().enumerate() {
                proptest::prop_assert!(!c.kinds[i + 1..].iter().any(|(x, _)| x == k));
            }
        }
    }

    #[test]
    fn configured_topics_come_first() {
        let t: Vec<KindTopic> = [
            "person=tnsaxis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1#active",
            "tns1:Custom/Thing",
        ]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
        let m = KindMatcher::new(&t);
        let on = msg(
            "tnsaxis:CameraApplicationPlatform/ObjectAnalytics/Device1Scenario1",
            Changed,
            &[("active", "1")],
        );
        assert_eq!(classify(&on, &m).kinds, [(Person, On)]);
        let custom = msg("tns1:Custom/Thing", Initialized, &[("State", "false")]);
        assert_eq!(classify(&custom, &m).kinds, [(Motion, Off)]);
        let e = "ghost=tns1:Custom/Thing".parse::<KindTopic>().unwrap_err();
        assert!(e.contains("line_crossing"), "{e}");
        assert!("person=".parse::<KindTopic>().is_err());
    }
}
