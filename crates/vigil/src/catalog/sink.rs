//! The catalog writer: a lossless subscriber of the notice stream (`crate::notice`) that turns
//! every camera's notices into catalog rows, on a thread of its own, so that a slow catalog
//! never holds up a camera. A catalog error is logged and recording goes on: losing a row is
//! bad, losing the video is worse, and the next start's reconciliation adopts the file anyway.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::error;

use super::{Catalog, ClipFacts, NewClip};
use crate::clips::ClipRecord;
use crate::notice::{Notice, Subscription};

/// What the writer remembers of one camera's open events and clips.
#[derive(Default)]
struct CameraRows {
    /// Recorder event number → catalog event id.
    events: HashMap<u64, i64>,
    /// Clip path → catalog clip id.
    clips: HashMap<PathBuf, i64>,
}

/// Turns notices into catalog rows.
pub struct CatalogWriter {
    catalog: Arc<Catalog>,
    clips_root: PathBuf,
    cameras: HashMap<Arc<str>, CameraRows>,
}

impl CatalogWriter {
    pub fn new(catalog: Arc<Catalog>, clips_root: PathBuf) -> CatalogWriter {
        CatalogWriter {
            catalog,
            clips_root,
            cameras: HashMap::new(),
        }
    }

    /// Applies one notice of `camera`; errors are logged (module docs).
    pub fn apply(&mut self, camera: &Arc<str>, notice: &Notice) {
        if let Notice::Stopped { .. } = notice {
            // A restarted camera's recorder numbers its events from the start again.
            self.cameras.remove(camera);
            return;
        }
        let rows = self.cameras.entry(camera.clone()).or_default();
        if let Err(e) = apply(&self.catalog, &self.clips_root, camera, notice, rows) {
            error!(camera = %camera, "catalog update failed: {e}");
        }
    }

    /// Applies every notice of `sub` until the stream ends (the bus is closed and drained);
    /// `after` runs after each one. Blocks: run it on a thread of its own.
    pub fn run(mut self, mut sub: Subscription, mut after: impl FnMut(&Notice)) {
        while let Some(n) = sub.blocking_recv() {
            self.apply(&n.camera, &n.notice);
            after(&n.notice);
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
    rows: &mut CameraRows,
) -> super::Result<()> {
    let CameraRows { events, clips } = rows;
    match notice {
        Notice::Started { .. }
        | Notice::Stopped { .. }
        | Notice::State { .. }
        | Notice::WriteFailed { .. }
        | Notice::Stream { .. }
        | Notice::EventClient { .. } => {}
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
            ..
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
