//! Clip rows.

use rusqlite::{params, OptionalExtension, Row};
use serde::Serialize;
use vigil_core::kind::{EventKind, KindSet};
use vigil_core::time::Time;

use super::{camera_id, now_micros, opt_time, Catalog, Result};
use crate::clips::{ser_time_opt, ClipStatus};

/// A clip as it opens.
#[derive(Debug, Clone)]
pub struct NewClip<'a> {
    pub camera: &'a str,
    pub event_id: Option<i64>,
    /// Path relative to the storage root.
    pub key: &'a str,
    pub video_codec: &'a str,
    pub width: u16,
    pub height: u16,
    pub trigger: &'a str,
}

/// What the catalog knows of a clip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClipRow {
    pub id: i64,
    pub camera: String,
    pub event_id: Option<i64>,
    pub key: String,
    pub status: ClipStatus,
    #[serde(serialize_with = "ser_time_opt")]
    pub start: Option<Time>,
    #[serde(serialize_with = "ser_time_opt")]
    pub end: Option<Time>,
    pub duration_secs: f64,
    pub bytes: u64,
    pub frames: u64,
    pub video_codec: String,
    pub width: u16,
    pub height: u16,
    pub pre_roll_secs: f64,
    pub trigger: String,
    pub close_reason: Option<String>,
    pub protected: bool,
    /// The kinds of the events that happened during the clip.
    #[serde(serialize_with = "ser_kinds")]
    pub kinds: KindSet,
}

fn ser_kinds<S: serde::Serializer>(k: &KindSet, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(k.names())
}

/// Clips and bytes per camera.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraUsage {
    pub camera: String,
    pub clips: u64,
    pub bytes: u64,
    pub protected_clips: u64,
    #[serde(serialize_with = "ser_time_opt")]
    pub oldest: Option<Time>,
    #[serde(serialize_with = "ser_time_opt")]
    pub newest: Option<Time>,
}

/// Facts known when a clip closes (or is recovered).
#[derive(Debug, Clone, Default)]
pub struct ClipFacts {
    pub start: Option<Time>,
    pub end: Option<Time>,
    pub duration_secs: f64,
    pub bytes: u64,
    pub frames: u64,
    pub pre_roll_secs: f64,
    pub close_reason: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ClipFilter {
    pub camera: Option<String>,
    /// Clips that end at or after `from` …
    pub from: Option<Time>,
    /// … and start before `to`.
    pub to: Option<Time>,
    pub limit: Option<u32>,
    /// Clips during which an event of this kind happened.
    pub kind: Option<EventKind>,
}

const COLUMNS: &str = "clip.id, camera.name, clip.event_id, clip.key, clip.status, clip.start_at, \
    clip.end_at, clip.duration_secs, clip.bytes, clip.frames, clip.video_codec, clip.width, \
    clip.height, clip.pre_roll_secs, clip.trigger, clip.close_reason, clip.protected, \
    (SELECT group_concat(DISTINCT e.kind) FROM event_clip ec \
     JOIN motion_event e ON e.id = ec.event_id WHERE ec.clip_id = clip.id)";

/// A list of kind names as stored (`group_concat`); a name this version doesn't know is skipped.
pub(super) fn parse_kinds(s: Option<String>) -> KindSet {
    s.unwrap_or_default()
        .split(',')
        .filter_map(|k| k.parse::<EventKind>().ok())
        .collect()
}

fn status_str(s: ClipStatus) -> &'static str {
    match s {
        ClipStatus::Recording => "recording",
        ClipStatus::Complete => "complete",
        ClipStatus::Recovered => "recovered",
    }
}

fn row_to_clip(r: &Row<'_>) -> rusqlite::Result<ClipRow> {
    let status: String = r.get(4)?;
    Ok(ClipRow {
        id: r.get(0)?,
        camera: r.get(1)?,
        event_id: r.get(2)?,
        key: r.get(3)?,
        status: match status.as_str() {
            "recording" => ClipStatus::Recording,
            "recovered" => ClipStatus::Recovered,
            _ => ClipStatus::Complete,
        },
        start: opt_time(r.get(5)?),
        end: opt_time(r.get(6)?),
        duration_secs: r.get(7)?,
        bytes: r.get::<_, i64>(8)?.max(0) as u64,
        frames: r.get::<_, i64>(9)?.max(0) as u64,
        video_codec: r.get(10)?,
        width: r.get::<_, i64>(11)?.clamp(0, u16::MAX.into()) as u16,
        height: r.get::<_, i64>(12)?.clamp(0, u16::MAX.into()) as u16,
        pre_roll_secs: r.get(13)?,
        trigger: r.get(14)?,
        close_reason: r.get(15)?,
        kinds: parse_kinds(r.get(17)?),
        protected: r.get::<_, i64>(16)? != 0,
    })
}

