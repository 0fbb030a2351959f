//! How each simulated vendor writes its replies: envelope prefixes, namespace placement,
//! subscription addressing, motion topics and their values, time precision.

use vigil_core::time::Time;
use vigil_onvif::time::{format_datetime_micros, format_datetime_secs};
use vigil_onvif::xml::escape;

/// The vendor a simulated camera imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Vendor {
    /// `env:` envelopes, a unique URL per subscription (`PullSubManager_<time>_<n>`), motion as
    /// `tns1:RuleEngine/CellMotionDetector/Motion` `IsMotion` **and** `tns1:VideoSource/MotionAlarm`
    /// `State` (`true`/`false`), a 10-message Initialized burst including `tnshik` topics,
    /// answers 401 to a bad UsernameToken.
    Hikvision,
    /// gSOAP `SOAP-ENV:`, one shared endpoint `/onvif/services` plus a `dom0:SubscriptionId`
    /// ReferenceParameter that must be echoed (else `ter:InvalidArgs`), motion only as
    /// `tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY` `active` `1`/`0`, microsecond times.
    Axis,
    /// gSOAP `SOAP-ENV:`, `/onvif/PullSubManager?Idx=<n>`, echoes the client's `wsse:Security` in
    /// every reply, motion as `tns1:VideoSource/MotionAlarm` `State`, an Initialized burst of
    /// `MyRuleDetector/*` `State` items.
    Reolink,
    /// `tns1` declared on each Topic (with trailing whitespace in the text), a
    /// `pwsa:SubscriptionId` ReferenceParameter, motion as CellMotionDetector with item `Value`
    /// `True`/`False` and no Source.
    Pelco,
}

impl Vendor {
    pub fn parse(s: &str) -> Option<Vendor> {
        Some(match s.to_ascii_lowercase().as_str() {
            "hikvision" | "hik" => Vendor::Hikvision,
            "axis" => Vendor::Axis,
            "reolink" => Vendor::Reolink,
            "pelco" => Vendor::Pelco,
            _ => return None,
        })
    }

    pub fn all() -> [Vendor; 4] {
        [
            Vendor::Hikvision,
            Vendor::Axis,
            Vendor::Reolink,
            Vendor::Pelco,
        ]
    }

