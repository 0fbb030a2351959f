//! Event rows: one per event of one kind from one source (docs/events.md), from its start to its
//! end, linked to every clip that was open while it was on (`event_clip`). Events from before
//! kinds existed are plain `motion`.

use serde::Serialize;
use vigil_core::kind::EventKind;
use vigil_core::time::Time;

use super::db::args;
use super::{camera_id, opt_time, Catalog, Result};
use crate::clips::ser_time_opt;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRow {
    pub id: i64,
    pub camera: String,
    pub kind: String,
    pub source: String,
    /// Local clock.
    #[serde(serialize_with = "ser_time_opt")]
    pub start: Option<Time>,
    #[serde(serialize_with = "ser_time_opt")]
    pub end: Option<Time>,
    /// The camera's own clock, when it sent a time with the event.
    #[serde(serialize_with = "ser_time_opt")]
    pub camera_start: Option<Time>,
    #[serde(serialize_with = "ser_time_opt")]
    pub camera_end: Option<Time>,
    pub overlapping_events: u32,
    pub timed_out: bool,
    pub clip_ids: Vec<i64>,
}

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub camera: Option<String>,
    pub from: Option<Time>,
    pub to: Option<Time>,
    pub limit: Option<u32>,
    pub kind: Option<EventKind>,
}

impl Catalog {
    /// Every kind the camera's events ever had (Home Assistant gets a sensor per kind seen).
    pub fn kinds_seen(&self, camera: &str) -> Result<vigil_core::kind::KindSet> {
        self.with(|c| {
            let sql = format!(
                "SELECT {} FROM motion_event e JOIN camera c ON c.id = e.camera_id \
                 WHERE c.name = ?1",
                c.dialect().group_concat("e.kind", true)
            );
            let s: Option<String> = c.query_one(&sql, args![camera])?.get(0)?;
            Ok(super::clips::parse_kinds(s))
        })
    }

    pub fn insert_event(
        &self,
        camera: &str,
        kind: EventKind,
        source: &str,
        start: Time,
        camera_time: Option<Time>,
    ) -> Result<i64> {
        self.with(|c| {
            let cam = camera_id(c, camera)?;
            c.query_one(
                "INSERT INTO motion_event (camera_id, kind, source, started_at, \
                 camera_started_at) VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id",
                args![
                    cam,
                    kind.as_str(),
                    source,
                    start.0,
                    camera_time.map(|t| t.0)
                ],
            )?
            .get(0)
        })
    }

    /// The event happened (at least partly) during the clip.
    pub fn link_event_clip(&self, event: i64, clip: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO event_clip (event_id, clip_id) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
                args![event, clip],
            )
        })?;
        Ok(())
    }

    /// Another event started while this one was on.
    pub fn count_overlap(&self, id: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE motion_event SET \"overlaps\" = \"overlaps\" + 1 WHERE id = ?1",
                args![id],
            )
        })?;
        Ok(())
    }

    /// Sets the event's end (the latest end wins: an event revived during its post-roll ends
    /// again later).
    pub fn end_event(
        &self,
        id: i64,
        end: Time,
        timed_out: bool,
        camera_time: Option<Time>,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE motion_event SET ended_at = ?2, timed_out = ?3, \
                 camera_ended_at = COALESCE(?4, camera_ended_at) WHERE id = ?1",
                args![id, end.0, timed_out, camera_time.map(|t| t.0)],
            )
        })?;
        Ok(())
    }

    /// Events matching `f`, newest first, each with its clip ids.
    pub fn events(&self, f: &EventFilter) -> Result<Vec<EventRow>> {
        let limit = f.limit.map(|l| format!("LIMIT {l}")).unwrap_or_default();
        self.with(|c| {
            // The arguments' types are spelled out: PostgreSQL can't guess them from `IS NULL`.
            let sql = format!(
                "SELECT e.id, c.name, e.source, e.started_at, e.ended_at, e.camera_started_at, \
                        e.camera_ended_at, e.\"overlaps\", e.timed_out, \
                        (SELECT {} FROM event_clip WHERE event_id = e.id), \
                        e.kind \
                 FROM motion_event e JOIN camera c ON c.id = e.camera_id \
                 WHERE (CAST(?1 AS TEXT) IS NULL OR c.name = ?1) \
                   AND (CAST(?2 AS BIGINT) IS NULL OR COALESCE(e.ended_at, e.started_at) >= ?2) \
                   AND (CAST(?3 AS BIGINT) IS NULL OR e.started_at < ?3) \
                   AND (CAST(?4 AS TEXT) IS NULL OR e.kind = ?4) \
                 ORDER BY e.started_at DESC, e.id DESC {limit}",
                c.dialect().group_concat("clip_id", false)
            );
            let rows = c.query(
                &sql,
                args![
                    f.camera,
                    f.from.map(|t| t.0),
                    f.to.map(|t| t.0),
                    f.kind.map(EventKind::as_str)
                ],
            )?;
            rows.iter()
                .map(|r| {
                    let clips: Option<String> = r.get(9)?;
                    let mut clip_ids: Vec<i64> = clips
                        .unwrap_or_default()
                        .split(',')
                        .filter_map(|s| s.parse().ok())
                        .collect();
                    clip_ids.sort_unstable();
                    Ok(EventRow {
                        id: r.get(0)?,
                        camera: r.get(1)?,
                        kind: r.get(10)?,
                        source: r.get(2)?,
                        start: opt_time(r.get(3)?),
                        end: opt_time(r.get(4)?),
                        camera_start: opt_time(r.get(5)?),
                        camera_end: opt_time(r.get(6)?),
                        overlapping_events: r.count(7)?.min(u32::MAX.into()) as u32,
                        timed_out: r.get(8)?,
                        clip_ids,
                    })
                })
                .collect()
        })
    }
}
