//! The MQTT connection: an outbox that never blocks and never forgets the latest state, and the
//! task that drives rumqttc's event loop with a capped backoff (docs/integrations.md).
//!
//! rumqttc forgets what it had not sent when a clean session reconnects, so vigil keeps its own
//! books ([`Outbox`]): the latest payload of every retained topic (sent again, all of them, at
//! each connect), and the event messages (`event`, `clip`) in a bounded backlog that outlives a
//! broker outage (oldest dropped and counted). A message handed to rumqttc stays on the books
//! until the broker acknowledges it (QoS 1); what a broken connection lost is sent again.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, ConnectReturnCode, ConnectionError, Event, LastWill, MqttOptions, Packet, QoS,
};
use serde::Serialize;
use tokio::sync::mpsc;
use tracing::{info, warn};
use vigil_core::backoff::Backoff;

use super::config::MqttConfig;
use super::hub::Msg;

/// Event messages kept while the broker is away (or slower than the events).
pub const BACKLOG: usize = 1000;

/// The books of what to publish (module docs).
#[derive(Default)]
pub struct Outbox {
    /// The latest payload of every retained topic ("" = deleted).
    retained: BTreeMap<String, Msg>,
    /// What to hand to the client next, in order.
    queue: VecDeque<Msg>,
    /// Handed to the client, not yet acknowledged, oldest first.
    inflight: VecDeque<Msg>,
    connected: bool,
    /// Event messages dropped because the backlog was full.
    pub dropped: u64,
    /// Messages the broker acknowledged.
    pub acked: u64,
}

impl Outbox {
    fn events_queued(&self) -> usize {
        self.queue.iter().filter(|m| !m.retain).count()
    }

    /// Adds a message. A retained one while disconnected only updates the latest state (the
    /// connect sends it); an event past [`BACKLOG`] drops the oldest event.
    pub fn push(&mut self, m: Msg) {
        if m.retain {
            self.retained.insert(m.topic.clone(), m.clone());
            if !self.connected {
                return;
            }
        } else if self.events_queued() >= BACKLOG {
            if let Some(i) = self.queue.iter().position(|m| !m.retain) {
                self.queue.remove(i);
                self.dropped += 1;
            }
        }
        self.queue.push_back(m);
    }

    /// A connection is up: `birth` first, then every retained topic's latest payload
    /// (discovery configs first, so Home Assistant knows an entity before its state), then the
    /// events not yet acknowledged, oldest first.
    pub fn connected(&mut self, birth: Option<Msg>) {
        self.connected = true;
        let mut events: VecDeque<Msg> = self.inflight.drain(..).filter(|m| !m.retain).collect();
        events.extend(self.queue.drain(..).filter(|m| !m.retain));
        self.queue.extend(birth);
        let (disc, states): (Vec<&Msg>, Vec<&Msg>) =
            self.retained.values().partition(|m| m.discovery);
        self.queue.extend(disc.into_iter().cloned());
        self.queue.extend(states.into_iter().cloned());
        self.queue.extend(events);
    }

    pub fn disconnected(&mut self) {
        self.connected = false;
    }

    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The next message to hand over (call [`Outbox::handed`] or [`Outbox::unpop`] with it).
    pub fn take_next(&mut self) -> Option<Msg> {
        if !self.connected {
            return None;
        }
        self.queue.pop_front()
    }

    pub fn handed(&mut self, m: Msg) {
        self.inflight.push_back(m);
    }

    /// The client could not take `m` now (its queue is full): it goes first next time.
    pub fn unpop(&mut self, m: Msg) {
        self.queue.push_front(m);
    }

    /// The broker acknowledged the oldest message in flight (it acknowledges in order).
    pub fn ack(&mut self) {
        if self.inflight.pop_front().is_some() {
            self.acked += 1;
        }
    }

