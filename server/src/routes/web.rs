//! The web app's server side: the [`Backend`] its pages and server functions reach data through
//! (the route table mounts the pages, the server functions and the built files).

use std::sync::Arc;

use app::api::Backend;
use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use futures::StreamExt;
use protocol::alert::{
    Backtest, ContactPoint, Rule, RuleSummary, Silence, SilenceView, Transition,
};
use protocol::auth::{CreatedToken, Me, NewToken, NewUser, TokenInfo, UserChange, UserInfo};
use protocol::dashboard::substitute::string_literal;
use protocol::dashboard::{Dashboard, Found, Listing};
use protocol::{Progress, QueryResult};
use storage::now_micros;
use tokio_util::sync::CancellationToken;

use crate::alerts::history::{self, ALERTS_STREAM};
use crate::audit::{self, Action, Actor, Audit};
use crate::auth::{Auth, Caller};
use crate::dashboards::{self, Dashboards};
use crate::error::ApiError;
use crate::query::running::MAX_ID_LEN;
use crate::query::{QueryService, format};
use crate::state::AppState;

/// The backend the app's pages get as context (and server functions fall back on).
pub(crate) fn backend(state: &AppState) -> AppBackend {
    let backend = AppBackend {
        queries: state.queries.clone(),
        max_rows: state.max_result_rows,
        dashboards: state.dashboards.clone(),
        alerts: state.alerts.clone(),
        auth: state.auth.clone(),
        audit: state.audit.clone(),
        request: None,
        caller: None,
        actor: None,
    };
    app::api::install_backend(Arc::new(backend.clone()));
    backend
}

#[derive(Clone)]
pub(crate) struct AppBackend {
    queries: QueryService,
    max_rows: usize,
    dashboards: Dashboards,
    alerts: crate::alerts::Alerts,
    auth: Auth,
    audit: Audit,
    /// The request whose page this backend serves: its queries stop when it ends.
    request: Option<RequestScope>,
    /// Who that request comes from (the guard let it through).
    caller: Option<Caller>,
    /// The same, and from where, for the audit trail.
    actor: Option<Actor>,
}

impl AppBackend {
    /// Runs `sql` (under `id`, when given) until it ends or the request does.
    async fn run(
        &self,
        sql: &str,
        max_rows: usize,
        id: Option<&str>,
    ) -> Result<QueryResult, protocol::Error> {
        let now = now_micros();
        let run = self.queries.run_as(sql, max_rows, id);
        let output = match &self.request {
            None => run.await,
            Some(RequestScope(ended)) => tokio::select! {
                output = run => output,
                () = ended.cancelled() => {
                    tracing::info!("a page's query stopped: its request ended first (the client left)");
                    return Err(protocol::Error::new(
                        protocol::ErrorKind::Unavailable,
                        "the request ended before this query did",
                    ));
                }
            },
        }
        .map_err(|e| ApiError::from(e).into_inner())?;
        format::result(&output, now).map_err(|e| ApiError::from(e).into_inner())
    }

    /// This backend for the request being rendered (the one whose parts the page's context
    /// holds), so that its queries stop when the request ends.
    pub(crate) fn for_request(&self) -> Arc<dyn Backend> {
        let parts = leptos::prelude::use_context::<axum::http::request::Parts>();
        let extension = |parts: &axum::http::request::Parts| {
            (
                parts.extensions.get::<RequestScope>().cloned(),
                parts.extensions.get::<Caller>().cloned(),
                parts.extensions.get::<Actor>().cloned(),
            )
        };
        let (request, caller, actor) = parts.as_ref().map(extension).unwrap_or_default();
        // Without a caller, queries read what anyone may.
        let queries = match &caller {
            Some(caller) => self.queries.reading_as(caller),
            None => self.queries.clone(),
        };
        Arc::new(AppBackend {
            queries,
            request,
            caller,
            actor,
            ..self.clone()
        })
    }

    /// Records what the request's caller did in the audit trail.
    async fn audit(&self, action: Action, target: &str, detail: &str) {
        match &self.actor {
            Some(actor) => self.audit.record(actor, action, target, detail).await,
            None => tracing::error!(
                action = action.as_str(),
                target,
                "audit event without an actor: not recorded"
            ),
        }
    }

    /// The caller, for what only some may do: the route's permission was checked already, so
    /// a backend without one (used outside a request) may do nothing of the kind.
    fn caller(&self) -> Result<&Caller, protocol::Error> {
        self.caller.as_ref().ok_or_else(|| {
            protocol::Error::new(
                protocol::ErrorKind::Unauthorized,
                "no caller for this request",
            )
        })
    }
}

/// A request's scope: cancelled when the request is done with, its response body sent or its
/// client gone. A page's queries run in tasks the renderer spawns, detached from the request;
/// this is how they learn that nobody waits for them any more.
#[derive(Clone)]
pub(crate) struct RequestScope(CancellationToken);

