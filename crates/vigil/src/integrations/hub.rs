//! What vigil tells the outside world, worked out from the notice stream: MQTT topics and their
//! payloads, Home Assistant discovery, webhook bodies (docs/integrations.md). Pure: the driver
//! ([`super::Integrations`]) feeds it notices, catalogued clips and buffer samples, and hands
//! what comes out to the MQTT connection and the webhooks.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use vigil_core::kind::{EventKind, KindSet};
use vigil_core::recorder::{MotionSource, State};
use vigil_core::time::Time;

use super::config::WebhookEvent;
use super::discovery::Site;
use crate::catalog::ClipRow;
use crate::clips::safe_name;
use crate::notice::Notice;

/// One MQTT message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    pub topic: String,
    pub payload: String,
    /// Retained (a state, or a discovery config): the broker keeps the latest for newcomers,
    /// and vigil sends the latest again after a reconnect.
    pub retain: bool,
    /// A Home Assistant discovery config (sent again when Home Assistant comes online).
    pub discovery: bool,
}

/// Something to send.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Mqtt(Msg),
    Hook(WebhookEvent, Value),
}

/// A command that came in over MQTT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    Motion(MotionCommand),
    /// Motion recording on or off.
    Recording(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MotionCommand {
    On,
    Off,
    Pulse,
}

/// What the hub is told of a camera when it starts.
#[derive(Debug, Clone)]
pub struct CameraFacts {
    pub enabled: bool,
    pub record_on: KindSet,
    /// The recorder's state (`IDLE`, ...).
    pub state: &'static str,
    pub stream_up: bool,
    /// Kinds its events have had (the catalog's).
    pub seen: KindSet,
    pub last_clip: Option<ClipRow>,
}

struct Cam {
    safe: String,
    /// Events on now: (event id, kind).
    active: Vec<(u64, EventKind)>,
    seen: KindSet,
    record_on: KindSet,
    /// The last `motion` published, to say it only when it changes.
    motion: bool,
    /// The last pre-buffer percentage published.
    buffer_percent: Option<u32>,
}

impl Cam {
    fn kind_on(&self, k: EventKind) -> bool {
        self.active.iter().any(|(_, x)| *x == k)
    }
    fn motion_now(&self) -> bool {
        self.active.iter().any(|(_, k)| self.record_on.contains(*k))
    }
}

/// The MQTT side of the hub's settings.
#[derive(Debug, Clone)]
pub struct MqttTopics {
    pub prefix: String,
    /// `None`: discovery off.
    pub discovery: Option<String>,
}

pub struct Hub {
    mqtt: Option<MqttTopics>,
    base_url: String,
    cams: BTreeMap<String, Cam>,
}

fn on_off(b: bool) -> &'static str {
    if b {
        "ON"
    } else {
        "OFF"
    }
}

/// `{camera, kind, source, type, time, event_id}` (SPEC's `<p>/<cam>/event`).
pub fn event_json(
    camera: &str,
    kind: EventKind,
    source: MotionSource,
    start: bool,
    at: Time,
    id: u64,
) -> Value {
    json!({
        "camera": camera,
        "kind": kind.as_str(),
        "source": source.as_str(),
        "type": if start { "start" } else { "end" },
        "time": at.to_string(),
        "event_id": id,
    })
}

/// `{id, camera, start, end, duration_secs, pre_roll_secs, kinds, url}` (`<p>/<cam>/clip`).
pub fn clip_json(row: &ClipRow, base_url: &str) -> Value {
    json!({
        "id": row.id,
        "camera": row.camera,
        "start": row.start.map(|t| t.to_string()),
        "end": row.end.map(|t| t.to_string()),
        "duration_secs": row.duration_secs,
        "pre_roll_secs": row.pre_roll_secs,
        "kinds": row.kinds.names(),
        "url": format!("{base_url}/api/recordings/{}/file", row.id),
        "trigger": row.trigger,
        "status": row.status,
    })
}

impl Hub {
    pub fn new(mqtt: Option<MqttTopics>, base_url: String) -> Hub {
        Hub {
            mqtt,
            base_url,
            cams: BTreeMap::new(),
        }
    }

