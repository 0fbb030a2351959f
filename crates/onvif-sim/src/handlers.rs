//! The SOAP operations: device, media, and the PullPoint subscriptions.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use vigil_core::time::Time;
use vigil_onvif::ops::Op;
use vigil_onvif::soap;
use vigil_onvif::time::{format_datetime_secs, parse_absolute_or_relative, parse_duration};
use vigil_onvif::xml::{self, escape, ns, Element};

use crate::dialect::{AXIS_EVENT_NS, PELCO_WSA_NS};
use crate::server::{check_auth, response, Dropped, Reply};
use crate::{Shared, SimConfig, State, Sub, Vendor};

/// A whole reply envelope in the vendor's style.
pub(crate) fn envelope(vendor: Vendor, header: &str, body: &str) -> String {
    let p = vendor.env_prefix();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{p}:Envelope{ns}><{p}:Header>{header}</{p}:Header><{p}:Body>{body}</{p}:Body></{p}:Envelope>{tail}",
        ns = vendor.envelope_namespaces(),
        tail = if vendor == Vendor::Reolink { "\r\n" } else { "" },
    )
}

pub(crate) fn fault_envelope(
    vendor: Vendor,
    code: &str,
    subcodes: &[&str],
    reason: &str,
    detail: &str,
) -> String {
    let p = vendor.env_prefix();
    let mut sub = String::new();
    for s in subcodes.iter().rev() {
        sub = format!("<{p}:Subcode><{p}:Value>{s}</{p}:Value>{sub}</{p}:Subcode>");
    }
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!("<{p}:Detail>{detail}</{p}:Detail>")
    };
    let body = format!(
        "<{p}:Fault><{p}:Code><{p}:Value>{p}:{code}</{p}:Value>{sub}</{p}:Code><{p}:Reason><{p}:Text xml:lang=\"en\">{}</{p}:Text></{p}:Reason>{detail}</{p}:Fault>",
        escape(reason)
    );
    envelope(vendor, "", &body)
}

fn identify(body: &Element) -> Option<Op> {
    let ops = [
        (ns::TDS, "GetSystemDateAndTime", Op::GetSystemDateAndTime),
        (ns::TDS, "GetCapabilities", Op::GetCapabilities),
        (ns::TDS, "GetServices", Op::GetServices),
        (ns::TRT, "GetProfiles", Op::GetProfiles),
        (ns::TRT, "GetStreamUri", Op::GetStreamUri),
        (
            ns::TEV,
            "CreatePullPointSubscription",
            Op::CreatePullPointSubscription,
        ),
        (ns::TEV, "PullMessages", Op::PullMessages),
        (ns::WSNT, "Renew", Op::Renew),
        (ns::WSNT, "Unsubscribe", Op::Unsubscribe),
    ];
    ops.iter()
        .find(|(n, l, _)| body.is(n, l))
        .map(|(_, _, op)| *op)
}

pub(crate) async fn dispatch(
    shared: &Arc<Shared>,
    path: &str,
    authorization: Option<&str>,
    text: &str,
) -> Reply {
    let vendor = shared.lock().cfg.vendor;
    let bad = |reason: &str| {
        Ok(response(
            400,
            fault_envelope(vendor, "Sender", &["ter:WellFormed"], reason, ""),
        ))
    };
    let Ok(doc) = xml::parse(text) else {
        return bad("not well-formed XML");
    };
    let Some((header, body)) = soap::split_envelope(&doc) else {
        return bad("not a SOAP envelope");
    };
    let Some(first) = body.children.first() else {
        return bad("empty Body");
    };
    let Some(op) = identify(first) else {
        return Ok(response(
            400,
            fault_envelope(
                vendor,
                "Receiver",
                &["ter:ActionNotSupported"],
                "Action not supported",
                "",
            ),
        ));
    };
    if op.needs_auth() {
        if let Some(refusal) = check_auth(shared, header, authorization) {
            return Ok(refusal);
        }
    }
    // Reolink (gSOAP) echoes the client's wsse:Security back.
    let echo = match (vendor, header.and_then(|h| h.child(ns::WSSE, "Security"))) {
        (Vendor::Reolink, Some(sec)) => sec.to_xml(),
        _ => String::new(),
    };
    let ok = |body: String| Ok(response(200, envelope(vendor, &echo, &body)));
    match sync_op(shared, op, first, path, header) {
        Next::Reply(200, body) => ok(body),
        Next::Reply(status, body) => Ok(response(status, body)),
        Next::Poll { n, timeout, limit } => ok(long_poll(shared, n, timeout, limit).await?),
    }
}