    /// Every discovery config again (Home Assistant came online).
    pub fn resend_discovery(&mut self) {
        if !self.connected {
            return; // the connect sends them
        }
        let disc: Vec<Msg> = self
            .retained
            .values()
            .filter(|m| m.discovery)
            .cloned()
            .collect();
        self.queue.extend(disc);
    }

    /// Messages waiting (queued and in flight).
    pub fn pending(&self) -> usize {
        self.queue.len() + self.inflight.len()
    }

    /// The latest retained payload of `topic` (tests, the API).
    pub fn retained(&self, topic: &str) -> Option<&str> {
        self.retained.get(topic).map(|m| m.payload.as_str())
    }
}

/// The retry waits (`vigil_core::backoff`, jittered into the upper half): about 1 s doubling to
/// 10 s while the broker can't be reached; 20 s doubling to 2 min when it refuses the login (the
/// login will not get better by asking often).
pub struct Retry {
    network: Backoff,
    refused: Backoff,
}

impl Retry {
    pub fn new(seed: u64) -> Retry {
        Retry {
            network: Backoff::new(Duration::from_secs(1), Duration::from_secs(10), seed),
            refused: Backoff::new(Duration::from_secs(20), Duration::from_secs(120), seed ^ 1),
        }
    }

    /// The wait after a failure (`refused`: the broker refused the login).
    pub fn after_failure(&mut self, refused: bool) -> Duration {
        if refused {
            self.refused.next_delay()
        } else {
            self.network.next_delay()
        }
    }

    /// A connection was made: the next failure starts over.
    pub fn connected(&mut self) {
        self.network.reset();
        self.refused.reset();
    }
}

/// The connection as the API shows it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct MqttStats {
    /// The broker (no password).
    pub url: String,
    pub client_id: String,
    /// `connecting`, `connected`, `backoff` (waiting to try again) or `stopped`.
    pub state: &'static str,
    pub connected: bool,
    /// When the current connection came up (RFC 3339).
    pub connected_since: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    /// Seconds until the next attempt, while in `backoff`.
    pub retry_in_secs: Option<f64>,
    /// Connections made, and attempts that failed.
    pub connects: u64,
    pub connect_failures: u64,
    /// Messages the broker acknowledged.
    pub sent: u64,
    /// Event messages lost to a full backlog.
    pub dropped: u64,
    /// Messages waiting (queued and in flight).
    pub queued: u64,
    /// Commands taken (`motion/set`, `recording/set`), and ones refused (bad payload, unknown
    /// camera).
    pub commands: u64,
    pub commands_rejected: u64,
}

/// What the connection task tells the hub.
#[derive(Debug)]
pub enum Link {
    Connected,
    Acked,
    Message {
        topic: String,
        payload: Vec<u8>,
    },
    /// The connection failed or broke; the next attempt is in `retry_in`.
    Failed {
        error: String,
        retry_in: Duration,
    },
}

