//! The frames of the live protocol, and the shape of a subscription's result.

use std::cmp::Ordering;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt::Write as _;

use crate::{Column, ErrorKind, Row, compare_values};

/// The longest subscription id.
pub const MAX_ID_LEN: usize = 128;

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ClientMessage {
    /// Keep `sql`'s result up to date under `id`; an `id` in use is replaced.
    Subscribe {
        id: String,
        sql: String,
    },
    /// Send the events of `stream` appended from now on that pass `filter` (an SQL condition),
    /// newest first, under `id`; an `id` in use is replaced.
    Tail {
        id: String,
        stream: String,
        #[serde(default)]
        filter: Option<String>,
    },
    Unsubscribe {
        id: String,
    },
}

/// A client message the server could not take: the subscription it named, if any, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadMessage {
    pub id: Option<String>,
    pub message: String,
}

impl ClientMessage {
    /// Reads a text frame.
    pub fn parse(text: &str) -> Result<ClientMessage, BadMessage> {
        let message = serde_json::from_str::<ClientMessage>(text).map_err(|err| {
            let id = serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v.get("id")?.as_str().map(str::to_owned));
            BadMessage {
                id,
                message: format!(
                    "bad message: {err}; expected {{\"type\":\"subscribe\",\"id\",\"sql\"}}, \
                     {{\"type\":\"tail\",\"id\",\"stream\",\"filter\"}} or \
                     {{\"type\":\"unsubscribe\",\"id\"}}"
                ),
            }
        })?;
        if let ClientMessage::Subscribe { id, .. } | ClientMessage::Tail { id, .. } = &message
            && !(1..=MAX_ID_LEN).contains(&id.len())
        {
            return Err(BadMessage {
                id: None,
                message: format!("subscription id must be 1 to {MAX_ID_LEN} characters"),
            });
        }
        Ok(message)
    }

    /// The frame's text.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("strings always serialize")
    }
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMessage {
    Snapshot(Snapshot),
    Delta(Delta),
    Events(Events),
    Error(ErrorFrame),
    /// A frame type this client does not know (a newer server): ignore it.
    #[serde(other)]
    Other,
}

impl ServerMessage {
    /// Reads a text frame.
    pub fn parse(text: &str) -> Result<ServerMessage, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The frame's text.
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("JSON values always serialize")
    }
}

/// The whole current result of a subscription; it replaces what the client held.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    /// One more than the subscription's previous frame (snapshots and deltas alike).
    pub seq: u64,
    #[serde(flatten)]
    pub shape: Shape,
    pub rows: Vec<Row>,
    /// The query's event-time watermark, µs since the epoch: windows ending at or before it are
    /// complete. For a re-queried query, the time of its last run.
    pub watermark: i64,
    /// The server's clock when the frame was made, µs since the epoch.
    pub now: i64,
    /// The event time of the newest event the result includes, µs since the epoch (0: none
    /// arrived since the query started): `now - newest` is how far the result is behind.
    #[serde(default)]
    pub newest: i64,
    #[serde(flatten)]
    pub mode: Mode,
    /// The query reached its group cap: events of further groups are left out.
    #[serde(default)]
    pub overflow: bool,
}

/// What changed since the subscription's previous frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delta {
    pub id: String,
    pub seq: u64,
    #[serde(flatten)]
    pub change: Change,
}

/// New events of a tail, newest first: at most a frame's worth, and how many more passed its
/// filter since its previous frame and are not sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Events {
    pub id: String,
    pub seq: u64,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// Events that passed the filter and are not in `rows`: more arrived than a frame holds.
    pub skipped: u64,
    /// The server's clock when the frame was made, µs since the epoch.
    pub now: i64,
}

/// A subscription failed and has ended, or (`id` null) a message could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorFrame {
    pub id: Option<String>,
    pub kind: ErrorKind,
    pub message: String,
}

/// How a query is kept live.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase")]
pub enum Mode {
    /// Kept up to date event by event.
    #[default]
    Incremental,
    /// Re-run every `interval_ms`, because of `reason` (what the engine cannot keep live).
    Requery { reason: String, interval_ms: u64 },
}

/// What every subscriber of a query is told about its rows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    pub columns: Vec<Column>,
    /// The columns that identify a row (those computed from GROUP BY expressions alone): deltas
    /// follow. `None` when they do not identify rows: every change is then a whole snapshot.
    /// `[]` for an aggregate without GROUP BY (its one row).
    pub key: Option<Vec<usize>>,
    /// The query's ORDER BY.
    #[serde(default)]
    pub order: Vec<Order>,
}

/// One ORDER BY term: a result column and a direction. On the wire, `[1, "desc"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(usize, Direction)", into = "(usize, Direction)")]
pub struct Order {
    pub column: usize,
    pub direction: Direction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Asc,
    Desc,
}

impl From<(usize, Direction)> for Order {
    fn from((column, direction): (usize, Direction)) -> Order {
        Order { column, direction }
    }
}

