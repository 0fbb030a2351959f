//! A small namespace-resolved element tree built with quick-xml's [`NsReader`].
//!
//! Replies are a few kilobytes, so a tree is cheap and lets the parsers ask "the `tev:` child named
//! X" by namespace URI, never by prefix. The builder is tolerant because cameras are: an end tag
//! that does not match closes the innermost element, a document cut short is closed at EOF
//! (log fragments), several top-level elements are allowed (a sequence of NotificationMessages),
//! and a prefix that was never declared resolves through [`well_known_prefix`] (Reolink's
//! undeclared `tad:`, fragments whose declarations a logger dropped).

use quick_xml::events::Event;
use quick_xml::name::{PrefixDeclaration, ResolveResult};
use quick_xml::reader::NsReader;
use quick_xml::XmlVersion;

use crate::error::XmlError;

pub mod ns {
    pub const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
    pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
    pub const WSA: &str = "http://www.w3.org/2005/08/addressing";
    pub const WSA_2004: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
    pub const WSSE: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
    pub const WSU: &str =
        "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
    pub const WSNT: &str = "http://docs.oasis-open.org/wsn/b-2";
    pub const WSTOP: &str = "http://docs.oasis-open.org/wsn/t-1";
    pub const WSRF_BF: &str = "http://docs.oasis-open.org/wsrf/bf-2";
    pub const TT: &str = "http://www.onvif.org/ver10/schema";
    pub const TDS: &str = "http://www.onvif.org/ver10/device/wsdl";
    pub const TEV: &str = "http://www.onvif.org/ver10/events/wsdl";
    pub const TRT: &str = "http://www.onvif.org/ver10/media/wsdl";
    pub const TR2: &str = "http://www.onvif.org/ver20/media/wsdl";
    pub const TER: &str = "http://www.onvif.org/ver10/error";
    pub const TNS1: &str = "http://www.onvif.org/ver10/topics";
    pub const TNSAXIS: &str = "http://www.axis.com/2009/event/topics";
    pub const TNSHIK: &str = "http://www.hikvision.com/2011/event/topics";
    pub const TNSN: &str = "http://www.eventextension.com/2011/event/topics";
    pub const TNSSAMSUNG: &str = "http://www.samsungcctv.com/2011/event/topics";
    pub const PELCO_TOPICS: &str = "urn:schemas-pelco-com:onvif:topic:1";
}

/// The namespace a prefix conventionally stands for, for documents that use it undeclared.
pub fn well_known_prefix(prefix: &str) -> Option<&'static str> {
    Some(match prefix {
        "SOAP-ENV" | "env" | "s" | "soap" | "soapenv" | "SOAP" | "soap12" => ns::SOAP12,
        "wsa" | "wsa5" | "wsa10" | "a" => ns::WSA,
        "wsse" => ns::WSSE,
        "wsu" => ns::WSU,
        "wsnt" => ns::WSNT,
        "wstop" => ns::WSTOP,
        "wsrfbf" | "wsrf-bf" => ns::WSRF_BF,
        "tt" => ns::TT,
        "tds" => ns::TDS,
        "tev" | "tet" => ns::TEV,
        "trt" => ns::TRT,
        "tr2" => ns::TR2,
        "tad" => "http://www.onvif.org/ver10/analyticsdevice/wsdl",
        "tan" => "http://www.onvif.org/ver20/analytics/wsdl",
        "ter" => ns::TER,
        "tns1" => ns::TNS1,
        "tnsaxis" => ns::TNSAXIS,
        "tnshik" => ns::TNSHIK,
        "tnsn" => ns::TNSN,
        "tnssamsung" => ns::TNSSAMSUNG,
        "ptns" => ns::PELCO_TOPICS,
        _ => return None,
    })
}

