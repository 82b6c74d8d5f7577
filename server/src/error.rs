//! Errors: [`Error`] for starting and running the server, [`ApiError`] for HTTP replies. Every
//! mapping from an error to a status code is in this file.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use datafusion::error::DataFusionError;

/// Why the server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Storage(#[from] storage::Error),
    #[error("listener: {0}")]
    Listen(std::io::Error),
    #[error("startup: {0}")]
    Startup(String),
}

/// An HTTP error reply: a status and a message, sent as `{"error": "..."}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, message = %self.message, "request failed");
        }
        (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response()
    }
}

impl From<storage::Error> for ApiError {
    fn from(err: storage::Error) -> ApiError {
        use storage::Error as E;
        let status = match &err {
            E::InvalidStreamName { .. } | E::BodyNotJson { .. } => StatusCode::BAD_REQUEST,
            E::StreamNotFound { .. } => StatusCode::NOT_FOUND,
            E::OffsetNotRetained { .. } => StatusCode::GONE,
            _ if err.is_disk_full() => StatusCode::SERVICE_UNAVAILABLE,
            E::Poisoned { .. } | E::Behind { .. } => StatusCode::SERVICE_UNAVAILABLE,
            E::Io { .. }
            | E::Locked { .. }
            | E::CorruptWal { .. }
            | E::Lake { .. }
            | E::Arrow(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, err.to_string())
    }
}

impl From<DataFusionError> for ApiError {
    fn from(err: DataFusionError) -> ApiError {
        let root = err.find_root();
        let status = match root {
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_)
            | DataFusionError::Configuration(_)
            | DataFusionError::Execution(_) => StatusCode::BAD_REQUEST,
            DataFusionError::ResourcesExhausted(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match root {
            DataFusionError::SQL(parser, _) => {
                let text = parser.to_string();
                let text = text.strip_prefix("sql parser error: ").unwrap_or(&text);
                format!("SQL error: {text}")
            }
            _ => err.strip_backtrace(),
        };
        ApiError::new(status, message)
    }
}

/// A blocking task that panicked or was cancelled: a bug, reported as 500.
impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, err.to_string())
    }
}
