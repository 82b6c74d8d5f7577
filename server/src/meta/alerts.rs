//! Alerting in the metadata database: documents of four kinds (rules, contact points, silences,
//! the policy) under one table and one set of operations; each instance's state; and the
//! notification log (what each group last sent each receiver), which keeps a restart from
//! notifying twice.

use std::collections::{BTreeMap, BTreeSet};

use rusqlite::{OptionalExtension, TransactionBehavior};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Error, Meta};

/// The kinds of alerting documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Rule,
    ContactPoint,
    Silence,
    Policy,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Rule => "rule",
            Kind::ContactPoint => "contact_point",
            Kind::Silence => "silence",
            Kind::Policy => "policy",
        }
    }

    fn what(self) -> &'static str {
        match self {
            Kind::Rule => "alert rule",
            Kind::ContactPoint => "contact point",
            Kind::Silence => "silence",
            Kind::Policy => "notification policy",
        }
    }
}

/// A document as stored.
#[derive(Debug, Clone)]
pub(crate) struct Stored<T> {
    pub(crate) document: T,
    pub(crate) version: u64,
    pub(crate) updated_at: i64,
    /// The file it is provisioned from (empty when made through the API).
    pub(crate) source: String,
}

/// An instance's state as saved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct InstanceRecord {
    pub(crate) rule_uid: String,
    pub(crate) fingerprint: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) state: String,
    pub(crate) reason: String,
    pub(crate) since: i64,
    /// When it started firing: kept when it resolves (a resolved notification's `startsAt`).
    pub(crate) fired_at: Option<i64>,
    pub(crate) value: Option<f64>,
}

/// What a notification group last sent a receiver.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LogEntry {
    pub(crate) firing: BTreeSet<String>,
    pub(crate) resolved: BTreeSet<String>,
    pub(crate) sent_at: i64,
}

