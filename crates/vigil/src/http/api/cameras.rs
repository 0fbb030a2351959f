//! Cameras, their motion-recording settings and stats, the buffer pool, and the motion trigger.

use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::{json, Map, Value};
use vigil_core::kind::{EventKind, KindSet};
use vigil_core::recorder::MotionSource;
use vigil_core::settings::{BufferMode, RecordingSettings};

use super::{camera, ApiError, ApiResult};
use crate::camera::CameraMsg;
use crate::http::Http;
use crate::util::redact_url;

#[derive(Serialize)]
pub struct CameraJson {
    name: String,
    /// The node recording it (`[cluster] node`); null on a single vigil.
    node: Option<String>,
    state: &'static str,
    enabled: bool,
    stream: StreamJson,
    onvif: Option<Value>,
    clips_recorded: u64,
    current_clip_id: Option<i64>,
    /// Its live view: viewers now, skips, the stream's codecs.
    live: crate::liveview::LiveStats,
    /// The event kinds on now ("person", ...), docs/events.md.
    active_kinds: Vec<&'static str>,
    /// vigil's own motion detection, when `detect = true` (docs/detection.md).
    detect: Option<crate::detect::DetectStats>,
}

#[derive(Serialize)]
struct StreamJson {
    up: bool,
    /// The camera's source with any password removed.
    url: Option<String>,
    video_codec: Option<&'static str>,
    width: u16,
    height: u16,
    packets: u64,
    /// RTSP session figures (connected, reconnects, last error, backoff); `null` for `file:`.
    ingest: Option<crate::ingest::rtsp::IngestSnapshot>,
}

fn current_clip_id(app: &Http, name: &str) -> Option<i64> {
    let status = app.camera(name)?.status();
    let path = status.current_clip?.path;
    let key = path
        .strip_prefix(app.clips_root())
        .ok()?
        .to_string_lossy()
        .into_owned();
    app.catalog().clip_by_key(&key).ok().flatten().map(|r| r.id)
}

pub async fn list(State(app): State<Http>, headers: axum::http::HeaderMap) -> Json<Value> {
    let node = app.config().cluster.as_ref().map(|c| c.node.clone());
    let mut cameras: Vec<Value> = app
        .cameras()
        .list()
        .iter()
        .map(|c| {
            let s = c.status();
            let j = CameraJson {
                name: c.name().to_owned(),
                node: node.clone(),
                state: s.state,
                enabled: c.settings().enabled,
                stream: StreamJson {
                    up: s.stream_up,
                    url: c.config().url.as_deref().map(redact_url),
                    video_codec: s.video_codec,
                    width: s.width,
                    height: s.height,
                    packets: s.counters.packets_in,
                    ingest: c.ingest(),
                },
                onvif: c.onvif_health(),
                clips_recorded: s.recorder.clips_recorded,
                current_clip_id: current_clip_id(&app, c.name()),
                live: c.live().stats(),
                active_kinds: s.active_kinds.names(),
                detect: c.detect_stats(),
            };
            serde_json::to_value(j).unwrap_or(Value::Null)
        })
        .collect();
    if let Some(me) = node {
        let rt = app.rt.clone();
        let others = tokio::task::spawn_blocking(move || elsewhere(&rt))
            .await
            .unwrap_or_default();
        // Asked by another node (it merges our cameras into its own list): only what we know.
        let merge = !headers.contains_key(super::forward::FORWARDED);
        if merge {
            cameras.extend(from_their_nodes(others, &me, &headers).await);
        } else {
            cameras.extend(others.into_iter().map(|(v, _)| v));
        }
    }
    Json(json!({ "cameras": cameras }))
}

/// How long a node's list waits for the others' (docs/cluster.md).
const NODE_LIST_WAIT: Duration = Duration::from_secs(2);

/// A node's list also has the cameras it doesn't record: `state` `elsewhere` with the `node`
/// that does, or `unassigned` while no live node holds it (a node died and its lease has not
/// lapsed yet, or every node is full). Each with the holder's `public_url`.
fn elsewhere(rt: &crate::runtime::RuntimeHandle) -> Vec<(Value, Option<String>)> {
    let view = rt.cluster_view();
    let here = rt.cameras().names();
    rt.all_camera_configs()
        .into_iter()
        .filter(|c| !here.contains(&c.name))
        .map(|c| {
            let holder = view.leases.iter().find(|l| l.camera == c.name);
            let url = holder
                .and_then(|l| view.nodes.iter().find(|n| n.name == l.node))
                .map(|n| n.url.clone());
            let v = json!({
                "name": c.name,
                "node": holder.map(|l| l.node.clone()),
                "state": if holder.is_some() { "elsewhere" } else { "unassigned" },
                "enabled": c.settings.enabled,
                "stream": { "url": c.url.as_deref().map(redact_url) },
            });
            (v, url)
        })
        .collect()
}