impl Catalog {
    /// Inserts a clip that has just been opened (status `recording`); returns its id.
    pub fn insert_clip(&self, c: &NewClip<'_>) -> Result<i64> {
        let conn = self.conn();
        let cam = camera_id(&conn, c.camera)?;
        conn.execute(
            "INSERT INTO clip (camera_id, event_id, key, status, video_codec, width, height, \
             trigger, opened_at) VALUES (?1, ?2, ?3, 'recording', ?4, ?5, ?6, ?7, ?8)",
            params![
                cam,
                c.event_id,
                c.key,
                c.video_codec,
                c.width,
                c.height,
                c.trigger,
                now_micros()
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Records a clip's final facts and status (`complete`, or `recovered` after a crash).
    pub fn finish_clip(&self, id: i64, status: ClipStatus, f: &ClipFacts) -> Result<()> {
        self.conn().execute(
            "UPDATE clip SET status = ?2, start_at = ?3, end_at = ?4, duration_secs = ?5, \
             bytes = ?6, frames = ?7, pre_roll_secs = ?8, close_reason = ?9 WHERE id = ?1",
            params![
                id,
                status_str(status),
                f.start.map(|t| t.0),
                f.end.map(|t| t.0),
                f.duration_secs,
                f.bytes as i64,
                f.frames as i64,
                f.pre_roll_secs,
                f.close_reason
            ],
        )?;
        Ok(())
    }

    /// The clip's first frame and achieved pre-roll, known once its pre-roll is written.
    pub fn set_clip_start(&self, id: i64, start: Time, pre_roll_secs: f64) -> Result<()> {
        self.conn().execute(
            "UPDATE clip SET start_at = ?2, pre_roll_secs = ?3 WHERE id = ?1",
            params![id, start.0, pre_roll_secs],
        )?;
        Ok(())
    }

    pub fn clip(&self, id: i64) -> Result<Option<ClipRow>> {
        let sql = format!("SELECT {COLUMNS} FROM clip JOIN camera ON camera.id = clip.camera_id WHERE clip.id = ?1");
        Ok(self.conn().query_row(&sql, [id], row_to_clip).optional()?)
    }

    pub fn clip_by_key(&self, key: &str) -> Result<Option<ClipRow>> {
        let sql = format!("SELECT {COLUMNS} FROM clip JOIN camera ON camera.id = clip.camera_id WHERE clip.key = ?1");
        Ok(self.conn().query_row(&sql, [key], row_to_clip).optional()?)
    }

    /// The camera's newest finished clip (Home Assistant's "last clip").
    pub fn last_clip(&self, camera: &str) -> Result<Option<ClipRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM clip JOIN camera ON camera.id = clip.camera_id \
             WHERE camera.name = ?1 AND clip.status != 'recording' AND clip.end_at IS NOT NULL \
             ORDER BY clip.end_at DESC, clip.id DESC LIMIT 1"
        );
        Ok(self
            .conn()
            .query_row(&sql, [camera], row_to_clip)
            .optional()?)
    }

    /// Clips matching `f`, newest first.
    pub fn clips(&self, f: &ClipFilter) -> Result<Vec<ClipRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM clip JOIN camera ON camera.id = clip.camera_id \
             WHERE (?1 IS NULL OR camera.name = ?1) \
               AND (?2 IS NULL OR COALESCE(clip.end_at, clip.start_at, clip.opened_at) >= ?2) \
               AND (?3 IS NULL OR COALESCE(clip.start_at, clip.opened_at) < ?3) \
               AND (?5 IS NULL OR EXISTS (SELECT 1 FROM event_clip ec \
                    JOIN motion_event e ON e.id = ec.event_id \
                    WHERE ec.clip_id = clip.id AND e.kind = ?5)) \
             ORDER BY COALESCE(clip.start_at, clip.opened_at) DESC, clip.id DESC LIMIT ?4"
        );
        let conn = self.conn();
        let mut st = conn.prepare_cached(&sql)?;
        let rows = st.query_map(
            params![
                f.camera,
                f.from.map(|t| t.0),
                f.to.map(|t| t.0),
                f.limit.map_or(-1, i64::from),
                f.kind.map(EventKind::as_str)
            ],
            row_to_clip,
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    pub fn clips_with_status(&self, status: ClipStatus) -> Result<Vec<ClipRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM clip JOIN camera ON camera.id = clip.camera_id \
             WHERE clip.status = ?1 ORDER BY clip.id"
        );
        let conn = self.conn();
        let mut st = conn.prepare_cached(&sql)?;
        let rows = st.query_map([status_str(status)], row_to_clip)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Every clip's key (for reconciling with the files on disk).
    pub fn clip_keys(&self) -> Result<Vec<(i64, String)>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached("SELECT id, key FROM clip")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Clips, bytes and oldest/newest clip start per camera (cameras with no clip included).
    pub fn usage(&self) -> Result<Vec<CameraUsage>> {
        let conn = self.conn();
        let mut st = conn.prepare_cached(
            "SELECT camera.name, COUNT(clip.id), COALESCE(SUM(clip.bytes), 0),                     COALESCE(SUM(clip.protected), 0), MIN(COALESCE(clip.start_at, clip.opened_at)),                     MAX(COALESCE(clip.start_at, clip.opened_at))              FROM camera LEFT JOIN clip ON clip.camera_id = camera.id              GROUP BY camera.id ORDER BY camera.name",
        )?;
        let rows = st.query_map([], |r| {
            Ok(CameraUsage {
                camera: r.get(0)?,
                clips: r.get::<_, i64>(1)?.max(0) as u64,
                bytes: r.get::<_, i64>(2)?.max(0) as u64,
                protected_clips: r.get::<_, i64>(3)?.max(0) as u64,
                oldest: opt_time(r.get(4)?),
                newest: opt_time(r.get(5)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Removes a clip's row; true if there was one.
    pub fn delete_clip(&self, id: i64) -> Result<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM clip WHERE id = ?1", [id])?
            > 0)
    }

    pub fn set_protected(&self, id: i64, protected: bool) -> Result<bool> {
        Ok(self.conn().execute(
            "UPDATE clip SET protected = ?2 WHERE id = ?1",
            params![id, protected],
        )? > 0)
    }
}
