//! What the app asks of the server: the server function that runs a query, and the [`Backend`]
//! trait the server implements for it.

use leptos::prelude::*;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use protocol::{ErrorKind, QueryResult};
use serde::{Deserialize, Serialize};

/// What the server provides to the app as context, on the server only.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Runs read-only SQL.
    async fn query(&self, sql: String) -> Result<QueryResult, protocol::Error>;
}

/// A server function's failure, with its kind: what the server said, or that it could not be
/// reached or understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AppError(pub protocol::Error);

impl AppError {
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<protocol::Error> for AppError {
    fn from(error: protocol::Error) -> AppError {
        AppError(error)
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// Failures of the call itself (the network, encoding): the server is out of reach, or
    /// answered something this app does not understand.
    fn from_server_fn_error(value: ServerFnErrorErr) -> AppError {
        let kind = match value {
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => ErrorKind::Unavailable,
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => ErrorKind::BadRequest,
            _ => ErrorKind::Internal,
        };
        AppError(protocol::Error::new(kind, value.to_string()))
    }
}

/// Runs read-only SQL on the server (directly while rendering there, over HTTP from the browser).
#[server(prefix = "/app/fn")]
pub async fn run_query(sql: String) -> Result<QueryResult, AppError> {
    let backend = use_context::<std::sync::Arc<dyn Backend>>().ok_or_else(|| {
        AppError(protocol::Error::new(
            ErrorKind::Internal,
            "the server provided no backend",
        ))
    })?;
    backend.query(sql).await.map_err(AppError)
}
