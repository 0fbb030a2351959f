//! `vigil demo`: the whole pipeline with no camera at all.
//!
//! Three synthetic cameras play bundled sample videos (H.264; H.265; H.264 with AAC audio) in a loop
//! at real-time rate through the same [`LoopingFile`] → [`CameraPipeline`] path a live camera uses.
//! A scripted motion pattern exercises every interesting transition: an event whose motion ends and
//! comes back during the post-roll (same clip), an overlapping API pulse (same clip), and a later
//! separate event (new clip). Clips land under `DIR/clips`; the status page is on `--listen`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tracing::info;
use vigil_core::fmp4::Mp4File;
use vigil_core::pool::Pool;
use vigil_core::prebuffer::BufferConfig;
use vigil_core::recorder::MotionSource;
use vigil_core::settings::RecordingSettings;
use vigil_core::time::{Clock, SystemClock, Time};

use crate::camera::{self, CameraHandle, CameraMsg, CameraPipeline, Notice};
use crate::clips::{ClipRecord, ClipStore};
use crate::ingest::file::LoopingFile;
use crate::web;

pub const DEFAULT_POOL_BYTES: u64 = 50 << 20;

/// The bundled sample videos: (camera name, MP4 bytes).
pub const SAMPLES: [(&str, &[u8]); 3] = [
    (
        "lobby-h264",
        include_bytes!("../assets/samples/demo_h264.mp4"),
    ),
    (
        "yard-h265",
        include_bytes!("../assets/samples/demo_h265.mp4"),
    ),
    (
        "door-h264-aac",
        include_bytes!("../assets/samples/demo_h264_aac.mp4"),
    ),
];

/// One step of the scripted motion: at `at` seconds into the cycle, do `what`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Step {
    Start(MotionSource),
    End(MotionSource),
    Pulse(MotionSource, f64),
}

/// The motion script, repeated every [`CYCLE_SECS`]; each camera runs it shifted by 2 s.
pub const SCRIPT: [(f64, Step); 6] = [
    (8.0, Step::Start(MotionSource::Demo)),
    (11.0, Step::End(MotionSource::Demo)),
    // Motion again during the post-roll: back to RECORDING in the same clip.
    (13.0, Step::Start(MotionSource::Demo)),
    // An overlapping trigger from another source: extends the same clip.
    (14.0, Step::Pulse(MotionSource::Api, 2.0)),
    (17.0, Step::End(MotionSource::Demo)),
    // Long after the first clip closed: a new event, a new clip.
    (35.0, Step::Pulse(MotionSource::Api, 3.0)),
];
pub const CYCLE_SECS: f64 = 60.0;

pub fn demo_settings() -> RecordingSettings {
    RecordingSettings {
        pre_buffer_secs: 5,
        post_buffer_secs: 5,
        max_clip_secs: 120,
        ..RecordingSettings::default()
    }
}

pub struct DemoOptions {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub exit_after: Option<Duration>,
}

/// What the status page reads.
pub struct DemoState {
    pub cameras: Vec<CameraHandle>,
    pub pool: Pool,
    pub started_at: Time,
    pub clips_root: PathBuf,
}

pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let clips_root = opts.data_dir.join("clips");
    let spool_root = opts.data_dir.join("spool");
    std::fs::create_dir_all(&clips_root)?;
    recover_clips(&clips_root);
    // Spool files of a previous run are scratch from a stream that is gone.
    match std::fs::remove_dir_all(&spool_root) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            tracing::warn!("cannot clear old spool {}: {e}", spool_root.display())
        }
        _ => {}
    }
    let store = ClipStore::new(&clips_root);
    let pool = Pool::new(DEFAULT_POOL_BYTES);
    let started_at = clock.now();
    let closed: Arc<Mutex<Vec<ClipRecord>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));

    let mut cameras = Vec::new();
    let mut threads = Vec::new();
    for (i, (name, bytes)) in SAMPLES.iter().enumerate() {
        let file = Mp4File::parse(Bytes::from_static(bytes))?;
        let settings = demo_settings();
        let spool = spool_root.join(crate::clips::safe_name(name));
        let buffer = pool.register(name, BufferConfig::from_settings(&settings, spool.clone()))?;
        let pipeline = CameraPipeline::new(name, settings, buffer, store.clone(), spool);
        let sink = closed.clone();
        let cam = camera::spawn(pipeline, clock.clone(), move |_, n| {
            if let Notice::ClipClosed(rec) = n {
                if let Ok(mut v) = sink.lock() {
                    v.push(rec.clone());
                }
            }
        })?;
        let source = LoopingFile::new(file, clock.now());
        let tx = cam.sender();
        let (c, s) = (clock.clone(), stop.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("src-{name}"))
                .spawn(move || {
                    source.run_paced(c, |ev| tx.send(CameraMsg::Source(ev)).is_ok(), s)
                })?,
        );
        let tx = cam.sender();
        let (c, s) = (clock.clone(), stop.clone());
        let offset = 2.0 * i as f64;
        threads.push(
            std::thread::Builder::new()
                .name(format!("script-{name}"))
                .spawn(move || run_script(started_at, offset, c, tx, s))?,
        );
        cameras.push(cam);
    }

    let state = Arc::new(DemoState {
        cameras,
        pool,
        started_at,
        clips_root,
    });
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    info!(
        "demo: {} cameras, clips under {}, status page on http://{}",
        state.cameras.len(),
        state.clips_root.display(),
        listener.local_addr()?
    );
    let server = tokio::spawn(web::serve(
        listener,
        state.clone(),
        shutdown_signal(opts.exit_after),
    ));
    server.await??;

    info!("demo: stopping, closing open clips");
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        let _ = t.join();
    }
    let state = Arc::into_inner(state).ok_or_else(|| anyhow::anyhow!("status page still held"))?;
    for cam in state.cameras {
        cam.shutdown();
    }
    let closed = closed.lock().map(|v| v.clone()).unwrap_or_default();
    info!("demo: done, {} clips written", closed.len());
    Ok(())
}

/// Resolves on Ctrl-C, SIGTERM, or after `exit_after`.
async fn shutdown_signal(exit_after: Option<Duration>) {
    let timer = async {
        match exit_after {
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

/// Plays [`SCRIPT`] forever (until `stop`), `offset` seconds after `start`.
fn run_script(
    start: Time,
    offset: f64,
    clock: Arc<dyn Clock>,
    tx: std::sync::mpsc::Sender<CameraMsg>,
    stop: Arc<AtomicBool>,
) {
    for cycle in 0u32.. {
        for (at, step) in SCRIPT {
            let due = start.plus(Duration::from_secs_f64(
                offset + at + f64::from(cycle) * CYCLE_SECS,
            ));
            loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let remaining = due.micros_since(clock.now());
                if remaining <= 0 {
                    break;
                }
                std::thread::sleep(Duration::from_micros(remaining.min(100_000) as u64));
            }
            let msg = match step {
                Step::Start(source) => CameraMsg::MotionStart {
                    source,
                    until: None,
                },
                Step::End(source) => CameraMsg::MotionEnd { source },
                Step::Pulse(source, secs) => CameraMsg::MotionStart {
                    source,
                    until: Some(clock.now().plus(Duration::from_secs_f64(secs))),
                },
            };
            if tx.send(msg).is_err() {
                return;
            }
        }
    }
}

/// After a crash, clips that were being written have a torn tail: cut every clip back to its last
/// whole fragment (a no-op for clips that were closed properly). The catalog will know which clips
/// were open; until then the demo checks them all.
fn recover_clips(root: &std::path::Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "mp4") {
                match vigil_core::fmp4::recover(&path) {
                    Ok(r) if r.truncated => info!(
                        "recovered {}: kept {} of {} bytes ({} fragments, {:.2} s)",
                        path.display(),
                        r.kept_bytes,
                        r.original_bytes,
                        r.fragments,
                        r.duration_secs
                    ),
                    Ok(_) => {}
                    Err(err) => tracing::warn!("cannot recover {}: {err}", path.display()),
                }
            }
        }
    }
}
