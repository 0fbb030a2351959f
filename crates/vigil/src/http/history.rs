//! Recent history for the UI's graphs, kept in memory so that a page reload gets its graphs back
//! at once: every [`INTERVAL`] one sample of the buffer pool (used, limit, peak) and of each
//! camera (pre-buffer bytes and seconds held, recorder state); the newest [`CAPACITY`] samples
//! (30 minutes) are kept. A restart starts an empty history: it is a view, not a record.
//!
//! Served as `GET /api/history?after=SEQ` (mounted by [`crate::http::api::router`], behind its token):
//! every sample has a sequence number, and a page that has them up to `SEQ` asks only for newer
//! ones. Each node of a cluster keeps its own; `?node=NAME` asks another node's (passed on).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::Json;
use serde::{Serialize, Serializer};
use serde_json::{json, Value};
use vigil_core::time::Time;

use crate::http::api::{ApiError, ApiResult};
use crate::http::Http;

/// Time between two samples.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// Samples kept: 30 minutes at [`INTERVAL`].
pub const CAPACITY: usize = 900;

/// One moment of the pool and the cameras.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub seq: u64,
    #[serde(serialize_with = "ser_time")]
    pub at: Time,
    pub pool: PoolSample,
    /// Per camera name, in a map so that a graph finds its camera without a search.
    pub cameras: std::collections::BTreeMap<String, CameraSample>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct PoolSample {
    pub used_bytes: u64,
    pub limit_bytes: u64,
    pub peak_bytes: u64,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct CameraSample {
    pub state: &'static str,
    /// Pre-buffer payload held, memory and disk.
    pub bytes: u64,
    /// Seconds of video the pre-buffer holds.
    pub duration_secs: f64,
}

fn ser_time<S: Serializer>(t: &Time, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_string())
}

/// The ring of samples. Cheap to share: one short lock per sample and per request.
#[derive(Default)]
pub struct History {
    ring: Mutex<Ring>,
}

#[derive(Default)]
struct Ring {
    next_seq: u64,
    samples: VecDeque<Sample>,
}

impl History {
    /// Adds a sample (its `seq` is assigned here), dropping the oldest beyond [`CAPACITY`].
    pub fn push(&self, mut sample: Sample) {
        let mut r = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        r.next_seq += 1;
        sample.seq = r.next_seq;
        if r.samples.len() == CAPACITY {
            r.samples.pop_front();
        }
        r.samples.push_back(sample);
    }

    /// Samples newer than `after` (all of them for `None`), oldest first, and the newest seq.
    pub fn since(&self, after: Option<u64>) -> (Vec<Sample>, Option<u64>) {
        let r = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        let after = after.unwrap_or(0);
        let newer = r
            .samples
            .iter()
            .filter(|s| s.seq > after)
            .cloned()
            .collect();
        (newer, r.samples.back().map(|s| s.seq))
    }
}

/// What `app` looks like now.
pub fn sample(app: &Http) -> Sample {
    let p = app.pool().stats();
    Sample {
        seq: 0,
        at: app.clock().now(),
        pool: PoolSample {
            used_bytes: p.used_bytes,
            limit_bytes: p.limit_bytes,
            peak_bytes: p.peak_bytes,
        },
        cameras: app
            .cameras()
            .list()
            .iter()
            .map(|c| {
                let s = c.status();
                let state = s.state;
                let cam = CameraSample {
                    state,
                    bytes: s.buffer.bytes,
                    duration_secs: s.buffer.duration_secs,
                };
                (c.name().to_owned(), cam)
            })
            .collect(),
    }
}

/// Samples `app` every [`INTERVAL`] until the task is dropped (the web server aborts it when it
/// stops, so that it lets go of the app).
pub async fn run(app: Http) {
    let mut tick = tokio::time::interval(INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        app.history.push(sample(&app));
    }
}

/// `GET /api/history?after=SEQ`.
pub async fn get(
    State(app): State<Http>,
    q: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(format!("query: {}", e.body_text())))?;
    if let Some(k) = q.keys().find(|k| *k != "after" && *k != "node") {
        return Err(ApiError::bad_request(format!(
            "{k}: unknown parameter (only after=SEQ and node=NAME)"
        )));
    }
    // `node=NAME` of another node of the cluster was passed to it (`api::forward`); here it
    // can only name this node.
    let me = app.config().cluster.as_ref().map(|c| c.node.clone());
    if let Some(n) = q.get("node") {
        if me.as_deref() != Some(n.as_str()) {
            return Err(ApiError::not_found(format!(
                "node: no live node named {n:?} in this cluster"
            )));
        }
    }
    let after = q
        .get("after")
        .map(|a| {
            a.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!("after: must be a sample's seq (got {a:?})"))
            })
        })
        .transpose()?;
    let (samples, last_seq) = app.history.since(after);
    Ok(Json(json!({
        "node": me,
        "interval_secs": INTERVAL.as_secs_f64(),
        "capacity": CAPACITY,
        "last_seq": last_seq,
        "samples": samples,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(used: u64) -> Sample {
        Sample {
            seq: 0,
            at: Time::from_secs(1_800_000_000),
            pool: PoolSample {
                used_bytes: used,
                ..Default::default()
            },
            cameras: Default::default(),
        }
    }

    #[test]
    fn keeps_the_newest_capacity_samples_numbered_in_order() {
        let h = History::default();
        for i in 0..(CAPACITY as u64 + 10) {
            h.push(s(i));
        }
        let (all, last) = h.since(None);
        assert_eq!(all.len(), CAPACITY);
        assert_eq!(last, Some(CAPACITY as u64 + 10));
        assert_eq!(all[0].seq, 11);
        assert_eq!(all[0].pool.used_bytes, 10);
        assert!(all.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    }

    #[test]
    fn after_returns_only_newer_samples() {
        let h = History::default();
        let (none, last) = h.since(None);
        assert!(none.is_empty() && last.is_none());
        for i in 0..5 {
            h.push(s(i));
        }
        let (newer, last) = h.since(Some(3));
        assert_eq!(newer.iter().map(|s| s.seq).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(last, Some(5));
        // A page that knew a later seq (from before a restart) gets nothing new, and sees from
        // `last_seq` that it must start over.
        let (newer, last) = h.since(Some(99));
        assert!(newer.is_empty());
        assert_eq!(last, Some(5));
    }
}
