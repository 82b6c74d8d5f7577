//! API tokens and browser sessions in the metadata database: ids, the SHA-256 of their secrets
//! (never the secrets), and what each may do.

use rusqlite::{OptionalExtension, Row};

use super::{Error, Meta};

/// A token as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TokenRecord {
    pub(crate) id: String,
    pub(crate) name: String,
    /// Hex SHA-256 of the secret part.
    pub(crate) secret_sha256: String,
    /// The user who made it; empty when the server was open.
    pub(crate) owner: String,
    /// Comma-separated scopes.
    pub(crate) scopes: String,
    /// Comma-separated stream globs; empty is every stream.
    pub(crate) streams: String,
    /// µs since the epoch, as every time here.
    pub(crate) created_at: i64,
    pub(crate) expires_at: Option<i64>,
    pub(crate) last_used_at: Option<i64>,
    pub(crate) revoked_at: Option<i64>,
}

/// A session as stored, with its user's role now (a session outlives no user: removing one
/// removes its sessions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SessionRecord {
    pub(crate) id: String,
    pub(crate) secret_sha256: String,
    pub(crate) user_name: String,
    pub(crate) role: String,
    pub(crate) expires_at: i64,
}

/// `last_used_at` is written at most this often per token (µs): a busy shipper's every request
/// need not be a write.
const LAST_USED_RESOLUTION_MICROS: i64 = 60_000_000;

const TOKEN_COLUMNS: &str = "id, name, secret_sha256, owner, scopes, streams, created_at, \
                             expires_at, last_used_at, revoked_at";

fn token_row(row: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        secret_sha256: row.get(2)?,
        owner: row.get(3)?,
        scopes: row.get(4)?,
        streams: row.get(5)?,
        created_at: row.get(6)?,
        expires_at: row.get(7)?,
        last_used_at: row.get(8)?,
        revoked_at: row.get(9)?,
    })
}

impl Meta {
    pub(crate) async fn add_token(&self, token: TokenRecord) -> Result<(), Error> {
        self.with(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO tokens ({TOKEN_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                ),
                (
                    &token.id,
                    &token.name,
                    &token.secret_sha256,
                    &token.owner,
                    &token.scopes,
                    &token.streams,
                    token.created_at,
                    token.expires_at,
                    token.last_used_at,
                    token.revoked_at,
                ),
            )?;
            Ok(())
        })
        .await
    }

    /// The token of `id`, whatever its state.
    pub(crate) async fn token(&self, id: String) -> Result<Option<TokenRecord>, Error> {
        self.with(move |conn| {
            Ok(conn
                .query_row(
                    &format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE id = ?1"),
                    [&id],
                    token_row,
                )
                .optional()?)
        })
        .await
    }

    /// Every token, newest first.
    pub(crate) async fn tokens(&self) -> Result<Vec<TokenRecord>, Error> {
        self.with(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY created_at DESC, id"
            ))?;
            let rows = stmt.query_map([], token_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// Marks a token revoked at `now`; revoking one already revoked changes nothing.
    pub(crate) async fn revoke_token(&self, id: String, now: i64) -> Result<(), Error> {
        self.with(move |conn| {
            let found = conn.execute(
                "UPDATE tokens SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                (&id, now),
            )?;
            if found == 0 {
                return Err(Error::NotFound {
                    what: "token",
                    key: id,
                });
            }
            Ok(())
        })
        .await
    }

    /// Records that a token was used at `now` (at most once a minute).
    pub(crate) async fn touch_token(&self, id: String, now: i64) -> Result<(), Error> {
        self.with(move |conn| {
            conn.execute(
                "UPDATE tokens SET last_used_at = ?2 \
                 WHERE id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2 - ?3)",
                (&id, now, LAST_USED_RESOLUTION_MICROS),
            )?;
            Ok(())
        })
        .await
    }

    /// Starts a session (and forgets the expired ones).
    pub(crate) async fn add_session(
        &self,
        id: String,
        secret_sha256: String,
        user_name: String,
        address: String,
        expires_at: i64,
    ) -> Result<(), Error> {
        self.with(move |conn| {
            let now = storage::now_micros();
            conn.execute("DELETE FROM sessions WHERE expires_at < ?1", [now])?;
            conn.execute(
                "INSERT INTO sessions (id, secret_sha256, user_name, address, created_at, \
                 expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                (&id, &secret_sha256, &user_name, &address, now, expires_at),
            )?;
            Ok(())
        })
        .await
    }

    /// The session of `id` with its user's role, if both exist.
    pub(crate) async fn session(&self, id: String) -> Result<Option<SessionRecord>, Error> {
        self.with(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT s.id, s.secret_sha256, s.user_name, u.role, s.expires_at \
                     FROM sessions s JOIN users u ON u.name = s.user_name WHERE s.id = ?1",
                    [&id],
                    |row| {
                        Ok(SessionRecord {
                            id: row.get(0)?,
                            secret_sha256: row.get(1)?,
                            user_name: row.get(2)?,
                            role: row.get(3)?,
                            expires_at: row.get(4)?,
                        })
                    },
                )
                .optional()?)
        })
        .await
    }

    /// Ends a session (logout); ending one that is gone is not an error.
    pub(crate) async fn remove_session(&self, id: String) -> Result<(), Error> {
        self.with(move |conn| {
            conn.execute("DELETE FROM sessions WHERE id = ?1", [&id])?;
            Ok(())
        })
        .await
    }

    /// The ids of a user's sessions.
    pub(crate) async fn user_sessions(&self, user_name: String) -> Result<Vec<String>, Error> {
        self.with(move |conn| {
            let mut stmt = conn.prepare("SELECT id FROM sessions WHERE user_name = ?1")?;
            let rows = stmt.query_map([&user_name], |row| row.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// How many users there are, and how many tokens can still be used at `now`.
    pub(crate) async fn credential_counts(&self, now: i64) -> Result<(u64, u64), Error> {
        self.with(move |conn| {
            let users: i64 = conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
            let tokens: i64 = conn.query_row(
                "SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > ?1)",
                [now],
                |r| r.get(0),
            )?;
            Ok((users.unsigned_abs(), tokens.unsigned_abs()))
        })
        .await
    }
}
