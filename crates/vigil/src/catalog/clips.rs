//! Clip rows.

use serde::Serialize;
use vigil_core::kind::{EventKind, KindSet};
use vigil_core::time::Time;

use super::db::{args, Conn, Dialect, Row};
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
    /// Where its bytes are: `local`, `uploading` (to the clip store), `stored`.
    pub store_status: super::StoreStatus,
    /// Whether the local file is still kept (false: only the store has it).
    pub local: bool,
    /// The node that wrote it ('' on a single vigil).
    pub node: String,
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
    /// Only the clips this node wrote (retention: a node deletes its own).
    pub own: bool,
}

/// A clip row's columns (`row_to_clip` reads them), from `clip JOIN camera`.
fn columns(d: Dialect) -> String {
    format!(
        "clip.id, camera.name, clip.event_id, clip.key, clip.status, clip.start_at, \
         clip.end_at, clip.duration_secs, clip.bytes, clip.frames, clip.video_codec, clip.width, \
         clip.height, clip.pre_roll_secs, clip.trigger, clip.close_reason, clip.protected, \
         (SELECT {} FROM event_clip ec \
          JOIN motion_event e ON e.id = ec.event_id WHERE ec.clip_id = clip.id), \
         clip.store_status, clip.local_deleted, clip.node",
        d.group_concat("e.kind", true)
    )
}

/// Clips matching the SQL condition `cond` (on `clip` and `camera`), in `order`.
fn select_clips(
    c: &mut dyn Conn,
    cond: &str,
    tail: &str,
    args: &[super::db::Value],
) -> Result<Vec<ClipRow>> {
    let sql = format!(
        "SELECT {} FROM clip JOIN camera ON camera.id = clip.camera_id WHERE {cond} {tail}",
        columns(c.dialect())
    );
    c.query(&sql, args)?.iter().map(row_to_clip).collect()
}

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

fn row_to_clip(r: &Row) -> Result<ClipRow> {
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
        bytes: r.count(8)?,
        frames: r.count(9)?,
        video_codec: r.get(10)?,
        width: r.count(11)?.min(u16::MAX.into()) as u16,
        height: r.count(12)?.min(u16::MAX.into()) as u16,
        pre_roll_secs: r.get(13)?,
        trigger: r.get(14)?,
        close_reason: r.get(15)?,
        kinds: parse_kinds(r.get(17)?),
        protected: r.get(16)?,
        store_status: super::StoreStatus::parse(&r.get::<String>(18)?),
        local: !r.get::<bool>(19)?,
        node: r.get(20)?,
    })
}

impl Catalog {
    /// Inserts a clip that has just been opened (status `recording`); returns its id.
    pub fn insert_clip(&self, n: &NewClip<'_>) -> Result<i64> {
        self.with(|c| {
            let cam = camera_id(c, n.camera)?;
            c.query_one(
                "INSERT INTO clip (camera_id, event_id, key, status, video_codec, width, height, \
                 trigger, opened_at, node) \
                 VALUES (?1, ?2, ?3, 'recording', ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
                args![
                    cam,
                    n.event_id,
                    n.key,
                    n.video_codec,
                    n.width,
                    n.height,
                    n.trigger,
                    now_micros(),
                    self.node()
                ],
            )?
            .get(0)
        })
    }

