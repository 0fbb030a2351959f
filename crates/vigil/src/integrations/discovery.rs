//! Home Assistant MQTT discovery: the retained configs that make each camera a device with its
//! entities (docs/integrations.md). Pure: the hub decides when to send them.

use serde_json::{json, Value};
use vigil_core::kind::EventKind;

/// What discovery needs to know of the installation.
pub struct Site<'a> {
    /// `<p>`.
    pub prefix: &'a str,
    /// `<discovery_prefix>`.
    pub discovery: &'a str,
    /// `server.public_url`'s value (no trailing `/`).
    pub base_url: &'a str,
}

/// One entity's config: its topic and JSON.
pub struct Entity {
    pub topic: String,
    pub config: Value,
}

/// A kind's name as a person reads it: `line_crossing` → `Line crossing`.
pub fn title(kind: EventKind) -> String {
    let s = kind.as_str().replace('_', " ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => s,
    }
}

/// Home Assistant's device class for a kind's binary sensor.
fn device_class(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Person | EventKind::Face => "occupancy",
        EventKind::Sound => "sound",
        EventKind::Tamper => "tamper",
        EventKind::Input => "opening",
        _ => "motion",
    }
}

fn object(safe: &str) -> String {
    format!("vigil_{safe}")
}

impl Site<'_> {
    fn device(&self, camera: &str, safe: &str) -> Value {
        let page: String = url::form_urlencoded::byte_serialize(camera.as_bytes()).collect();
        json!({
            "identifiers": [object(safe)],
            "name": camera,
            "manufacturer": "vigil",
            "model": "vigil",
            "sw_version": env!("CARGO_PKG_VERSION"),
            "configuration_url": format!("{}/#/camera/{}", self.base_url, page.replace('+', "%20")),
        })
    }

    fn common(
        &self,
        camera: &str,
        safe: &str,
        id: &str,
        name: &str,
    ) -> serde_json::Map<String, Value> {
        let p = self.prefix;
        let mut m = serde_json::Map::new();
        m.insert("name".into(), json!(name));
        m.insert("unique_id".into(), json!(format!("{}_{id}", object(safe))));
        m.insert("device".into(), self.device(camera, safe));
        m.insert(
            "origin".into(),
            json!({ "name": "vigil", "sw_version": env!("CARGO_PKG_VERSION") }),
        );
        m.insert(
            "availability".into(),
            json!([{ "topic": format!("{p}/available") }, { "topic": format!("{p}/{safe}/available") }]),
        );
        m.insert("availability_mode".into(), json!("all"));
        m
    }

    fn topic(&self, component: &str, safe: &str, id: &str) -> String {
        format!(
            "{}/{component}/{}/{id}/config",
            self.discovery,
            object(safe)
        )
    }

    /// The camera's fixed entities: motion, stream, state, recording switch, trigger button,
    /// last clip, pre-buffer.
    pub fn camera(&self, camera: &str, safe: &str) -> Vec<Entity> {
        let p = format!("{}/{safe}", self.prefix);
        let with = |id: &str, name: &str, extra: Value| {
            let mut m = self.common(camera, safe, id, name);
            if let Value::Object(e) = extra {
                m.extend(e);
            }
            Value::Object(m)
        };
        vec![
            Entity {
                topic: self.topic("binary_sensor", safe, "motion"),
                config: with(
                    "motion",
                    "Motion",
                    json!({ "state_topic": format!("{p}/motion"), "device_class": "motion",
                            "payload_on": "ON", "payload_off": "OFF" }),
                ),
            },
            Entity {
                topic: self.topic("binary_sensor", safe, "stream"),
                config: with(
                    "stream",
                    "Stream",
                    json!({ "state_topic": format!("{p}/stream"), "device_class": "connectivity",
                            "payload_on": "ON", "payload_off": "OFF", "entity_category": "diagnostic" }),
                ),
            },
            Entity {
                topic: self.topic("sensor", safe, "state"),
                config: with(
                    "state",
                    "Recorder state",
                    json!({ "state_topic": format!("{p}/state"), "device_class": "enum",
                            "options": ["IDLE", "BUFFERING", "RECORDING", "FINALIZING"],
                            "icon": "mdi:record-rec" }),
                ),
            },
            Entity {
                topic: self.topic("switch", safe, "recording"),
                config: with(
                    "recording",
                    "Motion recording",
                    json!({ "state_topic": format!("{p}/recording"),
                            "command_topic": format!("{p}/recording/set"),
                            "payload_on": "ON", "payload_off": "OFF", "icon": "mdi:cctv" }),
                ),
            },
            Entity {
                topic: self.topic("button", safe, "trigger"),
                config: with(
                    "trigger",
                    "Record now",
                    json!({ "command_topic": format!("{p}/motion/set"), "payload_press": "PULSE",
                            "icon": "mdi:record" }),
                ),
            },
            Entity {
                topic: self.topic("sensor", safe, "last_clip"),
                config: with(
                    "last_clip",
                    "Last clip",
                    json!({ "state_topic": format!("{p}/last_clip"),
                            "value_template": "{{ value_json.end }}",
                            "device_class": "timestamp",
                            "json_attributes_topic": format!("{p}/last_clip"),
                            "icon": "mdi:filmstrip" }),
                ),
            },
            Entity {
                topic: self.topic("sensor", safe, "pre_buffer"),
                config: with(
                    "pre_buffer",
                    "Pre-buffer",
                    json!({ "state_topic": format!("{p}/buffer"),
                            "value_template": "{{ value_json.percent }}",
                            "unit_of_measurement": "%", "state_class": "measurement",
                            "json_attributes_topic": format!("{p}/buffer"),
                            "entity_category": "diagnostic", "icon": "mdi:timer-sand" }),
                ),
            },
        ]
    }

    /// The binary sensor of one kind the camera has seen (not `motion`: that one is the
    /// camera's motion sensor).
    pub fn kind(&self, camera: &str, safe: &str, kind: EventKind) -> Entity {
        let mut m = self.common(camera, safe, kind.as_str(), &title(kind));
        m.insert(
            "state_topic".into(),
            json!(format!("{}/{safe}/{}", self.prefix, kind.as_str())),
        );
        m.insert("device_class".into(), json!(device_class(kind)));
        m.insert("payload_on".into(), json!("ON"));
        m.insert("payload_off".into(), json!("OFF"));
        Entity {
            topic: self.topic("binary_sensor", safe, kind.as_str()),
            config: Value::Object(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SITE: Site<'static> = Site {
        prefix: "vigil",
        discovery: "homeassistant",
        base_url: "http://nvr:8080",
    };

    #[test]
    fn a_camera_is_one_device_with_stable_ids() {
        let e = SITE.camera("front door", "front_door-1a2b3c4d");
        let topics: Vec<&str> = e.iter().map(|e| e.topic.as_str()).collect();
        assert_eq!(
            topics[0],
            "homeassistant/binary_sensor/vigil_front_door-1a2b3c4d/motion/config"
        );
        let ids: std::collections::HashSet<String> = e
            .iter()
            .map(|e| e.config["unique_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(ids.len(), e.len(), "unique ids");
        for x in &e {
            let d = &x.config["device"];
            assert_eq!(d["identifiers"][0], "vigil_front_door-1a2b3c4d");
            assert_eq!(d["name"], "front door");
            assert_eq!(d["model"], "vigil");
            assert_eq!(
                d["configuration_url"],
                "http://nvr:8080/#/camera/front%20door"
            );
            assert_eq!(x.config["availability"][0]["topic"], "vigil/available");
            assert_eq!(
                x.config["availability"][1]["topic"],
                "vigil/front_door-1a2b3c4d/available"
            );
        }
        let switch = e.iter().find(|x| x.topic.contains("/switch/")).unwrap();
        assert_eq!(
            switch.config["command_topic"],
            "vigil/front_door-1a2b3c4d/recording/set"
        );
        let button = e.iter().find(|x| x.topic.contains("/button/")).unwrap();
        assert_eq!(button.config["payload_press"], "PULSE");
    }

    #[test]
    fn kinds_get_their_own_sensor() {
        let k = SITE.kind("cam", "cam", EventKind::LineCrossing);
        assert_eq!(
            k.topic,
            "homeassistant/binary_sensor/vigil_cam/line_crossing/config"
        );
        assert_eq!(k.config["state_topic"], "vigil/cam/line_crossing");
        assert_eq!(k.config["name"], "Line crossing");
        assert_eq!(k.config["unique_id"], "vigil_cam_line_crossing");
        assert_eq!(
            SITE.kind("cam", "cam", EventKind::Person).config["device_class"],
            "occupancy"
        );
    }
}