/// Middleware: gives every request a [`RequestScope`], cancelled when the response body is
/// dropped (sent, or its client gone) or, for a response that is not a page, at once.
pub(crate) async fn request_scope(mut request: Request, next: Next) -> Response {
    let token = CancellationToken::new();
    request.extensions_mut().insert(RequestScope(token.clone()));
    let guard = token.drop_guard();
    let response = next.run(request).await;
    let page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|t| t.as_bytes().starts_with(b"text/html"));
    if !page {
        return response;
    }
    // The guard lives as long as the body: a streamed page keeps its queries until it is sent.
    response.map(|body| {
        Body::from_stream(body.into_data_stream().map(move |chunk| {
            let _ = &guard;
            chunk
        }))
    })
}

fn client_error(err: impl Into<ApiError>) -> protocol::Error {
    err.into().into_inner()
}

#[async_trait::async_trait]
impl Backend for AppBackend {
    async fn query(&self, sql: String) -> Result<QueryResult, protocol::Error> {
        self.run(&sql, self.max_rows, None).await
    }

    async fn query_as(
        &self,
        sql: String,
        id: String,
        max_rows: usize,
    ) -> Result<QueryResult, protocol::Error> {
        if !(1..=MAX_ID_LEN).contains(&id.len()) {
            return Err(protocol::Error::new(
                protocol::ErrorKind::BadRequest,
                format!("a query id is 1 to {MAX_ID_LEN} bytes"),
            ));
        }
        self.run(&sql, max_rows, Some(&id)).await
    }

    async fn query_progress(&self, id: String) -> Result<Option<Progress>, protocol::Error> {
        Ok(self.queries.running.progress(&id))
    }

    async fn cancel_query(&self, id: String) -> Result<bool, protocol::Error> {
        Ok(self.queries.running.cancel(&id))
    }

    async fn drill(
        &self,
        sql: String,
        row: Vec<serde_json::Value>,
        column: Option<usize>,
    ) -> Result<protocol::explore::Drill, protocol::Error> {
        crate::query::drill(&self.queries, &sql, &row, column)
            .await
            .map_err(client_error)
    }

    async fn dashboards(&self, search: String) -> Result<Listing, protocol::Error> {
        self.dashboards
            .list(&search, &[])
            .await
            .map_err(client_error)
    }

    async fn dashboard(&self, uid: String) -> Result<Found, protocol::Error> {
        self.dashboards.get(&uid).await.map_err(client_error)
    }

    async fn save_dashboard(
        &self,
        dashboard: Dashboard,
        message: String,
    ) -> Result<u64, protocol::Error> {
        // The same checks as the REST API: the schema, then the model's rules.
        let document = serde_json::to_value(&dashboard)
            .map_err(|e| protocol::Error::new(protocol::ErrorKind::Internal, e.to_string()))?;
        let dashboard = dashboards::parse(&document)
            .map_err(|p| client_error(dashboards::Error::Invalid(p)))?;
        let (uid, title) = (dashboard.uid.clone(), dashboard.title.clone());
        let version = if dashboard.version == 0 {
            self.dashboards.create(dashboard).await
        } else {
            self.dashboards.update(dashboard, message.clone()).await
        }
        .map_err(client_error)?;
        let detail = audit::dashboard_detail(&title, version, &message);
        self.audit(Action::DashboardSave, &uid, &detail).await;
        Ok(version)
    }

    async fn delete_dashboard(&self, uid: String) -> Result<(), protocol::Error> {
        self.dashboards.delete(&uid).await.map_err(client_error)?;
        self.audit(Action::DashboardDelete, &uid, "").await;
        Ok(())
    }

    async fn alert_rules(&self) -> Result<Vec<RuleSummary>, protocol::Error> {
        self.alerts
            .rules()
            .await
            .map_err(|e| ApiError::from(e).into_inner())
    }

    async fn alert_instances(
        &self,
        rule: Option<String>,
    ) -> Result<Vec<protocol::alert::Instance>, protocol::Error> {
        let alerts = self.alerts.clone();
        tokio::task::spawn_blocking(move || alerts.instances(rule.as_deref()))
            .await
            .map_err(|e| ApiError::from(e).into_inner())
    }

    async fn alert_rule(&self, uid: String) -> Result<RuleSummary, protocol::Error> {
        self.alerts.rule(&uid).await.map_err(alerts_error)
    }

    async fn save_alert_rule(&self, rule: Rule) -> Result<Rule, protocol::Error> {
        // The same checks as the REST API: the schema, the model, the SQL.
        let document = document(&rule)?;
        let saved = if rule.version == 0 {
            self.alerts.create_rule(&document).await
        } else {
            self.alerts.update_rule(&rule.uid, &document).await
        }
        .map_err(alerts_error)?;
        let detail = audit::rule_detail(&saved);
        self.audit(Action::AlertRuleSave, &saved.uid, &detail).await;
        Ok(saved)
    }

    async fn delete_alert_rule(&self, uid: String) -> Result<(), protocol::Error> {
        self.alerts.delete_rule(&uid).await.map_err(alerts_error)?;
        self.audit(Action::AlertRuleDelete, &uid, "").await;
        Ok(())
    }

    async fn backtest_alert_rule(
        &self,
        rule: Rule,
        from: String,
        to: String,
    ) -> Result<Backtest, protocol::Error> {
        let request = serde_json::json!({"rule": document(&rule)?, "from": from, "to": to});
        self.alerts.backtest(&request).await.map_err(alerts_error)
    }

