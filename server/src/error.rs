//! Errors: [`Error`] for starting and running the server, [`ApiError`] for what a client is told.
//! Every error's kind ([`ErrorKind`]) and every kind's HTTP status are chosen in this file.

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use datafusion::error::DataFusionError;
use protocol::ErrorKind;

use crate::{alerts, auth, dashboards, engine, ingest, meta, query};

/// Why the server could not start or keep serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Storage(#[from] storage::Error),
    #[error("listener: {0}")]
    Listen(std::io::Error),
    #[error("dashboard files: {0}")]
    Files(std::io::Error),
    /// The query runtime or its spill directory could not be made.
    #[error("queries: {0}")]
    QueryRuntime(std::io::Error),
    /// The live engine's runtime could not be made.
    #[error("live engine: {0}")]
    EngineRuntime(std::io::Error),
    /// The runtime of the store's tiering and compaction could not be made.
    #[error("store maintenance: {0}")]
    MaintenanceRuntime(std::io::Error),
    /// The metadata database could not be opened (its error type is internal).
    #[error(transparent)]
    Meta(Box<dyn std::error::Error + Send + Sync>),
    /// The TLS certificate or key could not be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// Asked to listen beyond this machine with no one able to log in.
    #[error(
        "refusing to listen on {address} with no users: anyone who can reach it could read and \
         change everything. Make the first admin with `weir user add --data-dir {data_dir} \
         --name admin --role admin` (it reads the password from standard input), or pass \
         --insecure-no-auth to run open anyway"
    )]
    NoUsers { address: String, data_dir: String },
}

impl From<meta::Error> for Error {
    fn from(err: meta::Error) -> Error {
        Error::Meta(Box::new(err))
    }
}

/// A failure as a client is told it: a kind and a message. Over HTTP it is a status and
/// `{"error": message, "kind": kind}`; on the live socket, an `error` frame; in the web app, the
/// server function's error.
#[derive(Debug)]
pub(crate) struct ApiError {
    error: protocol::Error,
    status: StatusCode,
}

impl ApiError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            error: protocol::Error::new(kind, message),
            status: status(kind),
        }
    }

    pub(crate) fn into_inner(self) -> protocol::Error {
        self.error
    }

    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }
}

/// The HTTP status of each kind.
fn status(kind: ErrorKind) -> StatusCode {
    StatusCode::from_u16(kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let error = self.error;
        if status.is_server_error() {
            tracing::warn!(%status, message = %error.message, "request failed");
        }
        let mut body = serde_json::json!({ "error": error.message, "kind": error.kind });
        if let Some(pointer) = error.pointer {
            body["pointer"] = pointer.into();
        }
        (status, Json(body)).into_response()
    }
}

/// The status of an ingest reply: 400 when a body held events and none was kept (each
/// rejection says why), 200 otherwise.
pub(crate) fn ingest_status(accepted: usize, rejected: usize) -> StatusCode {
    if accepted == 0 && rejected > 0 {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    }
}

/// What an axum extractor refused keeps axum's status (413 too large; 400, 415 or 422 for a
/// malformed request).
fn rejection(status: StatusCode, message: String) -> ApiError {
    let kind = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::TooLarge,
        s if s.is_server_error() => ErrorKind::Internal,
        _ => ErrorKind::BadRequest,
    };
    ApiError {
        error: protocol::Error::new(kind, message),
        status,
    }
}

