//! Recordings (clips) and motion events: list, one, delete, protect, and the file itself with
//! HTTP Range support.

use std::path::{Component, Path as FsPath, PathBuf};

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use vigil_core::kind::EventKind;
use vigil_core::time::Time;

use super::range::{self, RangeReply};
use super::{ApiError, ApiResult};
use crate::catalog::{ClipFilter, ClipRow, EventFilter, StoreStatus};
use crate::clips::ClipStatus;
use crate::http::Http;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    camera: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    kind: Option<String>,
}

/// RFC 3339 (`2026-11-24T22:58:33Z`, with optional fraction and offset) → time.
pub fn parse_time(field: &str, s: &str) -> ApiResult<Time> {
    parse_rfc3339(s).ok_or_else(|| {
        ApiError::bad_request(format!(
            "{field}: not an RFC 3339 time (e.g. 2026-11-24T22:58:33Z): {s:?}"
        ))
    })
}

fn parse_rfc3339(s: &str) -> Option<Time> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    // Digits only: `parse` alone would take a sign (`-999-01-01...`).
    let n = |r: std::ops::Range<usize>| {
        let f = s.get(r)?;
        f.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| f.parse::<i64>().ok())?
    };
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(5..7)?,
        n(8..10)?,
        n(11..13)?,
        n(14..16)?,
        n(17..19)?,
    );
    // A sane range: nothing vigil recorded is older than 1970, and four digits end at 9999.
    if !(1970..=9999).contains(&y)
        || !(1..=12).contains(&mo)
        || !(1..=31).contains(&d)
        || h > 23
        || mi > 59
        || se > 60
    {
        return None;
    }
    let mut rest = &s[19..];
    let mut micros = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(frac.len());
        if digits == 0 {
            return None;
        }
        let f = &frac[..digits.min(6)];
        micros = f.parse::<i64>().ok()? * 10i64.pow(6 - f.len() as u32);
        rest = &frac[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) => {
            let two = |f: &str| {
                f.bytes()
                    .all(|c| c.is_ascii_digit())
                    .then(|| f.parse::<i64>().ok())?
            };
            let (oh, om) = (two(o.get(1..3)?)?, two(o.get(4..6)?)?);
            if oh > 23 || om > 59 || o.as_bytes()[3] != b':' {
                return None;
            }
            let v = oh * 3600 + om * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant).
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_secs;
    Some(Time(secs * 1_000_000 + micros))
}

fn parse_limit(s: Option<&str>) -> ApiResult<Option<u32>> {
    s.map(|v| {
        v.parse::<u32>()
            .ok()
            .filter(|n| (1..=10_000).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "limit: must be a number from 1 to 10000 (got {v:?})"
                ))
            })
    })
    .transpose()
}

fn clip_json(r: &ClipRow) -> Value {
    json!({
        "id": r.id,
        "camera": r.camera,
        "start": r.start.map(|t| t.to_string()),
        "end": r.end.map(|t| t.to_string()),
        "duration_secs": r.duration_secs,
        "pre_roll_secs": r.pre_roll_secs,
        "bytes": r.bytes,
        "video_codec": r.video_codec,
        "width": r.width,
        "height": r.height,
        "status": r.status,
        "frames": r.frames,
        "trigger": r.trigger,
        "event_id": r.event_id,
        "protected": r.protected,
        "close_reason": r.close_reason,
        "kinds": r.kinds.names(),
        "store_status": r.store_status,
        "local": r.local,
        "node": (!r.node.is_empty()).then_some(&r.node),
    })
}

struct Filter {
    camera: Option<String>,
    from: Option<Time>,
    to: Option<Time>,
    limit: Option<u32>,
    kind: Option<EventKind>,
}

fn query_filter(app: &Http, q: ListQuery) -> ApiResult<Filter> {
    if let Some(c) = &q.camera {
        if app.camera(c).is_none() && app.catalog().camera_known(c)?.is_none() {
            return Err(ApiError::not_found(format!("no camera named {c:?}")));
        }
    }
    let from = q
        .from
        .as_deref()
        .map(|s| parse_time("from", s))
        .transpose()?;
    let to = q.to.as_deref().map(|s| parse_time("to", s)).transpose()?;
    let kind = q
        .kind
        .as_deref()
        .map(|k| {
            k.parse::<EventKind>()
                .map_err(|e| ApiError::bad_request(format!("kind: {e}")))
        })
        .transpose()?;
    Ok(Filter {
        camera: q.camera,
        from,
        to,
        limit: parse_limit(q.limit.as_deref())?,
        kind,
    })
}

pub async fn list(
    State(app): State<Http>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let f = query_filter(&app, q)?;
    let rows = app.catalog().clips(&ClipFilter {
        camera: f.camera,
        from: f.from,
        to: f.to,
        limit: Some(f.limit.unwrap_or(100)),
        kind: f.kind,
        own: false,
    })?;
    Ok(Json(
        json!({ "recordings": rows.iter().map(clip_json).collect::<Vec<_>>() }),
    ))
}

