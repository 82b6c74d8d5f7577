//! A live tail: the events appended to a stream that pass a filter, sent as they arrive,
//! after a first frame without events that says the tail has started.
//!
//! After each append (at most every [`GAP`]) the tail asks for the events from the offset it
//! has sent up to the stream's end, through the same query path as Explore, so it shows exactly
//! what Explore would. A frame holds the newest [`FRAME_ROWS`] of them and counts the rest as
//! skipped. It waits for room in its socket's queue before it asks: while a slow socket is
//! full, new events gather into the next frame, whose count of skipped events says how many
//! were not shown, so nothing is dropped silently.

use std::time::Duration;

use axum::extract::ws::Message;
use protocol::explore::check_predicate;
use protocol::live::{Events, ServerMessage};
use protocol::{Error, ErrorKind};
use storage::{StreamName, now_micros};

use super::{Frames, send_error};
use crate::error::ApiError;
use crate::query::format;
use crate::query::views::admins_only_message;
use crate::state::AppState;

/// Events a frame holds at most, newest first.
pub(crate) const FRAME_ROWS: usize = 50;
/// The least time between two frames of a tail.
const GAP: Duration = Duration::from_millis(250);
/// The column that counts the events passing the filter, left out of the frame.
const MATCHED: &str = "__weir_matched";

/// Runs one tail until it fails, is replaced or unsubscribed, or the socket closes.
pub(super) async fn run(
    id: String,
    stream: String,
    filter: Option<String>,
    state: AppState,
    frames: Frames,
) {
    let refuse = |message: String| Error::new(ErrorKind::BadRequest, message);
    if !state.queries.may_read(&stream) {
        let error = Error::new(ErrorKind::Forbidden, admins_only_message(&stream));
        return send_error(&frames, Some(&id), error).await;
    }
    let name = match StreamName::new(&stream) {
        Ok(name) if state.store.has_stream(&name) => name,
        _ => {
            let error = refuse(format!("there is no stream named `{stream}`"));
            return send_error(&frames, Some(&id), error).await;
        }
    };
    let filter = filter.filter(|f| !f.trim().is_empty());
    if let Some(filter) = &filter
        && let Err(e) = check_predicate(filter)
    {
        return send_error(&frames, Some(&id), refuse(e.0)).await;
    }
    let end = |state: &AppState| state.store.stream_info(&name).map(|info| info.events);
    let Ok(mut from) = end(&state) else { return };
    let mut changes = state.store.changes();
    // A first frame with no events: the tail runs, from here on.
    let mut seq = 1;
    let start = ServerMessage::Events(Events {
        id: id.clone(),
        seq,
        columns: Vec::new(),
        rows: Vec::new(),
        skipped: 0,
        now: now_micros(),
    });
    if frames
        .send(Message::Text(start.to_text().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        if changes.changed().await.is_err() {
            return;
        }
        let Ok(to) = end(&state) else { return };
        if to <= from {
            continue;
        }
        // Room first: while the socket is full, events gather for the next frame.
        let Ok(permit) = frames.reserve().await else {
            return;
        };
        let Ok(to) = end(&state) else { return };
        let condition = filter
            .as_deref()
            .map_or_else(String::new, |f| format!(" AND ({f})"));
        let sql = format!(
            "SELECT *, count(*) OVER () AS {MATCHED} FROM {} \
             WHERE _offset >= {from} AND _offset < {to}{condition} \
             ORDER BY _offset DESC LIMIT {FRAME_ROWS}",
            protocol::dashboard::substitute::identifier(name.as_str())
        );
        let output = match state.queries.run(&sql, FRAME_ROWS).await {
            Ok(output) => output,
            Err(err) => {
                drop(permit);
                return send_error(&frames, Some(&id), ApiError::from(err).into_inner()).await;
            }
        };
        let (Ok(mut rows), Ok(matched)) = (format::rows(&output), output.schema.index_of(MATCHED))
        else {
            return;
        };
        let passed = rows
            .first()
            .and_then(|row| row.get(matched)?.as_u64())
            .unwrap_or(0);
        for row in &mut rows {
            row.remove(matched);
        }
        let mut columns = format::columns(&output.schema);
        columns.remove(matched);
        seq += 1;
        let frame = ServerMessage::Events(Events {
            id: id.clone(),
            seq,
            skipped: passed.saturating_sub(rows.len() as u64),
            columns,
            rows,
            now: now_micros(),
        });
        permit.send(Message::Text(frame.to_text().into()));
        from = to;
        tokio::time::sleep(GAP).await;
    }
}
