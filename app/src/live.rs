//! Live query results in the browser, over one `/api/v1/live` WebSocket per tab.
//!
//! [`use_live_query`] returns a signal that holds the latest result the server pushed for the SQL.
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

/// Subscribes to `sql` for as long as the calling component lives.
pub fn use_live_query(sql: String) -> ReadSignal<Option<Live>> {
    let (live, set_live) = signal(None);
    #[cfg(feature = "hydrate")]
    {
        let id = socket::subscribe(sql, set_live);
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

    use super::Live;

    const RECONNECT_MS: i32 = 1_000;

    #[derive(Default)]
    struct Socket {
        ws: Option<WebSocket>,
        open: bool,
        next_id: u64,
        subscriptions: BTreeMap<String, (String, WriteSignal<Option<Live>>)>,
        results: BTreeMap<String, LiveResult>,
    }

    thread_local! {
        static SOCKET: RefCell<Socket> = RefCell::new(Socket::default());
    }

    pub(super) fn subscribe(sql: String, set: WriteSignal<Option<Live>>) -> String {
        SOCKET.with_borrow_mut(|socket| {
            socket.next_id += 1;
            let id = format!("q{}", socket.next_id);
            if socket.open {
                send(socket, &id, &sql);
            }
            socket.subscriptions.insert(id.clone(), (sql, set));
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

    fn send(socket: &Socket, id: &str, sql: &str) {
        if let Some(ws) = &socket.ws {
            let message = ClientMessage::Subscribe {
                id: id.to_owned(),
                sql: sql.to_owned(),
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
                for (id, (sql, _)) in &socket.subscriptions {
                    send(socket, id, sql);
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
                    if let Some((sql, _)) = socket.subscriptions.get(&delta.id) {
                        send(socket, &delta.id, sql);
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
            ServerMessage::Other => None,
        });
        let Some((id, live)) = update else {
            return;
        };
        // Look the signal up first and set it after the borrow ends: setting runs effects that
        // may subscribe or unsubscribe.
        let set = SOCKET.with_borrow(|socket| socket.subscriptions.get(&id).map(|(_, set)| *set));
        if let Some(set) = set {
            set.set(Some(live));
        }
    }
}
