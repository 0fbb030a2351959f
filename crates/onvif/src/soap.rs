//! SOAP 1.2 envelopes with WS-Addressing headers, and reading replies (body or Fault).

use crate::error::{Error, SoapFault};
use crate::security::UsernameToken;
use crate::xml::{self, escape, ns, Element};

pub const WSA_ANONYMOUS: &str = "http://www.w3.org/2005/08/addressing/anonymous";

/// Everything one request envelope needs.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// WS-Addressing Action (also sent in the Content-Type `action` parameter).
    pub action: &'a str,
    /// WS-Addressing To: the URL the request is posted to.
    pub to: &'a str,
    /// `urn:uuid:…`, see [`message_id`].
    pub message_id: &'a str,
    pub security: Option<&'a UsernameToken>,
    /// Raw header elements, e.g. a subscription's ReferenceParameters (each declares its own
    /// namespace and carries `wsa:IsReferenceParameter="true"`).
    pub extra_headers: &'a [String],
    /// The body's content: one element that declares its own namespaces.
    pub body: &'a str,
}

impl Envelope<'_> {
    pub fn to_xml(&self) -> String {
        let mut out = String::with_capacity(1024 + self.body.len());
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        out.push_str(&format!(
            "<s:Envelope xmlns:s=\"{}\" xmlns:a=\"{}\"><s:Header>",
            ns::SOAP12,
            ns::WSA
        ));
        out.push_str(&format!(
            "<a:Action s:mustUnderstand=\"1\">{}</a:Action>",
            escape(self.action)
        ));
        out.push_str(&format!(
            "<a:MessageID>{}</a:MessageID>",
            escape(self.message_id)
        ));
        out.push_str(&format!(
            "<a:ReplyTo><a:Address>{WSA_ANONYMOUS}</a:Address></a:ReplyTo>"
        ));
        out.push_str(&format!(
            "<a:To s:mustUnderstand=\"1\">{}</a:To>",
            escape(self.to)
        ));
        for h in self.extra_headers {
            out.push_str(h);
        }
        if let Some(tok) = self.security {
            out.push_str(&tok.to_xml());
        }
        out.push_str("</s:Header><s:Body>");
        out.push_str(self.body);
        out.push_str("</s:Body></s:Envelope>");
        out
    }
}

