//! Users and sessions (docs/users.md). The HTTP side asks here on every request that carries a
//! session cookie (a primary-key lookup), so a user removed with `vigil user remove` while vigil
//! runs is signed out at once.

use super::db::{args, Row};
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

fn user(r: &Row) -> Result<UserRow> {
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
        self.tx(|c| {
            let old = c.query_opt(r#"SELECT id FROM "user" WHERE name = ?1"#, args![name])?;
            match old {
                Some(r) => {
                    let id: i64 = r.get(0)?;
                    c.execute(
                        r#"UPDATE "user" SET role = ?2, hash = ?3 WHERE id = ?1"#,
                        args![id, role, hash],
                    )?;
                    c.execute("DELETE FROM session WHERE user_id = ?1", args![id])?;
                    Ok(false)
                }
                None => {
                    c.execute(
                        r#"INSERT INTO "user" (name, role, hash, created_at) VALUES (?1, ?2, ?3, ?4)"#,
                        args![name, role, hash, now],
                    )?;
                    Ok(true)
                }
            }
        })
    }

    pub fn users(&self) -> Result<Vec<UserRow>> {
        self.with(|c| {
            c.query(
                r#"SELECT id, name, role, hash, created_at FROM "user" ORDER BY name"#,
                args![],
            )?
            .iter()
            .map(user)
            .collect()
        })
    }

    pub fn user(&self, name: &str) -> Result<Option<UserRow>> {
        self.with(|c| {
            c.query_opt(
                r#"SELECT id, name, role, hash, created_at FROM "user" WHERE name = ?1"#,
                args![name],
            )?
            .as_ref()
            .map(user)
            .transpose()
        })
    }

    pub fn user_count(&self) -> Result<u64> {
        self.with(|c| {
            c.query_one(r#"SELECT COUNT(*) FROM "user""#, args![])?
                .count(0)
        })
    }

    /// Removes a user and its sessions. Returns whether there was one.
    pub fn remove_user(&self, name: &str) -> Result<bool> {
        self.with(|c| Ok(c.execute(r#"DELETE FROM "user" WHERE name = ?1"#, args![name])? > 0))
    }

    pub fn add_session(
        &self,
        token_hash: &str,
        user_id: i64,
        now: i64,
        expires: i64,
    ) -> Result<()> {
        self.with(|c| {
            // Expired sessions go as new ones come.
            c.execute("DELETE FROM session WHERE expires_at <= ?1", args![now])?;
            c.execute(
                "INSERT INTO session (token_hash, user_id, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4)",
                args![token_hash, user_id, now, expires],
            )?;
            Ok(())
        })
    }

    /// The session with this hash, if it is live at `now`.
    pub fn session(&self, token_hash: &str, now: i64) -> Result<Option<SessionRow>> {
        self.with(|c| {
            c.query_opt(
                r#"SELECT u.name, u.role, s.expires_at FROM session s JOIN "user" u ON u.id = s.user_id
                   WHERE s.token_hash = ?1 AND s.expires_at > ?2"#,
                args![token_hash, now],
            )?
            .map(|r| {
                Ok(SessionRow {
                    user: r.get(0)?,
                    role: r.get(1)?,
                    expires_at: r.get(2)?,
                })
            })
            .transpose()
        })
    }

    pub fn remove_session(&self, token_hash: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM session WHERE token_hash = ?1",
                args![token_hash],
            )
        })?;
        Ok(())
    }
}
