//! The catalog: cameras, their API-set settings, motion events and clips, in an embedded SQLite
//! file (`<data_dir>/catalog.db`, the default) or a PostgreSQL database several nodes share
//! (`[catalog] url`, docs/cluster.md).
//!
//! This is the one narrow interface to stored state: no SQL outside this module. Every query is
//! written once for both engines ([`db`]). One connection, behind a mutex, does all writing
//! (SQLite allows one writer; WAL lets outside readers, e.g. `sqlite3`, look without blocking us).
//! Schema changes are numbered migration files, `crates/vigil/migrations/` for SQLite and
//! `crates/vigil/migrations/postgres/` for PostgreSQL (the same numbers, the same tables),
//! applied in order at open and recorded in `PRAGMA user_version` / the `vigil_schema` table.
//!
//! Crash protocol (see docs/crash-safety.md): a clip's file is created and made durable first,
//! then its row is inserted with status `recording`; when the clip closes, the row becomes
//! `complete`. At start, [`Catalog::reconcile`] recovers every `recording` row's file (torn tail
//! cut, status `recovered`), adopts clip files that have no row, and drops rows whose file is gone.

mod cameras;
mod clips;
mod copy;
pub(crate) mod db;
mod events;
mod lease;
mod pg;
mod reconcile;
mod settings;
mod sink;
mod store;
mod users;

pub use cameras::StoredCamera;
pub use clips::{CameraUsage, ClipFacts, ClipFilter, ClipRow, NewClip};
pub use copy::CopyReport;
pub use db::Dialect;
pub use events::{EventFilter, EventRow};
pub use lease::{LeaseRow, NodeRow};
pub use reconcile::ReconcileReport;
pub use sink::CatalogWriter;
pub use store::{StoreBacklog, StoreStatus, UploadJournal};
pub use users::{SessionRow, UserRow};

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use db::{args, Conn, Lite};
use rusqlite::Connection;
use vigil_core::time::Time;

/// The schema version this vigil writes: one per migration, the same numbers on both engines.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Numbered migrations, SQLite's and PostgreSQL's; index + 1 is the schema version each one
/// produces. Both sets make the same tables and columns (PostgreSQL's integers are `BIGINT`).
const MIGRATIONS: &[(&str, &str)] = &[
    (
        include_str!("../../migrations/0001_initial.sql"),
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        include_str!("../../migrations/0002_event_kinds.sql"),
        include_str!("../../migrations/postgres/0002_event_kinds.sql"),
    ),
    (
        include_str!("../../migrations/0003_detect_settings.sql"),
        include_str!("../../migrations/postgres/0003_detect_settings.sql"),
    ),
    (
        include_str!("../../migrations/0004_camera_config.sql"),
        include_str!("../../migrations/postgres/0004_camera_config.sql"),
    ),
    (
        include_str!("../../migrations/0005_users.sql"),
        include_str!("../../migrations/postgres/0005_users.sql"),
    ),
    (
        include_str!("../../migrations/0006_clip_store.sql"),
        include_str!("../../migrations/postgres/0006_clip_store.sql"),
    ),
    (
        include_str!("../../migrations/0007_cluster.sql"),
        include_str!("../../migrations/postgres/0007_cluster.sql"),
    ),
];

/// Serializes migrations of nodes starting together on one PostgreSQL catalog
/// (`pg_advisory_xact_lock`): any number, the same on every node.
const PG_MIGRATION_LOCK: i64 = 0x7669_6769_6c00;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("catalog {url}: {message}")]
    Connect { url: String, message: String },
    #[error("catalog {location} has schema version {found}, newer than this vigil knows ({known}); refusing to touch it")]
    TooNew {
        location: String,
        found: u32,
        known: u32,
    },
    #[error("catalog: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("catalog (PostgreSQL): {}", pg_message(.0))]
    Pg(#[from] tokio_postgres::Error),
    #[error("catalog: {0}")]
    Row(String),
    #[error("catalog: stored settings for {camera} are unreadable: {message}")]
    BadSettings { camera: String, message: String },
}

/// tokio-postgres says "db error" and keeps the server's words in the source.
fn pg_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => e.to_string(),
    }
}

pub type Result<T> = std::result::Result<T, CatalogError>;

enum Engine {
    Sqlite(Mutex<Connection>),
    Postgres(Box<pg::Pg>),
}

pub struct Catalog {
    engine: Engine,
    /// Where it is: the SQLite file, or the PostgreSQL URL without its password.
    location: String,
    /// This node's name in a cluster (`[cluster] node`), '' on a single vigil: the clips it
    /// writes carry it, and it reconciles, uploads and expires only its own.
    node: String,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog")
            .field("location", &self.location)
            .finish()
    }
}

