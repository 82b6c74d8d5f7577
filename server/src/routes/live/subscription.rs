//! One subscription of a live socket: a snapshot, then deltas, at the socket's pace.
//!
//! A subscription is state in its socket's writer ([`super::writer`]), which reads the query's
//! updates itself: a change published to a thousand sockets wakes a thousand writers, not a
//! subscription task and then a writer per socket. A subscription never holds up its query or
//! other sockets: while its socket is full, its changes merge into what it has not sent (the
//! latest row per key, [`PendingChange`]), and past a bound (or when it lags the query's
//! channel) it starts again from a fresh snapshot.

use std::sync::Arc;

use axum::extract::ws::Message;
use protocol::Row;
use protocol::live::{Mode, PendingChange, ServerMessage, Snapshot};
use storage::now_micros;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::engine::{Shared, Start, Update};
use crate::error::ApiError;
use crate::state::AppState;

/// A query's updates, as the writer reads them.
pub(super) type Updates = BroadcastStream<Arc<Update>>;

/// A subscription that has joined its query: the result to start from, and the changes after it.
pub(super) struct Joined {
    shared: Arc<Shared>,
    start: Start,
    updates: Updates,
}

/// Finds (or starts) the running query for `sql` and joins it. This may wait for the query's
/// backfill; it runs inside the writer, which goes on sending meanwhile.
pub(super) async fn join(sql: String, state: AppState) -> Result<Joined, protocol::Error> {
    let shared = state
        .engine
        .subscribe(&sql, &state.queries)
        .await
        .map_err(|err| ApiError::from(err).into_inner())?;
    let (start, updates) = shared.join()?;
    Ok(Joined {
        shared,
        start,
        updates: BroadcastStream::new(updates),
    })
}

/// What an update asks of the writer.
pub(super) enum Next {
    /// Nothing to send now.
    Nothing,
    /// A frame to send now.
    Frame(Message),
    /// The subscription fell behind and joined again (a fresh snapshot is held): read these
    /// updates from now on.
    Rejoined(Updates),
    /// The query failed: the subscription ends with this error.
    Failed(protocol::Error),
}

/// One subscription's state in its socket's writer.
pub(super) struct Subscription {
    id: String,
    shared: Arc<Shared>,
    /// How the query is kept, and whether its state overflowed, when it last joined (they go
    /// into snapshots).
    mode: Mode,
    overflow: bool,
    seq: u64,
    /// The version of the query's result the client has, or will have once held frames are sent.
    version: u64,
    /// Changes not sent yet, merged.
    pending: PendingChange,
    /// A whole result not sent yet (a snapshot, or a result of a query sent as snapshots).
    pending_result: Option<(Vec<Row>, (i64, i64))>,
    /// Keys held back before the subscription starts again from a snapshot.
    backlog_rows: usize,
}

impl Subscription {
    /// A subscription that has joined, holding its first snapshot; and the updates to read.
    pub(super) fn new(id: String, joined: Joined, backlog_rows: usize) -> (Self, Updates) {
        let Joined {
            shared,
            start,
            updates,
        } = joined;
        let mut subscription = Subscription {
            id,
            shared,
            mode: start.mode.clone(),
            overflow: start.overflow,
            seq: 0,
            version: 0,
            pending: PendingChange::default(),
            pending_result: None,
            backlog_rows,
        };
        subscription.restart(start);
        (subscription, updates)
    }

    /// Applies an update of its query. With `room` (the socket takes frames now) and nothing
    /// held back, a delta is sent as the query encoded it for every subscriber.
    pub(super) fn update(
        &mut self,
        update: Result<Arc<Update>, BroadcastStreamRecvError>,
        room: bool,
    ) -> Next {
        let update = match update {
            Ok(update) => update,
            Err(BroadcastStreamRecvError::Lagged(_)) => return self.rejoin(),
        };
        match update.as_ref() {
            Update::Delta { version, change } if *version > self.version => {
                self.version = *version;
                if room && !self.holds() {
                    self.seq += 1;
                    return Next::Frame(Message::Text(change.frame(&self.id, self.seq).into()));
                }
                self.pending.add(&self.shared.shape, change);
                if self.pending.len() > self.backlog_rows {
                    return self.rejoin();
                }
                Next::Nothing
            }
            Update::Result {
                version,
                rows,
                watermark,
                newest,
            } if *version > self.version => {
                self.version = *version;
                self.pending_result = Some((rows.clone(), (*watermark, *newest)));
                Next::Nothing
            }
            Update::Failed { error } => Next::Failed(error.clone()),
            _ => Next::Nothing,
        }
    }

    /// Whether frames are held back.
    pub(super) fn holds(&self) -> bool {
        self.pending_result.is_some() || !self.pending.is_empty()
    }

    /// The next frame held back, if any: a whole result first, then the merged changes.
    pub(super) fn held(&mut self) -> Option<Message> {
        if let Some((rows, times)) = self.pending_result.take() {
            self.seq += 1;
            return Some(self.snapshot(rows, times));
        }
        if self.pending.is_empty() {
            return None;
        }
        self.seq += 1;
        Some(Message::Text(
            self.pending.take().frame(&self.id, self.seq).into(),
        ))
    }

    /// Starts again from the query's current result, dropping what is held back.
    fn rejoin(&mut self) -> Next {
        tracing::debug!(id = %self.id, "a live subscription fell behind: sending a fresh snapshot");
        match self.shared.join() {
            Ok((start, updates)) => {
                self.restart(start);
                Next::Rejoined(BroadcastStream::new(updates))
            }
            Err(error) => Next::Failed(error),
        }
    }

    fn restart(&mut self, start: Start) {
        self.version = start.version;
        self.mode = start.mode;
        self.overflow = start.overflow;
        self.pending = PendingChange::default();
        self.pending_result = Some((start.rows, (start.watermark, start.newest)));
    }

    fn snapshot(&self, rows: Vec<Row>, (watermark, newest): (i64, i64)) -> Message {
        let frame = ServerMessage::Snapshot(Snapshot {
            id: self.id.clone(),
            seq: self.seq,
            shape: self.shared.shape.clone(),
            rows,
            watermark,
            now: now_micros(),
            newest,
            mode: self.mode.clone(),
            overflow: self.overflow,
        });
        Message::Text(frame.to_text().into())
    }
}
