//! Motion-recording settings changed through the API, kept per camera so they survive restarts.
//! They are stored as the API's JSON object and override the config file's values at start.

use serde::{Deserialize, Serialize};
use vigil_core::kind::KindSet;
use vigil_core::settings::{BufferMode, RecordingSettings};

use super::db::args;
use super::{camera_id, now_micros, Catalog, CatalogError, Result};

/// The persisted fields (the API's config object, without the camera name).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSettings {
    pub enabled: bool,
    pub pre_buffer_secs: u32,
    pub post_buffer_secs: u32,
    pub max_clip_secs: u32,
    pub buffer_mode: String,
    pub keyframe_only: bool,
    #[serde(default)]
    pub motion_timeout_secs: Option<u32>,
    #[serde(default)]
    pub hybrid_memory_bytes: Option<u64>,
    #[serde(default)]
    pub record_on: Option<Vec<String>>,
    #[serde(default)]
    pub pulse_secs: Option<u32>,
}

impl From<&RecordingSettings> for StoredSettings {
    fn from(s: &RecordingSettings) -> Self {
        StoredSettings {
            enabled: s.enabled,
            pre_buffer_secs: s.pre_buffer_secs,
            post_buffer_secs: s.post_buffer_secs,
            max_clip_secs: s.max_clip_secs,
            buffer_mode: s.buffer_mode.as_str().to_owned(),
            keyframe_only: s.keyframe_only,
            motion_timeout_secs: Some(s.motion_timeout_secs),
            hybrid_memory_bytes: Some(s.hybrid_memory_bytes),
            record_on: Some(s.record_on.names().into_iter().map(str::to_owned).collect()),
            pulse_secs: Some(s.pulse_secs),
        }
    }
}

impl StoredSettings {
    /// Applies the stored values over `base`; the result is validated.
    pub fn apply(
        &self,
        base: &RecordingSettings,
    ) -> std::result::Result<RecordingSettings, String> {
        let s = RecordingSettings {
            enabled: self.enabled,
            pre_buffer_secs: self.pre_buffer_secs,
            post_buffer_secs: self.post_buffer_secs,
            max_clip_secs: self.max_clip_secs,
            buffer_mode: self
                .buffer_mode
                .parse::<BufferMode>()
                .map_err(|e| e.to_string())?,
            keyframe_only: self.keyframe_only,
            motion_timeout_secs: self.motion_timeout_secs.unwrap_or(base.motion_timeout_secs),
            hybrid_memory_bytes: self.hybrid_memory_bytes.unwrap_or(base.hybrid_memory_bytes),
            record_on: match &self.record_on {
                Some(names) => KindSet::parse(names.iter().map(String::as_str))
                    .map_err(|e| format!("record_on: {e}"))?,
                None => base.record_on,
            },
            pulse_secs: self.pulse_secs.unwrap_or(base.pulse_secs),
        };
        s.validate().map_err(|e| e.to_string())?;
        Ok(s)
    }
}

impl Catalog {
    pub fn save_settings(&self, camera: &str, s: &RecordingSettings) -> Result<()> {
        let json = serde_json::to_string(&StoredSettings::from(s)).map_err(|e| {
            CatalogError::BadSettings {
                camera: camera.to_owned(),
                message: e.to_string(),
            }
        })?;
        self.save_json("camera_settings", camera, &json)
    }

    /// The settings last saved through the API for `camera`, applied over `base`.
    pub fn load_settings(
        &self,
        camera: &str,
        base: &RecordingSettings,
    ) -> Result<Option<RecordingSettings>> {
        let Some(json) = self.load_json("camera_settings", camera)? else {
            return Ok(None);
        };
        let bad = |message: String| CatalogError::BadSettings {
            camera: camera.to_owned(),
            message,
        };
        let stored: StoredSettings = serde_json::from_str(&json).map_err(|e| bad(e.to_string()))?;
        stored.apply(base).map(Some).map_err(bad)
    }

    /// Saves a camera's detection keys (the API's); they replace the config file's at start.
    pub fn save_detect(&self, camera: &str, keys: &crate::detect::DetectKeys) -> Result<()> {
        let json = serde_json::to_string(keys).map_err(|e| CatalogError::BadSettings {
            camera: camera.to_owned(),
            message: e.to_string(),
        })?;
        self.save_json("camera_detect", camera, &json)
    }

    /// The detection keys last saved through the API for `camera`, checked.
    pub fn load_detect(&self, camera: &str) -> Result<Option<crate::detect::DetectKeys>> {
        let Some(json) = self.load_json("camera_detect", camera)? else {
            return Ok(None);
        };
        let bad = |message: String| CatalogError::BadSettings {
            camera: camera.to_owned(),
            message,
        };
        let keys: crate::detect::DetectKeys =
            serde_json::from_str(&json).map_err(|e| bad(e.to_string()))?;
        keys.check("")
            .map_err(|b| bad(format!("{}: {}", b.key, b.message)))?;
        Ok(Some(keys))
    }

    /// Saves a camera's JSON object in `table` (`camera_settings`, `camera_detect`).
    fn save_json(&self, table: &str, camera: &str, json: &str) -> Result<()> {
        self.with(|c| {
            let cam = camera_id(c, camera)?;
            c.execute(
                &format!(
                    "INSERT INTO {table} (camera_id, settings, updated_at) VALUES (?1, ?2, ?3) \
                     ON CONFLICT(camera_id) DO UPDATE SET settings = excluded.settings, \
                     updated_at = excluded.updated_at"
                ),
                args![cam, json, now_micros()],
            )
        })?;
        Ok(())
    }

    /// A camera's JSON object in `table`, if one was saved.
    fn load_json(&self, table: &str, camera: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_opt(
                &format!(
                    "SELECT s.settings FROM {table} s JOIN camera c ON c.id = s.camera_id \
                     WHERE c.name = ?1"
                ),
                args![camera],
            )?
            .map(|r| r.get(0))
            .transpose()
        })
    }
}
