//! The HTTP server's connections: a bounded number, each with timeouts, so that no client (a
//! careless one or an attacker on the LAN) can take resources the recorder needs.
//!
//! - At most [`Limits::max_connections`] are open. When one more arrives, the connection that
//!   has been idle (no request in progress) the longest is closed to make room; when every
//!   connection is busy, vigil stops accepting and new ones wait in the kernel's backlog, where
//!   they hold no file descriptor of vigil's. Clip files, spools and the catalog never run out of
//!   descriptors because of HTTP clients.
//! - A connection with no request in progress is closed after [`Limits::idle_timeout`] (60 s);
//!   once the first byte of a request has arrived, its header must be complete within
//!   [`Limits::header_timeout`] (10 s): one byte every few seconds (slowloris) is closed then.
//!   A request body must arrive within the body timeout (`guard`). A slow *reader* of a response
//!   (a clip watched over a bad link) is never cut, but counts against the cap.
//! - [`Stop`]: the server stops accepting, closes idle connections at once, ends live views
//!   ([`ConnHandle::closed`]), lets other requests in progress finish for a grace period, then
//!   drops whatever is left.
//!
//! - A WebSocket (live view) outlives its request: its handler holds the connection
//!   ([`ConnHandle::hold`]), so it stays counted and busy until the socket ends, and ends when the
//!   server closes the connection.
//!
//! The timeouts are checked by one reaper tick a second for all connections, not a timer each.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tower::ServiceExt;
use tracing::{debug, info, warn};

/// What a client may take (module docs). `[server]` keys of the same names set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 256,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// One connection's activity, shared by its I/O, its service and the reaper.
struct Activity {
    /// Requests in progress (from the parsed header until the response body is sent or
    /// dropped).
    active: AtomicUsize,
    /// When it last became idle, and when the first byte of the next request arrived.
    times: Mutex<(Instant, Option<Instant>)>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            active: AtomicUsize::new(0),
            times: Mutex::new((Instant::now(), None)),
        }
    }
    fn times(&self) -> std::sync::MutexGuard<'_, (Instant, Option<Instant>)> {
        self.times.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn idle(&self) -> bool {
        self.active.load(Ordering::Relaxed) == 0
    }
    /// Bytes arrived: if no request is in progress, a new one is starting.
    fn got_bytes(&self) {
        if self.idle() {
            let mut t = self.times();
            if t.1.is_none() {
                t.1 = Some(Instant::now());
            }
        }
    }
    fn begin(&self) {
        self.active.fetch_add(1, Ordering::Relaxed);
        self.times().1 = None;
    }
    fn end(&self) {
        if self.active.fetch_sub(1, Ordering::Relaxed) == 1 {
            *self.times() = (Instant::now(), None);
        }
    }
    /// Why it should be closed now, if it should.
    fn expired(&self, now: Instant, limits: &Limits) -> Option<&'static str> {
        if !self.idle() {
            return None;
        }
        let (idle_since, first_byte) = *self.times();
        match first_byte {
            Some(t) if now.duration_since(t) > limits.header_timeout => {
                Some("request header timeout")
            }
            None if now.duration_since(idle_since) > limits.idle_timeout => Some("idle timeout"),
            _ => None,
        }
    }
}

/// The socket, telling its [`Activity`] when bytes arrive.
struct WatchedIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for WatchedIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.got_bytes();
        }
        r
    }
}

impl AsyncWrite for WatchedIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Ends a request's activity when dropped: with the response body once it is sent, or with
/// the handler if the connection goes first.
struct Active(Arc<Activity>);

impl Drop for Active {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// A response body that keeps its request active until it is sent.
struct TrackedBody {
    inner: axum::body::Body,
    _active: Active,
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = axum::Error;
    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The connection a request came on, in the request's extensions: for the few handlers that
/// tune its socket (live view caps its send buffer).
#[derive(Clone, Copy, Debug)]
pub struct ConnSocket(std::os::fd::RawFd);

/// The address a request came from (the sign-in limiter counts per address).
#[derive(Debug, Clone, Copy)]
pub struct ConnPeer(pub std::net::SocketAddr);

impl ConnSocket {
    /// Sets the socket's send buffer (the kernel doubles it and stops autotuning it).
    pub fn set_send_buffer(&self, bytes: usize) -> std::io::Result<()> {
        // SAFETY: the descriptor is the connection's socket, which stays open for as long as a
        // request on it is being handled (this runs inside its handler).
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(self.0) };
        socket2::SockRef::from(&fd).set_send_buffer_size(bytes)
    }
}

/// Fired when the server closes a connection (the cap, shutdown): what outlives its request on
/// that connection (a WebSocket) ends too.
#[derive(Default)]
struct Closed {
    fired: AtomicBool,
    notify: Notify,
}

impl Closed {
    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }
    async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.fired.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }
}