    async fn contact_points(&self) -> Result<Vec<ContactPoint>, protocol::Error> {
        let points = self.alerts.contact_points().await.map_err(alerts_error)?;
        // Without a caller, as anyone may see them.
        let caller = self.caller.clone().unwrap_or(Caller::Anonymous);
        let shown = crate::routes::alerts::shown_to(&caller);
        Ok(points.into_iter().map(shown).collect())
    }

    async fn silences(&self) -> Result<Vec<SilenceView>, protocol::Error> {
        self.alerts.silences().await.map_err(alerts_error)
    }

    async fn create_silence(&self, silence: Silence) -> Result<Silence, protocol::Error> {
        let document = document(&silence)?;
        let created = self
            .alerts
            .create_silence(&document)
            .await
            .map_err(alerts_error)?;
        let detail = audit::silence_detail(&created);
        self.audit(Action::SilenceCreate, &created.id, &detail)
            .await;
        Ok(created)
    }

    async fn delete_silence(&self, id: String) -> Result<(), protocol::Error> {
        self.alerts
            .delete_silence(&id)
            .await
            .map_err(alerts_error)?;
        self.audit(Action::SilenceDelete, &id, "").await;
        Ok(())
    }

    async fn alert_history(
        &self,
        rule: String,
        fingerprint: Option<String>,
    ) -> Result<Vec<Transition>, protocol::Error> {
        // The values are literals, never SQL text.
        let mut sql = format!(
            "SELECT CAST(_time AS BIGINT) AS time, title, fingerprint, from_state, to_state, \
             value, reason FROM {ALERTS_STREAM} WHERE rule_uid = {}",
            string_literal(&rule)
        );
        if let Some(fingerprint) = &fingerprint {
            sql += &format!(" AND fingerprint = {}", string_literal(fingerprint));
        }
        sql += &format!(" ORDER BY _time DESC LIMIT {HISTORY_ROWS}");
        // No transition was ever recorded: no history yet.
        if !self.queries.has_table(ALERTS_STREAM) {
            return Ok(Vec::new());
        }
        let result = self.query(sql).await?;
        Ok(history::transitions(&rule, &result))
    }

    fn me(&self) -> Option<Me> {
        self.caller.as_ref().and_then(Caller::me)
    }

    async fn tokens(&self) -> Result<Vec<TokenInfo>, protocol::Error> {
        self.caller()?;
        self.auth.tokens().await.map_err(client_error)
    }

    async fn create_token(&self, token: NewToken) -> Result<CreatedToken, protocol::Error> {
        let caller = self.caller()?;
        let detail = audit::token_detail(&token);
        let created = self
            .auth
            .create_token(caller, token)
            .await
            .map_err(client_error)?;
        tracing::info!(id = created.id, by = caller.name(), "API token made");
        self.audit(Action::TokenCreate, &created.id, &detail).await;
        Ok(created)
    }

    async fn revoke_token(&self, id: String) -> Result<(), protocol::Error> {
        let caller = self.caller()?;
        self.auth.revoke_token(&id).await.map_err(client_error)?;
        tracing::info!(id, by = caller.name(), "API token revoked");
        self.audit(Action::TokenRevoke, &id, "").await;
        Ok(())
    }

    async fn users(&self) -> Result<Vec<UserInfo>, protocol::Error> {
        self.caller()?;
        self.auth.users().await.map_err(client_error)
    }

    async fn add_user(&self, user: NewUser) -> Result<(), protocol::Error> {
        let caller = self.caller()?;
        let (name, role) = (user.name.clone(), user.role);
        self.auth.add_user(user).await.map_err(client_error)?;
        tracing::info!(name, %role, by = caller.name(), "user added");
        self.audit(Action::UserAdd, &name, &format!("role {role}"))
            .await;
        Ok(())
    }

    async fn change_user(&self, name: String, change: UserChange) -> Result<(), protocol::Error> {
        let caller = self.caller()?;
        let (role, password) = (change.role, change.password.is_some());
        let detail = audit::user_change_detail(&change);
        self.auth
            .change_user(&name, change)
            .await
            .map_err(client_error)?;
        tracing::info!(name, ?role, password, by = caller.name(), "user changed");
        self.audit(Action::UserChange, &name, &detail).await;
        Ok(())
    }

    async fn remove_user(&self, name: String) -> Result<(), protocol::Error> {
        let caller = self.caller()?;
        self.auth.remove_user(&name).await.map_err(client_error)?;
        tracing::info!(name, by = caller.name(), "user removed");
        self.audit(Action::UserRemove, &name, "").await;
        Ok(())
    }
}

/// The most transitions a rule's history shows.
const HISTORY_ROWS: usize = 200;

fn alerts_error(err: crate::alerts::Error) -> protocol::Error {
    ApiError::from(err).into_inner()
}

/// A document as the REST API would receive it.
fn document<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, protocol::Error> {
    serde_json::to_value(value)
        .map_err(|e| protocol::Error::new(protocol::ErrorKind::Internal, e.to_string()))
}
