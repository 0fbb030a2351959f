//! Start-up reconciliation of the catalog with the clip files on disk (the crash protocol's
//! second half; docs/crash-safety.md).

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tracing::{info, warn};
use vigil_core::fmp4::{recover, Fmp4Error, Mp4File};
use vigil_core::time::Time;

use super::clips::ClipFacts;
use super::{Catalog, NewClip, Result};
use crate::clips::{safe_name, ClipStatus};

/// What reconciliation did, for the log and the tests.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ReconcileReport {
    /// `recording` rows whose file was cut back to its last whole fragment → `recovered`.
    pub recovered: Vec<i64>,
    /// Rows whose file was gone (or held no whole fragment): removed.
    pub rows_dropped: Vec<String>,
    /// Files without a row: recovered and given a row (status `recovered`).
    pub files_adopted: Vec<String>,
    /// Files that were not clips at all (no whole header): removed.
    pub files_removed: Vec<String>,
}

/// Every `.mp4` under `root`, as keys relative to it.
fn clip_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "mp4") {
                if let Ok(rel) = p.strip_prefix(root) {
                    out.push(rel.to_string_lossy().into_owned());
                }
            }
        }
    }
    out.sort();
    out
}

/// The `YYYYMMDDTHHMMSSZ` stamp a clip file's name starts with, as a time.
fn stamp_time(key: &str) -> Option<Time> {
    let name = Path::new(key).file_name()?.to_str()?;
    let s = name.get(..16)?;
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    // Days from civil (Howard Hinnant), the inverse of `civil_from_days`.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(Time::from_secs(days * 86_400 + h * 3600 + mi * 60 + se))
}

fn read_head(path: &Path) -> Option<Mp4File> {
    let mut buf = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(1 << 20)
        .read_to_end(&mut buf)
        .ok()?;
    Mp4File::parse(Bytes::from(buf)).ok()
}

impl Catalog {
    /// Brings rows and files under `root` back in line after any stop, clean or not.
    /// `cameras` are the configured names (to name adopted files' cameras).
    pub fn reconcile(&self, root: &Path, cameras: &[String]) -> Result<ReconcileReport> {
        let mut report = ReconcileReport::default();
        for row in self.clips_with_status(ClipStatus::Recording)? {
            let path = root.join(&row.key);
            match recover(&path) {
                Ok(r) if r.video_samples > 0 => {
                    // A rollover file killed before its close has no start yet: its name's
                    // stamp is the moment it opened, which is its first frame.
                    let start = row.start.or_else(|| stamp_time(&row.key));
                    let end =
                        start.map(|s| s.plus(std::time::Duration::from_secs_f64(r.duration_secs)));
                    let facts = ClipFacts {
                        start,
                        end,
                        duration_secs: r.duration_secs,
                        bytes: r.kept_bytes,
                        frames: r.video_samples,
                        pre_roll_secs: row.pre_roll_secs,
                        close_reason: Some("recovered".to_owned()),
                    };
                    self.finish_clip(row.id, ClipStatus::Recovered, &facts)?;
                    info!(
                        "catalog: recovered clip {} ({}): kept {} of {} bytes, {:.2} s",
                        row.id, row.key, r.kept_bytes, r.original_bytes, r.duration_secs
                    );
                    report.recovered.push(row.id);
                }
                other => {
                    let why = match other {
                        Err(Fmp4Error::Io { source, .. })
                            if source.kind() == std::io::ErrorKind::NotFound =>
                        {
                            "its file is gone".to_owned()
                        }
                        Err(e) => format!("its file is not a clip ({e})"),
                        Ok(_) => "its file holds no whole fragment".to_owned(),
                    };
                    if path.exists() {
                        let _ = crate::thumbs::remove_clip(&path);
                    }
                    self.delete_clip(row.id)?;
                    warn!("catalog: dropped clip {} ({}): {why}", row.id, row.key);
                    report.rows_dropped.push(row.key);
                }
            }
        }
        // Rows whose file vanished (deleted by hand, a lost disk) go too.
        let known: HashMap<String, i64> =
            self.clip_keys()?.into_iter().map(|(i, k)| (k, i)).collect();
        let files: HashSet<String> = clip_files(root).into_iter().collect();
        for (key, id) in &known {
            if !files.contains(key) {
                self.delete_clip(*id)?;
                warn!("catalog: dropped clip {id} ({key}): its file is gone");
                report.rows_dropped.push(key.clone());
            }
        }
        let by_dir: HashMap<String, &String> = cameras.iter().map(|c| (safe_name(c), c)).collect();
        let mut adopt: Vec<&String> = files.iter().filter(|k| !known.contains_key(*k)).collect();
        adopt.sort();
        for key in adopt {
            let path: PathBuf = root.join(key);
            let rec = recover(&path);
            let head = read_head(&path);
            let (Ok(r), Some(head)) = (rec, head) else {
                let _ = crate::thumbs::remove_clip(&path);
                warn!("catalog: removed {key}: not a clip vigil can read");
                report.files_removed.push(key.clone());
                continue;
            };
            let dir = Path::new(key)
                .components()
                .next()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .unwrap_or_default();
            let camera = by_dir.get(&dir).map_or(dir.clone(), |c| (*c).clone());
            let v = &head.params.video;
            let id = self.insert_clip(&NewClip {
                camera: &camera,
                event_id: None,
                key,
                video_codec: v.codec.name(),
                width: v.width,
                height: v.height,
                trigger: "unknown",
            })?;
            let start = stamp_time(key);
            let facts = ClipFacts {
                start,
                end: start.map(|s| s.plus(std::time::Duration::from_secs_f64(r.duration_secs))),
                duration_secs: r.duration_secs,
                bytes: r.kept_bytes,
                frames: r.video_samples,
                pre_roll_secs: 0.0,
                close_reason: Some("adopted".to_owned()),
            };
            self.finish_clip(id, ClipStatus::Recovered, &facts)?;
            info!("catalog: adopted {key} as clip {id} of {camera} (a file without a row)");
            report.files_adopted.push(key.clone());
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::stamp_time;
    use vigil_core::time::Time;

    #[test]
    fn file_stamps_parse() {
        assert_eq!(
            stamp_time("cam/2026-11-24/20261124T225833Z_e7.mp4"),
            Some(Time::from_secs(1_795_561_113))
        );
        assert_eq!(stamp_time("cam/x/clip.mp4"), None);
    }
}
