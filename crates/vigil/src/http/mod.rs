//! The HTTP server: a *client* of the running recorder ([`crate::runtime::RuntimeHandle`]),
//! owning nothing the runtime must take back. The web UI at `/` ([`ui`], files embedded in the
//! binary), its graphs' recent history ([`history`], sampled here while the server runs), the
//! plain status page at `/status` ([`status`]: server-rendered, works without JavaScript; the
//! same facts as `/status.json`) and the API of [`api`].
//!
//! [`Server::stop`] is called after the runtime has stopped (every clip closed): it stops
//! accepting, lets open requests finish for a grace period, then drops whatever is left.

pub mod api;
pub mod history;
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
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
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
            api::require_token,
        ));
    Router::new()
        .merge(ui::routes())
        .merge(status)
        .merge(api::router(state.clone()))
        .with_state(state)
}

/// Starts serving `rt` on `listener` (on the current tokio runtime).
pub fn start(listener: TcpListener, rt: RuntimeHandle) -> std::io::Result<Server> {
    let addr = listener.local_addr()?;
    let state = Http {
        rt,
        history: Default::default(),
    };
    let sampler = tokio::spawn(history::run(state.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = router(state);
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
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

    /// Stops accepting connections, gives open requests up to `grace` to finish, then drops
    /// the server.
    pub async fn stop(self, grace: Duration) -> std::io::Result<()> {
        self.sampler.abort();
        let _ = self.stop.send(());
        let mut task = self.task;
        match tokio::time::timeout(grace, &mut task).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(std::io::Error::other(e)),
            Err(_) => {
                warn!("HTTP clients still connected after {grace:?}: dropping them");
                task.abort();
                Ok(())
            }
        }
    }
}
