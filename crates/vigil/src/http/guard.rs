//! What every request passes before a handler sees it, and what every error looks like.
//!
//! - **Cross-site requests and DNS rebinding.** A state-changing request (`POST`, `PUT`, `PATCH`)
//!   must say `Content-Type: application/json` (else `415`): a page on another site can send a
//!   form or `text/plain` without asking, but not JSON. On an install with no API token (and no
//!   users), anyone who can reach the port is trusted, so two more checks stand in for a login:
//!   a request whose `Origin` is not this server's own gets `403`, and so does one whose `Host`
//!   is not a loopback name (`localhost`), an IP address, the listen address or one of
//!   `[server] hosts` — a DNS-rebinding page always reaches us under *its* name. `/healthz`
//!   answers anyone.
//! - **Bodies.** A request body is at most [`MAX_BODY`] (64 KiB: every body the API takes is a
//!   small JSON object); a larger declared `Content-Length` is refused with `413` before a byte
//!   is read, so `Expect: 100-continue` gets the `413` and no `100 Continue`. The body must
//!   arrive within the body timeout (`408` otherwise), so a stalled upload holds neither memory
//!   nor a handler.
//! - **Errors are JSON.** Any `4xx`/`5xx` that is not already `{"error": ...}` (axum's own
//!   rejections, a `405`, a `404` outside `/api`) is rewritten as one; long messages are cut.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::Http;

/// The largest request body accepted.
pub const MAX_BODY: usize = 64 * 1024;

/// Error messages longer than this are cut (they may quote what the client sent).
pub const MAX_MESSAGE: usize = 300;

/// `s` cut to at most [`MAX_MESSAGE`] bytes (at a character boundary), marked when cut.
pub fn cut(s: &str) -> String {
    if s.len() <= MAX_MESSAGE {
        return s.to_owned();
    }
    let mut end = MAX_MESSAGE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes in all)", &s[..end], s.len())
}

fn error(status: StatusCode, msg: impl AsRef<str>) -> Response {
    (status, Json(json!({ "error": cut(msg.as_ref()) }))).into_response()
}

/// The host part of a `Host` or `Origin` authority (`name:port`, `[v6]:port`), lower case.
fn host_of(authority: &str) -> String {
    let a = authority.trim();
    let host = if let Some(rest) = a.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        a.rsplit_once(':')
            .filter(|(_, port)| port.chars().all(|c| c.is_ascii_digit()))
            .map_or(a, |(h, _)| h)
    };
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// Whether `host` (a `Host` header's value) names this server on an install without a token
/// (module docs).
pub fn host_allowed(host: &str, listen: std::net::SocketAddr, hosts: &[String]) -> bool {
    let name = host_of(host);
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::IpAddr>().is_ok()
        || name == listen.ip().to_string()
        || hosts.iter().any(|h| host_of(h) == name)
}

/// Whether `origin` (an `Origin` header) is this server's own, as reached through `host`.
fn same_origin(origin: &str, host: Option<&str>) -> bool {
    let Some(authority) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false; // `null`, or a scheme that is not a page of ours
    };
    host.is_some_and(|h| authority.eq_ignore_ascii_case(h.trim()))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// The cross-site and rebinding checks, then the body's size and time (module docs).
pub async fn check_request(State(app): State<Http>, req: Request, next: Next) -> Response {
    let server = &app.config().server;
    let open_install = server.api_token.is_none();
    if open_install && req.uri().path() != "/healthz" {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|v| v.to_str().ok());
        if let Some(h) = host {
            if !host_allowed(h, server.listen, &server.hosts) {
                return error(
                    StatusCode::FORBIDDEN,
                    format!(
                        "Host {h:?} is not this server's name: add it to [server] hosts, or set [server] api_token"
                    ),
                );
            }
        }
        if let Some(origin) = req.headers().get(header::ORIGIN) {
            let origin = origin.to_str().unwrap_or("");
            if !same_origin(origin, host) {
                return error(
                    StatusCode::FORBIDDEN,
                    format!("cross-site request from {origin:?} refused"),
                );
            }
        }
    }
    let changes_state = matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH);
    if changes_state && !is_json(req.headers()) {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type: must be application/json",
        );
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()));
    let has_body = match declared {
        Some(None) => return error(StatusCode::BAD_REQUEST, "Content-Length: not a number"),
        Some(Some(n)) if n > MAX_BODY as u64 => {
            return too_large();
        }
        Some(Some(n)) => n > 0,
        None => req.headers().contains_key(header::TRANSFER_ENCODING),
    };
    if !has_body {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let limit = Duration::from_secs(u64::from(server.body_timeout_secs));
    let read = http_body_util::BodyExt::collect(http_body_util::Limited::new(body, MAX_BODY));
    let bytes = match tokio::time::timeout(limit, read).await {
        Ok(Ok(b)) => b.to_bytes(),
        // Over the limit (a chunked body), or the client went away mid-body.
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Ok(Err(e)) => return error(StatusCode::BAD_REQUEST, format!("body: {e}")),
        Err(_) => {
            let mut r = error(
                StatusCode::REQUEST_TIMEOUT,
                format!("body: not received within {} s", limit.as_secs()),
            );
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

fn too_large() -> Response {
    let mut r = error(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("body: at most {MAX_BODY} bytes"),
    );
    // The body was not read: the connection can't carry another request.
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Rewrites every error that is not JSON yet as `{"error": ...}` (module docs).
pub async fn json_errors(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_owned(),
        _ => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let body = serde_json::to_vec(&json!({ "error": cut(&text) })).unwrap_or_default();
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_allowed_on_an_install_without_a_token() {
        let listen: std::net::SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let hosts = vec!["nvr.home.arpa".to_owned()];
        for ok in [
            "localhost",
            "localhost:8080",
            "LOCALHOST.",
            "app.localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "192.168.1.5:8080",
            "nvr.home.arpa:8080",
            "NVR.home.arpa",
        ] {
            assert!(host_allowed(ok, listen, &hosts), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "nvr.home.arpa.evil",
        ] {
            assert!(!host_allowed(bad, listen, &hosts), "{bad}");
        }
    }

    #[test]
    fn only_our_own_origin_is_same_origin() {
        assert!(same_origin("http://127.0.0.1:8080", Some("127.0.0.1:8080")));
        assert!(same_origin("http://LOCALHOST:8080", Some("localhost:8080")));
        assert!(!same_origin("http://evil.example", Some("127.0.0.1:8080")));
        assert!(!same_origin("null", Some("127.0.0.1:8080")));
        assert!(!same_origin("http://127.0.0.1:8080", None));
    }

    #[test]
    fn long_messages_are_cut_at_a_character() {
        let long = "é".repeat(1000);
        let c = cut(&long);
        assert!(c.len() < MAX_MESSAGE + 40, "{}", c.len());
        assert!(c.ends_with("(2000 bytes in all)"), "{c}");
        assert_eq!(cut("short"), "short");
    }
}
