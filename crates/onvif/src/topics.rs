//! Event topics, namespace-resolved, and which of them mean motion.
//!
//! A topic like `tns1:VideoAnalytics/tnshik:MotionAlarm` is a path whose segments each belong to
//! a namespace: a prefixed segment names its own, an unprefixed one inherits its parent's. Two
//! topics are equal when every segment's namespace URI and local name are, whatever the prefixes.
//! Prefixes are resolved against the Topic element's in-scope declarations, then declarations
//! written into the Dialect attribute (Samsung), then [`well_known_prefix`]; a prefix nobody
//! declared stays as itself (`?tnsavg`) so a configured topic with the same prefix still matches.

use std::fmt;
use std::str::FromStr;

use crate::notification::NotificationMessage;
use crate::xml::{ns, well_known_prefix};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Segment {
    /// Namespace URI (`?prefix` when the prefix could not be resolved; empty when none).
    pub ns: String,
    pub local: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TopicPath(pub Vec<Segment>);

impl TopicPath {
    /// Resolves `text` (a ConcreteSet/Simple topic expression, already trimmed) with `lookup`
    /// for prefixes.
    pub fn resolve(text: &str, lookup: impl Fn(&str) -> Option<String>) -> TopicPath {
        let mut segs = Vec::new();
        let mut current_ns = String::new();
        for raw in text.trim().split('/') {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            let local = match raw.split_once(':') {
                Some((p, l)) => {
                    current_ns = lookup(p)
                        .or_else(|| well_known_prefix(p).map(str::to_string))
                        .unwrap_or_else(|| format!("?{p}"));
                    l
                }
                None => raw,
            };
            segs.push(Segment {
                ns: current_ns.clone(),
                local: local.to_string(),
            });
        }
        TopicPath(segs)
    }

    /// Resolves with the well-known prefixes only (configuration strings).
    pub fn parse_well_known(text: &str) -> TopicPath {
        Self::resolve(text, |_| None)
    }

    /// Whether `self` (a pattern; a `*` segment matches any one segment) matches `topic`.
    pub fn matches(&self, topic: &TopicPath) -> bool {
        self.0.len() == topic.0.len()
            && self
                .0
                .iter()
                .zip(&topic.0)
                .all(|(p, t)| p.local == "*" || (p.ns == t.ns && p.local == t.local))
    }
}

fn short_prefix(ns_uri: &str) -> Option<&'static str> {
    Some(match ns_uri {
        ns::TNS1 => "tns1",
        ns::TNSAXIS => "tnsaxis",
        ns::TNSHIK => "tnshik",
        ns::TNSN => "tnsn",
        ns::TNSSAMSUNG => "tnssamsung",
        ns::PELCO_TOPICS => "ptns",
        _ => return None,
    })
}

impl fmt::Display for TopicPath {
    /// Conventional prefixes where known, `{uri}` otherwise.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut prev = None;
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            if prev != Some(&s.ns) && !s.ns.is_empty() {
                match (short_prefix(&s.ns), s.ns.strip_prefix('?')) {
                    (Some(p), _) | (None, Some(p)) => write!(f, "{p}:")?,
                    (None, None) => write!(f, "{{{}}}", s.ns)?,
                }
            }
            f.write_str(&s.local)?;
            prev = Some(&s.ns);
        }
        Ok(())
    }
}

/// The Data item names that carry a motion state, in the order they are looked for.
pub const MOTION_ITEMS: [&str; 5] = ["IsMotion", "State", "Value", "active", "LogicalState"];

/// `true`/`1` (any case) is on, `false`/`0` is off; anything else (`-1`, `-3`, text) is no state.
pub fn parse_bool(v: &str) -> Option<bool> {
    let v = v.trim();
    if v == "1" || v.eq_ignore_ascii_case("true") {
        Some(true)
    } else if v == "0" || v.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// One topic that means motion, with the Data item to read (if not one of [`MOTION_ITEMS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotionTopic {
    pub text: String,
    pub path: TopicPath,
    pub item: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid motion topic {0:?}: expected e.g. \"tns1:VideoAnalytics/tnshik:MotionAlarm\" or \"tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY#active\"")]
pub struct TopicParseError(pub String);

impl FromStr for MotionTopic {
    type Err = TopicParseError;

    /// `PATH` or `PATH#ITEM`, with prefixes from [`well_known_prefix`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (path_text, item) = match s.split_once('#') {
            Some((p, i)) => (p.trim(), Some(i.trim().to_string())),
            None => (s.trim(), None),
        };
        let path = TopicPath::parse_well_known(path_text);
        let bad_segment = path_text
            .split('/')
            .any(|seg| seg.trim().is_empty() || seg.trim().ends_with(':'));
        if path.0.is_empty() || bad_segment || item.as_deref() == Some("") {
            return Err(TopicParseError(s.to_string()));
        }
        Ok(MotionTopic {
            text: path_text.to_string(),
            path,
            item,
        })
    }
}

