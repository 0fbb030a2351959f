//! A minimal HTTP/1.1 client for SOAP POSTs (hyper, one connection per request, http:// or
//! https:// through rustls), answering `401` challenges with Digest (or Basic when allowed).
//! HTTPS checks the device's certificate against the system's roots, or, for a camera's own
//! self-signed certificate, accepts any when told to ([`HttpClient::tls_insecure`]).
//!
//! The Digest challenge is remembered and used preemptively on later requests with an
//! incrementing nonce count, as RFC 7616 allows; a `stale` or new nonce is retried once.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::digest::{self, Challenge};
use crate::error::Error;
use vigil_core::rng::SplitMix64;

use crate::pullpoint::HttpReply;

/// Replies larger than this are refused (a PullMessagesResponse with 100 messages is ~100 KiB).
pub const MAX_REPLY_BYTES: usize = 4 << 20;

#[derive(Debug)]
struct AuthState {
    challenge: Option<Challenge>,
    nc: u32,
    basic: bool,
    rng: SplitMix64,
}

/// Cheap to clone; clones share the remembered challenge.
#[derive(Debug, Clone)]
pub struct HttpClient {
    username: String,
    password: String,
    allow_basic: bool,
    /// https:// without checking the certificate (a camera's self-signed one).
    tls_insecure: bool,
    state: Arc<Mutex<AuthState>>,
}

struct Target {
    host: String,
    port: u16,
    authority: String,
    path: String,
    tls: bool,
}

fn target(url: &str) -> Result<Target, Error> {
    let uri: http::Uri = url
        .trim()
        .parse()
        .map_err(|_| Error::Url(url.to_string()))?;
    let tls = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err(Error::Url(format!("{url} (http:// or https:// only)"))),
    };
    let host = uri.host().ok_or_else(|| Error::Url(url.to_string()))?;
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_else(|| host.clone());
    let path = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/".to_string());
    Ok(Target {
        host,
        port,
        authority,
        path,
        tls,
    })
}

impl HttpClient {
    pub fn new(username: &str, password: &str, allow_basic: bool, seed: u64) -> Self {
        HttpClient {
            username: username.to_string(),
            password: password.to_string(),
            allow_basic,
            tls_insecure: false,
            state: Arc::new(Mutex::new(AuthState {
                challenge: None,
                nc: 0,
                basic: false,
                rng: SplitMix64::new(seed),
            })),
        }
    }

    /// https:// devices' certificates are not checked (a camera's self-signed one; the
    /// connection is still encrypted, but anyone in the middle could read it).
    pub fn tls_insecure(mut self, insecure: bool) -> Self {
        self.tls_insecure = insecure;
        self
    }

