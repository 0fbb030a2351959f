//! In a cluster (docs/cluster.md), a request about a camera another node records is passed to
//! that node: a trigger, a setting, a restart, the camera's keys, its live view and snapshot;
//! so is a request for the file or picture of a clip only another node's disk has. The
//! answer comes back as that node gave it. This node checked the caller first (the API token is
//! the same on every node; sessions are in the shared catalog, so the other node accepts them
//! too). A forwarded request carries `X-Vigil-Forwarded` and is never passed on again.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Full};

use super::ApiError;
use crate::http::Http;

const FORWARDED: &str = "x-vigil-forwarded";

/// The camera a path is about, if it is one of a camera's own endpoints.
fn camera_of(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let raw = match parts.as_slice() {
        ["api", "cameras", c] | ["api", "cameras", c, _] => *c,
        ["api", "motion_recording", "config" | "stats" | "buffer_stats", c] => *c,
        _ => return None,
    };
    let name = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()?
        .into_owned();
    (!name.is_empty()).then_some(name)
}

/// The clip a path is about, for its file and picture.
fn clip_of(path: &str) -> Option<i64> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", "recordings", id, "file" | "thumbnail.jpg"] => id.parse().ok(),
        _ => None,
    }
}

pub async fn forward(State(app): State<Http>, req: Request, next: Next) -> Response {
    let Some(me) = app.config().cluster.as_ref().map(|c| c.node.clone()) else {
        return next.run(req).await;
    };
    if req.headers().contains_key(FORWARDED) {
        return next.run(req).await;
    }
    if let Some(id) = clip_of(req.uri().path()) {
        // A clip another node wrote, that only its disk has: that node serves it.
        let row = app.catalog().clip(id).ok().flatten();
        let elsewhere = row.filter(|r| {
            !r.node.is_empty()
                && r.node != me
                && r.store_status != crate::catalog::StoreStatus::Stored
                && !app.clips_root().join(&r.key).exists()
        });
        if let Some(r) = elsewhere {
            let rt = app.rt.clone();
            let nodes = tokio::task::spawn_blocking(move || rt.cluster_view().nodes)
                .await
                .unwrap_or_default();
            if let Some(n) = nodes.iter().find(|n| n.name == r.node) {
                return pass_on(&n.url, &n.name, &me, req)
                    .await
                    .unwrap_or_else(IntoResponse::into_response);
            }
        }
        return next.run(req).await;
    }
    let Some(camera) = camera_of(req.uri().path()) else {
        return next.run(req).await;
    };
    // A WebSocket can't be passed on this way; the UI opens it on the recording node.
    if app.camera(&camera).is_some() || req.uri().path().ends_with("/live.ws") {
        return next.run(req).await;
    }
    let rt = app.rt.clone();
    let Ok(view) = tokio::task::spawn_blocking(move || rt.cluster_view()).await else {
        return next.run(req).await;
    };
    let target = view
        .leases
        .iter()
        .find(|l| l.camera == camera && l.node != me)
        .and_then(|l| view.nodes.iter().find(|n| n.name == l.node));
    match target {
        Some(node) => pass_on(&node.url, &node.name, &me, req)
            .await
            .unwrap_or_else(IntoResponse::into_response),
        None => next.run(req).await,
    }
}

async fn pass_on(base: &str, node: &str, me: &str, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let bad_gateway = |e: String| {
        ApiError(
            StatusCode::BAD_GATEWAY,
            format!("this camera is recorded by node {node}, which did not answer: {e}"),
        )
    };
    let body = body
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request: {e}")))?
        .to_bytes();
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let uri: axum::http::Uri = format!("{}{path}", base.trim_end_matches('/'))
        .parse()
        .map_err(|e| bad_gateway(format!("its address {base:?}: {e}")))?;
    let mut out = axum::http::Request::builder()
        .method(parts.method)
        .uri(uri)
        .body(Full::new(body))
        .map_err(|e| bad_gateway(e.to_string()))?;
    for (k, v) in &parts.headers {
        if !matches!(k.as_str(), "host" | "connection" | "content-length") {
            out.headers_mut().append(k, v.clone());
        }
    }
    if let Ok(v) = HeaderValue::from_str(me) {
        out.headers_mut().insert(FORWARDED, v);
    }
    let client = crate::integrations::webhook::client();
    let answer = tokio::time::timeout(std::time::Duration::from_secs(30), client.request(out))
        .await
        .map_err(|_| bad_gateway("no answer within 30 s".into()))?
        .map_err(|e| bad_gateway(e.to_string()))?;
    let (parts, body) = answer.into_parts();
    Ok(Response::from_parts(parts, Body::new(body)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_endpoints_name_their_camera() {
        assert_eq!(
            camera_of("/api/cameras/back%20yard/motion").as_deref(),
            Some("back yard")
        );
        assert_eq!(camera_of("/api/cameras/front").as_deref(), Some("front"));
        assert_eq!(
            camera_of("/api/motion_recording/config/front").as_deref(),
            Some("front")
        );
        assert_eq!(camera_of("/api/cameras"), None);
        assert_eq!(camera_of("/api/recordings/1"), None);
        assert_eq!(camera_of("/api/cameras/%FF/motion"), None);
        assert_eq!(clip_of("/api/recordings/12/file"), Some(12));
        assert_eq!(clip_of("/api/recordings/12/thumbnail.jpg"), Some(12));
        assert_eq!(clip_of("/api/recordings/12"), None);
        assert_eq!(clip_of("/api/recordings/x/file"), None);
    }
}
