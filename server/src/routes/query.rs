//! `POST /api/v1/query` with `{"sql": "..."}`: JSON rows, or an export with `?format=`.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use crate::error::ApiError;
use crate::query::format::{self, Export};
use crate::router::AppState;

/// Exports hold at most this many rows (the `x-weir-truncated` header says when rows were left out).
const MAX_EXPORT_ROWS: usize = 1_000_000;

#[derive(Deserialize)]
pub(crate) struct QueryRequest {
    sql: String,
}

#[derive(Deserialize)]
pub(crate) struct QueryParams {
    format: Option<String>,
}

pub(crate) async fn query(
    State(state): State<AppState>,
    Query(params): Query<QueryParams>,
    request: Result<Json<QueryRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) =
        request.map_err(|rejection| ApiError::new(rejection.status(), rejection.body_text()))?;
    let export = match params.format.as_deref() {
        None | Some("json") => None,
        Some(name) => Some(Export::parse(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("unknown format `{name}`: use json, csv, ndjson, arrow or parquet"),
            )
        })?),
    };
    let max_rows = if export.is_some() {
        MAX_EXPORT_ROWS
    } else {
        state.max_result_rows
    };
    let output = state.queries.run(&request.sql, max_rows).await?;
    let internal = |e: arrow::error::ArrowError| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    };
    match export {
        None => {
            let reply = json!({
                "columns": format::columns(&output),
                "rows": format::rows(&output).map_err(internal)?,
                "truncated": output.truncated,
            });
            Ok(Json(reply).into_response())
        }
        Some(export) => {
            let body = tokio::task::spawn_blocking(move || {
                export.write(&output).map(|bytes| (bytes, output.truncated))
            })
            .await?
            .map_err(internal)?;
            let (bytes, truncated) = body;
            Ok((
                [
                    (header::CONTENT_TYPE, export.content_type()),
                    (
                        header::HeaderName::from_static("x-weir-truncated"),
                        if truncated { "true" } else { "false" },
                    ),
                ],
                bytes,
            )
                .into_response())
        }
    }
}
