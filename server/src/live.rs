//! `GET /api/v1/live`: the WebSocket hub that pushes query results to browsers.
//!
//! One socket carries many subscriptions, each a SQL query under a client-chosen id. In this
//! version every subscription is served by re-query: the query runs at once (a `snapshot` frame),
//! then again after each append to the store (at most every [`MIN_INTERVAL`], and at least every
//! [`IDLE_REFRESH`] so that windows relative to `now()` slide), and a new `snapshot` frame is sent
//! whenever the result changed. A slow client slows only its own subscriptions: a subscription
//! waits for its frame to be queued before it queries again, so updates coalesce to the latest.
//! The protocol, with its limits, is in docs/live-protocol.md.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, sleep_until};

use crate::error::ApiError;
use crate::query::format;
use crate::router::AppState;

/// Largest client message.
const MAX_MESSAGE_BYTES: usize = 64 << 10;
/// Subscriptions one socket may hold.
const MAX_SUBSCRIPTIONS: usize = 64;
/// Rows one snapshot holds at most.
const MAX_ROWS: usize = 10_000;
/// A subscription re-runs at most this often.
const MIN_INTERVAL: Duration = Duration::from_millis(250);
/// ... and at least this often, even when no event arrived.
const IDLE_REFRESH: Duration = Duration::from_secs(1);
/// The server pings this often, and closes a socket it has not heard from in [`CLIENT_TIMEOUT`].
const PING_EVERY: Duration = Duration::from_secs(15);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);
/// Frames queued for one socket; a subscription waits when they are all taken.
const QUEUE_FRAMES: usize = 16;

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

/// Runs one subscription until it fails, is replaced or unsubscribed, or the socket closes.
async fn subscription(id: String, sql: String, state: AppState, frames: mpsc::Sender<Message>) {
    let mut changes = state.store.changes();
    let mut seq = 0u64;
    let mut last_rows: Option<Vec<Vec<Value>>> = None;
    loop {
        let started = Instant::now();
        changes.borrow_and_update();
        let watermark = now_micros();
        let output = match state.queries.run(&sql, MAX_ROWS).await {
            Ok(output) => output,
            Err(err) => {
                send_error(&frames, Some(&id), &ApiError::from(err).message).await;
                return;
            }
        };
        let rows = match format::rows(&output) {
            Ok(rows) => rows,
            Err(err) => {
                send_error(&frames, Some(&id), &err.to_string()).await;
                return;
            }
        };
        if last_rows.as_ref() != Some(&rows) {
            seq += 1;
            let frame = json!({
                "type": "snapshot",
                "id": id,
                "seq": seq,
                "columns": format::columns(&output),
                "rows": rows,
                "truncated": output.truncated,
                "watermark": watermark,
                "interval_ms": MIN_INTERVAL.as_millis() as u64,
            });
            if frames
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
            last_rows = Some(rows);
        }
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return },
            () = sleep(IDLE_REFRESH) => {}
        }
        sleep_until(started + MIN_INTERVAL).await;
    }
}

async fn send_error(frames: &mpsc::Sender<Message>, id: Option<&str>, message: &str) {
    let frame = json!({ "type": "error", "id": id, "message": message });
    let _ = frames.send(Message::Text(frame.to_string().into())).await;
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
