//! Cameras added or changed through the API (docs/cameras.md), kept so they survive restarts:
//! each one's `[[camera]]` keys as the JSON object the API took.

use super::db::{args, Conn, Dialect};
use super::{now_micros, Catalog, Result};

/// One stored camera.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredCamera {
    pub name: String,
    /// Its `[[camera]]` keys (a JSON object).
    pub entry: serde_json::Value,
    /// Added through the API (else: a config-file camera whose keys were changed).
    pub from_api: bool,
}

impl Catalog {
    /// Every stored camera, in the order they were first stored.
    pub fn stored_cameras(&self) -> Result<Vec<StoredCamera>> {
        self.with(|c| {
            let order = match c.dialect() {
                Dialect::Sqlite => "rowid",
                Dialect::Postgres => "seq",
            };
            c.query(
                &format!("SELECT name, entry, from_api FROM camera_config ORDER BY {order}"),
                args![],
            )?
            .iter()
            .map(|r| {
                let text: String = r.get(1)?;
                Ok(StoredCamera {
                    name: r.get(0)?,
                    // Unreadable JSON comes back as null: the start says so and skips it.
                    entry: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
                    from_api: r.get(2)?,
                })
            })
            .collect()
        })
    }

    /// Stores a camera's keys under `name` (replacing what was there, and a camera stored
    /// under `old_name` when it is renamed). Its settings and detection keys saved through the
    /// other endpoints are dropped: these keys are the whole camera now.
    pub fn store_camera(&self, old_name: Option<&str>, cam: &StoredCamera) -> Result<()> {
        self.tx(|c| {
            if let Some(old) = old_name {
                c.execute("DELETE FROM camera_config WHERE name = ?1", args![old])?;
                clear_overlays(c, old)?;
            }
            clear_overlays(c, &cam.name)?;
            c.execute(
                "INSERT INTO camera_config (name, entry, from_api, updated_at) \
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(name) DO UPDATE \
                 SET entry = excluded.entry, updated_at = excluded.updated_at",
                args![cam.name, cam.entry.to_string(), cam.from_api, now_micros()],
            )?;
            Ok(())
        })
    }

    /// Forgets a camera's stored keys and settings (its clips stay).
    pub fn forget_camera(&self, name: &str) -> Result<()> {
        self.tx(|c| {
            c.execute("DELETE FROM camera_config WHERE name = ?1", args![name])?;
            clear_overlays(c, name)
        })
    }
}

fn clear_overlays(c: &mut dyn Conn, name: &str) -> Result<()> {
    for table in ["camera_settings", "camera_detect"] {
        c.execute(
            &format!(
                "DELETE FROM {table} WHERE camera_id IN (SELECT id FROM camera WHERE name = ?1)"
            ),
            args![name],
        )?;
    }
    Ok(())
}