impl Meta {
    /// Every document of `kind`, by key.
    pub(crate) async fn documents<T: DeserializeOwned + Send + 'static>(
        &self,
        kind: Kind,
    ) -> Result<Vec<Stored<T>>, Error> {
        self.with(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT document, version, updated_at, source FROM alert_documents
                 WHERE kind = ?1 ORDER BY key",
            )?;
            let rows = stmt.query_map([kind.as_str()], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, i64>(1)?,
                    row.get::<_, i64>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })?;
            let mut list = Vec::new();
            for row in rows {
                let (document, version, updated_at, source) = row?;
                list.push(Stored {
                    document: serde_json::from_str(&document)?,
                    version: version as u64,
                    updated_at,
                    source,
                });
            }
            Ok(list)
        })
        .await
    }

    pub(crate) async fn document<T: DeserializeOwned + Send + 'static>(
        &self,
        kind: Kind,
        key: &str,
    ) -> Result<Stored<T>, Error> {
        let key = key.to_owned();
        self.with(move |conn| {
            let row: Option<(String, i64, i64, String)> = conn
                .query_row(
                    "SELECT document, version, updated_at, source FROM alert_documents
                     WHERE kind = ?1 AND key = ?2",
                    (kind.as_str(), &key),
                    |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
                )
                .optional()?;
            let (document, version, updated_at, source) = row.ok_or_else(|| Error::NotFound {
                what: kind.what(),
                key: key.clone(),
            })?;
            Ok(Stored {
                document: serde_json::from_str(&document)?,
                version: version as u64,
                updated_at,
                source,
            })
        })
        .await
    }

    /// Saves `document` under `key`: new when `expected` is 0 (an existing one is a conflict),
    /// else over version `expected` (a stale one is a conflict). Returns the new version, which
    /// `stamp` writes into the document before it is stored. `source` is the file it is
    /// provisioned from, or empty.
    pub(crate) async fn save_document<T: Serialize + Send + 'static>(
        &self,
        kind: Kind,
        key: &str,
        expected: u64,
        (mut document, source): (T, String),
        stamp: fn(&mut T, u64),
    ) -> Result<u64, Error> {
        let key = key.to_owned();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let current: Option<i64> = tx
                .query_row(
                    "SELECT version FROM alert_documents WHERE kind = ?1 AND key = ?2",
                    (kind.as_str(), &key),
                    |row| row.get(0),
                )
                .optional()?;
            match (current, expected) {
                (Some(_), 0) => {
                    return Err(Error::Exists {
                        what: kind.what(),
                        key,
                    });
                }
                (None, e) if e > 0 => {
                    return Err(Error::NotFound {
                        what: kind.what(),
                        key,
                    });
                }
                (Some(c), e) if c as u64 != e => {
                    return Err(Error::Conflict {
                        what: kind.what(),
                        key,
                        expected: e,
                        current: c as u64,
                    });
                }
                _ => {}
            }
            let version = expected + 1;
            stamp(&mut document, version);
            tx.execute(
                "INSERT INTO alert_documents (kind, key, version, document, updated_at, source)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (kind, key) DO UPDATE SET
                   version = excluded.version, document = excluded.document,
                   updated_at = excluded.updated_at, source = excluded.source",
                (
                    kind.as_str(),
                    &key,
                    version as i64,
                    serde_json::to_string(&document)?,
                    storage::now_micros(),
                    &source,
                ),
            )?;
            tx.commit()?;
            Ok(version)
        })
        .await
    }

    /// Deletes a document; a rule's instances go with it.
    pub(crate) async fn delete_document(&self, kind: Kind, key: &str) -> Result<(), Error> {
        let key = key.to_owned();
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "DELETE FROM alert_documents WHERE kind = ?1 AND key = ?2",
                (kind.as_str(), &key),
            )?;
            if n == 0 {
                return Err(Error::NotFound {
                    what: kind.what(),
                    key,
                });
            }
            if kind == Kind::Rule {
                tx.execute("DELETE FROM alert_instances WHERE rule_uid = ?1", [&key])?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Saves instances' states in one transaction (on disk when it returns).
    pub(crate) async fn save_instances(&self, records: Vec<InstanceRecord>) -> Result<(), Error> {
        if records.is_empty() {
            return Ok(());
        }
        self.with(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare(
                    "INSERT INTO alert_instances
                       (rule_uid, fingerprint, labels, state, reason, since, fired_at, value, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                     ON CONFLICT (rule_uid, fingerprint) DO UPDATE SET
                       labels = excluded.labels, state = excluded.state, reason = excluded.reason,
                       since = excluded.since,
                       fired_at = COALESCE(excluded.fired_at, alert_instances.fired_at),
                       value = excluded.value, updated_at = excluded.updated_at",
                )?;
                let now = storage::now_micros();
                for r in &records {
                    stmt.execute((
                        &r.rule_uid,
                        &r.fingerprint,
                        serde_json::to_string(&r.labels)?,
                        &r.state,
                        &r.reason,
                        r.since,
                        r.fired_at,
                        r.value,
                        now,
                    ))?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    /// Every saved instance (of every rule).
    pub(crate) async fn instances(&self) -> Result<Vec<InstanceRecord>, Error> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT rule_uid, fingerprint, labels, state, reason, since, fired_at, value
                 FROM alert_instances ORDER BY rule_uid, fingerprint",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, i64>(5)?,
                    row.get::<_, Option<i64>>(6)?,
                    row.get::<_, Option<f64>>(7)?,
                ))
            })?;
            let mut list = Vec::new();
            for row in rows {
                let (rule_uid, fingerprint, labels, state, reason, since, fired_at, value) = row?;
                list.push(InstanceRecord {
                    rule_uid,
                    fingerprint,
                    labels: serde_json::from_str(&labels)?,
                    state,
                    reason,
                    since,
                    fired_at,
                    value,
                });
            }
            Ok(list)
        })
        .await
    }

    /// Forgets resolved instances that resolved before `before` (their notifications are long
    /// sent).
    pub(crate) async fn forget_instances(&self, before: i64) -> Result<usize, Error> {
        self.with(move |conn| {
            Ok(conn.execute(
                "DELETE FROM alert_instances WHERE state = 'Normal' AND since < ?1",
                [before],
            )?)
        })
        .await
    }

    /// The whole notification log.
    pub(crate) async fn notification_log(
        &self,
    ) -> Result<BTreeMap<(String, String), LogEntry>, Error> {
        self.with(|conn| {
            let mut stmt = conn.prepare(
                "SELECT group_key, receiver, firing, resolved, sent_at FROM notification_log",
            )?;
            let rows = stmt.query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, i64>(4)?,
                ))
            })?;
            let mut log = BTreeMap::new();
            for row in rows {
                let (group, receiver, firing, resolved, sent_at) = row?;
                log.insert(
                    (group, receiver),
                    LogEntry {
                        firing: serde_json::from_str(&firing)?,
                        resolved: serde_json::from_str(&resolved)?,
                        sent_at,
                    },
                );
            }
            Ok(log)
        })
        .await
    }

    /// Records what a group sent a receiver; an entry with nothing firing is removed (the group
    /// is done).
    pub(crate) async fn log_notification(
        &self,
        group_key: String,
        receiver: String,
        entry: LogEntry,
    ) -> Result<(), Error> {
        self.with(move |conn| {
            if entry.firing.is_empty() {
                conn.execute(
                    "DELETE FROM notification_log WHERE group_key = ?1 AND receiver = ?2",
                    (&group_key, &receiver),
                )?;
            } else {
                conn.execute(
                    "INSERT INTO notification_log (group_key, receiver, firing, resolved, sent_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (group_key, receiver) DO UPDATE SET
                       firing = excluded.firing, resolved = excluded.resolved,
                       sent_at = excluded.sent_at",
                    (
                        &group_key,
                        &receiver,
                        serde_json::to_string(&entry.firing)?,
                        serde_json::to_string(&entry.resolved)?,
                        entry.sent_at,
                    ),
                )?;
            }
            Ok(())
        })
        .await
    }
}
