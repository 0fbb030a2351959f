//! Finding cameras on the local network (docs/cameras.md, "Discovery"): a WS-Discovery Probe
//! (`vigil_onvif::discovery`) out of one interface, and for each device that answers, with
//! credentials, its ONVIF media profiles and their stream URLs (main and sub streams). Used by
//! `vigil discover`, `GET`/`POST /api/discover` and the UI's "add camera" page.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use vigil_core::time::Clock;

/// How long answers are collected by default (cameras answer within a second or so).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(3);
/// How long one device gets to list its profiles.
const PROFILES_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The network interface to probe on (`eth0`); `None`: the kernel's choice.
    pub interface: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub wait: Option<Duration>,
}

/// One media profile of a found device.
#[derive(Debug, Clone, Serialize)]
pub struct Profile {
    pub token: String,
    pub name: String,
    pub encoding: Option<String>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Its RTSP URL (without credentials), or why there is none.
    pub uri: Option<String>,
    pub error: Option<String>,
    /// `main` (the first profile) or `sub` (the one vigil would detect on), else null.
    pub role: Option<&'static str>,
}

/// One device that answered.
#[derive(Debug, Clone, Serialize)]
pub struct Device {
    pub endpoint: String,
    pub name: Option<String>,
    pub hardware: Option<String>,
    pub location: Option<String>,
    /// Its device service (the first of its addresses): what `onvif` takes.
    pub onvif: Option<String>,
    pub xaddrs: Vec<String>,
    pub from: String,
    /// With credentials: its profiles; `null` without.
    pub profiles: Option<Vec<Profile>>,
    /// Why its profiles could not be read (a wrong password, no media service).
    pub profiles_error: Option<String>,
    /// The configured camera it already is (by its ONVIF address), if any.
    pub camera: Option<String>,
}

/// Probes (module docs). `known`: the running cameras' names and ONVIF addresses.
pub async fn discover(
    opts: &Options,
    clock: Arc<dyn Clock>,
    known: &[(String, Option<String>)],
) -> anyhow::Result<Vec<Device>> {
    let iface = match &opts.interface {
        Some(name) => Some(
            vigil_onvif::discovery::interface_addr(name)
                .map_err(|e| anyhow::anyhow!("interface {name:?}: {e}"))?,
        ),
        None => None,
    };
    let found = vigil_onvif::discovery::discover(iface, opts.wait.unwrap_or(DEFAULT_WAIT))
        .await
        .map_err(|e| anyhow::anyhow!("WS-Discovery probe: {e}"))?;
    let tasks = found.into_iter().map(|f| {
        let clock = clock.clone();
        async move {
            let onvif = f.xaddrs.first().cloned();
            let camera = onvif.as_ref().and_then(|x| {
                known
                    .iter()
                    .find(|(_, o)| o.as_deref() == Some(x.as_str()))
                    .map(|(n, _)| n.clone())
            });
            let (profiles, profiles_error) = match (&opts.username, &onvif) {
                (Some(user), Some(url)) => {
                    let cfg = vigil_onvif::CameraConfig::new(
                        f.name.as_deref().unwrap_or("discovered"),
                        url,
                        user,
                        opts.password.as_deref().unwrap_or(""),
                    );
                    match tokio::time::timeout(
                        PROFILES_TIMEOUT,
                        vigil_onvif::profiles_with_uris(&cfg, clock),
                    )
                    .await
                    {
                        Ok(Ok(list)) => (Some(profiles(list)), None),
                        Ok(Err(e)) => (None, Some(e.to_string())),
                        Err(_) => (None, Some("the device did not answer in time".into())),
                    }
                }
                _ => (None, None),
            };
            Device {
                endpoint: f.endpoint,
                name: f.name,
                hardware: f.hardware,
                location: f.location,
                onvif,
                xaddrs: f.xaddrs,
                from: f.from,
                profiles,
                profiles_error,
                camera,
            }
        }
    });
    Ok(futures::future::join_all(tasks).await)
}

fn profiles(
    list: Vec<(
        vigil_onvif::MediaProfile,
        Result<String, vigil_onvif::Error>,
    )>,
) -> Vec<Profile> {
    let all: Vec<vigil_onvif::MediaProfile> = list.iter().map(|(p, _)| p.clone()).collect();
    let sub = vigil_onvif::ops::sub_stream(&all).map(|p| p.token.clone());
    list.into_iter()
        .enumerate()
        .map(|(i, (p, uri))| Profile {
            role: if i == 0 {
                Some("main")
            } else if sub.as_deref() == Some(p.token.as_str()) {
                Some("sub")
            } else {
                None
            },
            token: p.token,
            name: p.name,
            encoding: p.encoding,
            width: p.width,
            height: p.height,
            error: uri.as_ref().err().map(|e| e.to_string()),
            uri: uri.ok(),
        })
        .collect()
}

/// `vigil discover`'s lines.
pub fn lines(devices: &[Device]) -> Vec<String> {
    if devices.is_empty() {
        return vec!["no ONVIF device answered".into()];
    }
    let mut out = Vec::new();
    for d in devices {
        out.push(format!(
            "{}  {}  ({}){}",
            d.onvif.as_deref().unwrap_or("(no address)"),
            d.name.as_deref().unwrap_or("unnamed"),
            d.hardware.as_deref().unwrap_or("unknown model"),
            d.camera
                .as_ref()
                .map(|c| format!("  = camera {c:?}"))
                .unwrap_or_default()
        ));
        if let Some(e) = &d.profiles_error {
            out.push(format!("    profiles: {e}"));
        }
        for p in d.profiles.iter().flatten() {
            out.push(format!(
                "    {:<5} {} {} {}x{}  {}",
                p.role.unwrap_or(""),
                p.token,
                p.encoding.as_deref().unwrap_or("?"),
                p.width.unwrap_or(0),
                p.height.unwrap_or(0),
                p.uri.as_deref().or(p.error.as_deref()).unwrap_or("")
            ));
        }
    }
    out
}
