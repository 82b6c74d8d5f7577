//! A live socket's writer: the one task that writes to the socket, and keeps its subscriptions.
//!
//! The writer reads every subscription's query updates itself ([`Subscription`]), so a change
//! costs each socket one wake-up: its writer wakes, adds the change's shared encoding (behind a
//! short head of id and seq) to the socket's write buffer, and writes once nothing else is ready,
//! all the frames gathered meanwhile in one write. A socket that cannot take more is *blocked*:
//! until its last write drains, changes merge into what each subscription holds back, and tails
//! and control frames wait in their queue. Subscriptions join their query inside the writer too
//! (a backfill may take seconds), so that everything about a subscription id happens in one task,
//! in the order the client asked.

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use axum::extract::ws::{Message, WebSocket};
use futures::stream::{Once, SplitSink};
use futures::{SinkExt, StreamExt};
use protocol::live::ClientMessage;
use protocol::{Error, ErrorKind};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_stream::StreamMap;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use super::subscription::{self, Joined, Next, Subscription, Updates};
use super::{Frames, MAX_SUBSCRIPTIONS, send_error, tail};
use crate::engine::Update;
use crate::state::AppState;

/// A subscription joining its query: its snapshot, or `None` once its error was sent.
type Joining = Once<Pin<Box<dyn Future<Output = Option<Joined>> + Send>>>;

pub(super) struct Writer {
    sink: SplitSink<WebSocket, Message>,
    state: AppState,
    /// Frames others send through the writer (tails, errors, pings, close), and their queue.
    frames: Frames,
    queued: mpsc::Receiver<Message>,
    joining: StreamMap<String, Joining>,
    subscriptions: HashMap<String, Subscription>,
    updates: StreamMap<String, Updates>,
    tails: HashMap<String, JoinHandle<()>>,
    /// Frames were added to the write buffer since the last write finished.
    unflushed: bool,
    /// The last write has not finished: the socket takes nothing more until it has.
    blocked: bool,
}

impl Writer {
    pub(super) fn new(
        sink: SplitSink<WebSocket, Message>,
        state: AppState,
        frames: Frames,
        queued: mpsc::Receiver<Message>,
    ) -> Self {
        Writer {
            sink,
            state,
            frames,
            queued,
            joining: StreamMap::new(),
            subscriptions: HashMap::new(),
            updates: StreamMap::new(),
            tails: HashMap::new(),
            unflushed: false,
            blocked: false,
        }
    }

    /// Runs until the reader goes (`messages` closes), the client does, or a close frame is sent.
    pub(super) async fn run(mut self, mut messages: mpsc::Receiver<ClientMessage>) {
        let ended = loop {
            if !self.blocked && self.send_held().await.is_err() {
                break false;
            }
            tokio::select! {
                biased;
                message = messages.recv() => match message {
                    Some(message) => self.handle(message),
                    None => break true,
                },
                Some((id, joined)) = self.joining.next() => {
                    // A finished join stays in the map until polled once more, which a burst
                    // of client messages can put off: counted twice, it refused subscriptions
                    // under the limit.
                    self.joining.remove(&id);
                    if let Some(joined) = joined {
                        let backlog_rows = self.state.engine.config().backlog_rows;
                        let (subscription, updates) = Subscription::new(id.clone(), joined, backlog_rows);
                        self.subscriptions.insert(id.clone(), subscription);
                        self.updates.insert(id, updates);
                    }
                }
                Some((id, update)) = self.updates.next() => {
                    if self.update(id, update).await.is_err() {
                        break false;
                    }
                }
                Some(message) = self.queued.recv(), if !self.blocked => {
                    let closing = matches!(message, Message::Close(_));
                    if self.sink.feed(message).await.is_err() {
                        break false;
                    }
                    self.unflushed = true;
                    if closing {
                        break false;
                    }
                }
                flushed = self.sink.flush(), if self.blocked => {
                    if flushed.is_err() {
                        break false;
                    }
                    (self.blocked, self.unflushed) = (false, false);
                }
                // Nothing else is ready: write what was gathered.
                () = std::future::ready(()), if self.unflushed && !self.blocked => {
                    match poll_fn(|cx| Poll::Ready(self.sink.poll_flush_unpin(cx))).await {
                        Poll::Ready(Ok(())) => self.unflushed = false,
                        Poll::Ready(Err(_)) => break false,
                        Poll::Pending => self.blocked = true,
                    }
                }
            }
        };
        for (_, tail) in self.tails.drain() {
            tail.abort();
        }
        if ended {
            // The reader went: what it queued last (a close frame) goes out before closing.
            while let Ok(message) = self.queued.try_recv() {
                if self.sink.feed(message).await.is_err() {
                    return;
                }
            }
        }
        let _ = self.sink.close().await;
    }

