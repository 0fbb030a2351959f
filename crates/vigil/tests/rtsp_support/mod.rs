//! The RTSP test bed from the tests' side: a real RTSP server process (testbed/rtsp_server.py,
//! GStreamer) serving the test media, `ingest::rtsp::run` on a tokio runtime, and camera workers
//! (`vigil::camera::spawn`) fed the way `vigil run` feeds them. Everything waits by polling
//! channels with deadlines, never by sleeping for something it could watch.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigil::camera::{self, CameraHandle, CameraMsg, CameraPipeline};
use vigil::clips::{ClipRecord, ClipStore};
use vigil::ingest::rtsp::{self, IngestStats, RtspConfig, RunEnd, Timing};
use vigil::ingest::SourceEvent;
use vigil::notice::Notice;
use vigil::runtime::live::IngestRuntime;
use vigil_core::kind::EventKind;
use vigil_core::packet::{Packet, StreamParams, TrackKind};
use vigil_core::pool::Pool;
use vigil_core::prebuffer::BufferConfig;
use vigil_core::recorder::MotionSource;
use vigil_core::settings::RecordingSettings;
use vigil_core::time::{Clock, SystemClock};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A test media file (testbed/media/NAME), made by testbed/make_media.sh if it is missing.
pub fn media(name: &str) -> PathBuf {
    let path = workspace().join("testbed/media").join(name);
    if !path.exists() {
        let status = Command::new(workspace().join("testbed/make_media.sh"))
            .status()
            .expect("testbed/make_media.sh runs (ffmpeg installed? run scripts/setup)");
        assert!(status.success(), "testbed/make_media.sh failed");
    }
    path
}

/// A running testbed/rtsp_server.py. Killed when dropped.
pub struct RtspServer {
    child: Option<(Child, PathBuf)>,
    pub port: u16,
    media: Vec<(String, PathBuf)>,
}

const SERVER_START: Duration = Duration::from_secs(20);

impl RtspServer {
    /// Serves each `(mount, media file name)` on a free port.
    pub fn start(mounts: &[(&str, &str)]) -> RtspServer {
        let media: Vec<_> = mounts
            .iter()
            .map(|(m, f)| (m.to_string(), media(f)))
            .collect();
        let (child, port) = spawn_server(0, &media);
        RtspServer {
            child: Some(child),
            port,
            media,
        }
    }

    pub fn url(&self, mount: &str) -> String {
        format!("rtsp://127.0.0.1:{}/{mount}", self.port)
    }

