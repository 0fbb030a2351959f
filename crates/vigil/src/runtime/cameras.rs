//! The camera set: the one place that starts, stops and restarts a camera by name — its worker
//! thread, its source (RTSP task or `file:` thread) and its motion-event client (ONVIF task) —
//! while the others keep recording. Settings changes from the API go through it too.
//!
//! A camera is stopped in this order: its source and event client are told to stop (the ONVIF
//! client unsubscribes, within [`STOP_GRACE`]); then its worker closes the open clip and ends;
//! then the camera set publishes [`Notice::Stopped`], after every notice of the worker. The
//! pre-buffer leaves the pool with the worker, so the name can be registered again at once.
//!
//! Readers (the HTTP side) get an `Arc<Camera>` to look at; the threads and tasks are *taken*
//! out of it when the camera stops, so a reader still holding one never keeps anything alive
//! that a stop must wait for.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context;
use tracing::{info, warn};
use vigil_core::pool::Pool;
use vigil_core::prebuffer::BufferConfig;
use vigil_core::settings::{BufferMode, RecordingSettings};
use vigil_core::time::{Clock, Time};

use super::live::{self, EventSourceHealth, Freshener};
use super::paced::{Paced, Slot};
use crate::camera::{self, CameraHandle, CameraMsg, CameraPipeline, CameraStatus};
use crate::catalog::Catalog;
use crate::clips::{safe_name, ClipStore};
use crate::config::{CameraConfig, Transport};
use crate::ingest::file::{path_from_url, LoopingFile};
use crate::ingest::rtsp::{fresh_channel, IngestSnapshot, IngestStats};
use crate::liveview::LiveFeed;
use crate::notice::{Notice, NoticeBus};

/// How long a stopping camera's source and event client get to end by themselves (an ONVIF
/// client unsubscribes meanwhile) before they are cancelled.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Why the camera set refused a command.
#[derive(Debug, thiserror::Error)]
pub enum CameraSetError {
    #[error("no camera named {0:?}")]
    NotFound(String),
    #[error("a camera named {0:?} is already running")]
    Exists(String),
    #[error("the recorder is shutting down")]
    Closed,
    #[error("camera {name:?}: {source:#}")]
    Start { name: String, source: anyhow::Error },
    #[error("camera {name:?}: settings not saved: {source}")]
    Save {
        name: String,
        source: crate::catalog::CatalogError,
    },
    #[error("camera {0:?}: its worker is gone")]
    WorkerGone(String),
}

/// What starting a camera needs; shared by every camera of the set.
pub(super) struct Env {
    pub clock: Arc<dyn Clock>,
    pub pool: Pool,
    pub catalog: Arc<Catalog>,
    pub notices: NoticeBus,
    pub store: ClipStore,
    pub spool_root: PathBuf,
    /// RTSP over TCP: a paced slot per camera.
    pub paced: Arc<Paced>,
    /// ONVIF clients and RTSP over UDP.
    pub events_rt: tokio::runtime::Handle,
    /// A live viewer's queue limit.
    pub live_queue_bytes: usize,
    /// Makes each motion clip's picture.
    pub thumbs: crate::thumbs::Thumbnailer,
}

/// A task or thread of a camera, and how to wait for its end.
enum Runner {
    /// A task on one of the ingest runtimes; `done` gets a message when it returns.
    Task {
        task: tokio::task::JoinHandle<()>,
        done: std::sync::mpsc::Receiver<()>,
    },
    /// The `file:` source's thread.
    Thread(std::thread::JoinHandle<()>),
}

