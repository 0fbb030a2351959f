//! RTSP cameras as a source of [`SourceEvent`]s.
//!
//! - [`run`]: one camera, forever: open a session, turn its frames into events, and when it ends
//!   or fails reconnect after a capped, jittered exponential backoff. `Lost` goes out only for a
//!   session that was up (sent `Params`): a camera that never answers is a failure in the stats
//!   and the log, not a stream of `Lost`s. A session with no frame for `stall_timeout` is dead
//!   (UDP never says so), as is one with no keyframe within `keyframe_timeout`. One tokio task
//!   per camera; `send` must not block (the camera worker's `CameraTx::send_source` doesn't),
//!   so one camera's trouble never stalls another.
//! - [`describe`]: probe a camera once (for `vigil check`): codec, picture size, audio.
//! - `source`: the two small traits retina hides behind ([`RtspOpener`], [`RtspSession`]), so the
//!   loop is tested with scripted sessions; `client`: their retina implementation.
//! - `feed`: one session's frames → events (keyframe gate, parameter changes, time anchored on
//!   our monotonic clock and slewed toward it); `h265`: IRAP/RASL classification; `stats`: what
//!   the API shows of a camera's ingest. The backoff is `vigil_core::backoff`, the one every
//!   retry loop uses (docs/design.md#retries).

mod client;
mod feed;
pub mod h265;
mod source;
mod stats;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{timeout, Instant};
use tracing::{info, warn};
use vigil_core::backoff::Backoff;
use vigil_core::packet::{AudioParams, VideoParams};
use vigil_core::rng::random_seed;
use vigil_core::time::{Clock, Now};

pub use crate::config::Transport;
pub use client::RetinaOpener;
pub use source::{BoxFuture, RawAudio, RawFrame, RawVideo, RtspOpener, RtspSession, SessionInfo};
pub use stats::{IngestSnapshot, IngestStats};

use super::SourceEvent;
use feed::{Feed, FirstRead};

/// Timeouts and backoff; the defaults suit real cameras, tests shorten them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// DESCRIBE + SETUP + PLAY must finish within this.
    pub open_timeout: Duration,
    /// A session with no frame for this long is dead (a UDP stream from a vanished camera
    /// never says so itself).
    pub stall_timeout: Duration,
    /// A session that hasn't delivered a keyframe within this is given up.
    pub keyframe_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A session that stayed up this long resets the backoff.
    pub stable_after: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            open_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(10),
            keyframe_timeout: Duration::from_secs(20),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            stable_after: Duration::from_secs(10),
        }
    }
}

/// One camera's RTSP settings.
#[derive(Clone, PartialEq, Eq)]
pub struct RtspConfig {
    /// `rtsp://host[:port]/path`; credentials in it are used unless `username` is set.
    pub url: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub transport: Transport,
    pub timing: Timing,
}

impl RtspConfig {
    pub fn new(url: impl Into<String>) -> RtspConfig {
        RtspConfig {
            url: url.into(),
            username: None,
            password: None,
            transport: Transport::Tcp,
            timing: Timing::default(),
        }
    }

    /// The URL with any password removed, for logs and errors.
    pub fn redacted_url(&self) -> String {
        crate::util::redact_url(&self.url)
    }

    /// The URL to connect to (without credentials: retina refuses them there) and the
    /// credentials: the config's own, else those in the URL (percent-decoded).
    fn target(&self) -> Result<(url::Url, Option<(String, String)>), RtspError> {
        let bad = |reason: String| RtspError::InvalidUrl {
            url: self.redacted_url(),
            reason,
        };
        let mut url = url::Url::parse(&self.url).map_err(|e| bad(e.to_string()))?;
        if url.scheme() != "rtsp" {
            return Err(bad(format!("scheme {:?} is not rtsp", url.scheme())));
        }
        if url.host().is_none() {
            return Err(bad("no host".into()));
        }
        let decode = |s: &str| {
            url::form_urlencoded::parse(s.replace('+', "%2B").as_bytes())
                .next()
                .map(|(k, _)| k.into_owned())
                .unwrap_or_default()
        };
        let from_url = (!url.username().is_empty()).then(|| {
            (
                decode(url.username()),
                url.password().map(decode).unwrap_or_default(),
            )
        });
        let creds = match &self.username {
            Some(u) => Some((u.clone(), self.password.clone().unwrap_or_default())),
            None => from_url,
        };
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok((url, creds))
    }
}

