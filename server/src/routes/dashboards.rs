//! `/api/v1/dashboards`: list, create, read, update, delete, versions, diff and restore. The
//! body of create and update is the dashboard document itself.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use protocol::ErrorKind;
use protocol::dashboard::{Dashboard, Found, Listing, Problem};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::{self, Action, Actor};
use crate::dashboards;
use crate::error::ApiError;
use crate::meta::VersionRecord;
use crate::state::AppState;

/// `?search=web&tag=demo&tag=prod`
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Listing>, ApiError> {
    let mut search = String::new();
    let mut tags = Vec::new();
    for (key, value) in params {
        match key.as_str() {
            "search" | "query" => search = value,
            "tag" => tags.push(value),
            _ => {}
        }
    }
    Ok(Json(state.dashboards.list(&search, &tags).await?))
}

/// The body as a dashboard: JSON, the schema, the model's rules.
fn document(body: &[u8]) -> Result<Dashboard, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|err| {
        ApiError::new(
            ErrorKind::BadRequest,
            format!("the body is not JSON: {err}"),
        )
    })?;
    dashboards::parse(&value).map_err(|p| dashboards::Error::Invalid(p).into())
}

pub(crate) async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let dashboard = document(&body)?;
    let (uid, title) = (dashboard.uid.clone(), dashboard.title.clone());
    let version = state.dashboards.create(dashboard).await?;
    let detail = audit::dashboard_detail(&title, version, "");
    state
        .audit
        .record(&actor, Action::DashboardSave, &uid, &detail)
        .await;
    Ok((
        StatusCode::CREATED,
        [(
            axum::http::header::LOCATION,
            format!("/api/v1/dashboards/{uid}"),
        )],
        Json(json!({ "uid": uid, "version": version })),
    )
        .into_response())
}

pub(crate) async fn show(
    State(state): State<AppState>,
    Path(uid): Path<String>,
) -> Result<Json<Found>, ApiError> {
    Ok(Json(state.dashboards.get(&uid).await?))
}

#[derive(Deserialize)]
pub(crate) struct SaveParams {
    /// What the save says of itself, shown in the versions list.
    #[serde(default)]
    message: String,
}

/// Saves the document over the version it names (`version`): 409 if another save came first.
pub(crate) async fn update(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(uid): Path<String>,
    Query(params): Query<SaveParams>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let dashboard = document(&body)?;
    if dashboard.uid != uid {
        return Err(dashboards::Error::Invalid(Problem {
            pointer: "/uid".into(),
            message: format!(
                "the document's uid is `{}`, the URL's `{uid}`",
                dashboard.uid
            ),
        })
        .into());
    }
    let title = dashboard.title.clone();
    let version = state
        .dashboards
        .update(dashboard, params.message.clone())
        .await?;
    let detail = audit::dashboard_detail(&title, version, &params.message);
    state
        .audit
        .record(&actor, Action::DashboardSave, &uid, &detail)
        .await;
    Ok(Json(json!({ "uid": uid, "version": version })))
}

pub(crate) async fn delete(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(uid): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.dashboards.delete(&uid).await?;
    state
        .audit
        .record(&actor, Action::DashboardDelete, &uid, "")
        .await;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn versions(
    State(state): State<AppState>,
    Path(uid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let versions: Vec<VersionRecord> = state.dashboards.versions(&uid).await?;
    Ok(Json(json!({ "uid": uid, "versions": versions })))
}

pub(crate) async fn version(
    State(state): State<AppState>,
    Path((uid, version)): Path<(String, u64)>,
) -> Result<Json<Dashboard>, ApiError> {
    Ok(Json(state.dashboards.version(&uid, version).await?))
}

#[derive(Deserialize)]
pub(crate) struct DiffParams {
    from: u64,
    to: u64,
}

/// `?from=1&to=3`: what changed between two versions, as a JSON Patch (RFC 6902) that turns
/// the first into the second.
pub(crate) async fn diff(
    State(state): State<AppState>,
    Path(uid): Path<String>,
    Query(params): Query<DiffParams>,
) -> Result<Json<Value>, ApiError> {
    let from = state.dashboards.version(&uid, params.from).await?;
    let to = state.dashboards.version(&uid, params.to).await?;
    let (mut from, mut to) = (json!(from), json!(to));
    // Every version differs in its number: say what else changed.
    from["version"] = Value::Null;
    to["version"] = Value::Null;
    let patch = json_patch::diff(&from, &to);
    Ok(Json(json!({
        "uid": uid,
        "from": params.from,
        "to": params.to,
        "patch": patch,
    })))
}

#[derive(Deserialize, Default)]
pub(crate) struct RestoreRequest {
    /// The version the caller believes current: 409 if it is not. Absent: whatever is current.
    version: Option<u64>,
}

/// Saves an old version again, as the newest.
pub(crate) async fn restore(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((uid, version)): Path<(String, u64)>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: RestoreRequest = if body.is_empty() {
        RestoreRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|err| {
            ApiError::new(
                ErrorKind::BadRequest,
                format!("the body is not {{\"version\": N}}: {err}"),
            )
        })?
    };
    let current = match request.version {
        Some(current) => current,
        None => state.dashboards.get(&uid).await?.dashboard.version,
    };
    let saved = state.dashboards.restore(&uid, version, current).await?;
    let detail = format!("version {version} restored as version {saved}");
    state
        .audit
        .record(&actor, Action::DashboardRestore, &uid, &detail)
        .await;
    Ok(Json(json!({ "uid": uid, "version": saved })))
}