/// The connection a request came on, in the request's extensions, for a handler whose work
/// outlives the request (a WebSocket): see [`ConnHandle::hold`].
#[derive(Clone)]
pub struct ConnHandle {
    activity: Arc<Activity>,
    /// The registration goes with the last of the connection's task and its holds.
    _registered: Arc<Registered>,
    closed: Arc<Closed>,
}

impl ConnHandle {
    /// While the returned hold lives, the connection counts against `max_connections` and is
    /// busy (never closed as idle), even after hyper has handed its socket over.
    pub fn hold(&self) -> ConnHold {
        self.activity.begin();
        ConnHold(self.clone())
    }

    /// Resolves when the server closes this connection, or stops: a response that streams
    /// forever (live view) ends then, where a download in progress gets the shutdown's grace.
    pub async fn closed(&self) {
        self.closed.wait().await
    }
}

/// See [`ConnHandle::hold`].
pub struct ConnHold(ConnHandle);

impl ConnHold {
    /// See [`ConnHandle::closed`].
    pub async fn closed(&self) {
        self.0.closed().await
    }
}

impl Drop for ConnHold {
    fn drop(&mut self) {
        self.0.activity.end();
    }
}

/// The router, as one connection's hyper service.
#[derive(Clone)]
struct ConnService {
    router: Router,
    activity: Arc<Activity>,
    socket: ConnSocket,
    peer: ConnPeer,
    handle: ConnHandle,
}

impl hyper::service::Service<hyper::Request<Incoming>> for ConnService {
    type Response = hyper::Response<TrackedBody>;
    type Error = std::convert::Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn call(&self, req: hyper::Request<Incoming>) -> Self::Future {
        self.activity.begin();
        let active = Active(self.activity.clone());
        let router = self.router.clone();
        let mut req = req.map(axum::body::Body::new);
        req.extensions_mut().insert(self.socket);
        req.extensions_mut().insert(self.peer);
        req.extensions_mut().insert(self.handle.clone());
        Box::pin(async move {
            let resp = match router.oneshot(req).await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            Ok(resp.map(|inner| TrackedBody {
                inner,
                _active: active,
            }))
        })
    }
}

struct Conn {
    activity: Arc<Activity>,
    task: tokio::task::AbortHandle,
    closed: Arc<Closed>,
}

