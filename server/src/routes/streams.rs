//! `GET /api/v1/streams` and `GET /api/v1/streams/{stream}`: names, schemas, counts and sizes.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use protocol::ErrorKind;
use serde_json::{Value, json};
use storage::{StreamInfo, StreamName};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::query::views::admins_only_message;
use crate::state::AppState;

/// The streams the caller may read.
pub(crate) async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Json<Value> {
    let queries = state.queries.reading_as(&caller);
    let mut streams = state.store.streams();
    streams.retain(|s| queries.may_read(&s.name));
    Json(json!({ "streams": streams }))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(stream): Path<String>,
) -> Result<Json<StreamInfo>, ApiError> {
    if !state.queries.reading_as(&caller).may_read(&stream) {
        return Err(ApiError::new(
            ErrorKind::Forbidden,
            admins_only_message(&stream),
        ));
    }
    let stream = StreamName::new(&stream)?;
    Ok(Json(state.store.stream_info(&stream)?))
}