/// The cameras other nodes record, as those nodes list them (their live state, stream, live
/// view, ...), asked of every holder at once as the caller; a camera whose node doesn't answer
/// within [`NODE_LIST_WAIT`] keeps its `elsewhere` entry.
async fn from_their_nodes(
    others: Vec<(Value, Option<String>)>,
    me: &str,
    caller: &axum::http::HeaderMap,
) -> Vec<Value> {
    // (A lease of this node's own for a camera it is still starting: nobody else to ask.)
    let mut urls: Vec<&str> = others
        .iter()
        .filter(|(v, _)| v["node"] != me)
        .filter_map(|(_, u)| u.as_deref())
        .collect();
    urls.sort_unstable();
    urls.dedup();
    let lists = futures::future::join_all(
        urls.iter()
            .map(|u| super::forward::node_cameras(u, me, caller, NODE_LIST_WAIT)),
    )
    .await;
    let theirs: std::collections::HashMap<&str, Vec<Value>> = urls
        .iter()
        .zip(lists)
        .filter_map(|(u, l)| Some((*u, l?)))
        .collect();
    others
        .iter()
        .map(|(v, url)| {
            let full = url.as_deref().and_then(|u| theirs.get(u)).and_then(|list| {
                list.iter().find(|c| {
                    c["name"] == v["name"] && c["node"] == v["node"] && c["state"] != "elsewhere"
                })
            });
            full.cloned().unwrap_or_else(|| v.clone())
        })
        .collect()
}

pub(crate) fn config_json(name: &str, s: &RecordingSettings) -> Value {
    json!({
        "camera": name,
        "enabled": s.enabled,
        "pre_buffer_secs": s.pre_buffer_secs,
        "post_buffer_secs": s.post_buffer_secs,
        "max_clip_secs": s.max_clip_secs,
        "buffer_mode": s.buffer_mode.as_str(),
        "keyframe_only": s.keyframe_only,
        "motion_timeout_secs": s.motion_timeout_secs,
        "record_on": s.record_on.names(),
        "pulse_secs": s.pulse_secs,
    })
}

pub async fn get_config(
    State(app): State<Http>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let cam = camera(&app, &name)?;
    Ok(Json(config_json(&name, &cam.settings())))
}

fn want_u32(field: &str, v: &Value) -> ApiResult<u32> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| ApiError::bad_request(format!("{field}: must be a whole number of seconds")))
}

fn want_bool(field: &str, v: &Value) -> ApiResult<bool> {
    v.as_bool()
        .ok_or_else(|| ApiError::bad_request(format!("{field}: must be true or false")))
}

/// Applies a partial update object over `s`. Unknown fields and wrong types are refused, naming
/// the field; ranges are checked by [`RecordingSettings::validate`].
pub fn apply_update(
    mut s: RecordingSettings,
    body: &Map<String, Value>,
) -> ApiResult<RecordingSettings> {
    for (k, v) in body {
        match k.as_str() {
            "enabled" => s.enabled = want_bool(k, v)?,
            "pre_buffer_secs" => s.pre_buffer_secs = want_u32(k, v)?,
            "post_buffer_secs" => s.post_buffer_secs = want_u32(k, v)?,
            "max_clip_secs" => s.max_clip_secs = want_u32(k, v)?,
            "motion_timeout_secs" => s.motion_timeout_secs = want_u32(k, v)?,
            "keyframe_only" => s.keyframe_only = want_bool(k, v)?,
            "pulse_secs" => s.pulse_secs = want_u32(k, v)?,
            "record_on" => {
                let names = v
                    .as_array()
                    .and_then(|a| a.iter().map(Value::as_str).collect::<Option<Vec<_>>>())
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "record_on: must be a list of event kinds, e.g. [\"person\", \"vehicle\"] (kinds: {})",
                            EventKind::names()
                        ))
                    })?;
                s.record_on = KindSet::parse(names)
                    .map_err(|e| ApiError::bad_request(format!("record_on: {e}")))?;
            }
            "buffer_mode" => {
                let m = v.as_str().ok_or_else(|| {
                    ApiError::bad_request("buffer_mode: must be \"memory\", \"disk\" or \"hybrid\"")
                })?;
                s.buffer_mode = m
                    .parse::<BufferMode>()
                    .map_err(|e| ApiError::bad_request(e.to_string()))?;
            }
            "camera" => {} // echoed back by GET; harmless in a POST
            other => return Err(ApiError::bad_request(format!("{other}: unknown field"))),
        }
    }
    s.validate()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(s)
}

