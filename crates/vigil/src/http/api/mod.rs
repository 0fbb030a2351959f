//! The HTTP API (docs/API.md): JSON, times RFC 3339 UTC, errors `{"error": "..."}` with a
//! 4xx/5xx status. docs/API.md lists every endpoint with an example; `tests/api_doc.rs` runs them.
//!
//! When `server.api_token` is set, `/api/*` and `/metrics` need `Authorization: Bearer <token>`.
//! No response ever contains a camera password, and no id or name in a request can reach a path
//! outside the storage root (clip files are found through the catalog's keys, which vigil wrote,
//! and checked again before they are opened).

pub mod auth;
mod camera_admin;
mod cameras;
mod forward;
mod live_ws;
mod metrics;
mod range;
mod recordings;
mod storage;

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::http::Http;
use crate::runtime::Camera;

/// An API error: a status and a message, rendered as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError(pub StatusCode, pub String);

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::BAD_REQUEST, msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        ApiError(StatusCode::NOT_FOUND, msg.into())
    }
    pub fn internal(msg: impl std::fmt::Display) -> Self {
        ApiError(StatusCode::INTERNAL_SERVER_ERROR, msg.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Messages may quote what the client sent: cut long ones.
        let msg = super::guard::cut(&self.1);
        (self.0, Json(json!({ "error": msg }))).into_response()
    }
}

impl From<crate::catalog::CatalogError> for ApiError {
    fn from(e: crate::catalog::CatalogError) -> Self {
        ApiError::internal(e)
    }
}

impl From<crate::runtime::CameraSetError> for ApiError {
    fn from(e: crate::runtime::CameraSetError) -> Self {
        use crate::runtime::CameraSetError as E;
        let status = match &e {
            E::NotFound(_) => StatusCode::NOT_FOUND,
            E::Exists(_) => StatusCode::CONFLICT,
            E::Closed => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError(status, e.to_string())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

pub(crate) fn camera(app: &Http, name: &str) -> ApiResult<Arc<Camera>> {
    app.camera(name)
        .ok_or_else(|| ApiError::not_found(format!("no camera named {name:?}")))
}

/// The API's routes (mounted with the status page and the UI by [`crate::http`]).
pub fn router(app: Http) -> Router<Http> {
    let api = Router::new()
        .route(
            "/api/cameras",
            get(cameras::list).post(camera_admin::add_camera),
        )
        .route(
            "/api/cameras/{camera}",
            get(camera_admin::get_camera)
                .put(camera_admin::put_camera)
                .delete(camera_admin::delete_camera),
        )
        .route("/api/cameras/{camera}/motion", post(cameras::motion))
        .route("/api/cameras/{camera}/restart", post(cameras::restart))
        .route(
            "/api/cameras/{camera}/detect",
            get(cameras::get_detect).post(cameras::set_detect),
        )
        .route("/api/cameras/{camera}/live.mp4", get(cameras::live))
        .route("/api/cameras/{camera}/live.ws", get(live_ws::live_ws))
        .route(
            "/api/motion_recording/config/{camera}",
            get(cameras::get_config).post(cameras::set_config),
        )
        .route("/api/motion_recording/stats/{camera}", get(cameras::stats))
        .route(
            "/api/motion_recording/buffer_stats/{camera}",
            get(cameras::buffer_stats),
        )
        .route("/api/buffer_pool", get(cameras::buffer_pool))
        .route("/api/recordings", get(recordings::list))
        .route(
            "/api/recordings/{id}",
            get(recordings::get_one).delete(recordings::delete),
        )
        .route("/api/recordings/{id}/file", get(recordings::file))
        .route(
            "/api/recordings/{id}/thumbnail.jpg",
            get(recordings::thumbnail),
        )
        .route("/api/cameras/{camera}/snapshot.jpg", get(cameras::snapshot))
        .route("/api/recordings/{id}/protect", post(recordings::protect))
        .route("/api/events", get(recordings::events))
        .route("/api/storage", get(storage::storage))
        .route(
            "/api/integrations",
            get(|State(app): State<Http>| async move { Json(app.integrations().json()) }),
        )
        .route("/api/history", get(crate::http::history::get))
        .route(
            "/api/discover",
            get(camera_admin::discover_get).post(camera_admin::discover_post),
        )
        .route("/api/probe", post(camera_admin::probe))
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/metrics", get(metrics::metrics))
        .route(
            "/api/{*rest}",
            axum::routing::any(|| async { ApiError::not_found("no such endpoint") }),
        )
        // Checked here first, then passed to the node recording the camera (a cluster).
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            forward::forward,
        ))
        .layer(axum::middleware::from_fn_with_state(app, auth::authorize));
    Router::new()
        .merge(api)
        .route("/healthz", get(|| async { "ok\n" }))
}

/// `?token=` on a clip's file and picture (`/api/recordings/{id}/file`, `thumbnail.jpg`) and a
/// camera's live view and snapshot (`/api/cameras/{camera}/live.mp4`, `live.ws`,
/// `snapshot.jpg`) and nowhere else: a `<video>`, an `<img>`, a download link or a browser's
/// WebSocket cannot send a header. (The UI's page sets `Referrer-Policy: no-referrer`.)
pub(super) fn query_token(uri: &axum::http::Uri) -> Option<String> {
    let path = uri.path();
    let id = path
        .strip_prefix("/api/recordings/")
        .and_then(|p| {
            p.strip_suffix("/file")
                .or_else(|| p.strip_suffix("/thumbnail.jpg"))
        })
        .or_else(|| {
            path.strip_prefix("/api/cameras/").and_then(|p| {
                p.strip_suffix("/live.mp4")
                    .or_else(|| p.strip_suffix("/live.ws"))
                    .or_else(|| p.strip_suffix("/snapshot.jpg"))
            })
        })?;
    if id.is_empty() || id.contains('/') {
        return None;
    }
    let axum::extract::Query(q) =
        axum::extract::Query::<std::collections::HashMap<String, String>>::try_from_uri(uri)
            .ok()?;
    q.get("token").cloned()
}

pub(super) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::query_token;

