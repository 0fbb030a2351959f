//! Live cameras: one tokio task per camera for its RTSP stream (reconnecting forever) and one
//! for its ONVIF events (the PullPoint lifecycle), both feeding the camera's worker through its
//! channel. A camera configured with only `onvif` gets its stream URL from the camera first
//! (GetProfiles + GetStreamUri), retried with backoff until it answers.
//!
//! These tasks run on an [`IngestRuntime`] of their own: one thread, no work stealing, never
//! shared with the HTTP server (whose handlers query SQLite and may block for a while).
//! One thread serving every camera socket also wakes far less often than a pool of them, where
//! a task woken on one worker wakes another to steal (docs/PERFORMANCE.md).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};
use vigil_core::recorder::MotionSource;
use vigil_core::time::Clock;

use crate::app::EventSourceHealth;
use crate::camera::{CameraMsg, CameraTx};
use crate::config::{CameraConfig, Transport};
use crate::ingest::rtsp::{self, IngestStats, RtspConfig};

/// The runtime the camera tasks run on (module docs). Dropping it without [`IngestRuntime::stop`]
/// also ends its thread, cancelling what still runs.
pub struct IngestRuntime {
    handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl IngestRuntime {
    pub fn start() -> std::io::Result<IngestRuntime> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("ingest".into())
            .spawn(move || {
                // Ends on `stop` or when the sender is dropped; dropping `rt` here cancels any
                // task still running.
                let _ = rt.block_on(stopped);
            })?;
        Ok(IngestRuntime {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }

    /// Ends the runtime's thread (tasks still running are cancelled) and waits for it.
    /// Blocks: call it off the async runtime.
    pub fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for IngestRuntime {
    fn drop(&mut self) {
        // Without joining: a drop may happen on an async thread.
        self.stop.take();
    }
}

/// Resolves when `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|v| *v).await;
}

pub fn onvif_config(cam: &CameraConfig, url: &str) -> vigil_onvif::CameraConfig {
    let mut c = vigil_onvif::CameraConfig::new(
        &cam.name,
        url,
        cam.username.as_deref().unwrap_or(""),
        cam.password.as_deref().unwrap_or(""),
    );
    c.extra_topics = cam
        .onvif_topics
        .iter()
        .filter_map(|t| t.parse().ok())
        .collect();
    c
}

/// The RTSP ingest task of `cam` (its `url`, or the one its ONVIF service gives).
pub fn spawn_rtsp(
    rt: &tokio::runtime::Handle,
    cam: &CameraConfig,
    clock: Arc<dyn Clock>,
    tx: CameraTx,
    stats: Arc<IngestStats>,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let cam = cam.clone();
    rt.spawn(async move {
        let url = match cam.url.clone() {
            Some(u) => u,
            None => {
                let Some(onvif) = cam.onvif.clone() else {
                    return;
                };
                let cfg = onvif_config(&cam, &onvif);
                let mut wait = Duration::from_secs(1);
                loop {
                    tokio::select! {
                        _ = stopped(stop.clone()) => return,
                        r = vigil_onvif::stream_uri(&cfg, clock.clone()) => match r {
                            Ok(u) => {
                                info!(camera = %cam.name, "stream URL from ONVIF: {u}");
                                break u;
                            }
                            Err(e) => warn!(camera = %cam.name, "no stream URL from ONVIF yet ({e}); retrying in {wait:?}"),
                        },
                    }
                    tokio::select! {
                        _ = stopped(stop.clone()) => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                    wait = (wait * 2).min(Duration::from_secs(30));
                }
            }
        };
        let mut cfg = RtspConfig::new(url);
        cfg.username = cam.username.clone();
        cfg.password = cam.password.clone();
        cfg.transport = match cam.transport {
            Transport::Tcp => rtsp::Transport::Tcp,
            Transport::Udp => rtsp::Transport::Udp,
        };
        rtsp::run(
            cfg,
            clock,
            stats,
            move |ev| tx.send_source(ev),
            stopped(stop),
        )
        .await;
    })
}

/// The health of a camera's ONVIF client, as the API shows it.
struct OnvifHealth(watch::Receiver<vigil_onvif::Health>);

impl EventSourceHealth for OnvifHealth {
    fn json(&self) -> serde_json::Value {
        serde_json::to_value(&*self.0.borrow()).unwrap_or(serde_json::Value::Null)
    }
    fn counters(&self) -> (u64, u64, u64) {
        let h = self.0.borrow();
        (h.pulls, h.errors, h.renewals)
    }
}

/// The ONVIF event task of `cam`: the camera's motion state (the OR of all its motion topics)
/// drives motion start/end; `Initialized` messages sync it.
pub fn spawn_onvif(
    rt: &tokio::runtime::Handle,
    cam: &CameraConfig,
    device_url: &str,
    clock: Arc<dyn Clock>,
    tx: CameraTx,
    stop: watch::Receiver<bool>,
) -> (JoinHandle<()>, Arc<dyn EventSourceHealth>) {
    let cfg = onvif_config(cam, device_url);
    let (health_tx, health_rx) = watch::channel(vigil_onvif::Health::default());
    let (ev_tx, mut ev_rx) = tokio::sync::mpsc::channel::<vigil_onvif::MotionEvent>(64);
    let name = cam.name.clone();
    let task = rt.spawn(async move {
        let client = vigil_onvif::run_events(cfg, clock, ev_tx, health_tx, stopped(stop));
        let forward = async move {
            let mut on = false;
            while let Some(ev) = ev_rx.recv().await {
                if ev.camera_motion == on {
                    continue;
                }
                on = ev.camera_motion;
                let msg = if on {
                    CameraMsg::MotionStart {
                        source: MotionSource::Onvif,
                        until: None,
                        received: Instant::now(),
                        camera_time: ev.camera_time,
                    }
                } else {
                    CameraMsg::MotionEnd {
                        source: MotionSource::Onvif,
                        camera_time: ev.camera_time,
                    }
                };
                if !tx.send(msg) {
                    return;
                }
            }
        };
        // The client returns after unsubscribing on stop; then the forwarder sees its channel
        // close and ends too.
        tokio::join!(client, forward);
        info!(camera = %name, "ONVIF events stopped");
    });
    (task, Arc::new(OnvifHealth(health_rx)))
}
