//! The running recorder: every configured camera with its worker, its source and (later) its
//! motion sources, the shared buffer pool, and an orderly shutdown. `vigil run` and `vigil demo`
//! both start one of these; the HTTP server reads it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;
use tracing::{info, warn};
use vigil_core::pool::Pool;
use vigil_core::prebuffer::BufferConfig;
use vigil_core::time::{Clock, Time};

use crate::camera::{self, CameraHandle, CameraPipeline, Notice};
use crate::catalog::{notice_sink, Catalog, ReconcileReport};
use crate::clips::{safe_name, ClipStore};
use crate::config::{CameraConfig, Config};
use crate::ingest::file::{path_from_url, LoopingFile};
use crate::retention::Retention;

/// What the API shows of a camera's motion-event client (ONVIF).
pub trait EventSourceHealth: Send + Sync {
    /// The whole health record, as JSON.
    fn json(&self) -> serde_json::Value;
    /// (pulls, errors, renewals) so far.
    fn counters(&self) -> (u64, u64, u64);
}

/// A counter per camera: (metric name, help, [(camera, value)]).
pub type MetricSeries = (&'static str, &'static str, Vec<(String, u64)>);

pub struct App {
    pub config: Config,
    /// Per camera name, the health of its ONVIF event client (cameras without ONVIF have none).
    pub onvif: std::collections::HashMap<String, Arc<dyn EventSourceHealth>>,
    pub catalog: Arc<Catalog>,
    pub retention: Arc<Retention>,
    retention_kick: std::sync::mpsc::Sender<()>,
    pub cameras: Vec<CameraHandle>,
    pub pool: Pool,
    pub clock: Arc<dyn Clock>,
    pub started_at: Time,
    pub clips_root: PathBuf,
    /// Recent samples for the web UI's graphs (filled while the HTTP server runs).
    pub history: crate::web::history::History,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    /// Stops the async camera tasks (RTSP ingest, ONVIF events).
    stop_tasks: tokio::sync::watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// Where `tasks` run (see `live`): RTSP over TCP on the paced `ingest_rt`, ONVIF and RTSP
    /// over UDP on `events_rt`.
    ingest_rt: crate::live::IngestRuntime,
    events_rt: crate::live::IngestRuntime,
    ingest: std::collections::HashMap<String, Arc<crate::ingest::rtsp::IngestStats>>,
}

