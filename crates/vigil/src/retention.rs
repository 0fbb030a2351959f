//! Storage management: which clips to delete, and deleting them safely.
//!
//! Three rules, combined (a clip goes when any rule wants it):
//! - **age**: a clip that ended more than `max_age_days` ago (per camera; `[storage]` gives the
//!   default, a camera's own `max_age_days` overrides it);
//! - **total bytes**: while all clips together hold more than `max_bytes`, the oldest go;
//! - **free disk**: while the filesystem has less than `min_free` free (bytes or % of its size),
//!   the oldest go.
//!
//! Never deleted: a clip being written (`recording`), or a protected one. "Oldest" is by start
//! time across all cameras. [`plan`] is pure (clips, disk figures, now → deletions), so every rule
//! is tested with simulated time; [`Retention::run`] carries the plan out: **file first, then
//! row** — a crash between the two leaves a row without a file, which the next start's
//! reconciliation drops, so a deletion always completes and never leaves a file nobody lists.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tracing::{info, warn};
use vigil_core::time::Time;

use crate::catalog::{Catalog, ClipFilter, ClipRow};
use crate::clips::{ser_time_opt, ClipStatus};
use crate::config::MinFree;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    pub max_age: Option<Duration>,
    /// Per camera overrides of `max_age`.
    pub camera_max_age: HashMap<String, Duration>,
    pub max_bytes: Option<u64>,
    pub min_free: Option<MinFree>,
}

impl Policy {
    pub fn is_empty(&self) -> bool {
        self.max_age.is_none()
            && self.camera_max_age.is_empty()
            && self.max_bytes.is_none()
            && self.min_free.is_none()
    }
}

/// The filesystem under the storage root.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Disk {
    pub total_bytes: u64,
    pub free_bytes: u64,
}

/// Total, used and free bytes of the filesystem holding `path` (free = what we may still use).
pub fn disk_usage(path: &Path) -> std::io::Result<(u64, u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "path with a NUL byte")
    })?;
    // SAFETY: statvfs writes into the zeroed struct we own; `c` is a valid C string.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    let total = st.f_blocks as u64 * frsize;
    let free = st.f_bavail as u64 * frsize;
    let used = total.saturating_sub(st.f_bfree as u64 * frsize);
    Ok((total, used, free))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    MaxAge,
    MaxBytes,
    MinFree,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::MaxAge => "max_age",
            Reason::MaxBytes => "max_bytes",
            Reason::MinFree => "min_free",
        }
    }
}

/// One clip retention removed (kept in memory for the API and metrics).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Deletion {
    pub id: i64,
    pub camera: String,
    pub key: String,
    pub bytes: u64,
    pub reason: Reason,
    #[serde(serialize_with = "ser_time_opt")]
    pub at: Option<Time>,
}

fn eligible(c: &ClipRow) -> bool {
    c.status != ClipStatus::Recording && !c.protected
}

/// Decides what to delete. `clips` in any order; the result is oldest first.
pub fn plan(
    clips: &[ClipRow],
    disk: Option<Disk>,
    now: Time,
    policy: &Policy,
) -> Vec<(i64, Reason)> {
    let mut by_age: Vec<&ClipRow> = clips.iter().collect();
    by_age.sort_by_key(|c| (c.start.unwrap_or(Time::ZERO), c.id));
    let mut out: Vec<(i64, Reason)> = Vec::new();
    let mut gone = std::collections::HashSet::new();
    for c in by_age.iter().copied().filter(|c| eligible(c)) {
        let limit = policy
            .camera_max_age
            .get(&c.camera)
            .copied()
            .or(policy.max_age);
        let Some(limit) = limit else { continue };
        let ended = c.end.or(c.start).unwrap_or(Time::ZERO);
        if ended < now.minus(limit) {
            out.push((c.id, Reason::MaxAge));
            gone.insert(c.id);
        }
    }
    let mut held: u64 = clips
        .iter()
        .filter(|c| !gone.contains(&c.id))
        .map(|c| c.bytes)
        .sum();
    let mut freed: u64 = clips
        .iter()
        .filter(|c| gone.contains(&c.id))
        .map(|c| c.bytes)
        .sum();
    let min_free = policy
        .min_free
        .zip(disk)
        .map(|(m, d)| m.bytes(d.total_bytes));
    let candidates: Vec<&ClipRow> = by_age
        .iter()
        .copied()
        .filter(|c| eligible(c) && !gone.contains(&c.id))
        .collect();
    for c in candidates {
        let over_bytes = policy.max_bytes.is_some_and(|m| held > m);
        let low_free = match (min_free, disk) {
            (Some(m), Some(d)) => d.free_bytes + freed < m,
            _ => false,
        };
        if !over_bytes && !low_free {
            break;
        }
        out.push((
            c.id,
            if over_bytes {
                Reason::MaxBytes
            } else {
                Reason::MinFree
            },
        ));
        held = held.saturating_sub(c.bytes);
        freed += c.bytes;
    }
    out
}