    pub fn env_prefix(self) -> &'static str {
        match self {
            Vendor::Hikvision => "env",
            _ => "SOAP-ENV",
        }
    }

    pub fn time(self, t: Time) -> String {
        match self {
            Vendor::Axis | Vendor::Pelco => format_datetime_micros(t),
            _ => format_datetime_secs(t),
        }
    }

    /// Paths of the services, relative to the server root.
    pub fn event_path(self) -> &'static str {
        match self {
            Vendor::Hikvision => "/onvif/Events",
            Vendor::Axis => "/onvif/services",
            Vendor::Reolink | Vendor::Pelco => "/onvif/event_service",
        }
    }

    pub fn media_path(self) -> &'static str {
        match self {
            Vendor::Axis => "/onvif/services",
            _ => "/onvif/media_service",
        }
    }

    /// Whether subscriptions are told apart by a ReferenceParameter header.
    pub fn uses_reference_parameters(self) -> bool {
        matches!(self, Vendor::Axis | Vendor::Pelco)
    }

    /// Address of subscription `n`, created at camera time `t`.
    pub fn subscription_address(self, base: &str, n: u64, t: Time) -> String {
        match self {
            Vendor::Hikvision => {
                format!(
                    "{base}/onvif/Events/PullSubManager_{}_{n}",
                    format_datetime_secs(t)
                )
            }
            Vendor::Axis => format!("{base}/onvif/services"),
            Vendor::Reolink => format!("{base}/onvif/PullSubManager?Idx={n}"),
            Vendor::Pelco => format!("{base}/onvif/eventing_service?id={}", pelco_id(n)),
        }
    }

    /// The ReferenceParameters content of subscription `n`.
    pub fn reference_parameters(self, n: u64) -> Option<String> {
        match self {
            Vendor::Axis => Some(format!(
                "<dom0:SubscriptionId xmlns:dom0=\"{AXIS_EVENT_NS}\">{n}</dom0:SubscriptionId>"
            )),
            Vendor::Pelco => Some(format!(
                "<pwsa:SubscriptionId xmlns:pwsa=\"{PELCO_WSA_NS}\">{}</pwsa:SubscriptionId>",
                pelco_id(n)
            )),
            _ => None,
        }
    }

    /// The motion topics this vendor sends, with their item and how it writes booleans.
    pub fn motion_topics(self) -> Vec<TopicSpec> {
        match self {
            Vendor::Hikvision => vec![
                TopicSpec::new(
                    "tns1:RuleEngine/CellMotionDetector/Motion",
                    "IsMotion",
                    Bools::TrueFalse,
                )
                .source(&[
                    ("VideoSourceConfigurationToken", "VideoSourceToken"),
                    ("VideoAnalyticsConfigurationToken", "VideoAnalyticsToken"),
                    ("Rule", "MyMotionDetectorRule"),
                ]),
                TopicSpec::new("tns1:VideoSource/MotionAlarm", "State", Bools::TrueFalse)
                    .source(&[("Source", "VideoSource_1")]),
            ],
            Vendor::Axis => vec![TopicSpec::new(
                "tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY",
                "active",
                Bools::OneZero,
            )],
            Vendor::Reolink => {
                vec![
                    TopicSpec::new("tns1:VideoSource/MotionAlarm", "State", Bools::TrueFalse)
                        .source(&[("Source", "000")]),
                ]
            }
            Vendor::Pelco => vec![TopicSpec::new(
                "tns1:RuleEngine/CellMotionDetector/Motion",
                "Value",
                Bools::Capitalised,
            )],
        }
    }

    /// Non-motion topics in the Initialized burst (besides the motion topics' current state).
    pub fn other_initial_topics(self) -> Vec<(TopicSpec, &'static str)> {
        let t = |topic: &str, item: &str, value: &'static str, src: &[(&str, &str)]| {
            (
                TopicSpec::new(topic, item, Bools::TrueFalse).source(src),
                value,
            )
        };
        match self {
            Vendor::Hikvision => vec![
                t(
                    "tns1:VideoSource/GlobalSceneChange/ImagingService",
                    "State",
                    "false",
                    &[("Source", "VideoSource_1")],
                ),
                t(
                    "tns1:RuleEngine/FieldDetector/ObjectsInside",
                    "IsInside",
                    "false",
                    &[("Rule", "MyFieldDetector1")],
                ),
                t(
                    "tns1:VideoAnalytics/tnshik:MotionAlarm",
                    "State",
                    "false",
                    &[("Source", "vstoken_ch0001")],
                ),
                t(
                    "tns1:RuleEngine/VehicleDetector/tnshik:Vehicle",
                    "Likelihood",
                    "0",
                    &[("Rule", "MyVehicleDetector")],
                ),
                t(
                    "tns1:Monitoring/OperatingTime/LastReboot",
                    "Status",
                    "2026-01-01T00:00:00Z",
                    &[],
                ),
                t(
                    "tns1:Device/HardwareFailure/StorageFailure",
                    "Failed",
                    "false",
                    &[("Token", "")],
                ),
                t(
                    "tns1:Monitoring/ProcessorUsage",
                    "Value",
                    "37",
                    &[("Token", "Processor_Usage")],
                ),
                t(
                    "tns1:UserAlarm/VideoCover",
                    "State",
                    "false",
                    &[("VideoSourceToken", "VideoSource_1")],
                ),
            ],
            Vendor::Axis => vec![
                t(
                    "tns1:Device/tnsaxis:IO/Port",
                    "state",
                    "0",
                    &[("port", "-1")],
                ),
                t(
                    "tnsaxis:Storage/Alert",
                    "alert",
                    "-3",
                    &[("disk_id", "NetworkShare")],
                ),
                t(
                    "tns1:VideoSource/tnsaxis:DayNightVision",
                    "day",
                    "1",
                    &[("VideoSourceConfigurationToken", "1")],
                ),
            ],
            Vendor::Reolink => vec![
                t(
                    "tns1:RuleEngine/CellMotionDetector/Motion",
                    "IsMotion",
                    "false",
                    &[("VideoSourceConfigurationToken", "000")],
                ),
                t(
                    "tns1:RuleEngine/MyRuleDetector/FaceDetect",
                    "State",
                    "false",
                    &[("Source", "000")],
                ),
                t(
                    "tns1:RuleEngine/MyRuleDetector/PeopleDetect",
                    "State",
                    "false",
                    &[("Source", "000")],
                ),
                t(
                    "tns1:RuleEngine/MyRuleDetector/VehicleDetect",
                    "State",
                    "false",
                    &[("Source", "000")],
                ),
                t(
                    "tns1:RuleEngine/MyRuleDetector/DogCatDetect",
                    "State",
                    "false",
                    &[("Source", "000")],
                ),
            ],
            Vendor::Pelco => vec![
                t(
                    "tns1:Monitoring/ProcessorUsage",
                    "Value",
                    "0.44",
                    &[("Token", "cpu")],
                ),
                t(
                    "tns1:RecordingHistory/Recording/State",
                    "IsRecording",
                    "false",
                    &[("RecordingToken", "0")],
                ),
            ],
        }
    }

    /// Namespace declarations for the Envelope.
    pub fn envelope_namespaces(self) -> String {
        let p = self.env_prefix();
        let mut s = format!(
            concat!(
                " xmlns:{p}=\"http://www.w3.org/2003/05/soap-envelope\"",
                " xmlns:wsa5=\"http://www.w3.org/2005/08/addressing\"",
                " xmlns:wsnt=\"http://docs.oasis-open.org/wsn/b-2\"",
                " xmlns:tt=\"http://www.onvif.org/ver10/schema\"",
                " xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\"",
                " xmlns:trt=\"http://www.onvif.org/ver10/media/wsdl\"",
                " xmlns:tev=\"http://www.onvif.org/ver10/events/wsdl\"",
                " xmlns:ter=\"http://www.onvif.org/ver10/error\"",
                " xmlns:wsse=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd\"",
                " xmlns:wsu=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd\""
            ),
            p = p
        );
        // Pelco declares tns1 on each Topic instead.
        if self != Vendor::Pelco {
            s.push_str(" xmlns:tns1=\"http://www.onvif.org/ver10/topics\"");
        }
        match self {
            Vendor::Hikvision => {
                s.push_str(" xmlns:tnshik=\"http://www.hikvision.com/2011/event/topics\"")
            }
            Vendor::Axis => s.push_str(" xmlns:tnsaxis=\"http://www.axis.com/2009/event/topics\""),
            _ => {}
        }
        s
    }

    /// One NotificationMessage.
    pub fn notification(self, m: &Message) -> String {
        let (topic_attrs, topic_text) = match self {
            Vendor::Pelco => (
                " xmlns:tns1=\"http://www.onvif.org/ver10/topics\" Dialect=\"http://docs.oasis-open.org/wsn/t-1/TopicExpression/Concrete\"",
                format!("{}\n        ", m.topic),
            ),
            _ => (
                " Dialect=\"http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet\"",
                m.topic.clone(),
            ),
        };
        let items = |v: &[(String, String)]| -> String {
            v.iter()
                .map(|(n, val)| match self {
                    Vendor::Pelco => format!(
                        "<tt:SimpleItem Value=\"{}\" Name=\"{}\"></tt:SimpleItem>",
                        escape(val),
                        escape(n)
                    ),
                    Vendor::Reolink => format!(
                        "<tt:SimpleItem Name=\"{}\" Value=\"{}\" />",
                        escape(n),
                        escape(val)
                    ),
                    _ => format!(
                        "<tt:SimpleItem Name=\"{}\" Value=\"{}\"/>",
                        escape(n),
                        escape(val)
                    ),
                })
                .collect()
        };
        let source = if m.source.is_empty() && self == Vendor::Axis {
            "<tt:Source></tt:Source>".to_string()
        } else if m.source.is_empty() {
            String::new()
        } else {
            format!("<tt:Source>{}</tt:Source>", items(&m.source))
        };
        format!(
            concat!(
                "<wsnt:NotificationMessage><wsnt:Topic{ta}>{tt}</wsnt:Topic><wsnt:Message>",
                "<tt:Message UtcTime=\"{utc}\"{op}>{src}<tt:Data>{data}</tt:Data></tt:Message>",
                "</wsnt:Message></wsnt:NotificationMessage>"
            ),
            ta = topic_attrs,
            tt = escape(&topic_text),
            utc = self.time(m.utc),
            // An event (a line crossed) has no PropertyOperation.
            op = if m.operation.is_empty() {
                String::new()
            } else {
                format!(" PropertyOperation=\"{}\"", m.operation)
            },
            src = source,
            data = items(
                &std::iter::once((m.item.clone(), m.value.clone()))
                    .filter(|(n, _)| !n.is_empty())
                    .chain(m.more.iter().cloned())
                    .collect::<Vec<_>>()
            ),
        )
    }
}