/// A request body that must be a JSON object.
fn json_object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request("body: must be a JSON object")),
        Err(e) => Err(ApiError::bad_request(format!("body: not valid JSON: {e}"))),
    }
}

pub async fn set_config(
    State(app): State<Http>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let cam = camera(&app, &name)?;
    let map = json_object(&body)?;
    let new = apply_update(cam.settings(), &map)?;
    // Through the camera set: saved, then applied live (it may wait for a restart of the same
    // camera to finish).
    let (rt, n, s) = (app.rt.clone(), name.clone(), new.clone());
    super::camera_admin::blocking(move || rt.cameras().configure(&n, s)).await?;
    Ok(Json(config_json(&name, &new)))
}

/// `GET /api/cameras/{camera}/detect`: the camera's `detect*` keys (defaults filled in).
pub async fn get_detect(
    State(app): State<Http>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let cam = camera(&app, &name)?;
    Ok(Json(cam.detect_keys().json(&name)))
}

/// `POST /api/cameras/{camera}/detect`: a partial update of those keys, saved in the catalog
/// and applied (docs/detection.md, "Settings"); 400 naming the field when one is wrong.
pub async fn set_detect(
    State(app): State<Http>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let cam = camera(&app, &name)?;
    let map = json_object(&body)?;
    let keys = cam
        .detect_keys()
        .update(&map)
        .map_err(|b| ApiError::bad_request(format!("{}: {}", b.key, b.message)))?;
    let (rt, n, k) = (app.rt.clone(), name.clone(), keys.clone());
    super::camera_admin::blocking(move || rt.cameras().configure_detect(&n, k)).await?;
    Ok(Json(keys.json(&name)))
}

/// `POST /api/cameras/{camera}/restart`: stops the camera (its clip closed, its ONVIF
/// subscription ended) and starts it again with the same configuration; the other cameras
/// keep recording. Answers once it is running again.
pub async fn restart(State(app): State<Http>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    camera(&app, &name)?;
    let (rt, n) = (app.rt.clone(), name.clone());
    super::camera_admin::blocking(move || rt.cameras().restart(&n)).await?;
    Ok(Json(json!({ "camera": name, "restarted": true })))
}

pub async fn stats(State(app): State<Http>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let cam = camera(&app, &name)?;
    let s = cam.status();
    Ok(Json(json!({
        "state": s.state,
        "clips_recorded": s.recorder.clips_recorded,
        "current_clip_id": current_clip_id(&app, &name),
        "motion_events": s.recorder.motion_events,
        "overlapping_events": s.recorder.overlapping_events,
        "last_event_at": s.recorder.last_event_at.map(|t| t.to_string()),
        "last_start_latency_ms": s.last_start_latency_ms,
        "motion_active": s.recorder.motion_active,
    })))
}

pub async fn buffer_stats(
    State(app): State<Http>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let cam = camera(&app, &name)?;
    let b = cam.status().buffer;
    Ok(Json(json!({
        "mode": cam.settings().buffer_mode.as_str(),
        "packets": b.packets,
        "bytes": b.bytes,
        "memory_bytes": b.memory_bytes,
        "disk_bytes": b.disk_bytes,
        "duration_secs": b.duration_secs,
        "keyframes": b.keyframes,
        "gops": b.gops,
        "oldest": b.oldest.map(|t| t.to_string()),
        "newest": b.newest.map(|t| t.to_string()),
        "dropped_packets": b.dropped_packets,
        "dropped_bytes": b.dropped_bytes,
        "dropped_window_packets": b.dropped_window_packets,
        "dropped_pool_packets": b.dropped_pool_packets,
        "peak_bytes": b.peak_bytes,
        "flushes": b.flushes,
        "last_flush_packets": b.last_flush_packets,
        "last_flush_secs": b.last_flush_secs,
    })))
}

