//! What crosses the wire between Weir and its clients (the web app, programs, tests), and the
//! rules both sides keep:
//!
//! - [`QueryResult`] and [`Column`]: a query's result, as `POST /api/v1/query` and the app's
//!   server function return it.
//! - [`live`]: the messages of the `/api/v1/live` WebSocket ([`live::ClientMessage`],
//!   [`live::ServerMessage`]) and what a client does with them ([`live::LiveResult`]: apply a
//!   delta, keep ORDER BY order).
//! - [`alert`]: alert rules, contact points, the notification policy, silences, instance
//!   states, and the templates of annotations.
//! - [`auth`]: roles, API token scopes, the current caller, tokens as asked for and listed.
//! - [`dashboard`]: the dashboard document, time ranges, and the substitution of variables and
//!   macros into panel SQL as typed literals.
//! - [`explore`]: a stream's events narrowed by a range and filters, as SQL with typed literals.
//! - [`Error`] and [`ErrorKind`]: a failure that keeps its kind from the server to the UI.
//! - [`is_stream_name`]: the rule every stream name follows.
//!
//! The server and the wasm app compile this same crate, so the two ends cannot drift apart.
//! Nothing here reads the clock or does I/O.

pub mod alert;
pub mod auth;
pub mod dashboard;
mod error;
pub mod explore;
pub mod live;
mod result;
pub mod trace;

pub use error::{Error, ErrorKind};
pub use result::{Column, Progress, QueryResult, Row, compare_values};

/// What a stream name may be, as error messages say it.
pub const STREAM_NAME_RULE: &str = "1 to 64 characters from [a-z0-9_]";

/// Whether `name` is a stream name ([`STREAM_NAME_RULE`]): safe as a directory name, in a URL
/// path, and as an SQL identifier without quoting.
pub fn is_stream_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        for ok in ["a", "demo_http", "x1", &"a".repeat(64)] {
            assert!(is_stream_name(ok), "{ok}");
        }
        for bad in [
            "",
            "Demo",
            "a-b",
            "a.b",
            "../x",
            "é",
            "app_*",
            &"a".repeat(65),
        ] {
            assert!(!is_stream_name(bad), "{bad}");
        }
    }
}
