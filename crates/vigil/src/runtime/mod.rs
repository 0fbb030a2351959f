//! The running recorder: start-up, the camera set, and shutdown in a stated order. `vigil run`
//! and `vigil demo` both start one [`Runtime`]; the HTTP server is a *client* of it through a
//! [`RuntimeHandle`] (queries and commands) and owns nothing the runtime must take back.
//!
//! The runtime owns every thread and task it starts and gets each of them back at shutdown:
//! - the camera set ([`cameras`]): per camera a worker thread, a source (RTSP task or `file:`
//!   thread) and an ONVIF event task;
//! - the ingest threads: `ingest` drives a small runtime per RTSP-over-TCP camera, paced
//!   ([`paced`]; a watched camera gets a thread of its own while watched), and `events`
//!   ([`live::IngestRuntime`]) runs ONVIF clients and RTSP over UDP;
//! - the catalog writer thread (a lossless subscriber of the notice stream, [`crate::notice`]);
//! - MQTT and webhooks ([`crate::integrations`]), a thread of their own when configured;
//! - the retention thread; helper threads adopted with [`Runtime::adopt_thread`].
//!
//! [`Runtime::shutdown`] runs in this order: helpers are told to stop (so the demo's script sends
//! no more motion); every camera's source and event client are told at once and get 5 s
//! together (ONVIF clients unsubscribe); every camera's worker closes its open clip; the notice
//! stream is closed and the catalog writer drains it (every clip's row is final); MQTT and
//! webhooks announce the last clips and say goodbye (a few seconds at most); retention
//! stops; the ingest runtimes end. The HTTP server is stopped by its owner *after* this
//! (docs/data-flow.md).

pub mod cameras;
pub mod cluster;
pub mod live;
pub mod paced;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context;
use tracing::{info, warn};
use vigil_core::pool::Pool;
use vigil_core::time::{Clock, Time};

use crate::catalog::{Catalog, CatalogWriter, ReconcileReport};
use crate::clips::ClipStore;
use crate::config::Config;
use crate::integrations::{ClipNote, IntegrationStats, Integrations};
use crate::notice::{Notice, NoticeBus};
use crate::retention::Retention;
use cameras::{CameraSet, Env};

pub use cameras::{Camera, CameraSetError};

/// A counter per camera: (metric name, help, [(camera, value)]).
pub type MetricSeries = (&'static str, &'static str, Vec<(String, u64)>);

/// What the runtime shares with its clients. Everything here is safe to keep after shutdown:
/// the camera set is empty then, and the rest is read-only or shared state.
struct Shared {
    config: Config,
    catalog: Arc<Catalog>,
    retention: Arc<Retention>,
    pool: Pool,
    clock: Arc<dyn Clock>,
    started_at: Time,
    cameras: CameraSet,
    notices: NoticeBus,
    integrations: Arc<IntegrationStats>,
    /// The clip store, when `[clip_store]` is set.
    remote: Option<Arc<crate::remote::RemoteStore>>,
}

/// The narrow way into a running recorder: queries and commands. Cheap to clone.
#[derive(Clone)]
pub struct RuntimeHandle {
    shared: Arc<Shared>,
}

/// The running recorder (module docs).
pub struct Runtime {
    handle: RuntimeHandle,
    /// Set at shutdown: helper threads and the retention thread end.
    stop: Arc<AtomicBool>,
    retention_kick: std::sync::mpsc::Sender<()>,
    retention_thread: JoinHandle<()>,
    catalog_writer: JoinHandle<()>,
    helpers: Vec<JoinHandle<()>>,
    paced: Arc<paced::Paced>,
    events_rt: live::IngestRuntime,
    thumbs: crate::thumbs::Thumbnailer,
    /// MQTT and webhooks, when configured.
    integrations: Option<Integrations>,
    /// The clip store's uploader thread.
    remote_thread: Option<JoinHandle<()>>,
    /// The lease keeper of a cluster node (it starts and stops this node's cameras).
    cluster: Option<cluster::Cluster>,
}

