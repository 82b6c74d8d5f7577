//! Live query results in the browser, over one `/api/v1/live` WebSocket per tab.
//!
//! [`use_live_query`] returns a signal that holds the latest result the server pushed for the SQL.
//! On the server (and before the socket delivers) the signal is `None`, so pages render their
//! server-fetched data first and switch to live data when it arrives. The socket reconnects after
//! a drop and subscribes again.

use leptos::prelude::*;

use crate::api::QueryResult;

/// The latest state of a live query.
#[derive(Debug, Clone, PartialEq)]
pub enum Live {
    Result(QueryResult),
    Error(String),
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
    use serde::Deserialize;
    use serde_json::Value;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::{MessageEvent, WebSocket};

    use super::Live;
    use crate::api::{Column, QueryResult};

    const RECONNECT_MS: i32 = 1_000;

    #[derive(Default)]
    struct Socket {
        ws: Option<WebSocket>,
        open: bool,
        next_id: u64,
        subscriptions: BTreeMap<String, (String, WriteSignal<Option<Live>>)>,
        results: BTreeMap<String, Rows>,
    }

    thread_local! {
        static SOCKET: RefCell<Socket> = RefCell::new(Socket::default());
    }

    #[derive(Deserialize)]
    #[serde(tag = "type", rename_all = "lowercase")]
    enum Frame {
        Snapshot {
            id: String,
            columns: Vec<Column>,
            rows: Vec<Vec<Value>>,
            /// Columns that identify a row, when `delta` frames follow.
            #[serde(default)]
            key: Option<Vec<usize>>,
            #[serde(default)]
            order: Vec<(usize, String)>,
            /// The server's clock when the frame was sent, µs since the epoch.
            #[serde(default)]
            now: i64,
        },
        Delta {
            id: String,
            upserts: Vec<Vec<Value>>,
            deletes: Vec<Vec<Value>>,
            #[serde(default)]
            now: i64,
        },
        Error {
            id: Option<String>,
            message: String,
        },
        #[serde(other)]
        Other,
    }

    /// A subscription's result as the frames so far built it.
    struct Rows {
        columns: Vec<Column>,
        key: Option<Vec<usize>>,
        order: Vec<(usize, bool)>,
        rows: Vec<Vec<Value>>,
    }

    impl Rows {
        fn key_of<'a>(&self, row: &'a [Value]) -> Vec<&'a Value> {
            match &self.key {
                Some(key) => key.iter().filter_map(|&i| row.get(i)).collect(),
                None => row.iter().collect(),
            }
        }

        fn apply(&mut self, upserts: Vec<Vec<Value>>, deletes: Vec<Vec<Value>>) {
            for key in deletes {
                let key: Vec<&Value> = key.iter().collect();
                self.rows.retain(|row| {
                    let row_key = match &self.key {
                        Some(k) => k.iter().filter_map(|&i| row.get(i)).collect(),
                        None => row.iter().collect::<Vec<_>>(),
                    };
                    row_key != key
                });
            }
            for row in upserts {
                let key: Vec<Value> = self.key_of(&row).into_iter().cloned().collect();
                let key: Vec<&Value> = key.iter().collect();
                match self.rows.iter().position(|r| self.key_of(r) == key) {
                    Some(i) => self.rows[i] = row,
                    None => self.rows.push(row),
                }
            }
            self.sort();
        }

        fn sort(&mut self) {
            let order = self.order.clone();
            if order.is_empty() {
                return;
            }
            self.rows.sort_by(|a, b| {
                for &(i, descending) in &order {
                    let ordering = compare(a.get(i), b.get(i));
                    let ordering = if descending {
                        ordering.reverse()
                    } else {
                        ordering
                    };
                    if ordering.is_ne() {
                        return ordering;
                    }
                }
                std::cmp::Ordering::Equal
            });
        }

        fn result(&self, now: i64) -> QueryResult {
            QueryResult {
                columns: self.columns.clone(),
                rows: self.rows.clone(),
                watermark: now,
            }
        }
    }

    /// Numbers by value, then strings, nulls last (as the server orders them).
    fn compare(a: Option<&Value>, b: Option<&Value>) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        match (a, b) {
            (Some(Value::Number(x)), Some(Value::Number(y))) => x
                .as_f64()
                .partial_cmp(&y.as_f64())
                .unwrap_or(Ordering::Equal),
            (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
            (None | Some(Value::Null), None | Some(Value::Null)) => Ordering::Equal,
            (None | Some(Value::Null), _) => Ordering::Greater,
            (_, None | Some(Value::Null)) => Ordering::Less,
            (Some(Value::Number(_)), _) => Ordering::Less,
            (_, Some(Value::Number(_))) => Ordering::Greater,
            (Some(x), Some(y)) => x.to_string().cmp(&y.to_string()),
        }
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
                let frame = serde_json::json!({"type": "unsubscribe", "id": id});
                let _ = ws.send_with_str(&frame.to_string());
            }
        });
    }

    fn send(socket: &Socket, id: &str, sql: &str) {
        if let Some(ws) = &socket.ws {
            let frame = serde_json::json!({"type": "subscribe", "id": id, "sql": sql});
            let _ = ws.send_with_str(&frame.to_string());
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
        let Ok(frame) = serde_json::from_str::<Frame>(text) else {
            return;
        };
        let update = SOCKET.with_borrow_mut(|socket| match frame {
            Frame::Snapshot {
                id,
                columns,
                rows,
                key,
                order,
                now,
            } => {
                let mut result = Rows {
                    columns,
                    key,
                    order: order
                        .into_iter()
                        .map(|(i, direction)| (i, direction == "desc"))
                        .collect(),
                    rows,
                };
                result.sort();
                let live = Live::Result(result.result(now));
                socket.results.insert(id.clone(), result);
                Some((id, live))
            }
            Frame::Delta {
                id,
                upserts,
                deletes,
                now,
            } => {
                let result = socket.results.get_mut(&id)?;
                result.apply(upserts, deletes);
                Some((id.clone(), Live::Result(result.result(now))))
            }
            Frame::Error {
                id: Some(id),
                message,
            } => Some((id, Live::Error(message))),
            Frame::Error { id: None, .. } | Frame::Other => None,
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