pub async fn events(
    State(app): State<Http>,
    q: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let f = query_filter(&app, q)?;
    let rows = app.catalog().events(&EventFilter {
        camera: f.camera,
        from: f.from,
        to: f.to,
        limit: Some(f.limit.unwrap_or(100)),
        kind: f.kind,
    })?;
    Ok(Json(json!({ "events": rows })))
}

fn clip_id(s: &str) -> ApiResult<i64> {
    // Digits only (no sign, no spaces), like the ids vigil hands out.
    let digits = !s.is_empty() && s.len() <= 18 && s.bytes().all(|c| c.is_ascii_digit());
    digits
        .then(|| s.parse::<i64>().ok())
        .flatten()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            ApiError::bad_request(format!("id: must be a positive whole number (got {s:?})"))
        })
}

fn find(app: &Http, id: &str) -> ApiResult<ClipRow> {
    let id = clip_id(id)?;
    app.catalog()
        .clip(id)?
        .ok_or_else(|| ApiError::not_found(format!("no recording {id}")))
}

/// The clip's file, refusing any key that could leave the storage root.
fn clip_path(root: &FsPath, key: &str) -> ApiResult<PathBuf> {
    let rel = FsPath::new(key);
    if key.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(ApiError::internal(format!(
            "refusing a clip key outside the storage root: {key:?}"
        )));
    }
    Ok(root.join(rel))
}

pub async fn get_one(State(app): State<Http>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    Ok(Json(clip_json(&find(&app, &id)?)))
}

/// Deletes the file, then the row (a crash in between leaves a row without a file, which the
/// next start's reconciliation drops: the delete completes either way).
pub async fn delete(State(app): State<Http>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let row = find(&app, &id)?;
    if row.status == ClipStatus::Recording {
        return Err(ApiError(
            StatusCode::CONFLICT,
            format!("recording {} is still being written", row.id),
        ));
    }
    let path = clip_path(app.clips_root(), &row.key)?;
    let removed = tokio::task::spawn_blocking(move || crate::thumbs::remove_clip(&path))
        .await
        .map_err(ApiError::internal)?;
    match removed {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(ApiError::internal(format!(
                "cannot delete {}: {e}",
                row.key
            )))
        }
    }
    // A clip the store has: its object is queued for deletion with the row; the store's
    // thread does it now.
    app.catalog().delete_clip(row.id)?;
    if let Some(r) = app.remote() {
        r.kick();
    }
    tracing::info!(id = row.id, key = %row.key, "recording deleted through the API");
    Ok(Json(json!({ "deleted": row.id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectBody {
    protected: bool,
}

/// `POST /api/recordings/{id}/protect` with `{"protected": true|false}`: protected clips are
/// never removed by retention.
pub async fn protect(
    State(app): State<Http>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let row = find(&app, &id)?;
    let b: ProtectBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("protected: {e}")))?;
    app.catalog().set_protected(row.id, b.protected)?;
    Ok(Json(json!({ "id": row.id, "protected": b.protected })))
}

/// A JPEG answer (pictures change never: a clip's is made once; a snapshot is asked for anew).
pub fn jpeg_response(data: Vec<u8>, cache: &'static str) -> Response {
    let mut r = Response::new(Body::from(data));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg"));
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    r
}

/// `GET /api/recordings/{id}/thumbnail.jpg`: the clip's picture (the frame at its motion
/// start), made when the clip was recorded (crate::thumbs).
pub async fn thumbnail(State(app): State<Http>, Path(id): Path<String>) -> ApiResult<Response> {
    let row = find(&app, &id)?;
    let path = crate::thumbs::thumb_path(&clip_path(app.clips_root(), &row.key)?);
    match tokio::fs::read(&path).await {
        Ok(data) => Ok(jpeg_response(data, "private, max-age=86400")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ApiError::not_found(format!(
            "recording {} has no picture ({})",
            row.id,
            if row.video_codec == "h265" {
                "vigil decodes H.264 only: an H.265 camera's clips get one from its H.264 detect stream, with detect = true"
            } else if row.status == ClipStatus::Recording {
                "not made yet"
            } else {
                "it could not be made: see the log"
            }
        ))),
        Err(e) => Err(ApiError::internal(e)),
    }
}

pub async fn file(
    State(app): State<Http>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let row = find(&app, &id)?;
    let path = clip_path(app.clips_root(), &row.key)?;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let mut f = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            return match (app.remote(), row.store_status) {
                (Some(remote), StoreStatus::Stored) => from_store(remote, &row, range).await,
                _ => Err(ApiError::not_found(format!(
                    "recording {} has no file: {e}",
                    row.id
                ))),
            }
        }
    };
    let len = f.metadata().await.map_err(ApiError::internal)?.len();
    let mut resp = match range::parse(range, len) {
        RangeReply::Unsatisfiable => return Ok(unsatisfiable(len)),
        RangeReply::Full => {
            let body = Body::from_stream(tokio_util::io::ReaderStream::new(f));
            let mut r = Response::new(body);
            r.headers_mut().insert(header::CONTENT_LENGTH, len.into());
            r
        }
        RangeReply::Partial { start, end } => {
            f.seek(std::io::SeekFrom::Start(start))
                .await
                .map_err(ApiError::internal)?;
            let n = end - start + 1;
            let body = Body::from_stream(tokio_util::io::ReaderStream::new(f.take(n)));
            let mut r = Response::new(body);
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            r.headers_mut().insert(header::CONTENT_LENGTH, n.into());
            if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            r
        }
    };
    mp4_headers(&mut resp, &row.key);
    Ok(resp)
}

