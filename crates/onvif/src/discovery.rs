//! WS-Discovery (the 2005/04 dialect ONVIF devices speak): a Probe for
//! `dn:NetworkVideoTransmitter` sent to 239.255.255.250:3702 (SOAP 1.2 over UDP), and the
//! ProbeMatches devices send back to the prober's address. Pure parts (the message, the
//! parser, the scopes) plus [`discover`], the one that touches a network: callers choose the
//! interface, and tests run it only inside a network namespace of their own.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use serde::Serialize;

use crate::xml::{self, escape, ns};

pub const WSD: &str = "http://schemas.xmlsoap.org/ws/2005/04/discovery";
pub const DN: &str = "http://www.onvif.org/ver10/network/wsdl";
pub const MULTICAST: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 255, 250), 3702);
/// A datagram is at most this long (a ProbeMatch with many scopes is a few KiB).
const MAX_DATAGRAM: usize = 64 * 1024;

/// One device that answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Found {
    /// Its WS-Addressing endpoint (`urn:uuid:…`): the same device over several answers.
    pub endpoint: String,
    /// Its device service URLs (`http://…/onvif/device_service`).
    pub xaddrs: Vec<String>,
    pub types: Vec<String>,
    pub scopes: Vec<String>,
    /// From the scopes (`onvif://www.onvif.org/name/…`), percent-decoded.
    pub name: Option<String>,
    pub hardware: Option<String>,
    pub location: Option<String>,
    /// The address the answer came from.
    pub from: String,
}

/// The Probe, with `message_id` (`urn:uuid:…`) to match answers by.
pub fn probe_message(message_id: &str) -> String {
    format!(
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<s:Envelope xmlns:s=\"{s}\" xmlns:a=\"{a}\" xmlns:d=\"{d}\" xmlns:dn=\"{dn}\">",
            "<s:Header><a:Action s:mustUnderstand=\"1\">{d}/Probe</a:Action>",
            "<a:MessageID>{id}</a:MessageID>",
            "<a:ReplyTo><a:Address>{a}/role/anonymous</a:Address></a:ReplyTo>",
            "<a:To s:mustUnderstand=\"1\">urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To>",
            "</s:Header><s:Body><d:Probe><d:Types>dn:NetworkVideoTransmitter</d:Types></d:Probe></s:Body>",
            "</s:Envelope>"
        ),
        s = ns::SOAP12,
        a = ns::WSA_2004,
        d = WSD,
        dn = DN,
        id = escape(message_id)
    )
}

