//! `POST /api/v1/streams/{stream}/events`: NDJSON or a JSON array of events, optionally gzip or
//! zstd compressed. Good events are stored even when others in the body are rejected.
//!
//! Also the step every ingest route shares ([`blocking`]): a permit, then decoding and the
//! append on a blocking thread.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use protocol::ErrorKind;
use serde_json::json;
use storage::{Store, StreamName};

use crate::auth::Caller;
use crate::error::{ApiError, ingest_status};
use crate::ingest::{self, BodyFormat};
use crate::metrics::Protocol;
use crate::state::AppState;

pub(crate) async fn ingest(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let response = match append(&state, &caller, &stream, &headers, body).await {
        Ok(response) => response,
        Err(err) => err.into_response(),
    };
    state
        .metrics
        .request(Protocol::Json, response.status().as_u16());
    response
}

async fn append(
    state: &AppState,
    caller: &Caller,
    stream: &str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let stream = StreamName::new(stream)?;
    may_write(caller, &stream)?;
    let body = body?;
    let format = body_format(headers);
    let bytes = body.len();
    let (stream, outcome) = blocking(state, move |store| {
        ingest::append_json(store, &stream, &body, format).map(|outcome| (stream, outcome))
    })
    .await?;
    state
        .metrics
        .ingested(Protocol::Json, &stream, bytes, &outcome);
    let status = ingest_status(outcome.accepted, outcome.rejected.len());
    let offsets = outcome
        .offsets
        .map(|(first, last)| json!({ "first": first.0, "last": last.0 }));
    let reply = json!({
        "accepted": outcome.accepted,
        "rejected": outcome.rejected,
        "offsets": offsets,
    });
    Ok((status, Json(reply)).into_response())
}

/// 403 unless `caller` may write to `stream`.
pub(crate) fn may_write(caller: &Caller, stream: &StreamName) -> Result<(), ApiError> {
    caller
        .may_write(stream.as_str())
        .map_err(|message| ApiError::new(ErrorKind::Forbidden, message))
}

/// Runs `work` (decoding and appending, which blocks on fsync) on a blocking thread, under one
/// of the ingest permits. Without a free permit the request is refused at once (429) rather
/// than queued, so that clients back off instead of timing out.
pub(crate) async fn blocking<T, E>(
    state: &AppState,
    work: impl FnOnce(&Store) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    let Ok(_permit) = state.ingest_permits.try_acquire() else {
        return Err(ApiError::new(
            ErrorKind::Overloaded,
            "too many ingest requests in flight: retry shortly",
        ));
    };
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || work(&store))
        .await
        .map_err(|e| ApiError::new(ErrorKind::Internal, format!("ingest task: {e}")))?
        .map_err(Into::into)
}

fn body_format(headers: &HeaderMap) -> BodyFormat {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    match mime {
        "application/x-ndjson" | "application/jsonl" | "application/x-jsonlines" => {
            BodyFormat::Ndjson
        }
        _ => BodyFormat::Detect,
    }
}
