//! The HTTP server: a *client* of the running recorder ([`crate::runtime::RuntimeHandle`]),
//! owning nothing the runtime must take back. The web UI at `/` ([`ui`], files embedded in the
//! binary), its graphs' recent history ([`history`], sampled here while the server runs), the
//! plain status page at `/status` ([`status`]: server-rendered, works without JavaScript; the
//! same facts as `/status.json`) and the API of [`api`].
//!
//! [`Server::stop`] is called after the runtime has stopped (every clip closed): it stops
//! accepting, lets open requests finish for a grace period, then drops whatever is left.

pub mod api;
pub mod guard;
pub mod history;
pub mod server;
pub mod status;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tracing::warn;

use crate::runtime::RuntimeHandle;

/// What every handler gets: the runtime's handle and the server's own history of samples.
#[derive(Clone)]
pub struct Http {
    pub rt: RuntimeHandle,
    pub history: Arc<history::History>,
    /// Failed sign-ins per address (docs/users.md).
    pub logins: Arc<crate::auth::LoginLimiter>,
    /// Served over TLS (session cookies are `Secure`).
    pub tls: bool,
}

impl std::ops::Deref for Http {
    type Target = RuntimeHandle;
    fn deref(&self) -> &RuntimeHandle {
        &self.rt
    }
}

/// A running HTTP server.
pub struct Server {
    addr: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<server::Stop>,
    task: tokio::task::JoinHandle<()>,
    sampler: tokio::task::JoinHandle<()>,
}

/// The whole router over `state`.
pub fn router(state: Http) -> Router {
    // The plain status pages show camera names and clip paths: the API token guards them too.
    let status = Router::new()
        .route("/status", get(status::index))
        .route("/status.json", get(status::status_json))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            api::auth::authorize,
        ));
    Router::new()
        .merge(ui::routes())
        .merge(status)
        .merge(api::router(state.clone()))
        .fallback(|| async { api::ApiError::not_found("no such page") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::check_request,
        ))
        .layer(axum::middleware::from_fn(guard::json_errors))
        .with_state(state)
}

/// The HTTPS acceptor of `server.tls_cert` / `tls_key` (PEM), with rustls' ring provider.
pub fn tls_acceptor(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    use anyhow::Context;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<_, _>>())
        .map_err(|e| anyhow::anyhow!("server.tls_cert: {}: {e}", cert.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "server.tls_cert: {}: no certificate in it (PEM \"BEGIN CERTIFICATE\" blocks)",
            cert.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("server.tls_key: {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS")?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .context("server.tls_cert / tls_key: the key does not go with the certificate")?;
    let mut cfg = cfg;
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// Starts serving `rt` on `listener` (on the current tokio runtime), over HTTPS when
/// `server.tls_cert` is set.
pub fn start(listener: TcpListener, rt: RuntimeHandle) -> anyhow::Result<Server> {
    let addr = listener.local_addr()?;
    let tls = match (&rt.config().server.tls_cert, &rt.config().server.tls_key) {
        (Some(c), Some(k)) => Some(tls_acceptor(c, k)?),
        _ => None,
    };
    let state = Http {
        rt,
        history: Default::default(),
        logins: Default::default(),
        tls: tls.is_some(),
    };
    let s = &state.config().server;
    let limits = server::Limits {
        max_connections: s.max_connections,
        header_timeout: Duration::from_secs(u64::from(s.header_timeout_secs)),
        idle_timeout: Duration::from_secs(u64::from(s.idle_timeout_secs)),
    };
    let sampler = tokio::spawn(history::run(state.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<server::Stop>();
    let app = router(state);
    let task = tokio::spawn(server::serve(listener, app, limits, tls, async move {
        // A dropped sender stops the server at once.
        stopped.await.unwrap_or(server::Stop {
            grace: Duration::ZERO,
        })
    }));
    Ok(Server {
        addr,
        stop,
        task,
        sampler,
    })
}

impl Server {
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Stops accepting connections, closes idle ones, gives requests in progress up to
    /// `grace` to finish, then drops what is left.
    pub async fn stop(self, grace: Duration) {
        self.sampler.abort();
        let _ = self.stop.send(server::Stop { grace });
        if let Err(e) = self.task.await {
            warn!("the HTTP server ended badly: {e}");
        }
    }
}
