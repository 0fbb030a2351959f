//! A camera's `detect*` keys as written (config file, API, catalog), and their checks. The same
//! checks serve the config file (errors name `camera[i].key`) and the API (errors name `key`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::model::Params;
use super::zones::{self, Polygon};
use super::DetectConfig;

/// The `detect*` keys of one camera (docs/CONFIG.md). `None`: the default.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DetectKeys {
    #[serde(default)]
    pub detect: bool,
    #[serde(default)]
    pub detect_url: Option<String>,
    #[serde(default)]
    pub detect_threshold: Option<u32>,
    #[serde(default)]
    pub detect_min_area: Option<f64>,
    #[serde(default)]
    pub detect_min_secs: Option<f64>,
    #[serde(default)]
    pub detect_zones: Vec<Polygon>,
    #[serde(default)]
    pub detect_masks: Vec<Polygon>,
}

/// A key that is wrong: its name (with the caller's prefix) and why.
#[derive(Debug, Clone, PartialEq)]
pub struct BadKey {
    pub key: String,
    pub message: String,
}

impl DetectKeys {
    /// Checks every key (prefixing their names with `prefix`); the detector's configuration,
    /// `None` when `detect` is off.
    pub fn check(&self, prefix: &str) -> Result<Option<DetectConfig>, BadKey> {
        let bad = |f: &str, message: String| BadKey {
            key: format!("{prefix}{f}"),
            message,
        };
        let mut params = Params::default();
        if let Some(t) = self.detect_threshold {
            if !(1..=255).contains(&t) {
                return Err(bad(
                    "detect_threshold",
                    format!("must be between 1 and 255 (got {t})"),
                ));
            }
            params.threshold = t as u8;
        }
        if let Some(a) = self.detect_min_area {
            if !(a.is_finite() && (0.0..=100.0).contains(&a)) {
                return Err(bad(
                    "detect_min_area",
                    format!("must be a percentage between 0 and 100 (got {a})"),
                ));
            }
            params.min_area = a;
        }
        if let Some(m) = self.detect_min_secs {
            if !(m.is_finite() && (0.0..=60.0).contains(&m)) {
                return Err(bad(
                    "detect_min_secs",
                    format!("must be between 0 and 60 seconds (got {m})"),
                ));
            }
            params.min_secs = m;
        }
        for (k, polys) in [
            ("detect_zones", &self.detect_zones),
            ("detect_masks", &self.detect_masks),
        ] {
            zones::validate(polys).map_err(|m| bad(k, m))?;
        }
        if let Some(u) = &self.detect_url {
            if !["rtsp://", "file:"].iter().any(|p| u.starts_with(p)) {
                return Err(bad(
                    "detect_url",
                    format!(
                        "must start with rtsp:// or file: (got {:?})",
                        crate::util::redact_url(u)
                    ),
                ));
            }
        }
        if !self.detect {
            return Ok(None);
        }
        Ok(Some(DetectConfig {
            url: self.detect_url.clone(),
            params,
            zones: self.detect_zones.clone(),
            masks: self.detect_masks.clone(),
        }))
    }

    /// What the API shows: every key, defaults filled in (`detect_url` null: the camera's own
    /// stream, or its ONVIF sub-stream).
    pub fn json(&self, camera: &str) -> Value {
        let d = Params::default();
        json!({
            "camera": camera,
            "detect": self.detect,
            "detect_url": self.detect_url.as_deref().map(crate::util::redact_url),
            "detect_threshold": self.detect_threshold.unwrap_or(u32::from(d.threshold)),
            "detect_min_area": self.detect_min_area.unwrap_or(d.min_area),
            "detect_min_secs": self.detect_min_secs.unwrap_or(d.min_secs),
            "detect_zones": self.detect_zones,
            "detect_masks": self.detect_masks,
        })
    }