/// A clip only the clip store has: a redirect to a presigned URL (`serve = "redirect"`), or its
/// bytes streamed from the store, with Range as for a local file.
async fn from_store(
    remote: &crate::remote::RemoteStore,
    row: &ClipRow,
    range: Option<&str>,
) -> ApiResult<Response> {
    let store_err = |e: object_store::Error| {
        ApiError(
            StatusCode::BAD_GATEWAY,
            format!(
                "recording {} is in the clip store, which failed: {e}",
                row.id
            ),
        )
    };
    if remote.serve_redirect() {
        let url = remote.presigned(&row.key).await.map_err(store_err)?;
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::TEMPORARY_REDIRECT;
        let v = HeaderValue::from_str(&url).map_err(ApiError::internal)?;
        r.headers_mut().insert(header::LOCATION, v);
        return Ok(r);
    }
    let len = row.bytes;
    let (status, want) = match range::parse(range, len) {
        RangeReply::Unsatisfiable => return Ok(unsatisfiable(len)),
        RangeReply::Full => (StatusCode::OK, None),
        RangeReply::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, Some(start..end + 1)),
    };
    let got = remote
        .get(&row.key, want.clone())
        .await
        .map_err(store_err)?;
    let n = want.as_ref().map_or(len, |w| w.end - w.start);
    let mut resp = Response::new(Body::from_stream(got.into_stream()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_LENGTH, n.into());
    if let Some(w) = want {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {}-{}/{len}", w.start, w.end - 1)) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    mp4_headers(&mut resp, &row.key);
    Ok(resp)
}

fn unsatisfiable(len: u64) -> Response {
    let mut r = ApiError(
        StatusCode::RANGE_NOT_SATISFIABLE,
        format!("range not satisfiable for {len} bytes"),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
        r.headers_mut().insert(header::CONTENT_RANGE, v);
    }
    r
}

fn mp4_headers(resp: &mut Response, key: &str) {
    let name = FsPath::new(key).file_name().map_or_else(
        || "clip.mp4".to_owned(),
        |n| n.to_string_lossy().into_owned(),
    );
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&format!("inline; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_times_parse_strictly() {
        assert_eq!(clip_id("6").unwrap(), 6);
        for bad in [
            "+6",
            "-6",
            " 6",
            "6 ",
            "0",
            "06x",
            "",
            "9999999999999999999",
            "６",
        ] {
            assert!(clip_id(bad).is_err(), "{bad:?}");
        }
        for bad in [
            "-999-01-01T00:00:00Z",
            "+999-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
            "2026-11-24T22:58:33+-1:00",
            "2026-11-24T22:58:33+01-00",
            "2026-+1-24T22:58:33Z",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad}");
        }
        assert!(parse_rfc3339("1970-01-01T00:00:00Z").is_some());
        assert!(parse_rfc3339("9999-12-31T23:59:59Z").is_some());
    }

    #[test]
    fn rfc3339_times() {
        let t = Time(1_795_561_113_250_000);
        assert_eq!(parse_rfc3339("2026-11-24T22:58:33.250Z"), Some(t));
        assert_eq!(parse_rfc3339(&t.to_string()), Some(t));
        assert_eq!(parse_rfc3339("2026-11-24T23:58:33.25+01:00"), Some(t));
        assert_eq!(
            parse_rfc3339("2026-11-24T22:58:33Z"),
            Some(Time(1_795_561_113_000_000))
        );
        for bad in [
            "",
            "2026-11-24",
            "2026-13-01T00:00:00Z",
            "2026-11-24T22:58:33",
            "yesterday",
            "2026-11-24T22:58:33.Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn keys_cannot_leave_the_root() {
        let root = FsPath::new("/data/clips");
        assert!(clip_path(root, "cam/2026-11-24/x.mp4").is_ok());
        for bad in ["../etc/passwd", "/etc/passwd", "cam/../../x", ""] {
            assert!(clip_path(root, bad).is_err(), "{bad}");
        }
    }
}
