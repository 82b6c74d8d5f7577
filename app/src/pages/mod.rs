//! The app's pages, one per route.

pub(crate) mod admin;
pub(crate) mod alerts;
pub(crate) mod dashboard;
pub(crate) mod dashboards;
pub(crate) mod explore;
pub(crate) mod home;
pub(crate) mod login;
pub(crate) mod sql;
pub(crate) mod stream;
pub(crate) mod trace;
pub(crate) mod zoom;

use leptos::prelude::*;

use protocol::QueryResult;
use protocol::live::Mode;

use crate::api::run_query;
use crate::live::{Live, use_live_query};

/// A query kept live: the server-rendered result first, then every result the live socket pushes.
#[derive(Clone, Copy)]
pub(crate) struct LiveQuery {
    /// Read it inside a `Suspense`: until the first push it waits on the server-side query.
    pub(crate) result: Signal<Option<Result<QueryResult, protocol::Error>>>,
    /// True once the live socket delivered a result.
    pub(crate) is_live: Signal<bool>,
    /// How the server keeps the result live (once it does).
    pub(crate) mode: Signal<Option<Mode>>,
    /// How far the live result is behind its stream's newest event, µs (once one arrived).
    pub(crate) lag: Signal<Option<i64>>,
}

pub(crate) fn live_query(sql: String) -> LiveQuery {
    live_query_from(sql, None)
}

/// [`live_query`], starting from `initial` when the page already has the result (a dashboard
/// fetches all its panels' first results at once); else from a query of its own.
pub(crate) fn live_query_from(
    sql: String,
    initial: Option<Result<QueryResult, protocol::Error>>,
) -> LiveQuery {
    let first: Signal<Option<Result<QueryResult, protocol::Error>>> = match initial {
        Some(initial) => Signal::stored(Some(initial)),
        None => {
            let sql = sql.clone();
            let resource = Resource::new(|| (), move |()| run_query(sql.clone()));
            Signal::derive(move || resource.get().map(|result| result.map_err(|e| e.0)))
        }
    };
    let live = use_live_query(sql);
    LiveQuery {
        result: Signal::derive(move || match live.get() {
            Some(Live::Result { result, .. }) => Some(Ok(result)),
            Some(Live::Error(error)) => Some(Err(error)),
            None => first.get(),
        }),
        is_live: Signal::derive(move || live.with(Option::is_some)),
        mode: Signal::derive(move || match live.get() {
            Some(Live::Result { mode, .. }) => Some(mode),
            _ => None,
        }),
        lag: Signal::derive(move || match live.get() {
            Some(Live::Result { lag, .. }) => lag,
            _ => None,
        }),
    }
}

/// An error as a page shows it: what went wrong, and what to do when the kind says.
#[component]
pub(crate) fn ErrorMessage(error: protocol::Error) -> impl IntoView {
    let hint = match error.kind {
        protocol::ErrorKind::Unavailable | protocol::ErrorKind::Overloaded => {
            Some("The server is busy: this page retries on its own.")
        }
        protocol::ErrorKind::Unauthorized => Some("Log in to see this page."),
        protocol::ErrorKind::Forbidden => Some("Your account may not see this page."),
        _ => None,
    };
    view! {
        <p class="error" data-test="error" data-kind=error.kind.as_str()>
            {error.message}
            {hint.map(|hint| view! { <span class="muted">" " {hint}</span> })}
        </p>
    }
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