impl App {
    /// Prepares the data directories (recovering clips a crash left open), then starts a worker
    /// and a source for every camera.
    pub fn start(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<App> {
        let clips_root = config.clips_root.clone();
        std::fs::create_dir_all(&clips_root)
            .with_context(|| format!("creating {}", clips_root.display()))?;
        std::fs::create_dir_all(&config.server.data_dir)
            .with_context(|| format!("creating {}", config.server.data_dir.display()))?;
        let catalog = Arc::new(Catalog::open(&config.server.data_dir.join("catalog.db"))?);
        let names: Vec<String> = config.cameras.iter().map(|c| c.name.clone()).collect();
        let report = catalog.reconcile(&clips_root, &names)?;
        if report != ReconcileReport::default() {
            info!(
                "catalog reconciled: {} clips recovered, {} files adopted, {} rows and {} files dropped",
                report.recovered.len(),
                report.files_adopted.len(),
                report.rows_dropped.len(),
                report.files_removed.len()
            );
        }
        let spool_root = config.server.data_dir.join("spool");
        // Spool files of a previous run are scratch from a stream that is gone.
        match std::fs::remove_dir_all(&spool_root) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                warn!("cannot clear old spool {}: {e}", spool_root.display())
            }
            _ => {}
        }
        let retention = Arc::new(Retention::new(
            catalog.clone(),
            clips_root.clone(),
            config.retention_policy(),
        ));
        let (retention_kick, kicked) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let retention_thread = {
            let (r, clock, stop) = (retention.clone(), clock.clone(), stop.clone());
            std::thread::Builder::new()
                .name("retention".into())
                .spawn(move || run_retention(&r, &*clock, &kicked, &stop))?
        };
        let mut app = App {
            onvif: Default::default(),
            retention,
            retention_kick,
            catalog,
            pool: Pool::new(config.pool_limit),
            started_at: clock.now(),
            clips_root,
            history: Default::default(),
            clock,
            cameras: Vec::new(),
            stop,
            threads: vec![retention_thread],
            stop_tasks: tokio::sync::watch::channel(false).0,
            tasks: Vec::new(),
            ingest_rt: crate::live::IngestRuntime::ingest()?,
            events_rt: crate::live::IngestRuntime::events()?,
            ingest: Default::default(),
            config,
        };
        let store = ClipStore::new(&app.clips_root);
        for cam in app.config.cameras.clone() {
            app.start_camera(&cam, &store, &spool_root)
                .with_context(|| format!("camera {:?}", cam.name))?;
        }
        Ok(app)
    }

    fn start_camera(
        &mut self,
        cam: &CameraConfig,
        store: &ClipStore,
        spool_root: &Path,
    ) -> anyhow::Result<()> {
        self.catalog.camera_id(&cam.name)?;
        // Settings saved through the API outlive the config file's.
        let settings = match self.catalog.load_settings(&cam.name, &cam.settings) {
            Ok(Some(s)) => {
                info!(camera = %cam.name, "using the settings saved through the API");
                s
            }
            Ok(None) => cam.settings.clone(),
            Err(e) => {
                warn!(camera = %cam.name, "ignoring saved settings: {e}");
                cam.settings.clone()
            }
        };
        let spool = spool_root.join(safe_name(&cam.name));
        let buffer = self.pool.register(
            &cam.name,
            BufferConfig::from_settings(&settings, spool.clone()),
        )?;
        let pipeline = CameraPipeline::new(&cam.name, settings, buffer, store.clone(), spool);
        let mut sink = notice_sink(self.catalog.clone(), self.clips_root.clone());
        let kick = self.retention_kick.clone();
        let handle = camera::spawn(pipeline, self.clock.clone(), move |camera, n| {
            sink(camera, n);
            // Retention runs after every closed clip, and at once when a write failed (a full
            // disk is exactly when it must make room).
            if matches!(n, Notice::ClipClosed(_) | Notice::WriteFailed { .. }) {
                let _ = kick.send(());
            }
        })?;
        match cam.url.as_deref() {
            Some(url) if url.starts_with("file:") => {
                let path = path_from_url(url).with_context(|| format!("bad file: URL {url:?}"))?;
                let source = LoopingFile::open(&path, self.clock.monotonic())
                    .with_context(|| format!("opening {}", path.display()))?;
                let tx = handle.sender();
                let (clock, stop) = (self.clock.clone(), self.stop.clone());
                self.threads.push(
                    std::thread::Builder::new()
                        .name(format!("src-{}", cam.name))
                        .spawn(move || source.run_paced(clock, |ev| tx.send_source(ev), stop))?,
                );
            }
            // An rtsp:// URL, or none (then the camera's ONVIF service gives it).
            _ => {
                let stats = Arc::new(crate::ingest::rtsp::IngestStats::new());
                self.ingest.insert(cam.name.clone(), stats.clone());
                let rt = match cam.transport {
                    crate::config::Transport::Tcp => &self.ingest_rt,
                    crate::config::Transport::Udp => &self.events_rt,
                };
                let task = crate::live::spawn_rtsp(
                    rt.handle(),
                    cam,
                    self.clock.clone(),
                    handle.sender(),
                    stats,
                    self.stop_tasks.subscribe(),
                );
                self.tasks.push(task);
            }
        }
        if let Some(device) = cam.onvif.as_deref() {
            let (task, health) = crate::live::spawn_onvif(
                self.events_rt.handle(),
                cam,
                device,
                self.clock.clone(),
                handle.sender(),
                self.stop_tasks.subscribe(),
            );
            self.tasks.push(task);
            self.onvif.insert(cam.name.clone(), health);
        }
        info!(camera = %cam.name, "camera started");
        self.cameras.push(handle);
        Ok(())
    }

    pub fn camera(&self, name: &str) -> Option<&CameraHandle> {
        self.cameras.iter().find(|c| c.name() == name)
    }

    pub fn onvif_health(&self, camera: &str) -> Option<serde_json::Value> {
        self.onvif.get(camera).map(|h| h.json())
    }

    /// ONVIF counters per camera, as (metric name, help, [(camera, value)]).
    pub fn onvif_metrics(&self) -> Vec<MetricSeries> {
        let mut names: Vec<&String> = self.onvif.keys().collect();
        names.sort();
        let pick = |f: fn((u64, u64, u64)) -> u64| -> Vec<(String, u64)> {
            names
                .iter()
                .map(|n| ((*n).clone(), f(self.onvif[*n].counters())))
                .collect()
        };
        vec![
            (
                "vigil_onvif_pulls_total",
                "Successful ONVIF PullMessages calls.",
                pick(|c| c.0),
            ),
            (
                "vigil_onvif_errors_total",
                "Failed ONVIF calls (faults, timeouts, auth).",
                pick(|c| c.1),
            ),
            (
                "vigil_onvif_renewals_total",
                "ONVIF subscription renewals.",
                pick(|c| c.2),
            ),
        ]
    }

    /// Conditions a user should see: a clip that could not be written (a full disk), free space
    /// below `min_free` that retention can't fix, retention failing.
    pub fn alerts(&self) -> Vec<serde_json::Value> {
        let mut out = Vec::new();
        let policy = self.retention.policy();
        if let (Some(min), Some(disk)) = (policy.min_free, self.retention.disk()) {
            let want = match min {
                crate::config::MinFree::Bytes(b) => b,
                crate::config::MinFree::Percent(p) => (disk.total_bytes as f64 * p / 100.0) as u64,
            };
            if disk.free_bytes < want {
                out.push(serde_json::json!({
                    "kind": "low_free_space",
                    "message": format!(
                        "{} bytes free under the storage root, below storage.min_free ({want} bytes), and retention can't free more (the rest is protected or being written)",
                        disk.free_bytes
                    ),
                }));
            }
        }
        if let Some(e) = self.retention.state().last_error {
            out.push(serde_json::json!({ "kind": "retention", "message": e }));
        }
        for c in &self.cameras {
            let s = c.status();
            if let Some((at, msg)) = &s.last_error {
                out.push(serde_json::json!({
                    "camera": c.name(),
                    "kind": "clip_write",
                    "at": at.to_string(),
                    "message": msg,
                    "count": s.counters.write_errors,
                }));
            }
        }
        out
    }

    /// A flag that turns true when the app stops (for helper threads such as the demo script).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Adopts a helper thread that ends once [`App::stop_flag`] is set.
    pub fn adopt_thread(&mut self, t: JoinHandle<()>) {
        self.threads.push(t);
    }

    /// Stops the sources (ONVIF clients unsubscribe), then closes every camera's open clip.
    pub async fn shutdown(self) {
        info!("stopping: closing open clips");
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.retention_kick.send(()); // wakes the retention thread to see the stop
        let _ = self.stop_tasks.send(true);
        for t in self.tasks {
            // An ONVIF client unsubscribes before it returns: give it a few seconds.
            if tokio::time::timeout(std::time::Duration::from_secs(5), t)
                .await
                .is_err()
            {
                warn!("a camera task did not stop within 5 s");
            }
        }
        let (threads, cameras) = (self.threads, self.cameras);
        let runtimes = [self.ingest_rt, self.events_rt];
        let _ = tokio::task::spawn_blocking(move || {
            for rt in runtimes {
                rt.stop();
            }
            for t in threads {
                let _ = t.join();
            }
            for cam in cameras {
                cam.shutdown();
            }
        })
        .await;
    }

    /// Ingest figures of a camera's RTSP stream (none for `file:` cameras).
    pub fn ingest_stats(&self, camera: &str) -> Option<crate::ingest::rtsp::IngestSnapshot> {
        self.ingest.get(camera).map(|s| s.snapshot())
    }
}

