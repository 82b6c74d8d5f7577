//! `/api/v1/auth`, `/api/v1/tokens` and `/api/v1/users`: logging in and out (JSON for programs,
//! a form for the login page), who the caller is, the route table's permissions, API tokens and
//! users.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form, Json};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use protocol::ErrorKind;
use protocol::auth::{CreatedToken, Me, NewToken, NewUser, TokenInfo, UserChange, UserInfo};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::audit::{self, Action, Actor};
use crate::auth::{AuthError, Caller, SESSION_LIFETIME};
use crate::error::ApiError;
use crate::router::guard::{SESSION_COOKIE, client_address, refusal};
use crate::router::table::Permissions;
use crate::state::AppState;

#[derive(Deserialize)]
pub(crate) struct Login {
    name: String,
    password: String,
    /// Where the login page sends the browser once logged in (a path on this server).
    #[serde(default)]
    next: Option<String>,
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
}

/// `next` if it is a path on this server, else the home page (no open redirects).
fn local_path(next: Option<&str>) -> &str {
    match next {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && !p.contains('\\') => p,
        _ => "/",
    }
}

/// The `Set-Cookie` value that holds a session, or that ends one (`value` empty).
fn cookie(value: &str, lifetime: Duration, secure: bool) -> HeaderValue {
    let text = format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        lifetime.as_secs(),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text).expect("a session cookie is ASCII")
}

fn see_other(location: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// `POST /api/v1/auth/login`: `{"name", "password"}` as JSON (the reply is the caller, with
/// the session cookie), or the login page's form (the reply sends the browser on, or back to
/// the login page with the reason).
pub(crate) async fn login(State(state): State<AppState>, request: Request) -> Response {
    let address = client_address(&request);
    let form = is_form(request.headers());
    let login = if form {
        Form::<Login>::from_request(request, &state)
            .await
            .map(|Form(login)| login)
            .map_err(|e| ApiError::new(ErrorKind::BadRequest, e.body_text()))
    } else {
        Json::<Login>::from_request(request, &state)
            .await
            .map(|Json(login)| login)
            .map_err(ApiError::from)
    };
    let login = match login {
        Ok(login) => login,
        Err(err) => return err.into_response(),
    };
    let next = local_path(login.next.as_deref()).to_owned();
    match state
        .auth
        .login(&login.name, &login.password, address)
        .await
    {
        Ok((caller, session)) => {
            tracing::info!(user = login.name, %address, "logged in");
            let actor = Actor::logging_in(caller.name(), address);
            state.audit.record(&actor, Action::Login, "", "").await;
            let set = cookie(&session, SESSION_LIFETIME, state.secure_cookies);
            let mut response = if form {
                see_other(&next)
            } else {
                Json(caller.me()).into_response()
            };
            response.headers_mut().insert(header::SET_COOKIE, set);
            response
        }
        Err(err) => {
            tracing::info!(user = login.name, %address, reason = %err, "login refused");
            // A refusal for the backoff is not a try: only logins checked and failed count.
            if matches!(err, AuthError::Unauthenticated(_)) {
                let actor = Actor::logging_in(&login.name, address);
                let detail = err.to_string();
                state
                    .audit
                    .record(&actor, Action::LoginFailed, "", &detail)
                    .await;
            }
            if form && matches!(err, AuthError::Unauthenticated(_) | AuthError::Throttled(_)) {
                let encode = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
                see_other(&format!(
                    "/login?error={}&next={}",
                    encode(&err.to_string()),
                    encode(&next)
                ))
            } else {
                refusal(err)
            }
        }
    }
}

/// `POST /api/v1/auth/logout`: ends the session and clears its cookie; a form is sent to the
/// login page.
pub(crate) async fn logout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(actor): Extension<Actor>,
    headers: HeaderMap,
) -> Response {
    if let Err(err) = state.auth.logout(&caller).await {
        return refusal(err);
    }
    if matches!(
        caller,
        Caller::User {
            session: Some(_),
            ..
        }
    ) {
        state.audit.record(&actor, Action::Logout, "", "").await;
    }
    let mut response = if is_form(&headers) {
        see_other("/login")
    } else {
        StatusCode::NO_CONTENT.into_response()
    };
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie("", Duration::ZERO, state.secure_cookies),
    );
    response
}

