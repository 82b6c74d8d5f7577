//! OTLP/HTTP receivers: `POST /v1/logs`, `/v1/traces`, `/v1/metrics`, as the OTLP
//! specification has them. The body is protobuf (`application/x-protobuf`) or JSON
//! (`application/json`), optionally gzip-compressed; the reply is an export response in the same
//! encoding, with `partial_success` when some items were rejected, or a `google.rpc.Status`.
//! Overload is 429 and unavailability 503, both with `Retry-After`, which exporters honour; other
//! errors are 4xx, which they do not retry. `x-weir-stream` sends a signal to another stream.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use prost::Message;
use protocol::ErrorKind;
use storage::StreamName;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::ingest::otlp::{Encoding, Signal};
use crate::ingest::{self, Outcome};
use crate::metrics::Protocol;
use crate::state::AppState;

/// The header that names the stream a request goes to.
pub(crate) const STREAM_HEADER: &str = "x-weir-stream";

/// Seconds an exporter is asked to wait before retrying an overloaded or unavailable server.
const RETRY_AFTER_SECONDS: &str = "1";

pub(crate) async fn logs(
    state: State<AppState>,
    caller: Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    export(Signal::Logs, state, caller, headers, body).await
}

pub(crate) async fn traces(
    state: State<AppState>,
    caller: Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    export(Signal::Traces, state, caller, headers, body).await
}

pub(crate) async fn metrics(
    state: State<AppState>,
    caller: Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    export(Signal::Metrics, state, caller, headers, body).await
}

async fn export(
    signal: Signal,
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let response = match encoding(&headers) {
        // The specification's answer to a content type it does not define.
        None => status_reply(
            Encoding::Json,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Content-Type must be application/x-protobuf or application/json",
        ),
        Some(encoding) => match append(signal, encoding, &state, &caller, &headers, body).await {
            Ok(outcome) => success(signal, encoding, &outcome),
            Err(err) => {
                let status = err.status();
                let message = err.into_inner().message;
                status_reply(encoding, status, &message)
            }
        },
    };
    state
        .metrics
        .request(Protocol::Otlp, response.status().as_u16());
    response
}

async fn append(
    signal: Signal,
    encoding: Encoding,
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Outcome, ApiError> {
    let stream = stream(headers, signal.default_stream())?;
    super::ingest::may_write(caller, &stream)?;
    let body = body?;
    let bytes = body.len();
    let (stream, outcome) = super::ingest::blocking(state, move |store| {
        ingest::append_otlp(store, &stream, signal, encoding, &body).map(|o| (stream, o))
    })
    .await?;
    state
        .metrics
        .ingested(Protocol::Otlp, &stream, bytes, &outcome);
    Ok(outcome)
}

/// The stream `x-weir-stream` names, else `default`.
pub(crate) fn stream(headers: &HeaderMap, default: &str) -> Result<StreamName, ApiError> {
    let name = match headers.get(STREAM_HEADER) {
        Some(name) => name.to_str().map_err(|_| {
            ApiError::new(
                ErrorKind::BadRequest,
                format!("{STREAM_HEADER} is not a valid stream name"),
            )
        })?,
        None => default,
    };
    Ok(StreamName::new(name)?)
}

fn encoding(headers: &HeaderMap) -> Option<Encoding> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    match content_type.split(';').next()?.trim() {
        "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

/// What was rejected, for `partial_success.error_message`: the first few, by position.
fn rejections(signal: Signal, outcome: &Outcome) -> String {
    let mut message = outcome
        .rejected
        .iter()
        .take(5)
        .map(|r| format!("{} {}: {}", signal.item(), r.line, r.error))
        .collect::<Vec<_>>()
        .join("; ");
    if outcome.rejected.len() > 5 {
        message.push_str(&format!("; and {} more", outcome.rejected.len() - 5));
    }
    message
}

/// 200 with the signal's export response; `partial_success` set when items were rejected (the
/// specification's answer even when all were: the request itself was good).
fn success(signal: Signal, encoding: Encoding, outcome: &Outcome) -> Response {
    let rejected = outcome.rejected.len() as i64;
    let message = rejections(signal, outcome);
    let partial = rejected > 0;
    match signal {
        Signal::Logs => reply(
            encoding,
            ExportLogsServiceResponse {
                partial_success: partial.then_some(ExportLogsPartialSuccess {
                    rejected_log_records: rejected,
                    error_message: message,
                }),
            },
        ),
        Signal::Traces => reply(
            encoding,
            ExportTraceServiceResponse {
                partial_success: partial.then_some(ExportTracePartialSuccess {
                    rejected_spans: rejected,
                    error_message: message,
                }),
            },
        ),
        Signal::Metrics => reply(
            encoding,
            ExportMetricsServiceResponse {
                partial_success: partial.then_some(ExportMetricsPartialSuccess {
                    rejected_data_points: rejected,
                    error_message: message,
                }),
            },
        ),
    }
}

fn reply<T: Message + serde::Serialize>(encoding: Encoding, response: T) -> Response {
    match encoding {
        Encoding::Protobuf => (
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            response.encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => match serde_json::to_value(&response) {
            Ok(mut body) => {
                // An unset `partialSuccess` is left out (`{}`), as the specification shows it.
                if let Some(fields) = body.as_object_mut() {
                    fields.retain(|_, v| !v.is_null());
                }
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
                    .into_response()
            }
            Err(err) => status_reply(
                Encoding::Json,
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("encoding the response: {err}"),
            ),
        },
    }
}

/// `google.rpc.Status`, the body of an OTLP error reply (`details` left empty).
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// An error reply: `status`, a `google.rpc.Status` in the request's encoding, and `Retry-After`
/// when a retry may succeed.
fn status_reply(encoding: Encoding, status: StatusCode, message: &str) -> Response {
    // gRPC's codes for the same conditions.
    let code = match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::PAYLOAD_TOO_LARGE => 8,
        StatusCode::SERVICE_UNAVAILABLE => 14,
        s if s.is_server_error() => 13,
        _ => 3,
    };
    if status.is_server_error() {
        tracing::warn!(%status, message, "OTLP request failed");
    }
    let mut response = match encoding {
        Encoding::Protobuf => (
            status,
            [(header::CONTENT_TYPE, "application/x-protobuf")],
            RpcStatus {
                code,
                message: message.to_owned(),
            }
            .encode_to_vec(),
        )
            .into_response(),
        Encoding::Json => (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::json!({ "code": code, "message": message }).to_string(),
        )
            .into_response(),
    };
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECONDS),
        );
    }
    response
}