impl Runner {
    fn task(
        rt: &tokio::runtime::Handle,
        fut: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Runner {
        let (tx, done) = std::sync::mpsc::channel();
        let task = rt.spawn(async move {
            fut.await;
            let _ = tx.send(());
        });
        Runner::Task { task, done }
    }

    /// Waits until `deadline` for it to end by itself, then cancels it. Blocks.
    fn finish(self, deadline: std::time::Instant, what: &str, camera: &str) {
        match self {
            Runner::Task { task, done } => {
                let left = deadline.saturating_duration_since(std::time::Instant::now());
                if done.recv_timeout(left).is_err() && !task.is_finished() {
                    warn!(
                        camera,
                        "{what} did not stop within {STOP_GRACE:?}: cancelled"
                    );
                    task.abort();
                }
            }
            // Checks its stop flag at least every 100 ms.
            Runner::Thread(t) => {
                let _ = t.join();
            }
        }
    }
}

/// One running camera, as readers see it.
pub struct Camera {
    config: CameraConfig,
    worker: CameraHandle,
    ingest: Option<Arc<IngestStats>>,
    onvif: Option<Arc<dyn EventSourceHealth>>,
    live: Arc<LiveFeed>,
    fresh: Freshener,
    /// Its paced slot (RTSP over TCP), removed when it stops.
    slot: Option<Arc<Slot>>,
    /// Tells the source and the event client to stop.
    stop_tx: tokio::sync::watch::Sender<bool>,
    stop_flag: Arc<AtomicBool>,
    /// Taken when the camera stops.
    runners: Mutex<Vec<(&'static str, Runner)>>,
    /// Its motion detector (`detect = true`).
    detector: Option<Arc<crate::detect::Detector>>,
    /// Its `detect*` keys now (changed live through the API).
    detect_keys: Mutex<crate::detect::DetectKeys>,
}

impl Camera {
    pub fn name(&self) -> &str {
        &self.config.name
    }
    /// The camera's configuration (with its password: never show it as is).
    pub fn config(&self) -> &CameraConfig {
        &self.config
    }
    pub fn status(&self) -> CameraStatus {
        self.worker.status()
    }
    pub fn settings(&self) -> RecordingSettings {
        self.worker.settings()
    }
    /// The newest keyframe of its detect stream, when that is H.264 (an H.265 camera's
    /// snapshot).
    pub fn detect_picture(
        &self,
    ) -> Option<(
        Arc<vigil_core::packet::StreamParams>,
        Vec<vigil_core::packet::Packet>,
    )> {
        self.detector.as_ref()?.picture_at(Time(i64::MAX))
    }
    /// Its `detect*` keys, as they are now.
    pub fn detect_keys(&self) -> crate::detect::DetectKeys {
        lock(&self.detect_keys).clone()
    }
    /// What its motion detector does (`None` without `detect = true`).
    pub fn detect_stats(&self) -> Option<crate::detect::DetectStats> {
        self.detector.as_ref().map(|d| d.stats())
    }
    /// Sends `msg` to the worker and wakes it. False when the worker is gone.
    pub fn send(&self, msg: CameraMsg) -> bool {
        self.worker.send(msg)
    }
    /// Figures of its RTSP session (none for a `file:` camera).
    pub fn ingest(&self) -> Option<IngestSnapshot> {
        self.ingest.as_ref().map(|s| s.snapshot())
    }
    /// Its ONVIF event client's health, as JSON (none without ONVIF).
    pub fn onvif_health(&self) -> Option<serde_json::Value> {
        self.onvif.as_ref().map(|h| h.json())
    }
    /// (pulls, errors, renewals) of its ONVIF client.
    pub fn onvif_counters(&self) -> Option<(u64, u64, u64)> {
        self.onvif.as_ref().map(|h| h.counters())
    }
    /// Its live view.
    pub fn live(&self) -> &Arc<LiveFeed> {
        &self.live
    }
    /// Returns once its source has taken in what waits in its socket: call before handing on a
    /// motion event (`live::Freshener`).
    pub async fn fresh(&self) {
        self.fresh.fresh().await
    }

    /// Tells the source and event client to stop, without waiting; ends its viewers' streams.
    fn signal_stop(&self) {
        self.stop_flag.store(true, Ordering::Relaxed);
        let _ = self.stop_tx.send(true);
        self.live.close();
        if let Some(slot) = &self.slot {
            // Seen at once, not at the next paced round.
            slot.kick();
        }
    }

    /// Waits for the source and event client (until `deadline`), then closes the worker's clip
    /// and ends it. Blocks.
    fn finish(&self, deadline: std::time::Instant) {
        let runners =
            std::mem::take(&mut *self.runners.lock().unwrap_or_else(PoisonError::into_inner));
        for (what, r) in runners {
            r.finish(deadline, what, self.name());
        }
        // The detector ends its motion, if on, before the worker closes the clip.
        if let Some(d) = &self.detector {
            d.stop();
        }
        self.worker.shutdown();
    }
}

/// Every running camera, in the order they were started (a restarted camera keeps its place).
pub struct CameraSet {
    env: Env,
    cameras: Mutex<Vec<Arc<Camera>>>,
    /// Names being started or stopped: a second command on the same camera waits its turn.
    busy: Mutex<Vec<String>>,
    busy_done: std::sync::Condvar,
    closed: AtomicBool,
}

/// Marks a camera name busy while a command works on it.
struct Busy<'a> {
    set: &'a CameraSet,
    name: String,
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut busy = self.set.busy.lock().unwrap_or_else(PoisonError::into_inner);
        busy.retain(|n| *n != self.name);
        self.set.busy_done.notify_all();
    }
}