    /// SIGKILL, like a camera losing power: no TEARDOWN, connections just die.
    pub fn kill(&mut self) {
        if let Some((mut c, log)) = self.child.take() {
            if let Ok(Some(status)) = c.try_wait() {
                // Not ours: say so, with its log, or a test fails with a puzzling "refused".
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                eprintln!("RTSP test server had exited by itself ({status}); its log:\n{text}");
            }
            let _ = c.kill();
            let _ = c.wait();
            let _ = std::fs::remove_file(&log);
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let (child, port) = spawn_server(self.port, &self.media);
        assert_eq!(port, self.port);
        self.child = Some(child);
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_server(port: u16, media: &[(String, PathBuf)]) -> ((Child, PathBuf), u16) {
    static SERIAL: AtomicUsize = AtomicUsize::new(0);
    let script = workspace().join("testbed/rtsp_server.py");
    // The server's log goes to a file, never to a pipe nobody reads (a full pipe would stall it).
    let log = std::env::temp_dir().join(format!(
        "vigil-rtsp-server-{}-{}.log",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    ));
    let log_file = std::fs::File::create(&log).expect("server log file");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(&script).args(["--port", &port.to_string()]);
    for (mount, path) in media {
        cmd.arg("--media")
            .arg(format!("{mount}={}", path.display()));
    }
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log_file)
        .spawn()
        .expect("/usr/bin/python3 runs (run scripts/setup)");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        // Read to the end, even after nobody listens: the server must never get EPIPE.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    match rx.recv_timeout(SERVER_START) {
        Ok(line) if line.starts_with("READY ") => {
            let port = line[6..].trim().parse().expect("READY <port>");
            ((child, log), port)
        }
        other => {
            let _ = child.kill();
            let _ = child.wait();
            let err = std::fs::read_to_string(&log).unwrap_or_default();
            let _ = std::fs::remove_file(&log);
            panic!("RTSP test server did not start ({other:?}); its log:\n{err}");
        }
    }
}

/// Short timeouts and backoff so the reconnect tests take seconds, not minutes.
pub fn test_config(url: &str) -> RtspConfig {
    let mut cfg = RtspConfig::new(url);
    cfg.timing = Timing {
        open_timeout: Duration::from_secs(5),
        stall_timeout: Duration::from_secs(3),
        keyframe_timeout: Duration::from_secs(8),
        backoff_min: Duration::from_millis(500),
        backoff_max: Duration::from_secs(4),
        stable_after: Duration::from_secs(5),
    };
    cfg
}

/// The runtime `vigil run` reads RTSP-over-TCP cameras on (paced: every `live::READ_EVERY`),
/// shared by all of a test's cameras as in `vigil run`.
pub fn runtime() -> IngestRuntime {
    IngestRuntime::ingest().expect("ingest runtime")
}

/// The runtime `vigil run` runs ONVIF clients and RTSP-over-UDP cameras on (not paced).
pub fn events_runtime() -> IngestRuntime {
    IngestRuntime::events().expect("events runtime")
}

/// One camera's ingest task.
pub struct Ingest {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<RunEnd>>,
    handle: tokio::runtime::Handle,
    pub stats: Arc<IngestStats>,
}

impl Ingest {
    pub fn start(
        rt: &IngestRuntime,
        cfg: RtspConfig,
        send: impl FnMut(SourceEvent) -> bool + Send + 'static,
    ) -> Ingest {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let stats = Arc::new(IngestStats::new());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let task = rt.handle().spawn(rtsp::run(
            cfg,
            clock,
            stats.clone(),
            send,
            async move {
                let _ = stopped.await;
            },
            rtsp::fresh_channel().1,
        ));
        Ingest {
            stop: Some(stop),
            task: Some(task),
            handle: rt.handle().clone(),
            stats,
        }
    }

    /// Waits for the stream's `Params` on `seen` (from [`tap`]); returns them and how many other
    /// events came first. On timeout the panic shows the ingest's stats (last error, attempts).
    pub fn wait_params(
        &self,
        seen: &Receiver<(Instant, Seen)>,
        limit: Duration,
    ) -> (Arc<StreamParams>, usize) {
        let deadline = Instant::now() + limit;
        let mut skipped = 0;
        loop {
            match seen.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok((_, Seen::Params(p))) => return (p, skipped),
                Ok(_) => skipped += 1,
                Err(e) => panic!(
                    "no Params within {limit:?} ({e:?}, {skipped} other events); ingest: {:?}",
                    self.stats.snapshot()
                ),
            }
        }
    }

    /// Asks the task to stop and waits for it.
    pub fn stop(&mut self) -> Option<RunEnd> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let task = self.task.take()?;
        self.handle.block_on(task).ok()
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A source event as a test saw it: a copy, and when it arrived.
#[derive(Debug, Clone)]
pub enum Seen {
    Params(Arc<StreamParams>),
    Packet(Packet),
    Lost(String),
}

impl Seen {
    fn of(ev: &SourceEvent) -> Seen {
        match ev {
            SourceEvent::Params(p) => Seen::Params(p.clone()),
            SourceEvent::Packet(p) => Seen::Packet(p.clone()),
            SourceEvent::Lost(w) => Seen::Lost(w.clone()),
        }
    }
}

/// A `send` for [`Ingest::start`] that reports every event on the returned channel, with its
/// arrival instant, and forwards it to `camera` when given (as `vigil run` does).
pub fn tap(
    camera: Option<camera::CameraTx>,
) -> (
    impl FnMut(SourceEvent) -> bool + Send + 'static,
    Receiver<(Instant, Seen)>,
) {
    let (tx, rx) = channel();
    let send = move |ev: SourceEvent| {
        let _ = tx.send((Instant::now(), Seen::of(&ev)));
        match &camera {
            Some(c) => c.send_source(ev),
            None => true,
        }
    };
    (send, rx)
}

/// Receives until `pred` accepts an event or `limit` passes; returns everything received.
pub fn collect_until<T: std::fmt::Debug>(
    rx: &Receiver<T>,
    limit: Duration,
    mut pred: impl FnMut(&T) -> bool,
) -> Vec<T> {
    let deadline = Instant::now() + limit;
    let mut got = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(x) => {
                let done = pred(&x);
                got.push(x);
                if done {
                    return got;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                let tail: Vec<_> = got.iter().rev().take(5).collect();
                panic!("nothing matched within {limit:?}; last received: {tail:?}");
            }
            Err(RecvTimeoutError::Disconnected) => panic!("channel closed; got {got:?}"),
        }
    }
}

