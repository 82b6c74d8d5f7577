//! The app's pages, one per route.

pub(crate) mod home;
pub(crate) mod stream;

use leptos::prelude::*;

use crate::api::{QueryResult, run_query};
use crate::live::{Live, use_live_query};

/// A query kept live: the server-rendered result first, then every result the live socket pushes.
#[derive(Clone, Copy)]
pub(crate) struct LiveQuery {
    /// Read it inside a `Suspense`: until the first push it waits on the server-side query.
    pub(crate) result: Signal<Option<Result<QueryResult, String>>>,
    /// True once the live socket delivered a result.
    pub(crate) is_live: Signal<bool>,
}

pub(crate) fn live_query(sql: String) -> LiveQuery {
    let initial = {
        let sql = sql.clone();
        Resource::new(|| (), move |()| run_query(sql.clone()))
    };
    let live = use_live_query(sql);
    LiveQuery {
        result: Signal::derive(move || match live.get() {
            Some(Live::Result(result)) => Some(Ok(result)),
            Some(Live::Error(message)) => Some(Err(message)),
            None => initial
                .get()
                .map(|result| result.map_err(|e| server_message(&e.to_string()))),
        }),
        is_live: Signal::derive(move || live.with(Option::is_some)),
    }
}

/// Server function errors read "error running server function: …"; users want the "…".
fn server_message(text: &str) -> String {
    text.split_once(": ")
        .filter(|_| text.starts_with("error running server function"))
        .map_or(text, |(_, message)| message)
        .to_owned()
}

/// The page's status badge: whether results are being pushed yet.
#[component]
pub(crate) fn LiveBadge(is_live: Signal<bool>) -> impl IntoView {
    view! {
        <span class="badge" class:badge-live=is_live data-test="live-status">
            {move || if is_live.get() { "● live" } else { "○ connecting" }}
        </span>
    }
}

pub(crate) fn number(value: &serde_json::Value) -> f64 {
    match value {
        serde_json::Value::Number(n) => n.as_f64().unwrap_or(0.0),
        serde_json::Value::String(s) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

pub(crate) fn text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Stream names are `[a-z0-9_]{1,64}`: safe to put in SQL unquoted.
pub(crate) fn valid_stream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}
