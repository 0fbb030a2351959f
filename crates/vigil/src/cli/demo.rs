//! `vigil demo`: the whole pipeline with no camera at all.
//!
//! Three synthetic cameras play bundled sample videos (H.264; H.265; H.264 with AAC audio) in a loop
//! at real-time rate through the same path a live camera uses: the demo is an ordinary [`Runtime`]
//! whose cameras have `file:` URLs (the samples, written into the data dir).
//! A scripted motion pattern exercises every interesting transition: an event whose motion ends and
//! comes back during the post-roll (same clip), an overlapping API pulse (same clip), and a later
//! separate event (new clip). Clips land under `DIR/clips`; the web UI and the API are on
//! `--listen`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use vigil_core::kind::EventKind;
use vigil_core::recorder::MotionSource;
use vigil_core::settings::RecordingSettings;
use vigil_core::time::{Clock, SystemClock, Time};

use crate::camera::CameraMsg;
use crate::config::{Config, ServerConfig};
use crate::runtime::{Runtime, RuntimeHandle};

pub const DEFAULT_POOL_BYTES: u64 = 50 << 20;

/// The bundled sample videos: (camera name, MP4 bytes).
pub const SAMPLES: [(&str, &[u8]); 3] = [
    (
        "lobby-h264",
        include_bytes!("../../assets/samples/demo_h264.mp4"),
    ),
    (
        "yard-h265",
        include_bytes!("../../assets/samples/demo_h265.mp4"),
    ),
    (
        "door-h264-aac",
        include_bytes!("../../assets/samples/demo_h264_aac.mp4"),
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
    /// `--mqtt URL`: publish to this broker (and Home Assistant discovery), default topics.
    pub mqtt: Option<String>,
}

/// The demo's configuration: one `file:` camera per bundled sample.
pub fn demo_config(opts: &DemoOptions) -> anyhow::Result<Config> {
    let samples = opts.data_dir.join("samples");
    std::fs::create_dir_all(&samples).with_context(|| format!("creating {}", samples.display()))?;
    let mut cameras = Vec::new();
    for (name, bytes) in SAMPLES {
        let path = samples.join(format!("{name}.mp4"));
        write_if_changed(&path, bytes)?;
        let abs = std::path::absolute(&path)?;
        let entry = crate::config::CameraEntry::from_json(&serde_json::json!({
            "name": name,
            "url": format!("file:{}", abs.display()),
        }))?;
        cameras.push(entry.resolve(&demo_settings(), "")?);
    }
    Ok(Config {
        server: ServerConfig {
            listen: opts.listen,
            data_dir: opts.data_dir.clone(),
            ..Default::default()
        },
        storage: Default::default(),
        catalog: Default::default(),
        clip_store: None,
        cluster: None,
        clips_root: opts.data_dir.join("clips"),
        pool_limit: DEFAULT_POOL_BYTES,
        cameras,
        defaults: demo_settings(),
        mqtt: opts.mqtt.as_ref().map(|url| demo_mqtt(url)).transpose()?,
        webhooks: Vec::new(),
    })
}

/// `[mqtt]` with only `url` set.
fn demo_mqtt(url: &str) -> anyhow::Result<crate::integrations::MqttConfig> {
    let m: crate::integrations::MqttConfig = toml::from_str(&format!("url = {url:?}"))?;
    m.validate()
        .map_err(|(k, msg)| anyhow::anyhow!("--mqtt: {k}: {msg}"))?;
    Ok(m)
}

fn write_if_changed(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if std::fs::read(path).ok().as_deref() != Some(bytes) {
        std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut config = demo_config(&opts)?;
    let listener = tokio::net::TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("listening on {}", opts.listen))?;
    // The port actually bound (`:0` picks one): links sent out point at it.
    config.server.listen = listener.local_addr()?;
    let mut rt = Runtime::start(config, clock.clone())?;
    let handle = rt.handle();
    let started_at = clock.monotonic(); // the script runs on the monotonic clock
    for (i, name) in handle.cameras().names().into_iter().enumerate() {
        let (c, stop, h) = (clock.clone(), rt.stop_flag(), handle.clone());
        let offset = 2.0 * i as f64;
        let t = std::thread::Builder::new()
            .name(format!("script-{name}"))
            .spawn(move || run_script(started_at, offset, c, &h, &name, stop))?;
        rt.adopt_thread(t);
    }
    super::serve(rt, listener, super::shutdown_signal(opts.exit_after)).await
}

/// Plays [`SCRIPT`] forever (until `stop`) on `camera`, `offset` seconds after `start`. The
/// camera is looked up for every step, so a camera restarted meanwhile gets the next ones.
fn run_script(
    start: Time,
    offset: f64,
    clock: Arc<dyn Clock>,
    rt: &RuntimeHandle,
    camera: &str,
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
                let remaining = due.micros_since(clock.monotonic());
                if remaining <= 0 {
                    break;
                }
                std::thread::sleep(Duration::from_micros(remaining.min(100_000) as u64));
            }
            let msg = match step {
                Step::Start(source) => CameraMsg::MotionStart {
                    source,
                    kind: EventKind::Motion,
                    until: None,
                    received: std::time::Instant::now(),
                    camera_time: None,
                },
                Step::End(source) => CameraMsg::MotionEnd {
                    source,
                    kind: EventKind::Motion,
                    camera_time: None,
                },
                Step::Pulse(source, secs) => CameraMsg::MotionStart {
                    source,
                    kind: EventKind::Motion,
                    until: Some(clock.monotonic().plus(Duration::from_secs_f64(secs))),
                    received: std::time::Instant::now(),
                    camera_time: None,
                },
            };
            // A camera that is stopped (or restarting) misses the step.
            if let Some(cam) = rt.camera(camera) {
                cam.send(msg);
            }
        }
    }
}
