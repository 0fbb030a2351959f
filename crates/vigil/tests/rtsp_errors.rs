//! Cameras that don't work: a clear error in the ingest's stats, retried with backoff (attempts
//! counted: no hot loop), nothing sent to the camera worker.

mod rtsp_support;

use std::net::TcpListener;
use std::time::Duration;

use rtsp_support::*;

/// Runs an ingest against `url` for `secs` and returns (attempts, last error, events seen).
fn try_for(url: &str, secs: u64) -> (u64, String, usize) {
    let rt = runtime();
    let (send, seen) = tap(None);
    let mut ingest = Ingest::start(&rt, test_config(url), send);
    let events = collect_for(&seen, Duration::from_secs(secs));
    ingest.stop();
    let s = ingest.stats.snapshot();
    assert!(!s.connected);
    assert_eq!(s.sessions, 0);
    (s.attempts, s.last_error.unwrap_or_default(), events.len())
}

#[test]
fn rtsp_wrong_path_is_a_clear_error_retried_with_backoff() {
    let server = RtspServer::start(&[("cam", "h264.mp4")]);
    let (attempts, error, events) = try_for(&server.url("no-such-stream"), 6);
    // Backoff 0.5 s doubling to 4 s, each delay jittered into [base/2, base]: attempts at
    // 0, ≤0.5, ≤1.5, ≤3.5 s, and at most 6 (0, ≥0.25, ≥0.75, ≥1.75, ≥3.75, ≥5.75) in 6 s.
    // A hot loop would make hundreds.
    assert!((3..=6).contains(&attempts), "{attempts} attempts in 6 s");
    assert!(error.contains("404"), "{error}");
    assert_eq!(
        events, 0,
        "a stream that never came up reports nothing to the camera"
    );
}

#[test]
fn rtsp_nothing_listening_is_a_clear_error_retried_with_backoff() {
    // A port that was free a moment ago: connection refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap();
    let (attempts, error, events) = try_for(&format!("rtsp://127.0.0.1:{port}/cam"), 6);
    assert!((3..=6).contains(&attempts), "{attempts} attempts in 6 s");
    assert!(error.to_lowercase().contains("refused"), "{error}");
    assert_eq!(events, 0);
}

#[test]
fn rtsp_bad_url_is_refused_with_its_reason() {
    let (attempts, error, _) = try_for("http://127.0.0.1/cam", 2);
    assert!(
        error.contains("invalid RTSP URL") && error.contains("scheme"),
        "{error}"
    );
    assert!(attempts <= 3, "{attempts}");
}
