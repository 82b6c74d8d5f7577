//! The metadata database: the control plane's documents (dashboards, alert rules, contact points,
//! users, tokens, sessions), in `<data-dir>/meta.db`.
//!
//! SQLite (rusqlite, the library bundled) in WAL mode with `synchronous = FULL`: a save returns
//! once it is on disk. Schema changes are the numbered files in `server/migrations/`, applied in
//! order at open and recorded in `schema_migrations`; their SQL is portable so that a Postgres
//! backend can take the same files. Nothing outside this module sees a connection: callers get
//! typed records and [`Error`]s.

mod alerts;
mod dashboards;
mod tokens;
mod users;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::Connection;

pub(crate) use alerts::{InstanceRecord, Kind, LogEntry, Stored};
pub(crate) use dashboards::VersionRecord;
pub(crate) use tokens::TokenRecord;

/// The database's file in the data directory.
pub(crate) const FILE_NAME: &str = "meta.db";

/// Migrations, in the order they apply: (number, SQL). Append only; never edit a released one.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("../../migrations/0001_dashboards.sql")),
    (2, include_str!("../../migrations/0002_alerts.sql")),
    (3, include_str!("../../migrations/0003_users.sql")),
    (4, include_str!("../../migrations/0004_tokens_sessions.sql")),
];

/// How long a writer waits for another process's write (`weir dashboards import` beside a
/// running server) before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("{what} `{key}` does not exist")]
    NotFound { what: &'static str, key: String },
    #[error("{what} `{key}` already exists")]
    Exists { what: &'static str, key: String },
    #[error(
        "{what} `{key}` was saved as version {current} since version {expected} was read: \
         reload it, then save again"
    )]
    Conflict {
        what: &'static str,
        key: String,
        expected: u64,
        current: u64,
    },
    #[error("metadata database: {0}")]
    Database(#[from] rusqlite::Error),
    #[error("metadata database: a stored document does not read back: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("metadata database: {0}")]
    Task(#[from] tokio::task::JoinError),
    #[error(
        "metadata database {path}: schema version {found} is newer than this weir knows ({known}): \
         upgrade weir"
    )]
    TooNew {
        path: String,
        found: i64,
        known: i64,
    },
}

/// The metadata database. Cheap to clone; one connection, used by one caller at a time, off the
/// async threads.
#[derive(Clone)]
pub(crate) struct Meta {
    conn: Arc<Mutex<Connection>>,
}

impl Meta {
    /// Opens (creating if needed) the database in `data_dir` and applies pending migrations.
    pub(crate) fn open(data_dir: &Path) -> Result<Meta, Error> {
        let path = data_dir.join(FILE_NAME);
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        migrate(&mut conn, &path)?;
        Ok(Meta {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, Error> + Send + 'static,
    ) -> Result<T, Error> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves no half-done transaction (it rolls back on
            // drop), so the connection is still good.
            let mut conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&mut conn)
        })
        .await?
    }
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), Error> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version BIGINT PRIMARY KEY,
            applied_at BIGINT NOT NULL
        )",
        [],
    )?;
    let current: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        [],
        |row| row.get(0),
    )?;
    let known = MIGRATIONS.last().map_or(0, |(n, _)| *n);
    if current > known {
        return Err(Error::TooNew {
            path: path.display().to_string(),
            found: current,
            known,
        });
    }
    for (number, sql) in MIGRATIONS.iter().filter(|(n, _)| *n > current) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, applied_at) VALUES (?1, ?2)",
            (number, storage::now_micros()),
        )?;
        tracing::info!(migration = number, "metadata database migrated");
    }
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests;