/// The rustls settings for `mqtts://`: the system's roots, or `ca_file`'s.
fn tls(cfg: &MqttConfig) -> anyhow::Result<rumqttc::Transport> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match &cfg.ca_file {
        Some(path) => {
            for c in CertificateDer::pem_file_iter(path)
                .map_err(|e| anyhow::anyhow!("mqtt.ca_file {}: {e}", path.display()))?
            {
                let c = c.map_err(|e| anyhow::anyhow!("mqtt.ca_file {}: {e}", path.display()))?;
                roots.add(c)?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(rumqttc::Transport::tls_with_config(
        rumqttc::TlsConfiguration::Rustls(Arc::new(config)),
    ))
}

/// The client (to publish and subscribe) and the connection task's reports.
pub struct Connection {
    pub client: AsyncClient,
    pub links: mpsc::UnboundedReceiver<Link>,
    pub task: tokio::task::JoinHandle<()>,
}

/// rumqttc's options for `cfg`.
fn options(cfg: &MqttConfig, client_id: String, will_topic: &str) -> anyhow::Result<MqttOptions> {
    let b = cfg
        .broker()
        .map_err(|(k, m)| anyhow::anyhow!("mqtt.{k}: {m}"))?;
    let mut o = MqttOptions::new(client_id, b.host.clone(), b.port);
    o.set_keep_alive(Duration::from_secs(u64::from(cfg.keep_alive_secs)));
    o.set_clean_session(true);
    o.set_last_will(LastWill::new(will_topic, "offline", QoS::AtLeastOnce, true));
    // Discovery configs of a few cameras are a few KiB each; a clip JSON is small.
    o.set_max_packet_size(256 * 1024, 256 * 1024);
    if let Some((user, pass)) = cfg.credentials() {
        o.set_credentials(user, pass);
    }
    if b.tls {
        o.set_transport(tls(cfg)?);
    }
    Ok(o)
}

/// Connects once and disconnects (`vigil check`): `Ok` once the broker accepted the login,
/// else the error in words.
pub async fn probe(cfg: &MqttConfig) -> Result<(), String> {
    // A client id of its own: the probe must not kick a running vigil off the broker.
    let id = format!("{}-check", cfg.client_id());
    let o =
        options(cfg, id, &format!("{}/check", cfg.topic_prefix)).map_err(|e| format!("{e:#}"))?;
    let (client, mut ev) = AsyncClient::new(o, 4);
    let r = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            match ev.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => return Ok(()),
                Ok(_) => {}
                Err(e) => return Err(describe(&e)),
            }
        }
    })
    .await
    .unwrap_or_else(|_| Err("the broker did not answer in 15 s".into()));
    let _ = client.try_disconnect();
    let _ = tokio::time::timeout(Duration::from_secs(1), ev.poll()).await;
    r
}

/// Starts the connection task on the current runtime. `will` is `<p>/available`.
pub fn connect(cfg: &MqttConfig, will_topic: &str) -> anyhow::Result<Connection> {
    let o = options(cfg, cfg.client_id(), will_topic)?;
    let (client, mut ev) = AsyncClient::new(o, 64);
    let mut net = ev.network_options();
    net.set_connection_timeout(10);
    ev.set_network_options(net);
    let (tx, links) = mpsc::unbounded_channel();
    let url = crate::util::redact_url(&cfg.url);
    let mut retry = Retry::new(vigil_core::rng::random_seed(&cfg.client_id()));
    let task = tokio::spawn(async move {
        loop {
            match ev.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => {
                    retry.connected();
                    info!(broker = %url, "MQTT connected");
                    if tx.send(Link::Connected).is_err() {
                        return;
                    }
                }
                Ok(Event::Incoming(Packet::PubAck(_))) => {
                    let _ = tx.send(Link::Acked);
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    let _ = tx.send(Link::Message {
                        topic: p.topic,
                        payload: p.payload.to_vec(),
                    });
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => return,
                Ok(_) => {}
                Err(ConnectionError::RequestsDone) => return,
                Err(e) => {
                    let refused = matches!(
                        e,
                        ConnectionError::ConnectionRefused(
                            ConnectReturnCode::BadUserNamePassword
                                | ConnectReturnCode::NotAuthorized
                        )
                    );
                    let error = describe(&e);
                    let retry_in = retry.after_failure(refused);
                    warn!(broker = %url, "MQTT: {error}; trying again in {:.1} s", retry_in.as_secs_f64());
                    if tx.send(Link::Failed { error, retry_in }).is_err() {
                        return;
                    }
                    tokio::time::sleep(retry_in).await;
                }
            }
        }
    });
    Ok(Connection {
        client,
        links,
        task,
    })
}

