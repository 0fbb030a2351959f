//! The simulated camera's WS-Discovery answer: joined to 239.255.255.250:3702 on one
//! interface, it answers every Probe for video transmitters (or for anything) with a
//! ProbeMatch, sent to the prober's address, naming its device service. Only for tests inside a
//! network namespace of their own: it never runs on a real network.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use tokio::task::JoinHandle;
use vigil_onvif::discovery::{DN, MULTICAST, WSD};
use vigil_onvif::xml::{self, escape, ns};

/// What a simulated camera says of itself.
#[derive(Debug, Clone)]
pub struct Announce {
    /// `urn:uuid:…`
    pub endpoint: String,
    pub device_url: String,
    pub name: String,
    pub hardware: String,
}

fn probe_match(a: &Announce, relates_to: &str, message_id: &str) -> String {
    let enc = |s: &str| s.replace('%', "%25").replace(' ', "%20");
    format!(
        concat!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
            "<env:Envelope xmlns:env=\"{s}\" xmlns:wsadis=\"{a}\" xmlns:d=\"{d}\" xmlns:dn=\"{dn}\">",
            "<env:Header><wsadis:MessageID>{mid}</wsadis:MessageID><wsadis:RelatesTo>{rel}</wsadis:RelatesTo>",
            "<wsadis:To>{a}/role/anonymous</wsadis:To><wsadis:Action>{d}/ProbeMatches</wsadis:Action></env:Header>",
            "<env:Body><d:ProbeMatches><d:ProbeMatch><wsadis:EndpointReference><wsadis:Address>{ep}</wsadis:Address></wsadis:EndpointReference>",
            "<d:Types>dn:NetworkVideoTransmitter tds:Device</d:Types>",
            "<d:Scopes>onvif://www.onvif.org/type/video_encoder onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/hardware/{hw} onvif://www.onvif.org/name/{name}</d:Scopes>",
            "<d:XAddrs>{x}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></env:Body></env:Envelope>"
        ),
        s = ns::SOAP12,
        a = ns::WSA_2004,
        d = WSD,
        dn = DN,
        mid = escape(message_id),
        rel = escape(relates_to),
        ep = escape(&a.endpoint),
        hw = escape(&enc(&a.hardware)),
        name = escape(&enc(&a.name)),
        x = escape(&a.device_url),
    )
}

/// Answers Probes on `interface` until the task is aborted.
pub fn respond(a: Announce, interface: Ipv4Addr) -> std::io::Result<JoinHandle<()>> {
    let sock = socket2::Socket::new(
        socket2::Domain::IPV4,
        socket2::Type::DGRAM,
        Some(socket2::Protocol::UDP),
    )?;
    // Several cameras on one machine (a test) share the port; each gets every Probe.
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    sock.bind(
        &SocketAddr::from(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, MULTICAST.port())).into(),
    )?;
    sock.join_multicast_v4(MULTICAST.ip(), &interface)?;
    sock.set_multicast_loop_v4(true)?;
    sock.set_nonblocking(true)?;
    let sock = tokio::net::UdpSocket::from_std(sock.into())?;
    Ok(tokio::spawn(async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut n_sent = 0u64;
        loop {
            let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let text = String::from_utf8_lossy(&buf[..n]);
            let Ok(doc) = xml::parse(&text) else { continue };
            let Some(probe) = doc.find(WSD, "Probe") else {
                continue;
            };
            let wanted = probe
                .child(WSD, "Types")
                .map(|t| t.text_trimmed().to_owned())
                .unwrap_or_default();
            if !wanted.is_empty() && !wanted.contains("NetworkVideoTransmitter") {
                continue;
            }
            let Some(id) = doc
                .find(ns::WSA_2004, "MessageID")
                .map(|m| m.text_trimmed().to_owned())
            else {
                continue;
            };
            n_sent += 1;
            let mid = format!("urn:uuid:00000000-0000-4000-8000-{n_sent:012x}");
            let _ = sock
                .send_to(probe_match(&a, &id, &mid).as_bytes(), from)
                .await;
        }
    }))
}
