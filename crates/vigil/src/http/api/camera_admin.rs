//! Cameras added, changed and removed while vigil runs (docs/cameras.md): `GET/PUT/DELETE
//! /api/cameras/{camera}`, `POST /api/cameras`. Bodies carry the `[[camera]]` keys, checked
//! exactly as the config file's (400 naming the key); what is saved goes into the catalog and
//! the camera set starts, restarts or stops the camera without touching the others.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{camera, ApiError, ApiResult};
use crate::catalog::{ClipFilter, StoredCamera};
use crate::config::{CameraConfig, CameraEntry, ConfigError};
use crate::http::Http;
use crate::runtime::Camera;
use crate::util::redact_url;

/// Keys `GET` shows that are not `[[camera]]` keys: taken back (and ignored) by `PUT`.
const SHOWN_ONLY: [&str; 3] = ["password_set", "origin", "camera"];

/// A camera's keys as `GET /api/cameras/{camera}` shows them: every `[[camera]]` key (the
/// password never: `password_set` says whether there is one; URLs without theirs), with the
/// motion-recording settings and detection keys in effect (changed through their own
/// endpoints too), and `origin` (`config`: the config file's; `api`: added through the API).
pub fn camera_keys(cam: &Camera) -> Value {
    keys_json(cam.config(), &cam.settings(), &cam.detect_keys())
}

/// A camera's keys as `GET /api/cameras/{camera}` shows them, with these settings in effect.
fn keys_json(
    cfg: &CameraConfig,
    settings: &vigil_core::settings::RecordingSettings,
    detect: &crate::detect::DetectKeys,
) -> Value {
    let mut v = serde_json::to_value(&cfg.keys).unwrap_or_else(|_| json!({}));
    let o = v.as_object_mut().expect("an object");
    let password_set = cfg.password.as_deref().is_some_and(|p| !p.is_empty());
    o.remove("password");
    for k in ["url", "onvif"] {
        if let Some(Value::String(u)) = o.get(k) {
            let shown = redact_url(u);
            o.insert(k.into(), shown.into());
        }
    }
    o.insert("name".into(), cfg.name.clone().into());
    o.insert("password_set".into(), password_set.into());
    o.insert(
        "origin".into(),
        if cfg.from_api { "api" } else { "config" }.into(),
    );
    // The settings in effect, whichever way they were set.
    if let Value::Object(rec) = super::cameras::config_json(&cfg.name, settings) {
        for (k, val) in rec {
            if k != "camera" {
                o.insert(k, val);
            }
        }
    }
    o.insert("hybrid_memory".into(), settings.hybrid_memory_bytes.into());
    if let Value::Object(d) = detect.json(&cfg.name) {
        for (k, val) in d {
            if k != "camera" {
                o.insert(k, val);
            }
        }
    }
    v
}

fn bad_key(e: ConfigError) -> ApiError {
    match e {
        ConfigError::Invalid { key, message } => ApiError::bad_request(format!("{key}: {message}")),
        other => ApiError::bad_request(other.to_string()),
    }
}

/// A request body that must be a JSON object.
fn object(body: &[u8]) -> ApiResult<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::bad_request(
            "body: must be a JSON object of [[camera]] keys",
        )),
        Err(e) => Err(ApiError::bad_request(format!("body: not valid JSON: {e}"))),
    }
}

/// Checks `body` as a `[[camera]]` entry; the camera it makes.
fn check(app: &Http, body: &Map<String, Value>) -> ApiResult<CameraConfig> {
    let v = Value::Object(body.clone());
    CameraEntry::from_json(&v)
        .and_then(|e| e.resolve(&app.config().defaults, ""))
        .map_err(bad_key)
}

fn conflict(msg: String) -> ApiError {
    ApiError(StatusCode::CONFLICT, msg)
}

/// Runs a camera-set command off the async threads (it waits for a camera to stop).
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::runtime::CameraSetError> + Send + 'static,
) -> ApiResult<T> {
    Ok(tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)??)
}

/// `GET /api/cameras/{camera}`.
pub async fn get_camera(
    State(app): State<Http>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(camera_keys(&*camera(&app, &name)?)))
}