/// A connection error as a person reads it.
fn describe(e: &ConnectionError) -> String {
    match e {
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => {
            "the broker refused the login: bad user name or password (mqtt.username, mqtt.password)"
                .into()
        }
        ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => {
            "the broker refused the login: not authorized (mqtt.username, mqtt.password)".into()
        }
        ConnectionError::ConnectionRefused(code) => {
            format!("the broker refused the connection: {code:?}")
        }
        ConnectionError::Io(io) => format!("cannot reach the broker: {io}"),
        ConnectionError::NetworkTimeout => "the broker did not answer in time".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(topic: &str, payload: &str) -> Msg {
        Msg {
            topic: topic.into(),
            payload: payload.into(),
            retain: true,
            discovery: topic.starts_with("ha/"),
        }
    }
    fn event(n: u32) -> Msg {
        Msg {
            topic: "v/cam/event".into(),
            payload: n.to_string(),
            retain: false,
            discovery: false,
        }
    }
    fn drain(o: &mut Outbox) -> Vec<String> {
        let mut v = Vec::new();
        while let Some(m) = o.take_next() {
            v.push(format!("{}={}", m.topic, m.payload));
            o.handed(m);
        }
        v
    }

    #[test]
    fn an_outage_keeps_the_latest_state_and_the_events() {
        let mut o = Outbox::default();
        o.push(state("v/cam/motion", "OFF"));
        assert!(
            o.take_next().is_none(),
            "nothing goes out before a connection"
        );
        o.push(state("v/cam/motion", "ON"));
        o.push(event(1));
        o.push(state("ha/cam/config", "{}"));
        o.connected(Some(state("v/available", "online")));
        assert_eq!(
            drain(&mut o),
            [
                "v/available=online",
                "ha/cam/config={}",
                "v/cam/motion=ON",
                "v/cam/event=1"
            ]
        );
        // Two acked; the connection breaks with two in flight and one more event queued.
        o.ack();
        o.ack();
        assert_eq!(o.acked, 2);
        o.disconnected();
        o.push(state("v/cam/motion", "OFF"));
        o.push(event(2));
        o.connected(Some(state("v/available", "online")));
        let again = drain(&mut o);
        assert_eq!(
            again,
            [
                "v/available=online",
                "ha/cam/config={}",
                "v/cam/motion=OFF",
                "v/cam/event=1",
                "v/cam/event=2"
            ],
            "the latest state once, then the unacknowledged events in order"
        );
    }

    #[test]
    fn the_backlog_is_bounded_and_counts_what_it_drops() {
        let mut o = Outbox::default();
        for n in 0..(BACKLOG as u32 + 5) {
            o.push(event(n));
        }
        assert_eq!(o.dropped, 5);
        o.connected(None);
        let out = drain(&mut o);
        assert_eq!(out.len(), BACKLOG);
        assert_eq!(out[0], "v/cam/event=5", "the oldest went");
    }

    #[test]
    fn discovery_is_sent_again_on_request() {
        let mut o = Outbox::default();
        o.connected(None);
        o.push(state("ha/a/config", "1"));
        o.push(state("v/a/state", "IDLE"));
        drain(&mut o);
        o.resend_discovery();
        assert_eq!(drain(&mut o), ["ha/a/config=1"]);
        let m = state("v/x", "1");
        o.unpop(m.clone());
        assert_eq!(o.take_next(), Some(m));
        assert_eq!(o.retained("v/a/state"), Some("IDLE"));
    }

    #[test]
    fn retries_are_capped_and_slower_for_a_refused_login() {
        let mut r = Retry::new(7);
        let net: Vec<f64> = (0..8)
            .map(|_| r.after_failure(false).as_secs_f64())
            .collect();
        for (d, base) in net.iter().zip([1.0, 2.0, 4.0, 8.0, 10.0, 10.0, 10.0, 10.0]) {
            assert!(*d >= base / 2.0 && *d <= base, "{net:?}");
        }
        let first = r.after_failure(true).as_secs_f64();
        assert!((10.0..=20.0).contains(&first), "{first}");
        for _ in 0..10 {
            assert!(r.after_failure(true) <= Duration::from_secs(120));
        }
        r.connected();
        assert!(r.after_failure(false) <= Duration::from_secs(1));
    }
}
