//! `GET /api/v1/engine`: the continuous queries running, with their viewers, state and counters
//! (late events among them).

use axum::Json;
use axum::extract::State;
use serde_json::Value;

use crate::router::AppState;

pub(crate) async fn describe(State(state): State<AppState>) -> Json<Value> {
    Json(state.engine.describe())
}
