//! Live query results in the browser, over one `/api/v1/live` WebSocket per tab.
//!
//! [`use_live_query`] returns a signal that holds the latest result the server pushed for the SQL;
//! [`use_live_tail`] one that gathers a stream's new events.
//! On the server (and before the socket delivers) the signal is `None`, so pages render their
//! server-fetched data first and switch to live data when it arrives. The socket reconnects after
//! a drop and subscribes again. Frames, and how a delta changes a result, are the `protocol`
//! crate's: the server compiles the same code.

use leptos::prelude::*;

use protocol::QueryResult;
use protocol::live::Mode;

/// The latest state of a live query.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    /// The current result, and how the server keeps it live.
    Result {
        result: QueryResult,
        mode: Mode,
        /// How far the result is behind its stream's newest event (µs), once one arrived.
        lag: Option<i64>,
    },
    Error(protocol::Error),
}

/// What a live tail has received: its events newest first (the last [`TAIL_KEEP`]), and how
/// many passed its filter but are not held.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tail {
    /// Whether the server has started the tail.
    pub started: bool,
    pub events: QueryResult,
    /// Events the server did not send (more arrived than a frame holds) or the page let go of.
    pub skipped: u64,
    /// Events that passed the filter since the tail started.
    pub arrived: u64,
    pub error: Option<protocol::Error>,
}

/// Events a tail holds.
pub const TAIL_KEEP: usize = 200;

impl Tail {
    /// Adds a frame's events on top.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn add(&mut self, frame: protocol::live::Events) {
        self.started = true;
        self.skipped += frame.skipped;
        self.arrived += frame.skipped + frame.rows.len() as u64;
        for column in &frame.columns {
            if self.events.column(&column.name).is_none() {
                self.events.columns.push(column.clone());
                for row in &mut self.events.rows {
                    row.push(serde_json::Value::Null);
                }
            }
        }
        let at: Vec<usize> = frame
            .columns
            .iter()
            .filter_map(|c| self.events.column(&c.name))
            .collect();
        let width = self.events.columns.len();
        let mut rows: Vec<protocol::Row> = frame
            .rows
            .into_iter()
            .map(|row| {
                let mut out = vec![serde_json::Value::Null; width];
                for (&i, value) in at.iter().zip(row) {
                    out[i] = value;
                }
                out
            })
            .collect();
        rows.append(&mut self.events.rows);
        if rows.len() > TAIL_KEEP {
            self.skipped += (rows.len() - TAIL_KEEP) as u64;
            rows.truncate(TAIL_KEEP);
        }
        self.events.rows = rows;
        self.events.now = frame.now;
    }
}

