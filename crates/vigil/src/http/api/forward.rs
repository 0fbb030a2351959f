//! In a cluster (docs/cluster.md), a request about a camera another node records is passed to
//! that node: a trigger, a setting, a restart, the camera's keys, its live view and snapshot;
//! so is a request for the file or picture of a clip only another node's disk has. The
//! answer comes back as that node gave it. This node checked the caller first (the API token is
//! the same on every node; sessions are in the shared catalog, so the other node accepts them
//! too). A forwarded request carries `X-Vigil-Forwarded` and is never passed on again.
//!
//! So is `/api/history?node=NAME` (the charts of another node's cameras: each node samples
//! its own). A live view's WebSocket (`live.ws`) is tunnelled: the upgrade is passed to the recording
//! node, and once both sides switched protocols this node copies bytes both ways until either
//! end closes (or this node's HTTP server stops).

use std::sync::OnceLock;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Full};

use super::ApiError;
use crate::http::server::ConnHandle;
use crate::http::Http;
use crate::integrations::webhook::Client;

pub(super) const FORWARDED: &str = "x-vigil-forwarded";

/// The HTTP client requests to other nodes share (http or https to their `public_url`, the
/// system's roots), made once.
fn peer() -> &'static Client {
    static PEER: OnceLock<Client> = OnceLock::new();
    PEER.get_or_init(crate::integrations::webhook::client)
}

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

