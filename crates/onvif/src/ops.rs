//! The ONVIF operations vigil uses: request bodies, actions, and reading their replies.
//!
//! Device: GetSystemDateAndTime, GetCapabilities, GetServices. Media: GetProfiles, GetStreamUri.
//! Events: CreatePullPointSubscription, PullMessages, Renew, Unsubscribe.

use std::time::Duration;

use vigil_core::time::Time;

use crate::error::Error;
use crate::notification::{parse_notification, NotificationMessage};
use crate::soap::reference_parameter_header;
use crate::time::{format_duration, from_civil, parse_datetime};
use crate::xml::{escape, ns, Element};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Op {
    GetSystemDateAndTime,
    GetCapabilities,
    GetServices,
    GetProfiles,
    GetStreamUri,
    CreatePullPointSubscription,
    PullMessages,
    Renew,
    Unsubscribe,
}

impl Op {
    pub fn action(self) -> &'static str {
        match self {
            Op::GetSystemDateAndTime => "http://www.onvif.org/ver10/device/wsdl/GetSystemDateAndTime",
            Op::GetCapabilities => "http://www.onvif.org/ver10/device/wsdl/GetCapabilities",
            Op::GetServices => "http://www.onvif.org/ver10/device/wsdl/GetServices",
            Op::GetProfiles => "http://www.onvif.org/ver10/media/wsdl/GetProfiles",
            Op::GetStreamUri => "http://www.onvif.org/ver10/media/wsdl/GetStreamUri",
            Op::CreatePullPointSubscription => {
                "http://www.onvif.org/ver10/events/wsdl/EventPortType/CreatePullPointSubscriptionRequest"
            }
            Op::PullMessages => {
                "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest"
            }
            Op::Renew => "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/RenewRequest",
            Op::Unsubscribe => {
                "http://docs.oasis-open.org/wsn/bw-2/SubscriptionManager/UnsubscribeRequest"
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Op::GetSystemDateAndTime => "GetSystemDateAndTime",
            Op::GetCapabilities => "GetCapabilities",
            Op::GetServices => "GetServices",
            Op::GetProfiles => "GetProfiles",
            Op::GetStreamUri => "GetStreamUri",
            Op::CreatePullPointSubscription => "CreatePullPointSubscription",
            Op::PullMessages => "PullMessages",
            Op::Renew => "Renew",
            Op::Unsubscribe => "Unsubscribe",
        }
    }

    /// Whether the camera wants WS-Security on it (GetSystemDateAndTime must work without, and
    /// is how the clock offset for the digest is learned).
    pub fn needs_auth(self) -> bool {
        self != Op::GetSystemDateAndTime
    }
}

// ---- request bodies ----

pub fn get_system_date_and_time() -> String {
    format!("<tds:GetSystemDateAndTime xmlns:tds=\"{}\"/>", ns::TDS)
}

pub fn get_capabilities() -> String {
    format!(
        "<tds:GetCapabilities xmlns:tds=\"{}\"><tds:Category>All</tds:Category></tds:GetCapabilities>",
        ns::TDS
    )
}

pub fn get_services() -> String {
    format!(
        "<tds:GetServices xmlns:tds=\"{}\"><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>",
        ns::TDS
    )
}

pub fn get_profiles() -> String {
    format!("<trt:GetProfiles xmlns:trt=\"{}\"/>", ns::TRT)
}

pub fn get_stream_uri(profile_token: &str) -> String {
    format!(
        concat!(
            "<trt:GetStreamUri xmlns:trt=\"{trt}\" xmlns:tt=\"{tt}\"><trt:StreamSetup>",
            "<tt:Stream>RTP-Unicast</tt:Stream><tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport>",
            "</trt:StreamSetup><trt:ProfileToken>{tok}</trt:ProfileToken></trt:GetStreamUri>"
        ),
        trt = ns::TRT,
        tt = ns::TT,
        tok = escape(profile_token)
    )
}

pub fn create_pull_point_subscription(initial_termination: Duration) -> String {
    format!(
        "<tev:CreatePullPointSubscription xmlns:tev=\"{}\"><tev:InitialTerminationTime>{}</tev:InitialTerminationTime></tev:CreatePullPointSubscription>",
        ns::TEV,
        format_duration(initial_termination)
    )
}