/// The `RelatesTo` of an answer (which Probe it answers), if it says.
pub fn relates_to(doc: &xml::Document) -> Option<String> {
    doc.find(ns::WSA_2004, "RelatesTo")
        .or_else(|| doc.find(ns::WSA, "RelatesTo"))
        .map(|e| e.text_trimmed().to_owned())
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of an ONVIF scope `onvif://www.onvif.org/<what>/<value>` among `scopes`.
pub fn scope(scopes: &[String], what: &str) -> Option<String> {
    let prefix = format!("onvif://www.onvif.org/{what}/");
    scopes
        .iter()
        .find_map(|s| s.strip_prefix(&prefix))
        .map(decode)
        .filter(|v| !v.is_empty())
}

/// The devices of one ProbeMatches message (`from`: where it came from). A message that is not
/// one (another Probe on the group, junk) gives none.
pub fn parse_probe_matches(text: &str, from: SocketAddr) -> Vec<Found> {
    let Ok(doc) = xml::parse(text) else {
        return Vec::new();
    };
    doc.find_all(WSD, "ProbeMatch")
        .into_iter()
        .filter_map(|m| {
            let endpoint = m
                .find(ns::WSA_2004, "Address")
                .or_else(|| m.find(ns::WSA, "Address"))
                .map(|a| a.text_trimmed().to_owned())
                .filter(|a| !a.is_empty())?;
            let list = |local: &str| -> Vec<String> {
                m.child(WSD, local)
                    .map(|e| {
                        e.text_trimmed()
                            .split_whitespace()
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let xaddrs: Vec<String> = list("XAddrs")
                .into_iter()
                .filter(|x| x.starts_with("http://") || x.starts_with("https://"))
                .collect();
            let scopes = list("Scopes");
            Some(Found {
                endpoint,
                xaddrs,
                types: list("Types"),
                name: scope(&scopes, "name"),
                hardware: scope(&scopes, "hardware"),
                location: scope(&scopes, "location"),
                scopes,
                from: from.to_string(),
            })
        })
        .collect()
}

/// Sends the Probe (twice: UDP loses datagrams) out of `interface` (its IPv4 address; `None`:
/// the kernel's choice by route) and collects the answers for `wait`. Devices are merged by
/// endpoint, in the order they first answered.
pub async fn discover(interface: Option<Ipv4Addr>, wait: Duration) -> std::io::Result<Vec<Found>> {
    let sock = std::net::UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0))?;
    sock.set_nonblocking(true)?;
    sock.set_multicast_ttl_v4(1)?;
    if let Some(ip) = interface {
        set_multicast_if(&sock, ip)?;
    }
    let sock = tokio::net::UdpSocket::from_std(sock)?;
    let id = format!("urn:uuid:{}", uuid_v4());
    let msg = probe_message(&id);
    let end = tokio::time::Instant::now() + wait;
    let mut found: BTreeMap<String, (usize, Found)> = BTreeMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    sock.send_to(msg.as_bytes(), MULTICAST).await?;
    let mut resend = Some(tokio::time::Instant::now() + Duration::from_millis(300));
    loop {
        let next = resend.map_or(end, |r| r.min(end));
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {
                if tokio::time::Instant::now() >= end {
                    break;
                }
                resend = None;
                sock.send_to(msg.as_bytes(), MULTICAST).await?;
            }
            r = sock.recv_from(&mut buf) => {
                let (n, from) = r?;
                let text = String::from_utf8_lossy(&buf[..n]);
                let Ok(doc) = xml::parse(&text) else { continue };
                // Answers to another prober's Probe are not ours.
                if relates_to(&doc).is_some_and(|r| r != id) {
                    continue;
                }
                for f in parse_probe_matches(&text, from) {
                    let n = found.len();
                    found.entry(f.endpoint.clone()).or_insert((n, f));
                }
            }
        }
    }
    let mut out: Vec<(usize, Found)> = found.into_values().collect();
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, f)| f).collect())
}

fn set_multicast_if(sock: &std::net::UdpSocket, ip: Ipv4Addr) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let addr = libc_in_addr(ip);
    // SAFETY: setsockopt on our own socket with a properly sized in_addr.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&addr as *const libc::in_addr).cast(),
            std::mem::size_of::<libc::in_addr>() as libc::socklen_t,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn libc_in_addr(ip: Ipv4Addr) -> libc::in_addr {
    libc::in_addr {
        s_addr: u32::from_ne_bytes(ip.octets()),
    }
}

/// The IPv4 address of network interface `name` (`eth0`, `lo`), for `--interface`.
pub fn interface_addr(name: &str) -> std::io::Result<Ipv4Addr> {
    let mut ifaddrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list we free below; we only read it.
    if unsafe { libc::getifaddrs(&mut ifaddrs) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut cur = ifaddrs;
    let mut found = None;
    let mut names = Vec::new();
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs gave.
        let ifa = unsafe { &*cur };
        // SAFETY: ifa_name is a NUL-terminated C string.
        let n = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points at a sockaddr of the family it says.
            let family = unsafe { (*ifa.ifa_addr).sa_family };
            if i32::from(family) == libc::AF_INET {
                // SAFETY: an AF_INET sockaddr is a sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                if n == name && found.is_none() {
                    found = Some(Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes()));
                }
                names.push(n);
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: the list getifaddrs allocated, freed once.
    unsafe { libc::freeifaddrs(ifaddrs) };
    found.ok_or_else(|| {
        names.dedup();
        std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no network interface {name:?} with an IPv4 address (there are: {})",
                names.join(", ")
            ),
        )
    })
}

