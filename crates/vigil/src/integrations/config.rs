//! `[mqtt]` and `[[webhook]]`, as docs/CONFIG.md gives them. Checked when the file is loaded:
//! a bad key stops vigil at start, naming it.

use std::path::PathBuf;

use serde::Deserialize;

/// An error of one key: (key under `mqtt.` / `webhook[i].`, message).
pub type KeyError = (&'static str, String);

/// `[mqtt]`: the broker and the topics (docs/integrations.md).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqttConfig {
    /// `mqtt://host[:port]` (1883) or `mqtts://host[:port]` (8883, TLS).
    pub url: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default = "default_topic_prefix")]
    pub topic_prefix: String,
    /// Home Assistant MQTT discovery; `""` turns it off.
    #[serde(default = "default_discovery_prefix")]
    pub discovery_prefix: String,
    /// Default `vigil-<topic_prefix>`: two vigils on one broker need different prefixes anyway.
    #[serde(default)]
    pub client_id: Option<String>,
    /// PEM file of the certificate authority that signed an `mqtts://` broker's certificate
    /// (default: the system's roots).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_keep_alive")]
    pub keep_alive_secs: u32,
}

fn default_topic_prefix() -> String {
    "vigil".into()
}
fn default_discovery_prefix() -> String {
    "homeassistant".into()
}
fn default_keep_alive() -> u32 {
    30
}

/// Where the broker is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broker {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

/// A topic prefix: MQTT's wildcards and empty levels at its ends are refused.
fn check_prefix(key: &'static str, p: &str) -> Result<(), KeyError> {
    let bad = p.is_empty()
        || p.len() > 128
        || p.starts_with('/')
        || p.ends_with('/')
        || p.contains("//")
        || p.chars().any(|c| c == '+' || c == '#' || c.is_control());
    if bad {
        return Err((
            key,
            format!("must be a topic without +, #, control characters or empty levels (got {p:?})"),
        ));
    }
    Ok(())
}

impl MqttConfig {
    pub fn validate(&self) -> Result<(), KeyError> {
        self.broker()?;
        check_prefix("topic_prefix", &self.topic_prefix)?;
        if !self.discovery_prefix.is_empty() {
            check_prefix("discovery_prefix", &self.discovery_prefix)?;
        }
        if let Some(id) = &self.client_id {
            if id.is_empty() || id.len() > 128 || id.chars().any(char::is_control) {
                return Err(("client_id", "must be 1 to 128 printable characters".into()));
            }
        }
        if !(5..=3600).contains(&self.keep_alive_secs) {
            return Err((
                "keep_alive_secs",
                format!("must be between 5 and 3600 (got {})", self.keep_alive_secs),
            ));
        }
        if self.ca_file.is_some() && !self.broker()?.tls {
            return Err(("ca_file", "only for an mqtts:// url".into()));
        }
        Ok(())
    }

    /// The broker of `url`.
    pub fn broker(&self) -> Result<Broker, KeyError> {
        let bad = || {
            (
                "url",
                format!(
                    "must be mqtt://host[:port] or mqtts://host[:port] (got {:?})",
                    crate::util::redact_url(&self.url)
                ),
            )
        };
        let u = url::Url::parse(&self.url).map_err(|_| bad())?;
        let tls = match u.scheme() {
            "mqtt" | "tcp" => false,
            "mqtts" | "ssl" => true,
            _ => return Err(bad()),
        };
        let host = u.host_str().filter(|h| !h.is_empty()).ok_or_else(bad)?;
        if !matches!(u.path(), "" | "/") || u.query().is_some() {
            return Err(bad());
        }
        Ok(Broker {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port: u.port().unwrap_or(if tls { 8883 } else { 1883 }),
        })
    }

    /// The user and password: the keys, else those written in the URL.
    pub fn credentials(&self) -> Option<(String, String)> {
        if let Some(user) = &self.username {
            return Some((user.clone(), self.password.clone().unwrap_or_default()));
        }
        let u = url::Url::parse(&self.url).ok()?;
        if u.username().is_empty() {
            return None;
        }
        let dec = |s: &str| {
            url::form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        Some((dec(u.username()), dec(u.password().unwrap_or(""))))
    }

    pub fn client_id(&self) -> String {
        self.client_id.clone().unwrap_or_else(|| {
            let p: String = self
                .topic_prefix
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect();
            format!("vigil-{p}")
        })
    }
}

/// What a webhook can be told.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookEvent {
    MotionStart,
    MotionEnd,
    ClipOpened,
    ClipClosed,
    CameraDown,
    CameraUp,
    DiskAlert,
}

impl WebhookEvent {
    pub const ALL: [WebhookEvent; 7] = [
        WebhookEvent::MotionStart,
        WebhookEvent::MotionEnd,
        WebhookEvent::ClipOpened,
        WebhookEvent::ClipClosed,
        WebhookEvent::CameraDown,
        WebhookEvent::CameraUp,
        WebhookEvent::DiskAlert,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WebhookEvent::MotionStart => "motion_start",
            WebhookEvent::MotionEnd => "motion_end",
            WebhookEvent::ClipOpened => "clip_opened",
            WebhookEvent::ClipClosed => "clip_closed",
            WebhookEvent::CameraDown => "camera_down",
            WebhookEvent::CameraUp => "camera_up",
            WebhookEvent::DiskAlert => "disk_alert",
        }
    }
}

