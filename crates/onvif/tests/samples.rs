//! Every reply captured from a real camera (tests/samples/, described in its README.md)
//! parses, with the fields that matter checked per vendor.

use std::path::PathBuf;
use std::time::Duration;

use vigil_core::time::Time;
use vigil_onvif::notification::{Item, NotificationMessage, PropertyOperation};
use vigil_onvif::ops::{self, CreatedSubscription, PullMessagesResponse};
use vigil_onvif::soap;
use vigil_onvif::time::parse_datetime;
use vigil_onvif::xml::ns;
use vigil_onvif::{parse_notifications, Error, MotionMatcher, MotionTopic, SoapFault};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/samples")
}

fn sample(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn body(name: &str) -> soap::Reply {
    soap::parse_reply(200, &sample(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn pull(name: &str) -> PullMessagesResponse {
    ops::parse_pull_messages(&body(name).body).unwrap()
}

fn created(name: &str) -> CreatedSubscription {
    ops::parse_create_pull_point(&body(name).body).unwrap()
}

fn fault(name: &str, status: u16) -> SoapFault {
    match soap::parse_reply(status, &sample(name)) {
        Err(Error::Fault(f)) => f,
        other => panic!("{name}: expected a fault, got {other:?}"),
    }
}

fn lifetime(c: Option<Time>, t: Option<Time>) -> Duration {
    Duration::from_micros(t.unwrap().micros_since(c.unwrap()) as u64)
}

fn item(name: &str, value: &str) -> Item {
    Item {
        name: name.into(),
        value: value.into(),
    }
}

fn data<'a>(m: &'a NotificationMessage, name: &str) -> &'a str {
    m.data
        .iter()
        .find(|i| i.name == name)
        .map(|i| i.value.as_str())
        .unwrap_or_else(|| panic!("no data item {name} in {:?}", m.data))
}

fn extra(topic: &str) -> MotionMatcher {
    MotionMatcher::new(&[topic.parse::<MotionTopic>().unwrap()])
}

/// The README's count, and: every file parses without error, whatever kind it is.
#[test]
fn every_sample_parses() {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 30, "{names:?}");
    let (mut pulls, mut creates, mut faults, mut fragments) = (0, 0, 0, 0);
    for name in &names {
        let xml = sample(name);
        let doc = vigil_onvif::xml::parse(&xml).unwrap_or_else(|e| panic!("{name}: {e}"));
        let envelope = soap::split_envelope(&doc);
        let first = envelope.and_then(|(_, b)| b.children.first());
        match first.map(|e| e.local.as_str()) {
            Some("PullMessagesResponse") => {
                ops::parse_pull_messages(first.unwrap()).unwrap_or_else(|e| panic!("{name}: {e}"));
                pulls += 1;
            }
            Some("CreatePullPointSubscriptionResponse") => {
                let c = ops::parse_create_pull_point(first.unwrap()).unwrap();
                assert!(c.reference.address.starts_with("http://"), "{name}");
                assert!(c.termination_time > c.current_time, "{name}");
                creates += 1;
            }
            Some("Fault") => {
                let f = fault(name, 500);
                assert!(!f.code.is_empty(), "{name}");
                faults += 1;
            }
            other => {
                assert!(other.is_none(), "{name}: unexpected body {other:?}");
                let msgs = parse_notifications(&xml).unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(!msgs.is_empty(), "{name}: no NotificationMessage");
                fragments += 1;
            }
        }
        // Whatever the kind, every NotificationMessage has a resolved topic.
        for m in parse_notifications(&xml).unwrap() {
            assert!(!m.topic.text.is_empty(), "{name}");
            assert_eq!(m.topic.text, m.topic.text.trim(), "{name}");
            assert!(
                m.topic.path.0.iter().all(|s| !s.ns.starts_with('?')),
                "{name}: unresolved prefix in {}",
                m.topic.text
            );
        }
    }
    // Pulls: 6 whole with events, 2 empty, and the Reolink fragment that keeps its envelope;
    // 7 creates; 3 faults; 8 metadata-stream messages and 3 bare fragments.
    assert_eq!((pulls, creates, faults, fragments), (9, 7, 3, 11));
}

#[test]
fn hikvision_initialized_burst() {
    let p = pull("hikvision-unknown-pullmessages-initialized-burst.xml");
    assert_eq!(p.messages.len(), 10);
    assert!(p
        .messages
        .iter()
        .all(|m| m.operation == PropertyOperation::Initialized));
    let by = |t: &str| p.messages.iter().find(|m| m.topic.text == t).unwrap();
    let alarm = by("tns1:VideoSource/MotionAlarm");
    assert_eq!(alarm.source, vec![item("Source", "VideoSource_1")]);
    assert_eq!(data(alarm, "State"), "false");
    let cell = by("tns1:RuleEngine/CellMotionDetector/Motion");
    assert_eq!(cell.source.len(), 3);
    assert_eq!(cell.source[2], item("Rule", "MyMotionDetectorRule"));
    assert_eq!(cell.topic.path.0[0].ns, ns::TNS1);
    let m = MotionMatcher::default();
    assert_eq!(m.classify(cell), Some(false));
    assert_eq!(m.classify(alarm), Some(false));
    assert_eq!(
        by("tns1:RuleEngine/FieldDetector/ObjectsInside").key,
        vec![item("ObjectId", "0")]
    );
    assert!(by("tns1:Monitoring/OperatingTime/LastReset")
        .source
        .is_empty());
    assert_eq!(
        by("tns1:Device/HardwareFailure/StorageFailure").source,
        vec![item("Token", "")]
    );
    assert_eq!(data(by("tns1:Monitoring/ProcessorUsage"), "Value"), "37");
    let motion: Vec<_> = p
        .messages
        .iter()
        .filter(|x| m.classify(x).is_some())
        .collect();
    assert_eq!(
        motion.len(),
        2,
        "only MotionAlarm and CellMotionDetector are motion"
    );
}

#[test]
fn hikvision_anpr_vendor_prefix_last_segment() {
    let p = pull("hikvision-anpr-pullmessages-vehicledetector-plate-changed.xml");
    let v = &p.messages[0];
    assert_eq!(
        v.topic.text,
        "tns1:RuleEngine/VehicleDetector/tnshik:Vehicle"
    );
    assert_eq!(v.topic.path.0[1].ns, ns::TNS1);
    assert_eq!(v.topic.path.0[2].ns, ns::TNSHIK);
    assert_eq!(v.operation, PropertyOperation::Changed);
    assert_eq!(v.data.len(), 7);
    assert_eq!(data(v, "PlateNumber"), "XX0000");
    assert_eq!(MotionMatcher::default().classify(v), None);
    assert_eq!(
        lifetime(p.current_time, p.termination_time),
        Duration::from_secs(484)
    );
}

#[test]
fn hikvision_and_trendnet_create_and_empty_pull() {
    let c = created("hikvision-ptz-createpullpointsubscription-response.xml");
    assert_eq!(
        c.reference.address,
        "http://192.0.2.60/onvif/Events/PullSubManager_2018-02-27T18:28:52Z_5"
    );
    assert!(c.reference.reference_headers.is_empty());
    assert_eq!(
        lifetime(c.current_time, c.termination_time),
        Duration::from_secs(60)
    );
    let e = pull("hikvision-ptz-pullmessages-empty.xml");
    assert!(e.messages.is_empty());
    assert_eq!(
        lifetime(e.current_time, e.termination_time),
        Duration::from_secs(600)
    );
    let t = created("trendnet-fixed-createpullpointsubscription-response.xml");
    assert_eq!(
        lifetime(t.current_time, t.termination_time),
        Duration::from_secs(60)
    );
    let tp = pull("trendnet-fixed-pullmessages-processorusage-changed.xml");
    assert_eq!(tp.messages[0].operation, PropertyOperation::Changed);
    assert_eq!(data(&tp.messages[0], "Value"), "75");
    assert_eq!(MotionMatcher::default().classify(&tp.messages[0]), None);
}

#[test]
fn pelco_burst_topic_declared_on_topic_element() {
    let p = pull("pelco-ptz-pullmessages-initialized-burst.xml");
    assert_eq!(p.messages.len(), 10);
    let cell = p
        .messages
        .iter()
        .find(|m| m.topic.text == "tns1:RuleEngine/CellMotionDetector/Motion")
        .expect("topic text trimmed");
    assert!(cell.source.is_empty());
    assert_eq!(data(cell, "Value"), "True");
    assert_eq!(
        MotionMatcher::default().classify(cell),
        Some(true),
        "item Value, True"
    );
    let link = p
        .messages
        .iter()
        .find(|m| m.topic.text.ends_with("LinkStatus"))
        .unwrap();
    assert_eq!(link.data_elements, vec!["Link".to_string()]);
    assert_eq!(
        cell.utc_time.map(|t| t.0 % 1_000_000),
        Some(71_810),
        "microseconds kept"
    );
    let tracks = p
        .messages
        .iter()
        .filter(|m| m.topic.text.ends_with("Track/State"))
        .count();
    assert_eq!(tracks, 3);
}

#[test]
fn pelco_create_reference_parameters_and_fault() {
    let c = created("pelco-ptz-createpullpointsubscription-response.xml");
    assert_eq!(
        lifetime(c.current_time, c.termination_time),
        Duration::from_secs(90)
    );
    let rp = &c.reference.reference_parameters;
    assert_eq!(rp.len(), 1);
    assert!(rp[0].is("urn:schemas-pelco-com:ws:addressing:1", "SubscriptionId"));
    let hdr = &c.reference.reference_headers[0];
    assert!(
        hdr.contains("xmlns:pwsa=\"urn:schemas-pelco-com:ws:addressing:1\""),
        "{hdr}"
    );
    assert!(
        hdr.contains(">urn:uuid:90c6d153-d40a-ce00-565f-26bed81b5b83</pwsa:SubscriptionId>"),
        "{hdr}"
    );
    let f = fault("pelco-ptz-fault-pullmessages-validation.xml", 400);
    assert_eq!(f.code, "SOAP-ENV:Sender");
    assert!(f.subcodes.is_empty());
    assert!(
        f.reason.starts_with("Validation constraint violation"),
        "{}",
        f.reason
    );
    assert!(
        f.reason.contains("<PullMessages>"),
        "entities decoded: {}",
        f.reason
    );
}

#[test]
fn axis_pull_point_reference_parameters_and_faults() {
    let c = created("axis-ptz-createpullpointsubscription-response-subscriptionid.xml");
    assert_eq!(c.reference.address, "http://192.0.2.19/onvif/services");
    assert_eq!(
        lifetime(c.current_time, c.termination_time),
        Duration::from_secs(28 * 86_400)
    );
    let rp = &c.reference.reference_parameters[0];
    assert!(rp.is("http://www.axis.com/2009/event", "SubscriptionId"));
    assert_eq!(rp.text_trimmed(), "5");
    let hdr = &c.reference.reference_headers[0];
    assert!(
        hdr.starts_with("<dom0:SubscriptionId xmlns:dom0=\"http://www.axis.com/2009/event\""),
        "{hdr}"
    );
    assert!(hdr.contains("IsReferenceParameter=\"true\""), "{hdr}");

    let f = fault("axis-ptz-fault-pullmessages-invalidargs.xml", 400);
    assert_eq!(f.subcodes, vec!["ter:InvalidArgs".to_string()]);
    assert_eq!(f.reason, "");
    assert!(f.has("InvalidArgs") && !f.has("ResourceUnknown") && !f.is_not_authorized());
    let f = fault(
        "axis-ptz-fault-createpullpointsubscription-subscribecreationfailed.xml",
        500,
    );
    assert_eq!(f.code, "SOAP-ENV:Receiver");
    assert_eq!(f.detail, vec!["SubscribeCreationFailedFault".to_string()]);
}

fn one(name: &str) -> NotificationMessage {
    let mut v = parse_notifications(&sample(name)).unwrap();
    assert_eq!(v.len(), 1, "{name}");
    v.remove(0)
}

#[test]
fn axis_metadata_stream_messages() {
    let vmd = one("axis-unknown-metadatastream-vmd4-anyprofile-changed.xml");
    assert_eq!(vmd.topic.path.0[0].ns, ns::TNSAXIS);
    assert_eq!(vmd.topic.path.0.len(), 3);
    assert_eq!(data(&vmd, "active"), "1");
    assert!(vmd.source.is_empty() && vmd.key.is_empty());
    assert_eq!(
        MotionMatcher::default().classify(&vmd),
        None,
        "not a default topic"
    );
    let m = extra("tnsaxis:CameraApplicationPlatform/VMD/Camera1ProfileANY#active");
    assert_eq!(m.classify(&vmd), Some(true));
    let init = one("axis-unknown-metadatastream-vmd4-profile1-initialized.xml");
    assert_eq!(init.operation, PropertyOperation::Initialized);
    assert_eq!(
        extra("tnsaxis:CameraApplicationPlatform/VMD/*").classify(&init),
        Some(false)
    );

    let region = one("axis-unknown-metadatastream-motionregiondetector-initialized.xml");
    assert_eq!(
        MotionMatcher::default().classify(&region),
        Some(false),
        "State=0"
    );
    assert!(region.source.contains(&item("RuleName", "Profile 1V")));

    let pir = one("axis-unknown-metadatastream-pir-changed.xml");
    assert_eq!(pir.topic.path.to_string(), "tns1:Device/tnsaxis:Sensor/PIR");
    assert_eq!(
        extra("tns1:Device/tnsaxis:Sensor/PIR").classify(&pir),
        Some(true),
        "state=1"
    );
    let port = one("axis-unknown-metadatastream-ioport-any-initialized.xml");
    assert_eq!(port.source, vec![item("port", "-1")]);
    let oa = one("axis-unknown-metadatastream-objectanalytics-human-changed.xml");
    assert_eq!(oa.data.len(), 3);
    let storage = one("axis-unknown-metadatastream-storage-alert-initialized.xml");
    assert_eq!(
        extra("tnsaxis:Storage/Alert").classify(&storage),
        None,
        "-3 is no state"
    );
    let dn = one("axis-unknown-metadatastream-daynightvision-initialized.xml");
    assert_eq!(dn.topic.path.0[1].ns, ns::TNSAXIS);
    assert_eq!(MotionMatcher::default().classify(&dn), None);
}

#[test]
fn dahua_burst_and_create() {
    let p = pull("dahua-probable-pullmessages-initialized-processorusage.xml");
    assert_eq!(p.messages.len(), 5);
    assert_eq!(
        lifetime(p.current_time, p.termination_time),
        Duration::from_secs(41)
    );
    let cell = &p.messages[0];
    assert_eq!(MotionMatcher::default().classify(cell), Some(false));
    assert!(
        cell.utc_time > p.current_time,
        "message later than CurrentTime is kept"
    );
    assert_eq!(data(&p.messages[1], "Value"), "0.630000");
    let c = created("dahua-probable-createpullpointsubscription-response.xml");
    assert_eq!(
        c.reference.address,
        "http://192.0.2.108/onvif/Subscription?Idx=11"
    );
    assert_eq!(
        lifetime(c.current_time, c.termination_time),
        Duration::from_secs(60)
    );
}

#[test]
fn reolink_bullet() {
    let r = body("reolink-bullet-pullmessages-initialized.xml");
    let header = r.header.as_ref().unwrap();
    assert!(
        header.child(ns::WSSE, "Security").is_some(),
        "echoed wsse is read, then ignored"
    );
    let p = ops::parse_pull_messages(&r.body).unwrap();
    assert_eq!(p.messages.len(), 6);
    let m = MotionMatcher::default();
    let people = p
        .messages
        .iter()
        .find(|x| x.topic.text.ends_with("PeopleDetect"))
        .unwrap();
    assert_eq!(people.source, vec![item("Source", "000")]);
    assert_eq!(data(people, "State"), "false");
    assert_eq!(m.classify(people), None);
    let alarm = p
        .messages
        .iter()
        .find(|x| x.topic.text == "tns1:VideoSource/MotionAlarm")
        .unwrap();
    assert_eq!(m.classify(alarm), Some(false));
    let c = created("reolink-bullet-createpullpointsubscription-response.xml");
    assert_eq!(
        c.reference.address,
        "http://192.0.2.200:8000/onvif/PullSubManager?Idx=90264311"
    );
    assert_eq!(
        lifetime(c.current_time, c.termination_time),
        Duration::from_secs(120)
    );
}

#[test]
fn reolink_fragments_without_declarations() {
    let xml = sample("reolink-doorbellpoe-pullmessages-fragment-header-cellmotion.xml");
    // The envelope is cut short and declares nothing, yet it reads through well-known prefixes.
    let p = pull("reolink-doorbellpoe-pullmessages-fragment-header-cellmotion.xml");
    assert_eq!(
        lifetime(p.current_time, p.termination_time),
        Duration::from_secs(120)
    );
    assert_eq!(p.messages.len(), 1);
    let cell = &parse_notifications(&xml).unwrap()[0];
    assert_eq!(
        cell.source,
        vec![item("VideoSourceConfigurationToken", "000")]
    );
    assert_eq!(MotionMatcher::default().classify(cell), Some(false));

    let two = parse_notifications(&sample(
        "reolink-doorbellpoe-pullmessages-fragment-vehicle-dogcat.xml",
    ))
    .unwrap();
    assert_eq!(two.len(), 2);
    assert_eq!(
        two[1].topic.text,
        "tns1:RuleEngine/MyRuleDetector/DogCatDetect"
    );

    let notify = parse_notifications(&sample(
        "reolink-unknown-notify-fragment-cellmotion-facedetect-utctime1970.xml",
    ))
    .unwrap();
    assert_eq!(
        notify[1].utc_time,
        Some(Time(0)),
        "epoch UtcTime kept as given"
    );
    assert_eq!(notify[0].utc_time, parse_datetime("2022-10-07T05:43:31Z"));
}

#[test]
fn oem_nvr_tnshik_motion_alarm_upper_case_false() {
    let msgs = parse_notifications(&sample(
        "unknown-oem-nvr-pullmessages-fragment-tnshik-motionalarm-FALSE.xml",
    ))
    .unwrap();
    assert_eq!(msgs.len(), 2);
    let alarm = &msgs[0];
    assert_eq!(alarm.topic.text, "tns1:VideoAnalytics/tnshik:MotionAlarm");
    assert_eq!(alarm.topic.path.0[1].ns, ns::TNSHIK);
    assert_eq!(data(alarm, "State"), "FALSE");
    assert_eq!(
        alarm.utc_time,
        parse_datetime("2023-06-01T07:27:22Z"),
        "no zone = UTC"
    );
    assert_eq!(MotionMatcher::default().classify(alarm), None);
    assert_eq!(
        extra("tns1:VideoAnalytics/tnshik:MotionAlarm").classify(alarm),
        Some(false)
    );
    assert_eq!(
        extra("tns1:VideoAnalytics/tnshik:MotionAlarm").classify(&msgs[1]),
        None
    );
}

#[test]
fn vision360_camera_clock_in_2000() {
    let c = created(
        "360vision-hdpredator-probable-createpullpointsubscription-response-echoed-wsse.xml",
    );
    assert_eq!(
        c.reference.address,
        "http://192.0.2.111/onvif/services?SubscriptionId=0"
    );
    assert_eq!(
        lifetime(c.current_time, c.termination_time),
        Duration::from_secs(300)
    );
    assert_eq!(c.current_time, parse_datetime("2000-01-02T08:13:22Z"));
    let p = pull("360vision-hdpredator-probable-pullmessages-empty-echoed-wsse.xml");
    assert!(p.messages.is_empty());
    assert_eq!(
        lifetime(p.current_time, p.termination_time),
        Duration::from_secs(329)
    );
}

/// Every captured message that carries a detection gets its kind; housekeeping none
/// (docs/onvif.md, "Kinds").
#[test]
fn every_sample_message_classifies_to_its_kinds() {
    use vigil_core::kind::EventKind::{self, *};
    use vigil_onvif::{
        classify, KindMatcher,
        KindState::{self, *},
    };
    let m = KindMatcher::default();
    let got = |name: &str| -> Vec<(String, Vec<(EventKind, KindState)>)> {
        parse_notifications(&sample(name))
            .unwrap_or_else(|e| panic!("{name}: {e}"))
            .iter()
            .map(|n| (n.topic.text.clone(), classify(n, &m).kinds))
            .collect()
    };
    let cases: &[(&str, &[(EventKind, KindState)])] = &[
        (
            "axis-unknown-metadatastream-daynightvision-initialized.xml",
            &[],
        ),
        (
            "axis-unknown-metadatastream-ioport-any-initialized.xml",
            &[(Input, Off)],
        ),
        (
            "axis-unknown-metadatastream-motionregiondetector-initialized.xml",
            &[(Motion, Off)],
        ),
        (
            "axis-unknown-metadatastream-objectanalytics-human-changed.xml",
            &[(Person, On)],
        ),
        (
            "axis-unknown-metadatastream-pir-changed.xml",
            &[(Motion, On)],
        ),
        (
            "axis-unknown-metadatastream-storage-alert-initialized.xml",
            &[],
        ),
        (
            "axis-unknown-metadatastream-vmd4-anyprofile-changed.xml",
            &[(Motion, On)],
        ),
        (
            "axis-unknown-metadatastream-vmd4-profile1-initialized.xml",
            &[(Motion, Off)],
        ),
        (
            "dahua-probable-pullmessages-initialized-processorusage.xml",
            &[(Motion, Off)],
        ),
        (
            "hikvision-anpr-pullmessages-vehicledetector-plate-changed.xml",
            &[(Vehicle, Pulse)],
        ),
        (
            "hikvision-unknown-pullmessages-initialized-burst.xml",
            &[(Motion, Off), (Intrusion, Off), (Tamper, Off)],
        ),
        (
            "reolink-bullet-pullmessages-initialized.xml",
            &[
                (Motion, Off),
                (Face, Off),
                (Person, Off),
                (Vehicle, Off),
                (Animal, Off),
            ],
        ),
        (
            "reolink-doorbellpoe-pullmessages-fragment-header-cellmotion.xml",
            &[(Motion, Off)],
        ),
        (
            "reolink-doorbellpoe-pullmessages-fragment-vehicle-dogcat.xml",
            &[(Vehicle, Off), (Animal, Off)],
        ),
        (
            "reolink-unknown-notify-fragment-cellmotion-facedetect-utctime1970.xml",
            &[(Motion, Off), (Face, Off)],
        ),
        (
            "trendnet-fixed-pullmessages-processorusage-changed.xml",
            &[],
        ),
        (
            "unknown-oem-nvr-pullmessages-fragment-tnshik-motionalarm-FALSE.xml",
            &[(Tamper, Off), (Motion, Off)],
        ),
    ];
    for (name, want) in cases {
        let all = got(name);
        let mut seen: Vec<(EventKind, KindState)> = Vec::new();
        for (_, k) in &all {
            for x in k {
                if !seen.contains(x) {
                    seen.push(*x);
                }
            }
        }
        let mut a = seen.clone();
        let mut b = want.to_vec();
        a.sort_by_key(|(k, s)| (*k, format!("{s:?}")));
        b.sort_by_key(|(k, s)| (*k, format!("{s:?}")));
        assert_eq!(a, b, "{name}: {all:#?}");
    }
    // Every sample holding notifications still parses and classifies without panicking.
    for e in std::fs::read_dir(dir()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "xml") {
            let text = std::fs::read_to_string(&p).unwrap();
            if let Ok(ns) = parse_notifications(&text) {
                for n in &ns {
                    classify(n, &m);
                }
            }
        }
    }
}
