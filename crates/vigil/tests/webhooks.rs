//! Webhooks against real HTTP receivers on 127.0.0.1 (docs/integrations.md): motion_start and
//! clip_closed arrive as JSON with a valid HMAC-SHA256 signature, a receiver answering 503 gets
//! the delivery again, and a receiver that is down holds up neither recording nor the other
//! webhook.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::Value;

/// A request as the receiver got it.
#[derive(Debug, Clone)]
struct Request {
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// An HTTP/1.1 receiver that keeps every request; it answers 503 to the first `fail_first`.
struct Receiver {
    addr: String,
    got: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    fn start(fail_first: usize) -> Receiver {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let got: Arc<Mutex<Vec<Request>>> = Arc::default();
        let g = got.clone();
        std::thread::spawn(move || {
            for s in l.incoming().map_while(Result::ok) {
                let g = g.clone();
                std::thread::spawn(move || serve(s, &g, fail_first));
            }
        });
        Receiver { addr, got }
    }

    fn all(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }

    fn of_type(&self, t: &str) -> Vec<Request> {
        self.all()
            .into_iter()
            .filter(|r| r.header("x-vigil-event") == Some(t))
            .collect()
    }
}

/// Requests on one (kept-alive) connection.
fn serve(s: std::net::TcpStream, got: &Mutex<Vec<Request>>, fail_first: usize) {
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let n = {
            let mut g = got.lock().unwrap();
            g.push(Request { headers, body });
            g.len()
        };
        let status = if n <= fail_first {
            "503 Service Unavailable"
        } else {
            "204 No Content"
        };
        let answer = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
        if w.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    use hmac::{KeyInit, Mac};
    let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    m.update(body);
    let tag = m.finalize().into_bytes();
    format!(
        "sha256={}",
        tag.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn get(addr: &str, path: &str) -> Value {
    let (st, _, body) = http(addr, "GET", path, &[], b"");
    assert_eq!(st, 200, "GET {path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn webhooks_are_signed_retried_and_a_dead_receiver_harms_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let good = Receiver::start(1);
    // Nothing listens here: the port was free a moment ago.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().to_string()
    };
    let hooks = format!(
        "\n[[webhook]]\nurl = \"http://{dead}/hook\"\n\n\
         [[webhook]]\nurl = \"http://{}/hook\"\nevents = [\"motion_start\", \"clip_closed\"]\nsecret = \"s3cret\"\n",
        good.addr
    );
    let config = write_run_config(dir.path(), &hooks, "");
    let run = RunProcess::start(&config);
    let a = run.addr.clone();
    poll_until("2 s buffered", Duration::from_secs(20), || {
        let b = get(&a, "/api/motion_recording/buffer_stats/front");
        (b["duration_secs"].as_f64().unwrap_or(0.0) >= 2.0).then_some(())
    });
    post_motion(
        &a,
        "front",
        r#"{"action": "pulse", "duration_ms": 1000, "kind": "person"}"#,
    );

    let closed = poll_until("clip_closed delivered", Duration::from_secs(40), || {
        good.of_type("clip_closed").into_iter().next()
    });
    let starts = good.of_type("motion_start");
    assert!(
        starts.len() >= 2,
        "the first attempt got 503 and was delivered again: {starts:?}"
    );
    for r in starts.iter().chain([&closed]) {
        assert_eq!(
            r.header("x-vigil-signature-256"),
            Some(hmac_hex("s3cret", &r.body).as_str()),
            "signed"
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
    }
    let s = starts[0].json();
    assert_eq!(s["type"], "motion_start");
    assert_eq!(s["camera"], "front");
    assert_eq!(s["kind"], "person");
    assert_eq!(s["source"], "api");
    assert_eq!(
        starts[0].header("x-vigil-delivery"),
        starts[1].header("x-vigil-delivery"),
        "a retry is the same delivery"
    );
    let c = closed.json();
    assert_eq!(c["type"], "clip_closed");
    assert!(c["pre_roll_secs"].as_f64().unwrap() >= 1.9, "{c}");
    assert_eq!(c["kinds"], serde_json::json!(["person"]));
    let row = get(&a, &format!("/api/recordings/{}", c["id"]));
    assert_eq!(row["status"], "complete");
    assert!(
        good.of_type("motion_end").is_empty() && good.of_type("clip_opened").is_empty(),
        "only the events it asked for"
    );

    // The dead receiver: failures counted, retried, and nothing else held up.
    let i = poll_until("the dead hook retrying", Duration::from_secs(20), || {
        let i = get(&a, "/api/integrations");
        (i["webhooks"][0]["retries"].as_u64() >= Some(1)).then_some(i)
    });
    let dead_stats = &i["webhooks"][0];
    assert_eq!(dead_stats["delivered"], 0, "{i}");
    assert!(dead_stats["last_error"].as_str().is_some(), "{i}");
    let good_stats = &i["webhooks"][1];
    assert!(good_stats["delivered"].as_u64() >= Some(2), "{i}");
    assert!(good_stats["retries"].as_u64() >= Some(1), "{i}");
    assert_eq!(good_stats["last_status"], 204, "{i}");
    assert!(i["mqtt"].is_null());
    let m = String::from_utf8(http(&a, "GET", "/metrics", &[], b"").2).unwrap();
    assert!(
        m.contains("vigil_webhook_delivered_total{url=\"http://"),
        "{m}"
    );
    run.stop();
}
