//! `GET /api/v1/live`: the WebSocket hub that pushes query results to browsers.
//!
//! One socket carries many subscriptions, each a SQL query under a client-chosen id. Each
//! subscription joins the engine's shared query for its SQL (see `engine`) and is kept by the
//! socket's writer ([`writer`], [`subscription`]); a tail sends a stream's new events
//! ([`tail`]). This task reads the client's messages and hands them to the writer. The frames
//! themselves are the `protocol` crate's; this module only moves them, and closes the socket as
//! RFC 6455 says (1001 going away, 1009 too big). The protocol, with its limits, is in
//! docs/live-protocol.md.

mod subscription;
mod tail;
mod writer;

use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::response::Response;
use futures::StreamExt;
use protocol::live::{ClientMessage, ErrorFrame, ServerMessage};
use protocol::{Error, ErrorKind};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::auth::{Caller, LiveWatch};
use crate::state::AppState;

/// Largest client message.
const MAX_MESSAGE_BYTES: usize = 64 << 10;
/// Subscriptions one socket may hold.
const MAX_SUBSCRIPTIONS: usize = 64;
/// The server pings this often, and closes a socket it has not heard from in [`CLIENT_TIMEOUT`].
const PING_EVERY: Duration = Duration::from_secs(15);
const CLIENT_TIMEOUT: Duration = Duration::from_secs(45);
/// Frames queued for one socket's writer by others than its subscriptions (tails, errors,
/// pings); a tail waits when they are all taken.
const QUEUE_FRAMES: usize = 4;
/// Client messages read ahead of the writer.
const QUEUE_MESSAGES: usize = 2 * MAX_SUBSCRIPTIONS;
/// How long a socket closed for a message over the limit stays open for its close frame.
const CLOSE_LINGER: Duration = Duration::from_secs(1);

pub(crate) async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Response {
    // Closed when the token or session the socket was opened with is revoked.
    let watch = state.auth.live_watch(&caller);
    // The socket's subscriptions and tails read what its caller may read.
    let mut state = state;
    state.queries = state.queries.reading_as(&caller);
    // A frame over the limit is refused from its header, before its payload is read.
    // Read buffers start small (a client sends short subscribe messages; the default 128 KiB is
    // zeroed on a socket's first read: 128 MiB for 1,000 viewers) and grow when a message needs
    // it; writes go out once 64 KiB are pending or at each flush.
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .on_upgrade(move |socket| {
            let tracker = state.live_sockets.clone();
            tracker.track_future(connection(socket, state, watch))
        })
}

/// A socket's read buffer, to begin with.
const READ_BUFFER_BYTES: usize = 4 << 10;
/// Bytes a socket's writer gathers before writing them out (it also writes at each flush).
const WRITE_BUFFER_BYTES: usize = 64 << 10;

/// The frames queued for one socket's writer.
type Frames = mpsc::Sender<Message>;

async fn connection(socket: WebSocket, state: AppState, watch: LiveWatch) {
    let (sink, mut incoming) = socket.split();
    let (frames, queued) = mpsc::channel::<Message>(QUEUE_FRAMES);
    let (messages, received) = mpsc::channel::<ClientMessage>(QUEUE_MESSAGES);
    let writer = writer::Writer::new(sink, state.clone(), frames.clone(), queued);
    // On the engine's runtime, below ingest: publishing a change to many sockets takes the CPU
    // after appends do, as applying it does (docs/benchmarks.md, "Fan-out below ingest").
    let writer = state.engine.runtime().spawn(writer.run(received));
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut last_heard = Instant::now();
    let mut lingering = false;
    loop {
        tokio::select! {
            () = state.stopping.cancelled() => {
                close(&frames, close_code::AWAY, "server shutting down").await;
                break;
            }
            () = watch.revoked.cancelled() => {
                close(&frames, close_code::POLICY, "the credentials of this socket were revoked").await;
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
                let message = match message {
                    Some(Ok(message)) => message,
                    Some(Err(err)) => {
                        if is_too_big(err) {
                            let reason = format!("a message over {} KiB", MAX_MESSAGE_BYTES >> 10);
                            close(&frames, close_code::SIZE, &reason).await;
                            // The rest of the message is never read, and closing a connection
                            // with unread data resets it, which can destroy the close frame in
                            // flight: give the client a moment to read it first.
                            lingering = true;
                        }
                        break;
                    }
                    None => break,
                };
                last_heard = Instant::now();
                match message {
                    Message::Text(text) => match ClientMessage::parse(&text) {
                        Ok(message) => {
                            // The writer is gone when the client is.
                            if messages.send(message).await.is_err() {
                                break;
                            }
                        }
                        Err(bad) => {
                            let error = Error::new(ErrorKind::BadRequest, bad.message);
                            send_error(&frames, bad.id.as_deref(), error).await;
                        }
                    },
                    Message::Binary(_) => {
                        let error = Error::new(
                            ErrorKind::BadRequest,
                            "binary frames are not supported: send JSON text",
                        );
                        send_error(&frames, None, error).await;
                    }
                    Message::Close(_) => break,
                    Message::Ping(_) | Message::Pong(_) => {}
                }
            }
        }
    }
    drop((messages, frames));
    let _ = writer.await;
    if lingering {
        tokio::select! {
            () = tokio::time::sleep(CLOSE_LINGER) => {}
            () = state.stopping.cancelled() => {}
        }
    }
}

/// Whether a read failed because the client sent a message over the limit.
fn is_too_big(err: axum::Error) -> bool {
    matches!(
        err.into_inner().downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}

/// Queues a close frame: the writer sends it, then ends.
async fn close(frames: &Frames, code: u16, reason: &str) {
    let close = CloseFrame {
        code,
        reason: reason.into(),
    };
    let _ = frames.send(Message::Close(Some(close))).await;
}

async fn send_error(frames: &Frames, id: Option<&str>, error: Error) {
    let frame = ServerMessage::Error(ErrorFrame {
        id: id.map(str::to_owned),
        kind: error.kind,
        message: error.message,
    });
    let _ = frames.send(Message::Text(frame.to_text().into())).await;
}
