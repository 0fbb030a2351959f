//! Accept loop, HTTP, and authentication (WS-Security UsernameToken and HTTP Digest).

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use vigil_onvif::digest::{Algorithm, Challenge, Credentials};
use vigil_onvif::security::ReceivedToken;
use vigil_onvif::time::parse_datetime;
use vigil_onvif::xml::Element;

use crate::{handlers, Shared, Vendor};

pub(crate) const REALM: &str = "onvif-sim";

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    // Connection tasks live in the set, so stopping the server stops them too.
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let down = shared
            .lock()
            .down_until
            .is_some_and(|t| tokio::time::Instant::now() < t);
        if down {
            drop(stream);
            shared.count(|c| c.refused_connections += 1);
            continue;
        }
        let shared = shared.clone();
        let tls = tls.clone();
        conns.spawn(async move {
            let svc = service_fn(move |req| handle(shared.clone(), req));
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                None => {
                    let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                }
                Some(acceptor) => {
                    if let Ok(s) = acceptor.accept(stream).await {
                        let _ = http.serve_connection(TokioIo::new(s), svc).await;
                    }
                }
            }
        });
    }
}

/// Why a request gets no reply at all (the connection is closed instead).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Dropped {
    #[error("the camera rebooted during the long poll")]
    Rebooted,
}

pub(crate) type Reply = Result<Response<Full<Bytes>>, Dropped>;

pub(crate) fn response(status: u16, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() =
        hyper::StatusCode::from_u16(status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/soap+xml; charset=utf-8"),
    );
    r
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Reply {
    shared.count(|c| c.requests += 1);
    if req.method() != hyper::Method::POST {
        return Ok(response(405, String::new()));
    }
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let authorization = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = match Limited::new(req.into_body(), 1 << 20).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return Ok(response(413, String::new())),
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    handlers::dispatch(&shared, &path, authorization.as_deref(), &text).await
}

/// `None` when the request may go on; otherwise the refusal to send.
pub(crate) fn check_auth(
    shared: &Shared,
    header: Option<&Element>,
    authorization: Option<&str>,
) -> Option<Response<Full<Bytes>>> {
    let mut st = shared.lock();
    let cfg = st.cfg.clone();
    if cfg.auth.digest() {
        let challenge = Challenge {
            realm: REALM.to_string(),
            nonce: st.digest_nonce.clone(),
            opaque: Some("5ccc069c403ebaf9f0171e9517f40e41".into()),
            algorithm: Algorithm::Md5,
            qop_auth: true,
            stale: false,
        };
        let creds = authorization.and_then(Credentials::parse);
        let ok = creds.as_ref().is_some_and(|c| {
            c.username == cfg.username && c.verify(&challenge, &cfg.password, "POST")
        });
        if !ok {
            let stale = creds
                .as_ref()
                .is_some_and(|c| c.nonce != challenge.nonce && c.username == cfg.username);
            drop(st);
            if creds.is_some() && !stale {
                shared.count(|c| c.auth_failures += 1);
            } else {
                shared.count(|c| c.digest_challenges += 1);
            }
            let mut r = response(401, String::new());
            let www = format!(
                "Digest realm=\"{REALM}\", qop=\"auth\", nonce=\"{}\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", algorithm=MD5{}",
                challenge.nonce,
                if stale { ", stale=true" } else { "" }
            );
            if let Ok(v) = HeaderValue::from_str(&www) {
                r.headers_mut().insert(WWW_AUTHENTICATE, v);
            }
            return Some(r);
        }
    }
    if cfg.auth.ws() {
        let token = header.and_then(ReceivedToken::from_header);
        let now = shared.cam_now(&st);
        let fresh = |t: &ReceivedToken| {
            parse_datetime(&t.created).is_some_and(|c| {
                c.micros_since(now).unsigned_abs() <= cfg.created_tolerance.as_micros() as u64
            })
        };
        let ok = token.as_ref().is_some_and(|t| {
            t.verify(&cfg.username, &cfg.password)
                && fresh(t)
                && !st.recent_nonces.contains(&t.nonce_b64)
        });
        if ok {
            if let Some(t) = token {
                st.recent_nonces.push_back(t.nonce_b64);
                if st.recent_nonces.len() > 256 {
                    st.recent_nonces.pop_front();
                }
            }
        } else {
            let vendor = cfg.vendor;
            drop(st);
            shared.count(|c| c.auth_failures += 1);
            // Hikvision answers 401 with the fault; gSOAP devices 400.
            let status = if vendor == Vendor::Hikvision {
                401
            } else {
                400
            };
            let body = handlers::fault_envelope(
                vendor,
                "Sender",
                &["ter:NotAuthorized"],
                "Sender not Authorized",
                "",
            );
            return Some(response(status, body));
        }
    }
    None
}