impl CameraSet {
    pub(super) fn new(env: Env) -> CameraSet {
        CameraSet {
            env,
            cameras: Mutex::new(Vec::new()),
            busy: Mutex::new(Vec::new()),
            busy_done: std::sync::Condvar::new(),
            closed: AtomicBool::new(false),
        }
    }

    fn list_lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Camera>>> {
        self.cameras.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn claim(&self, name: &str) -> Busy<'_> {
        let mut busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
        while busy.iter().any(|n| n == name) {
            busy = self
                .busy_done
                .wait(busy)
                .unwrap_or_else(PoisonError::into_inner);
        }
        busy.push(name.to_owned());
        Busy {
            set: self,
            name: name.to_owned(),
        }
    }

    /// Every running camera.
    pub fn list(&self) -> Vec<Arc<Camera>> {
        self.list_lock().clone()
    }

    pub fn get(&self, name: &str) -> Option<Arc<Camera>> {
        self.list_lock().iter().find(|c| c.name() == name).cloned()
    }

    pub fn names(&self) -> Vec<String> {
        self.list_lock()
            .iter()
            .map(|c| c.name().to_owned())
            .collect()
    }

    /// Starts `cfg`'s camera: worker, source, event client. Blocks briefly (threads start).
    pub fn start(&self, cfg: CameraConfig) -> Result<(), CameraSetError> {
        let _busy = self.claim(&cfg.name);
        self.start_claimed(cfg, None)
    }

