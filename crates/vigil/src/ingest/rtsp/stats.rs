//! Per-camera ingest statistics, shared between the camera's ingest task (the only writer) and
//! whoever shows them (status page, API, metrics).
//!
//! Per-packet counters are atomics so the hot path takes no lock; the rest changes a few times per
//! session and sits behind a mutex.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use vigil_core::time::Time;

use crate::clips::ser_time_opt;

/// A copy of the statistics at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestSnapshot {
    /// A session is up and packets flow.
    pub connected: bool,
    /// Sessions tried (each DESCRIBE/SETUP/PLAY round), successful or not.
    pub attempts: u64,
    /// Sessions that came up (delivered their stream parameters).
    pub sessions: u64,
    /// Sessions that came up after an earlier one had ended: the times the stream came back.
    pub reconnects: u64,
    pub packets: u64,
    pub bytes: u64,
    pub video_packets: u64,
    pub audio_packets: u64,
    /// Video frames dropped while waiting for a session's first keyframe (or the first one after
    /// new parameters), and audio frames before it.
    pub dropped_before_keyframe: u64,
    /// H.265 RASL pictures dropped (see `h265.rs`).
    pub rasl_dropped: u64,
    /// RTP packets the transport reported lost.
    pub lost_rtp_packets: u64,
    /// Timestamp jumps bridged by the timeline.
    pub discontinuities: u64,
    pub last_error: Option<String>,
    #[serde(serialize_with = "ser_time_opt")]
    pub last_error_at: Option<Time>,
    #[serde(serialize_with = "ser_time_opt")]
    pub connected_since: Option<Time>,
    /// The wait before the next attempt, while waiting; 0 otherwise.
    pub backoff_secs: f64,
}

/// The live statistics of one camera's ingest.
#[derive(Debug, Default)]
pub struct IngestStats {
    packets: AtomicU64,
    bytes: AtomicU64,
    video_packets: AtomicU64,
    audio_packets: AtomicU64,
    rest: Mutex<IngestSnapshot>,
}

impl IngestStats {
    pub fn new() -> IngestStats {
        IngestStats::default()
    }

    pub fn snapshot(&self) -> IngestSnapshot {
        let mut s = self.lock().clone();
        s.packets = self.packets.load(Ordering::Relaxed);
        s.bytes = self.bytes.load(Ordering::Relaxed);
        s.video_packets = self.video_packets.load(Ordering::Relaxed);
        s.audio_packets = self.audio_packets.load(Ordering::Relaxed);
        s
    }

    pub(crate) fn packet(&self, video: bool, bytes: usize) {
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        let which = if video {
            &self.video_packets
        } else {
            &self.audio_packets
        };
        which.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut IngestSnapshot)) {
        f(&mut self.lock());
    }

    pub(crate) fn attempt(&self) {
        self.update(|s| {
            s.attempts += 1;
            s.backoff_secs = 0.0;
        });
    }

    pub(crate) fn up(&self, now: Time) {
        self.update(|s| {
            if s.sessions > 0 {
                s.reconnects += 1;
            }
            s.sessions += 1;
            s.connected = true;
            s.connected_since = Some(now);
        });
    }

    pub(crate) fn failed(&self, error: &str, now: Time, backoff: Duration) {
        self.update(|s| {
            s.connected = false;
            s.connected_since = None;
            s.last_error = Some(error.to_owned());
            s.last_error_at = Some(now);
            s.backoff_secs = backoff.as_secs_f64();
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, IngestSnapshot> {
        // A panic elsewhere while holding it leaves plain counters behind: still worth showing.
        self.rest.lock().unwrap_or_else(|p| p.into_inner())
    }
}