    fn site(&self) -> Option<Site<'_>> {
        let m = self.mqtt.as_ref()?;
        Some(Site {
            prefix: &m.prefix,
            discovery: m.discovery.as_deref()?,
            base_url: &self.base_url,
        })
    }

    fn state_msg(&self, safe: &str, leaf: &str, payload: impl Into<String>) -> Option<Msg> {
        let m = self.mqtt.as_ref()?;
        Some(Msg {
            topic: format!("{}/{safe}/{leaf}", m.prefix),
            payload: payload.into(),
            retain: true,
            discovery: false,
        })
    }

    fn event_msg(&self, safe: &str, leaf: &str, body: &Value) -> Option<Msg> {
        let m = self.mqtt.as_ref()?;
        Some(Msg {
            topic: format!("{}/{safe}/{leaf}", m.prefix),
            payload: body.to_string(),
            retain: false,
            discovery: false,
        })
    }

    /// `<p>/available` = `online` (the birth message; the will says `offline`).
    pub fn birth(&self) -> Option<Msg> {
        let m = self.mqtt.as_ref()?;
        Some(Msg {
            topic: format!("{}/available", m.prefix),
            payload: "online".into(),
            retain: true,
            discovery: false,
        })
    }

    /// The topics to subscribe to: the cameras' commands and Home Assistant's status.
    pub fn subscriptions(&self) -> Vec<String> {
        let Some(m) = &self.mqtt else { return vec![] };
        let mut v = vec![
            format!("{}/+/motion/set", m.prefix),
            format!("{}/+/recording/set", m.prefix),
        ];
        if let Some(d) = &m.discovery {
            v.push(format!("{d}/status"));
        }
        v
    }

    /// Is `topic` Home Assistant's status topic?
    pub fn is_ha_status(&self, topic: &str) -> bool {
        self.mqtt
            .as_ref()
            .and_then(|m| m.discovery.as_ref())
            .is_some_and(|d| topic.strip_prefix(d.as_str()) == Some("/status"))
    }

    /// Parses a command: `Ok(None)` if the topic is no command of ours; `Err` (to log) for a
    /// camera we don't have or a payload that means nothing.
    pub fn command(
        &self,
        topic: &str,
        payload: &[u8],
    ) -> Result<Option<(String, Command)>, String> {
        let Some(m) = &self.mqtt else { return Ok(None) };
        let Some(rest) = topic
            .strip_prefix(m.prefix.as_str())
            .and_then(|r| r.strip_prefix('/'))
        else {
            return Ok(None);
        };
        let (safe, what) = match rest.split_once('/') {
            Some((s, w)) if w == "motion/set" || w == "recording/set" => (s, w),
            _ => return Ok(None),
        };
        let camera = self
            .cams
            .iter()
            .find(|(_, c)| c.safe == safe)
            .map(|(n, _)| n.clone())
            .ok_or_else(|| format!("{topic}: no camera {safe:?}"))?;
        let text = std::str::from_utf8(payload)
            .map(|s| s.trim().to_ascii_uppercase())
            .unwrap_or_default();
        let cmd = match (what, text.as_str()) {
            ("motion/set", "ON") => Command::Motion(MotionCommand::On),
            ("motion/set", "OFF") => Command::Motion(MotionCommand::Off),
            ("motion/set", "PULSE") => Command::Motion(MotionCommand::Pulse),
            ("recording/set", "ON") => Command::Recording(true),
            ("recording/set", "OFF") => Command::Recording(false),
            _ => {
                let shown: String = String::from_utf8_lossy(payload).chars().take(40).collect();
                let want = if what == "motion/set" {
                    "ON, OFF or PULSE"
                } else {
                    "ON or OFF"
                };
                return Err(format!("{topic}: payload {shown:?} is not {want}"));
            }
        };
        Ok(Some((camera, cmd)))
    }

    /// Every discovery config of every camera (sent again when Home Assistant comes online).
    pub fn discovery_all(&self, out: &mut Vec<Out>) {
        for (name, c) in &self.cams {
            self.discovery_camera(name, c, out);
        }
    }

    fn discovery_camera(&self, name: &str, c: &Cam, out: &mut Vec<Out>) {
        let Some(site) = self.site() else { return };
        let mut entities = site.camera(name, &c.safe);
        entities.extend(
            c.seen
                .iter()
                .filter(|k| *k != EventKind::Motion)
                .map(|k| site.kind(name, &c.safe, k)),
        );
        for e in entities {
            out.push(Out::Mqtt(Msg {
                topic: e.topic,
                payload: e.config.to_string(),
                retain: true,
                discovery: true,
            }));
        }
    }

    fn push(out: &mut Vec<Out>, m: Option<Msg>) {
        if let Some(m) = m {
            out.push(Out::Mqtt(m));
        }
    }

    /// A camera started: its device, and every state it has now.
    pub fn camera_started(&mut self, name: &str, f: CameraFacts, out: &mut Vec<Out>) {
        let safe = safe_name(name);
        let cam = Cam {
            safe: safe.clone(),
            active: Vec::new(),
            seen: f.seen,
            record_on: f.record_on,
            motion: false,
            buffer_percent: None,
        };
        self.discovery_camera(name, &cam, out);
        Self::push(out, self.state_msg(&safe, "available", "online"));
        Self::push(out, self.state_msg(&safe, "motion", "OFF"));
        for k in f.seen.iter().filter(|k| *k != EventKind::Motion) {
            Self::push(out, self.state_msg(&safe, k.as_str(), "OFF"));
        }
        Self::push(out, self.state_msg(&safe, "state", f.state));
        Self::push(out, self.state_msg(&safe, "stream", on_off(f.stream_up)));
        Self::push(out, self.state_msg(&safe, "recording", on_off(f.enabled)));
        if let Some(row) = &f.last_clip {
            let j = clip_json(row, &self.base_url);
            Self::push(out, self.state_msg(&safe, "last_clip", j.to_string()));
        }
        self.cams.insert(name.to_owned(), cam);
    }

    /// The camera's safe name, if the hub knows it.
    pub fn safe(&self, camera: &str) -> Option<&str> {
        self.cams.get(camera).map(|c| c.safe.as_str())
    }

    fn motion_changed(&mut self, camera: &str, out: &mut Vec<Out>) {
        let Some(c) = self.cams.get_mut(camera) else {
            return;
        };
        let now = c.motion_now();
        if now != c.motion {
            c.motion = now;
            let safe = c.safe.clone();
            Self::push(out, self.state_msg(&safe, "motion", on_off(now)));
        }
    }

    /// Applies one notice of `camera`.
    pub fn apply(&mut self, camera: &str, notice: &Notice, out: &mut Vec<Out>) {
        // Started is handled by the driver (it reads the camera's facts): camera_started.
        let Some(c) = self.cams.get_mut(camera) else {
            return;
        };
        let safe = c.safe.clone();
        match notice {
            Notice::Started { .. } => {}
            Notice::Stopped { .. } => {
                let was: Vec<EventKind> = c.active.drain(..).map(|(_, k)| k).collect();
                for k in was.into_iter().filter(|k| *k != EventKind::Motion) {
                    Self::push(out, self.state_msg(&safe, k.as_str(), "OFF"));
                }
                self.motion_changed(camera, out);
                Self::push(out, self.state_msg(&safe, "state", State::Idle.as_str()));
                Self::push(out, self.state_msg(&safe, "stream", "OFF"));
                Self::push(out, self.state_msg(&safe, "available", "offline"));
            }
            Notice::Removed { .. } => {
                let Some(c) = self.cams.remove(camera) else {
                    return;
                };
                let mut gone = Vec::new();
                self.discovery_camera(camera, &c, &mut gone);
                // An empty retained message deletes the retained one: the device goes away.
                for o in gone {
                    if let Out::Mqtt(mut m) = o {
                        m.payload.clear();
                        out.push(Out::Mqtt(m));
                    }
                }
                let mut leaves: Vec<&str> = vec![
                    "motion",
                    "state",
                    "stream",
                    "recording",
                    "last_clip",
                    "buffer",
                    "available",
                ];
                leaves.extend(
                    c.seen
                        .iter()
                        .filter(|k| *k != EventKind::Motion)
                        .map(EventKind::as_str),
                );
                for leaf in leaves {
                    Self::push(out, self.state_msg(&safe, leaf, ""));
                }
            }
            Notice::Configured {
                enabled, record_on, ..
            } => {
                c.record_on = *record_on;
                Self::push(out, self.state_msg(&safe, "recording", on_off(*enabled)));
                self.motion_changed(camera, out);
            }
            Notice::State { to, .. } => {
                Self::push(out, self.state_msg(&safe, "state", to.as_str()));
            }
            Notice::EventStarted {
                id,
                kind,
                source,
                at,
                ..
            } => {
                let first_of_kind = !c.seen.contains(*kind);
                let was_on = c.kind_on(*kind);
                c.seen.insert(*kind);
                c.active.push((*id, *kind));
                if *kind != EventKind::Motion {
                    if first_of_kind {
                        if let Some(site) = self.site() {
                            let e = site.kind(camera, &safe, *kind);
                            out.push(Out::Mqtt(Msg {
                                topic: e.topic,
                                payload: e.config.to_string(),
                                retain: true,
                                discovery: true,
                            }));
                        }
                    }
                    if !was_on {
                        Self::push(out, self.state_msg(&safe, kind.as_str(), "ON"));
                    }
                }
                self.motion_changed(camera, out);
                let body = event_json(camera, *kind, *source, true, *at, *id);
                Self::push(out, self.event_msg(&safe, "event", &body));
                out.push(Out::Hook(WebhookEvent::MotionStart, body));
            }
            Notice::EventEnded {
                id,
                kind,
                source,
                at,
                ..
            } => {
                c.active.retain(|(e, _)| e != id);
                if *kind != EventKind::Motion && !c.kind_on(*kind) {
                    Self::push(out, self.state_msg(&safe, kind.as_str(), "OFF"));
                }
                self.motion_changed(camera, out);
                let body = event_json(camera, *kind, *source, false, *at, *id);
                Self::push(out, self.event_msg(&safe, "event", &body));
                out.push(Out::Hook(WebhookEvent::MotionEnd, body));
            }
            Notice::Stream { up, at, detail } => {
                Self::push(out, self.state_msg(&safe, "stream", on_off(*up)));
                let what = if *up {
                    WebhookEvent::CameraUp
                } else {
                    WebhookEvent::CameraDown
                };
                out.push(Out::Hook(
                    what,
                    json!({ "camera": camera, "time": at.to_string(), "detail": detail }),
                ));
            }
            Notice::WriteFailed { at, message } => {
                out.push(Out::Hook(
                    WebhookEvent::DiskAlert,
                    json!({ "camera": camera, "kind": "clip_write", "time": at.to_string(),
                            "message": message }),
                ));
            }
            Notice::MotionStarted { .. }
            | Notice::MotionOverlap { .. }
            | Notice::MotionEnded { .. }
            | Notice::ClipOpened(_)
            | Notice::ClipStarted(_)
            | Notice::ClipClosed(_)
            | Notice::ClipDiscarded(_)
            | Notice::EventClient { .. } => {}
        }
    }

    /// A clip opened (`closed` false) or closed, as the catalog has it (with its id and kinds).
    pub fn clip(&mut self, closed: bool, row: &ClipRow, out: &mut Vec<Out>) {
        let body = clip_json(row, &self.base_url);
        if !closed {
            out.push(Out::Hook(WebhookEvent::ClipOpened, body));
            return;
        }
        if let Some(safe) = self.safe(&row.camera).map(str::to_owned) {
            Self::push(out, self.event_msg(&safe, "clip", &body));
            Self::push(out, self.state_msg(&safe, "last_clip", body.to_string()));
        }
        out.push(Out::Hook(WebhookEvent::ClipClosed, body));
    }

    /// The camera's pre-buffer holds `secs` of the `target` it wants; published when the
    /// whole percentage changes.
    pub fn buffer(&mut self, camera: &str, secs: f64, target: u32, out: &mut Vec<Out>) {
        let Some(c) = self.cams.get_mut(camera) else {
            return;
        };
        let percent = if target == 0 {
            100
        } else {
            ((secs / f64::from(target)) * 100.0)
                .round()
                .clamp(0.0, 100.0) as u32
        };
        if c.buffer_percent == Some(percent) {
            return;
        }
        c.buffer_percent = Some(percent);
        let safe = c.safe.clone();
        let body = json!({ "percent": percent, "secs": (secs * 10.0).round() / 10.0, "target_secs": target });
        Self::push(out, self.state_msg(&safe, "buffer", body.to_string()));
    }

    /// A storage alert came up (low free space, retention failing): `disk_alert`.
    pub fn alert(&self, kind: &str, message: &str, at: Time, out: &mut Vec<Out>) {
        out.push(Out::Hook(
            WebhookEvent::DiskAlert,
            json!({ "camera": null, "kind": kind, "time": at.to_string(), "message": message }),
        ));
    }
}

#[cfg(test)]
mod tests;