    fn start_claimed(&self, cfg: CameraConfig, at: Option<usize>) -> Result<(), CameraSetError> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(CameraSetError::Closed);
        }
        if self.get(&cfg.name).is_some() {
            return Err(CameraSetError::Exists(cfg.name));
        }
        let name = cfg.name.clone();
        let cam = self.spawn(cfg).map_err(|source| CameraSetError::Start {
            name: name.clone(),
            source,
        })?;
        let mut list = self.list_lock();
        let at = at.unwrap_or(list.len()).min(list.len());
        list.insert(at, Arc::new(cam));
        drop(list);
        self.env.notices.publish(
            &name,
            Notice::Started {
                at: self.env.clock.now(),
            },
        );
        info!(camera = %name, "camera started");
        Ok(())
    }

    /// Returns the stopped camera's configuration and place in the list.
    fn stop_claimed(&self, name: &str) -> Result<(CameraConfig, usize), CameraSetError> {
        let (cam, at) = {
            let mut list = self.list_lock();
            let at = list
                .iter()
                .position(|c| c.name() == name)
                .ok_or_else(|| CameraSetError::NotFound(name.to_owned()))?;
            (list.remove(at), at)
        };
        cam.signal_stop();
        cam.finish(std::time::Instant::now() + STOP_GRACE);
        if let Some(slot) = &cam.slot {
            self.env.paced.remove(slot);
        }
        self.env.notices.publish(
            name,
            Notice::Stopped {
                at: self.env.clock.now(),
            },
        );
        info!(camera = %name, "camera stopped");
        Ok((cam.config.clone(), at))
    }

    /// Stops one camera and takes it out of the set (module docs; [`Notice::Removed`]); the
    /// others keep recording. Blocks up to [`STOP_GRACE`] and the time its worker takes to
    /// close the clip.
    pub fn stop(&self, name: &str) -> Result<(), CameraSetError> {
        let _busy = self.claim(name);
        self.stop_claimed(name)?;
        self.env.notices.publish(
            name,
            Notice::Removed {
                at: self.env.clock.now(),
            },
        );
        Ok(())
    }

    /// Stops and starts one camera with the same configuration (and the settings saved for it).
    pub fn restart(&self, name: &str) -> Result<(), CameraSetError> {
        let _busy = self.claim(name);
        let (cfg, at) = self.stop_claimed(name)?;
        self.start_claimed(cfg, Some(at))
    }

    /// Stops camera `name` and starts `cfg` in its place (a new URL, new keys, a new name): the
    /// other cameras keep recording. When `cfg` can't start, the old camera is started again
    /// and the error returned.
    pub fn replace(&self, name: &str, cfg: CameraConfig) -> Result<(), CameraSetError> {
        let _busy = self.claim(name);
        let _renamed = (cfg.name != name).then(|| self.claim(&cfg.name));
        if cfg.name != name && self.get(&cfg.name).is_some() {
            return Err(CameraSetError::Exists(cfg.name));
        }
        let (old, at) = self.stop_claimed(name)?;
        let renamed = cfg.name != name;
        match self.start_claimed(cfg, Some(at)) {
            Ok(()) => {
                if renamed {
                    self.env.notices.publish(
                        name,
                        Notice::Removed {
                            at: self.env.clock.now(),
                        },
                    );
                }
                Ok(())
            }
            Err(e) => {
                warn!(camera = %name, "the new configuration did not start ({e}); starting the old one again");
                if let Err(e2) = self.start_claimed(old, Some(at)) {
                    warn!(camera = %name, "the old configuration did not start either: {e2}");
                }
                Err(e)
            }
        }
    }

    /// Running camera `name` (claimed by the caller), once `save` has kept what is about to
    /// change in the catalog.
    fn saved(
        &self,
        name: &str,
        save: impl FnOnce(&Catalog) -> crate::catalog::Result<()>,
    ) -> Result<Arc<Camera>, CameraSetError> {
        let cam = self
            .get(name)
            .ok_or_else(|| CameraSetError::NotFound(name.to_owned()))?;
        save(&self.env.catalog).map_err(|source| CameraSetError::Save {
            name: name.to_owned(),
            source,
        })?;
        Ok(cam)
    }

    /// Saves `settings` for the camera and applies them live. They must be valid (the caller
    /// validated them and reported errors).
    pub fn configure(&self, name: &str, settings: RecordingSettings) -> Result<(), CameraSetError> {
        let _busy = self.claim(name);
        let cam = self.saved(name, |c| c.save_settings(name, &settings))?;
        cam.live
            .set_keep_gop(settings.buffer_mode != BufferMode::Disk);
        let (enabled, record_on) = (settings.enabled, settings.record_on);
        if !cam.worker.configure(settings) {
            return Err(CameraSetError::WorkerGone(name.to_owned()));
        }
        self.env.notices.publish(
            name,
            Notice::Configured {
                enabled,
                record_on,
                at: self.env.clock.now(),
            },
        );
        Ok(())
    }

    /// Saves a camera's detection keys (checked by the caller) and applies them: thresholds,
    /// zones and masks live, from the detector's next frame; turning detection on or off or
    /// another detect stream restarts the camera (its clip, if one is open, is closed and
    /// motion that goes on opens the next).
    pub fn configure_detect(
        &self,
        name: &str,
        keys: crate::detect::DetectKeys,
    ) -> Result<(), CameraSetError> {
        let _busy = self.claim(name);
        let cam = self.saved(name, |c| c.save_detect(name, &keys))?;
        let restart = cam.detect_keys().needs_restart(&keys);
        match keys.check("") {
            Ok(Some(d)) if !restart => {
                if let Some(det) = &cam.detector {
                    cam.worker.send(CameraMsg::Lead(crate::detect::lead(&d)));
                    det.reconfigure(d);
                }
                *lock(&cam.detect_keys) = keys;
                Ok(())
            }
            Ok(None) if !restart => {
                *lock(&cam.detect_keys) = keys;
                Ok(())
            }
            _ => {
                let (cfg, at) = self.stop_claimed(name)?;
                // The saved keys are applied by the start.
                self.start_claimed(cfg, Some(at))
            }
        }
    }

    /// Refuses new starts and stops every camera: all sources and event clients are told at
    /// once and get [`STOP_GRACE`] together, then every worker closes its clip. Blocks.
    pub fn stop_all(&self) {
        self.closed.store(true, Ordering::Relaxed);
        let cams = std::mem::take(&mut *self.list_lock());
        for c in &cams {
            c.signal_stop();
        }
        let deadline = std::time::Instant::now() + STOP_GRACE;
        for c in &cams {
            c.finish(deadline);
            if let Some(slot) = &c.slot {
                self.env.paced.remove(slot);
            }
            self.env.notices.publish(
                c.name(),
                Notice::Stopped {
                    at: self.env.clock.now(),
                },
            );
        }
    }

    fn spawn(&self, mut cfg: CameraConfig) -> anyhow::Result<Camera> {
        let env = &self.env;
        env.catalog.camera_id(&cfg.name)?;
        // Detection settings saved through the API replace the config file's.
        match env.catalog.load_detect(&cfg.name) {
            Ok(Some(keys)) => {
                info!(camera = %cfg.name, "using the detection settings saved through the API");
                cfg.detect = keys.check("").unwrap_or(None);
                cfg.detect_keys = keys;
            }
            Ok(None) => {}
            Err(e) => warn!(camera = %cfg.name, "ignoring saved detection settings: {e}"),
        }
        // Settings saved through the API outlive the config file's.
        let settings = match env.catalog.load_settings(&cfg.name, &cfg.settings) {
            Ok(Some(s)) => {
                info!(camera = %cfg.name, "using the settings saved through the API");
                s
            }
            Ok(None) => cfg.settings.clone(),
            Err(e) => {
                warn!(camera = %cfg.name, "ignoring saved settings: {e}");
                cfg.settings.clone()
            }
        };
        let keep_gop = settings.buffer_mode != BufferMode::Disk;
        let spool = env.spool_root.join(safe_name(&cfg.name));
        let buffer = env.pool.register(
            &cfg.name,
            BufferConfig::from_settings(&settings, spool.clone()),
        )?;
        if let Some(d) = &cfg.detect {
            // The detector reports motion a moment after the frame that showed it.
            buffer.set_lead(crate::detect::lead(d));
        }
        let mut pipeline =
            CameraPipeline::new(&cfg.name, settings, buffer, env.store.clone(), spool);
        pipeline.set_thumbnailer(env.thumbs.clone());
        // An H.265 clip's picture comes from the detector's stream (when it is H.264); the
        // detector starts after the worker, so it is found through this slot.
        let picture_from: Arc<std::sync::OnceLock<Arc<crate::detect::Detector>>> = Arc::default();
        if cfg.detect.is_some() {
            let slot = picture_from.clone();
            pipeline.set_picture_source(Arc::new(move |at| slot.get()?.picture_at(at)));
        }
        let bus = env.notices.clone();
        let worker = camera::spawn(pipeline, env.clock.clone(), move |camera, n| {
            bus.publish(camera, n)
        })?;
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stop_flag = Arc::new(AtomicBool::new(false));
        let mut runners = Vec::new();
        let mut ingest = None;
        let mut slot = None;
        let mut fresh = Freshener::default();
        let mut live = LiveFeed::new(keep_gop, env.live_queue_bytes, None);
        let detector = match &cfg.detect {
            Some(d) => Some(crate::detect::Detector::spawn(
                &cfg.name,
                d.clone(),
                worker.sender(),
                env.clock.clone(),
            )?),
            None => None,
        };
        if let Some(d) = &detector {
            let _ = picture_from.set(d.clone());
        }
        // The detector on the camera's own stream: it sees what the live feed sees (while
        // `on_main`: a camera with ONVIF moves it to its sub-stream once it is known).
        let on_main = Arc::new(AtomicBool::new(true));
        let tap_main = |live: &LiveFeed| {
            if let (Some(det), None) = (&detector, cfg.detect.as_ref().and_then(|d| d.url.as_ref()))
            {
                let (det, on) = (det.clone(), on_main.clone());
                live.set_tap(Box::new(move |ev| {
                    if on.load(Ordering::Relaxed) {
                        det.offer(ev)
                    }
                }));
            }
        };
        let started = (|| -> anyhow::Result<Option<Arc<dyn EventSourceHealth>>> {
            match cfg.url.as_deref() {
                Some(url) if url.starts_with("file:") => {
                    let path =
                        path_from_url(url).with_context(|| format!("bad file: URL {url:?}"))?;
                    let source = LoopingFile::open(&path, env.clock.monotonic())
                        .with_context(|| format!("opening {}", path.display()))?;
                    let tx = worker.sender();
                    let (clock, stop) = (env.clock.clone(), stop_flag.clone());
                    tap_main(&live);
                    let feed = live.clone();
                    let send = move |ev| {
                        feed.observe(&ev);
                        tx.send_source(ev)
                    };
                    let t = std::thread::Builder::new()
                        .name(format!("src-{}", cfg.name))
                        .spawn(move || source.run_paced(clock, send, stop))?;
                    runners.push(("the file source", Runner::Thread(t)));
                }
                // An rtsp:// URL, or none (then the camera's ONVIF service gives it).
                _ => {
                    let stats = Arc::new(IngestStats::new());
                    ingest = Some(stats.clone());
                    let (ask, requests) = fresh_channel();
                    let rt = match cfg.transport {
                        Transport::Tcp => {
                            let s = env.paced.add(&cfg.name)?;
                            // Watched, the camera is read at once (runtime::paced).
                            let w = s.clone();
                            live = LiveFeed::new(
                                keep_gop,
                                env.live_queue_bytes,
                                Some(Box::new(move |on| w.set_watched(on))),
                            );
                            fresh = Freshener::new(ask, Some(s.clone()));
                            slot.insert(s).handle().clone()
                        }
                        Transport::Udp => {
                            fresh = Freshener::new(ask, None);
                            env.events_rt.clone()
                        }
                    };
                    tap_main(&live);
                    let fut = live::rtsp_task(
                        &cfg,
                        env.clock.clone(),
                        worker.sender(),
                        live.clone(),
                        stats,
                        stop_rx.clone(),
                        requests,
                    );
                    runners.push(("the RTSP source", Runner::task(&rt, fut)));
                }
            }
            // A detect stream of its own.
            if let (Some(det), Some(url)) =
                (&detector, cfg.detect.as_ref().and_then(|d| d.url.clone()))
            {
                if url.starts_with("file:") {
                    let path =
                        path_from_url(&url).with_context(|| format!("bad detect_url {url:?}"))?;
                    let source = LoopingFile::open(&path, env.clock.monotonic())
                        .with_context(|| format!("opening {}", path.display()))?;
                    let (clock, stop, det) = (env.clock.clone(), stop_flag.clone(), det.clone());
                    let t = std::thread::Builder::new()
                        .name(format!("det-{}", cfg.name))
                        .spawn(move || {
                            source.run_paced(
                                clock,
                                move |ev| {
                                    det.offer(&ev);
                                    true
                                },
                                stop,
                            )
                        })?;
                    runners.push(("the detect stream", Runner::Thread(t)));
                } else {
                    let fut = live::detect_rtsp_task(
                        &cfg,
                        url,
                        env.clock.clone(),
                        det.clone(),
                        stop_rx.clone(),
                    );
                    runners.push(("the detect stream", Runner::task(&env.events_rt, fut)));
                }
            }
            let Some(device) = cfg.onvif.as_deref() else {
                return Ok(None);
            };
            // No detect_url: the camera's ONVIF sub-stream, when it has one.
            if let (Some(det), None) = (&detector, cfg.detect.as_ref().and_then(|d| d.url.as_ref()))
            {
                let fut = live::detect_onvif_task(
                    &cfg,
                    device,
                    env.clock.clone(),
                    det.clone(),
                    on_main.clone(),
                    stop_rx.clone(),
                );
                runners.push(("the detect stream", Runner::task(&env.events_rt, fut)));
            }
            let (fut, health) = live::onvif_task(
                &cfg,
                device,
                env.clock.clone(),
                worker.sender(),
                fresh.clone(),
                env.notices.clone(),
                stop_rx,
            );
            runners.push(("the ONVIF event client", Runner::task(&env.events_rt, fut)));
            Ok(Some(health))
        })();
        let onvif = match started {
            Ok(h) => h,
            Err(e) => {
                // Whatever did start ends with the worker.
                stop_flag.store(true, Ordering::Relaxed);
                let _ = stop_tx.send(true);
                let deadline = std::time::Instant::now() + STOP_GRACE;
                for (what, r) in runners {
                    r.finish(deadline, what, &cfg.name);
                }
                if let Some(d) = &detector {
                    d.stop();
                }
                if let Some(s) = &slot {
                    env.paced.remove(s);
                }
                worker.shutdown();
                return Err(e);
            }
        };
        Ok(Camera {
            worker,
            ingest,
            onvif,
            live,
            fresh,
            slot,
            stop_tx,
            stop_flag,
            runners: Mutex::new(runners),
            detector,
            detect_keys: Mutex::new(cfg.detect_keys.clone()),
            config: cfg,
        })
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
