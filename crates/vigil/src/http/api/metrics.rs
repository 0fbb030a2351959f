//! `GET /metrics`: Prometheus text format (version 0.0.4).

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::camera::{CameraStatus, LATENCY_BUCKETS_MS};
use crate::http::Http;

/// A label value with `\`, `"` and newlines escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// (metric name, help, how to read it from a camera's status).
type Field<T> = (&'static str, &'static str, fn(&CameraStatus) -> T);

struct Out(String);

impl Out {
    fn help(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &str, v: impl std::fmt::Display) {
        if labels.is_empty() {
            let _ = writeln!(self.0, "{name} {v}");
        } else {
            let _ = writeln!(self.0, "{name}{{{labels}}} {v}");
        }
    }
}

/// The achieved pre-roll of the camera's latest clip opened by motion: the clip being recorded
/// once its pre-roll is in, else the newest closed one.
fn last_pre_roll(s: &CameraStatus) -> f64 {
    s.current_clip
        .iter()
        .chain(s.recent_clips.iter())
        .find(|c| c.pre_roll_secs > 0.0)
        .map_or(0.0, |c| c.pre_roll_secs)
}

pub fn render(app: &Http) -> String {
    let mut o = Out(String::with_capacity(8192));
    let statuses: Vec<_> = app
        .cameras()
        .list()
        .iter()
        .map(|c| (c.name().to_owned(), c.status()))
        .collect();
    let cam = |n: &str| format!("camera=\"{}\"", label(n));

    o.help(
        "vigil_camera_state",
        "gauge",
        "1 for the camera's current recorder state.",
    );
    for (n, s) in &statuses {
        for st in ["IDLE", "BUFFERING", "RECORDING", "FINALIZING"] {
            let cur = s.state;
            o.sample(
                "vigil_camera_state",
                &format!("{},state=\"{st}\"", cam(n)),
                u8::from(cur == st),
            );
        }
    }
    o.help(
        "vigil_camera_stream_up",
        "gauge",
        "1 while the camera's stream is up.",
    );
    for (n, s) in &statuses {
        o.sample("vigil_camera_stream_up", &cam(n), u8::from(s.stream_up));
    }
    o.help(
        "vigil_events_total",
        "counter",
        "Events the camera reported since start, per kind (docs/events.md).",
    );
    for (n, s) in &statuses {
        for k in vigil_core::kind::EventKind::ALL {
            o.sample(
                "vigil_events_total",
                &format!("{},kind=\"{k}\"", cam(n)),
                s.kind_events[k.index()],
            );
        }
    }
    o.help(
        "vigil_event_active",
        "gauge",
        "1 while an event of the kind is on at the camera.",
    );
    for (n, s) in &statuses {
        for k in vigil_core::kind::EventKind::ALL {
            o.sample(
                "vigil_event_active",
                &format!("{},kind=\"{k}\"", cam(n)),
                u8::from(s.active_kinds.contains(k)),
            );
        }
    }
    let live: Vec<_> = app
        .cameras()
        .list()
        .iter()
        .map(|c| (c.name().to_owned(), c.live().stats()))
        .collect();
    o.help(
        "vigil_live_viewers",
        "gauge",
        "Viewers of the camera's live view (live.mp4) now.",
    );
    for (n, l) in &live {
        o.sample("vigil_live_viewers", &cam(n), l.viewers);
    }
    o.help(
        "vigil_live_viewers_total",
        "counter",
        "Viewers of the camera's live view since start.",
    );
    for (n, l) in &live {
        o.sample("vigil_live_viewers_total", &cam(n), l.viewers_total);
    }
    o.help(
        "vigil_live_skips_total",
        "counter",
        "Times a live viewer fell behind and skipped to the next keyframe.",
    );
    for (n, l) in &live {
        o.sample("vigil_live_skips_total", &cam(n), l.skips);
    }
    let counters: [Field<u64>; 8] = [
        (
            "vigil_packets_received_total",
            "Packets received from the camera.",
            |s| s.counters.packets_in,
        ),
        (
            "vigil_packets_written_total",
            "Packets written into clips.",
            |s| s.counters.packets_written,
        ),
        (
            "vigil_packets_buffered_total",
            "Packets held by the pre-buffer.",
            |s| s.counters.packets_buffered,
        ),
        (
            "vigil_packets_dropped_total",
            "Packets dropped (idle, waiting for a keyframe, pool full).",
            |s| s.counters.packets_dropped,
        ),
        (
            "vigil_clip_write_errors_total",
            "Failed clip writes.",
            |s| s.counters.write_errors,
        ),
        ("vigil_clips_total", "Clips opened.", |s| {
            s.recorder.clips_recorded
        }),
        ("vigil_motion_events_total", "Motion events.", |s| {
            s.recorder.motion_events
        }),
        (
            "vigil_overlapping_events_total",
            "Motion starts that extended an open clip.",
            |s| s.recorder.overlapping_events,
        ),
    ];
    for (name, help, f) in counters {
        o.help(name, "counter", help);
        for (n, s) in &statuses {
            o.sample(name, &cam(n), f(s));
        }
    }
    let gauges: [Field<f64>; 6] = [
        (
            "vigil_buffer_bytes",
            "Payload bytes held by the pre-buffer (memory and disk).",
            |s| s.buffer.bytes as f64,
        ),
        (
            "vigil_buffer_memory_bytes",
            "Bytes of the pre-buffer charged to the pool.",
            |s| s.buffer.memory_bytes as f64,
        ),
        (
            "vigil_buffer_packets",
            "Packets held by the pre-buffer.",
            |s| s.buffer.packets as f64,
        ),
        (
            "vigil_buffer_seconds",
            "Seconds of video held by the pre-buffer.",
            |s| s.buffer.duration_secs,
        ),
        (
            "vigil_buffer_dropped_packets",
            "Packets the pre-buffer dropped (window, pool, ...).",
            |s| s.buffer.dropped_packets as f64,
        ),
        (
            "vigil_last_pre_roll_seconds",
            "Achieved pre-roll of the camera's latest clip opened by motion.",
            last_pre_roll,
        ),
    ];
    for (name, help, f) in gauges {
        o.help(name, "gauge", help);
        for (n, s) in &statuses {
            o.sample(name, &cam(n), f(s));
        }
    }
    let h = "vigil_motion_start_latency_seconds";
    o.help(
        h,
        "histogram",
        "Motion event in to the clip's first bytes (pre-roll included) durable on disk.",
    );
    for (n, s) in &statuses {
        let lat = &s.start_latency;
        let mut cum = 0;
        for (i, b) in LATENCY_BUCKETS_MS.iter().enumerate() {
            cum += lat.counts[i];
            o.sample(
                &format!("{h}_bucket"),
                &format!("{},le=\"{}\"", cam(n), b / 1000.0),
                cum,
            );
        }
        o.sample(
            &format!("{h}_bucket"),
            &format!("{},le=\"+Inf\"", cam(n)),
            lat.count,
        );
        o.sample(&format!("{h}_sum"), &cam(n), lat.sum_ms / 1000.0);
        o.sample(&format!("{h}_count"), &cam(n), lat.count);
    }
    for (name, help, v) in app.onvif_metrics() {
        o.help(name, "counter", help);
        for (n, x) in v {
            o.sample(name, &cam(&n), x);
        }
    }
    if let Some(d) = app.retention().disk() {
        o.help(
            "vigil_disk_total_bytes",
            "gauge",
            "Size of the filesystem under the storage root.",
        );
        o.sample("vigil_disk_total_bytes", "", d.total_bytes);
        o.help(
            "vigil_disk_free_bytes",
            "gauge",
            "Free bytes under the storage root.",
        );
        o.sample("vigil_disk_free_bytes", "", d.free_bytes);
    }
    let usage = app.catalog().usage().unwrap_or_default();
    o.help(
        "vigil_storage_clip_bytes",
        "gauge",
        "Bytes of clips held, per camera.",
    );
    for u in &usage {
        o.sample("vigil_storage_clip_bytes", &cam(&u.camera), u.bytes);
    }
    o.help("vigil_storage_clips", "gauge", "Clips held, per camera.");
    for u in &usage {
        o.sample("vigil_storage_clips", &cam(&u.camera), u.clips);
    }
    let r = app.retention().state();
    o.help(
        "vigil_retention_deleted_clips_total",
        "counter",
        "Clips retention deleted, by rule.",
    );
    for reason in ["max_age", "max_bytes", "min_free"] {
        let n = r.deleted_by_reason.get(reason).copied().unwrap_or(0);
        o.sample(
            "vigil_retention_deleted_clips_total",
            &format!("reason=\"{reason}\""),
            n,
        );
    }
    o.help(
        "vigil_retention_deleted_bytes_total",
        "counter",
        "Bytes retention freed.",
    );
    o.sample("vigil_retention_deleted_bytes_total", "", r.deleted_bytes);
    if let Some(remote) = app.remote() {
        let st = remote.state();
        let backlog = app.catalog().store_backlog().unwrap_or_default();
        for (name, kind, help, v) in [
            (
                "vigil_clip_store_up",
                "gauge",
                "1 while the clip store answers, 0 while it doesn't.",
                u64::from(st.up),
            ),
            (
                "vigil_clip_store_pending_clips",
                "gauge",
                "Finished clips the clip store doesn't have yet.",
                backlog.clips,
            ),
            (
                "vigil_clip_store_pending_bytes",
                "gauge",
                "Bytes of the clips the clip store doesn't have yet.",
                backlog.bytes,
            ),
            (
                "vigil_clip_store_pending_deletions",
                "gauge",
                "Objects waiting to be deleted from the clip store.",
                backlog.deletions,
            ),
            (
                "vigil_clip_store_uploaded_clips_total",
                "counter",
                "Clips uploaded to the clip store.",
                st.uploaded_clips,
            ),
            (
                "vigil_clip_store_uploaded_bytes_total",
                "counter",
                "Bytes of clips uploaded to the clip store.",
                st.uploaded_bytes,
            ),
            (
                "vigil_clip_store_sent_bytes_total",
                "counter",
                "Bytes sent to the clip store (parts sent again included).",
                remote.bytes_sent(),
            ),
            (
                "vigil_clip_store_resumed_uploads_total",
                "counter",
                "Uploads that went on from a journaled part.",
                st.resumed_uploads,
            ),
        ] {
            o.help(name, kind, help);
            o.sample(name, "", v);
        }
    }
    o.help(
        "vigil_notices_published_total",
        "counter",
        "Camera notices published (state changes, motion, clips, stream and event-client health).",
    );
    o.sample(
        "vigil_notices_published_total",
        "",
        app.notices().published(),
    );
    let subs = app.notices().stats();
    for (name, kind, help, f) in [
        (
            "vigil_notice_delivered_total",
            "counter",
            "Notices put in the subscriber's queue.",
            (|s| s.delivered) as fn(&crate::notice::SubscriberStats) -> u64,
        ),
        (
            "vigil_notice_dropped_total",
            "counter",
            "Notices the subscriber lost because its queue was full (a slow subscriber never stalls a camera).",
            |s| s.dropped,
        ),
        (
            "vigil_notice_queued",
            "gauge",
            "Notices waiting in the subscriber's queue.",
            |s| s.queued,
        ),
    ] {
        o.help(name, kind, help);
        for s in &subs {
            o.sample(name, &format!("subscriber=\"{}\"", label(&s.name)), f(s));
        }
    }
    integrations(&mut o, app);
    o.help("vigil_alerts", "gauge", "Alerts raised (see /api/storage).");
    o.sample("vigil_alerts", "", app.alerts().len());
    let p = app.pool().stats();
    for (name, help, v) in [
        (
            "vigil_pool_limit_bytes",
            "The buffer pool's byte limit.",
            p.limit_bytes,
        ),
        (
            "vigil_pool_used_bytes",
            "Bytes held by all pre-buffers together.",
            p.used_bytes,
        ),
        (
            "vigil_pool_peak_bytes",
            "Highest pool use since start.",
            p.peak_bytes,
        ),
        (
            "vigil_pool_buffers",
            "Pre-buffers in the pool.",
            p.buffers as u64,
        ),
    ] {
        o.help(name, "gauge", help);
        o.sample(name, "", v);
    }
    o.0
}