impl fmt::Debug for RtspConfig {
    /// Never prints the password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RtspConfig")
            .field("url", &self.redacted_url())
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("transport", &self.transport)
            .field("timing", &self.timing)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtspError {
    #[error("invalid RTSP URL {url}: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("the camera refused the credentials (401 Unauthorized): {0}")]
    Unauthorized(String),
    #[error("no stream at this URL (404 Not Found): {0}")]
    NotFound(String),
    #[error("{0}")]
    Protocol(String),
    #[error("the stream has no video (it offers {offered:?})")]
    NoVideo { offered: Vec<String> },
    #[error("video codec {0:?} is not supported (H.264 and H.265 are)")]
    UnsupportedVideo(String),
    #[error("timed out after {:.1} s {what}", *.ms as f64 / 1000.0)]
    Timeout { ms: u64, what: &'static str },
    #[error("no frame for {:.1} s", *.ms as f64 / 1000.0)]
    Stalled { ms: u64 },
    #[error("the server ended the session")]
    Ended,
}

impl RtspError {
    fn timeout(d: Duration, what: &'static str) -> RtspError {
        RtspError::Timeout {
            ms: d.as_millis() as u64,
            what,
        }
    }
}

/// Why [`run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    Shutdown,
    /// `send` returned false: nobody listens any more.
    ReceiverGone,
}

/// How a motion source asks a camera's RTSP source to take in everything its socket holds
/// *now*, before the motion event is handed on: the recorder must judge an event against the
/// media up to the event's arrival, not against what a paced read (`runtime::live`) left
/// waiting in the kernel. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Freshen(mpsc::UnboundedSender<oneshot::Sender<()>>);

/// The source's end of [`Freshen`].
#[derive(Debug)]
pub struct FreshRequests(mpsc::UnboundedReceiver<oneshot::Sender<()>>);

/// A [`Freshen`] and the [`FreshRequests`] it reaches.
pub fn fresh_channel() -> (Freshen, FreshRequests) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Freshen(tx), FreshRequests(rx))
}

impl Freshen {
    /// Asks; the answer comes once every frame that was waiting in the socket has been sent
    /// on (or at once when no session is up). `None` when the source is gone.
    pub fn ask(&self) -> Option<oneshot::Receiver<()>> {
        let (tx, rx) = oneshot::channel();
        self.0.send(tx).ok().map(|()| rx)
    }
}

impl FreshRequests {
    /// The next request; pending forever once every [`Freshen`] is gone.
    async fn next(&mut self) -> oneshot::Sender<()> {
        match self.0.recv().await {
            Some(r) => r,
            None => std::future::pending().await,
        }
    }

    /// Runs `fut`, answering every request at once meanwhile (there is no session to read).
    pub async fn answering<F: Future>(&mut self, fut: F) -> F::Output {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                biased;
                out = &mut fut => return out,
                r = self.next() => { let _ = r.send(()); }
            }
        }
    }
}

/// Ingests one camera until `shutdown` completes or the receiver is gone. See the module docs.
pub async fn run(
    cfg: RtspConfig,
    clock: Arc<dyn Clock>,
    stats: Arc<IngestStats>,
    send: impl FnMut(SourceEvent) -> bool + Send,
    shutdown: impl Future<Output = ()>,
    fresh: FreshRequests,
) -> RunEnd {
    run_fresh(&RetinaOpener, cfg, clock, stats, send, shutdown, fresh).await
}

/// [`run`] with another [`RtspOpener`] and nobody asking for fresh reads (tests).
pub async fn run_with(
    opener: &dyn RtspOpener,
    cfg: RtspConfig,
    clock: Arc<dyn Clock>,
    stats: Arc<IngestStats>,
    send: impl FnMut(SourceEvent) -> bool + Send,
    shutdown: impl Future<Output = ()>,
) -> RunEnd {
    let (_, fresh) = fresh_channel();
    run_fresh(opener, cfg, clock, stats, send, shutdown, fresh).await
}

