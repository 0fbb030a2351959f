//! Per-camera motion-recording settings and their ranges (docs/CONFIG.md).
//!
//! The same struct backs the config file's `[defaults]` / `[[camera]]` keys and the API's
//! `/api/motion_recording/config/{camera}` body, so a value is checked in exactly one place and the
//! error names the key a user wrote.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::kind::KindSet;

#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum BufferMode {
    /// Every buffered packet in memory (charged to the pool).
    #[default]
    Memory,
    /// Packets spill to a spool file per camera; memory keeps only an index.
    Disk,
    /// The newest GOPs in memory up to a byte budget, older ones on disk.
    Hybrid,
}

impl BufferMode {
    pub fn as_str(self) -> &'static str {
        match self {
            BufferMode::Memory => "memory",
            BufferMode::Disk => "disk",
            BufferMode::Hybrid => "hybrid",
        }
    }
}

impl fmt::Display for BufferMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BufferMode {
    type Err = SettingsError;
    fn from_str(s: &str) -> Result<Self, SettingsError> {
        match s {
            "memory" => Ok(BufferMode::Memory),
            "disk" => Ok(BufferMode::Disk),
            "hybrid" => Ok(BufferMode::Hybrid),
            other => Err(SettingsError {
                field: "buffer_mode",
                message: format!("must be one of memory, disk, hybrid (got {other:?})"),
            }),
        }
    }
}

/// A setting out of range. `field` is the config key / JSON field name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SettingsError {
    pub field: &'static str,
    pub message: String,
}

/// Motion-recording settings of one camera.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordingSettings {
    pub enabled: bool,
    /// Pre-roll window, 0–60 s.
    pub pre_buffer_secs: u32,
    /// Post-roll after motion ends, 0–300 s.
    pub post_buffer_secs: u32,
    /// A longer recording rolls over to a new file at a keyframe, 1–86400 s.
    pub max_clip_secs: u32,
    pub buffer_mode: BufferMode,
    pub keyframe_only: bool,
    /// A motion start with no end for this long is treated as ended, 1–86400 s.
    pub motion_timeout_secs: u32,
    /// Hybrid mode: bytes of newest GOPs kept in memory before older ones go to disk.
    pub hybrid_memory_bytes: u64,
    /// The event kinds that open or extend a clip; every kind is stored as an event anyway.
    pub record_on: KindSet,
    /// How long an event with no "off" (a line crossed, an object counted) lasts, 1–3600 s.
    pub pulse_secs: u32,
}

impl Default for RecordingSettings {
    fn default() -> Self {
        RecordingSettings {
            enabled: true,
            pre_buffer_secs: 5,
            post_buffer_secs: 10,
            max_clip_secs: 300,
            buffer_mode: BufferMode::Memory,
            keyframe_only: false,
            motion_timeout_secs: 120,
            hybrid_memory_bytes: 4 << 20,
            record_on: KindSet::default_record_on(),
            pulse_secs: 5,
        }
    }
}

pub const PRE_BUFFER_MAX_SECS: u32 = 60;
pub const POST_BUFFER_MAX_SECS: u32 = 300;
pub const LONG_MAX_SECS: u32 = 86_400;
pub const PULSE_MAX_SECS: u32 = 3_600;

fn range(field: &'static str, v: u64, lo: u64, hi: u64) -> Result<(), SettingsError> {
    if v < lo || v > hi {
        return Err(SettingsError {
            field,
            message: format!("must be between {lo} and {hi} (got {v})"),
        });
    }
    Ok(())
}

impl RecordingSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        range(
            "pre_buffer_secs",
            self.pre_buffer_secs.into(),
            0,
            PRE_BUFFER_MAX_SECS.into(),
        )?;
        range(
            "post_buffer_secs",
            self.post_buffer_secs.into(),
            0,
            POST_BUFFER_MAX_SECS.into(),
        )?;
        range(
            "max_clip_secs",
            self.max_clip_secs.into(),
            1,
            LONG_MAX_SECS.into(),
        )?;
        range(
            "motion_timeout_secs",
            self.motion_timeout_secs.into(),
            1,
            LONG_MAX_SECS.into(),
        )?;
        range("hybrid_memory_bytes", self.hybrid_memory_bytes, 0, 1 << 40)?;
        range(
            "pulse_secs",
            self.pulse_secs.into(),
            1,
            PULSE_MAX_SECS.into(),
        )?;
        Ok(())
    }

    pub fn pre_roll(&self) -> Duration {
        Duration::from_secs(self.pre_buffer_secs.into())
    }

    pub fn post_roll(&self) -> Duration {
        Duration::from_secs(self.post_buffer_secs.into())
    }

    pub fn max_clip(&self) -> Duration {
        Duration::from_secs(self.max_clip_secs.into())
    }

    pub fn motion_timeout(&self) -> Duration {
        Duration::from_secs(self.motion_timeout_secs.into())
    }

    pub fn pulse(&self) -> Duration {
        Duration::from_secs(self.pulse_secs.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        RecordingSettings::default().validate().unwrap();
    }

    #[test]
    fn out_of_range_names_the_field() {
        let s = RecordingSettings {
            pre_buffer_secs: 61,
            ..Default::default()
        };
        let e = s.validate().unwrap_err();
        assert_eq!(e.field, "pre_buffer_secs");
        assert!(e.to_string().contains("between 0 and 60"), "{e}");
        let s = RecordingSettings {
            post_buffer_secs: 301,
            ..Default::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "post_buffer_secs");
        let s = RecordingSettings {
            max_clip_secs: 0,
            ..Default::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "max_clip_secs");
        let s = RecordingSettings {
            pulse_secs: 0,
            ..Default::default()
        };
        assert_eq!(s.validate().unwrap_err().field, "pulse_secs");
    }

    #[test]
    fn buffer_mode_parses_and_refuses() {
        assert_eq!("hybrid".parse::<BufferMode>().unwrap(), BufferMode::Hybrid);
        let e = "ram".parse::<BufferMode>().unwrap_err();
        assert_eq!(e.field, "buffer_mode");
    }
}