/// One `[[webhook]]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http://` or `https://`.
    pub url: String,
    /// What it is told; default every event.
    #[serde(default = "all_events")]
    pub events: Vec<WebhookEvent>,
    /// Signs each body: `X-Vigil-Signature-256: sha256=<hex HMAC-SHA256 of the body>`.
    #[serde(default)]
    pub secret: Option<String>,
    /// One attempt's limit (connect, send, answer).
    #[serde(default = "default_webhook_timeout")]
    pub timeout_secs: u32,
}

fn all_events() -> Vec<WebhookEvent> {
    WebhookEvent::ALL.to_vec()
}
fn default_webhook_timeout() -> u32 {
    10
}

impl WebhookConfig {
    pub fn validate(&self) -> Result<(), KeyError> {
        let ok = url::Url::parse(&self.url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        if !ok {
            return Err((
                "url",
                format!(
                    "must be an http:// or https:// URL (got {:?})",
                    crate::util::redact_url(&self.url)
                ),
            ));
        }
        if self.events.is_empty() {
            return Err((
                "events",
                "must name at least one of motion_start, motion_end, clip_opened, clip_closed, camera_down, camera_up, disk_alert (leave it out for all)".into(),
            ));
        }
        if self.secret.as_deref() == Some("") {
            return Err((
                "secret",
                "must not be empty (leave it out to send unsigned)".into(),
            ));
        }
        if !(1..=300).contains(&self.timeout_secs) {
            return Err((
                "timeout_secs",
                format!("must be between 1 and 300 (got {})", self.timeout_secs),
            ));
        }
        Ok(())
    }

    pub fn wants(&self, e: WebhookEvent) -> bool {
        self.events.contains(&e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mqtt(url: &str) -> MqttConfig {
        toml::from_str(&format!("url = {url:?}")).unwrap()
    }

    #[test]
    fn broker_urls() {
        let b = mqtt("mqtt://127.0.0.1").broker().unwrap();
        assert_eq!((b.tls, b.host.as_str(), b.port), (false, "127.0.0.1", 1883));
        let b = mqtt("mqtts://broker.lan:8884").broker().unwrap();
        assert_eq!((b.tls, b.host.as_str(), b.port), (true, "broker.lan", 8884));
        assert_eq!(mqtt("mqtts://h").broker().unwrap().port, 8883);
        assert_eq!(mqtt("mqtt://[::1]:1884").broker().unwrap().host, "::1");
        for bad in [
            "http://h",
            "mqtt://",
            "h:1883",
            "mqtt://h/x",
            "mqtt://h?a=1",
        ] {
            let e = mqtt(bad).validate().unwrap_err();
            assert_eq!(e.0, "url", "{bad}");
        }
        let e = mqtt("tcp://u:hunter2@h/x").validate().unwrap_err();
        assert!(!e.1.contains("hunter2"), "{e:?}");
    }

    #[test]
    fn credentials_from_keys_or_url() {
        let m = mqtt("mqtt://ha:p%40ss@h");
        assert_eq!(m.credentials(), Some(("ha".into(), "p@ss".into())));
        let mut m = mqtt("mqtt://h");
        assert_eq!(m.credentials(), None);
        m.username = Some("u".into());
        assert_eq!(m.credentials(), Some(("u".into(), String::new())));
    }

    #[test]
    fn prefixes_and_ids() {
        let mut m = mqtt("mqtt://h");
        assert_eq!(m.client_id(), "vigil-vigil");
        m.topic_prefix = "site/a".into();
        assert!(m.validate().is_ok());
        assert_eq!(m.client_id(), "vigil-site-a");
        for bad in ["", "a/#", "+", "/a", "a/", "a//b"] {
            m.topic_prefix = bad.into();
            assert_eq!(m.validate().unwrap_err().0, "topic_prefix", "{bad:?}");
        }
        m.topic_prefix = "vigil".into();
        m.discovery_prefix = String::new();
        assert!(m.validate().is_ok(), "\"\" turns discovery off");
        m.ca_file = Some("/ca.pem".into());
        assert_eq!(m.validate().unwrap_err().0, "ca_file");
    }

    #[test]
    fn webhooks() {
        let w: WebhookConfig = toml::from_str("url = \"https://ntfy.example/cams\"").unwrap();
        assert!(w.validate().is_ok());
        assert_eq!(w.events.len(), 7, "every event by default");
        let w: WebhookConfig =
            toml::from_str("url = \"http://h/x\"\nevents = [\"clip_closed\"]").unwrap();
        assert!(w.wants(WebhookEvent::ClipClosed) && !w.wants(WebhookEvent::MotionStart));
        let e = toml::from_str::<WebhookConfig>("url = \"http://h\"\nevents = [\"clip\"]")
            .unwrap_err()
            .to_string();
        assert!(e.contains("clip_closed"), "names the choices: {e}");
        for (text, key) in [
            ("url = \"ftp://h\"", "url"),
            ("url = \"http://h\"\nevents = []", "events"),
            ("url = \"http://h\"\nsecret = \"\"", "secret"),
            ("url = \"http://h\"\ntimeout_secs = 0", "timeout_secs"),
        ] {
            let w: WebhookConfig = toml::from_str(text).unwrap();
            assert_eq!(w.validate().unwrap_err().0, key, "{text}");
        }
    }
}