/// Tails `stream`'s new events that pass `filter` (an SQL condition) for as long as the calling
/// component lives.
pub fn use_live_tail(stream: String, filter: Option<String>) -> ReadSignal<Tail> {
    let (tail, set_tail) = signal(Tail::default());
    #[cfg(feature = "hydrate")]
    {
        let request = socket::Request::Tail { stream, filter };
        let id = socket::subscribe(request, socket::Sink::Tail(set_tail));
        on_cleanup(move || socket::unsubscribe(&id));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (stream, filter, set_tail);
    tail
}

/// Subscribes to `sql` for as long as the calling component lives.
pub fn use_live_query(sql: String) -> ReadSignal<Option<Live>> {
    let (live, set_live) = signal(None);
    #[cfg(feature = "hydrate")]
    {
        let id = socket::subscribe(socket::Request::Query(sql), socket::Sink::Query(set_live));
        on_cleanup(move || socket::unsubscribe(&id));
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (sql, set_live);
    live
}

#[cfg(feature = "hydrate")]
mod socket {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use leptos::prelude::*;
    use protocol::live::{ClientMessage, LiveResult, ServerMessage};
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{MessageEvent, WebSocket};

    use super::{Live, Tail};

    const RECONNECT_MS: i32 = 1_000;

    /// What a subscription asks the server for.
    pub(super) enum Request {
        Query(String),
        Tail {
            stream: String,
            filter: Option<String>,
        },
    }

    /// Where its frames go.
    #[derive(Clone, Copy)]
    pub(super) enum Sink {
        Query(WriteSignal<Option<Live>>),
        Tail(WriteSignal<Tail>),
    }

    #[derive(Default)]
    struct Socket {
        ws: Option<WebSocket>,
        open: bool,
        next_id: u64,
        subscriptions: BTreeMap<String, (Request, Sink)>,
        results: BTreeMap<String, LiveResult>,
    }

    thread_local! {
        static SOCKET: RefCell<Socket> = RefCell::new(Socket::default());
    }

    pub(super) fn subscribe(request: Request, sink: Sink) -> String {
        SOCKET.with_borrow_mut(|socket| {
            socket.next_id += 1;
            let id = format!("q{}", socket.next_id);
            if socket.open {
                send(socket, &id, &request);
            }
            socket.subscriptions.insert(id.clone(), (request, sink));
            if socket.ws.is_none() {
                connect(socket);
            }
            id
        })
    }

    pub(super) fn unsubscribe(id: &str) {
        SOCKET.with_borrow_mut(|socket| {
            socket.subscriptions.remove(id);
            socket.results.remove(id);
            if let (true, Some(ws)) = (socket.open, &socket.ws) {
                let message = ClientMessage::Unsubscribe { id: id.to_owned() };
                let _ = ws.send_with_str(&message.to_text());
            }
        });
    }

    fn send(socket: &Socket, id: &str, request: &Request) {
        if let Some(ws) = &socket.ws {
            let id = id.to_owned();
            let message = match request {
                Request::Query(sql) => ClientMessage::Subscribe {
                    id,
                    sql: sql.clone(),
                },
                Request::Tail { stream, filter } => ClientMessage::Tail {
                    id,
                    stream: stream.clone(),
                    filter: filter.clone(),
                },
            };
            let _ = ws.send_with_str(&message.to_text());
        }
    }

    fn connect(socket: &mut Socket) {
        let Some(window) = web_sys::window() else {
            return;
        };
        let location = window.location();
        let scheme = match location.protocol().as_deref() {
            Ok("https:") => "wss",
            _ => "ws",
        };
        let host = location.host().unwrap_or_default();
        let Ok(ws) = WebSocket::new(&format!("{scheme}://{host}/api/v1/live")) else {
            return;
        };
        let on_open = Closure::<dyn FnMut()>::new(|| {
            SOCKET.with_borrow_mut(|socket| {
                socket.open = true;
                for (id, (request, _)) in &socket.subscriptions {
                    send(socket, id, request);
                }
            });
        });
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
            if let Some(text) = event.data().as_string() {
                deliver(&text);
            }
        });
        let on_close = Closure::<dyn FnMut()>::new(|| {
            SOCKET.with_borrow_mut(|socket| {
                socket.open = false;
                socket.ws = None;
            });
            let retry = Closure::<dyn FnMut()>::new(|| {
                SOCKET.with_borrow_mut(|socket| {
                    if socket.ws.is_none() && !socket.subscriptions.is_empty() {
                        connect(socket);
                    }
                });
            });
            if let Some(window) = web_sys::window() {
                let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(
                    retry.as_ref().unchecked_ref(),
                    RECONNECT_MS,
                );
            }
            retry.forget();
        });
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        // The socket lives as long as the tab (or until it drops and is replaced), so its
        // handlers do too.
        on_open.forget();
        on_message.forget();
        on_close.forget();
        socket.ws = Some(ws);
    }

    fn deliver(text: &str) {
        let Ok(frame) = ServerMessage::parse(text) else {
            return;
        };
        // A tail's frames add to what it holds; they never replace it.
        let frame = match frame {
            ServerMessage::Events(events) => {
                let sink = SOCKET.with_borrow(|socket| {
                    socket.subscriptions.get(&events.id).map(|(_, sink)| *sink)
                });
                if let Some(Sink::Tail(set)) = sink {
                    set.update(|tail| tail.add(events));
                }
                return;
            }
            ServerMessage::Error(error) => {
                let sink = error.id.as_ref().and_then(|id| {
                    SOCKET.with_borrow(|socket| socket.subscriptions.get(id).map(|(_, sink)| *sink))
                });
                if let Some(Sink::Tail(set)) = sink {
                    set.update(|tail| {
                        tail.error = Some(protocol::Error::new(error.kind, error.message))
                    });
                    return;
                }
                ServerMessage::Error(error)
            }
            frame => frame,
        };
        let update = SOCKET.with_borrow_mut(|socket| match frame {
            ServerMessage::Snapshot(snapshot) => {
                let id = snapshot.id.clone();
                let result = LiveResult::new(snapshot);
                let live = Live::Result {
                    result: result.to_query_result(),
                    mode: result.mode.clone(),
                    lag: (result.newest > 0).then(|| (result.now - result.newest).max(0)),
                };
                socket.results.insert(id.clone(), result);
                Some((id, live))
            }
            ServerMessage::Delta(delta) => {
                let result = socket.results.get_mut(&delta.id)?;
                if let Err(violation) = result.apply(&delta) {
                    // A frame lost or out of order: start the subscription over.
                    leptos::logging::warn!("live {}: {violation}; subscribing again", delta.id);
                    socket.results.remove(&delta.id);
                    if let Some((request, _)) = socket.subscriptions.get(&delta.id) {
                        send(socket, &delta.id, request);
                    }
                    return None;
                }
                let live = Live::Result {
                    result: result.to_query_result(),
                    mode: result.mode.clone(),
                    lag: (result.newest > 0).then(|| (result.now - result.newest).max(0)),
                };
                Some((delta.id, live))
            }
            ServerMessage::Error(frame) => {
                let error = protocol::Error::new(frame.kind, frame.message);
                frame.id.map(|id| (id, Live::Error(error)))
            }
            ServerMessage::Events(_) | ServerMessage::Other => None,
        });
        let Some((id, live)) = update else {
            return;
        };
        // Look the signal up first and set it after the borrow ends: setting runs effects that
        // may subscribe or unsubscribe.
        let sink =
            SOCKET.with_borrow(|socket| socket.subscriptions.get(&id).map(|(_, sink)| *sink));
        if let Some(Sink::Query(set)) = sink {
            set.set(Some(live));
        }
    }
}

