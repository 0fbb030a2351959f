//! Cameras added or changed through the API (docs/cameras.md), kept so they survive restarts:
//! each one's `[[camera]]` keys as the JSON object the API took.

use rusqlite::params;

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
        let conn = self.conn();
        let mut st =
            conn.prepare("SELECT name, entry, from_api FROM camera_config ORDER BY rowid")?;
        let rows = st.query_map([], |r| {
            let text: String = r.get(1)?;
            Ok(StoredCamera {
                name: r.get(0)?,
                // Unreadable JSON comes back as null: the start says so and skips it.
                entry: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
                from_api: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// Stores a camera's keys under `name` (replacing what was there, and a camera stored
    /// under `old_name` when it is renamed). Its settings and detection keys saved through the
    /// other endpoints are dropped: these keys are the whole camera now.
    pub fn store_camera(&self, old_name: Option<&str>, cam: &StoredCamera) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if let Some(old) = old_name {
            tx.execute("DELETE FROM camera_config WHERE name = ?1", [old])?;
            clear_overlays(&tx, old)?;
        }
        clear_overlays(&tx, &cam.name)?;
        tx.execute(
            "INSERT INTO camera_config (name, entry, from_api, updated_at) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT(name) DO UPDATE SET entry = excluded.entry, updated_at = excluded.updated_at",
            params![cam.name, cam.entry.to_string(), cam.from_api, now_micros()],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Forgets a camera's stored keys and settings (its clips stay).
    pub fn forget_camera(&self, name: &str) -> Result<()> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute("DELETE FROM camera_config WHERE name = ?1", [name])?;
        clear_overlays(&tx, name)?;
        tx.commit()?;
        Ok(())
    }
}

fn clear_overlays(tx: &rusqlite::Transaction<'_>, name: &str) -> Result<()> {
    for table in ["camera_settings", "camera_detect"] {
        tx.execute(
            &format!(
                "DELETE FROM {table} WHERE camera_id IN (SELECT id FROM camera WHERE name = ?1)"
            ),
            [name],
        )?;
    }
    Ok(())
}