/// The `node` a `/api/history` request asks for.
fn history_node(uri: &axum::http::Uri) -> Option<String> {
    let axum::extract::Query(q) =
        axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(uri)
            .ok()?;
    q.get("node").cloned()
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
    if req.uri().path() == "/api/history" {
        // Another node's history (its cameras' charts): that node keeps it.
        let node = history_node(req.uri()).filter(|n| *n != me);
        if let Some(name) = node {
            let rt = app.rt.clone();
            let nodes = tokio::task::spawn_blocking(move || rt.cluster_view().nodes)
                .await
                .unwrap_or_default();
            if let Some(n) = nodes.iter().find(|n| n.name == name) {
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
    if app.camera(&camera).is_some() {
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
    let Some(node) = target else {
        return next.run(req).await;
    };
    let passed = if req.uri().path().ends_with("/live.ws") {
        tunnel(&node.url, &node.name, &me, req).await
    } else {
        pass_on(&node.url, &node.name, &me, req).await
    };
    passed.unwrap_or_else(IntoResponse::into_response)
}

fn bad_gateway(node: &str, e: impl std::fmt::Display) -> ApiError {
    ApiError(
        StatusCode::BAD_GATEWAY,
        format!("this camera is recorded by node {node}, which did not answer: {e}"),
    )
}

/// The request as it goes to `base` (another node's `public_url`): the same method, path,
/// query and headers (but `Host`, and `Connection`/`Content-Length` unless `upgrade`), marked
/// as forwarded by `me`. Without `Origin`: this node's guard checked it against this node's
/// own name (`crate::http::guard`), which the other node would see as another site's.
fn outgoing(
    base: &str,
    node: &str,
    me: &str,
    parts: &axum::http::request::Parts,
    body: Bytes,
    upgrade: bool,
) -> Result<axum::http::Request<Full<Bytes>>, ApiError> {
    let path = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().to_owned(), |p| p.as_str().to_owned());
    let uri: axum::http::Uri = format!("{}{path}", base.trim_end_matches('/'))
        .parse()
        .map_err(|e| bad_gateway(node, format!("its address {base:?}: {e}")))?;
    let mut out = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .body(Full::new(body))
        .map_err(|e| bad_gateway(node, e))?;
    for (k, v) in &parts.headers {
        let hop = matches!(k.as_str(), "connection" | "content-length");
        if !matches!(k.as_str(), "host" | "origin") && (upgrade || !hop) {
            out.headers_mut().append(k, v.clone());
        }
    }
    if let Ok(v) = HeaderValue::from_str(me) {
        out.headers_mut().insert(FORWARDED, v);
    }
    Ok(out)
}

async fn pass_on(base: &str, node: &str, me: &str, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| ApiError::bad_request(format!("reading the request: {e}")))?
        .to_bytes();
    let out = outgoing(base, node, me, &parts, body, false)?;
    let answer = tokio::time::timeout(Duration::from_secs(30), peer().request(out))
        .await
        .map_err(|_| bad_gateway(node, "no answer within 30 s"))?
        .map_err(|e| bad_gateway(node, e))?;
    let (parts, body) = answer.into_parts();
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// A WebSocket upgrade passed to the recording node: its answer goes back as it came; when it
/// switched protocols, both upgraded connections are joined byte for byte (the WebSocket's
/// frames, pings and close included: the two ends speak to each other through this node).
async fn tunnel(base: &str, node: &str, me: &str, mut req: Request) -> Result<Response, ApiError> {
    let from_caller = hyper::upgrade::on(&mut req);
    // The caller's connection stays counted while the tunnel runs, and the tunnel ends when
    // this node's server closes it (it stops).
    let hold = req.extensions().get::<ConnHandle>().map(ConnHandle::hold);
    let (parts, _) = req.into_parts();
    let out = outgoing(base, node, me, &parts, Bytes::new(), true)?;
    let mut answer = tokio::time::timeout(Duration::from_secs(10), peer().request(out))
        .await
        .map_err(|_| bad_gateway(node, "no answer within 10 s"))?
        .map_err(|e| bad_gateway(node, e))?;
    if answer.status() != StatusCode::SWITCHING_PROTOCOLS {
        let (parts, body) = answer.into_parts();
        return Ok(Response::from_parts(parts, Body::new(body)));
    }
    let from_node = hyper::upgrade::on(&mut answer);
    let node = node.to_owned();
    tokio::spawn(async move {
        let (a, b) = match tokio::try_join!(from_caller, from_node) {
            Ok(ab) => ab,
            Err(e) => {
                tracing::debug!("live view through node {node}: upgrade failed: {e}");
                return;
            }
        };
        let mut a = hyper_util::rt::TokioIo::new(a);
        let mut b = hyper_util::rt::TokioIo::new(b);
        let closed = async {
            match &hold {
                Some(h) => h.closed().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = tokio::io::copy_bidirectional(&mut a, &mut b) => {
                if let Err(e) = r {
                    tracing::debug!("live view through node {node} ended: {e}");
                }
            }
            () = closed => {}
        }
    });
    let (parts, _) = answer.into_parts();
    Ok(Response::from_parts(parts, Body::empty()))
}

/// `GET {base}/api/cameras` of another node, as the caller (its `Authorization` and `Cookie`
/// headers), marked as forwarded (so that node lists only what it knows itself); `None` when
/// it doesn't answer within `limit` or not with a list.
pub(super) async fn node_cameras(
    base: &str,
    me: &str,
    caller: &HeaderMap,
    limit: Duration,
) -> Option<Vec<serde_json::Value>> {
    let uri: axum::http::Uri = format!("{}/api/cameras", base.trim_end_matches('/'))
        .parse()
        .ok()?;
    let mut out = axum::http::Request::get(uri)
        .body(Full::new(Bytes::new()))
        .ok()?;
    for k in ["authorization", "cookie"] {
        for v in caller.get_all(k) {
            out.headers_mut().append(k, v.clone());
        }
    }
    out.headers_mut()
        .insert(FORWARDED, HeaderValue::from_str(me).ok()?);
    let fetch = async {
        let answer = peer().request(out).await.ok()?;
        if !answer.status().is_success() {
            return None;
        }
        let body = answer.into_body().collect().await.ok()?.to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
        v.get("cameras")?.as_array().cloned()
    };
    tokio::time::timeout(limit, fetch).await.ok().flatten()
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
        let h = |u: &str| history_node(&u.parse().unwrap());
        assert_eq!(
            h("/api/history?after=3&node=node%20b").as_deref(),
            Some("node b")
        );
        assert_eq!(h("/api/history?after=3"), None);
    }
}
