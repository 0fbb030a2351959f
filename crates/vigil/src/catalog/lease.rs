//! Camera leases and the node registry of a cluster (docs/cluster.md). Every time here is the
//! catalog's clock ([`Catalog::db_now`]): nodes' clocks never decide who records.

use super::db::{args, Dialect};
use super::{Catalog, Result};

/// A node, and where its HTTP API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub name: String,
    pub url: String,
    /// The catalog's clock when it last said it was alive (µs).
    pub seen_at: i64,
}

/// Who records a camera, until when (the catalog's clock, µs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRow {
    pub camera: String,
    pub node: String,
    pub expires_at: i64,
    pub epoch: i64,
}

impl Catalog {
    /// The catalog's clock (µs since the epoch): PostgreSQL's on a shared catalog, this
    /// machine's on SQLite.
    pub fn db_now(&self) -> Result<i64> {
        self.with(|c| match c.dialect() {
            Dialect::Postgres => c
                .query_one(
                    "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000 AS BIGINT)",
                    args![],
                )?
                .get(0),
            Dialect::Sqlite => Ok(super::now_micros()),
        })
    }

    /// Says this node is alive (and where its API is); returns every node seen since `since`.
    pub fn heartbeat(&self, url: &str, now: i64, since: i64) -> Result<Vec<NodeRow>> {
        self.with(|c| {
            c.execute(
                "INSERT INTO cluster_node (name, url, seen_at) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name) DO UPDATE SET url = excluded.url, seen_at = excluded.seen_at",
                args![self.node(), url, now],
            )
        })?;
        self.nodes(since)
    }

    /// This node leaves: its row goes (the others stop counting it at once).
    pub fn leave_cluster(&self) -> Result<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM camera_lease WHERE node = ?1",
                args![self.node()],
            )?;
            c.execute(
                "DELETE FROM cluster_node WHERE name = ?1",
                args![self.node()],
            )
        })?;
        Ok(())
    }

    /// Takes the camera's lease if nobody holds it or its holder's lapsed (at `now`), until
    /// `until`. Returns the new epoch when taken.
    pub fn try_lease(&self, camera: &str, now: i64, until: i64) -> Result<Option<i64>> {
        self.with(|c| {
            let row = c.query_opt(
                "INSERT INTO camera_lease (camera, node, expires_at, epoch) VALUES (?1, ?2, ?4, 1) \
                 ON CONFLICT (camera) DO UPDATE SET node = excluded.node, \
                 expires_at = excluded.expires_at, epoch = camera_lease.epoch + 1 \
                 WHERE camera_lease.expires_at < ?3 RETURNING epoch",
                args![camera, self.node(), now, until],
            )?;
            row.map(|r| r.get(0)).transpose()
        })
    }

    /// Renews this node's lease of the camera until `until`; false when it isn't this node's
    /// any more (another node took it: stop recording it now).
    pub fn renew_lease(&self, camera: &str, epoch: i64, until: i64) -> Result<bool> {
        self.with(|c| {
            Ok(c.execute(
                "UPDATE camera_lease SET expires_at = ?4 \
                 WHERE camera = ?1 AND node = ?2 AND epoch = ?3",
                args![camera, self.node(), epoch, until],
            )? == 1)
        })
    }

    /// Gives the camera up (after its recording stopped): another node may take it at once.
    pub fn release_lease(&self, camera: &str, epoch: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM camera_lease WHERE camera = ?1 AND node = ?2 AND epoch = ?3",
                args![camera, self.node(), epoch],
            )
        })?;
        Ok(())
    }

    /// Every lease.
    pub fn leases(&self) -> Result<Vec<LeaseRow>> {
        self.with(|c| {
            c.query(
                "SELECT camera, node, expires_at, epoch FROM camera_lease ORDER BY camera",
                args![],
            )?
            .iter()
            .map(|r| {
                Ok(LeaseRow {
                    camera: r.get(0)?,
                    node: r.get(1)?,
                    expires_at: r.get(2)?,
                    epoch: r.get(3)?,
                })
            })
            .collect()
        })
    }

    /// The nodes seen since `since` (µs, the catalog's clock).
    pub fn nodes(&self, since: i64) -> Result<Vec<NodeRow>> {
        self.with(|c| {
            c.query(
                "SELECT name, url, seen_at FROM cluster_node WHERE seen_at >= ?1 ORDER BY name",
                args![since],
            )?
            .iter()
            .map(|r| {
                Ok(NodeRow {
                    name: r.get(0)?,
                    url: r.get(1)?,
                    seen_at: r.get(2)?,
                })
            })
            .collect()
        })
    }
}