/// Deepest nesting accepted; real replies are about ten deep. Bounds recursion in the queries.
pub const MAX_DEPTH: usize = 64;
/// Most elements accepted in one document.
pub const MAX_ELEMENTS: usize = 100_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attr {
    pub ns: Option<String>,
    pub prefix: Option<String>,
    pub local: String,
    pub value: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Element {
    /// Resolved namespace URI (declared, or from [`well_known_prefix`]); `None` when unbound.
    pub ns: Option<String>,
    pub prefix: Option<String>,
    pub local: String,
    pub attrs: Vec<Attr>,
    pub children: Vec<Element>,
    /// The element's own character data, unescaped, concatenated (not trimmed).
    pub text: String,
    /// In-scope `(prefix, namespace)` bindings, innermost first. Recorded only for `Topic`
    /// elements, whose text holds QNames that need them.
    pub scope: Vec<(String, String)>,
}

impl Element {
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.local == local && self.ns.as_deref() == Some(ns)
    }

    /// Whether the name is `local` in any of `namespaces`.
    pub fn is_any(&self, namespaces: &[&str], local: &str) -> bool {
        self.local == local && namespaces.iter().any(|n| self.ns.as_deref() == Some(n))
    }

    pub fn child(&self, ns: &str, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, local))
    }

    pub fn child_any(&self, namespaces: &[&str], local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is_any(namespaces, local))
    }

    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, local))
    }

    /// First descendant (depth-first, self excluded) with that name.
    pub fn find(&self, ns: &str, local: &str) -> Option<&Element> {
        for c in &self.children {
            if c.is(ns, local) {
                return Some(c);
            }
            if let Some(f) = c.find(ns, local) {
                return Some(f);
            }
        }
        None
    }

    /// Every descendant with that name, not looking inside a match.
    pub fn find_all<'a>(&'a self, ns: &str, local: &str, out: &mut Vec<&'a Element>) {
        for c in &self.children {
            if c.is(ns, local) {
                out.push(c);
            } else {
                c.find_all(ns, local, out);
            }
        }
    }

    /// Value of the attribute with this local name (any namespace, unprefixed first).
    pub fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .filter(|a| a.local == local)
            .min_by_key(|a| a.prefix.is_some())
            .map(|a| a.value.as_str())
    }

    pub fn text_trimmed(&self) -> &str {
        self.text.trim()
    }

    /// Text of the named child, trimmed.
    pub fn child_text(&self, ns: &str, local: &str) -> Option<&str> {
        self.child(ns, local).map(Element::text_trimmed)
    }

    /// Serialises the element back to XML, declaring the namespace of every prefixed name on the
    /// element that uses it, so the fragment stands alone (used to echo ReferenceParameters).
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        self.write_xml(&mut out, &[]);
        out
    }

    fn write_xml(&self, out: &mut String, declared: &[(String, String)]) {
        let mut decl: Vec<(String, String)> = declared.to_vec();
        let mut new_decls = Vec::new();
        let mut need = |prefix: &Option<String>, ns: &Option<String>| {
            if let (Some(p), Some(n)) = (prefix, ns) {
                if !decl.iter().any(|(dp, dn)| dp == p && dn == n) {
                    decl.push((p.clone(), n.clone()));
                    new_decls.push((p.clone(), n.clone()));
                }
            }
        };
        need(&self.prefix, &self.ns);
        for a in &self.attrs {
            need(&a.prefix, &a.ns);
        }
        let name = qname(&self.prefix, &self.local);
        out.push('<');
        out.push_str(&name);
        if self.prefix.is_none() {
            if let Some(n) = &self.ns {
                out.push_str(&format!(" xmlns=\"{}\"", escape(n)));
            }
        }
        for (p, n) in &new_decls {
            out.push_str(&format!(" xmlns:{p}=\"{}\"", escape(n)));
        }
        for a in &self.attrs {
            out.push_str(&format!(
                " {}=\"{}\"",
                qname(&a.prefix, &a.local),
                escape(&a.value)
            ));
        }
        let text = self.text.trim();
        if self.children.is_empty() && text.is_empty() {
            out.push_str("/>");
            return;
        }
        out.push('>');
        out.push_str(&escape(text));
        for c in &self.children {
            c.write_xml(out, &decl);
        }
        out.push_str("</");
        out.push_str(&name);
        out.push('>');
    }
}

