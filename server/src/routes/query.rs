//! `POST /api/v1/query` with `{"sql": "...", "id": "..."}` (or `GET` with `?sql=`): JSON rows,
//! or an export with `?format=`. A query sent with an id tells its progress (`GET /api/v1/query/{id}`) and can be
//! cancelled (`DELETE /api/v1/query/{id}`) while it runs.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use protocol::ErrorKind;
use serde::Deserialize;
use storage::now_micros;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::query::QueryService;
use crate::query::format::{self, Export};
use crate::query::running::MAX_ID_LEN;
use crate::state::AppState;

/// Exports hold at most this many rows (the `x-weir-truncated` header says when rows were left out).
const MAX_EXPORT_ROWS: usize = 1_000_000;

#[derive(Deserialize)]
pub(crate) struct QueryRequest {
    sql: String,
    /// Chosen by the client, to ask for its progress or cancel it.
    id: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct QueryParams {
    format: Option<String>,
}

pub(crate) async fn query(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<QueryParams>,
    request: Result<Json<QueryRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = request?;
    answer(
        &state,
        &state.queries.reading_as(&caller),
        &request.sql,
        request.id.as_deref(),
        params.format.as_deref(),
    )
    .await
}

#[derive(Deserialize)]
pub(crate) struct DownloadParams {
    sql: Option<String>,
    format: Option<String>,
}

/// `GET /api/v1/query?sql=…&format=csv`: the same answer as a link can ask for it (the SQL
/// workbench's export buttons); a file is sent as an attachment.
pub(crate) async fn download(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<DownloadParams>,
) -> Result<Response, ApiError> {
    let sql = params.sql.ok_or_else(|| {
        ApiError::new(
            ErrorKind::BadRequest,
            "say the query in the `sql` parameter (or POST it as {\"sql\": \"…\"})",
        )
    })?;
    let queries = state.queries.reading_as(&caller);
    answer(&state, &queries, &sql, None, params.format.as_deref()).await
}

/// `sql`'s result (run by `queries`) as JSON, or as the file `format` names.
async fn answer(
    state: &AppState,
    queries: &QueryService,
    sql: &str,
    id: Option<&str>,
    format: Option<&str>,
) -> Result<Response, ApiError> {
    let export = match format {
        None | Some("json") => None,
        Some(name) => Some(Export::parse(name).ok_or_else(|| {
            ApiError::new(
                ErrorKind::BadRequest,
                format!("unknown format `{name}`: use json, csv, ndjson, arrow or parquet"),
            )
        })?),
    };
    let max_rows = if export.is_some() {
        MAX_EXPORT_ROWS
    } else {
        state.max_result_rows
    };
    if let Some(id) = id
        && !(1..=MAX_ID_LEN).contains(&id.len())
    {
        let message = format!("a query id is 1 to {MAX_ID_LEN} bytes");
        return Err(ApiError::new(ErrorKind::BadRequest, message));
    }
    let now = now_micros();
    let output = queries.run_as(sql, max_rows, id).await?;
    let Some(export) = export else {
        return Ok(Json(format::result(&output, now)?).into_response());
    };
    let (bytes, truncated) = tokio::task::spawn_blocking(move || {
        export.write(&output).map(|bytes| (bytes, output.truncated))
    })
    .await??;
    let attachment = format!("attachment; filename=\"query.{}\"", export.extension());
    Ok((
        [
            (header::CONTENT_TYPE, export.content_type().to_owned()),
            (header::CONTENT_DISPOSITION, attachment),
            (
                header::HeaderName::from_static("x-weir-truncated"),
                if truncated { "true" } else { "false" }.to_owned(),
            ),
        ],
        bytes,
    )
        .into_response())
}

#[derive(Deserialize)]
pub(crate) struct DrillRequest {
    sql: String,
    row: Vec<serde_json::Value>,
    column: Option<usize>,
}

/// `POST /api/v1/drill` with `{"sql", "row", "column"}`: the events behind one row (and value)
/// of `sql`'s result, as Explore opens them (`protocol::explore::Drill`).
pub(crate) async fn drill(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    request: Result<Json<DrillRequest>, JsonRejection>,
) -> Result<Json<protocol::explore::Drill>, ApiError> {
    let Json(request) = request?;
    let queries = state.queries.reading_as(&caller);
    let drill = crate::query::drill(&queries, &request.sql, &request.row, request.column).await?;
    Ok(Json(drill))
}

/// `GET /api/v1/query/{id}`: how far the query running under `id` has got.
pub(crate) async fn progress(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<protocol::Progress>, ApiError> {
    state
        .queries
        .running
        .progress(&id)
        .map(Json)
        .ok_or_else(|| not_running(&id))
}

/// `DELETE /api/v1/query/{id}`: stops the query running under `id`; it answers its client
/// with a `cancelled` error.
pub(crate) async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.queries.running.cancel(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(not_running(&id))
    }
}

fn not_running(id: &str) -> ApiError {
    ApiError::new(
        ErrorKind::NotFound,
        format!("no query is running under the id `{id}` (it may have ended)"),
    )
}