/// Every open connection.
#[derive(Default)]
struct Registry {
    conns: Mutex<HashMap<u64, Conn>>,
    /// A connection ended (room under the cap).
    ended: Notify,
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Conn>> {
        self.conns.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn len(&self) -> usize {
        self.lock().len()
    }
    fn close(&self, id: u64, why: &str) {
        if let Some(c) = self.lock().remove(&id) {
            debug!(connection = id, "closing: {why}");
            c.task.abort();
            c.closed.fire();
            self.ended.notify_waiters();
        }
    }
    /// Closes the connection idle the longest; false if none is idle.
    fn close_oldest_idle(&self) -> bool {
        let oldest = self
            .lock()
            .iter()
            .filter(|(_, c)| c.activity.idle())
            .min_by_key(|(_, c)| c.activity.times().0)
            .map(|(id, _)| *id);
        match oldest {
            Some(id) => {
                self.close(id, "connection limit reached: the longest idle goes");
                true
            }
            None => false,
        }
    }
    /// Closes what timed out; at shutdown (`stopping`) every idle connection.
    fn reap(&self, limits: &Limits, stopping: bool) {
        let now = Instant::now();
        let due: Vec<(u64, &'static str)> = self
            .lock()
            .iter()
            .filter_map(|(id, c)| {
                let why = if stopping && c.activity.idle() {
                    Some("shutting down")
                } else {
                    c.activity.expired(now, limits)
                };
                why.map(|w| (*id, w))
            })
            .collect();
        for (id, why) in due {
            self.close(id, why);
        }
    }
    /// Stopping: tells every connection (see [`ConnHandle::closed`]).
    fn stopping(&self) {
        for c in self.lock().values() {
            c.closed.fire();
        }
    }
    fn close_all(&self) -> usize {
        let all: Vec<Conn> = self.lock().drain().map(|(_, c)| c).collect();
        for c in &all {
            c.task.abort();
            c.closed.fire();
        }
        all.len()
    }
}

/// Removes its connection from the registry when the connection's task ends or is aborted and
/// no [`ConnHold`] is left.
struct Registered {
    registry: Arc<Registry>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if self.registry.lock().remove(&self.id).is_some() {
            self.registry.ended.notify_waiters();
        }
    }
}

/// Tells a running server to stop; see [`serve`].
pub struct Stop {
    /// Requests in progress get this long after the stop.
    pub grace: Duration,
}

/// Serves `router` on `listener` with `limits` until `stop` resolves (module docs).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: impl std::future::Future<Output = Stop>,
) {
    let registry = Arc::new(Registry::default());
    let next_id = AtomicU64::new(1);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut http = hyper::server::conn::http1::Builder::new();
    // Our own header and idle timeouts (module docs) replace hyper's, which would also close
    // an idle keep-alive connection after the header timeout.
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(None)
        // Room for a request's header and the start of its body (bodies are at most 64 KiB);
        // hyper's default lets each connection buffer ~400 KiB.
        .max_buf_size(64 * 1024)
        .keep_alive(true);
    tokio::pin!(stop);
    let grace = 'accept: loop {
        // Room under the cap first: the longest idle connection goes, or we wait for one to end
        // while new connections wait in the backlog.
        while registry.len() >= limits.max_connections && !registry.close_oldest_idle() {
            let ended = registry.ended.notified();
            tokio::select! {
                _ = ended => {}
                s = &mut stop => break 'accept s.grace,
                _ = tick.tick() => registry.reap(&limits, false),
            }
        }
        let (socket, peer) = tokio::select! {
            s = &mut stop => break 'accept s.grace,
            _ = tick.tick() => {
                registry.reap(&limits, false);
                continue;
            }
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors, or the peer gave up during the handshake: wait a
                    // moment rather than spin.
                    warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let _ = socket.set_nodelay(true);
        let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new());
        let io = WatchedIo {
            inner: socket,
            activity: activity.clone(),
        };
        let registered = Arc::new(Registered {
            registry: registry.clone(),
            id,
        });
        let closed = Arc::new(Closed::default());
        let svc = ConnService {
            router: router.clone(),
            activity: activity.clone(),
            socket: ConnSocket(fd),
            peer: ConnPeer(peer),
            handle: ConnHandle {
                activity: activity.clone(),
                _registered: registered.clone(),
                closed: closed.clone(),
            },
        };
        let http = http.clone();
        let tls = tls.clone();
        let handshake = limits.header_timeout;
        // Registered before the task can end, so its removal always finds it.
        let mut conns = registry.lock();
        let task = tokio::spawn(async move {
            let _registered = registered;
            let ended = match tls {
                None => {
                    http.serve_connection(TokioIo::new(io), svc)
                        .with_upgrades()
                        .await
                }
                // HTTPS: the handshake must end within the header timeout (a client that
                // opens and stalls holds nothing for long).
                Some(acceptor) => {
                    match tokio::time::timeout(handshake, acceptor.accept(io)).await {
                        Ok(Ok(tls_io)) => {
                            http.serve_connection(TokioIo::new(tls_io), svc)
                                .with_upgrades()
                                .await
                        }
                        Ok(Err(e)) => {
                            debug!(connection = id, "TLS handshake failed: {e}");
                            return;
                        }
                        Err(_) => {
                            debug!(connection = id, "TLS handshake timed out");
                            return;
                        }
                    }
                }
            };
            if let Err(e) = ended {
                debug!(connection = id, "connection ended: {e}");
            }
        });
        conns.insert(
            id,
            Conn {
                activity,
                task: task.abort_handle(),
                closed,
            },
        );
    };
    drop(listener);
    // Stopping: idle connections go now, and live views end; requests in progress get the grace.
    let deadline = Instant::now() + grace;
    registry.stopping();
    registry.reap(&limits, true);
    while registry.len() > 0 && Instant::now() < deadline {
        let ended = registry.ended.notified();
        tokio::select! {
            _ = ended => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        registry.reap(&limits, true);
    }
    let dropped = registry.close_all();
    if dropped > 0 {
        info!("{dropped} HTTP connections still busy after {grace:?}: dropped");
    }
}
