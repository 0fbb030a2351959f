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
