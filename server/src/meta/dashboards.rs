//! Dashboards in the metadata database: every save is a new version; a save names the version it
//! replaces, and a stale one is a conflict, with nothing overwritten.

use protocol::dashboard::Dashboard;
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior};
use serde::Serialize;

use super::{Error, Meta};

const WHAT: &str = "dashboard";

/// A dashboard as stored: the document at its current version.
#[derive(Debug, Clone)]
pub(crate) struct DashboardRecord {
    pub(crate) dashboard: Dashboard,
    /// µs since the epoch.
    pub(crate) updated_at: i64,
}

/// A line of the dashboards list.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DashboardSummary {
    pub(crate) uid: String,
    pub(crate) title: String,
    pub(crate) tags: Vec<String>,
    pub(crate) version: u64,
    pub(crate) updated_at: i64,
}

/// A saved version.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct VersionRecord {
    pub(crate) version: u64,
    pub(crate) saved_at: i64,
    /// What the save said of itself ("restored version 3", or the editor's message).
    pub(crate) message: String,
}

fn not_found(uid: &str) -> Error {
    Error::NotFound {
        what: WHAT,
        key: uid.to_string(),
    }
}

impl Meta {
    /// Every dashboard, by title.
    pub(crate) async fn dashboards(&self) -> Result<Vec<DashboardSummary>, Error> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT uid, title, tags, version, updated_at FROM dashboards
                 ORDER BY title COLLATE NOCASE, uid",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, i64>(3)?,
                    row.get::<_, i64>(4)?,
                ))
            })?;
            let mut list = Vec::new();
            for row in rows {
                let (uid, title, tags, version, updated_at) = row?;
                list.push(DashboardSummary {
                    uid,
                    title,
                    tags: serde_json::from_str(&tags)?,
                    version: version as u64,
                    updated_at,
                });
            }
            Ok(list)
        })
        .await
    }

    /// The dashboard `uid` at its current version.
    pub(crate) async fn dashboard(&self, uid: &str) -> Result<DashboardRecord, Error> {
        let uid = uid.to_string();
        self.with(move |conn| {
            let row: Option<(String, i64)> = conn
                .query_row(
                    "SELECT document, updated_at FROM dashboards WHERE uid = ?1",
                    [&uid],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let (document, updated_at) = row.ok_or_else(|| not_found(&uid))?;
            Ok(DashboardRecord {
                dashboard: serde_json::from_str(&document)?,
                updated_at,
            })
        })
        .await
    }

    /// Saves a new dashboard as version 1.
    pub(crate) async fn create_dashboard(&self, dashboard: Dashboard) -> Result<u64, Error> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let exists: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM dashboards WHERE uid = ?1)",
                [&dashboard.uid],
                |row| row.get(0),
            )?;
            if exists {
                return Err(Error::Exists {
                    what: WHAT,
                    key: dashboard.uid,
                });
            }
            save(&tx, dashboard, 1, "created")?;
            tx.commit()?;
            Ok(1)
        })
        .await
    }

    /// Saves `dashboard` as the version after `dashboard.version`, if that is still the current
    /// one. Returns the new version.
    pub(crate) async fn update_dashboard(
        &self,
        dashboard: Dashboard,
        message: String,
    ) -> Result<u64, Error> {
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current = current_version(&tx, &dashboard.uid)?;
            if current != dashboard.version {
                return Err(Error::Conflict {
                    what: WHAT,
                    key: dashboard.uid,
                    expected: dashboard.version,
                    current,
                });
            }
            let version = current + 1;
            save(&tx, dashboard, version, &message)?;
            tx.commit()?;
            Ok(version)
        })
        .await
    }

    /// Deletes the dashboard and its versions.
    pub(crate) async fn delete_dashboard(&self, uid: &str) -> Result<(), Error> {
        let uid = uid.to_string();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if tx.execute("DELETE FROM dashboards WHERE uid = ?1", [&uid])? == 0 {
                return Err(not_found(&uid));
            }
            tx.execute("DELETE FROM dashboard_versions WHERE uid = ?1", [&uid])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// The saved versions of `uid`, newest first.
    pub(crate) async fn dashboard_versions(&self, uid: &str) -> Result<Vec<VersionRecord>, Error> {
        let uid = uid.to_string();
        self.with(move |conn| {
            current_version(&conn.transaction()?, &uid)?;
            let mut stmt = conn.prepare(
                "SELECT version, saved_at, message FROM dashboard_versions
                 WHERE uid = ?1 ORDER BY version DESC",
            )?;
            let rows = stmt.query_map([&uid], |row| {
                Ok(VersionRecord {
                    version: row.get::<_, i64>(0)? as u64,
                    saved_at: row.get(1)?,
                    message: row.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The dashboard `uid` as it was saved at `version`.
    pub(crate) async fn dashboard_version(
        &self,
        uid: &str,
        version: u64,
    ) -> Result<Dashboard, Error> {
        let uid = uid.to_string();
        self.with(move |conn| {
            let document: Option<String> = conn
                .query_row(
                    "SELECT document FROM dashboard_versions WHERE uid = ?1 AND version = ?2",
                    (&uid, version as i64),
                    |row| row.get(0),
                )
                .optional()?;
            let document = document.ok_or_else(|| Error::NotFound {
                what: "dashboard version",
                key: format!("{uid}@{version}"),
            })?;
            Ok(serde_json::from_str(&document)?)
        })
        .await
    }
}

fn current_version(tx: &Transaction<'_>, uid: &str) -> Result<u64, Error> {
    let version: Option<i64> = tx
        .query_row(
            "SELECT version FROM dashboards WHERE uid = ?1",
            [uid],
            |row| row.get(0),
        )
        .optional()?;
    version.map(|v| v as u64).ok_or_else(|| not_found(uid))
}

/// Writes `dashboard` as `version`: the current row and the version's row.
fn save(
    tx: &Transaction<'_>,
    mut dashboard: Dashboard,
    version: u64,
    message: &str,
) -> Result<(), Error> {
    dashboard.version = version;
    let document = serde_json::to_string(&dashboard)?;
    let tags = serde_json::to_string(&dashboard.tags)?;
    let now = storage::now_micros();
    tx.execute(
        "INSERT INTO dashboards (uid, version, title, tags, document, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (uid) DO UPDATE SET version = excluded.version, title = excluded.title,
             tags = excluded.tags, document = excluded.document, updated_at = excluded.updated_at",
        (
            &dashboard.uid,
            version as i64,
            &dashboard.title,
            &tags,
            &document,
            now,
        ),
    )?;
    tx.execute(
        "INSERT INTO dashboard_versions (uid, version, document, saved_at, message)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        (&dashboard.uid, version as i64, &document, now, message),
    )?;
    Ok(())
}