fn qname(prefix: &Option<String>, local: &str) -> String {
    match prefix {
        Some(p) => format!("{p}:{local}"),
        None => local.to_string(),
    }
}

/// Escapes text for use in XML character data and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A parsed document: its top-level elements (one for a well-formed document, several for a
/// fragment).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Document {
    pub roots: Vec<Element>,
}

impl Document {
    /// First element with that name anywhere (roots included).
    pub fn find(&self, ns: &str, local: &str) -> Option<&Element> {
        for r in &self.roots {
            if r.is(ns, local) {
                return Some(r);
            }
            if let Some(f) = r.find(ns, local) {
                return Some(f);
            }
        }
        None
    }

    pub fn find_all(&self, ns: &str, local: &str) -> Vec<&Element> {
        let mut out = Vec::new();
        for r in &self.roots {
            if r.is(ns, local) {
                out.push(r);
            } else {
                r.find_all(ns, local, &mut out);
            }
        }
        out
    }
}

fn resolve(res: ResolveResult<'_>, prefix: Option<&str>) -> Option<String> {
    match res {
        ResolveResult::Bound(n) => Some(String::from_utf8_lossy(n.as_ref().as_bytes()).into()),
        ResolveResult::Unbound => None,
        ResolveResult::Unknown(_) => prefix.and_then(well_known_prefix).map(str::to_string),
    }
}

fn split_qname(raw: &str) -> (Option<&str>, &str) {
    match raw.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, raw),
    }
}

fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        _ => return None,
    })
}

