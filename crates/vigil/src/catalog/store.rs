//! The clip store's bookkeeping (docs/cluster.md): each clip's `store_status`, the upload
//! journal (`clip_upload`: the store's multipart id and the parts it took, so an upload goes on
//! after a crash from its last part) and the queue of objects to delete (`store_delete`).

use serde::Serialize;

use super::db::args;
use super::{now_micros, Catalog, Result};

/// Where a clip's bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreStatus {
    /// Only on the local disk.
    Local,
    /// Being uploaded to the clip store (still on the local disk).
    Uploading,
    /// The store has all of it (the local copy may be gone: `ClipRow::local`).
    Stored,
}

impl StoreStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StoreStatus::Local => "local",
            StoreStatus::Uploading => "uploading",
            StoreStatus::Stored => "stored",
        }
    }

    pub(super) fn parse(s: &str) -> StoreStatus {
        match s {
            "uploading" => StoreStatus::Uploading,
            "stored" => StoreStatus::Stored,
            _ => StoreStatus::Local,
        }
    }
}

/// An upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadJournal {
    pub upload_id: String,
    pub part_size: u64,
    /// The ETags of the parts the store took, in part order.
    pub parts: Vec<String>,
}

/// What waits for the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StoreBacklog {
    pub clips: u64,
    pub bytes: u64,
    pub deletions: u64,
}

impl Catalog {
    /// Finished clips the store doesn't have yet, oldest first (at most `limit`).
    pub fn clips_to_upload(&self, limit: u32) -> Result<Vec<(i64, String, u64)>> {
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT id, key, bytes FROM clip WHERE status != 'recording' \
                     AND store_status != 'stored' AND local_deleted = 0 AND node = ?1 \
                     ORDER BY id LIMIT {limit}"
                ),
                args![self.node()],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?, r.count(2)?)))
            .collect()
        })
    }

    /// Clips and bytes waiting for the store, and deletions it hasn't done.
    pub fn store_backlog(&self) -> Result<StoreBacklog> {
        self.with(|c| {
            let r = c.query_one(
                "SELECT COUNT(*), CAST(COALESCE(SUM(bytes), 0) AS BIGINT) FROM clip \
                 WHERE status != 'recording' AND store_status != 'stored' AND local_deleted = 0 \
                 AND node = ?1",
                args![self.node()],
            )?;
            let d = c.query_one("SELECT COUNT(*) FROM store_delete", args![])?;
            Ok(StoreBacklog {
                clips: r.count(0)?,
                bytes: r.count(1)?,
                deletions: d.count(0)?,
            })
        })
    }

    /// The clip's upload in progress, if one was started.
    pub fn upload_journal(&self, clip: i64) -> Result<Option<UploadJournal>> {
        self.with(|c| {
            c.query_opt(
                "SELECT upload_id, part_size, parts FROM clip_upload WHERE clip_id = ?1",
                args![clip],
            )?
            .map(|r| {
                let parts: String = r.get(2)?;
                Ok(UploadJournal {
                    upload_id: r.get(0)?,
                    part_size: r.count(1)?,
                    parts: parts
                        .split(',')
                        .filter(|p| !p.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
            })
            .transpose()
        })
    }

    /// Records a new multipart upload of the clip (replacing one that the store lost).
    pub fn start_upload(&self, clip: i64, upload_id: &str, part_size: u64) -> Result<()> {
        self.tx(|c| {
            c.execute(
                "INSERT INTO clip_upload (clip_id, upload_id, part_size, parts, started_at) \
                 VALUES (?1, ?2, ?3, '', ?4) ON CONFLICT (clip_id) DO UPDATE SET \
                 upload_id = excluded.upload_id, part_size = excluded.part_size, parts = '', \
                 started_at = excluded.started_at",
                args![clip, upload_id, part_size, now_micros()],
            )?;
            c.execute(
                "UPDATE clip SET store_status = 'uploading' WHERE id = ?1",
                args![clip],
            )?;
            Ok(())
        })
    }

    /// The store took part number `index` (0-based) of the clip's upload.
    pub fn add_upload_part(&self, clip: i64, index: usize, etag: &str) -> Result<()> {
        let etag = etag.replace(',', "");
        self.tx(|c| {
            let Some(j) = c.query_opt(
                "SELECT parts FROM clip_upload WHERE clip_id = ?1",
                args![clip],
            )?
            else {
                return Ok(());
            };
            let parts: String = j.get(0)?;
            let mut list: Vec<&str> = parts.split(',').filter(|p| !p.is_empty()).collect();
            list.truncate(index);
            list.push(&etag);
            c.execute(
                "UPDATE clip_upload SET parts = ?2 WHERE clip_id = ?1",
                args![clip, list.join(",")],
            )?;
            Ok(())
        })
    }

    /// The store has the whole clip: its journal goes, its status becomes `stored`.
    pub fn finish_upload(&self, clip: i64, sha256: &str) -> Result<()> {
        self.tx(|c| {
            c.execute("DELETE FROM clip_upload WHERE clip_id = ?1", args![clip])?;
            c.execute(
                "UPDATE clip SET store_status = 'stored', stored_at = ?2, sha256 = ?3 \
                 WHERE id = ?1",
                args![clip, now_micros(), sha256],
            )?;
            Ok(())
        })
    }

    /// Stored clips whose local copy was kept past `before` (µs): their files may go.
    pub fn local_copies_stored_before(&self, before: i64) -> Result<Vec<(i64, String)>> {
        self.with(|c| {
            c.query(
                "SELECT id, key FROM clip WHERE store_status = 'stored' AND local_deleted = 0 \
                 AND stored_at <= ?1 AND node = ?2 ORDER BY id",
                args![before, self.node()],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
        })
    }

    /// The clip's local file is gone; the store keeps it.
    pub fn set_local_deleted(&self, clip: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE clip SET local_deleted = 1 WHERE id = ?1 AND store_status = 'stored'",
                args![clip],
            )
        })?;
        Ok(())
    }

    /// Objects to delete from the store (key, and an unfinished upload to abort).
    pub fn store_deletions(&self, limit: u32) -> Result<Vec<(String, Option<String>)>> {
        self.with(|c| {
            c.query(
                &format!(
                    "SELECT key, upload_id FROM store_delete ORDER BY queued_at LIMIT {limit}"
                ),
                args![],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
        })
    }

    /// The store deleted the object.
    pub fn store_deleted(&self, key: &str) -> Result<()> {
        self.with(|c| c.execute("DELETE FROM store_delete WHERE key = ?1", args![key]))?;
        Ok(())
    }
}