pub async fn buffer_pool(State(app): State<Http>) -> Json<Value> {
    let p = app.pool().stats();
    let per: Map<String, Value> = p
        .per_buffer
        .iter()
        .map(|(n, b)| (n.clone(), json!(b)))
        .collect();
    Json(json!({
        "limit_bytes": p.limit_bytes,
        "used_bytes": p.used_bytes,
        "peak_bytes": p.peak_bytes,
        "buffers": p.buffers,
        "per_buffer_bytes": per,
    }))
}

/// `POST /api/cameras/{camera}/motion` with `{"action": "start"|"stop"|"pulse", "duration_ms": N,
/// "kind": K}`. A pulse lasts `duration_ms` (default 5000); a start with `duration_ms` ends by
/// itself then. `kind` (default `motion`) is the event's kind (`person`, `vehicle`, ...).
pub async fn motion(
    State(app): State<Http>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let received = Instant::now();
    let cam = camera(&app, &name)?;
    let map = json_object(&body)?;
    for k in map.keys() {
        if k != "action" && k != "duration_ms" && k != "kind" {
            return Err(ApiError::bad_request(format!("{k}: unknown field")));
        }
    }
    let action = map
        .get("action")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("action: must be \"start\", \"stop\" or \"pulse\""))?;
    let duration = match map.get("duration_ms") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_u64() {
            Some(ms) if (1..=86_400_000).contains(&ms) => Some(Duration::from_millis(ms)),
            _ => {
                return Err(ApiError::bad_request(
                    "duration_ms: must be a whole number from 1 to 86400000",
                ))
            }
        },
    };
    let kind = match map.get("kind") {
        None | Some(Value::Null) => EventKind::Motion,
        Some(v) => v
            .as_str()
            .ok_or_else(|| ApiError::bad_request("kind: must be a string"))?
            .parse::<EventKind>()
            .map_err(|e| ApiError::bad_request(format!("kind: {e}")))?,
    };
    let now = app.clock().monotonic(); // a pulse's end is a deadline
    let msg = match action {
        "start" => CameraMsg::MotionStart {
            source: MotionSource::Api,
            kind,
            until: duration.map(|d| now.plus(d)),
            received,
            camera_time: None,
        },
        "pulse" => CameraMsg::MotionStart {
            source: MotionSource::Api,
            kind,
            until: Some(now.plus(duration.unwrap_or(Duration::from_secs(5)))),
            received,
            camera_time: None,
        },
        "stop" => CameraMsg::MotionEnd {
            source: MotionSource::Api,
            kind,
            camera_time: None,
        },
        other => {
            return Err(ApiError::bad_request(format!(
                "action: must be \"start\", \"stop\" or \"pulse\" (got {other:?})"
            )))
        }
    };
    // The recorder judges the event against the media up to its arrival.
    cam.fresh().await;
    if !cam.send(msg) {
        return Err(ApiError::internal("the camera's worker is gone"));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "camera": name, "action": action, "accepted": true })),
    ))
}

