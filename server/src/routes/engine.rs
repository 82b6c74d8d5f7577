//! `GET /api/v1/engine`: the continuous queries running, with their viewers, state and counters
//! (late events among them).

use axum::Json;
use axum::extract::State;

use crate::engine::EngineInfo;
use crate::state::AppState;

pub(crate) async fn describe(State(state): State<AppState>) -> Json<EngineInfo> {
    Json(state.engine.describe())
}
