//! Turns a camera pipeline's notices into catalog rows (on the camera's worker thread). A catalog
//! error is logged and recording goes on: losing a row is bad, losing the video is worse, and the
//! next start's reconciliation adopts the file anyway.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::error;

use super::{Catalog, ClipFacts, NewClip};
use crate::camera::Notice;
use crate::clips::ClipRecord;

/// A notice handler for one camera's worker.
pub fn notice_sink(catalog: Arc<Catalog>, clips_root: PathBuf) -> impl FnMut(&str, &Notice) + Send {
    // Recorder event number → catalog event id, and clip path → catalog clip id.
    let mut events: HashMap<u64, i64> = HashMap::new();
    let mut clips: HashMap<PathBuf, i64> = HashMap::new();
    move |camera, notice| {
        let result = apply(
            &catalog,
            &clips_root,
            camera,
            notice,
            &mut events,
            &mut clips,
        );
        if let Err(e) = result {
            error!(camera, "catalog update failed: {e}");
        }
    }
}

fn key_of(root: &Path, rec: &ClipRecord) -> String {
    rec.path
        .strip_prefix(root)
        .unwrap_or(&rec.path)
        .to_string_lossy()
        .into_owned()
}

fn facts(rec: &ClipRecord) -> ClipFacts {
    ClipFacts {
        start: rec.start,
        end: rec.end,
        duration_secs: rec.duration_secs,
        bytes: rec.bytes,
        frames: rec.frames,
        pre_roll_secs: rec.pre_roll_secs,
        close_reason: rec.close_reason.map(str::to_owned),
    }
}

fn apply(
    cat: &Catalog,
    root: &Path,
    camera: &str,
    notice: &Notice,
    events: &mut HashMap<u64, i64>,
    clips: &mut HashMap<PathBuf, i64>,
) -> super::Result<()> {
    match notice {
        Notice::State { .. } | Notice::WriteFailed { .. } => {}
        Notice::MotionStarted {
            event,
            source,
            at,
            camera_time,
        } => {
            let id = cat.insert_event(camera, source.as_str(), *at, *camera_time)?;
            events.insert(*event, id);
        }
        Notice::MotionOverlap { event, .. } => {
            if let Some(id) = events.get(event) {
                cat.add_overlap(*id)?;
            }
        }
        Notice::MotionEnded {
            event,
            at,
            timed_out,
            camera_time,
        } => {
            if let Some(id) = events.get(event) {
                cat.end_event(*id, *at, *timed_out, *camera_time)?;
            }
            // Keep the mapping: an event revived during its post-roll ends again later. Old
            // events are dropped once the map grows, as they can no longer change.
            if events.len() > 64 {
                let newest = *events.keys().max().unwrap_or(event);
                events.retain(|k, _| k + 16 > newest);
            }
        }
        Notice::ClipOpened(rec) => {
            let id = cat.insert_clip(&NewClip {
                camera,
                event_id: events.get(&rec.event).copied(),
                key: &key_of(root, rec),
                video_codec: rec.video_codec,
                width: rec.width,
                height: rec.height,
                trigger: rec.trigger,
            })?;
            clips.insert(rec.path.clone(), id);
        }
        Notice::ClipStarted(rec) => {
            if let (Some(id), Some(start)) = (clips.get(&rec.path), rec.start) {
                cat.set_clip_start(*id, start, rec.pre_roll_secs)?;
            }
        }
        Notice::ClipClosed(rec) => {
            if let Some(id) = clips.remove(&rec.path) {
                cat.finish_clip(id, rec.status, &facts(rec))?;
            }
        }
        Notice::ClipDiscarded(rec) => {
            if let Some(id) = clips.remove(&rec.path) {
                cat.delete_clip(id)?;
            }
        }
    }
    Ok(())
}
