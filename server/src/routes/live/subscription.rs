//! One subscription of a live socket: a snapshot, then deltas, at the socket's pace.
//!
//! A subscription never holds up its query or other sockets. While its socket's queue is full,
//! its changes merge into what it has not sent (the latest row per key, [`PendingChange`]), and
//! past a bound (or when it lags the query's channel) it starts again from a fresh snapshot.

use std::sync::Arc;

use axum::extract::ws::Message;
use protocol::Row;
use protocol::live::{PendingChange, ServerMessage, Snapshot};
use storage::now_micros;
use tokio::sync::broadcast;

use super::{Frames, send_error};
use crate::engine::{Shared, Start, Update};
use crate::error::ApiError;
use crate::state::AppState;

/// Runs one subscription until it fails, is replaced or unsubscribed, or the socket closes.
pub(super) async fn run(id: String, sql: String, state: AppState, frames: Frames) {
    let shared = match state.engine.subscribe(&sql, &state.queries).await {
        Ok(shared) => shared,
        Err(err) => {
            send_error(&frames, Some(&id), ApiError::from(err).into_inner()).await;
            return;
        }
    };
    let backlog_rows = state.engine.config().backlog_rows;
    let mut seq = 0u64;
    loop {
        let (start, mut updates) = match shared.join() {
            Ok(joined) => joined,
            Err(error) => {
                send_error(&frames, Some(&id), error).await;
                return;
            }
        };
        seq += 1;
        let frame = snapshot(
            &id,
            seq,
            &shared,
            &start,
            start.rows.clone(),
            (start.watermark, start.newest),
        );
        if frames.send(frame).await.is_err() {
            return;
        }
        let mut version = start.version;
        let mut pending = PendingChange::default();
        // A whole new result not sent yet (for queries sent as snapshots), at its watermark.
        let mut pending_result: Option<(Vec<Row>, (i64, i64))> = None;
        loop {
            let due = !pending.is_empty() || pending_result.is_some();
            tokio::select! {
                update = updates.recv() => match update {
                    Ok(update) => match update.as_ref() {
                        Update::Delta { version: v, change } if *v > version => {
                            version = *v;
                            // Nothing held back and room in the queue: the shared encoding.
                            if !due && let Ok(permit) = frames.try_reserve() {
                                seq += 1;
                                permit.send(Message::Text(change.frame(&id, seq).into()));
                                continue;
                            }
                            pending.add(&shared.shape, change);
                            if pending.len() > backlog_rows {
                                break;
                            }
                        }
                        Update::Result { version: v, rows, watermark, newest } if *v > version => {
                            version = *v;
                            pending_result = Some((rows.clone(), (*watermark, *newest)));
                        }
                        Update::Failed { error } => {
                            send_error(&frames, Some(&id), error.clone()).await;
                            return;
                        }
                        _ => {}
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                permit = frames.reserve(), if due => {
                    let Ok(permit) = permit else { return };
                    seq += 1;
                    let frame = match pending_result.take() {
                        Some((rows, times)) => snapshot(&id, seq, &shared, &start, rows, times),
                        None => Message::Text(pending.take().frame(&id, seq).into()),
                    };
                    permit.send(frame);
                }
            }
        }
        tracing::debug!(%id, "a live subscription fell behind: sending a fresh snapshot");
    }
}

fn snapshot(
    id: &str,
    seq: u64,
    shared: &Arc<Shared>,
    start: &Start,
    rows: Vec<Row>,
    (watermark, newest): (i64, i64),
) -> Message {
    let frame = ServerMessage::Snapshot(Snapshot {
        id: id.to_owned(),
        seq,
        shape: shared.shape.clone(),
        rows,
        watermark,
        now: now_micros(),
        newest,
        mode: start.mode.clone(),
        overflow: start.overflow,
    });
    Message::Text(frame.to_text().into())
}
