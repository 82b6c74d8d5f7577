//! What each end keeps of a subscription: the client its current rows ([`LiveResult`]), the
//! server what it has not sent yet ([`PendingChange`]).

use std::collections::BTreeMap;

use super::message::{Change, Delta, Mode, Shape, Snapshot};
use crate::{QueryResult, Row};

/// A subscription's result as its frames built it: what a client shows.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveResult {
    pub shape: Shape,
    /// The query's event-time watermark, µs since the epoch.
    pub watermark: i64,
    /// The server's clock when the last frame was made, µs since the epoch.
    pub now: i64,
    /// The event time of the newest event the result includes (µs; 0: none yet).
    pub newest: i64,
    pub mode: Mode,
    pub overflow: bool,
    seq: u64,
    /// Rows by key text, for keyed results; `rows` in order is what clients read.
    by_key: BTreeMap<String, Row>,
    rows: Vec<Row>,
}

/// A frame that breaks the protocol's rules: the client should subscribe again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A frame's `seq` is not one more than the previous frame's.
    Gap { expected: u64, got: u64 },
    /// A delta for a result whose rows have no key.
    NoKey,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::Gap { expected, got } => write!(f, "expected frame {expected}, got {got}"),
            Violation::NoKey => f.write_str("a delta for rows without a key"),
        }
    }
}

impl std::error::Error for Violation {}

impl LiveResult {
    /// The result a snapshot holds.
    pub fn new(snapshot: Snapshot) -> LiveResult {
        let mut result = LiveResult {
            shape: snapshot.shape,
            watermark: snapshot.watermark,
            now: snapshot.now,
            newest: snapshot.newest,
            mode: snapshot.mode,
            overflow: snapshot.overflow,
            seq: snapshot.seq,
            by_key: BTreeMap::new(),
            rows: snapshot.rows,
        };
        if result.shape.key.is_some() {
            for row in &result.rows {
                let key = Shape::key_text(&result.shape.key_of(row));
                result.by_key.insert(key, row.clone());
            }
        }
        result.shape.sort(&mut result.rows);
        result
    }

    /// Replaces the result with a snapshot's; its `seq` must follow.
    pub fn reset(&mut self, snapshot: Snapshot) -> Result<(), Violation> {
        let expected = self.seq + 1;
        let got = snapshot.seq;
        *self = LiveResult::new(snapshot);
        if got == expected {
            Ok(())
        } else {
            Err(Violation::Gap { expected, got })
        }
    }

    /// Applies the subscription's next delta: its deletes, then its upserts; rows stay in order.
    /// A delete of a key the result does not hold is no error (the row may have come and gone
    /// while the client was slow).
    pub fn apply(&mut self, delta: &Delta) -> Result<(), Violation> {
        let expected = self.seq + 1;
        if delta.seq != expected {
            return Err(Violation::Gap {
                expected,
                got: delta.seq,
            });
        }
        if self.shape.key.is_none() {
            return Err(Violation::NoKey);
        }
        self.seq = delta.seq;
        let change = &delta.change;
        self.watermark = change.watermark();
        self.now = change.now();
        self.newest = self.newest.max(change.newest());
        if change.is_empty() {
            return Ok(());
        }
        for key in change.deletes() {
            self.by_key.remove(&Shape::key_text(key));
        }
        for row in change.upserts() {
            let key = Shape::key_text(&self.shape.key_of(row));
            self.by_key.insert(key, row.clone());
        }
        self.rows = self.by_key.values().cloned().collect();
        self.shape.sort(&mut self.rows);
        Ok(())
    }

    /// The rows, in the order to show them.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }

    /// The `seq` of the last frame applied.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The result as a query result (for code that shows either).
    pub fn to_query_result(&self) -> QueryResult {
        QueryResult {
            columns: self.shape.columns.clone(),
            rows: self.rows.clone(),
            truncated: false,
            now: self.now,
        }
    }
}

/// The changes a subscriber has not been sent yet, merged: the latest state of each key.
/// Applying the merged change equals applying each change in turn (a property test holds it).
#[derive(Debug, Default)]
pub struct PendingChange {
    /// By key text: the row now (`Ok`), or the key of a row that left (`Err`).
    by_key: BTreeMap<String, Result<Row, Row>>,
    watermark: i64,
    now: i64,
    newest: i64,
}

impl PendingChange {
    /// Merges `change` (of a query of `shape`) after what is pending.
    pub fn add(&mut self, shape: &Shape, change: &Change) {
        self.watermark = change.watermark();
        self.now = change.now();
        self.newest = change.newest();
        for key in change.deletes() {
            self.by_key.insert(Shape::key_text(key), Err(key.clone()));
        }
        for row in change.upserts() {
            let key = Shape::key_text(&shape.key_of(row));
            self.by_key.insert(key, Ok(row.clone()));
        }
    }

    /// Keys with a pending change.
    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The merged change, leaving nothing pending.
    pub fn take(&mut self) -> Change {
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for (_, change) in std::mem::take(&mut self.by_key) {
            match change {
                Ok(row) => upserts.push(row),
                Err(key) => deletes.push(key),
            }
        }
        Change::new(upserts, deletes, self.watermark, self.now).with_newest(self.newest)
    }
}