/// `GET /api/v1/auth/me`: who the server takes the caller for.
pub(crate) async fn me(Extension(caller): Extension<Caller>) -> Result<Json<Me>, ApiError> {
    caller
        .me()
        .map(Json)
        .ok_or_else(|| ApiError::new(ErrorKind::Unauthorized, "not logged in"))
}

/// `GET /api/v1/auth/routes`: every route and the permission it needs (`null`: none declared,
/// so refused to everyone).
pub(crate) async fn routes(Extension(permissions): Extension<Arc<Permissions>>) -> Json<Value> {
    let routes: Vec<Value> = permissions
        .routes()
        .into_iter()
        .map(|((method, path), kind, permission)| {
            json!({
                "method": method.as_str(),
                "path": path,
                "kind": kind.as_str(),
                "permission": permission.map(|p| p.as_str()),
            })
        })
        .collect();
    Json(json!({ "routes": routes }))
}

/// `GET /api/v1/tokens`
pub(crate) async fn tokens(
    State(state): State<AppState>,
) -> Result<Json<Vec<TokenInfo>>, ApiError> {
    Ok(Json(state.auth.tokens().await?))
}

/// `POST /api/v1/tokens`: `{"name", "scopes", "streams", "expires_at"}` → `{"id", "token"}`.
pub(crate) async fn create_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(actor): Extension<Actor>,
    request: Result<Json<NewToken>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<CreatedToken>), ApiError> {
    let Json(request) = request?;
    let detail = audit::token_detail(&request);
    let created = state.auth.create_token(&caller, request).await?;
    tracing::info!(id = created.id, by = caller.name(), "API token made");
    state
        .audit
        .record(&actor, Action::TokenCreate, &created.id, &detail)
        .await;
    Ok((StatusCode::CREATED, Json(created)))
}

/// `DELETE /api/v1/tokens/{id}`
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(actor): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.revoke_token(&id).await?;
    tracing::info!(id, by = caller.name(), "API token revoked");
    state
        .audit
        .record(&actor, Action::TokenRevoke, &id, "")
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/users`
pub(crate) async fn users(State(state): State<AppState>) -> Result<Json<Vec<UserInfo>>, ApiError> {
    Ok(Json(state.auth.users().await?))
}

/// `POST /api/v1/users`: `{"name", "role", "password"}`.
pub(crate) async fn add_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(actor): Extension<Actor>,
    request: Result<Json<NewUser>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(user) = request?;
    let (name, role) = (user.name.clone(), user.role);
    state.auth.add_user(user).await?;
    tracing::info!(name, %role, by = caller.name(), "user added");
    let detail = format!("role {role}");
    state
        .audit
        .record(&actor, Action::UserAdd, &name, &detail)
        .await;
    Ok(StatusCode::CREATED)
}

/// `PUT /api/v1/users/{name}`: `{"role"}`, `{"password"}` or both.
pub(crate) async fn change_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
    request: Result<Json<UserChange>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(change) = request?;
    let role = change.role;
    let password = change.password.is_some();
    let detail = audit::user_change_detail(&change);
    state.auth.change_user(&name, change).await?;
    tracing::info!(name, ?role, password, by = caller.name(), "user changed");
    state
        .audit
        .record(&actor, Action::UserChange, &name, &detail)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /api/v1/users/{name}`
pub(crate) async fn remove_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(actor): Extension<Actor>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.remove_user(&name).await?;
    tracing::info!(name, by = caller.name(), "user removed");
    state
        .audit
        .record(&actor, Action::UserRemove, &name, "")
        .await;
    Ok(StatusCode::NO_CONTENT)
}
