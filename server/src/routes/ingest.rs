//! `POST /api/v1/streams/{stream}/events`: NDJSON or a JSON array of events, optionally gzip or
//! zstd compressed. Good events are stored even when others in the body are rejected.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use protocol::ErrorKind;
use serde_json::json;
use storage::StreamName;

use crate::error::{ApiError, ingest_status};
use crate::ingest::{self, BodyFormat};
use crate::state::AppState;

pub(crate) async fn ingest(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let stream = StreamName::new(&stream)?;
    let body = body?;
    // Overload is refused at once rather than queued, so clients back off instead of timing out.
    let Ok(_permit) = state.ingest_permits.try_acquire() else {
        return Err(ApiError::new(
            ErrorKind::Overloaded,
            "too many ingest requests in flight: retry shortly",
        ));
    };
    let format = body_format(&headers);
    let store = std::sync::Arc::clone(&state.store);
    let outcome =
        tokio::task::spawn_blocking(move || ingest::append_json(&store, &stream, &body, format))
            .await??;
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
