//! `GET /api/v1/live`: the WebSocket hub that pushes query results to browsers.
//!
//! One socket carries many subscriptions, each a SQL query under a client-chosen id. Each
//! subscription joins the engine's shared query for its SQL (see `engine`): it is sent the
//! current result (a `snapshot` frame), then what changed (`delta` frames keyed by the group-by
//! columns). A subscription never holds up the query or other sockets: while its socket is busy
//! its changes coalesce to the latest row per key, and past a bound it is sent a fresh snapshot.
//! The protocol, with its limits, is in docs/live-protocol.md.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::engine::{Error as EngineError, Mode, Shared, Start, Update, now_micros, row_key};
use crate::error::ApiError;
use crate::router::AppState;

/// Largest client message.
const MAX_MESSAGE_BYTES: usize = 64 << 10;
/// Subscriptions one socket may hold.
const MAX_SUBSCRIPTIONS: usize = 64;
/// The server pings this often, and closes a socket it has not heard from in [`CLIENT_TIMEOUT`].
const PING_EVERY: Duration = Duration::from_secs(15);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);
/// Frames queued for one socket; a subscription waits when they are all taken.
const QUEUE_FRAMES: usize = 4;

pub(crate) async fn upgrade(ws: WebSocketUpgrade, State(state): State<AppState>) -> Response {
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| {
            let tracker = state.live_sockets.clone();
            tracker.track_future(connection(socket, state))
        })
}

#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
enum ClientMessage {
    Subscribe { id: String, sql: String },
    Unsubscribe { id: String },
}