/// What retention has done, for `/api/storage` and `/metrics`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RetentionState {
    #[serde(serialize_with = "ser_time_opt")]
    pub last_run: Option<Time>,
    pub runs: u64,
    pub deleted_clips: u64,
    pub deleted_bytes: u64,
    pub deleted_by_reason: HashMap<&'static str, u64>,
    /// The latest deletions, newest first.
    pub recent: Vec<Deletion>,
    pub last_error: Option<String>,
}

const RECENT: usize = 50;

pub struct Retention {
    catalog: Arc<Catalog>,
    root: PathBuf,
    /// A camera's own `max_age_days` changes when cameras are added, changed or removed.
    policy: Mutex<Policy>,
    state: Mutex<RetentionState>,
}

impl Retention {
    pub fn new(catalog: Arc<Catalog>, root: PathBuf, policy: Policy) -> Self {
        Retention {
            catalog,
            root,
            policy: Mutex::new(policy),
            state: Mutex::new(RetentionState::default()),
        }
    }

    pub fn policy(&self) -> Policy {
        self.policy
            .lock()
            .map(|p| p.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Sets (or with `None` removes) a camera's own retention by age.
    pub fn set_camera_max_age(&self, camera: &str, days: Option<u32>) {
        let mut p = self.policy.lock().unwrap_or_else(|p| p.into_inner());
        match days {
            Some(d) => {
                p.camera_max_age.insert(
                    camera.to_owned(),
                    Duration::from_secs(u64::from(d) * 86_400),
                );
            }
            None => {
                p.camera_max_age.remove(camera);
            }
        }
    }

    pub fn state(&self) -> RetentionState {
        self.state
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn disk(&self) -> Option<Disk> {
        disk_usage(&self.root)
            .ok()
            .map(|(total_bytes, _, free_bytes)| Disk {
                total_bytes,
                free_bytes,
            })
    }

    /// Applies the policy once. Returns what was deleted.
    pub fn run(&self, now: Time) -> Vec<Deletion> {
        let mut done = Vec::new();
        let result = self.run_inner(now, &mut done);
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.last_run = Some(now);
        st.runs += 1;
        st.last_error = result.err();
        for d in &done {
            st.deleted_clips += 1;
            st.deleted_bytes += d.bytes;
            *st.deleted_by_reason.entry(d.reason.as_str()).or_default() += 1;
            st.recent.insert(0, d.clone());
        }
        st.recent.truncate(RECENT);
        done
    }

    fn run_inner(&self, now: Time, done: &mut Vec<Deletion>) -> Result<(), String> {
        let policy = self.policy();
        if policy.is_empty() {
            return Ok(());
        }
        let clips = self
            .catalog
            // A node of a cluster deletes its own clips only: the others' files are theirs.
            .clips(&ClipFilter {
                own: true,
                ..Default::default()
            })
            .map_err(|e| e.to_string())?;
        let by_id: HashMap<i64, &ClipRow> = clips.iter().map(|c| (c.id, c)).collect();
        for (id, reason) in plan(&clips, self.disk(), now, &policy) {
            let Some(c) = by_id.get(&id) else { continue };
            let path = self.root.join(&c.key);
            match crate::thumbs::remove_clip(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    warn!("retention: cannot delete {}: {e}", c.key);
                    return Err(format!("cannot delete {}: {e}", c.key));
                }
            }
            self.catalog.delete_clip(id).map_err(|e| e.to_string())?;
            info!(camera = %c.camera, id, key = %c.key, bytes = c.bytes, reason = reason.as_str(), "retention deleted a clip");
            done.push(Deletion {
                id,
                camera: c.camera.clone(),
                key: c.key.clone(),
                bytes: c.bytes,
                reason,
                at: Some(now),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