/// A random (version 4) UUID for a MessageID.
fn uuid_v4() -> String {
    let mut b = [0u8; 16];
    let seed = vigil_core::rng::random_seed("ws-discovery");
    let mut x = seed | 1;
    for v in &mut b {
        // xorshift64*: enough to tell our Probe's answers from another prober's.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *v = (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8;
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ProbeMatches as Hikvision cameras send it (abridged scopes).
    const HIK: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:wsadis="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl"><env:Header><wsadis:MessageID>urn:uuid:dd0a3b2e-1dd2-11b2-a105-c0e7bf3b1b0d</wsadis:MessageID><wsadis:RelatesTo>urn:uuid:0a6dc791-2be6-4991-9af1-454778a1917a</wsadis:RelatesTo><wsadis:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</wsadis:To><wsadis:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</wsadis:Action></env:Header><env:Body><d:ProbeMatches><d:ProbeMatch><wsadis:EndpointReference><wsadis:Address>urn:uuid:4419ac60-1dd2-11b2-a105-C0E7BF3B1B0D</wsadis:Address></wsadis:EndpointReference><d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types><d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/hardware/DS-2CD2043G2-I onvif://www.onvif.org/name/HIKVISION%20DS-2CD2043G2-I onvif://www.onvif.org/location/city/hangzhou</d:Scopes><d:XAddrs>http://192.168.1.64/onvif/device_service http://[fe80::c2e7:bfff:fe3b:1b0d]/onvif/device_service</d:XAddrs><d:MetadataVersion>10</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>"#;

    #[test]
    fn a_probe_match_gives_the_device() {
        let from: SocketAddr = "192.168.1.64:3702".parse().unwrap();
        let doc = xml::parse(HIK).unwrap();
        assert_eq!(
            relates_to(&doc).as_deref(),
            Some("urn:uuid:0a6dc791-2be6-4991-9af1-454778a1917a")
        );
        let f = parse_probe_matches(HIK, from);
        assert_eq!(f.len(), 1);
        let d = &f[0];
        assert_eq!(d.endpoint, "urn:uuid:4419ac60-1dd2-11b2-a105-C0E7BF3B1B0D");
        assert_eq!(d.xaddrs[0], "http://192.168.1.64/onvif/device_service");
        assert_eq!(d.xaddrs.len(), 2);
        assert_eq!(d.name.as_deref(), Some("HIKVISION DS-2CD2043G2-I"));
        assert_eq!(d.hardware.as_deref(), Some("DS-2CD2043G2-I"));
        assert_eq!(d.location.as_deref(), Some("city/hangzhou"));
        assert_eq!(d.types, ["dn:NetworkVideoTransmitter", "tds:Device"]);
        assert_eq!(d.from, "192.168.1.64:3702");
    }

    #[test]
    fn junk_and_probes_give_nothing() {
        let from: SocketAddr = "10.0.0.1:3702".parse().unwrap();
        for text in [
            "",
            "garbage",
            "<a><b>",
            &probe_message("urn:uuid:1"),
            "<d:ProbeMatch xmlns:d=\"http://schemas.xmlsoap.org/ws/2005/04/discovery\"/>",
        ] {
            assert!(parse_probe_matches(text, from).is_empty(), "{text}");
        }
        assert_eq!(decode("a%20b%2"), "a b%2");
        assert_eq!(decode("%zz+x"), "%zz x");
    }

    #[test]
    fn the_probe_is_well_formed_and_asks_for_video_transmitters() {
        let p = probe_message("urn:uuid:abc");
        let doc = xml::parse(&p).unwrap();
        assert_eq!(
            doc.find(WSD, "Types").unwrap().text_trimmed(),
            "dn:NetworkVideoTransmitter"
        );
        assert_eq!(
            doc.find(ns::WSA_2004, "MessageID").unwrap().text_trimmed(),
            "urn:uuid:abc"
        );
        let u = uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}