async fn connection(socket: WebSocket, state: AppState) {
    let (mut sink, mut incoming) = socket.split();
    let (frames, mut outgoing) = mpsc::channel::<Message>(QUEUE_FRAMES);
    let writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let mut subscriptions: HashMap<String, JoinHandle<()>> = HashMap::new();
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_heard = Instant::now();
    loop {
        tokio::select! {
            () = state.stopping.cancelled() => {
                let close = CloseFrame { code: close_code::AWAY, reason: "server shutting down".into() };
                let _ = frames.send(Message::Close(Some(close))).await;
                break;
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > CLIENT_TIMEOUT {
                    tracing::debug!("closing a live socket that stopped answering pings");
                    break;
                }
                let _ = frames.try_send(Message::Ping(Default::default()));
            }
            message = incoming.next() => {
                let Some(Ok(message)) = message else { break };
                last_heard = Instant::now();
                match message {
                    Message::Text(text) => {
                        handle(&text, &state, &frames, &mut subscriptions).await;
                    }
                    Message::Binary(_) => {
                        send_error(&frames, None, "binary frames are not supported: send JSON text").await;
                    }
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
        }
    }
    for (_, task) in subscriptions.drain() {
        task.abort();
    }
    drop(frames);
    let _ = writer.await;
}

async fn handle(
    text: &str,
    state: &AppState,
    frames: &mpsc::Sender<Message>,
    subscriptions: &mut HashMap<String, JoinHandle<()>>,
) {
    let message = match serde_json::from_str::<ClientMessage>(text) {
        Ok(message) => message,
        Err(err) => {
            let id = serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|v| v.get("id").and_then(Value::as_str).map(str::to_owned));
            let message = format!(
                "bad message: {err}; expected {{\"type\":\"subscribe\",\"id\",\"sql\"}} or {{\"type\":\"unsubscribe\",\"id\"}}"
            );
            send_error(frames, id.as_deref(), &message).await;
            return;
        }
    };
    match message {
        ClientMessage::Subscribe { id, sql } => {
            if id.is_empty() || id.len() > 128 {
                send_error(frames, None, "subscription id must be 1 to 128 characters").await;
                return;
            }
            subscriptions.retain(|_, task| !task.is_finished());
            if !subscriptions.contains_key(&id) && subscriptions.len() >= MAX_SUBSCRIPTIONS {
                let message = format!("at most {MAX_SUBSCRIPTIONS} subscriptions per socket");
                send_error(frames, Some(&id), &message).await;
                return;
            }
            let task = tokio::spawn(subscription(id.clone(), sql, state.clone(), frames.clone()));
            // Subscribing again under an id replaces that subscription.
            if let Some(old) = subscriptions.insert(id, task) {
                old.abort();
            }
        }
        ClientMessage::Unsubscribe { id } => {
            if let Some(task) = subscriptions.remove(&id) {
                task.abort();
            }
        }
    }
}

/// Runs one subscription until it fails, is replaced or unsubscribed, or the socket closes: a
/// snapshot, then deltas. While the socket is busy, changes coalesce to the latest row per key;
/// a subscription that falls too far behind starts again from a snapshot.
async fn subscription(id: String, sql: String, state: AppState, frames: mpsc::Sender<Message>) {
    let shared = match state.engine.subscribe(&sql).await {
        Ok(shared) => shared,
        Err(err) => {
            send_error(&frames, Some(&id), &engine_message(err)).await;
            return;
        }
    };
    let mut seq = 0u64;
    let id_json = Value::from(id.as_str()).to_string();
    loop {
        let (start, mut updates) = match shared.join() {
            Ok(joined) => joined,
            Err(message) => {
                send_error(&frames, Some(&id), &message).await;
                return;
            }
        };
        seq += 1;
        let frame = snapshot_frame(&id, seq, &shared, &start.rows, &start);
        if frames.send(frame).await.is_err() {
            return;
        }
        let mut version = start.version;
        let mut pending = Pending::default();
        loop {
            tokio::select! {
                update = updates.recv() => match update {
                    Ok(update) => match update.as_ref() {
                        Update::Delta { version: v, changes, watermark, tail } if *v > version => {
                            version = *v;
                            // Nothing held back and room in the queue: the shared serialization.
                            if !pending.is_due()
                                && let Ok(permit) = frames.try_reserve()
                            {
                                seq += 1;
                                let frame = format!(
                                    "{{\"type\":\"delta\",\"id\":{id_json},\"seq\":{seq},{tail}}}"
                                );
                                permit.send(Message::Text(frame.into()));
                                continue;
                            }
                            pending.watermark = *watermark;
                            for key in &changes.deletes {
                                let text = serde_json::to_string(key).unwrap_or_default();
                                pending.keys.insert(text, Change::Delete(key.clone()));
                            }
                            for row in &changes.upserts {
                                let key = row_key(shared.shape.key.as_deref(), row);
                                let text = serde_json::to_string(&key).unwrap_or_default();
                                pending.keys.insert(text, Change::Upsert(row.clone()));
                            }
                            if pending.keys.len() > state.engine.config().backlog_rows {
                                break;
                            }
                        }
                        Update::Result { version: v, rows, watermark } if *v > version => {
                            version = *v;
                            pending.watermark = *watermark;
                            pending.result = Some(rows.clone());
                        }
                        Update::Failed { message } => {
                            send_error(&frames, Some(&id), message).await;
                            return;
                        }
                        _ => {}
                    },
                    Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                permit = frames.reserve(), if pending.is_due() => {
                    let Ok(permit) = permit else { return };
                    seq += 1;
                    permit.send(pending.take_frame(&id, seq, &shared, &start));
                }
            }
        }
        tracing::debug!(%id, "a live subscription fell behind: sending a fresh snapshot");
    }
}

/// What a subscription has not sent yet.
#[derive(Default)]
struct Pending {
    keys: BTreeMap<String, Change>,
    /// A whole new result (queries sent as snapshots).
    result: Option<Vec<Vec<Value>>>,
    watermark: i64,
}

enum Change {
    Upsert(Vec<Value>),
    Delete(Vec<Value>),
}

impl Pending {
    fn is_due(&self) -> bool {
        !self.keys.is_empty() || self.result.is_some()
    }

    fn take_frame(&mut self, id: &str, seq: u64, shared: &Shared, start: &Start) -> Message {
        if let Some(rows) = self.result.take() {
            let start = Start {
                watermark: self.watermark,
                ..start.clone()
            };
            return snapshot_frame(id, seq, shared, &rows, &start);
        }
        let mut upserts = Vec::new();
        let mut deletes = Vec::new();
        for (_, change) in std::mem::take(&mut self.keys) {
            match change {
                Change::Upsert(row) => upserts.push(row),
                Change::Delete(key) => deletes.push(key),
            }
        }
        let frame = json!({
            "type": "delta",
            "id": id,
            "seq": seq,
            "upserts": upserts,
            "deletes": deletes,
            "watermark": self.watermark,
            "now": now_micros(),
        });
        Message::Text(frame.to_string().into())
    }
}

fn snapshot_frame(
    id: &str,
    seq: u64,
    shared: &Shared,
    rows: &[Vec<Value>],
    start: &Start,
) -> Message {
    let order: Vec<Value> = shared
        .shape
        .order
        .iter()
        .map(|&(column, descending)| json!([column, if descending { "desc" } else { "asc" }]))
        .collect();
    let mut frame = json!({
        "type": "snapshot",
        "id": id,
        "seq": seq,
        "columns": shared.shape.columns,
        "key": shared.shape.key,
        "order": order,
        "rows": rows,
        "watermark": start.watermark,
        "now": now_micros(),
        "overflow": start.overflow,
    });
    match &start.mode {
        Mode::Incremental => frame["mode"] = json!("incremental"),
        Mode::Requery {
            reason,
            interval_ms,
        } => {
            frame["mode"] = json!("requery");
            frame["reason"] = json!(reason);
            frame["interval_ms"] = json!(interval_ms);
        }
    }
    Message::Text(frame.to_string().into())
}

fn engine_message(err: EngineError) -> String {
    match err {
        EngineError::DataFusion(err) => ApiError::from(err).message,
        other => other.to_string(),
    }
}

async fn send_error(frames: &mpsc::Sender<Message>, id: Option<&str>, message: &str) {
    let frame = json!({ "type": "error", "id": id, "message": message });
    let _ = frames.send(Message::Text(frame.to_string().into())).await;
}
