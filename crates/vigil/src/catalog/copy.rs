//! Copying a whole catalog into another (`vigil catalog migrate-to postgres://...`): every row
//! of every table, ids kept (clips, events and users keep their numbers, so links and the
//! API's ids stay true), in one transaction on the target: it ends with all of it or nothing.

use serde::Serialize;

use super::db::{args, Dialect, Value};
use super::{Catalog, CatalogError, Result};

/// The tables in the order their references allow, with the columns both engines have.
const TABLES: &[(&str, &str, &str)] = &[
    // (table, columns, order)
    ("camera", "id, name, created_at", "id"),
    (
        "camera_settings",
        "camera_id, settings, updated_at",
        "camera_id",
    ),
    (
        "camera_detect",
        "camera_id, settings, updated_at",
        "camera_id",
    ),
    // Insertion order is the cameras' order (SQLite's rowid, PostgreSQL's seq).
    (
        "camera_config",
        "name, entry, from_api, updated_at",
        "{order}",
    ),
    (
        "motion_event",
        "id, camera_id, kind, source, started_at, ended_at, camera_started_at, camera_ended_at, \
         \"overlaps\", timed_out",
        "id",
    ),
    (
        "clip",
        "id, camera_id, event_id, key, status, start_at, end_at, duration_secs, bytes, frames, \
         video_codec, width, height, pre_roll_secs, trigger, close_reason, protected, opened_at, \
         store_status, stored_at, local_deleted, sha256, node",
        "id",
    ),
    (
        "clip_upload",
        "clip_id, upload_id, part_size, parts, started_at",
        "clip_id",
    ),
    ("store_delete", "key, upload_id, queued_at", "key"),
    ("cluster_node", "name, url, seen_at", "name"),
    ("camera_lease", "camera, node, expires_at, epoch", "camera"),
    ("event_clip", "event_id, clip_id", "event_id, clip_id"),
    ("\"user\"", "id, name, role, hash, created_at", "id"),
    (
        "session",
        "token_hash, user_id, created_at, expires_at",
        "token_hash",
    ),
];

/// Tables whose `id` the engine hands out: its counter must start after the copied ids.
const ID_TABLES: &[&str] = &["camera", "motion_event", "clip", "\"user\""];

/// Rows copied per table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyReport {
    pub tables: Vec<(String, u64)>,
}

fn config_order(d: Dialect) -> &'static str {
    match d {
        Dialect::Sqlite => "rowid",
        Dialect::Postgres => "seq",
    }
}

impl Catalog {
    /// Copies every row of this catalog into `target`, which must be empty (no camera, clip,
    /// event or user).
    pub fn copy_into(&self, target: &Catalog) -> Result<CopyReport> {
        if self.schema_version()? != target.schema_version()? {
            return Err(CatalogError::Row(
                "the two catalogs have different schema versions".into(),
            ));
        }
        let source_order = config_order(self.dialect());
        target.tx(|t| {
            for table in [
                "camera",
                "clip",
                "motion_event",
                "\"user\"",
                "camera_config",
            ] {
                let n = t
                    .query_one(&format!("SELECT COUNT(*) FROM {table}"), args![])?
                    .count(0)?;
                if n > 0 {
                    return Err(CatalogError::Row(format!(
                        "{} is not empty ({table} has {n} rows): refusing to copy into it",
                        target.location()
                    )));
                }
            }
            let mut report = CopyReport { tables: Vec::new() };
            for (table, cols, order) in TABLES {
                let order = order.replace("{order}", source_order);
                let rows = self.with(|s| {
                    s.query(
                        &format!("SELECT {cols} FROM {table} ORDER BY {order}"),
                        args![],
                    )
                })?;
                let n_cols = cols.split(',').count();
                let marks: Vec<String> = (1..=n_cols).map(|i| format!("?{i}")).collect();
                let insert = format!("INSERT INTO {table} ({cols}) VALUES ({})", marks.join(", "));
                for r in &rows {
                    let vals: Vec<Value> = r.0.clone();
                    t.execute(&insert, &vals)?;
                }
                report
                    .tables
                    .push((table.trim_matches('"').to_owned(), rows.len() as u64));
            }
            if t.dialect() == Dialect::Postgres {
                for table in ID_TABLES {
                    let name = table.replace('"', "");
                    t.execute(
                        &format!(
                            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
                             COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)"
                        ),
                        args![],
                    )
                    .map_err(|e| CatalogError::Row(format!("resetting {name}'s ids: {e}")))?;
                }
            }
            Ok(report)
        })
    }
}
