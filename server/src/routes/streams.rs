//! `GET /api/v1/streams` and `GET /api/v1/streams/{stream}`: names, schemas, counts and sizes.

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use storage::{StreamInfo, StreamName};

use crate::error::ApiError;
use crate::state::AppState;

pub(crate) async fn list(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "streams": state.store.streams() }))
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Path(stream): Path<String>,
) -> Result<Json<StreamInfo>, ApiError> {
    let stream = StreamName::new(&stream)?;
    Ok(Json(state.store.stream_info(&stream)?))
}
