//! Webhooks: each `[[webhook]]` gets the events it asked for as JSON POSTs, one at a time and
//! in order, retried with backoff, from a bounded queue of its own (docs/integrations.md). A
//! receiver that is down or slow holds up nothing but its own queue: never recording, never
//! another webhook.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Notify;
use tracing::warn;

use super::config::{WebhookConfig, WebhookEvent};

/// Deliveries waiting per webhook; past this the oldest is dropped and counted.
pub const QUEUE: usize = 256;
/// Attempts per delivery (the first and its retries).
pub const ATTEMPTS: u32 = 6;

/// The retry waits of one delivery (`vigil_core::backoff`): about 2 s doubling to 1 min,
/// jittered into the upper half (1–2 s, 2–4 s, ... 16–32 s over [`ATTEMPTS`]).
pub fn retry_backoff(seed: u64) -> vigil_core::backoff::Backoff {
    vigil_core::backoff::Backoff::new(Duration::from_secs(2), Duration::from_secs(60), seed)
}

/// Whether an answer is worth another attempt: server errors, a timeout, "too many requests".
/// Other client errors (400, 401, 404, ...) will not change by asking again.
pub fn retryable(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// `sha256=<hex>`: HMAC-SHA256 of `body` with `secret` (the `X-Vigil-Signature-256` header).
pub fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256=");
    for b in tag {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// The body of `event`: the MQTT payload, with `type` saying the webhook event.
pub fn body(event: WebhookEvent, payload: &Value) -> Vec<u8> {
    let mut v = payload.clone();
    if let Value::Object(m) = &mut v {
        m.insert("type".into(), Value::from(event.as_str()));
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

/// One webhook's figures, as the API shows them.
#[derive(Debug, Clone, Serialize, Default)]
pub struct WebhookStats {
    /// Its URL, without any password.
    pub url: String,
    pub events: Vec<&'static str>,
    pub delivered: u64,
    /// Deliveries given up (every attempt failed, or an answer that retrying can't fix).
    pub failed: u64,
    pub retries: u64,
    /// Deliveries lost to a full queue.
    pub dropped: u64,
    pub queued: u64,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
    pub last_delivery_at: Option<String>,
}

struct Job {
    event: WebhookEvent,
    body: Bytes,
}

/// One webhook: its queue, and its figures.
pub struct Hook {
    cfg: WebhookConfig,
    queue: Mutex<VecDeque<Job>>,
    wake: Notify,
    stats: Mutex<WebhookStats>,
    seq: AtomicU64,
}

pub type Client = hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    Full<Bytes>,
>;

/// The HTTP client webhooks share: http and https (rustls with the system's roots).
pub fn client() -> Client {
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match builder.with_native_roots() {
        Ok(b) => b,
        Err(e) => {
            warn!("webhooks: no system root certificates ({e}); https receivers will fail");
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(
                rustls::ClientConfig::builder_with_provider(Arc::new(
                    rustls::crypto::ring::default_provider(),
                ))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default versions")
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth(),
            )
        }
    };
    let https = builder.https_or_http().enable_http1().build();
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build(https)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hook {
    pub fn new(cfg: WebhookConfig) -> Arc<Hook> {
        let stats = WebhookStats {
            url: crate::util::redact_url(&cfg.url),
            events: cfg.events.iter().map(|e| e.as_str()).collect(),
            ..Default::default()
        };
        Arc::new(Hook {
            cfg,
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            stats: Mutex::new(stats),
            seq: AtomicU64::new(0),
        })
    }

    pub fn wants(&self, e: WebhookEvent) -> bool {
        self.cfg.wants(e)
    }

    /// Queues `event` (never blocks; a full queue drops its oldest).
    pub fn offer(&self, event: WebhookEvent, payload: &Value) {
        if !self.wants(event) {
            return;
        }
        let job = Job {
            event,
            body: body(event, payload).into(),
        };
        let mut q = lock(&self.queue);
        if q.len() >= QUEUE {
            q.pop_front();
            lock(&self.stats).dropped += 1;
        }
        q.push_back(job);
        lock(&self.stats).queued = q.len() as u64;
        drop(q);
        self.wake.notify_one();
    }

    pub fn stats(&self) -> WebhookStats {
        lock(&self.stats).clone()
    }

    fn noted(&self, f: impl FnOnce(&mut WebhookStats)) {
        f(&mut lock(&self.stats));
    }

    /// One attempt: `Ok(status)` for any answer, `Err` when none came.
    async fn attempt(&self, client: &Client, job: &Job, id: &str) -> Result<u16, String> {
        let mut req = hyper::Request::post(&self.cfg.url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("vigil/", env!("CARGO_PKG_VERSION")))
            .header("x-vigil-event", job.event.as_str())
            .header("x-vigil-delivery", id);
        if let Some(secret) = &self.cfg.secret {
            req = req.header("x-vigil-signature-256", signature(secret, &job.body));
        }
        let req = req
            .body(Full::new(job.body.clone()))
            .map_err(|e| format!("bad request: {e}"))?;
        let limit = Duration::from_secs(u64::from(self.cfg.timeout_secs));
        let answer = async {
            let resp = client.request(req).await.map_err(|e| {
                let mut s = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(inner) = src {
                    s = format!("{s}: {inner}");
                    src = inner.source();
                }
                s
            })?;
            let status = resp.status().as_u16();
            // Read (and throw away) the answer so the connection can be used again.
            let _ = resp.into_body().collect().await;
            Ok::<u16, String>(status)
        };
        match tokio::time::timeout(limit, answer).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} s", self.cfg.timeout_secs)),
        }
    }

    /// Delivers one job with its retries.
    async fn deliver(&self, client: &Client, job: Job, clock: &dyn vigil_core::time::Clock) {
        let n = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let id = format!("{}-{n}", clock.now().to_unix().0);
        let mut backoff = retry_backoff(vigil_core::rng::random_seed(&id));
        for attempt in 1..=ATTEMPTS {
            let result = self.attempt(client, &job, &id).await;
            let now = clock.now().to_string();
            let (done, error) = match result {
                Ok(s) if (200..300).contains(&s) => {
                    self.noted(|st| {
                        st.delivered += 1;
                        st.last_status = Some(s);
                        st.last_delivery_at = Some(now.clone());
                    });
                    return;
                }
                Ok(s) => {
                    self.noted(|st| st.last_status = Some(s));
                    (!retryable(s), format!("the receiver answered {s}"))
                }
                Err(e) => (false, e),
            };
            self.noted(|st| {
                st.last_error = Some(error.clone());
                st.last_error_at = Some(now.clone());
            });
            if done || attempt == ATTEMPTS {
                warn!(webhook = %crate::util::redact_url(&self.cfg.url), event = job.event.as_str(),
                      "webhook delivery failed, given up after {attempt} attempt(s): {error}");
                self.noted(|st| st.failed += 1);
                return;
            }
            let wait = backoff.next_delay();
            warn!(webhook = %crate::util::redact_url(&self.cfg.url), event = job.event.as_str(),
                  "webhook delivery failed ({error}); retrying in {:.1} s", wait.as_secs_f64());
            self.noted(|st| st.retries += 1);
            tokio::time::sleep(wait).await;
        }
    }

    /// Delivers queued jobs until `closed` says stop and the queue is empty.
    pub async fn run(
        self: Arc<Self>,
        client: Client,
        clock: Arc<dyn vigil_core::time::Clock>,
        closed: Arc<std::sync::atomic::AtomicBool>,
    ) {
        loop {
            let job = {
                let mut q = lock(&self.queue);
                let j = q.pop_front();
                lock(&self.stats).queued = q.len() as u64;
                j
            };
            match job {
                Some(j) => self.deliver(&client, j, &*clock).await,
                None if closed.load(Ordering::Relaxed) => return,
                None => self.wake.notified().await,
            }
        }
    }

    /// Wakes [`Hook::run`] (to see that it should stop).
    pub fn kick(&self) {
        self.wake.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_hmac_sha256_hex() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn the_body_is_the_payload_with_the_event_type() {
        let b = body(
            WebhookEvent::MotionStart,
            &serde_json::json!({"camera": "a", "type": "start"}),
        );
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(v["type"], "motion_start");
        assert_eq!(v["camera"], "a");
    }

    #[test]
    fn retries_back_off_and_only_when_it_can_help() {
        let mut b = retry_backoff(3);
        let waits: Vec<f64> = (1..ATTEMPTS)
            .map(|_| b.next_delay().as_secs_f64())
            .collect();
        for (w, base) in waits.iter().zip([2.0, 4.0, 8.0, 16.0, 32.0]) {
            assert!(*w >= base / 2.0 && *w <= base, "{waits:?}");
        }
        assert!(retryable(503) && retryable(429) && retryable(408));
        assert!(!retryable(404) && !retryable(401) && !retryable(400));
    }

    #[test]
    fn a_full_queue_drops_its_oldest() {
        let cfg: WebhookConfig =
            toml::from_str("url = \"http://127.0.0.1:9/x\"\nevents = [\"motion_start\"]").unwrap();
        let h = Hook::new(cfg);
        h.offer(WebhookEvent::ClipClosed, &serde_json::json!({}));
        assert_eq!(h.stats().queued, 0, "not an event it asked for");
        for n in 0..QUEUE + 3 {
            h.offer(WebhookEvent::MotionStart, &serde_json::json!({ "n": n }));
        }
        let s = h.stats();
        assert_eq!((s.queued, s.dropped), (QUEUE as u64, 3));
        let first = lock(&h.queue).front().map(|j| j.body.clone()).unwrap();
        let v: Value = serde_json::from_slice(&first).unwrap();
        assert_eq!(v["n"], 3);
    }
}