/// Receives everything for `d` (a window of live stream to look at).
pub fn collect_for<T>(rx: &Receiver<T>, d: Duration) -> Vec<T> {
    let deadline = Instant::now() + d;
    let mut got = Vec::new();
    while let Ok(x) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        got.push(x);
    }
    got
}

/// A camera worker (the real one `vigil run` starts) whose notices arrive on a channel.
pub struct Camera {
    pub handle: Option<CameraHandle>,
    pub notices: Receiver<Notice>,
    pub clips_dir: PathBuf,
    _pool: Pool,
}

impl Camera {
    pub fn start(name: &str, dir: &Path, settings: RecordingSettings) -> Camera {
        let pool = Pool::new(50 << 20);
        let spool = dir.join("spool").join(name);
        let buffer = pool
            .register(name, BufferConfig::from_settings(&settings, spool.clone()))
            .expect("register buffer");
        let clips_dir = dir.join("clips");
        let pipeline = CameraPipeline::new(
            name,
            settings,
            buffer,
            ClipStore::new(clips_dir.clone()),
            spool,
        );
        let (tx, notices) = channel();
        let handle = camera::spawn(pipeline, Arc::new(SystemClock), move |_, n| {
            let _ = tx.send(n);
        })
        .expect("camera worker starts");
        Camera {
            handle: Some(handle),
            notices,
            clips_dir,
            _pool: pool,
        }
    }

    pub fn sender(&self) -> camera::CameraTx {
        self.handle.as_ref().expect("running").sender()
    }

    pub fn send(&self, msg: CameraMsg) {
        assert!(
            self.handle.as_ref().expect("running").send(msg),
            "camera worker gone"
        );
    }

    /// Motion starts now (as the API trigger would say it).
    pub fn motion_start(&self) {
        self.send(CameraMsg::MotionStart {
            source: MotionSource::Api,
            kind: EventKind::Motion,
            until: None,
            received: Instant::now(),
            camera_time: None,
        });
    }

    pub fn motion_end(&self) {
        self.send(CameraMsg::MotionEnd {
            source: MotionSource::Api,
            kind: EventKind::Motion,
            camera_time: None,
        });
    }

    /// Waits for the next closed clip (skipping other notices); returns its record.
    pub fn wait_clip_closed(&self, limit: Duration) -> ClipRecord {
        match self.wait_notice(limit, |n| matches!(n, Notice::ClipClosed(_))) {
            Notice::ClipClosed(rec) => rec,
            _ => unreachable!(),
        }
    }

    /// Waits for a notice `pred` accepts; returns it.
    pub fn wait_notice(&self, limit: Duration, pred: impl FnMut(&Notice) -> bool) -> Notice {
        collect_until(&self.notices, limit, pred)
            .pop()
            .expect("a matching notice")
    }

    pub fn shutdown(&mut self) {
        if let Some(h) = self.handle.take() {
            h.shutdown();
        }
    }
}

impl Drop for Camera {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Settings that make the tests quick: 2 s pre-roll, 1 s post-roll.
pub fn quick_settings() -> RecordingSettings {
    RecordingSettings {
        pre_buffer_secs: 2,
        post_buffer_secs: 1,
        ..RecordingSettings::default()
    }
}

/// The packets among `seen`, per track.
pub fn packets(seen: &[(Instant, Seen)], track: TrackKind) -> Vec<(Instant, Packet)> {
    seen.iter()
        .filter_map(|(at, s)| match s {
            Seen::Packet(p) if p.track == track => Some((*at, p.clone())),
            _ => None,
        })
        .collect()
}

/// The longest wait between two consecutive packets in `seen`.
pub fn longest_gap(seen: &[(Instant, Seen)]) -> Duration {
    let arrivals: Vec<Instant> = seen
        .iter()
        .filter(|(_, s)| matches!(s, Seen::Packet(_)))
        .map(|(at, _)| *at)
        .collect();
    arrivals
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default()
}
