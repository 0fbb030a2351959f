//! `wsnt:NotificationMessage`: topic, PropertyOperation, UtcTime, Source/Key/Data items.
//!
//! The same element arrives in PullMessagesResponse, in Notify pushes and in the RTSP metadata
//! stream; [`parse_notifications`] finds every one in a document or fragment.

use vigil_core::time::Time;

use crate::error::XmlError;
use crate::time::parse_datetime;
use crate::topics::TopicPath;
use crate::xml::{self, ns, Element};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropertyOperation {
    Initialized,
    Changed,
    Deleted,
    /// No PropertyOperation attribute (the spec's own example; pulse events).
    Absent,
    Other(String),
}

impl PropertyOperation {
    fn parse(v: Option<&str>) -> Self {
        match v.map(str::trim) {
            None | Some("") => PropertyOperation::Absent,
            Some(s) if s.eq_ignore_ascii_case("Initialized") => PropertyOperation::Initialized,
            Some(s) if s.eq_ignore_ascii_case("Changed") => PropertyOperation::Changed,
            Some(s) if s.eq_ignore_ascii_case("Deleted") => PropertyOperation::Deleted,
            Some(s) => PropertyOperation::Other(s.to_string()),
        }
    }
}

/// A `tt:SimpleItem` (or the name of a `tt:ElementItem`, with an empty value).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Item {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    /// The topic text as the camera wrote it, trimmed.
    pub text: String,
    pub dialect: Option<String>,
    pub path: TopicPath,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationMessage {
    pub topic: Topic,
    pub operation: PropertyOperation,
    /// The camera's UtcTime, when it parses (advisory only).
    pub utc_time: Option<Time>,
    pub utc_time_raw: Option<String>,
    pub source: Vec<Item>,
    pub key: Vec<Item>,
    pub data: Vec<Item>,
    /// Names of `tt:ElementItem`s in Data (their content is not interpreted).
    pub data_elements: Vec<String>,
    pub subscription_address: Option<String>,
}

fn items(el: Option<&Element>) -> (Vec<Item>, Vec<String>) {
    let mut simple = Vec::new();
    let mut elements = Vec::new();
    for c in el.map(|e| e.children.as_slice()).unwrap_or(&[]) {
        match c.local.as_str() {
            "SimpleItem" => simple.push(Item {
                name: c.attr("Name").unwrap_or("").to_string(),
                value: c.attr("Value").unwrap_or("").to_string(),
            }),
            "ElementItem" => elements.push(c.attr("Name").unwrap_or("").to_string()),
            _ => {}
        }
    }
    (simple, elements)
}

/// Namespace declarations written into a Dialect attribute (Samsung/Hanwha):
/// `…/ConcreteSet xmlns:tns1=http://… xmlns:tnssamsung=http://…`.
fn dialect_declarations(dialect: &str) -> Vec<(String, String)> {
    dialect
        .split_whitespace()
        .filter_map(|tok| {
            let rest = tok.strip_prefix("xmlns:")?;
            let (p, uri) = rest.split_once('=')?;
            let uri = uri.trim_matches(|c| c == '"' || c == '\'');
            (!p.is_empty() && !uri.is_empty()).then(|| (p.to_string(), uri.to_string()))
        })
        .collect()
}

/// Reads one NotificationMessage element. Never fails: missing parts stay empty.
pub fn parse_notification(nm: &Element) -> NotificationMessage {
    let topic_el = nm.child_any(&[ns::WSNT], "Topic").or_else(|| {
        nm.children
            .iter()
            .find(|c| c.local == "Topic" && c.ns.is_none())
    });
    let text = topic_el.map(|t| t.text_trimmed()).unwrap_or("").to_string();
    let dialect = topic_el.and_then(|t| t.attr("Dialect")).map(str::to_string);
    let from_dialect = dialect
        .as_deref()
        .map(dialect_declarations)
        .unwrap_or_default();
    let scope = topic_el.map(|t| t.scope.as_slice()).unwrap_or(&[]);
    let path = TopicPath::resolve(&text, |p| {
        scope
            .iter()
            .chain(from_dialect.iter())
            .find(|(sp, _)| sp == p)
            .map(|(_, n)| n.clone())
    });
    let msg = nm
        .child_any(&[ns::WSNT], "Message")
        .and_then(|m| m.children.iter().find(|c| c.local == "Message"));
    let child = |name: &str| msg.and_then(|m| m.children.iter().find(|c| c.local == name));
    let (source, _) = items(child("Source"));
    let (key, _) = items(child("Key"));
    let (data, data_elements) = items(child("Data"));
    let utc_raw = msg.and_then(|m| m.attr("UtcTime")).map(str::to_string);
    NotificationMessage {
        topic: Topic {
            text,
            dialect,
            path,
        },
        operation: PropertyOperation::parse(msg.and_then(|m| m.attr("PropertyOperation"))),
        utc_time: utc_raw.as_deref().and_then(parse_datetime),
        utc_time_raw: utc_raw,
        source,
        key,
        data,
        data_elements,
        subscription_address: nm
            .child(ns::WSNT, "SubscriptionReference")
            .and_then(|s| s.child(ns::WSA, "Address"))
            .map(|a| a.text_trimmed().to_string()),
    }
}

/// Every NotificationMessage in a document or fragment (PullMessagesResponse, Notify, the Axis
/// metadata stream, or a bare sequence of messages cut from a log).
pub fn parse_notifications(input: &str) -> Result<Vec<NotificationMessage>, XmlError> {
    let doc = xml::parse(input)?;
    Ok(doc
        .find_all(ns::WSNT, "NotificationMessage")
        .into_iter()
        .map(parse_notification)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topics::MotionMatcher;

    #[test]
    fn samsung_namespaces_in_dialect() {
        let frag = r#"<wsnt:NotificationMessage xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema"><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet xmlns:wsnt=http://docs.oasis-open.org/wsn/b-2 xmlns:tns1=http://www.onvif.org/ver10/topics xmlns:tnssamsung=http://www.samsungcctv.com/2011/event/topics">tns1:VideoAnalytics/tnssamsung:MotionDetection</wsnt:Topic><wsnt:Message><tt:Message UtcTime="2022-02-13T23:43:42Z" PropertyOperation="Changed"><tt:Source><tt:SimpleItem Name="Window" Value="0"/></tt:Source><tt:Data><tt:SimpleItem Name="State" Value="true"/></tt:Data></tt:Message></wsnt:Message></wsnt:NotificationMessage>"#;
        let msgs = parse_notifications(frag).unwrap();
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert_eq!(m.topic.path.0[1].ns, ns::TNSSAMSUNG);
        assert_eq!(
            m.source,
            vec![Item {
                name: "Window".into(),
                value: "0".into()
            }]
        );
        let extra: crate::topics::MotionTopic = "tns1:VideoAnalytics/tnssamsung:MotionDetection"
            .parse()
            .unwrap();
        assert_eq!(MotionMatcher::new(&[extra]).classify(m), Some(true));
        assert_eq!(
            MotionMatcher::default().classify(m),
            None,
            "not a default topic"
        );
    }

    #[test]
    fn operation_variants() {
        assert_eq!(PropertyOperation::parse(None), PropertyOperation::Absent);
        assert_eq!(
            PropertyOperation::parse(Some("Initialized")),
            PropertyOperation::Initialized
        );
        assert_eq!(
            PropertyOperation::parse(Some("deleted")),
            PropertyOperation::Deleted
        );
        assert_eq!(
            PropertyOperation::parse(Some("Weird")),
            PropertyOperation::Other("Weird".into())
        );
    }
}