/// `GET /api/cameras/{camera}/snapshot.jpg`: the newest keyframe the camera's live feed holds,
/// as a JPEG (at most 1280 wide); an H.265 camera's comes from its H.264 detect stream when it
/// has one. 503 while there is none; 415 for an H.265 stream without one.
pub async fn snapshot(
    State(app): State<Http>,
    Path(name): Path<String>,
) -> ApiResult<axum::response::Response> {
    let cam = camera(&app, &name)?;
    let (params, packets) = match cam.live().newest_keyframe() {
        Some((p, k)) if p.video.codec == vigil_core::packet::VideoCodec::H264 => (p, vec![k]),
        other => match cam.detect_picture() {
            Some(from_detect) => from_detect,
            None if other.is_some() => {
                return Err(ApiError(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("{name}: the stream is H.265, and vigil decodes H.264 only (an H.264 detect stream gives the picture: detect = true)"),
                ))
            }
            None => {
                return Err(ApiError(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("{name}: no picture yet (the stream is down, or the camera's buffer_mode is disk)"),
                ))
            }
        },
    };
    let jpeg = tokio::task::spawn_blocking(move || {
        crate::thumbs::picture(&params, &packets, crate::thumbs::SNAPSHOT_WIDTH)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::internal(format!("{name}: no picture: {e}")))?;
    Ok(super::recordings::jpeg_response(jpeg, "no-store"))
}

/// A live viewer's socket send buffer (the kernel doubles it): ~0.25 s of an 8 Mbit/s stream,
/// and 20 Mbit/s over a 100 ms round trip.
const LIVE_SEND_BUFFER: usize = 128 * 1024;

/// `GET /api/cameras/{camera}/live.mp4`: the camera's live view, an endless fragmented MP4
/// (`crate::liveview`). 503 while its stream is down; the body ends when the stream's
/// parameters change or the camera stops.
pub async fn live(
    State(app): State<Http>,
    Path(name): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    socket: Option<axum::Extension<crate::http::server::ConnSocket>>,
    conn: Option<axum::Extension<crate::http::server::ConnHandle>>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    use futures::StreamExt;
    let cam = camera(&app, &name)?;
    let prft = live_prft(&app, query.as_deref())?;
    live_socket(socket.map(|axum::Extension(s)| s));
    let stream = subscribe(&cam, &name, prft)?;
    let content_type = format!("video/mp4; codecs=\"{}\"", stream.codecs());
    // Endless: it ends with the camera's stream, or when the server stops.
    let stop = async move {
        match conn {
            Some(axum::Extension(c)) => c.closed().await,
            None => std::future::pending().await,
        }
    };
    let stream = stream.take_until(stop);
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            (axum::http::header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}

/// Sizes a live viewer's socket: a viewer that can't keep up should skip ahead
/// (crate::liveview), not have seconds of old video wait for it in the kernel (autotuned, a send
/// buffer grows past a megabyte).
pub(super) fn live_socket(socket: Option<crate::http::server::ConnSocket>) {
    if let Some(s) = socket {
        if let Err(e) = s.set_send_buffer(LIVE_SEND_BUFFER) {
            tracing::debug!("live view: cannot size the send buffer: {e}");
        }
    }
}

/// `?prft=1`: each fragment preceded by a `prft` box (the packet's camera time, for measuring
/// latency), with the runtime's clock; `0` or absent: none. Other query keys (`token`) are not
/// this function's.
pub(super) fn live_prft(
    app: &Http,
    query: Option<&str>,
) -> ApiResult<Option<std::sync::Arc<dyn vigil_core::time::Clock>>> {
    let mut on = false;
    for pair in query.unwrap_or("").split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k != "prft" {
            continue;
        }
        on = match v {
            "1" | "true" => true,
            "0" | "false" => false,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "prft: must be 1 or 0 (got {v:?})"
                )))
            }
        };
    }
    Ok(on.then(|| app.rt.clock().clone()))
}

/// A new viewer of the camera's live feed; 503 while its stream is down.
pub(super) fn subscribe(
    cam: &crate::runtime::Camera,
    name: &str,
    prft: Option<std::sync::Arc<dyn vigil_core::time::Clock>>,
) -> ApiResult<crate::liveview::LiveStream> {
    cam.live().subscribe_with(prft).map_err(|e| match e {
        crate::liveview::LiveError::Params(_) => ApiError::internal(e),
        _ => ApiError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("camera {name:?}: {e}"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_updates_name_the_bad_field() {
        let base = RecordingSettings::default();
        let obj = |v: Value| v.as_object().unwrap().clone();
        let s = apply_update(base.clone(), &obj(json!({"pre_buffer_secs": 12}))).unwrap();
        assert_eq!(s.pre_buffer_secs, 12);
        assert_eq!(s.post_buffer_secs, base.post_buffer_secs);
        for (body, field) in [
            (json!({"pre_buffer_secs": 61}), "pre_buffer_secs"),
            (json!({"pre_buffer_secs": "5"}), "pre_buffer_secs"),
            (json!({"post_buffer_secs": -1}), "post_buffer_secs"),
            (json!({"buffer_mode": "ram"}), "buffer_mode"),
            (json!({"keyframe_only": 1}), "keyframe_only"),
            (json!({"max_clip_secs": 0}), "max_clip_secs"),
            (json!({"bogus": 1}), "bogus"),
        ] {
            let e = apply_update(base.clone(), &obj(body)).unwrap_err();
            assert_eq!(e.0, StatusCode::BAD_REQUEST);
            assert!(e.1.starts_with(field), "{} vs {field}", e.1);
        }
    }
}