enum Next {
    /// Status and the whole envelope (200: only the body element, wrapped by the caller).
    Reply(u16, String),
    Poll {
        n: u64,
        timeout: Duration,
        limit: usize,
    },
}

/// Everything but the long poll, under the state lock.
fn sync_op(shared: &Shared, op: Op, first: &Element, path: &str, header: Option<&Element>) -> Next {
    let mut st = shared.lock();
    let vendor = st.cfg.vendor;
    shared.expire(&mut st);
    let now = shared.cam_now(&st);
    let ok = |body: String| Next::Reply(200, body);
    match op {
        Op::GetSystemDateAndTime => ok(system_date_and_time(now)),
        Op::GetCapabilities => ok(capabilities(&shared.base_url, vendor)),
        Op::GetServices => ok(services(&shared.base_url, vendor)),
        Op::GetProfiles => ok(profiles(&st.cfg)),
        Op::GetStreamUri => {
            let token = first
                .child(ns::TRT, "ProfileToken")
                .map(|t| t.text_trimmed().to_string())
                .unwrap_or_default();
            let url = match (&st.cfg.sub_rtsp_url, token.as_str()) {
                (Some(sub), "Profile_2") => sub.clone(),
                (_, "Profile_1") => st.cfg.rtsp_url.clone(),
                _ => {
                    drop(st);
                    return Next::Reply(
                        400,
                        fault_envelope(
                            vendor,
                            "Sender",
                            &["ter:InvalidArgVal", "ter:NoProfile"],
                            "no such profile",
                            "",
                        ),
                    );
                }
            };
            let uri = escape(&url);
            drop(st);
            shared.count(|c| c.stream_uri_requests += 1);
            ok(format!("<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{uri}</tt:Uri><tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>"))
        }
        Op::CreatePullPointSubscription => {
            let requested = first
                .child(ns::TEV, "InitialTerminationTime")
                .and_then(|t| parse_absolute_or_relative(t.text_trimmed(), now));
            ok(create(shared, &mut st, now, requested))
        }
        Op::PullMessages | Op::Renew | Op::Unsubscribe => {
            let n = match find_subscription(vendor, &st, path, header) {
                Lookup::Found(n) => n,
                Lookup::MissingHeader => {
                    drop(st);
                    shared.count(|c| c.invalid_args += 1);
                    return Next::Reply(
                        400,
                        fault_envelope(vendor, "Sender", &["ter:InvalidArgs"], "", ""),
                    );
                }
                Lookup::Unknown => {
                    drop(st);
                    shared.count(|c| c.resource_unknown += 1);
                    return Next::Reply(400, resource_unknown(vendor, now));
                }
            };
            match op {
                Op::Renew => {
                    let requested = first
                        .child(ns::WSNT, "TerminationTime")
                        .and_then(|t| parse_absolute_or_relative(t.text_trimmed(), now));
                    let granted = grant(&st, now, requested);
                    if let Some(s) = st.subs.get_mut(&n) {
                        s.termination = granted;
                    }
                    drop(st);
                    shared.count(|c| c.renewals += 1);
                    ok(format!(
                        "<wsnt:RenewResponse><wsnt:TerminationTime>{}</wsnt:TerminationTime><wsnt:CurrentTime>{}</wsnt:CurrentTime></wsnt:RenewResponse>",
                        vendor.time(granted),
                        vendor.time(now)
                    ))
                }
                Op::Unsubscribe => {
                    st.subs.remove(&n);
                    let active = st.subs.len() as u64;
                    drop(st);
                    shared.count(|c| {
                        c.unsubscribes += 1;
                        c.active_subscriptions = active;
                    });
                    ok("<wsnt:UnsubscribeResponse/>".to_string())
                }
                _ => Next::Poll {
                    n,
                    timeout: first
                        .child(ns::TEV, "Timeout")
                        .and_then(|t| parse_duration(t.text_trimmed()))
                        .unwrap_or(Duration::from_secs(10))
                        .min(st.cfg.max_pull_timeout),
                    limit: first
                        .child(ns::TEV, "MessageLimit")
                        .and_then(|t| t.text_trimmed().parse::<usize>().ok())
                        .unwrap_or(100)
                        .max(1),
                },
            }
        }
    }
}

