//! Users and sessions (docs/users.md). The HTTP side asks here on every request that carries a
//! session cookie (a primary-key lookup), so a user removed with `vigil user remove` while vigil
//! runs is signed out at once.

use rusqlite::{params, OptionalExtension};

use super::{Catalog, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: i64,
    pub name: String,
    /// `admin` or `viewer`.
    pub role: String,
    /// The argon2 PHC string.
    pub hash: String,
    pub created_at: i64,
}

/// A live session: whose, and until when (µs since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    pub user: String,
    pub role: String,
    pub expires_at: i64,
}

fn user(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        hash: r.get(3)?,
        created_at: r.get(4)?,
    })
}

impl Catalog {
    /// Adds a user, or replaces the role and password of one of that name (its sessions end).
    /// Returns whether it was new.
    pub fn put_user(&self, name: &str, role: &str, hash: &str, now: i64) -> Result<bool> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let old: Option<i64> = tx
            .query_row("SELECT id FROM user WHERE name = ?1", [name], |r| r.get(0))
            .optional()?;
        match old {
            Some(id) => {
                tx.execute(
                    "UPDATE user SET role = ?2, hash = ?3 WHERE id = ?1",
                    params![id, role, hash],
                )?;
                tx.execute("DELETE FROM session WHERE user_id = ?1", [id])?;
            }
            None => {
                tx.execute(
                    "INSERT INTO user (name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![name, role, hash, now],
                )?;
            }
        }
        tx.commit()?;
        Ok(old.is_none())
    }

    pub fn users(&self) -> Result<Vec<UserRow>> {
        let conn = self.conn();
        let mut st =
            conn.prepare("SELECT id, name, role, hash, created_at FROM user ORDER BY name")?;
        let rows = st.query_map([], user)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    pub fn user(&self, name: &str) -> Result<Option<UserRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, name, role, hash, created_at FROM user WHERE name = ?1",
                [name],
                user,
            )
            .optional()?)
    }

    pub fn user_count(&self) -> Result<u64> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM user", [], |r| r.get(0))?)
    }

    /// Removes a user and its sessions. Returns whether there was one.
    pub fn remove_user(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn()
            .execute("DELETE FROM user WHERE name = ?1", [name])?
            > 0)
    }

    pub fn add_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: i64,
        expires: i64,
    ) -> Result<()> {
        let conn = self.conn();
        // Expired sessions go as new ones come.
        conn.execute("DELETE FROM session WHERE expires_at <= ?1", [now])?;
        conn.execute(
            "INSERT INTO session (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![token_hash, user_id, now, expires],
        )?;
        Ok(())
    }

    /// The session with this hash, if it is live at `now`.
    pub fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        Ok(self
            .conn()
            .query_row(
                "SELECT u.name, u.role, s.expires_at FROM session s JOIN user u ON u.id = s.user_id \
                 WHERE s.token_hash = ?1 AND s.expires_at > ?2",
                params![token_hash, now],
                |r| {
                    Ok(SessionRow {
                        user: r.get(0)?,
                        role: r.get(1)?,
                        expires_at: r.get(2)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn remove_session(&self, token_hash: &str) -> Result<()> {
        self.conn()
            .execute("DELETE FROM session WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }
}