#[cfg(test)]
mod tests {
    use protocol::Column;
    use protocol::live::Events;
    use serde_json::json;

    use super::{TAIL_KEEP, Tail};

    fn frame(columns: &[&str], rows: Vec<serde_json::Value>, skipped: u64) -> Events {
        Events {
            id: "t".into(),
            seq: 1,
            columns: columns
                .iter()
                .map(|name| Column {
                    name: (*name).into(),
                    data_type: "Utf8".into(),
                })
                .collect(),
            rows: rows
                .into_iter()
                .map(|r| r.as_array().unwrap().clone())
                .collect(),
            skipped,
            now: 1,
        }
    }

    /// Frames stack newest on top under the union of their columns; what the tail lets go of
    /// or the server did not send is counted, never lost without a word.
    #[test]
    fn a_tail_stacks_frames_and_counts_what_it_does_not_hold() {
        let mut tail = Tail::default();
        tail.add(frame(&["a"], vec![json!(["2"]), json!(["1"])], 0));
        tail.add(frame(&["b", "a"], vec![json!(["x", "3"])], 5));
        assert_eq!(tail.events.columns.len(), 2);
        assert_eq!(
            tail.events.rows,
            vec![
                vec![json!("3"), json!("x")],
                vec![json!("2"), json!(null)],
                vec![json!("1"), json!(null)]
            ]
        );
        assert_eq!((tail.arrived, tail.skipped), (8, 5));
        let many: Vec<serde_json::Value> = (0..TAIL_KEEP).map(|i| json!([i.to_string()])).collect();
        tail.add(frame(&["a"], many, 0));
        assert_eq!(tail.events.rows.len(), TAIL_KEEP);
        assert_eq!((tail.arrived, tail.skipped), (8 + TAIL_KEEP as u64, 8));
    }
}
