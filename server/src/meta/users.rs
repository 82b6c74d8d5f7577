//! Users in the metadata database: a name, a role and a password hash (never the password).

use rusqlite::{OptionalExtension, TransactionBehavior};

use super::{Error, Meta};

const WHAT: &str = "user";

/// A user as stored.
#[derive(Debug, Clone)]
pub(crate) struct UserRecord {
    pub(crate) name: String,
    pub(crate) role: String,
    /// The argon2id PHC string.
    pub(crate) password_hash: String,
    /// µs since the epoch.
    pub(crate) created_at: i64,
}

fn not_found(name: &str) -> Error {
    Error::NotFound {
        what: WHAT,
        key: name.to_owned(),
    }
}

impl Meta {
    /// Adds a user; one of that name already existing is an error, and nothing changes.
    pub(crate) async fn add_user(
        &self,
        name: String,
        role: &'static str,
        password_hash: String,
    ) -> Result<(), Error> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists = tx
                .query_row("SELECT 1 FROM users WHERE name = ?1", [&name], |_| Ok(()))
                .optional()?
                .is_some();
            if exists {
                return Err(Error::Exists {
                    what: WHAT,
                    key: name,
                });
            }
            let now = storage::now_micros();
            tx.execute(
                "INSERT INTO users (name, role, password, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?4)",
                (&name, role, &password_hash, now),
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Every user, by name.
    pub(crate) async fn users(&self) -> Result<Vec<UserRecord>, Error> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT name, role, password, created_at FROM users ORDER BY name COLLATE NOCASE",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok(UserRecord {
                    name: row.get(0)?,
                    role: row.get(1)?,
                    password_hash: row.get(2)?,
                    created_at: row.get(3)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The user called `name`, if any.
    pub(crate) async fn user(&self, name: String) -> Result<Option<UserRecord>, Error> {
        self.with(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT name, role, password, created_at FROM users WHERE name = ?1",
                    [&name],
                    |row| {
                        Ok(UserRecord {
                            name: row.get(0)?,
                            role: row.get(1)?,
                            password_hash: row.get(2)?,
                            created_at: row.get(3)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    /// Gives a user another role.
    pub(crate) async fn set_user_role(
        &self,
        name: String,
        role: &'static str,
    ) -> Result<(), Error> {
        self.with(move |conn| {
            let changed = conn.execute(
                "UPDATE users SET role = ?2, updated_at = ?3 WHERE name = ?1",
                (&name, role, storage::now_micros()),
            )?;
            if changed == 0 {
                return Err(not_found(&name));
            }
            Ok(())
        })
        .await
    }

    /// Replaces a user's password hash and ends the user's sessions.
    pub(crate) async fn set_user_password(
        &self,
        name: String,
        password_hash: String,
    ) -> Result<(), Error> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let changed = tx.execute(
                "UPDATE users SET password = ?2, updated_at = ?3 WHERE name = ?1",
                (&name, &password_hash, storage::now_micros()),
            )?;
            if changed == 0 {
                return Err(not_found(&name));
            }
            tx.execute("DELETE FROM sessions WHERE user_name = ?1", [&name])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Removes a user and the user's sessions.
    pub(crate) async fn remove_user(&self, name: String) -> Result<(), Error> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if tx.execute("DELETE FROM users WHERE name = ?1", [&name])? == 0 {
                return Err(not_found(&name));
            }
            tx.execute("DELETE FROM sessions WHERE user_name = ?1", [&name])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}
