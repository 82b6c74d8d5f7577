//! `/api/v1/alerts`: the current instances, and the CRUD of rules, contact points, silences and
//! the notification policy. Bodies are the documents of docs/alerts.md.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use protocol::ErrorKind;
use protocol::alert::{ContactPoint, Instance, Policy, Rule, State as AlertState};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::alerts::{RuleSummary, TestOutcome, redact};
use crate::audit::{self, Action, Actor};
use crate::auth::Caller;
use crate::auth::access::Permission;
use crate::error::ApiError;
use crate::state::AppState;
use protocol::alert::SilenceView;

fn body_json(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|err| {
        ApiError::new(
            ErrorKind::BadRequest,
            format!("the body is not JSON: {err}"),
        )
    })
}

fn created(location: String, body: impl serde::Serialize) -> Response {
    (
        StatusCode::CREATED,
        [(axum::http::header::LOCATION, location)],
        Json(body),
    )
        .into_response()
}

/// `?rule=uid&state=Firing`
#[derive(Debug, Deserialize)]
pub(crate) struct InstanceFilter {
    rule: Option<String>,
    state: Option<String>,
}

/// `GET /api/v1/alerts`: every instance not Normal, and Normal ones that have a row.
pub(crate) async fn instances(
    State(state): State<AppState>,
    Query(filter): Query<InstanceFilter>,
) -> Result<Json<Vec<Instance>>, ApiError> {
    let wanted = match &filter.state {
        Some(text) => Some(AlertState::parse(text).ok_or_else(|| {
            ApiError::new(
                ErrorKind::BadRequest,
                format!(
                    "`{text}` is not a state: Normal, Pending, Firing, Recovering, NoData, Error"
                ),
            )
        })?),
        None => None,
    };
    // Rendering thousands of instances' annotations is work: off the async threads.
    let alerts = state.alerts.clone();
    let rule = filter.rule.clone();
    let mut list = tokio::task::spawn_blocking(move || alerts.instances(rule.as_deref())).await?;
    if let Some(wanted) = wanted {
        list.retain(|i| i.state == wanted);
    }
    Ok(Json(list))
}

pub(crate) async fn rules(
    State(state): State<AppState>,
) -> Result<Json<Vec<RuleSummary>>, ApiError> {
    Ok(Json(state.alerts.rules().await?))
}

pub(crate) async fn rule(
    State(state): State<AppState>,
    Path(uid): Path<String>,
) -> Result<Json<RuleSummary>, ApiError> {
    Ok(Json(state.alerts.rule(&uid).await?))
}

pub(crate) async fn create_rule(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let rule: Rule = state.alerts.create_rule(&body_json(&body)?).await?;
    let detail = audit::rule_detail(&rule);
    state
        .audit
        .record(&actor, Action::AlertRuleSave, &rule.uid, &detail)
        .await;
    Ok(created(format!("/api/v1/alerts/rules/{}", rule.uid), rule))
}

pub(crate) async fn update_rule(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(uid): Path<String>,
    body: Bytes,
) -> Result<Json<Rule>, ApiError> {
    let rule = state.alerts.update_rule(&uid, &body_json(&body)?).await?;
    let detail = audit::rule_detail(&rule);
    state
        .audit
        .record(&actor, Action::AlertRuleSave, &uid, &detail)
        .await;
    Ok(Json(rule))
}

pub(crate) async fn delete_rule(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(uid): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.alerts.delete_rule(&uid).await?;
    state
        .audit
        .record(&actor, Action::AlertRuleDelete, &uid, "")
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/alerts/rules/backtest`: `{"rule": {...}, "from": "now-6h", "to": "now"}`.
pub(crate) async fn backtest(
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let report = state.alerts.backtest(&body_json(&body)?).await?;
    Ok(Json(report).into_response())
}

pub(crate) async fn test_rule(
    State(state): State<AppState>,
    Path(uid): Path<String>,
) -> Result<Json<Vec<TestOutcome>>, ApiError> {
    Ok(Json(state.alerts.test_rule(&uid).await?))
}

/// Contact points, their secrets redacted unless the caller may change them.
pub(crate) async fn contact_points(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<ContactPoint>>, ApiError> {
    let points = state.alerts.contact_points().await?;
    Ok(Json(points.into_iter().map(shown_to(&caller)).collect()))
}

pub(crate) async fn contact_point(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(uid): Path<String>,
) -> Result<Json<ContactPoint>, ApiError> {
    let point = state.alerts.contact_point(&uid).await?;
    Ok(Json(shown_to(&caller)(point)))
}

/// A contact point as `caller` may see it: whole to those who may change it.
pub(crate) fn shown_to(caller: &Caller) -> impl Fn(ContactPoint) -> ContactPoint {
    let whole = caller.allows(Permission::Write);
    move |point| if whole { point } else { redact(point) }
}

pub(crate) async fn create_contact_point(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let point = state
        .alerts
        .save_contact_point(None, &body_json(&body)?)
        .await?;
    let detail = audit::contact_point_detail(&point);
    state
        .audit
        .record(&actor, Action::ContactPointSave, &point.uid, &detail)
        .await;
    Ok(created(
        format!("/api/v1/alerts/contact-points/{}", point.uid),
        point,
    ))
}

pub(crate) async fn update_contact_point(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(uid): Path<String>,
    body: Bytes,
) -> Result<Json<ContactPoint>, ApiError> {
    let point = state
        .alerts
        .save_contact_point(Some(&uid), &body_json(&body)?)
        .await?;
    let detail = audit::contact_point_detail(&point);
    state
        .audit
        .record(&actor, Action::ContactPointSave, &uid, &detail)
        .await;
    Ok(Json(point))
}

pub(crate) async fn delete_contact_point(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(uid): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.alerts.delete_contact_point(&uid).await?;
    state
        .audit
        .record(&actor, Action::ContactPointDelete, &uid, "")
        .await;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn policy(State(state): State<AppState>) -> Json<Policy> {
    Json(state.alerts.policy())
}

pub(crate) async fn set_policy(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Json<Policy>, ApiError> {
    let policy = state.alerts.set_policy(&body_json(&body)?).await?;
    let detail = format!(
        "receiver `{}`, {} routes",
        policy.receiver.as_deref().unwrap_or(""),
        policy.routes.len()
    );
    state
        .audit
        .record(&actor, Action::PolicySave, "", &detail)
        .await;
    Ok(Json(policy))
}

pub(crate) async fn silences(
    State(state): State<AppState>,
) -> Result<Json<Vec<SilenceView>>, ApiError> {
    Ok(Json(state.alerts.silences().await?))
}

pub(crate) async fn create_silence(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let silence = state.alerts.create_silence(&body_json(&body)?).await?;
    let id = silence.id.clone();
    let detail = audit::silence_detail(&silence);
    state
        .audit
        .record(&actor, Action::SilenceCreate, &id, &detail)
        .await;
    Ok(created(
        format!("/api/v1/alerts/silences/{id}"),
        json!({"id": id, "silence": silence}),
    ))
}

pub(crate) async fn delete_silence(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.alerts.delete_silence(&id).await?;
    state
        .audit
        .record(&actor, Action::SilenceDelete, &id, "")
        .await;
    Ok(StatusCode::NO_CONTENT)
}