fn system_date_and_time(now: Time) -> String {
    let s = format_datetime_secs(now);
    let n = |r: std::ops::Range<usize>| s[r].trim_start_matches('0').parse::<u32>().unwrap_or(0);
    format!(
        concat!(
            "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>",
            "<tt:DaylightSavings>false</tt:DaylightSavings><tt:TimeZone><tt:TZ>UTC0</tt:TZ></tt:TimeZone>",
            "<tt:UTCDateTime><tt:Time><tt:Hour>{}</tt:Hour><tt:Minute>{}</tt:Minute><tt:Second>{}</tt:Second></tt:Time>",
            "<tt:Date><tt:Year>{}</tt:Year><tt:Month>{}</tt:Month><tt:Day>{}</tt:Day></tt:Date></tt:UTCDateTime>",
            "</tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>"
        ),
        n(11..13),
        n(14..16),
        n(17..19),
        n(0..4),
        n(5..7),
        n(8..10)
    )
}

fn capabilities(base: &str, v: Vendor) -> String {
    format!(
        concat!(
            "<tds:GetCapabilitiesResponse><tds:Capabilities>",
            "<tt:Device><tt:XAddr>{b}/onvif/device_service</tt:XAddr></tt:Device>",
            "<tt:Events><tt:XAddr>{b}{e}</tt:XAddr><tt:WSSubscriptionPolicySupport>false</tt:WSSubscriptionPolicySupport>",
            "<tt:WSPullPointSupport>true</tt:WSPullPointSupport><tt:WSPausableSubscriptionManagerInterfaceSupport>false</tt:WSPausableSubscriptionManagerInterfaceSupport></tt:Events>",
            "<tt:Media><tt:XAddr>{b}{m}</tt:XAddr></tt:Media>",
            "</tds:Capabilities></tds:GetCapabilitiesResponse>"
        ),
        b = base,
        e = v.event_path(),
        m = v.media_path()
    )
}

fn services(base: &str, v: Vendor) -> String {
    let svc = |namespace: &str, path: &str| {
        format!("<tds:Service><tds:Namespace>{namespace}</tds:Namespace><tds:XAddr>{base}{path}</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>60</tt:Minor></tds:Version></tds:Service>")
    };
    format!(
        "<tds:GetServicesResponse>{}{}{}</tds:GetServicesResponse>",
        svc(ns::TDS, "/onvif/device_service"),
        svc(ns::TRT, v.media_path()),
        svc(ns::TEV, v.event_path())
    )
}

/// A profile as Hikvision and most others write it (abridged: the encoder's name, encoding and
/// resolution are what clients read).
fn profile(token: &str, name: &str, w: u32, h: u32) -> String {
    format!(
        "<trt:Profiles token=\"{token}\" fixed=\"true\"><tt:Name>{name}</tt:Name>\
         <tt:VideoSourceConfiguration token=\"VideoSourceToken\"><tt:Name>VideoSourceConfig</tt:Name><tt:UseCount>2</tt:UseCount><tt:SourceToken>VideoSource_1</tt:SourceToken><tt:Bounds x=\"0\" y=\"0\" width=\"1920\" height=\"1080\"/></tt:VideoSourceConfiguration>\
         <tt:VideoEncoderConfiguration token=\"VideoEncoder_{token}\"><tt:Name>VideoEncoder_{token}</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>\
         <tt:Resolution><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:Resolution><tt:Quality>3</tt:Quality>\
         <tt:RateControl><tt:FrameRateLimit>15</tt:FrameRateLimit><tt:EncodingInterval>1</tt:EncodingInterval><tt:BitrateLimit>1024</tt:BitrateLimit></tt:RateControl>\
         <tt:H264><tt:GovLength>15</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264></tt:VideoEncoderConfiguration></trt:Profiles>"
    )
}

fn profiles(cfg: &SimConfig) -> String {
    let sub = cfg
        .sub_rtsp_url
        .as_ref()
        .map(|_| profile("Profile_2", "subStream", 640, 360))
        .unwrap_or_default();
    format!(
        "<trt:GetProfilesResponse>{}{sub}</trt:GetProfilesResponse>",
        profile("Profile_1", "mainStream", 1920, 1080)
    )
}

fn grant(st: &State, now: Time, requested: Option<Time>) -> Time {
    let max = now.plus(st.cfg.max_termination);
    requested.map_or(max, |r| r.min(max).max(now))
}