/// [`run`] with another [`RtspOpener`] (tests).
pub async fn run_fresh(
    opener: &dyn RtspOpener,
    cfg: RtspConfig,
    clock: Arc<dyn Clock>,
    stats: Arc<IngestStats>,
    mut send: impl FnMut(SourceEvent) -> bool + Send,
    shutdown: impl Future<Output = ()>,
    mut fresh: FreshRequests,
) -> RunEnd {
    tokio::pin!(shutdown);
    let t = cfg.timing;
    let mut backoff = Backoff::new(t.backoff_min, t.backoff_max, random_seed(&cfg.url));
    let camera = cfg.redacted_url();
    loop {
        stats.attempt();
        let started = Instant::now();
        let (was_up, end) = tokio::select! {
            biased;
            () = &mut shutdown => return RunEnd::Shutdown,
            r = session(opener, &cfg, &*clock, &stats, &mut send, &mut fresh) => r,
        };
        let error = match end {
            SessionEnd::ReceiverGone => return RunEnd::ReceiverGone,
            SessionEnd::Failed(e) => e,
        };
        if was_up && started.elapsed() >= t.stable_after {
            backoff.reset();
        }
        let delay = backoff.next_delay();
        warn!(
            url = %camera,
            "RTSP session {}: {error}; retrying in {:.1} s",
            if was_up { "lost" } else { "failed" },
            delay.as_secs_f64()
        );
        // Stats first, so whoever sees `Lost` sees the stats say "down" too.
        stats.failed(&error.to_string(), clock.now(), delay);
        if was_up && !send(SourceEvent::Lost(error.to_string())) {
            return RunEnd::ReceiverGone;
        }
        tokio::select! {
            biased;
            () = &mut shutdown => return RunEnd::Shutdown,
            () = fresh.answering(tokio::time::sleep(delay)) => {}
        }
    }
}

enum SessionEnd {
    Failed(RtspError),
    ReceiverGone,
}

/// One session, from open to its end. Returns whether it came up, and how it ended.
async fn session(
    opener: &dyn RtspOpener,
    cfg: &RtspConfig,
    clock: &dyn Clock,
    stats: &IngestStats,
    send: &mut (dyn FnMut(SourceEvent) -> bool + Send),
    fresh: &mut FreshRequests,
) -> (bool, SessionEnd) {
    let t = cfg.timing;
    let mut s = match fresh
        .answering(timeout(t.open_timeout, opener.open(cfg)))
        .await
    {
        Err(_) => {
            let e = RtspError::timeout(t.open_timeout, "opening the session");
            return (false, SessionEnd::Failed(e));
        }
        Ok(Err(e)) => return (false, SessionEnd::Failed(e)),
        Ok(Ok(s)) => s,
    };
    let info = s.info().clone();
    if !info.skipped_audio.is_empty() {
        // Once per session: the camera's audio settings don't change between frames.
        warn!(url = %cfg.redacted_url(), codecs = ?info.skipped_audio, "audio is not AAC: not recorded");
    }
    let mut feed = Feed::new(info.audio.clone());
    let opened = Instant::now();
    let mut last_frame = opened;
    let mut jumps = 0;
    // One timer for the whole session, re-armed only when it fires: arming a timeout per frame
    // would cost a timer-wheel insertion per frame for every camera.
    let watchdog = tokio::time::sleep(t.stall_timeout.min(t.keyframe_timeout));
    tokio::pin!(watchdog);
    // The reads until the stream is up (anchored), each held until it is over so that the
    // anchor is taken on its last frame (`feed::FirstRead`).
    let mut first = Some(FirstRead::default());
    let end = loop {
        let step = tokio::select! {
            biased;
            next = s.next() => Step::Frame(next),
            () = &mut watchdog => {
                let now = Instant::now();
                if !feed.is_up() && now >= opened + t.keyframe_timeout {
                    let e = RtspError::timeout(t.keyframe_timeout, "waiting for a keyframe");
                    break SessionEnd::Failed(e);
                }
                if now >= last_frame + t.stall_timeout {
                    let e = RtspError::Stalled {
                        ms: t.stall_timeout.as_millis() as u64,
                    };
                    break SessionEnd::Failed(e);
                }
                let mut due = last_frame + t.stall_timeout;
                if !feed.is_up() {
                    due = due.min(opened + t.keyframe_timeout);
                }
                watchdog.as_mut().reset(due);
                continue;
            }
            reply = fresh.next() => Step::Fresh(reply),
            () = std::future::ready(()), if first.as_ref().is_some_and(|f| !f.is_empty()) => Step::ReadOver,
        };
        let was_up = feed.is_up();
        let mut reads = Reads {
            first: &mut first,
            feed: &mut feed,
            clock,
            stats,
            send: &mut *send,
            last_frame: &mut last_frame,
        };
        let taken = match step {
            Step::Frame(next) => reads.take(next),
            Step::ReadOver => reads.take_held(),
            Step::Fresh(reply) => {
                // Resumed only after the runtime has polled its sockets (`yield_now` defers
                // the wake until then), so the reads below see every byte that had arrived.
                tokio::task::yield_now().await;
                let taken = loop {
                    // Unconstrained: tokio's budget would otherwise end the reads early with a
                    // Pending that means "later", not "nothing more".
                    match tokio::task::unconstrained(s.next()).now_or_never() {
                        Some(next) => {
                            if let Err(end) = reads.take(next) {
                                break Err(end);
                            }
                        }
                        None => break reads.take_held(),
                    }
                };
                let _ = reply.send(());
                taken
            }
        };
        if let Err(end) = taken {
            break end;
        }
        // Counted as they happen (the API shows them live, and a session cut short by a
        // shutdown still counts its own).
        let j = feed.discontinuities();
        if j != jumps {
            stats.update(|s| s.discontinuities += j - jumps);
            jumps = j;
        }
        if !was_up && feed.is_up() {
            info!(url = %cfg.redacted_url(), tool = ?info.tool, audio = info.audio.is_some(), "RTSP stream up");
        }
    };
    (feed.is_up(), end)
}

