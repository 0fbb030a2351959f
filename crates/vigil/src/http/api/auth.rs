//! Who is asking (docs/users.md): the API token (scripts), a session cookie (people, after
//! `POST /api/login`), or nobody, which is fine only while vigil has neither users nor a token
//! (and then it listens on loopback only: `cli` refuses otherwise). Viewers may read
//! everything and change nothing (403).

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiError, ApiResult};
use crate::auth::{self, Role};
use crate::http::server::ConnPeer;
use crate::http::Http;

/// Who a request is from, in its extensions once [`authorize`] let it through.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The signed-in user; `None` for the API token and for an open vigil.
    pub user: Option<String>,
    pub role: Role,
    /// `session`, `token` or `open`.
    pub via: &'static str,
}

fn now_micros(app: &Http) -> i64 {
    app.clock().now().0
}

fn bearer(req: &Request) -> Option<String> {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            // The scheme name is case-insensitive (RFC 9110 §11.1).
            let (scheme, rest) = v.trim_start().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_owned())
        })
        .or_else(|| super::query_token(req.uri()))
}

fn session_cookie(req: &Request) -> Option<String> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| auth::cookie(c, auth::COOKIE).map(str::to_owned))
}

/// Whether vigil asks who is there: it has an API token or users.
fn closed(app: &Http) -> bool {
    app.config().server.api_token.is_some() || app.catalog().user_count().unwrap_or(1) > 0
}

/// Who `req` is from: `Ok(None)` when nobody it knows (and vigil is closed); `Err` for a
/// wrong token.
fn identify(app: &Http, req: &Request) -> Result<Option<Identity>, ApiError> {
    if let Some(given) = bearer(req) {
        return match app.config().server.api_token.as_deref() {
            Some(t) if super::constant_time_eq(given.as_bytes(), t.as_bytes()) => {
                Ok(Some(Identity {
                    user: None,
                    role: Role::Admin,
                    via: "token",
                }))
            }
            Some(_) => Err(ApiError(StatusCode::UNAUTHORIZED, "wrong API token".into())),
            // No token configured: one sent is ignored (the rest decides).
            None => identify_session(app, req),
        };
    }
    identify_session(app, req)
}

fn identify_session(app: &Http, req: &Request) -> Result<Option<Identity>, ApiError> {
    if let Some(tok) = session_cookie(req) {
        if let Some(s) = app
            .catalog()
            .session(&auth::token_hash(&tok), now_micros(app))
            .map_err(ApiError::internal)?
        {
            return Ok(Some(Identity {
                role: s.role.parse().unwrap_or(Role::Viewer),
                user: Some(s.user),
                via: "session",
            }));
        }
    }
    if closed(app) {
        return Ok(None);
    }
    Ok(Some(Identity {
        user: None,
        role: Role::Admin,
        via: "open",
    }))
}

/// Paths anyone may ask: signing in and out, and who am I.
fn public(path: &str) -> bool {
    matches!(path, "/api/login" | "/api/logout" | "/api/me")
}

/// Guards `/api/*`, `/metrics` and the status pages (module docs).
pub(crate) async fn authorize(State(app): State<Http>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let who = match identify(&app, &req) {
        Ok(w) => w,
        Err(e) => return e.into_response(),
    };
    let Some(who) = who else {
        if public(&path) {
            return next.run(req).await;
        }
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({
                "error": "sign in (POST /api/login) or send Authorization: Bearer <token>"
            })),
        )
            .into_response();
    };
    let reads = matches!(*req.method(), Method::GET | Method::HEAD);
    if who.role == Role::Viewer && !reads && !public(&path) {
        return ApiError(
            StatusCode::FORBIDDEN,
            format!(
                "{} is a viewer: viewers can watch and browse, not change anything",
                who.user.as_deref().unwrap_or("this user")
            ),
        )
        .into_response();
    }
    req.extensions_mut().insert(who);
    next.run(req).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    name: String,
    password: String,
}

fn session_cookie_header(app: &Http, value: &str, max_age: u64) -> HeaderValue {
    let secure = if app.tls { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}",
        auth::COOKIE
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("vigil_session=; Max-Age=0"))
}

/// `POST /api/login` `{"name", "password"}`: a session cookie (module docs). Failed attempts
/// are limited per address (429 with `Retry-After`).
pub async fn login(
    State(app): State<Http>,
    peer: Option<axum::Extension<ConnPeer>>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let b: LoginBody = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "body: must be {{\"name\": \"...\", \"password\": \"...\"}} ({e})"
        ))
    })?;
    let ip = peer
        .map(|p| p.0 .0.ip())
        .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1]));
    if let Some(wait) = app.logins.check(ip, Instant::now()) {
        let secs = wait.as_secs().max(1);
        tracing::warn!(%ip, "sign-in refused: too many failures");
        return Ok((
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            Json(json!({
                "error": format!("too many failed sign-ins from this address: try again in {secs} s")
            })),
        )
            .into_response());
    }
    let (cat, name, password) = (app.catalog().clone(), b.name.clone(), b.password);
    // argon2 takes tens of milliseconds: off the async threads.
    let user = tokio::task::spawn_blocking(move || {
        let u = cat.user(&name).ok().flatten();
        let ok = auth::verify_password(
            &password,
            u.as_ref().map_or(auth::decoy_hash(), |u| u.hash.as_str()),
        );
        u.filter(|_| ok)
    })
    .await
    .map_err(ApiError::internal)?;
    let Some(user) = user else {
        app.logins.failed(ip, Instant::now());
        tracing::warn!(%ip, name = %b.name, "sign-in failed");
        return Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "wrong name or password".into(),
        ));
    };
    app.logins.succeeded(ip);
    let token = auth::new_token();
    let now = now_micros(&app);
    let ttl = auth::SESSION_TTL;
    app.catalog()
        .add_session(
            &auth::token_hash(&token),
            user.id,
            now,
            now + ttl.as_micros() as i64,
        )
        .map_err(ApiError::internal)?;
    tracing::info!(%ip, name = %user.name, role = %user.role, "signed in");
    let mut r = Json(json!({ "name": user.name, "role": user.role })).into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie_header(&app, &token, ttl.as_secs()),
    );
    Ok(r)
}

/// `POST /api/logout`: the session ends (here and in the catalog) and its cookie is cleared.
pub async fn logout(State(app): State<Http>, req: Request) -> ApiResult<Response> {
    if let Some(tok) = session_cookie(&req) {
        app.catalog()
            .remove_session(&auth::token_hash(&tok))
            .map_err(ApiError::internal)?;
    }
    let mut r = Json(json!({ "signed_out": true })).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, session_cookie_header(&app, "", 0));
    Ok(r)
}

/// `GET /api/me`: who is asking (`name`, `role`, `via`); nobody yet: `name` and `role` null,
/// with `login` true when there are users to sign in as.
pub async fn me(State(app): State<Http>, req: Request) -> Json<Value> {
    match req.extensions().get::<Identity>() {
        Some(who) => Json(json!({
            "name": who.user,
            "role": who.role.as_str(),
            "via": who.via,
            "login": app.catalog().user_count().unwrap_or(0) > 0,
        })),
        None => Json(json!({
            "name": null,
            "role": null,
            "via": null,
            "login": app.catalog().user_count().unwrap_or(0) > 0,
        })),
    }
}
