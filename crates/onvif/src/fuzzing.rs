//! One entry point that runs every parser over untrusted bytes, for the cargo-fuzz target in
//! `fuzz/` and the stable property test that stands in for it. It must never panic.

use crate::digest::{Challenge, Credentials};
use crate::{notification, ops, soap, time, topics, xml};

/// Feeds `data` to every parser a camera's reply (or a request, for the simulator) can reach.
pub fn parse_everything(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let _ = crate::discovery::parse_probe_matches(&text, ([127, 0, 0, 1], 3702).into());
    if let Ok(msgs) = notification::parse_notifications(&text) {
        let k = crate::kinds::KindMatcher::default();
        for m in &msgs {
            let _ = crate::kinds::classify(m, &k);
        }
    }
    for status in [200, 400, 401, 500] {
        if let Ok(reply) = soap::parse_reply(status, &text) {
            let b = &reply.body;
            let _ = ops::parse_system_date_and_time(b);
            let _ = ops::parse_capabilities(b);
            let _ = ops::parse_services(b);
            let _ = ops::parse_profiles(b);
            let _ = ops::parse_stream_uri(b);
            if let Ok(c) = ops::parse_create_pull_point(b) {
                let _ = ops::fix_xaddr(
                    "http://192.0.2.1/onvif/device_service",
                    &c.reference.address,
                );
            }
            if let Ok(p) = ops::parse_pull_messages(b) {
                let m = topics::MotionMatcher::default();
                let k = crate::kinds::KindMatcher::default();
                for msg in &p.messages {
                    let _ = m.classify(msg);
                    let _ = crate::kinds::classify(msg, &k);
                    let _ = msg.topic.path.to_string();
                }
            }
            let _ = ops::parse_renew(b);
            if let Some(h) = &reply.header {
                let _ = crate::security::ReceivedToken::from_header(h);
            }
        }
    }
    if let Ok(doc) = xml::parse(&text) {
        for r in &doc.roots {
            let _ = r.to_xml();
        }
    }
    let _ = time::parse_datetime(&text);
    let _ = time::parse_duration(&text);
    let _ = text.parse::<topics::MotionTopic>();
    let _ = text.parse::<crate::kinds::KindTopic>();
    let _ = Challenge::parse(&text);
    let _ = Credentials::parse(&text);
}