/// What a session's loop does next.
enum Step {
    /// The session's next frame, its end (`None`) or its failure.
    Frame(Option<Result<RawFrame, RtspError>>),
    /// Nothing more is ready: the held read (`feed::FirstRead`) is over.
    ReadOver,
    /// A motion source asks for everything waiting in the socket now ([`Freshen`]).
    Fresh(oneshot::Sender<()>),
}

/// A session's reading state, borrowed for one step.
struct Reads<'a> {
    first: &'a mut Option<FirstRead>,
    feed: &'a mut Feed,
    clock: &'a dyn Clock,
    stats: &'a IngestStats,
    send: &'a mut (dyn FnMut(SourceEvent) -> bool + Send),
    last_frame: &'a mut Instant,
}

impl Reads<'_> {
    /// Takes the session's next item: a frame is fed (or held, until the stream is up).
    fn take(&mut self, next: Option<Result<RawFrame, RtspError>>) -> Result<(), SessionEnd> {
        let frame = match next {
            None => return Err(SessionEnd::Failed(RtspError::Ended)),
            Some(Err(e)) => return Err(SessionEnd::Failed(e)),
            Some(Ok(frame)) => frame,
        };
        *self.last_frame = Instant::now();
        let fed = match self.first.as_mut() {
            None => self
                .feed
                .push(frame, Now::read(self.clock), self.stats, self.send),
            // Full: a stream that never paused; released as if the read ended.
            Some(held) => held.hold(frame) || self.release(),
        };
        if fed {
            Ok(())
        } else {
            Err(SessionEnd::ReceiverGone)
        }
    }

    /// The read is over: feeds what it held, if anything.
    fn take_held(&mut self) -> Result<(), SessionEnd> {
        if self.first.as_ref().is_none_or(|f| f.is_empty()) {
            return Ok(());
        }
        if self.release() {
            Ok(())
        } else {
            Err(SessionEnd::ReceiverGone)
        }
    }

    /// Feeds the held read as if its last frame arrived now; while that left the stream without
    /// an anchor (no keyframe in it), holds the next read too. False when `send` said the
    /// receiver is gone.
    fn release(&mut self) -> bool {
        let held = self.first.take().unwrap_or_default();
        let fed = held.release(self.feed, Now::read(self.clock), self.stats, self.send);
        if !self.feed.is_up() {
            *self.first = Some(FirstRead::default());
        }
        fed
    }
}

/// What [`describe`] learned of a camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSummary {
    pub video: VideoParams,
    pub audio: Option<AudioParams>,
    /// Audio offered but not recorded (not AAC).
    pub skipped_audio: Vec<String>,
    pub tool: Option<String>,
}

/// Connects once and reports the stream's parameters (from its first video frame, where they
/// are always known), within the open and keyframe timeouts.
pub async fn describe(cfg: &RtspConfig) -> Result<StreamSummary, RtspError> {
    describe_with(&RetinaOpener, cfg).await
}

/// [`describe`] with another [`RtspOpener`] (tests).
pub async fn describe_with(
    opener: &dyn RtspOpener,
    cfg: &RtspConfig,
) -> Result<StreamSummary, RtspError> {
    let t = cfg.timing;
    let mut s = timeout(t.open_timeout, opener.open(cfg))
        .await
        .map_err(|_| RtspError::timeout(t.open_timeout, "opening the session"))??;
    let first_params = async {
        loop {
            match s.next().await {
                None => return Err(RtspError::Ended),
                Some(Err(e)) => return Err(e),
                Some(Ok(RawFrame::Video(RawVideo {
                    params: Some(p), ..
                }))) => return Ok(p),
                Some(Ok(_)) => {}
            }
        }
    };
    let video = timeout(t.keyframe_timeout, first_params)
        .await
        .map_err(|_| RtspError::timeout(t.keyframe_timeout, "waiting for video parameters"))??;
    let info = s.info().clone();
    Ok(StreamSummary {
        video,
        audio: info.audio,
        skipped_audio: info.skipped_audio,
        tool: info.tool,
    })
}

#[cfg(test)]
mod tests;
