//! Errors as clients see them: a kind they can act on, and a message for people.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of failure, by what the caller can do about it. The server gives each kind one HTTP
/// status (`server/src/error.rs`); the live protocol and the app's server functions carry the
/// kind itself, so a page tells "log in" from "fix your query" without reading the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request is wrong (bad SQL, a bad name, a malformed body): fix it and send it again.
    BadRequest,
    /// The request is too large.
    TooLarge,
    /// Who is asking is not known: authenticate.
    Unauthorized,
    /// Known, but not allowed to do this.
    Forbidden,
    /// What was asked for does not exist.
    NotFound,
    /// What was asked for existed once and is no longer kept.
    Gone,
    /// The request was made against a state that has changed since (a stale version): reload,
    /// then decide again.
    Conflict,
    /// Too much at once: retry shortly.
    Overloaded,
    /// Well formed, but more than a limit allows (a query's time or memory): ask for less.
    LimitExceeded,
    /// Stopped on request before it finished (a query cancelled by its id).
    Cancelled,
    /// The server cannot do this now (disk full, behind on writing to the lake): retry later.
    Unavailable,
    /// A bug, or damaged data: nothing the caller can do.
    Internal,
}

impl ErrorKind {
    /// The kind's name on the wire (`bad_request`, `not_found`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Gone => "gone",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::LimitExceeded => "limit_exceeded",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Internal => "internal",
        }
    }

    /// The HTTP status that answers it.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::BadRequest => 400,
            ErrorKind::TooLarge => 413,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::Gone => 410,
            ErrorKind::Conflict => 409,
            ErrorKind::Overloaded => 429,
            ErrorKind::LimitExceeded => 422,
            // As nginx answers a request whose client went away: 4xx, not retried.
            ErrorKind::Cancelled => 499,
            ErrorKind::Unavailable => 503,
            ErrorKind::Internal => 500,
        }
    }
}

/// A failure with its kind and a message that says what and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    /// Where in the request the problem is, as a JSON pointer (`/panels/2/grid/w`), when the
    /// request was a document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
}

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            pointer: None,
        }
    }

    /// The same error, pointing at a part of the request's document.
    pub fn at(mut self, pointer: impl Into<String>) -> Error {
        self.pointer = Some(pointer.into());
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_named_on_the_wire_as_as_str_says() {
        use ErrorKind::*;
        for kind in [
            BadRequest,
            TooLarge,
            Unauthorized,
            Forbidden,
            NotFound,
            Gone,
            Conflict,
            Overloaded,
            Unavailable,
            Internal,
        ] {
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
            assert_eq!(serde_json::from_value::<ErrorKind>(json).unwrap(), kind);
        }
    }
}