impl Runtime {
    /// Prepares the data directories (recovering clips a crash left open), then starts every
    /// configured camera.
    pub fn start(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Runtime> {
        let clips_root = config.clips_root.clone();
        std::fs::create_dir_all(&clips_root)
            .with_context(|| format!("creating {}", clips_root.display()))?;
        std::fs::create_dir_all(&config.server.data_dir)
            .with_context(|| format!("creating {}", config.server.data_dir.display()))?;
        let catalog = Arc::new(Catalog::for_config(&config)?);
        let cameras = with_stored_cameras(&config, &catalog);
        let names: Vec<String> = cameras.iter().map(|c| c.name.clone()).collect();
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
        for c in &cameras {
            retention.set_camera_max_age(&c.name, c.max_age_days);
        }
        let (retention_kick, kicked) = std::sync::mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let retention_thread = {
            let (r, clock, stop) = (retention.clone(), clock.clone(), stop.clone());
            std::thread::Builder::new()
                .name("retention".into())
                .spawn(move || run_retention(&r, &*clock, &kicked, &stop))?
        };
        let remote = match &config.clip_store {
            Some(c) => Some(crate::remote::RemoteStore::new(
                c,
                &clips_root,
                catalog.clone(),
                clock.clone(),
            )?),
            None => None,
        };
        let remote_thread = remote.as_ref().map(|r| r.start()).transpose()?;
        let notices = NoticeBus::new();
        // MQTT and webhooks hear of clips from the catalog writer, once each has its row.
        let (clip_tx, clip_rx) = if Integrations::wanted(&config) {
            let (tx, rx) = tokio::sync::mpsc::channel(crate::integrations::CLIP_QUEUE);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let catalog_writer = {
            let writer = CatalogWriter::new(catalog.clone(), clips_root.clone());
            let sub = notices.subscribe_lossless("catalog");
            let kick = retention_kick.clone();
            let cat = catalog.clone();
            let remote = remote.clone();
            std::thread::Builder::new()
                .name("catalog".into())
                .spawn(move || {
                    writer.run(sub, |n, clip| {
                        // Retention runs after every closed clip, and at once when a write
                        // failed (a full disk is exactly when it must make room).
                        if matches!(n, Notice::ClipClosed(_) | Notice::WriteFailed { .. }) {
                            let _ = kick.send(());
                        }
                        // A closed clip is the clip store's to upload.
                        if let (Notice::ClipClosed(_), Some(r)) = (n, &remote) {
                            r.kick();
                        }
                        let closed = match n {
                            Notice::ClipOpened(_) => false,
                            Notice::ClipClosed(_) => true,
                            _ => return,
                        };
                        if let (Some(tx), Some(id)) = (&clip_tx, clip) {
                            if let Ok(Some(row)) = cat.clip(id) {
                                if tx.try_send(ClipNote { closed, row }).is_err() {
                                    warn!("integrations are behind: a clip was not announced");
                                }
                            }
                        }
                    })
                })?
        };
        let paced = Arc::new(paced::Paced::start("ingest", live::READ_EVERY)?);
        let thumbs = crate::thumbs::Thumbnailer::start()?;
        let events_rt = live::IngestRuntime::events()?;
        let env = Env {
            clock: clock.clone(),
            pool: Pool::new(config.pool_limit),
            catalog: catalog.clone(),
            notices: notices.clone(),
            store: ClipStore::new(&clips_root),
            spool_root,
            paced: paced.clone(),
            events_rt: events_rt.handle().clone(),
            live_queue_bytes: config.server.live_queue_kib as usize * 1024,
            thumbs: thumbs.clone(),
        };
        let integration_stats = Arc::new(IntegrationStats::new(&config));
        // Subscribed before any camera starts, so that it sees them start.
        let integration_notices = clip_rx
            .is_some()
            .then(|| notices.subscribe("integrations", crate::integrations::NOTICE_QUEUE));
        let shared = Shared {
            integrations: integration_stats.clone(),
            pool: env.pool.clone(),
            cameras: CameraSet::new(env),
            started_at: clock.now(),
            catalog,
            retention,
            clock,
            notices,
            config,
            remote,
        };
        let handle = RuntimeHandle {
            shared: Arc::new(shared),
        };
        let integrations = match (integration_notices, clip_rx) {
            (Some(sub), Some(rx)) => Some(Integrations::start(
                handle.clone(),
                integration_stats,
                sub,
                rx,
            )?),
            _ => None,
        };
        let runtime = Runtime {
            handle,
            stop,
            retention_kick,
            retention_thread,
            catalog_writer,
            helpers: Vec::new(),
            paced,
            events_rt,
            thumbs,
            integrations,
            remote_thread,
            cluster: None,
        };
        let mut runtime = runtime;
        if runtime.handle.config().cluster.is_some() {
            // A node records the cameras it holds the lease of (runtime/cluster.rs).
            runtime.cluster = Some(cluster::Cluster::start(runtime.handle.clone())?);
            return Ok(runtime);
        }
        for cam in cameras {
            if let Err(e) = runtime.handle.cameras().start(cam) {
                // Take back what did start before saying why.
                runtime.stop_blocking();
                return Err(e.into());
            }
        }
        Ok(runtime)
    }

    pub fn handle(&self) -> RuntimeHandle {
        self.handle.clone()
    }

    /// A flag that turns true when the runtime stops (for helper threads such as the demo
    /// script).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Adopts a helper thread that ends once [`Runtime::stop_flag`] is set.
    pub fn adopt_thread(&mut self, t: JoinHandle<()>) {
        self.helpers.push(t);
    }

    /// Stops everything in the order of the module docs and waits for it.
    pub async fn shutdown(self) {
        info!("stopping: closing open clips");
        let _ = tokio::task::spawn_blocking(move || self.stop_blocking()).await;
    }

    fn stop_blocking(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.helpers {
            let _ = t.join();
        }
        let shared = &self.handle.shared;
        // A node stops its cameras and gives their leases back first: the others take them
        // over while this one finishes stopping.
        if let Some(c) = self.cluster {
            c.stop();
        }
        shared.cameras.stop_all();
        // The pictures of the last clips are made before the catalog says they are done.
        self.thumbs.stop();
        shared.notices.close();
        let _ = self.catalog_writer.join();
        // After the catalog writer: the last clips are announced, then MQTT says goodbye.
        if let Some(i) = self.integrations {
            i.stop();
        }
        let _ = self.retention_kick.send(()); // wakes the retention thread to see the stop
        let _ = self.retention_thread.join();
        // An upload in progress stops between parts; its journal lets the next start go on.
        if let (Some(r), Some(t)) = (&shared.remote, self.remote_thread) {
            r.stop();
            let _ = t.join();
        }
        self.paced.stop();
        self.events_rt.stop();
        info!("stopped");
    }
}

impl RuntimeHandle {
    pub fn config(&self) -> &Config {
        &self.shared.config
    }
    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.shared.catalog
    }
    pub fn retention(&self) -> &Arc<Retention> {
        &self.shared.retention
    }
    /// Who records which camera, and where the nodes are (empty without `[cluster]`).
    pub fn cluster_view(&self) -> cluster::ClusterView {
        let Some(c) = &self.shared.config.cluster else {
            return cluster::ClusterView::default();
        };
        let cat = &self.shared.catalog;
        let lease_us = i64::from(c.lease_secs) * 1_000_000;
        let view = (|| -> crate::catalog::Result<cluster::ClusterView> {
            let now = cat.db_now()?;
            Ok(cluster::ClusterView {
                // Lapsed leases say nothing about who records now.
                leases: cat
                    .leases()?
                    .into_iter()
                    .filter(|l| l.expires_at >= now)
                    .collect(),
                nodes: cat.nodes(now - lease_us)?,
            })
        })();
        view.unwrap_or_else(|e| {
            warn!("cluster: cannot read the leases: {e}");
            cluster::ClusterView::default()
        })
    }

    /// Every camera of the configuration and the catalog (a node of a cluster lists those
    /// other nodes record too).
    pub fn all_camera_configs(&self) -> Vec<crate::config::CameraConfig> {
        with_stored_cameras(&self.shared.config, &self.shared.catalog)
    }

    /// The clip store, when `[clip_store]` is set.
    pub fn remote(&self) -> Option<&Arc<crate::remote::RemoteStore>> {
        self.shared.remote.as_ref()
    }
    pub fn pool(&self) -> &Pool {
        &self.shared.pool
    }
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.shared.clock
    }
    pub fn started_at(&self) -> Time {
        self.shared.started_at
    }
    pub fn clips_root(&self) -> &PathBuf {
        &self.shared.config.clips_root
    }
    /// The camera set: look cameras up, start, stop, restart, configure them.
    pub fn cameras(&self) -> &CameraSet {
        &self.shared.cameras
    }
    pub fn camera(&self, name: &str) -> Option<Arc<Camera>> {
        self.shared.cameras.get(name)
    }
    /// MQTT's and the webhooks' figures (`GET /api/integrations`).
    pub fn integrations(&self) -> &Arc<IntegrationStats> {
        &self.shared.integrations
    }
    /// The stream of camera notices, to subscribe to.
    pub fn notices(&self) -> &NoticeBus {
        &self.shared.notices
    }