impl From<protocol::Error> for ApiError {
    fn from(error: protocol::Error) -> ApiError {
        ApiError {
            status: status(error.kind),
            error,
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(err: BytesRejection) -> ApiError {
        rejection(err.status(), err.body_text())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(err: JsonRejection) -> ApiError {
        rejection(err.status(), err.body_text())
    }
}

impl From<storage::Error> for ApiError {
    fn from(err: storage::Error) -> ApiError {
        use storage::Error as E;
        let kind = match &err {
            E::InvalidStreamName { .. } => ErrorKind::BadRequest,
            E::StreamNotFound { .. } => ErrorKind::NotFound,
            E::OffsetNotRetained { .. } => ErrorKind::Gone,
            _ if err.is_disk_full() => ErrorKind::Unavailable,
            E::Poisoned { .. } | E::Behind { .. } => ErrorKind::Unavailable,
            // Events the server's own decoders built wrong: a bug.
            E::InvalidEvents { .. }
            | E::Io { .. }
            | E::Locked { .. }
            | E::CorruptWal { .. }
            | E::Lake { .. }
            | E::Arrow(_) => ErrorKind::Internal,
        };
        ApiError::new(kind, err.to_string())
    }
}

impl From<ingest::Error> for ApiError {
    fn from(err: ingest::Error) -> ApiError {
        match err {
            ingest::Error::BodyNotJson { .. } => {
                ApiError::new(ErrorKind::BadRequest, err.to_string())
            }
            ingest::Error::Otlp(ingest::otlp::DecodeError::TooManyFields { .. }) => {
                ApiError::new(ErrorKind::TooLarge, err.to_string())
            }
            ingest::Error::Otlp(_) => ApiError::new(ErrorKind::BadRequest, err.to_string()),
            ingest::Error::RemoteWrite(ingest::remote_write::DecodeError::TooLarge { .. }) => {
                ApiError::new(ErrorKind::TooLarge, err.to_string())
            }
            ingest::Error::RemoteWrite(_) => ApiError::new(ErrorKind::BadRequest, err.to_string()),
            ingest::Error::Store(err) => ApiError::from(err),
            ingest::Error::Arrow(_) => ApiError::new(ErrorKind::Internal, err.to_string()),
        }
    }
}

impl From<DataFusionError> for ApiError {
    fn from(err: DataFusionError) -> ApiError {
        let root = err.find_root();
        let kind = match root {
            DataFusionError::SQL(..)
            | DataFusionError::Plan(_)
            | DataFusionError::SchemaError(..)
            | DataFusionError::NotImplemented(_)
            | DataFusionError::Configuration(_)
            | DataFusionError::Execution(_) => ErrorKind::BadRequest,
            DataFusionError::ResourcesExhausted(_) => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        let message = match root {
            DataFusionError::SQL(parser, _) => {
                let text = parser.to_string();
                let text = text.strip_prefix("sql parser error: ").unwrap_or(&text);
                format!("SQL error: {text}")
            }
            _ => err.strip_backtrace(),
        };
        ApiError::new(kind, message)
    }
}

impl From<query::Error> for ApiError {
    fn from(err: query::Error) -> ApiError {
        use query::Error as E;
        match err {
            E::DataFusion(err) => ApiError::from(err),
            E::TimeLimit(_) | E::MemoryLimit { .. } => {
                ApiError::new(ErrorKind::LimitExceeded, err.to_string())
            }
            E::Busy(..) => ApiError::new(ErrorKind::Overloaded, err.to_string()),
            E::Drill(_) | E::KeywordName { .. } => {
                ApiError::new(ErrorKind::BadRequest, err.to_string())
            }
            E::Cancelled => ApiError::new(ErrorKind::Cancelled, err.to_string()),
            E::IdInUse(_) => ApiError::new(ErrorKind::Conflict, err.to_string()),
            E::Panicked(_) => ApiError::new(ErrorKind::Internal, err.to_string()),
        }
    }
}

impl From<engine::Error> for ApiError {
    fn from(err: engine::Error) -> ApiError {
        use engine::Error as E;
        match err {
            E::DataFusion(err) => ApiError::from(err),
            E::Query(err) => ApiError::from(err),
            E::Store(err) => ApiError::from(err),
            E::Start(error) => ApiError {
                status: status(error.kind),
                error,
            },
            E::SchemaChanged { .. } => ApiError::new(ErrorKind::BadRequest, err.to_string()),
            E::TooManyQueries { .. } | E::OverBudget { .. } => {
                ApiError::new(ErrorKind::Overloaded, err.to_string())
            }
            E::MissingColumn(_) | E::Arrow(_) => {
                ApiError::new(ErrorKind::Internal, err.to_string())
            }
        }
    }
}

impl From<meta::Error> for ApiError {
    fn from(err: meta::Error) -> ApiError {
        use meta::Error as E;
        let kind = match &err {
            E::NotFound { .. } => ErrorKind::NotFound,
            E::Exists { .. } | E::Conflict { .. } => ErrorKind::Conflict,
            E::Database(_) | E::Corrupt(_) | E::Task(_) | E::TooNew { .. } => ErrorKind::Internal,
        };
        ApiError::new(kind, err.to_string())
    }
}

impl From<auth::AuthError> for ApiError {
    fn from(err: auth::AuthError) -> ApiError {
        use auth::AuthError as E;
        let kind = match err {
            E::Meta(err) => return ApiError::from(err),
            E::Invalid(_) => ErrorKind::BadRequest,
            E::Unauthenticated(_) => ErrorKind::Unauthorized,
            E::Throttled(_) => ErrorKind::Overloaded,
        };
        ApiError::new(kind, err.to_string())
    }
}

impl From<dashboards::Error> for ApiError {
    fn from(err: dashboards::Error) -> ApiError {
        match err {
            dashboards::Error::Invalid(problem) => {
                let message = if problem.pointer.is_empty() {
                    format!("invalid dashboard: {}", problem.message)
                } else {
                    format!(
                        "invalid dashboard at {}: {}",
                        problem.pointer, problem.message
                    )
                };
                let pointer = problem.pointer;
                ApiError {
                    error: protocol::Error::new(ErrorKind::BadRequest, message).at(pointer),
                    status: status(ErrorKind::BadRequest),
                }
            }
            // As Grafana answers a save of a provisioned dashboard.
            dashboards::Error::Provisioned { .. } => {
                ApiError::new(ErrorKind::BadRequest, err.to_string())
            }
            dashboards::Error::Meta(err) => ApiError::from(err),
        }
    }
}

impl From<alerts::Error> for ApiError {
    fn from(err: alerts::Error) -> ApiError {
        match err {
            alerts::Error::Invalid { ref problem, .. } => {
                let pointer = problem.pointer.clone();
                ApiError {
                    error: protocol::Error::new(ErrorKind::BadRequest, err.to_string()).at(pointer),
                    status: status(ErrorKind::BadRequest),
                }
            }
            alerts::Error::InUse(_) => ApiError::new(ErrorKind::Conflict, err.to_string()),
            // As a provisioned dashboard answers a save.
            alerts::Error::Provisioned { .. } => {
                ApiError::new(ErrorKind::BadRequest, err.to_string())
            }
            alerts::Error::Meta(err) => ApiError::from(err),
        }
    }
}

/// Arrow refused to write a result the query produced: a bug.
impl From<arrow::error::ArrowError> for ApiError {
    fn from(err: arrow::error::ArrowError) -> ApiError {
        ApiError::new(ErrorKind::Internal, err.to_string())
    }
}

/// A blocking task that panicked or was cancelled: a bug.
impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> ApiError {
        ApiError::new(ErrorKind::Internal, err.to_string())
    }
}