impl Catalog {
    /// Opens (or creates) the SQLite catalog at `path` and brings its schema up to date.
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
            engine: Engine::Sqlite(Mutex::new(conn)),
            location: path.display().to_string(),
            node: String::new(),
        };
        cat.migrate()?;
        Ok(cat)
    }

    /// Connects to the PostgreSQL catalog at `url` (`postgres://user:password@host/db`) and
    /// brings its schema up to date.
    pub fn connect(url: &str) -> Result<Catalog> {
        Catalog::connect_tls(url, None)
    }

    /// [`Catalog::connect`], checking the server's certificate against `ca` (PEM) too.
    pub fn connect_tls(url: &str, ca: Option<&Path>) -> Result<Catalog> {
        let cat = Catalog {
            engine: Engine::Postgres(Box::new(pg::Pg::connect(url, ca)?)),
            location: pg::redact(url),
            node: String::new(),
        };
        cat.migrate()?;
        Ok(cat)
    }

    /// The catalog the configuration names: `[catalog] url`, else SQLite in the data directory.
    pub fn for_config(config: &crate::config::Config) -> Result<Catalog> {
        let cat = match &config.catalog.url {
            Some(url) => Catalog::connect_tls(url, config.catalog.tls_ca.as_deref()),
            None => Catalog::open(&config.server.data_dir.join("catalog.db")),
        }?;
        Ok(match &config.cluster {
            Some(c) => cat.with_node(&c.node),
            None => cat,
        })
    }

    /// This catalog as seen by node `node` of a cluster.
    pub fn with_node(mut self, node: &str) -> Catalog {
        self.node = node.to_owned();
        self
    }

    /// This node's name ('' on a single vigil).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Where the catalog is (a file, or a URL without its password).
    pub fn location(&self) -> &str {
        &self.location
    }

    pub fn dialect(&self) -> Dialect {
        match self.engine {
            Engine::Sqlite(_) => Dialect::Sqlite,
            Engine::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs `f` on the connection.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        match &self.engine {
            Engine::Sqlite(m) => {
                // A panic while holding the lock can't leave SQLite half-written (each call is
                // one statement or one transaction), so a poisoned lock is safe to keep using.
                let conn = m.lock().unwrap_or_else(|p| p.into_inner());
                f(&mut Lite(&conn))
            }
            Engine::Postgres(pg) => pg.with(f),
        }
    }

    /// Runs `f` in a transaction: committed if it returns `Ok`, rolled back otherwise.
    pub(crate) fn tx<T>(&self, f: impl FnOnce(&mut dyn Conn) -> Result<T>) -> Result<T> {
        match &self.engine {
            Engine::Sqlite(m) => {
                let mut conn = m.lock().unwrap_or_else(|p| p.into_inner());
                let tx = conn.transaction()?;
                let v = f(&mut Lite(&tx))?;
                tx.commit()?;
                Ok(v)
            }
            Engine::Postgres(pg) => pg.tx(f),
        }
    }

    fn migrate(&self) -> Result<()> {
        let known = MIGRATIONS.len() as u32;
        let location = self.location.clone();
        let too_new = move |found: u32| CatalogError::TooNew {
            location,
            found,
            known,
        };
        match &self.engine {
            Engine::Sqlite(m) => {
                let mut conn = m.lock().unwrap_or_else(|p| p.into_inner());
                let found: u32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
                if found > known {
                    return Err(too_new(found));
                }
                for (i, (sql, _)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
                    let tx = conn.transaction()?;
                    tx.execute_batch(sql)?;
                    tx.pragma_update(None, "user_version", (i + 1) as u32)?;
                    tx.commit()?;
                    tracing::info!("catalog: migrated to schema version {}", i + 1);
                }
                Ok(())
            }
            Engine::Postgres(_) => self.tx(|c| {
                c.execute("SELECT pg_advisory_xact_lock(?1)", args![PG_MIGRATION_LOCK])?;
                c.batch("CREATE TABLE IF NOT EXISTS vigil_schema (version BIGINT NOT NULL)")?;
                let found = match c.query_opt("SELECT version FROM vigil_schema", args![])? {
                    Some(r) => u32::try_from(r.get::<i64>(0)?).unwrap_or(u32::MAX),
                    None => {
                        c.execute("INSERT INTO vigil_schema (version) VALUES (0)", args![])?;
                        0
                    }
                };
                if found > known {
                    return Err(too_new(found));
                }
                for (i, (_, sql)) in MIGRATIONS.iter().enumerate().skip(found as usize) {
                    c.batch(sql)?;
                    c.execute(
                        "UPDATE vigil_schema SET version = ?1",
                        args![(i + 1) as i64],
                    )?;
                    tracing::info!("catalog: migrated to schema version {}", i + 1);
                }
                Ok(())
            }),
        }
    }

    /// The schema version the catalog is at.
    pub fn schema_version(&self) -> Result<u32> {
        match &self.engine {
            Engine::Sqlite(m) => {
                let conn = m.lock().unwrap_or_else(|p| p.into_inner());
                Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
            }
            Engine::Postgres(_) => self.with(|c| {
                let v: i64 = c
                    .query_one("SELECT version FROM vigil_schema", args![])?
                    .get(0)?;
                Ok(u32::try_from(v).unwrap_or(u32::MAX))
            }),
        }
    }

    /// The camera's id, if the catalog has ever seen it.
    pub fn camera_known(&self, name: &str) -> Result<Option<i64>> {
        self.with(|c| {
            c.query_opt("SELECT id FROM camera WHERE name = ?1", args![name])?
                .map(|r| r.get(0))
                .transpose()
        })
    }

    /// The camera's id, creating its row on first use.
    pub fn camera_id(&self, name: &str) -> Result<i64> {
        self.with(|c| camera_id(c, name))
    }
}

fn camera_id(c: &mut dyn Conn, name: &str) -> Result<i64> {
    c.execute(
        "INSERT INTO camera (name, created_at) VALUES (?1, ?2) ON CONFLICT(name) DO NOTHING",
        args![name, now_micros()],
    )?;
    c.query_one("SELECT id FROM camera WHERE name = ?1", args![name])?
        .get(0)
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