    /// Subscribes, tails or unsubscribes, as the client asked.
    fn handle(&mut self, message: ClientMessage) {
        let id = match &message {
            ClientMessage::Subscribe { id, .. } | ClientMessage::Tail { id, .. } => id.clone(),
            ClientMessage::Unsubscribe { id } => {
                self.remove(id);
                return;
            }
        };
        self.tails.retain(|_, tail| !tail.is_finished());
        let held = self.joining.len() + self.subscriptions.len() + self.tails.len();
        if !self.has(&id) && held >= MAX_SUBSCRIPTIONS {
            let message = format!("at most {MAX_SUBSCRIPTIONS} subscriptions per socket");
            self.send_error(id, Error::new(ErrorKind::BadRequest, message));
            return;
        }
        // Subscribing again under an id replaces that subscription.
        self.remove(&id);
        let (state, frames) = (self.state.clone(), self.frames.clone());
        match message {
            ClientMessage::Tail { stream, filter, .. } => {
                let tail = tokio::spawn(tail::run(id.clone(), stream, filter, state, frames));
                self.tails.insert(id, tail);
            }
            ClientMessage::Subscribe { sql, .. } => {
                let name = id.clone();
                let joining = async move {
                    match subscription::join(sql, state).await {
                        Ok(joined) => Some(joined),
                        Err(error) => {
                            send_error(&frames, Some(&name), error).await;
                            None
                        }
                    }
                };
                self.joining
                    .insert(id, futures::stream::once(Box::pin(joining)));
            }
            ClientMessage::Unsubscribe { .. } => {}
        }
    }

    fn has(&self, id: &str) -> bool {
        self.joining.contains_key(id)
            || self.subscriptions.contains_key(id)
            || self.tails.contains_key(id)
    }

    /// Ends whatever runs under `id` (a join under way is dropped).
    fn remove(&mut self, id: &str) {
        self.joining.remove(id);
        self.subscriptions.remove(id);
        self.updates.remove(id);
        if let Some(tail) = self.tails.remove(id) {
            tail.abort();
        }
    }

    /// Applies an update to its subscription, sending its frame when the socket has room.
    async fn update(
        &mut self,
        id: String,
        update: Result<Arc<Update>, BroadcastStreamRecvError>,
    ) -> Result<(), axum::Error> {
        let Some(subscription) = self.subscriptions.get_mut(&id) else {
            return Ok(());
        };
        match subscription.update(update, !self.blocked) {
            Next::Nothing => {}
            Next::Frame(frame) => {
                self.sink.feed(frame).await?;
                self.unflushed = true;
            }
            Next::Rejoined(updates) => {
                self.updates.insert(id, updates);
            }
            Next::Failed(error) => {
                self.remove(&id);
                self.send_error(id, error);
            }
        }
        Ok(())
    }

    /// Adds every frame the subscriptions hold back to the write buffer.
    async fn send_held(&mut self) -> Result<(), axum::Error> {
        for subscription in self.subscriptions.values_mut() {
            if let Some(frame) = subscription.held() {
                self.sink.feed(frame).await?;
                self.unflushed = true;
            }
        }
        Ok(())
    }

    /// Sends an error frame through the queue, without holding up the writer.
    fn send_error(&self, id: String, error: Error) {
        let frames = self.frames.clone();
        tokio::spawn(async move { send_error(&frames, Some(&id), error).await });
    }
}