/// A WS-Addressing MessageID from 16 random bytes (a version-4 UUID).
pub fn message_id(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Rewrites a ReferenceParameters child for the request header: same element, same namespace,
/// marked `wsa:IsReferenceParameter="true"` as WS-Addressing 1.0 §3.3 asks.
pub fn reference_parameter_header(param: &Element) -> String {
    let mut el = param.clone();
    el.attrs.retain(|a| a.local != "IsReferenceParameter");
    el.attrs.push(xml::Attr {
        ns: Some(ns::WSA.to_string()),
        prefix: Some("wsa".to_string()),
        local: "IsReferenceParameter".to_string(),
        value: "true".to_string(),
    });
    el.to_xml()
}

/// The parts of a received envelope.
#[derive(Debug, Clone, Default)]
pub struct Reply {
    pub header: Option<Element>,
    /// The first element inside Body (the response element, or the Fault).
    pub body: Element,
}

fn envelope_ns() -> [&'static str; 2] {
    [ns::SOAP12, ns::SOAP11]
}

/// Finds the envelope's Header and Body in a document (tolerating SOAP 1.1).
pub fn split_envelope(doc: &xml::Document) -> Option<(Option<&Element>, &Element)> {
    let env = doc
        .roots
        .iter()
        .find(|r| r.is_any(&envelope_ns(), "Envelope"))?;
    let header = env.child_any(&envelope_ns(), "Header");
    let body = env.child_any(&envelope_ns(), "Body")?;
    Some((header, body))
}

/// Reads a Fault element (SOAP 1.2 `Code/Value`, `Subcode/Value`, `Reason/Text`; or SOAP 1.1
/// `faultcode`/`faultstring`).
pub fn parse_fault(fault: &Element, http_status: Option<u16>) -> SoapFault {
    let e = envelope_ns();
    let mut f = SoapFault {
        http_status,
        ..SoapFault::default()
    };
    if let Some(code) = fault.child_any(&e, "Code") {
        f.code = code
            .child_any(&e, "Value")
            .map(|v| v.text_trimmed().to_string())
            .unwrap_or_default();
        let mut sub = code.child_any(&e, "Subcode");
        while let Some(s) = sub {
            if let Some(v) = s.child_any(&e, "Value") {
                f.subcodes.push(v.text_trimmed().to_string());
            }
            if f.subcodes.len() > 8 {
                break;
            }
            sub = s.child_any(&e, "Subcode");
        }
    } else if let Some(c) = fault.children.iter().find(|c| c.local == "faultcode") {
        f.code = c.text_trimmed().to_string();
    }
    if let Some(reason) = fault.child_any(&e, "Reason") {
        f.reason = reason
            .children
            .iter()
            .filter(|t| t.local == "Text")
            .map(|t| t.text_trimmed())
            .find(|t| !t.is_empty())
            .unwrap_or("")
            .to_string();
    } else if let Some(r) = fault.children.iter().find(|c| c.local == "faultstring") {
        f.reason = r.text_trimmed().to_string();
    }
    if let Some(detail) = fault
        .children
        .iter()
        .find(|c| c.local == "Detail" || c.local == "detail")
    {
        f.detail = detail.children.iter().map(|c| c.local.clone()).collect();
    }
    f
}

fn snippet(body: &str) -> String {
    let s: String = body.chars().take(200).collect();
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Interprets an HTTP reply to a SOAP request: the body's first element, or the error
/// (a Fault, 401, another HTTP status, or XML that is not an envelope).
pub fn parse_reply(status: u16, body: &str) -> Result<Reply, Error> {
    let doc = match xml::parse(body) {
        Ok(d) => d,
        Err(e) => {
            return Err(match status {
                401 => Error::NotAuthorized("HTTP 401".into()),
                200..=299 => Error::Xml(e),
                _ => Error::Http {
                    status,
                    snippet: snippet(body),
                },
            })
        }
    };
    let Some((header, body_el)) = split_envelope(&doc) else {
        return Err(match status {
            401 => Error::NotAuthorized("HTTP 401".into()),
            200..=299 => Error::Unexpected {
                op: "request",
                what: "reply is not a SOAP envelope".into(),
            },
            _ => Error::Http {
                status,
                snippet: snippet(body),
            },
        });
    };
    let first = body_el.children.first();
    if let Some(fault) = first.filter(|c| c.is_any(&envelope_ns(), "Fault")) {
        let f = parse_fault(fault, Some(status));
        return Err(if f.is_not_authorized() {
            Error::NotAuthorized(f.to_string())
        } else {
            Error::Fault(f)
        });
    }
    match status {
        200..=299 => {}
        401 => return Err(Error::NotAuthorized("HTTP 401".into())),
        _ => {
            return Err(Error::Http {
                status,
                snippet: snippet(body),
            })
        }
    }
    Ok(Reply {
        header: header.cloned(),
        body: first.cloned().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::time::Time;

    #[test]
    fn envelope_has_addressing_and_security() {
        let tok = UsernameToken::new("admin", "pw", [1; 16], Time::from_secs(0));
        let rp = xml::parse(
            r#"<dom0:SubscriptionId xmlns:dom0="http://www.axis.com/2009/event">5</dom0:SubscriptionId>"#,
        )
        .unwrap();
        let headers = vec![reference_parameter_header(&rp.roots[0])];
        let id = message_id([0xab; 16]);
        assert_eq!(id, "urn:uuid:abababab-abab-4bab-abab-abababababab");
        let env = Envelope {
            action:
                "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest",
            to: "http://cam/onvif/services",
            message_id: &id,
            security: Some(&tok),
            extra_headers: &headers,
            body: r#"<tev:PullMessages xmlns:tev="http://www.onvif.org/ver10/events/wsdl"/>"#,
        };
        let doc = xml::parse(&env.to_xml()).unwrap();
        let (header, body) = split_envelope(&doc).unwrap();
        let header = header.unwrap();
        assert_eq!(
            header.child_text(ns::WSA, "Action"),
            Some(
                "http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/PullMessagesRequest"
            )
        );
        assert_eq!(
            header.child_text(ns::WSA, "To"),
            Some("http://cam/onvif/services")
        );
        assert_eq!(header.child_text(ns::WSA, "MessageID"), Some(id.as_str()));
        let reply_to = header.child(ns::WSA, "ReplyTo").unwrap();
        assert_eq!(reply_to.child_text(ns::WSA, "Address"), Some(WSA_ANONYMOUS));
        let sid = header
            .child("http://www.axis.com/2009/event", "SubscriptionId")
            .unwrap();
        assert_eq!(sid.text_trimmed(), "5");
        assert_eq!(sid.attr("IsReferenceParameter"), Some("true"));
        let got = crate::security::ReceivedToken::from_header(header).unwrap();
        assert!(got.verify("admin", "pw"));
        assert!(body.child(ns::TEV, "PullMessages").is_some());
    }

    #[test]
    fn reply_fault_and_statuses() {
        let fault = r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope" xmlns:ter="http://www.onvif.org/ver10/error"><e:Body><e:Fault><e:Code><e:Value>e:Sender</e:Value><e:Subcode><e:Value>ter:NotAuthorized</e:Value></e:Subcode></e:Code><e:Reason><e:Text xml:lang="en">Sender not Authorized</e:Text></e:Reason></e:Fault></e:Body></e:Envelope>"#;
        match parse_reply(400, fault) {
            Err(Error::NotAuthorized(m)) => assert!(m.contains("Sender not Authorized"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_reply(401, "Unauthorized"),
            Err(Error::NotAuthorized(_))
        ));
        assert!(matches!(
            parse_reply(503, "<html>busy</html>"),
            Err(Error::Http { status: 503, .. })
        ));
        assert!(parse_reply(200, "<a><b").is_err());
        let ok = r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Header/><e:Body><x:R xmlns:x="urn:x"/></e:Body></e:Envelope>"#;
        let r = parse_reply(200, ok).unwrap();
        assert!(r.body.is("urn:x", "R"));
    }
}
