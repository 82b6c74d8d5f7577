//! `POST /api/v1/streams/{stream}/events`: NDJSON or a JSON array of events, optionally gzip or
//! zstd compressed. Good events are stored even when others in the body are rejected.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use storage::{BodyFormat, StreamName};

use crate::error::ApiError;
use crate::router::AppState;

pub(crate) async fn ingest(
    State(state): State<AppState>,
    Path(stream): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let stream = StreamName::new(&stream)?;
    let body =
        body.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    // Overload is refused at once rather than queued, so clients back off instead of timing out.
    let Ok(_permit) = state.ingest_permits.try_acquire() else {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many ingest requests in flight: retry shortly",
        ));
    };
    let format = body_format(&headers);
    let store = std::sync::Arc::clone(&state.store);
    let outcome =
        tokio::task::spawn_blocking(move || store.append_json(&stream, &body, format)).await??;
    let status = if outcome.accepted > 0 || outcome.rejected.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    };
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