/// `POST /api/cameras`: a new camera, started at once; `201` with its keys.
pub async fn add_camera(
    State(app): State<Http>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let mut map = object(&body)?;
    for k in SHOWN_ONLY {
        map.remove(k);
    }
    let mut cfg = check(&app, &map)?;
    if app.camera(&cfg.name).is_some() {
        return Err(conflict(format!(
            "a camera named {:?} already exists",
            cfg.name
        )));
    }
    cfg.from_api = true;
    let name = cfg.name.clone();
    // The name as the camera has it (trimmed).
    map.insert("name".into(), name.clone().into());
    let stored = StoredCamera {
        name: name.clone(),
        entry: Value::Object(map),
        from_api: true,
    };
    app.catalog().store_camera(None, &stored)?;
    if app.config().cluster.is_some() {
        // A node of a cluster records only cameras it holds the lease of: the lease keepers
        // see the new camera in the shared catalog and one of them takes it (a tick or two).
        tracing::info!(camera = %name, "camera added through the API; a node will take it");
        let keys = keys_json(&cfg, &cfg.settings, &cfg.detect_keys);
        return Ok((StatusCode::CREATED, Json(keys)));
    }
    let max_age = cfg.max_age_days;
    let rt = app.rt.clone();
    if let Err(e) = blocking(move || rt.cameras().start(cfg)).await {
        // Not started: not kept either.
        let _ = app.catalog().forget_camera(&name);
        return Err(e);
    }
    app.retention().set_camera_max_age(&name, max_age);
    tracing::info!(camera = %name, "camera added through the API");
    Ok((
        StatusCode::CREATED,
        Json(camera_keys(&*camera(&app, &name)?)),
    ))
}

/// `PUT /api/cameras/{camera}`: the camera's keys replaced (all of them: what `GET` shows,
/// changed); the camera restarts with them. `password` left out keeps the one it has, and a URL
/// sent back as `GET` shows it (without its password) keeps its password. A new `name` renames
/// it (not a config-file camera's: 409).
pub async fn put_camera(
    State(app): State<Http>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let cam = camera(&app, &name)?;
    let old = cam.config().clone();
    let mut map = object(&body)?;
    for k in SHOWN_ONLY {
        map.remove(k);
    }
    map.entry("name").or_insert_with(|| name.clone().into());
    if !map.contains_key("password") {
        if let Some(p) = &old.password {
            map.insert("password".into(), p.clone().into());
        }
    }
    for (k, was) in [
        ("url", old.keys.url.as_ref()),
        ("onvif", old.keys.onvif.as_ref()),
        ("detect_url", old.keys.detect.detect_url.as_ref()),
    ] {
        if let (Some(Value::String(sent)), Some(was)) = (map.get(k), was) {
            if *sent == redact_url(was) && sent != was {
                map.insert(k.into(), was.clone().into());
            }
        }
    }
    let mut cfg = check(&app, &map)?;
    cfg.from_api = old.from_api;
    let renamed = cfg.name != name;
    if renamed && !old.from_api {
        return Err(conflict(format!(
            "{name:?} is in the config file: rename it there (the API can rename only cameras added through it)"
        )));
    }
    if renamed && app.camera(&cfg.name).is_some() {
        return Err(conflict(format!(
            "a camera named {:?} already exists",
            cfg.name
        )));
    }
    map.insert("name".into(), cfg.name.clone().into());
    let stored = StoredCamera {
        name: cfg.name.clone(),
        entry: Value::Object(map),
        from_api: old.from_api,
    };
    // Saved first: a camera that restarted with keys the catalog doesn't have would lose them
    // at the next start.
    let before = app.catalog().stored_cameras()?;
    app.catalog()
        .store_camera(renamed.then_some(name.as_str()), &stored)?;
    let new_name = cfg.name.clone();
    let max_age = cfg.max_age_days;
    let (rt, n) = (app.rt.clone(), name.clone());
    if let Err(e) = blocking(move || rt.cameras().replace(&n, cfg)).await {
        // The old camera runs again: so are its stored keys.
        let _ = app.catalog().forget_camera(&new_name);
        if let Some(prev) = before.into_iter().find(|s| s.name == name) {
            let _ = app.catalog().store_camera(None, &prev);
        }
        return Err(e);
    }
    if renamed {
        app.retention().set_camera_max_age(&name, None);
    }
    app.retention().set_camera_max_age(&new_name, max_age);
    tracing::info!(camera = %new_name, "camera changed through the API");
    Ok(Json(camera_keys(&*camera(&app, &new_name)?)))
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    #[serde(default)]
    delete_clips: bool,
}

