//! The plain status page (`/status`, server-rendered, refreshes itself) and its JSON
//! (`/status.json`): every camera's state, stream, pre-buffer and recent clips.

use std::fmt::Write as _;

use axum::extract::State;
use axum::response::{Html, IntoResponse};
use axum::Json;
use serde::Serialize;

use super::Http;
use crate::camera::CameraStatus;

#[derive(Serialize)]
struct StatusJson {
    started_at: String,
    clips_root: String,
    pool: PoolJson,
    cameras: Vec<CameraJson>,
}

#[derive(Serialize)]
struct PoolJson {
    limit_bytes: u64,
    used_bytes: u64,
    peak_bytes: u64,
    buffers: usize,
}

#[derive(Serialize)]
struct CameraJson {
    #[serde(flatten)]
    status: CameraStatus,
    clips_recorded: u64,
    motion_events: u64,
    overlapping_events: u64,
    buffer_packets: u64,
    buffer_bytes: u64,
    buffer_duration_secs: f64,
    buffer_keyframes: u64,
    buffer_flushes: u64,
}

fn collect(state: &Http) -> StatusJson {
    let p = state.pool().stats();
    StatusJson {
        started_at: state.started_at().to_string(),
        clips_root: state.clips_root().display().to_string(),
        pool: PoolJson {
            limit_bytes: p.limit_bytes,
            used_bytes: p.used_bytes,
            peak_bytes: p.peak_bytes,
            buffers: p.buffers,
        },
        cameras: state
            .cameras()
            .list()
            .iter()
            .map(|c| {
                let s = c.status();
                CameraJson {
                    clips_recorded: s.recorder.clips_recorded,
                    motion_events: s.recorder.motion_events,
                    overlapping_events: s.recorder.overlapping_events,
                    buffer_packets: s.buffer.packets,
                    buffer_bytes: s.buffer.bytes,
                    buffer_duration_secs: s.buffer.duration_secs,
                    buffer_keyframes: s.buffer.keyframes,
                    buffer_flushes: s.buffer.flushes,
                    status: s,
                }
            })
            .collect(),
    }
}

pub async fn status_json(State(state): State<Http>) -> impl IntoResponse {
    Json(collect(&state))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub async fn index(State(state): State<Http>) -> Html<String> {
    let st = collect(&state);
    let mut h = String::with_capacity(8192);
    h.push_str(concat!(
        "<!doctype html><html><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        "<meta http-equiv=refresh content=2><title>vigil</title>",
        "<style>body{font:14px system-ui,sans-serif;margin:1em}table{border-collapse:collapse}",
        "td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}",
        ".RECORDING{background:#fdd}.FINALIZING{background:#ffd}.BUFFERING{background:#dfd}</style>",
        "</head><body><h1>vigil</h1><p><a href=/>Open the web UI</a></p>"
    ));
    let _ = write!(
        h,
        "<p>Started {}. Clips under <code>{}</code>. Pool: {:.1} MiB used of {:.1} MiB (peak {:.1} MiB), {} buffers.</p>",
        esc(&st.started_at),
        esc(&st.clips_root),
        st.pool.used_bytes as f64 / 1048576.0,
        st.pool.limit_bytes as f64 / 1048576.0,
        st.pool.peak_bytes as f64 / 1048576.0,
        st.pool.buffers
    );
    h.push_str("<table><tr><th>camera</th><th>state</th><th>stream</th><th>pre-buffer</th><th>clips</th><th>events (overlapping)</th><th>start latency</th><th>current clip</th></tr>");
    for c in &st.cameras {
        let s = &c.status;
        let _ = write!(
            h,
            "<tr><td>{}</td><td class={st}>{st}</td><td>{} {}x{}</td><td>{:.1} s, {} packets, {:.0} KiB, {} flushes</td><td>{}</td><td>{} ({})</td><td>{}</td><td>{}</td></tr>",
            esc(&s.name),
            s.video_codec.unwrap_or("down"),
            s.width,
            s.height,
            c.buffer_duration_secs,
            c.buffer_packets,
            c.buffer_bytes as f64 / 1024.0,
            c.buffer_flushes,
            c.clips_recorded,
            c.motion_events,
            c.overlapping_events,
            s.last_start_latency_ms.map(|ms| format!("{ms:.1} ms")).unwrap_or_default(),
            s.current_clip.as_ref().map(|r| esc(&r.path.display().to_string())).unwrap_or_default(),
            st = s.state,
        );
    }
    h.push_str("</table><h2>Recent clips</h2><table><tr><th>camera</th><th>start</th><th>duration</th><th>pre-roll</th><th>size</th><th>file</th></tr>");
    let mut clips: Vec<_> = st
        .cameras
        .iter()
        .flat_map(|c| c.status.recent_clips.iter())
        .collect();
    clips.sort_by_key(|r| std::cmp::Reverse(r.start));
    for r in clips.iter().take(30) {
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{:.1} s</td><td>{:.1} s</td><td>{:.0} KiB</td><td>{}</td></tr>",
            esc(&r.camera),
            r.start.map(|t| t.to_string()).unwrap_or_default(),
            r.duration_secs,
            r.pre_roll_secs,
            r.bytes as f64 / 1024.0,
            esc(&r.path.display().to_string()),
        );
    }
    h.push_str("</table></body></html>");
    Html(h)
}