/// Parses a document or fragment into a [`Document`]. Errors only for XML that cannot be
/// tokenised at all (an unterminated tag, a malformed attribute, too deep, too many elements).
pub fn parse(input: &str) -> Result<Document, XmlError> {
    let mut reader = NsReader::from_str(input);
    {
        let cfg = reader.config_mut();
        cfg.check_end_names = false;
        cfg.allow_unmatched_ends = true;
        cfg.allow_dangling_amp = true;
        cfg.check_comments = false;
        cfg.expand_empty_elements = false;
    }
    let mut stack: Vec<Element> = Vec::new();
    let mut roots: Vec<Element> = Vec::new();
    let mut count = 0usize;
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| XmlError::Syntax {
            position: pos,
            message: e.to_string(),
        })?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                count += 1;
                if count > MAX_ELEMENTS {
                    return Err(XmlError::TooLarge);
                }
                let raw_name = e.name().as_ref().to_string();
                let (prefix, local) = split_qname(&raw_name);
                let (res, _) = reader.resolver().resolve_element(e.name());
                let ns_uri = resolve(res, prefix);
                let mut el = Element {
                    ns: ns_uri,
                    prefix: prefix.map(str::to_string),
                    local: local.to_string(),
                    ..Element::default()
                };
                let mut attrs = e.attributes();
                attrs.with_checks(false);
                for a in attrs {
                    let a = a.map_err(|err| XmlError::Syntax {
                        position: pos,
                        message: err.to_string(),
                    })?;
                    let key = a.key.as_ref().to_string();
                    if key == "xmlns" || key.starts_with("xmlns:") {
                        continue;
                    }
                    let (ap, al) = split_qname(&key);
                    let ans = match ap {
                        Some(_) => resolve(reader.resolver().resolve_attribute(a.key).0, ap),
                        None => None,
                    };
                    let value = a
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map(|v| v.into_owned())
                        .unwrap_or_else(|_| a.value.clone().into_owned());
                    el.attrs.push(Attr {
                        ns: ans,
                        prefix: ap.map(str::to_string),
                        local: al.to_string(),
                        value,
                    });
                }
                if el.local == "Topic" {
                    for (p, n) in reader.resolver().bindings() {
                        if let PrefixDeclaration::Named(p) = p {
                            let p = String::from_utf8_lossy(p.as_ref()).into_owned();
                            let n = String::from_utf8_lossy(n.as_ref().as_bytes()).into_owned();
                            el.scope.push((p, n));
                        }
                    }
                    el.scope.reverse();
                }
                if matches!(event, Event::Empty(_)) {
                    attach(&mut stack, &mut roots, el);
                } else {
                    if stack.len() >= MAX_DEPTH {
                        return Err(XmlError::TooDeep);
                    }
                    stack.push(el);
                }
            }
            Event::End(_) => {
                if let Some(el) = stack.pop() {
                    attach(&mut stack, &mut roots, el);
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(top) = stack.last_mut() {
                    let c = match r.resolve_char_ref() {
                        Ok(Some(c)) => Some(c),
                        _ => predefined_entity(&r.xml10_content()),
                    };
                    match c {
                        Some(c) => top.text.push(c),
                        None => {
                            top.text.push('&');
                            top.text.push_str(&r.xml10_content());
                            top.text.push(';');
                        }
                    }
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    // A document cut short (a log fragment): close what is open.
    while let Some(el) = stack.pop() {
        attach(&mut stack, &mut roots, el);
    }
    Ok(Document { roots })
}

fn attach(stack: &mut [Element], roots: &mut Vec<Element>, el: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(el),
        None => roots.push(el),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_by_namespace_not_prefix() {
        let doc = parse(
            r#"<a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope"><a:Body><x:Thing xmlns:x="urn:x" k="v &amp; w">t&lt;1&#65;</x:Thing></a:Body></a:Envelope>"#,
        )
        .unwrap();
        let body = doc.find(ns::SOAP12, "Body").unwrap();
        let thing = body.child("urn:x", "Thing").unwrap();
        assert_eq!(thing.attr("k"), Some("v & w"));
        assert_eq!(thing.text, "t<1A");
    }

    #[test]
    fn tolerates_undeclared_prefix_tab_and_truncation() {
        let doc = parse(
            "<tds:GetServicesResponse xmlns:tds=\"http://www.onvif.org/ver10/device/wsdl\"><tad:Capabilities\tFoo=\"1\"><tt:X Name=\"a\"\n Value=\"b\" />",
        )
        .unwrap();
        let caps = doc
            .find(
                "http://www.onvif.org/ver10/analyticsdevice/wsdl",
                "Capabilities",
            )
            .unwrap();
        assert_eq!(caps.attr("Foo"), Some("1"));
        let x = caps.child(ns::TT, "X").unwrap();
        assert_eq!(x.attr("Value"), Some("b"));
    }

    #[test]
    fn several_roots_and_unknown_prefix() {
        let doc = parse("<zz:A/><zz:A>1</zz:A>").unwrap();
        assert_eq!(doc.roots.len(), 2);
        assert_eq!(doc.roots[0].ns, None);
        assert_eq!(doc.roots[1].text, "1");
    }

    #[test]
    fn topic_scope_recorded() {
        let doc = parse(
            r#"<r xmlns:tns1="urn:outer"><wsnt:Topic xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tns1="urn:inner">tns1:A</wsnt:Topic></r>"#,
        )
        .unwrap();
        let topic = doc.find(ns::WSNT, "Topic").unwrap();
        let first = topic.scope.iter().find(|(p, _)| p == "tns1").unwrap();
        assert_eq!(first.1, "urn:inner", "innermost binding first");
    }

    #[test]
    fn to_xml_declares_namespaces() {
        let doc = parse(
            r#"<w:RP xmlns:w="http://www.w3.org/2005/08/addressing"><dom0:SubscriptionId xmlns:dom0="http://www.axis.com/2009/event">5
          </dom0:SubscriptionId></w:RP>"#,
        )
        .unwrap();
        let sid = &doc.roots[0].children[0];
        assert_eq!(
            sid.to_xml(),
            r#"<dom0:SubscriptionId xmlns:dom0="http://www.axis.com/2009/event">5</dom0:SubscriptionId>"#
        );
    }

    #[test]
    fn refuses_too_deep() {
        let s = "<a>".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(&s), Err(XmlError::TooDeep));
    }
}