pub fn pull_messages(timeout: Duration, message_limit: u32) -> String {
    format!(
        "<tev:PullMessages xmlns:tev=\"{}\"><tev:Timeout>{}</tev:Timeout><tev:MessageLimit>{}</tev:MessageLimit></tev:PullMessages>",
        ns::TEV,
        format_duration(timeout),
        message_limit
    )
}

pub fn renew(termination: Duration) -> String {
    format!(
        "<wsnt:Renew xmlns:wsnt=\"{}\"><wsnt:TerminationTime>{}</wsnt:TerminationTime></wsnt:Renew>",
        ns::WSNT,
        format_duration(termination)
    )
}

pub fn unsubscribe() -> String {
    format!("<wsnt:Unsubscribe xmlns:wsnt=\"{}\"/>", ns::WSNT)
}

// ---- replies ----

fn expect<'a>(
    body: &'a Element,
    namespaces: &[&str],
    local: &str,
    op: Op,
) -> Result<&'a Element, Error> {
    if body.is_any(namespaces, local) {
        Ok(body)
    } else {
        Err(Error::Unexpected {
            op: op.name(),
            what: format!("expected {local}, got {}", body.local),
        })
    }
}

fn num(el: Option<&Element>, local: &str) -> Option<u32> {
    el?.children
        .iter()
        .find(|c| c.local == local)?
        .text_trimmed()
        .parse()
        .ok()
}

/// The camera's UTC time from a GetSystemDateAndTimeResponse (`None` when it only reports local
/// time or the fields do not make a date).
pub fn parse_system_date_and_time(body: &Element) -> Result<Option<Time>, Error> {
    let r = expect(
        body,
        &[ns::TDS],
        "GetSystemDateAndTimeResponse",
        Op::GetSystemDateAndTime,
    )?;
    let Some(utc) = r
        .child(ns::TDS, "SystemDateAndTime")
        .and_then(|s| s.child(ns::TT, "UTCDateTime"))
    else {
        return Ok(None);
    };
    let date = utc.child(ns::TT, "Date");
    let time = utc.child(ns::TT, "Time");
    let (Some(y), Some(mo), Some(d)) = (num(date, "Year"), num(date, "Month"), num(date, "Day"))
    else {
        return Ok(None);
    };
    let (h, mi, s) = (
        num(time, "Hour").unwrap_or(0),
        num(time, "Minute").unwrap_or(0),
        num(time, "Second").unwrap_or(0),
    );
    Ok(from_civil(y as i64, mo, d, h, mi, s, 0))
}

/// Service addresses the client needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceAddrs {
    pub events: Option<String>,
    pub media: Option<String>,
}

pub fn parse_capabilities(body: &Element) -> Result<ServiceAddrs, Error> {
    let r = expect(
        body,
        &[ns::TDS],
        "GetCapabilitiesResponse",
        Op::GetCapabilities,
    )?;
    let caps = r.child(ns::TDS, "Capabilities");
    let xaddr = |name: &str| {
        caps.and_then(|c| c.child(ns::TT, name))
            .and_then(|e| e.child(ns::TT, "XAddr"))
            .map(|x| x.text_trimmed().to_string())
            .filter(|x| !x.is_empty())
    };
    Ok(ServiceAddrs {
        events: xaddr("Events"),
        media: xaddr("Media"),
    })
}

pub fn parse_services(body: &Element) -> Result<ServiceAddrs, Error> {
    let r = expect(body, &[ns::TDS], "GetServicesResponse", Op::GetServices)?;
    let mut out = ServiceAddrs::default();
    let mut media2 = None;
    for s in r.children_named(ns::TDS, "Service") {
        let namespace = s.child_text(ns::TDS, "Namespace").unwrap_or("");
        let Some(x) = s.child_text(ns::TDS, "XAddr").filter(|x| !x.is_empty()) else {
            continue;
        };
        match namespace {
            ns::TEV => out.events = Some(x.to_string()),
            ns::TRT => out.media = Some(x.to_string()),
            ns::TR2 => media2 = Some(x.to_string()),
            _ => {}
        }
    }
    // Media2 speaks a different dialect; only Media1 calls are made, so it is a last resort.
    if out.media.is_none() {
        out.media = media2;
    }
    Ok(out)
}