impl MotionTopic {
    pub fn new(path: &str, item: Option<&str>) -> MotionTopic {
        MotionTopic {
            text: path.to_string(),
            path: TopicPath::parse_well_known(path),
            item: item.map(str::to_string),
        }
    }
}

/// The default motion topics (docs/onvif.md, "Topics").
pub fn default_motion_topics() -> Vec<MotionTopic> {
    vec![
        MotionTopic::new(
            "tns1:RuleEngine/CellMotionDetector/Motion",
            Some("IsMotion"),
        ),
        MotionTopic::new("tns1:VideoSource/MotionAlarm", Some("State")),
        MotionTopic::new("tns1:RuleEngine/MotionRegionDetector/Motion", Some("State")),
    ]
}

/// Decides which notifications are motion and whether they say on or off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MotionMatcher {
    pub topics: Vec<MotionTopic>,
}

impl Default for MotionMatcher {
    fn default() -> Self {
        MotionMatcher::new(&[])
    }
}

impl MotionMatcher {
    /// The defaults plus `extra`.
    pub fn new(extra: &[MotionTopic]) -> MotionMatcher {
        let mut topics = default_motion_topics();
        topics.extend_from_slice(extra);
        MotionMatcher { topics }
    }

    /// `Some(on)` for a motion message with a readable state; `None` for anything else
    /// (another topic, no state item, a value that is neither true nor false).
    pub fn classify(&self, msg: &NotificationMessage) -> Option<bool> {
        let topic = self
            .topics
            .iter()
            .find(|t| t.path.matches(&msg.topic.path))?;
        let find = |name: &str| {
            msg.data
                .iter()
                .find(|i| i.name.eq_ignore_ascii_case(name))
                .map(|i| i.value.as_str())
        };
        let value = topic
            .item
            .as_deref()
            .and_then(find)
            .or_else(|| MOTION_ITEMS.iter().find_map(|n| find(n)))?;
        parse_bool(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_resolve_to_namespaces() {
        let a = TopicPath::resolve("x:RuleEngine/CellMotionDetector/Motion", |p| {
            (p == "x").then(|| ns::TNS1.to_string())
        });
        let b = TopicPath::parse_well_known("tns1:RuleEngine/CellMotionDetector/Motion");
        assert_eq!(a, b);
        assert_eq!(b.0[2].ns, ns::TNS1, "unprefixed segments inherit");
        let c = TopicPath::resolve("tns1:RuleEngine/CellMotionDetector/Motion", |p| {
            (p == "tns1").then(|| "urn:not-onvif".to_string())
        });
        assert_ne!(c, b, "a declared prefix wins over the conventional one");
    }

    #[test]
    fn vendor_prefix_mid_path_and_display() {
        let p = TopicPath::parse_well_known(" tns1:Device/tnsaxis:Sensor/PIR \n");
        assert_eq!(p.0.len(), 3);
        assert_eq!(p.0[0].ns, ns::TNS1);
        assert_eq!(p.0[1].ns, ns::TNSAXIS);
        assert_eq!(p.0[2].ns, ns::TNSAXIS);
        assert_eq!(p.to_string(), "tns1:Device/tnsaxis:Sensor/PIR");
        let q = TopicPath::parse_well_known("tns1:Device/tnsavg:Logs");
        assert_eq!(q.0[1].ns, "?tnsavg");
        assert_eq!(q.to_string(), "tns1:Device/tnsavg:Logs");
    }

    #[test]
    fn booleans() {
        for (v, want) in [
            ("true", Some(true)),
            ("True", Some(true)),
            ("TRUE", Some(true)),
            ("1", Some(true)),
            (" 1 ", Some(true)),
            ("false", Some(false)),
            ("FALSE", Some(false)),
            ("0", Some(false)),
            ("-1", None),
            ("-3", None),
            ("yes", None),
            ("", None),
        ] {
            assert_eq!(parse_bool(v), want, "{v:?}");
        }
    }

    #[test]
    fn motion_topic_strings() {
        let t: MotionTopic = "tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY#active"
            .parse()
            .unwrap();
        assert_eq!(t.item.as_deref(), Some("active"));
        assert_eq!(t.path.0.len(), 3);
        let w: MotionTopic = "tnsaxis:CameraApplicationPlatform/VMD/*".parse().unwrap();
        assert!(w.path.matches(&t.path));
        for bad in ["", "#x", "tns1:", "a//b", "tns1:A#"] {
            assert!(bad.parse::<MotionTopic>().is_err(), "{bad:?}");
        }
    }
}