pub const AXIS_EVENT_NS: &str = "http://www.axis.com/2009/event";
pub const PELCO_WSA_NS: &str = "urn:schemas-pelco-com:ws:addressing:1";

fn pelco_id(n: u64) -> String {
    format!("urn:uuid:90c6d153-d40a-ce00-565f-{n:012x}")
}

/// How a vendor writes a boolean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bools {
    TrueFalse,
    OneZero,
    Capitalised,
}

impl Bools {
    pub fn write(self, on: bool) -> &'static str {
        match (self, on) {
            (Bools::TrueFalse, true) => "true",
            (Bools::TrueFalse, false) => "false",
            (Bools::OneZero, true) => "1",
            (Bools::OneZero, false) => "0",
            (Bools::Capitalised, true) => "True",
            (Bools::Capitalised, false) => "False",
        }
    }
}

/// A topic the camera sends, with its Data item name, boolean style and Source items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub topic: String,
    pub item: String,
    pub bools: Bools,
    pub source: Vec<(String, String)>,
}

impl TopicSpec {
    pub fn new(topic: &str, item: &str, bools: Bools) -> Self {
        TopicSpec {
            topic: topic.to_string(),
            item: item.to_string(),
            bools,
            source: Vec::new(),
        }
    }

    pub fn source(mut self, items: &[(&str, &str)]) -> Self {
        self.source = items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        self
    }

    pub fn message(&self, operation: &'static str, value: &str, utc: Time) -> Message {
        Message {
            topic: self.topic.clone(),
            operation,
            source: self.source.clone(),
            item: self.item.clone(),
            value: value.to_string(),
            more: Vec::new(),
            utc,
        }
    }
}

/// A queued notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub operation: &'static str,
    pub source: Vec<(String, String)>,
    pub item: String,
    pub value: String,
    /// More Data items after `item` (a raw notification's).
    pub more: Vec<(String, String)>,
    pub utc: Time,
}