/// A media profile: its token, name and what its video encoder sends (when it says).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MediaProfile {
    pub token: String,
    pub name: String,
    /// `H264`, `H265`, `JPEG`, ... as the camera writes it.
    pub encoding: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

impl MediaProfile {
    /// Pixels per picture, when the camera said.
    pub fn pixels(&self) -> Option<u64> {
        Some(u64::from(self.width?) * u64::from(self.height?))
    }

    /// Whether it sends H.264 (as far as the camera says).
    pub fn is_h264(&self) -> bool {
        self.encoding
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case("H264") || e.eq_ignore_ascii_case("H.264"))
    }
}

/// The media profiles, in the camera's order (the first is the main stream).
pub fn parse_profiles(body: &Element) -> Result<Vec<MediaProfile>, Error> {
    let r = expect(body, &[ns::TRT], "GetProfilesResponse", Op::GetProfiles)?;
    Ok(r.children
        .iter()
        .filter(|c| c.local == "Profiles")
        .filter_map(|p| {
            let token = p.attr("token")?.to_string();
            let enc = p.child(ns::TT, "VideoEncoderConfiguration");
            let res = enc.and_then(|e| e.child(ns::TT, "Resolution"));
            let num = |k: &str| {
                res.and_then(|r| r.child_text(ns::TT, k))
                    .and_then(|t| t.parse::<u32>().ok())
                    .filter(|n| *n > 0)
            };
            Some(MediaProfile {
                name: p.child_text(ns::TT, "Name").unwrap_or_default().to_string(),
                encoding: enc
                    .and_then(|e| e.child_text(ns::TT, "Encoding"))
                    .filter(|t| !t.is_empty())
                    .map(str::to_string),
                width: num("Width"),
                height: num("Height"),
                token,
            })
        })
        .collect())
}

/// The profile a detector should decode: the smallest H.264 one that is not the first (the
/// main stream), when the camera has one. Profiles that don't say their size or encoding are
/// not chosen.
pub fn sub_stream(profiles: &[MediaProfile]) -> Option<&MediaProfile> {
    let main = profiles.first()?;
    profiles
        .iter()
        .skip(1)
        .filter(|p| p.is_h264() && p.pixels().is_some())
        .filter(|p| p.pixels() < main.pixels() || main.pixels().is_none())
        .min_by_key(|p| p.pixels())
}

pub fn parse_stream_uri(body: &Element) -> Result<String, Error> {
    let r = expect(body, &[ns::TRT], "GetStreamUriResponse", Op::GetStreamUri)?;
    r.child(ns::TRT, "MediaUri")
        .and_then(|m| m.child(ns::TT, "Uri"))
        .map(|u| u.text_trimmed().to_string())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| Error::Unexpected {
            op: Op::GetStreamUri.name(),
            what: "no MediaUri/Uri".into(),
        })
}

/// Where a subscription lives: its address and the ReferenceParameters to echo as headers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionReference {
    pub address: String,
    /// Each ReferenceParameters child, ready to be sent as a SOAP header.
    pub reference_headers: Vec<String>,
    /// The same children as received (for inspection).
    pub reference_parameters: Vec<Element>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreatedSubscription {
    pub reference: SubscriptionReference,
    pub current_time: Option<Time>,
    pub termination_time: Option<Time>,
}

fn time_child(r: &Element, local: &str) -> Option<Time> {
    r.child_any(&[ns::WSNT, ns::TEV], local)
        .and_then(|e| parse_datetime(e.text_trimmed()))
}

