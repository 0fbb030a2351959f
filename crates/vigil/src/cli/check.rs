//! `vigil check --config FILE`: validates the configuration, then probes every camera (RTSP
//! DESCRIBE/SETUP/PLAY up to the first keyframe; ONVIF clock, services, stream URI, a pull-point
//! subscription) and says what works. Exit status 0 only when every camera works.

use std::sync::Arc;

use vigil_core::time::{Clock, SystemClock};

use crate::config::{CameraConfig, Config};
use crate::ingest::rtsp::{self, RtspConfig};

/// One line per finding; returns whether everything worked.
pub async fn check(config: &Config, mut out: impl FnMut(String)) -> bool {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    out(format!(
        "config ok: {} cameras, clips under {}, listen {}",
        config.cameras.len(),
        config.clips_root.display(),
        config.server.listen
    ));
    let mut all_ok = true;
    for cam in &config.cameras {
        all_ok &= check_camera(cam, clock.clone(), &mut out).await;
    }
    if let Some(m) = &config.mqtt {
        let url = crate::util::redact_url(&m.url);
        match crate::integrations::mqtt::probe(m).await {
            Ok(()) => out(format!(
                "mqtt ok: {url} accepted the login; topics under {}/, Home Assistant discovery {}",
                m.topic_prefix,
                if m.discovery_prefix.is_empty() {
                    "off".to_owned()
                } else {
                    format!("under {}/", m.discovery_prefix)
                }
            )),
            Err(e) => {
                all_ok = false;
                out(format!("mqtt FAILED: {url}: {e}"));
            }
        }
    }
    for (i, w) in config.webhooks.iter().enumerate() {
        // Not called: a check must not post a fake event to someone's phone.
        out(format!(
            "webhook[{i}]: {} gets {} ({}; not called by check)",
            crate::util::redact_url(&w.url),
            w.events
                .iter()
                .map(|e| e.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            if w.secret.is_some() {
                "signed"
            } else {
                "unsigned"
            }
        ));
    }
    all_ok
}

pub async fn check_camera(
    cam: &CameraConfig,
    clock: Arc<dyn Clock>,
    out: &mut impl FnMut(String),
) -> bool {
    let mut ok = true;
    let mut url = cam.url.clone();
    if let Some(device) = &cam.onvif {
        let cfg = crate::runtime::live::onvif_config(cam, device);
        match vigil_onvif::probe(&cfg, clock.clone()).await {
            Ok(r) => {
                out(format!(
                    "{}: ONVIF ok: clock offset {}, events at {}",
                    cam.name,
                    r.clock_offset_ms
                        .map_or("unknown".into(), |ms| format!("{ms} ms")),
                    r.event_service.as_deref().unwrap_or("?")
                ));
                if r.events_ok {
                    out(format!(
                        "{}: ONVIF events ok: motion topics {:?}",
                        cam.name, r.motion_topics
                    ));
                    if !r.kind_topics.is_empty() {
                        out(format!(
                            "{}: ONVIF detections: {}",
                            cam.name,
                            r.kind_topics.join("; ")
                        ));
                    }
                } else {
                    ok = false;
                    out(format!(
                        "{}: ONVIF events FAILED: {}",
                        cam.name,
                        r.events_error.unwrap_or_default()
                    ));
                }
                match (&r.stream_uri, &r.stream_uri_error) {
                    (Some(u), _) => {
                        out(format!("{}: ONVIF stream URI {u}", cam.name));
                        url = url.or(Some(u.clone()));
                    }
                    (None, Some(e)) => {
                        out(format!("{}: ONVIF stream URI not available: {e}", cam.name))
                    }
                    _ => {}
                }
            }
            Err(e) => {
                ok = false;
                out(format!("{}: ONVIF FAILED: {e}", cam.name));
            }
        }
    }
    match url {
        Some(u) if u.starts_with("file:") => match crate::ingest::file::path_from_url(&u)
            .ok_or_else(|| "bad file: URL".to_string())
            .and_then(|p| vigil_core::fmp4::Mp4File::open(&p).map_err(|e| e.to_string()))
        {
            Ok(f) => out(format!(
                "{}: file ok: {} {}x{}{}",
                cam.name,
                f.params.video.codec.name(),
                f.params.video.width,
                f.params.video.height,
                if f.params.audio.is_some() {
                    " + AAC"
                } else {
                    ""
                }
            )),
            Err(e) => {
                ok = false;
                out(format!("{}: file FAILED: {e}", cam.name));
            }
        },
        Some(u) => {
            let mut cfg = RtspConfig::new(u);
            cfg.username = cam.username.clone();
            cfg.password = cam.password.clone();
            cfg.transport = cam.transport;
            match rtsp::describe(&cfg).await {
                Ok(s) => out(format!(
                    "{}: RTSP ok ({}): {} {}x{}{}{}",
                    cam.name,
                    cfg.redacted_url(),
                    s.video.codec.name(),
                    s.video.width,
                    s.video.height,
                    if s.audio.is_some() { " + AAC" } else { "" },
                    if s.skipped_audio.is_empty() {
                        String::new()
                    } else {
                        format!(" (audio not recorded: {})", s.skipped_audio.join(", "))
                    }
                )),
                Err(e) => {
                    ok = false;
                    out(format!(
                        "{}: RTSP FAILED ({}): {e}",
                        cam.name,
                        cfg.redacted_url()
                    ));
                }
            }
        }
        None => {
            ok = false;
            out(format!(
                "{}: no stream URL (none configured, none from ONVIF)",
                cam.name
            ));
        }
    }
    ok
}
