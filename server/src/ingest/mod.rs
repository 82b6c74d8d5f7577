//! Events in: each protocol's decoding into typed events, and their append to the store.
//!
//! ```text
//!  body ─► ndjson::parse_body ─► events::build (typed as the stream types them) ─► Store::append
//!  body ─► otlp::with_decoded (logs, spans, data points) ──┤
//!  body ─► remote_write::decode (Prometheus samples) ───────┤
//!  body ─► es_bulk::decode (documents, by index) ───────────┘
//!          (one module per protocol)
//! ```
//!
//! Decoding runs before any lock is taken, on the request's blocking thread; the store then fits
//! the batch's columns to the stream's schema, assigns offsets and makes it durable.

pub(crate) mod es_bulk;
pub(crate) mod events;
pub(crate) mod ndjson;
pub(crate) mod otlp;
pub(crate) mod remote_write;

use serde::Serialize;
use storage::{Offset, Store, StreamName, now_micros};

pub(crate) use ndjson::BodyFormat;

/// An event that was not stored, and why. `line` is 1-based: the line of an NDJSON body, or the
/// position in a JSON array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Rejection {
    pub(crate) line: usize,
    pub(crate) error: String,
}

/// What an ingest did: how many events were stored, under which offsets, and which were not.
#[derive(Debug, Clone, Default)]
pub(crate) struct Outcome {
    pub(crate) accepted: usize,
    pub(crate) rejected: Vec<Rejection>,
    /// First and last offset given, when any event was stored.
    pub(crate) offsets: Option<(Offset, Offset)>,
}

/// Why a body was not ingested at all.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// A JSON array body that is itself malformed: there are no lines to keep.
    #[error("body is not a JSON array: {reason}")]
    BodyNotJson { reason: String },
    /// An OTLP body that is not an export request of its signal, or expands too far.
    #[error(transparent)]
    Otlp(#[from] otlp::DecodeError),
    /// A Prometheus remote-write body that is not a snappy `WriteRequest`, or inflates too far.
    #[error(transparent)]
    RemoteWrite(#[from] remote_write::DecodeError),
    #[error(transparent)]
    Store(#[from] storage::Error),
    /// A bug: Arrow refused the batch built from the events.
    #[error("building the batch of events: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

/// Decodes a body of JSON events and appends the good ones to `stream` (created on first write).
/// When this returns `Ok`, the accepted events are fsync'd and visible to snapshots. Blocks on
/// fsync: call it from a blocking thread.
pub(crate) fn append_json(
    store: &Store,
    stream: &StreamName,
    body: &[u8],
    format: BodyFormat,
) -> Result<Outcome, Error> {
    let (events, rejected) = ndjson::parse_body(body, format, now_micros())?;
    append_events(store, stream, events, rejected)
}

/// Decodes an OTLP export request of `signal` and appends its items (log records, spans or
/// data points) to `stream`. Blocks on fsync, as [`append_json`].
pub(crate) fn append_otlp(
    store: &Store,
    stream: &StreamName,
    signal: otlp::Signal,
    encoding: otlp::Encoding,
    body: &[u8],
) -> Result<Outcome, Error> {
    otlp::with_decoded(signal, encoding, body, now_micros(), |decoded| {
        append_events(store, stream, decoded.events, decoded.rejected)
    })?
}

/// Decodes a Prometheus remote-write request (at most `limit` bytes once decompressed) and
/// appends its samples to `stream`. Blocks on fsync, as [`append_json`].
pub(crate) fn append_remote_write(
    store: &Store,
    stream: &StreamName,
    body: &[u8],
    limit: usize,
) -> Result<Outcome, Error> {
    let events = remote_write::decode(body, limit)?;
    append_events(store, stream, events, Vec::new())
}

/// Appends decoded `events` to `stream` (created on first write); `rejected` are those the
/// decoder already refused. The outcome lists every rejection by line, in order. When this
/// returns `Ok`, the accepted events are fsync'd and visible to snapshots. Blocks on fsync.
pub(crate) fn append_events<N: AsRef<str>, S: AsRef<str>>(
    store: &Store,
    stream: &StreamName,
    events: Vec<events::Event<N, S>>,
    mut rejected: Vec<Rejection>,
) -> Result<Outcome, Error> {
    if events.is_empty() {
        return Ok(Outcome {
            accepted: 0,
            rejected,
            offsets: None,
        });
    }
    let schema = store.schema(stream);
    let batch = events::build(
        events,
        schema.as_deref(),
        store.max_columns(),
        &mut rejected,
    )?;
    let appended = store.append(stream, &batch.events)?;
    if !appended.rejected.is_empty() {
        // Another append typed a field otherwise since the body was decoded.
        rejected.extend(appended.rejected.iter().map(|r| Rejection {
            line: batch.lines[r.row],
            error: r.error.clone(),
        }));
        rejected.sort_by_key(|r| r.line);
    }
    Ok(Outcome {
        accepted: appended.accepted(),
        rejected,
        offsets: appended.offsets,
    })
}