    /// Applies a partial update (the API's body) over these keys; the result is checked.
    /// Unknown fields and wrong types are refused, naming the field. `null` sets a key back to
    /// its default.
    pub fn update(&self, body: &Map<String, Value>) -> Result<DetectKeys, BadKey> {
        let mut k = self.clone();
        let bad = |f: &str, m: &str| BadKey {
            key: f.to_owned(),
            message: m.to_owned(),
        };
        for (f, v) in body {
            let null = v.is_null();
            match f.as_str() {
                "detect" => {
                    k.detect = v.as_bool().ok_or_else(|| bad(f, "must be true or false"))?
                }
                "detect_url" => {
                    k.detect_url = if null {
                        None
                    } else {
                        let u = v
                            .as_str()
                            .ok_or_else(|| bad(f, "must be a URL (rtsp:// or file:) or null"))?;
                        // The API shows the URL without its password: the same one sent back
                        // keeps the stored password.
                        match &self.detect_url {
                            Some(old) if crate::util::redact_url(old) == u => Some(old.clone()),
                            _ if u.is_empty() => None,
                            _ => Some(u.to_owned()),
                        }
                    }
                }
                "detect_threshold" => {
                    k.detect_threshold = if null {
                        None
                    } else {
                        Some(
                            v.as_u64()
                                .and_then(|n| u32::try_from(n).ok())
                                .ok_or_else(|| bad(f, "must be a whole number from 1 to 255"))?,
                        )
                    }
                }
                "detect_min_area" => {
                    k.detect_min_area = if null {
                        None
                    } else {
                        Some(v.as_f64().ok_or_else(|| bad(f, "must be a number (%)"))?)
                    }
                }
                "detect_min_secs" => {
                    k.detect_min_secs = if null {
                        None
                    } else {
                        Some(
                            v.as_f64()
                                .ok_or_else(|| bad(f, "must be a number of seconds"))?,
                        )
                    }
                }
                "detect_zones" | "detect_masks" => {
                    let polys: Vec<Polygon> = if null {
                        Vec::new()
                    } else {
                        serde_json::from_value(v.clone()).map_err(|_| {
                            bad(
                                f,
                                "must be a list of polygons of [x, y] points, e.g. [[[0, 0], [0.5, 0], [0.5, 1]]]",
                            )
                        })?
                    };
                    if f == "detect_zones" {
                        k.detect_zones = polys;
                    } else {
                        k.detect_masks = polys;
                    }
                }
                "camera" => {} // echoed back by GET; harmless in a POST
                other => return Err(bad(other, "unknown field")),
            }
        }
        k.check("")?;
        Ok(k)
    }

    /// Whether going from `self` to `new` needs the camera's streams started again (detection
    /// turned on or off, another detect stream); the rest applies live.
    pub fn needs_restart(&self, new: &DetectKeys) -> bool {
        self.detect != new.detect || (new.detect && self.detect_url != new.detect_url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn an_update_is_partial_and_checked_naming_the_field() {
        let k = DetectKeys {
            detect: true,
            detect_threshold: Some(30),
            ..Default::default()
        };
        let n = k
            .update(&body(
                json!({"detect_min_area": 2.5, "detect_masks": [[[0,0],[0.5,0],[0.5,1]]]}),
            ))
            .unwrap();
        assert_eq!(n.detect_threshold, Some(30));
        assert_eq!(n.detect_min_area, Some(2.5));
        assert_eq!(n.detect_masks.len(), 1);
        assert!(!k.needs_restart(&n));
        for (b, field) in [
            (json!({"detect_threshold": 0}), "detect_threshold"),
            (json!({"detect_threshold": "high"}), "detect_threshold"),
            (json!({"detect_min_area": 101}), "detect_min_area"),
            (json!({"detect_min_secs": -1}), "detect_min_secs"),
            (
                json!({"detect_zones": [[[0, 0], [2, 0], [1, 1]]]}),
                "detect_zones",
            ),
            (json!({"detect_masks": [[[0, 0], [1, 0]]]}), "detect_masks"),
            (json!({"detect_masks": "left"}), "detect_masks"),
            (json!({"detect_url": "http://x"}), "detect_url"),
            (json!({"detect": 1}), "detect"),
            (json!({"detekt": true}), "detekt"),
        ] {
            let e = k.update(&body(b.clone())).unwrap_err();
            assert_eq!(e.key, field, "{b}: {e:?}");
        }
    }

    #[test]
    fn null_sets_back_the_default_and_a_redacted_url_keeps_its_password() {
        let k = DetectKeys {
            detect: true,
            detect_url: Some("rtsp://u:secret@cam/sub".into()),
            detect_threshold: Some(40),
            ..Default::default()
        };
        let shown = k.json("front");
        assert!(!shown.to_string().contains("secret"), "{shown}");
        assert_eq!(shown["detect_min_area"], 0.5);
        let n = k
            .update(&body(
                json!({"detect_url": shown["detect_url"], "detect_threshold": null}),
            ))
            .unwrap();
        assert_eq!(n.detect_url.as_deref(), Some("rtsp://u:secret@cam/sub"));
        assert_eq!(n.detect_threshold, None);
        assert!(!k.needs_restart(&n));
        let other = k
            .update(&body(json!({"detect_url": "rtsp://cam/other"})))
            .unwrap();
        assert!(k.needs_restart(&other));
        let off = k.update(&body(json!({"detect": false}))).unwrap();
        assert!(k.needs_restart(&off));
        assert_eq!(off.check("").unwrap(), None);
    }
}