pub fn parse_create_pull_point(body: &Element) -> Result<CreatedSubscription, Error> {
    let op = Op::CreatePullPointSubscription;
    let r = expect(body, &[ns::TEV], "CreatePullPointSubscriptionResponse", op)?;
    let sref = r
        .child(ns::TEV, "SubscriptionReference")
        .ok_or_else(|| Error::Unexpected {
            op: op.name(),
            what: "no SubscriptionReference".into(),
        })?;
    let addr_ns = [ns::WSA, ns::WSA_2004];
    let address = sref
        .child_any(&addr_ns, "Address")
        .map(|a| a.text_trimmed().to_string())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Error::Unexpected {
            op: op.name(),
            what: "no SubscriptionReference/Address".into(),
        })?;
    let params: Vec<Element> = sref
        .child_any(&addr_ns, "ReferenceParameters")
        .map(|p| p.children.clone())
        .unwrap_or_default();
    Ok(CreatedSubscription {
        reference: SubscriptionReference {
            address,
            reference_headers: params.iter().map(reference_parameter_header).collect(),
            reference_parameters: params,
        },
        current_time: time_child(r, "CurrentTime"),
        termination_time: time_child(r, "TerminationTime"),
    })
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullMessagesResponse {
    pub current_time: Option<Time>,
    pub termination_time: Option<Time>,
    pub messages: Vec<NotificationMessage>,
}

