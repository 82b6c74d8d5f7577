//! `/api/v1/dashboards/{uid}/render.png` and `…/panels/{id}/render.png`: a dashboard or one panel
//! as a PNG picture, for the view its query asks (`from`, `to`, `var-NAME`), at `width`×`height`.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use protocol::ErrorKind;

use crate::error::ApiError;
use crate::state::AppState;

/// The whole dashboard; its height follows its panels unless `height` is given.
pub(crate) async fn dashboard(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    render(state, uid, None, query).await
}

/// One panel, as big as on the page unless `width` and `height` are given.
pub(crate) async fn panel(
    State(state): State<AppState>,
    Path((uid, id)): Path<(String, u32)>,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    render(state, uid, Some(id), query).await
}

fn pixels(name: &str, value: &str) -> Result<u32, ApiError> {
    value.parse().map_err(|_| {
        ApiError::new(
            ErrorKind::BadRequest,
            format!("{name} must be a number of pixels, not {value:?}"),
        )
    })
}

async fn render(
    state: AppState,
    uid: String,
    panel: Option<u32>,
    query: Vec<(String, String)>,
) -> Result<Response, ApiError> {
    let found = state.dashboards.get(&uid).await?;
    let Ok(_permit) = state.render_permits.try_acquire() else {
        return Err(ApiError::new(
            ErrorKind::Overloaded,
            "too many pictures being drawn at once: retry shortly",
        ));
    };
    let mut request = app::render::Request {
        panel,
        ..Default::default()
    };
    for (key, value) in query {
        match key.as_str() {
            "width" => request.width = Some(pixels("width", &value)?),
            "height" => request.height = Some(pixels("height", &value)?),
            _ => request.query.push((key, value)),
        }
    }
    let scene = app::render::scene(found.dashboard, request)
        .await
        .map_err(ApiError::from)?;
    // Drawing is CPU work: off the async threads.
    let png = tokio::task::spawn_blocking(move || scene.png())
        .await?
        .map_err(ApiError::from)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/png"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        png,
    )
        .into_response())
}
