//! The catalog: cameras, their API-set settings, motion events and clips, in an embedded SQLite
//! file (`<data_dir>/catalog.db`).
//!
//! This is the one narrow interface to stored state: no SQL outside this module, so a shared
//! PostgreSQL catalog can replace it later. One connection, behind a mutex, does all writing (SQLite
//! allows one writer; WAL lets outside readers, e.g. `sqlite3`, look without blocking us).
//! Schema changes are numbered migration files in `crates/vigil/migrations/`, applied in order at
//! open and recorded in `PRAGMA user_version`.
//!
//! Crash protocol (see docs/crash-safety.md): a clip's file is created and made durable first,
//! then its row is inserted with status `recording`; when the clip closes, the row becomes
//! `complete`. At start, [`Catalog::reconcile`] recovers every `recording` row's file (torn tail
//! cut, status `recovered`), adopts clip files that have no row, and drops rows whose file is gone.

mod cameras;
mod clips;
mod events;
mod reconcile;
mod settings;
mod sink;
mod users;

pub use cameras::StoredCamera;
pub use clips::{CameraUsage, ClipFacts, ClipFilter, ClipRow, NewClip};
pub use events::{EventFilter, EventRow};
pub use reconcile::ReconcileReport;
pub use sink::CatalogWriter;
pub use users::{SessionRow, UserRow};

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use rusqlite::Connection;
use vigil_core::time::Time;

/// Numbered migrations; index + 1 is the schema version each one produces.
/// The schema version this vigil writes (`PRAGMA user_version`): one per migration.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_initial.sql"),
    include_str!("../../migrations/0002_event_kinds.sql"),
    include_str!("../../migrations/0003_detect_settings.sql"),
    include_str!("../../migrations/0004_camera_config.sql"),
    include_str!("../../migrations/0005_users.sql"),
];

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("catalog {path} has schema version {found}, newer than this vigil knows ({known}); refusing to touch it")]
    TooNew {
        path: PathBuf,
        found: u32,
        known: u32,
    },
    #[error("catalog: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("catalog: stored settings for {camera} are unreadable: {message}")]
    BadSettings { camera: String, message: String },
}

pub type Result<T> = std::result::Result<T, CatalogError>;

pub struct Catalog {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("path", &self.path).finish()
    }
}

impl Catalog {
    /// Opens (or creates) the catalog and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Catalog> {
        let open_err = |source| CatalogError::Open {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open(path).map_err(open_err)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        // NORMAL in WAL mode: a crash can lose the last transactions but never corrupts; the
        // clip files themselves are made durable before their rows, so nothing is lost for good.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(open_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(open_err)?;
        let cat = Catalog {
            conn: Mutex::new(conn),
            path: path.to_owned(),
        };
        cat.migrate()?;
        Ok(cat)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock can't leave SQLite half-written (each call is one
        // statement or one transaction), so a poisoned lock is safe to keep using.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn migrate(&self) -> Result<()> {
        let known = MIGRATIONS.len() as u32;
        let mut conn = self.conn();
        let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found > known {
            return Err(CatalogError::TooNew {
                path: self.path.clone(),
                found,
                known,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            let tx = conn.transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as u32)?;
            tx.commit()?;
            tracing::info!("catalog: migrated to schema version {}", i + 1);
        }
        Ok(())
    }

    /// The camera's id, if the catalog has ever seen it.
    pub fn camera_known(&self, name: &str) -> Result<Option<i64>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn()
            .query_row("SELECT id FROM camera WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?)
    }

    /// The camera's id, creating its row on first use.
    pub fn camera_id(&self, name: &str) -> Result<i64> {
        camera_id(&self.conn(), name)
    }
}

fn camera_id(conn: &Connection, name: &str) -> Result<i64> {
    conn.execute(
        "INSERT INTO camera (name, created_at) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
        (name, now_micros()),
    )?;
    Ok(
        conn.query_row("SELECT id FROM camera WHERE name = ?1", [name], |r| {
            r.get(0)
        })?,
    )
}

/// Row bookkeeping timestamps (`created_at`, `opened_at`) use the system clock: they record
/// when a row was written, not anything the recorder decides with.
fn now_micros() -> i64 {
    use vigil_core::time::Clock;
    vigil_core::time::SystemClock.now().0
}

fn opt_time(v: Option<i64>) -> Option<Time> {
    v.map(Time)
}

#[cfg(test)]
mod tests;