/// MQTT's connection and counters, and each webhook's deliveries (when configured).
fn integrations(o: &mut Out, app: &Http) {
    let i = app.integrations();
    if let Some(m) = i.mqtt_stats() {
        for (name, kind, help, v) in [
            (
                "vigil_mqtt_connected",
                "gauge",
                "1 while connected to the MQTT broker.",
                u64::from(m.connected),
            ),
            (
                "vigil_mqtt_connects_total",
                "counter",
                "MQTT connections made.",
                m.connects,
            ),
            (
                "vigil_mqtt_connect_failures_total",
                "counter",
                "MQTT connection attempts that failed, and connections that broke.",
                m.connect_failures,
            ),
            (
                "vigil_mqtt_sent_total",
                "counter",
                "MQTT messages the broker acknowledged.",
                m.sent,
            ),
            (
                "vigil_mqtt_dropped_total",
                "counter",
                "MQTT event messages lost to a full backlog.",
                m.dropped,
            ),
            (
                "vigil_mqtt_queued",
                "gauge",
                "MQTT messages waiting (queued and in flight).",
                m.queued,
            ),
            (
                "vigil_mqtt_commands_total",
                "counter",
                "MQTT commands carried out.",
                m.commands,
            ),
            (
                "vigil_mqtt_commands_rejected_total",
                "counter",
                "MQTT commands refused (bad payload, unknown camera).",
                m.commands_rejected,
            ),
        ] {
            o.help(name, kind, help);
            o.sample(name, "", v);
        }
    }
    let hooks = i.webhook_stats();
    if hooks.is_empty() {
        return;
    }
    for (name, kind, help, f) in [
        (
            "vigil_webhook_delivered_total",
            "counter",
            "Webhook deliveries the receiver took (2xx).",
            (|s| s.delivered) as fn(&crate::integrations::webhook::WebhookStats) -> u64,
        ),
        (
            "vigil_webhook_failed_total",
            "counter",
            "Webhook deliveries given up.",
            |s| s.failed,
        ),
        (
            "vigil_webhook_retries_total",
            "counter",
            "Webhook delivery retries.",
            |s| s.retries,
        ),
        (
            "vigil_webhook_dropped_total",
            "counter",
            "Webhook deliveries lost to a full queue.",
            |s| s.dropped,
        ),
        (
            "vigil_webhook_queued",
            "gauge",
            "Webhook deliveries waiting.",
            |s| s.queued,
        ),
    ] {
        o.help(name, kind, help);
        for s in &hooks {
            o.sample(name, &format!("url=\"{}\"", label(&s.url)), f(s));
        }
    }
}

pub async fn metrics(State(app): State<Http>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&app),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clips::{ClipRecord, ClipStatus};

    fn clip(pre_roll_secs: f64) -> ClipRecord {
        ClipRecord {
            camera: "cam".into(),
            path: "x.mp4".into(),
            event: 1,
            start: None,
            end: None,
            duration_secs: 0.0,
            bytes: 0,
            video_codec: "h264",
            width: 0,
            height: 0,
            pre_roll_secs,
            frames: 0,
            trigger: "api",
            status: ClipStatus::Recording,
            close_reason: None,
        }
    }

    #[test]
    fn last_pre_roll_is_the_recording_clips_once_its_pre_roll_is_in() {
        let mut s = CameraStatus::default();
        assert_eq!(last_pre_roll(&s), 0.0);
        s.recent_clips.push_front(clip(4.5));
        assert_eq!(last_pre_roll(&s), 4.5);
        // Opened, pre-roll not yet written: still the previous clip's.
        s.current_clip = Some(clip(0.0));
        assert_eq!(last_pre_roll(&s), 4.5);
        s.current_clip = Some(clip(2.0));
        assert_eq!(
            last_pre_roll(&s),
            2.0,
            "the clip being recorded, not the previous one"
        );
    }
}