    /// ONVIF counters per camera, as (metric name, help, [(camera, value)]).
    pub fn onvif_metrics(&self) -> Vec<MetricSeries> {
        let mut counters: Vec<(String, (u64, u64, u64))> = self
            .shared
            .cameras
            .list()
            .iter()
            .filter_map(|c| Some((c.name().to_owned(), c.onvif_counters()?)))
            .collect();
        counters.sort_by(|a, b| a.0.cmp(&b.0));
        let pick = |f: fn((u64, u64, u64)) -> u64| -> Vec<(String, u64)> {
            counters.iter().map(|(n, c)| (n.clone(), f(*c))).collect()
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
        let retention = &self.shared.retention;
        let policy = retention.policy();
        if let (Some(min), Some(disk)) = (policy.min_free, retention.disk()) {
            let want = min.bytes(disk.total_bytes);
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
        if let Some(e) = retention.state().last_error {
            out.push(serde_json::json!({ "kind": "retention", "message": e }));
        }
        if let Some(r) = &self.shared.remote {
            let st = r.state();
            if let Some(e) = st.last_error {
                out.push(serde_json::json!({
                    "kind": "clip_store",
                    "since": st.down_since,
                    "message": format!("the clip store doesn't answer; clips stay on this machine and are uploaded when it does: {e}"),
                }));
            }
        }
        for c in self.shared.cameras.list() {
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

/// The cameras to start: the config file's, each replaced by its keys changed through the API
/// when there are some, then the ones added through the API (docs/cameras.md). A stored camera
/// that no longer checks out (a config-file `[defaults]` change can make one invalid) is said
/// and left out (a config-file camera then runs with the file's keys).
fn with_stored_cameras(config: &Config, catalog: &Catalog) -> Vec<crate::config::CameraConfig> {
    let mut cameras = config.cameras.clone();
    let stored = match catalog.stored_cameras() {
        Ok(s) => s,
        Err(e) => {
            warn!("cannot read the cameras saved through the API: {e}");
            return cameras;
        }
    };
    for s in stored {
        let cam = crate::config::CameraEntry::from_json(&s.entry)
            .and_then(|e| e.resolve(&config.defaults, ""));
        let mut cam = match cam {
            Ok(c) => c,
            Err(e) => {
                warn!(camera = %s.name, "the camera saved through the API is not valid any more ({e}); left out");
                continue;
            }
        };
        match cameras.iter_mut().find(|c| c.name == cam.name) {
            Some(file) => {
                info!(camera = %cam.name, "using the camera's keys saved through the API (they replace the config file's)");
                *file = cam;
            }
            None => {
                cam.from_api = true;
                cameras.push(cam);
            }
        }
    }
    cameras
}
