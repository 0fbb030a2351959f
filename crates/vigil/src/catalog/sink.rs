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
    /// The camera's events that are on: its event number → catalog event id, oldest first.
    events: Vec<(u64, i64)>,
    /// Open clips: path → catalog clip id.
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

    /// Applies one notice of `camera`; errors are logged (module docs). Returns the catalog id
    /// of the clip a clip notice is about.
    pub fn apply(&mut self, camera: &Arc<str>, notice: &Notice) -> Option<i64> {
        if let Notice::Stopped { .. } = notice {
            // A restarted camera's recorder numbers its events from the start again.
            self.cameras.remove(camera);
            return None;
        }
        let rows = self.cameras.entry(camera.clone()).or_default();
        match apply(&self.catalog, &self.clips_root, camera, notice, rows) {
            Ok(id) => id,
            Err(e) => {
                error!(camera = %camera, "catalog update failed: {e}");
                None
            }
        }
    }

    /// Applies every notice of `sub` until the stream ends (the bus is closed and drained);
    /// `after` runs after each one, with the clip's catalog id for a clip notice. Blocks: run
    /// it on a thread of its own.
    pub fn run(mut self, mut sub: Subscription, mut after: impl FnMut(&Notice, Option<i64>)) {
        while let Some(n) = sub.blocking_recv() {
            let clip = self.apply(&n.camera, &n.notice);
            after(&n.notice, clip);
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
) -> super::Result<Option<i64>> {
    let CameraRows { events, clips } = rows;
    match notice {
        Notice::Started { .. }
        | Notice::Stopped { .. }
        | Notice::Removed { .. }
        | Notice::Configured { .. }
        | Notice::State { .. }
        | Notice::WriteFailed { .. }
        | Notice::Stream { .. }
        | Notice::EventClient { .. } => {}
        // The recorder's own events (motion on/off as it records) are in the camera's stats;
        // the rows are the events by kind below.
        Notice::MotionStarted { .. }
        | Notice::MotionOverlap { .. }
        | Notice::MotionEnded { .. } => {}
        Notice::EventStarted {
            id: event,
            kind,
            source,
            at,
            camera_time,
        } => {
            let row = cat.insert_event(camera, *kind, source.as_str(), *at, *camera_time)?;
            for (_, other) in events.iter() {
                cat.count_overlap(*other)?;
            }
            for clip in clips.values() {
                cat.link_event_clip(row, *clip)?;
            }
            events.push((*event, row));
        }
        Notice::EventEnded {
            id: event,
            at,
            timed_out,
            camera_time,
            ..
        } => {
            if let Some(i) = events.iter().position(|(e, _)| e == event) {
                let (_, row) = events.remove(i);
                cat.end_event(row, *at, *timed_out, *camera_time)?;
            }
        }
        Notice::ClipOpened(rec) => {
            let id = cat.insert_clip(&NewClip {
                camera,
                // The event that opened it: the oldest one on.
                event_id: events.first().map(|(_, row)| *row),
                key: &key_of(root, rec),
                video_codec: rec.video_codec,
                width: rec.width,
                height: rec.height,
                trigger: rec.trigger,
            })?;
            for (_, event) in events.iter() {
                cat.link_event_clip(*event, id)?;
            }
            clips.insert(rec.path.clone(), id);
            return Ok(Some(id));
        }
        Notice::ClipStarted(rec) => {
            if let (Some(id), Some(start)) = (clips.get(&rec.path), rec.start) {
                cat.set_clip_start(*id, start, rec.pre_roll_secs)?;
                return Ok(Some(*id));
            }
        }
        Notice::ClipClosed(rec) => {
            if let Some(id) = clips.remove(&rec.path) {
                cat.finish_clip(id, rec.status, &facts(rec))?;
                return Ok(Some(id));
            }
        }
        Notice::ClipDiscarded(rec) => {
            if let Some(id) = clips.remove(&rec.path) {
                cat.delete_clip(id)?;
            }
        }
    }
    Ok(None)
}