/// `DELETE /api/cameras/{camera}[?delete_clips=true]`: the camera stops and is forgotten; its
/// clips stay unless asked. A config-file camera can't be (409).
pub async fn delete_camera(
    State(app): State<Http>,
    Path(name): Path<String>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<Json<Value>> {
    let cam = camera(&app, &name)?;
    if !cam.config().from_api {
        return Err(conflict(format!(
            "{name:?} is in the config file: remove it there and restart vigil"
        )));
    }
    drop(cam);
    let (rt, n) = (app.rt.clone(), name.clone());
    blocking(move || rt.cameras().stop(&n)).await?;
    app.catalog().forget_camera(&name)?;
    app.retention().set_camera_max_age(&name, None);
    let mut deleted = 0u64;
    if q.delete_clips {
        let clips = app.catalog().clips(&ClipFilter {
            camera: Some(name.clone()),
            ..Default::default()
        })?;
        let root = app.clips_root().clone();
        for c in clips {
            let path = root.join(&c.key);
            let gone = tokio::task::spawn_blocking(move || crate::thumbs::remove_clip(&path))
                .await
                .map_err(ApiError::internal)?;
            match gone {
                Ok(()) => {}
                Err(e) => {
                    return Err(ApiError::internal(format!(
                        "camera {name:?} deleted, but not all of its clips: {}: {e}",
                        c.key
                    )))
                }
            }
            app.catalog().delete_clip(c.id)?;
            deleted += 1;
        }
    }
    tracing::info!(camera = %name, clips_deleted = deleted, "camera deleted through the API");
    Ok(Json(json!({
        "camera": name,
        "deleted": true,
        "clips_deleted": deleted,
    })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DiscoverBody {
    #[serde(default)]
    interface: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    wait_secs: Option<f64>,
}

async fn run_discovery(app: &Http, b: DiscoverBody) -> ApiResult<Json<Value>> {
    let wait = match b.wait_secs {
        Some(w) if !(w.is_finite() && (0.1..=30.0).contains(&w)) => {
            return Err(ApiError::bad_request(format!(
                "wait_secs: must be between 0.1 and 30 (got {w})"
            )))
        }
        Some(w) => Some(std::time::Duration::from_secs_f64(w)),
        None => None,
    };
    let opts = crate::discover::Options {
        interface: b
            .interface
            .or_else(|| app.config().server.discovery_interface.clone()),
        username: b.username.filter(|u| !u.is_empty()),
        password: b.password,
        wait,
    };
    let known: Vec<(String, Option<String>)> = app
        .cameras()
        .list()
        .iter()
        .map(|c| (c.name().to_owned(), c.config().onvif.clone()))
        .collect();
    let devices = crate::discover::discover(&opts, app.clock().clone(), &known)
        .await
        .map_err(|e| {
            // A name that is not an interface is the caller's mistake.
            if e.to_string().starts_with("interface ") {
                ApiError::bad_request(e.to_string())
            } else {
                ApiError::internal(e)
            }
        })?;
    Ok(Json(json!({ "devices": devices })))
}

/// `GET /api/discover?interface=&wait_secs=`: the ONVIF devices that answer a WS-Discovery
/// probe (no credentials: no profiles).
pub async fn discover_get(
    State(app): State<Http>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> ApiResult<Json<Value>> {
    let mut b = DiscoverBody::default();
    for (k, v) in q {
        match k.as_str() {
            "interface" => b.interface = Some(v),
            "wait_secs" => {
                b.wait_secs = Some(v.parse().map_err(|_| {
                    ApiError::bad_request(format!("wait_secs: not a number: {v:?}"))
                })?)
            }
            "token" => {}
            other => {
                return Err(ApiError::bad_request(format!(
                    "{other}: unknown parameter (credentials go in a POST body)"
                )))
            }
        }
    }
    run_discovery(&app, b).await
}

/// `POST /api/discover` `{interface, username, password, wait_secs}`: the same, with each
/// device's profiles and stream URLs read with those credentials.
pub async fn discover_post(
    State(app): State<Http>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Value>> {
    let b: DiscoverBody = if body.is_empty() {
        DiscoverBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?
    };
    run_discovery(&app, b).await
}

/// `POST /api/probe`: a camera's keys (as `POST /api/cameras` takes them) checked and its
/// streams and ONVIF service tried, as `vigil check` does, without adding it: `{ok, lines}`.
/// The UI's "add camera" form asks this before saving. `password` left out, for a camera that
/// exists (by `name`), is that camera's.
pub async fn probe(State(app): State<Http>, body: axum::body::Bytes) -> ApiResult<Json<Value>> {
    let mut map = object(&body)?;
    for k in SHOWN_ONLY {
        map.remove(k);
    }
    if !map.contains_key("password") {
        let existing = map
            .get("name")
            .and_then(Value::as_str)
            .and_then(|n| app.camera(n));
        if let Some(p) = existing.and_then(|c| c.config().password.clone()) {
            map.insert("password".into(), p.into());
        }
    }
    let cfg = check(&app, &map)?;
    let clock = app.clock().clone();
    let mut lines = Vec::new();
    let ok = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        crate::cli::check::check_camera(&cfg, clock, &mut |l| lines.push(l)),
    )
    .await
    .unwrap_or(false);
    if lines.is_empty() {
        lines.push(format!("{}: no answer within 30 s", cfg.name));
    }
    Ok(Json(
        json!({ "camera": cfg.name, "ok": ok, "lines": lines }),
    ))
}