    /// Records a clip's final facts and status (`complete`, or `recovered` after a crash).
    pub fn finish_clip(&self, id: i64, status: ClipStatus, f: &ClipFacts) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE clip SET status = ?2, start_at = ?3, end_at = ?4, duration_secs = ?5, \
                 bytes = ?6, frames = ?7, pre_roll_secs = ?8, close_reason = ?9 WHERE id = ?1",
                args![
                    id,
                    status_str(status),
                    f.start.map(|t| t.0),
                    f.end.map(|t| t.0),
                    f.duration_secs,
                    f.bytes,
                    f.frames,
                    f.pre_roll_secs,
                    f.close_reason
                ],
            )
        })?;
        Ok(())
    }

    /// The clip's first frame and achieved pre-roll, known once its pre-roll is written.
    pub fn set_clip_start(&self, id: i64, start: Time, pre_roll_secs: f64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE clip SET start_at = ?2, pre_roll_secs = ?3 WHERE id = ?1",
                args![id, start.0, pre_roll_secs],
            )
        })?;
        Ok(())
    }

    pub fn clip(&self, id: i64) -> Result<Option<ClipRow>> {
        self.with(|c| Ok(select_clips(c, "clip.id = ?1", "", args![id])?.pop()))
    }

    pub fn clip_by_key(&self, key: &str) -> Result<Option<ClipRow>> {
        self.with(|c| Ok(select_clips(c, "clip.key = ?1", "", args![key])?.pop()))
    }

    /// The camera's newest finished clip (Home Assistant's "last clip").
    pub fn last_clip(&self, camera: &str) -> Result<Option<ClipRow>> {
        self.with(|c| {
            Ok(select_clips(
                c,
                "camera.name = ?1 AND clip.status != 'recording' AND clip.end_at IS NOT NULL",
                "ORDER BY clip.end_at DESC, clip.id DESC LIMIT 1",
                args![camera],
            )?
            .pop())
        })
    }

    /// Clips matching `f`, newest first.
    pub fn clips(&self, f: &ClipFilter) -> Result<Vec<ClipRow>> {
        // The arguments' types are spelled out: PostgreSQL can't guess them from `IS NULL`.
        let limit = f.limit.map(|l| format!("LIMIT {l}")).unwrap_or_default();
        self.with(|c| {
            select_clips(
                c,
                "(CAST(?1 AS TEXT) IS NULL OR camera.name = ?1) \
                 AND (CAST(?2 AS BIGINT) IS NULL \
                      OR COALESCE(clip.end_at, clip.start_at, clip.opened_at) >= ?2) \
                 AND (CAST(?3 AS BIGINT) IS NULL OR COALESCE(clip.start_at, clip.opened_at) < ?3) \
                 AND (CAST(?4 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM event_clip ec \
                      JOIN motion_event e ON e.id = ec.event_id \
                      WHERE ec.clip_id = clip.id AND e.kind = ?4)) \
                 AND (CAST(?5 AS TEXT) IS NULL OR clip.node = ?5)",
                &format!(
                    "ORDER BY COALESCE(clip.start_at, clip.opened_at) DESC, clip.id DESC {limit}"
                ),
                args![
                    f.camera,
                    f.from.map(|t| t.0),
                    f.to.map(|t| t.0),
                    f.kind.map(EventKind::as_str),
                    f.own.then(|| self.node())
                ],
            )
        })
    }

    /// This node's clips with this status.
    pub fn clips_with_status(&self, status: ClipStatus) -> Result<Vec<ClipRow>> {
        self.with(|c| {
            select_clips(
                c,
                "clip.status = ?1 AND clip.node = ?2",
                "ORDER BY clip.id",
                args![status_str(status), self.node()],
            )
        })
    }

    /// Every clip's key whose file should be on the local disk (for reconciling with the
    /// files; a clip only the store keeps has none).
    pub fn clip_keys(&self) -> Result<Vec<(i64, String)>> {
        self.with(|c| {
            c.query(
                "SELECT id, key FROM clip WHERE local_deleted = 0 AND node = ?1",
                args![self.node()],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
        })
    }

    /// Clips, bytes and oldest/newest clip start per camera (cameras with no clip included).
    pub fn usage(&self) -> Result<Vec<CameraUsage>> {
        self.with(|c| {
            c.query(
                "SELECT camera.name, COUNT(clip.id), CAST(COALESCE(SUM(clip.bytes), 0) AS BIGINT), \
                 CAST(COALESCE(SUM(clip.protected), 0) AS BIGINT), \
                 MIN(COALESCE(clip.start_at, clip.opened_at)), \
                 MAX(COALESCE(clip.start_at, clip.opened_at)) \
                 FROM camera LEFT JOIN clip ON clip.camera_id = camera.id \
                 GROUP BY camera.id, camera.name ORDER BY camera.name",
                args![],
            )?
            .iter()
            .map(|r| {
                Ok(CameraUsage {
                    camera: r.get(0)?,
                    clips: r.count(1)?,
                    bytes: r.count(2)?,
                    protected_clips: r.count(3)?,
                    oldest: opt_time(r.get(4)?),
                    newest: opt_time(r.get(5)?),
                })
            })
            .collect()
        })
    }

    /// Removes a clip's row; true if there was one. A clip the store has (or is taking) leaves
    /// its object in the store's deletion queue, in the same transaction.
    pub fn delete_clip(&self, id: i64) -> Result<bool> {
        self.tx(|c| {
            c.execute(
                "INSERT INTO store_delete (key, upload_id, queued_at) \
                 SELECT clip.key, u.upload_id, ?2 FROM clip \
                 LEFT JOIN clip_upload u ON u.clip_id = clip.id \
                 WHERE clip.id = ?1 AND clip.store_status != 'local' \
                 ON CONFLICT (key) DO NOTHING",
                args![id, now_micros()],
            )?;
            Ok(c.execute("DELETE FROM clip WHERE id = ?1", args![id])? > 0)
        })
    }

    pub fn set_protected(&self, id: i64, protected: bool) -> Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE clip SET protected = ?2 WHERE id = ?1",
                args![id, protected],
            )? > 0)
        })
    }
}