    #[test]
    fn query_token_is_taken_on_a_clip_file_only() {
        let t = |u: &str| query_token(&u.parse().unwrap());
        assert_eq!(
            t("/api/recordings/7/file?token=s3cret").as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            t("/api/recordings/7/file?x=1&token=a%2Bb%20c").as_deref(),
            Some("a+b c")
        );
        assert_eq!(t("/api/recordings/7/file"), None);
        assert_eq!(t("/api/recordings/7?token=s3cret"), None);
        assert_eq!(t("/api/recordings?token=s3cret"), None);
        assert_eq!(t("/api/recordings//file?token=s3cret"), None);
        assert_eq!(t("/api/recordings/7/x/file?token=s3cret"), None);
        assert_eq!(t("/api/cameras?token=s3cret"), None);
        assert_eq!(
            t("/api/cameras/front%20door/live.mp4?token=s3cret").as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            t("/api/cameras/front/live.ws?token=s3cret").as_deref(),
            Some("s3cret")
        );
        assert_eq!(t("/api/cameras//live.mp4?token=s3cret"), None);
        assert_eq!(t("/api/cameras/a/b/live.mp4?token=s3cret"), None);
        assert_eq!(t("/api/cameras/a/motion?token=s3cret"), None);
        assert_eq!(t("/metrics?token=s3cret"), None);
        assert_eq!(
            t("/api/recordings/7/thumbnail.jpg?token=s3cret").as_deref(),
            Some("s3cret")
        );
        assert_eq!(
            t("/api/cameras/front/snapshot.jpg?token=s3cret").as_deref(),
            Some("s3cret")
        );
    }
}