/// How often retention runs when nothing asks it to.
pub const RETENTION_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The retention thread: at start, every [`RETENTION_EVERY`], and whenever kicked.
fn run_retention(
    r: &Retention,
    clock: &dyn Clock,
    kicked: &std::sync::mpsc::Receiver<()>,
    stop: &AtomicBool,
) {
    use std::sync::mpsc::RecvTimeoutError;
    // Scheduled on the monotonic clock; a clip's age is judged on the wall clock, as its labels.
    let mut next = clock.monotonic();
    while !stop.load(Ordering::Relaxed) {
        let now = clock.monotonic();
        if now >= next {
            r.run(clock.now());
            next = now.plus(RETENTION_EVERY);
        }
        // Sleep until the next run; a kick (a closed clip, a failed write, or the stop request)
        // wakes it earlier.
        let wait = next.micros_since(clock.monotonic()).max(0) as u64;
        match kicked.recv_timeout(std::time::Duration::from_micros(wait)) {
            Ok(()) => {
                while kicked.try_recv().is_ok() {}
                next = clock.monotonic();
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

/// Resolves on Ctrl-C, SIGTERM, or after `after` (if given).
pub async fn shutdown_signal(after: Option<std::time::Duration>) {
    let timer = async {
        match after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let term = async {
        #[cfg(unix)]
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
            return;
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = timer => {},
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// Serves HTTP for `app` until `shutdown`, then shuts the app down. Logs the bound address.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    info!(
        "{} cameras, clips under {}, status page on http://{}",
        app.cameras.len(),
        app.clips_root.display(),
        listener.local_addr()?
    );
    let app = Arc::new(app);
    crate::web::serve(listener, app.clone(), shutdown).await?;
    let app = Arc::into_inner(app).context("the HTTP server still holds the app")?;
    app.shutdown().await;
    Ok(())
}