    fn authorization(&self, path: &str) -> Option<String> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ch) = st.challenge.clone() {
            st.nc = st.nc.wrapping_add(1);
            let cnonce: String = st.rng.bytes16()[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            return Some(ch.authorization(
                &self.username,
                &self.password,
                "POST",
                path,
                st.nc,
                &cnonce,
            ));
        }
        st.basic
            .then(|| digest::basic(&self.username, &self.password))
    }

    /// POSTs a SOAP 1.2 envelope and returns the reply whatever its status.
    pub async fn post_soap(
        &self,
        url: &str,
        action: &str,
        envelope: &str,
    ) -> Result<HttpReply, Error> {
        let t = target(url)?;
        let mut retried = false;
        loop {
            let auth = self.authorization(&t.path);
            let (status, challenges, body) =
                send_once(&t, self.tls_insecure, action, envelope, auth.as_deref()).await?;
            if status == 401 && !retried {
                retried = true;
                if let Some(ch) = Challenge::from_headers(challenges.iter().map(String::as_str)) {
                    let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                    let same = st.challenge.as_ref().is_some_and(|c| c.nonce == ch.nonce);
                    // The same nonce refused again means wrong credentials: do not loop.
                    if !same || ch.stale {
                        st.challenge = Some(ch);
                        st.nc = 0;
                        continue;
                    }
                } else if self.allow_basic
                    && challenges
                        .iter()
                        .any(|c| c.trim_start().to_ascii_lowercase().starts_with("basic"))
                {
                    let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
                    if !st.basic {
                        st.basic = true;
                        continue;
                    }
                }
            }
            return Ok(HttpReply {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
    }
}

async fn send_once(
    t: &Target,
    tls_insecure: bool,
    action: &str,
    envelope: &str,
    auth: Option<&str>,
) -> Result<(u16, Vec<String>, Bytes), Error> {
    let conn_err =
        |e: &dyn std::fmt::Display| Error::Connect(format!("{}:{}: {e}", t.host, t.port));
    let stream = TcpStream::connect((t.host.as_str(), t.port))
        .await
        .map_err(|e| conn_err(&e))?;
    let _ = stream.set_nodelay(true);
    if !t.tls {
        return exchange(stream, t, action, envelope, auth).await;
    }
    let name = rustls::pki_types::ServerName::try_from(t.host.clone())
        .map_err(|_| Error::Url(t.host.clone()))?;
    let tls = tokio_rustls::TlsConnector::from(tls_config(tls_insecure))
        .connect(name, stream)
        .await
        .map_err(|e| {
            conn_err(&format!(
                "TLS: {e}{}",
                if tls_insecure {
                    ""
                } else {
                    " (a camera's self-signed certificate: onvif_insecure = true)"
                }
            ))
        })?;
    exchange(tls, t, action, envelope, auth).await
}

/// The TLS client settings: the system's roots, or any certificate.
fn tls_config(insecure: bool) -> Arc<rustls::ClientConfig> {
    static CHECKED: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    static ANY: std::sync::OnceLock<Arc<rustls::ClientConfig>> = std::sync::OnceLock::new();
    let provider = || Arc::new(rustls::crypto::ring::default_provider());
    let builder = || {
        rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .expect("ring supports the default TLS versions")
    };
    if insecure {
        ANY.get_or_init(|| {
            Arc::new(
                builder()
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
                    .with_no_client_auth(),
            )
        })
        .clone()
    } else {
        CHECKED
            .get_or_init(|| {
                let mut roots = rustls::RootCertStore::empty();
                for c in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(c);
                }
                Arc::new(
                    builder()
                        .with_root_certificates(roots)
                        .with_no_client_auth(),
                )
            })
            .clone()
    }
}

/// Accepts any server certificate (signatures are still checked, so the handshake is real).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

async fn exchange<S>(
    io: S,
    t: &Target,
    action: &str,
    envelope: &str,
    auth: Option<&str>,
) -> Result<(u16, Vec<String>, Bytes), Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn_err =
        |e: &dyn std::fmt::Display| Error::Connect(format!("{}:{}: {e}", t.host, t.port));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| conn_err(&e))?;
    let mut req = hyper::Request::post(t.path.as_str())
        .body(Full::new(Bytes::from(envelope.to_string())))
        .map_err(|e| Error::Url(e.to_string()))?;
    let h = req.headers_mut();
    h.insert(
        HOST,
        HeaderValue::from_str(&t.authority).map_err(|_| Error::Url(t.authority.clone()))?,
    );
    let ct = format!("application/soap+xml; charset=utf-8; action=\"{action}\"");
    if let Ok(v) = HeaderValue::from_str(&ct) {
        h.insert(CONTENT_TYPE, v);
    }
    if let Some(a) = auth.and_then(|a| HeaderValue::from_str(a).ok()) {
        h.insert(AUTHORIZATION, a);
    }
    h.insert(hyper::header::CONNECTION, HeaderValue::from_static("close"));
    let work = async {
        let resp = sender.send_request(req).await.map_err(|e| conn_err(&e))?;
        let status = resp.status().as_u16();
        let challenges: Vec<String> = resp
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let body = Limited::new(resp.into_body(), MAX_REPLY_BYTES)
            .collect()
            .await
            .map_err(|e| conn_err(&e))?
            .to_bytes();
        Ok((status, challenges, body))
    };
    let mut work = std::pin::pin!(work);
    let mut conn = std::pin::pin!(conn);
    let mut conn_done = false;
    loop {
        tokio::select! {
            r = &mut work => return r,
            c = &mut conn, if !conn_done => {
                conn_done = true;
                if let Err(e) = c {
                    return Err(conn_err(&e));
                }
            }
        }
    }
}