pub fn parse_pull_messages(body: &Element) -> Result<PullMessagesResponse, Error> {
    let r = expect(body, &[ns::TEV], "PullMessagesResponse", Op::PullMessages)?;
    Ok(PullMessagesResponse {
        current_time: time_child(r, "CurrentTime"),
        termination_time: time_child(r, "TerminationTime"),
        messages: r
            .children_named(ns::WSNT, "NotificationMessage")
            .map(parse_notification)
            .collect(),
    })
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenewResponse {
    pub current_time: Option<Time>,
    pub termination_time: Option<Time>,
}

/// RenewResponse (WS-BaseNotification; `tev:` tolerated, one camera library saw it).
pub fn parse_renew(body: &Element) -> Result<RenewResponse, Error> {
    let r = expect(body, &[ns::WSNT, ns::TEV], "RenewResponse", Op::Renew)?;
    Ok(RenewResponse {
        current_time: time_child(r, "CurrentTime"),
        termination_time: time_child(r, "TerminationTime"),
    })
}

/// Repairs an XAddr a camera got wrong (`http://ip:8106:8106/…`): when it does not parse as a
/// URL, the device URL's scheme and authority are used with the XAddr's path.
pub fn fix_xaddr(device_url: &str, xaddr: &str) -> String {
    if xaddr.parse::<http::Uri>().is_ok_and(|u| u.host().is_some()) {
        return xaddr.to_string();
    }
    let path = xaddr
        .find("://")
        .map(|i| &xaddr[i + 3..])
        .and_then(|rest| rest.find('/').map(|j| &rest[j..]))
        .unwrap_or("/onvif/event_service");
    match device_url.parse::<http::Uri>() {
        Ok(u) => match (u.scheme_str(), u.authority()) {
            (Some(s), Some(a)) => format!("{s}://{a}{path}"),
            _ => xaddr.to_string(),
        },
        Err(_) => xaddr.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::soap::parse_reply;

    fn body(xml: &str) -> Element {
        parse_reply(200, xml).unwrap().body
    }

    #[test]
    fn system_date_and_time() {
        let b = body(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><s:Body><tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType><tt:UTCDateTime><tt:Time><tt:Hour>8</tt:Hour><tt:Minute>13</tt:Minute><tt:Second>22</tt:Second></tt:Time><tt:Date><tt:Year>2000</tt:Year><tt:Month>1</tt:Month><tt:Day>2</tt:Day></tt:Date></tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse></s:Body></s:Envelope>"#,
        );
        assert_eq!(
            parse_system_date_and_time(&b).unwrap(),
            parse_datetime("2000-01-02T08:13:22Z")
        );
    }

    /// Reolink's GetServices: an undeclared `tad:` prefix and a tab inside a start tag.
    #[test]
    fn services_tolerate_reolink() {
        let b = body("<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\"><SOAP-ENV:Body><tds:GetServicesResponse><tds:Service><tds:Namespace>http://www.onvif.org/ver10/events/wsdl</tds:Namespace><tds:XAddr>http://192.0.2.1:8000/onvif/event_service</tds:XAddr><tds:Capabilities><tev:Capabilities\tWSSubscriptionPolicySupport=\"false\" xmlns:tev=\"http://www.onvif.org/ver10/events/wsdl\"/></tds:Capabilities></tds:Service><tds:Service><tds:Namespace>http://www.onvif.org/ver10/analyticsdevice/wsdl</tds:Namespace><tds:XAddr>http://192.0.2.1:8000/onvif/analytics</tds:XAddr><tds:Capabilities><tad:Capabilities RuleSupport=\"true\"/></tds:Capabilities></tds:Service><tds:Service><tds:Namespace>http://www.onvif.org/ver10/media/wsdl</tds:Namespace><tds:XAddr>http://192.0.2.1:8000/onvif/media_service</tds:XAddr></tds:Service></tds:GetServicesResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>");
        let s = parse_services(&b).unwrap();
        assert_eq!(
            s.events.as_deref(),
            Some("http://192.0.2.1:8000/onvif/event_service")
        );
        assert_eq!(
            s.media.as_deref(),
            Some("http://192.0.2.1:8000/onvif/media_service")
        );
    }

    /// Profiles as cameras write them: a main and a sub stream (Hikvision: H264 in
    /// VideoEncoderConfiguration), a third stream that is MJPEG, a metadata-only profile.
    #[test]
    fn profiles_and_the_sub_stream() {
        let p = |tok: &str, enc: &str, w: u32, h: u32| {
            format!("<trt:Profiles token=\"{tok}\" fixed=\"true\"><tt:Name>{tok}</tt:Name><tt:VideoEncoderConfiguration token=\"e{tok}\"><tt:Name>e</tt:Name><tt:UseCount>1</tt:UseCount><tt:Encoding>{enc}</tt:Encoding><tt:Resolution><tt:Width>{w}</tt:Width><tt:Height>{h}</tt:Height></tt:Resolution></tt:VideoEncoderConfiguration></trt:Profiles>")
        };
        let xml = |profiles: String| {
            format!("<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:trt=\"http://www.onvif.org/ver10/media/wsdl\" xmlns:tt=\"http://www.onvif.org/ver10/schema\"><s:Body><trt:GetProfilesResponse>{profiles}</trt:GetProfilesResponse></s:Body></s:Envelope>")
        };
        let all = format!(
            "{}{}{}<trt:Profiles token=\"meta\"><tt:Name>metadata</tt:Name></trt:Profiles>{}",
            p("Profile_1", "H264", 2560, 1440),
            p("Profile_3", "JPEG", 320, 180),
            p("Profile_2", "H264", 640, 360),
            p("Profile_4", "H264", 1280, 720),
        );
        let got = parse_profiles(&body(&xml(all))).unwrap();
        assert_eq!(got.len(), 5);
        assert_eq!(got[0].width, Some(2560));
        assert_eq!(got[3].name, "metadata");
        assert_eq!(got[3].encoding, None);
        let sub = sub_stream(&got).unwrap();
        assert_eq!((sub.token.as_str(), sub.height), ("Profile_2", Some(360)));
        // One profile, or only H.265 besides it: no sub-stream to decode.
        let one = parse_profiles(&body(&xml(p("Profile_1", "H264", 1920, 1080)))).unwrap();
        assert_eq!(sub_stream(&one), None);
        let hevc = format!(
            "{}{}",
            p("Profile_1", "H265", 3840, 2160),
            p("Profile_2", "H265", 640, 360)
        );
        assert_eq!(
            sub_stream(&parse_profiles(&body(&xml(hevc))).unwrap()),
            None
        );
    }

    #[test]
    fn xaddr_repair() {
        assert_eq!(
            fix_xaddr(
                "http://192.0.2.5/onvif/device_service",
                "http://192.0.2.5:8106:8106/onvif/events"
            ),
            "http://192.0.2.5/onvif/events"
        );
        assert_eq!(
            fix_xaddr(
                "http://192.0.2.5/onvif/device_service",
                "http://192.0.2.5:8000/onvif/events"
            ),
            "http://192.0.2.5:8000/onvif/events"
        );
    }

    #[test]
    fn wrong_response_element_is_unexpected() {
        let b = body(
            r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><x:Other xmlns:x="urn:x"/></s:Body></s:Envelope>"#,
        );
        assert!(matches!(
            parse_pull_messages(&b),
            Err(Error::Unexpected { .. })
        ));
    }
}