impl From<Order> for (usize, Direction) {
    fn from(order: Order) -> (usize, Direction) {
        (order.column, order.direction)
    }
}

impl Shape {
    /// The key columns' values of a row (the whole row when rows have no key).
    pub fn key_of(&self, row: &[Value]) -> Vec<Value> {
        match &self.key {
            Some(key) => key
                .iter()
                .map(|&i| row.get(i).cloned().unwrap_or(Value::Null))
                .collect(),
            None => row.to_vec(),
        }
    }

    /// The text a key is told apart by (its JSON).
    pub fn key_text(key: &[Value]) -> String {
        serde_json::to_string(key).expect("JSON values always serialize")
    }

    /// Puts rows in the order clients show them: by the ORDER BY terms, then, for rows with a
    /// key, by the key; rows without a key and without ORDER BY keep the server's order.
    pub fn sort(&self, rows: &mut [Row]) {
        if self.order.is_empty() && self.key.is_none() {
            return;
        }
        rows.sort_by(|a, b| self.compare(a, b));
    }

    fn compare(&self, a: &[Value], b: &[Value]) -> Ordering {
        let value =
            |row: &'_ [Value], i: usize| -> Value { row.get(i).cloned().unwrap_or(Value::Null) };
        for order in &self.order {
            let ordering = compare_values(&value(a, order.column), &value(b, order.column));
            let ordering = match order.direction {
                Direction::Asc => ordering,
                Direction::Desc => ordering.reverse(),
            };
            if ordering.is_ne() {
                return ordering;
            }
        }
        for &i in self.key.iter().flatten() {
            let ordering = compare_values(&value(a, i), &value(b, i));
            if ordering.is_ne() {
                return ordering;
            }
        }
        Ordering::Equal
    }
}

/// What changed in a query's result: rows to insert or replace (whole), and keys of rows that
/// left it. Built once and then only read: a query publishes one to every subscriber, and
/// [`Change::frame`] encodes its rows once for all of them.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Change {
    upserts: Vec<Row>,
    deletes: Vec<Row>,
    watermark: i64,
    now: i64,
    #[serde(default)]
    newest: i64,
    /// `upserts` and `deletes` as JSON, made on the first [`Change::frame`].
    #[serde(skip)]
    /// Everything of the frame after its id and seq, encoded on first use.
    encoded: OnceLock<String>,
}

impl PartialEq for Change {
    fn eq(&self, other: &Change) -> bool {
        (
            &self.upserts,
            &self.deletes,
            self.watermark,
            self.now,
            self.newest,
        ) == (
            &other.upserts,
            &other.deletes,
            other.watermark,
            other.now,
            other.newest,
        )
    }
}

impl Change {
    /// A change at event-time watermark `watermark` and server clock `now` (µs).
    pub fn new(upserts: Vec<Row>, deletes: Vec<Row>, watermark: i64, now: i64) -> Change {
        Change {
            upserts,
            deletes,
            watermark,
            now,
            newest: 0,
            encoded: OnceLock::new(),
        }
    }

    /// The change, saying that the newest event it includes is at event time `newest` (µs).
    pub fn with_newest(mut self, newest: i64) -> Change {
        self.newest = newest;
        self
    }

    /// The event time of the newest event included (µs; 0: none yet).
    pub fn newest(&self) -> i64 {
        self.newest
    }

    /// New or changed rows, whole: insert, or replace the row with the same key.
    pub fn upserts(&self) -> &[Row] {
        &self.upserts
    }

    /// Keys (the key columns' values, in key order) of rows that left the result.
    pub fn deletes(&self) -> &[Row] {
        &self.deletes
    }

    pub fn watermark(&self) -> i64 {
        self.watermark
    }

    pub fn now(&self) -> i64 {
        self.now
    }

    /// Whether no row changed (only the watermark may have moved).
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty()
    }

    /// The `delta` frame of subscription `id` at `seq`. Everything after the id and seq is
    /// serialized on the first call only: a change published to a thousand subscribers is
    /// encoded once, and each frame is a short head and a copy of that text.
    pub fn frame(&self, id: &str, seq: u64) -> String {
        let tail = self.encoded.get_or_init(|| {
            #[derive(Serialize)]
            struct Tail<'a> {
                upserts: &'a [Row],
                deletes: &'a [Row],
                watermark: i64,
                now: i64,
                newest: i64,
            }
            let tail = serde_json::to_string(&Tail {
                upserts: &self.upserts,
                deletes: &self.deletes,
                watermark: self.watermark,
                now: self.now,
                newest: self.newest,
            })
            .expect("JSON values always serialize");
            // `{"upserts":…}` less its opening brace: the frame's head goes before it.
            tail[1..].to_owned()
        });
        let id = serde_json::to_string(id).expect("a string always serializes");
        let mut frame = String::with_capacity(40 + id.len() + tail.len());
        frame.push_str(r#"{"type":"delta","id":"#);
        frame.push_str(&id);
        frame.push_str(r#","seq":"#);
        let _ = write!(frame, "{seq},");
        frame.push_str(tail);
        frame
    }
}
