//! `POST /api/v1/prom/remote/write`: Prometheus remote write 1.0 (a snappy-compressed protobuf
//! `WriteRequest`) into the stream `prom_metrics`, or the one `x-weir-stream` names.
//!
//! Replies as Prometheus's sender expects: 204 when every sample is stored; 400 (not retried)
//! for a body it cannot decode or samples the stream refuses (the others are stored, and the
//! message says which); 413 for a body over the limit; 503 with `Retry-After` under overload,
//! because Prometheus retries 5xx but, unless configured to, drops on 429.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use protocol::ErrorKind;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::ingest;
use crate::metrics::Protocol;
use crate::state::AppState;

/// The stream samples go to unless the request names another.
const DEFAULT_STREAM: &str = "prom_metrics";

pub(crate) async fn write(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let response = reply(append(&state, &caller, &headers, body).await);
    state
        .metrics
        .request(Protocol::RemoteWrite, response.status().as_u16());
    response
}

fn reply(appended: Result<(), ApiError>) -> Response {
    match appended {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(err) if err.status() == StatusCode::TOO_MANY_REQUESTS => {
            let mut response =
                ApiError::new(ErrorKind::Unavailable, err.into_inner().message).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            response
        }
        Err(err) => {
            let unavailable = err.status() == StatusCode::SERVICE_UNAVAILABLE;
            let mut response = err.into_response();
            if unavailable {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            response
        }
    }
}

async fn append(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.contains("io.prometheus.write.v2.Request") {
        // Read as 1.0, a 2.0 body would decode to nothing and be acknowledged: refuse it.
        return Err(ApiError::new(
            ErrorKind::BadRequest,
            "remote write 2.0 is not accepted yet: send prometheus.WriteRequest (1.0)",
        ));
    }
    let stream = super::otlp::stream(headers, DEFAULT_STREAM)?;
    super::ingest::may_write(caller, &stream)?;
    let body = body?;
    let bytes = body.len();
    let limit = state.max_body_bytes;
    let (stream, outcome) = super::ingest::blocking(state, move |store| {
        ingest::append_remote_write(store, &stream, &body, limit).map(|o| (stream, o))
    })
    .await?;
    state
        .metrics
        .ingested(Protocol::RemoteWrite, &stream, bytes, &outcome);
    if outcome.rejected.is_empty() {
        return Ok(());
    }
    let first: Vec<String> = outcome
        .rejected
        .iter()
        .take(5)
        .map(|r| format!("sample {}: {}", r.line, r.error))
        .collect();
    Err(ApiError::new(
        ErrorKind::BadRequest,
        format!(
            "{} samples stored, {} rejected: {}",
            outcome.accepted,
            outcome.rejected.len(),
            first.join("; ")
        ),
    ))
}
