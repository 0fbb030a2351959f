//! Where clips live, and what we know of each one.
//!
//! Files go under `root/<camera>/<YYYY-MM-DD>/` (UTC day of the motion that opened them). Camera
//! names come from users, so the directory name is made safe: only `[A-Za-z0-9_-]` survive, and a
//! name that had to change gets a short hash of the original so two cameras never share a folder.

use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use vigil_core::fmp4::{ClipSummary, ClipWriter, Fmp4Error, Mp4File};
use vigil_core::packet::{Packet, TrackKind, VIDEO_TIMESCALE};
use vigil_core::time::{civil_from_days, Time};

/// A directory name for a camera that can't escape `root` or collide with another camera's.
pub fn safe_name(camera: &str) -> String {
    let mut s: String = camera
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '_') {
        s = "camera".to_owned();
    }
    if s != camera {
        s.push('-');
        s.push_str(&format!(
            "{:08x}",
            crate::util::fnv1a(camera.as_bytes()) as u32
        ));
    }
    s
}

/// `YYYY-MM-DD` and `YYYYMMDDTHHMMSSZ` of a time, UTC.
fn day_and_stamp(t: Time) -> (String, String) {
    let (secs, _) = t.to_unix();
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!(
            "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        ),
    )
}

/// Serializes an optional [`Time`] as RFC 3339 UTC (`null` when absent).
pub fn ser_time_opt<S: serde::Serializer>(t: &Option<Time>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&t.to_string()),
        None => s.serialize_none(),
    }
}

/// The local-directory clip store.
#[derive(Debug, Clone)]
pub struct ClipStore {
    root: PathBuf,
}

impl ClipStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ClipStore { root: root.into() }
    }

    /// A fresh path for a clip of `camera` opened at `at` for motion event `event`; creates the
    /// day directory. The name is unique: an existing file gets a numeric suffix instead.
    pub fn new_clip_path(&self, camera: &str, at: Time, event: u64) -> io::Result<PathBuf> {
        let (day, stamp) = day_and_stamp(at);
        let dir = self.root.join(safe_name(camera)).join(day);
        std::fs::create_dir_all(&dir)?;
        for n in 0u32.. {
            let name = if n == 0 {
                format!("{stamp}_e{event}.mp4")
            } else {
                format!("{stamp}_e{event}_{n}.mp4")
            };
            let p = dir.join(name);
            if !p.exists() {
                return Ok(p);
            }
        }
        unreachable!("u32 range exhausted")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ClipStatus {
    Recording,
    Complete,
    Recovered,
}

/// What vigil knows of one clip.
#[derive(Debug, Clone, Serialize)]
pub struct ClipRecord {
    pub camera: String,
    pub path: PathBuf,
    pub event: u64,
    /// Wall time of the first frame (the start of the pre-roll).
    #[serde(serialize_with = "ser_time_opt")]
    pub start: Option<Time>,
    #[serde(serialize_with = "ser_time_opt")]
    pub end: Option<Time>,
    pub duration_secs: f64,
    pub bytes: u64,
    pub video_codec: &'static str,
    pub width: u16,
    pub height: u16,
    /// Seconds of video before the motion that opened the clip (0 for a rollover's later files).
    pub pre_roll_secs: f64,
    /// Video frames in the file.
    pub frames: u64,
    pub trigger: &'static str,
    pub status: ClipStatus,
    pub close_reason: Option<&'static str>,
}

/// Writes `input` (an ordinary MP4) as a vigil clip at `output`, sample by sample through the same
/// [`ClipWriter`] recording uses (fragments made durable as they are written).
pub fn remux(input: &Path, output: &Path) -> Result<ClipSummary, Fmp4Error> {
    let file = Mp4File::open(input)?;
    let sample_rate = file.params.audio.as_ref().map_or(48_000, |a| a.sample_rate);
    let mut w = ClipWriter::create(output, &file.params)?;
    let t0 = Time::ZERO;
    for s in &file.samples {
        let timescale = match s.track {
            TrackKind::Video => i64::from(VIDEO_TIMESCALE),
            TrackKind::Audio => i64::from(sample_rate),
        };
        w.write(&Packet {
            track: s.track,
            pts: s.pts,
            time: t0.plus_micros(s.pts * 1_000_000 / timescale),
            keyframe: s.keyframe,
            data: s.data.clone(),
        })?;
    }
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_names_stay_inside_and_distinct() {
        assert_eq!(safe_name("driveway"), "driveway");
        let a = safe_name("../../etc");
        assert!(!a.contains('/') && !a.contains(".."), "{a}");
        assert_ne!(safe_name("front door"), safe_name("front_door"));
        assert!(safe_name("").starts_with("camera-"));
        assert!(safe_name(&"x".repeat(500)).len() <= 64 + 9);
        assert!(safe_name("камера").starts_with("camera-"));
    }

    #[test]
    fn clip_paths_are_dated_and_unique() {
        let dir = tempfile::tempdir().unwrap();
        let store = ClipStore::new(dir.path());
        let t = Time(1_795_561_113_250_000);
        let p1 = store.new_clip_path("cam 1", t, 7).unwrap();
        assert!(p1.starts_with(dir.path()));
        assert!(p1
            .to_string_lossy()
            .contains("/2026-11-24/20261124T225833Z_e7.mp4"));
        std::fs::write(&p1, b"x").unwrap();
        let p2 = store.new_clip_path("cam 1", t, 7).unwrap();
        assert_ne!(p1, p2);
    }
}