fn create(shared: &Shared, st: &mut State, now: Time, requested: Option<Time>) -> String {
    let vendor = st.cfg.vendor;
    let n = st.next_sub;
    st.next_sub += 1;
    let address = vendor.subscription_address(&shared.base_url, n, now);
    let termination = grant(st, now, requested);
    // The Initialized burst: current motion state first, then the other topics.
    let mut queue = VecDeque::new();
    let on = st.motion_on;
    for t in st.motion_topics() {
        queue.push_back(t.message("Initialized", t.bools.write(on), now));
    }
    for (t, value) in vendor.other_initial_topics() {
        queue.push_back(t.message("Initialized", value, now));
    }
    st.subs.insert(
        n,
        Sub {
            address: address.clone(),
            termination,
            queue,
            notify: Arc::new(Notify::new()),
        },
    );
    let active = st.subs.len() as u64;
    shared.count(|c| {
        c.subscriptions_created += 1;
        c.active_subscriptions = active;
    });
    let refs = vendor
        .reference_parameters(n)
        .map(|r| format!("<wsa5:ReferenceParameters>{r}</wsa5:ReferenceParameters>"))
        .unwrap_or_default();
    format!(
        "<tev:CreatePullPointSubscriptionResponse><tev:SubscriptionReference><wsa5:Address>{}</wsa5:Address>{refs}</tev:SubscriptionReference><wsnt:CurrentTime>{}</wsnt:CurrentTime><wsnt:TerminationTime>{}</wsnt:TerminationTime></tev:CreatePullPointSubscriptionResponse>",
        escape(&address),
        vendor.time(now),
        vendor.time(termination)
    )
}

enum Lookup {
    Found(u64),
    MissingHeader,
    Unknown,
}

/// Which subscription a request is for: by URL (Hikvision, Reolink) or by the echoed
/// ReferenceParameter (Axis, Pelco; refused without it, as Axis does).
fn find_subscription(v: Vendor, st: &State, path: &str, header: Option<&Element>) -> Lookup {
    let id = if v.uses_reference_parameters() {
        let (nsu, local) = match v {
            Vendor::Axis => (AXIS_EVENT_NS, "SubscriptionId"),
            _ => (PELCO_WSA_NS, "SubscriptionId"),
        };
        let Some(text) = header
            .and_then(|h| h.child(nsu, local))
            .map(|e| e.text_trimmed().to_string())
        else {
            return Lookup::MissingHeader;
        };
        st.subs
            .iter()
            .find(|(n, _)| {
                v.reference_parameters(**n)
                    .is_some_and(|r| r.contains(&format!(">{text}<")))
            })
            .map(|(n, _)| *n)
    } else {
        st.subs
            .iter()
            .find(|(_, s)| s.address.ends_with(path) && path.len() > 1)
            .map(|(n, _)| *n)
    };
    id.map_or(Lookup::Unknown, Lookup::Found)
}

fn resource_unknown(v: Vendor, now: Time) -> String {
    fault_envelope(
        v,
        "Sender",
        &["ter:InvalidArgs", "ter:ResourceUnknown"],
        "The subscription does not exist",
        &format!(
            "<wsrf-r:ResourceUnknownFault xmlns:wsrf-r=\"http://docs.oasis-open.org/wsrf/r-2\"><wsrf-bf:Timestamp xmlns:wsrf-bf=\"http://docs.oasis-open.org/wsrf/bf-2\">{}</wsrf-bf:Timestamp></wsrf-r:ResourceUnknownFault>",
            format_datetime_secs(now)
        ),
    )
}

/// Answers at once when messages are queued, else waits for one up to `timeout`.
async fn long_poll(
    shared: &Arc<Shared>,
    n: u64,
    timeout: Duration,
    limit: usize,
) -> Result<String, Dropped> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let notify = {
            let mut st = shared.lock();
            let vendor = st.cfg.vendor;
            let now = shared.cam_now(&st);
            let Some(sub) = st.subs.get_mut(&n) else {
                return Err(Dropped::Rebooted);
            };
            let expired = tokio::time::Instant::now() >= deadline;
            if !sub.queue.is_empty() || expired {
                let k = sub.queue.len().min(limit);
                let msgs: Vec<_> = sub.queue.drain(..k).collect();
                let termination = sub.termination;
                drop(st);
                shared.count(|c| {
                    c.pulls += 1;
                    c.messages_delivered += k as u64;
                });
                let body: String = msgs.iter().map(|m| vendor.notification(m)).collect();
                return Ok(format!(
                    "<tev:PullMessagesResponse><tev:CurrentTime>{}</tev:CurrentTime><tev:TerminationTime>{}</tev:TerminationTime>{body}</tev:PullMessagesResponse>",
                    vendor.time(now),
                    vendor.time(termination)
                ));
            }
            sub.notify.clone()
        };
        let _ = tokio::time::timeout_at(deadline, notify.notified()).await;
    }
}
