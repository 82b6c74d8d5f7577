//! What the app asks of the server: server functions that run a query and read and save
//! dashboards, and the [`Backend`] trait the server implements for them.

use leptos::prelude::*;
use leptos::server_fn::codec::{Json, JsonEncoding};
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use protocol::alert::{
    Backtest, ContactPoint, Instance, Rule, RuleSummary, Silence, SilenceView, Transition,
};
use protocol::auth::{CreatedToken, Me, NewToken, NewUser, TokenInfo, UserChange, UserInfo};
use protocol::dashboard::{Dashboard, Found, Listing};
use protocol::explore::Drill;
use protocol::{ErrorKind, Progress, QueryResult};
use serde::{Deserialize, Serialize};

/// What the server provides to the app as context, on the server only.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Runs read-only SQL.
    async fn query(&self, sql: String) -> Result<QueryResult, protocol::Error>;
    /// Runs read-only SQL under `id`, with at most `max_rows` rows: while it runs, its
    /// progress can be asked for and it can be cancelled.
    async fn query_as(
        &self,
        sql: String,
        id: String,
        max_rows: usize,
    ) -> Result<QueryResult, protocol::Error>;
    /// How far the query running under `id` has got; none when no query runs under it.
    async fn query_progress(&self, id: String) -> Result<Option<Progress>, protocol::Error>;
    /// Stops the query running under `id`; whether one was.
    async fn cancel_query(&self, id: String) -> Result<bool, protocol::Error>;
    /// The events behind row `row` of `sql`'s result (and its value in `column`).
    async fn drill(
        &self,
        sql: String,
        row: Vec<serde_json::Value>,
        column: Option<usize>,
    ) -> Result<Drill, protocol::Error>;
    /// Dashboards whose title, uid or tags contain `search`.
    async fn dashboards(&self, search: String) -> Result<Listing, protocol::Error>;
    /// One dashboard.
    async fn dashboard(&self, uid: String) -> Result<Found, protocol::Error>;
    /// Saves a dashboard: a new one when its version is 0, else over the version it names.
    /// Returns the saved version.
    async fn save_dashboard(
        &self,
        dashboard: Dashboard,
        message: String,
    ) -> Result<u64, protocol::Error>;
    /// Deletes a dashboard.
    async fn delete_dashboard(&self, uid: String) -> Result<(), protocol::Error>;
    /// Every alert rule, with how it runs and its instances by state.
    async fn alert_rules(&self) -> Result<Vec<RuleSummary>, protocol::Error>;
    /// The current alert instances (of one rule, when given).
    async fn alert_instances(&self, rule: Option<String>)
    -> Result<Vec<Instance>, protocol::Error>;
    /// One alert rule.
    async fn alert_rule(&self, uid: String) -> Result<RuleSummary, protocol::Error>;
    /// Saves a rule: a new one when its version is 0, else over the version it names.
    async fn save_alert_rule(&self, rule: Rule) -> Result<Rule, protocol::Error>;
    async fn delete_alert_rule(&self, uid: String) -> Result<(), protocol::Error>;
    /// The transitions `rule` would have made over `[from, to]` (`now-6h`, `now`).
    async fn backtest_alert_rule(
        &self,
        rule: Rule,
        from: String,
        to: String,
    ) -> Result<Backtest, protocol::Error>;
    async fn contact_points(&self) -> Result<Vec<ContactPoint>, protocol::Error>;
    async fn silences(&self) -> Result<Vec<SilenceView>, protocol::Error>;
    async fn create_silence(&self, silence: Silence) -> Result<Silence, protocol::Error>;
    async fn delete_silence(&self, id: String) -> Result<(), protocol::Error>;
    /// A rule's latest transitions (of one instance, when given), newest first, from `_alerts`.
    async fn alert_history(
        &self,
        rule: String,
        fingerprint: Option<String>,
    ) -> Result<Vec<Transition>, protocol::Error>;
    /// Who the request comes from; `None` for no one (on a server that needs credentials).
    fn me(&self) -> Option<Me>;
    async fn tokens(&self) -> Result<Vec<TokenInfo>, protocol::Error>;
    async fn create_token(&self, token: NewToken) -> Result<CreatedToken, protocol::Error>;
    async fn revoke_token(&self, id: String) -> Result<(), protocol::Error>;
    async fn users(&self) -> Result<Vec<UserInfo>, protocol::Error>;
    async fn add_user(&self, user: NewUser) -> Result<(), protocol::Error>;
    async fn change_user(&self, name: String, change: UserChange) -> Result<(), protocol::Error>;
    async fn remove_user(&self, name: String) -> Result<(), protocol::Error>;
}

/// A server function's failure, with its kind: what the server said, or that it could not be
/// reached or understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AppError(pub protocol::Error);

impl AppError {
    pub fn kind(&self) -> ErrorKind {
        self.0.kind
    }

    pub fn message(&self) -> &str {
        &self.0.message
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl From<protocol::Error> for AppError {
    fn from(error: protocol::Error) -> AppError {
        AppError(error)
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    /// Failures of the call itself (the network, encoding): the server is out of reach, or
    /// answered something this app does not understand, or (on the server) a call's arguments
    /// do not decode.
    fn from_server_fn_error(value: ServerFnErrorErr) -> AppError {
        let kind = match value {
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => ErrorKind::Unavailable,
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => ErrorKind::BadRequest,
            // The server decodes requests; the browser, replies (a reply it cannot read is the
            // server's fault).
            ServerFnErrorErr::Deserialization(_) if cfg!(feature = "ssr") => ErrorKind::BadRequest,
            _ => ErrorKind::Internal,
        };
        AppError(protocol::Error::new(kind, value.to_string()))
    }
}

/// The server's backend, for calls made where the render's context is out of reach (a resource's
/// fetcher after an `.await`): one server, one backend.
#[cfg(feature = "ssr")]
static BACKEND: std::sync::OnceLock<std::sync::Arc<dyn Backend>> = std::sync::OnceLock::new();

/// Makes `backend` the one server functions fall back on (the first call wins).
#[cfg(feature = "ssr")]
pub fn install_backend(backend: std::sync::Arc<dyn Backend>) {
    let _ = BACKEND.set(backend);
}

#[cfg(feature = "ssr")]
fn backend() -> Result<std::sync::Arc<dyn Backend>, AppError> {
    use_context::<std::sync::Arc<dyn Backend>>()
        .or_else(|| BACKEND.get().cloned())
        .ok_or_else(|| {
            AppError(protocol::Error::new(
                ErrorKind::Internal,
                "the server provided no backend",
            ))
        })
}

/// A backend's failure as a server function's answer, with the HTTP status of its kind (a 4xx
/// for what the user sent: a 500 only for a bug).
#[cfg(feature = "ssr")]
fn failed(error: protocol::Error) -> AppError {
    use leptos::server_fn::axum_export::http::StatusCode;
    if let (Some(response), Ok(status)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        StatusCode::from_u16(error.kind.http_status()),
    ) {
        response.set_status(status);
    }
    AppError(error)
}

/// Runs read-only SQL on the server (directly while rendering there, over HTTP from the browser).
#[server(prefix = "/app/fn")]
pub async fn run_query(sql: String) -> Result<QueryResult, AppError> {
    backend()?.query(sql).await.map_err(failed)
}

/// Rows the SQL workbench gets of a result (the rest are left out and `truncated` says so).
pub const WORKBENCH_ROWS: usize = 10_000;

/// Runs the SQL workbench's query under `id`, chosen by the browser to follow and cancel it.
#[server(prefix = "/app/fn")]
pub async fn run_sql(sql: String, id: String) -> Result<QueryResult, AppError> {
    backend()?
        .query_as(sql, id, WORKBENCH_ROWS)
        .await
        .map_err(failed)
}

/// How far the query running under `id` has got (none once it ended).
#[server(prefix = "/app/fn")]
pub async fn query_progress(id: String) -> Result<Option<Progress>, AppError> {
    backend()?.query_progress(id).await.map_err(failed)
}

/// Stops the query running under `id`; whether one was.
#[server(prefix = "/app/fn")]
pub async fn cancel_query(id: String) -> Result<bool, AppError> {
    backend()?.cancel_query(id).await.map_err(failed)
}

/// Where a panel's value came from: the events behind row `row` of `sql`'s result.
#[server(prefix = "/app/fn", input = Json)]
pub async fn drill_down(
    sql: String,
    row: Vec<serde_json::Value>,
    column: Option<usize>,
) -> Result<Drill, AppError> {
    backend()?.drill(sql, row, column).await.map_err(failed)
}

/// The dashboards list.
#[server(prefix = "/app/fn")]
pub async fn list_dashboards(search: String) -> Result<Listing, AppError> {
    backend()?.dashboards(search).await.map_err(failed)
}

/// One dashboard.
#[server(prefix = "/app/fn")]
pub async fn load_dashboard(uid: String) -> Result<Found, AppError> {
    backend()?.dashboard(uid).await.map_err(failed)
}

/// Saves a dashboard (a `conflict` error when someone saved it since its version was read).
#[server(prefix = "/app/fn", input = Json)]
pub async fn save_dashboard(dashboard: Dashboard, message: String) -> Result<u64, AppError> {
    backend()?
        .save_dashboard(dashboard, message)
        .await
        .map_err(failed)
}

/// Deletes a dashboard.
#[server(prefix = "/app/fn")]
pub async fn delete_dashboard(uid: String) -> Result<(), AppError> {
    backend()?.delete_dashboard(uid).await.map_err(failed)
}

/// The alert rules.
#[server(prefix = "/app/fn")]
pub async fn list_alert_rules() -> Result<Vec<RuleSummary>, AppError> {
    backend()?.alert_rules().await.map_err(failed)
}

/// The current alert instances (of one rule, when given).
#[server(prefix = "/app/fn")]
pub async fn list_alert_instances(rule: Option<String>) -> Result<Vec<Instance>, AppError> {
    backend()?.alert_instances(rule).await.map_err(failed)
}

/// One alert rule.
#[server(prefix = "/app/fn")]
pub async fn load_alert_rule(uid: String) -> Result<RuleSummary, AppError> {
    backend()?.alert_rule(uid).await.map_err(failed)
}

/// Saves a rule (a `conflict` error when someone saved it since its version was read).
#[server(prefix = "/app/fn", input = Json)]
pub async fn save_alert_rule(rule: Rule) -> Result<Rule, AppError> {
    backend()?.save_alert_rule(rule).await.map_err(failed)
}

/// Deletes a rule; its firing instances resolve.
#[server(prefix = "/app/fn")]
pub async fn delete_alert_rule(uid: String) -> Result<(), AppError> {
    backend()?.delete_alert_rule(uid).await.map_err(failed)
}

/// Replays a rule, saved or not, over `[from, to]` of its stream's history.
#[server(prefix = "/app/fn", input = Json)]
pub async fn backtest_alert_rule(
    rule: Rule,
    from: String,
    to: String,
) -> Result<Backtest, AppError> {
    backend()?
        .backtest_alert_rule(rule, from, to)
        .await
        .map_err(failed)
}

/// The contact points.
#[server(prefix = "/app/fn")]
pub async fn list_contact_points() -> Result<Vec<ContactPoint>, AppError> {
    backend()?.contact_points().await.map_err(failed)
}

/// The silences, active first.
#[server(prefix = "/app/fn")]
pub async fn list_silences() -> Result<Vec<SilenceView>, AppError> {
    backend()?.silences().await.map_err(failed)
}

/// Creates a silence.
#[server(prefix = "/app/fn", input = Json)]
pub async fn create_silence(silence: Silence) -> Result<Silence, AppError> {
    backend()?.create_silence(silence).await.map_err(failed)
}

/// Deletes (expires) a silence.
#[server(prefix = "/app/fn")]
pub async fn delete_silence(id: String) -> Result<(), AppError> {
    backend()?.delete_silence(id).await.map_err(failed)
}

/// A rule's latest transitions (of one instance, when given), newest first.
#[server(prefix = "/app/fn")]
pub async fn alert_history(
    rule: String,
    fingerprint: Option<String>,
) -> Result<Vec<Transition>, AppError> {
    backend()?
        .alert_history(rule, fingerprint)
        .await
        .map_err(failed)
}

/// Who the browser is logged in as (`None`: no one); on an open server, `via: open`.
#[server(prefix = "/app/fn")]
pub async fn current_user() -> Result<Option<Me>, AppError> {
    Ok(backend()?.me())
}

/// Every API token, without secrets (admins only).
#[server(prefix = "/app/fn")]
pub async fn list_tokens() -> Result<Vec<TokenInfo>, AppError> {
    backend()?.tokens().await.map_err(failed)
}

/// Makes an API token; its text is in the answer, once (admins only).
#[server(prefix = "/app/fn", input = Json)]
pub async fn create_token(token: NewToken) -> Result<CreatedToken, AppError> {
    backend()?.create_token(token).await.map_err(failed)
}

/// Revokes an API token (admins only).
#[server(prefix = "/app/fn")]
pub async fn revoke_token(id: String) -> Result<(), AppError> {
    backend()?.revoke_token(id).await.map_err(failed)
}

/// Every user (admins only).
#[server(prefix = "/app/fn")]
pub async fn list_users() -> Result<Vec<UserInfo>, AppError> {
    backend()?.users().await.map_err(failed)
}

/// Adds a user (admins only).
#[server(prefix = "/app/fn", input = Json)]
pub async fn add_user(user: NewUser) -> Result<(), AppError> {
    backend()?.add_user(user).await.map_err(failed)
}

/// Gives a user another role or password (admins only).
#[server(prefix = "/app/fn", input = Json)]
pub async fn change_user(name: String, change: UserChange) -> Result<(), AppError> {
    backend()?.change_user(name, change).await.map_err(failed)
}

/// Removes a user (admins only).
#[server(prefix = "/app/fn")]
pub async fn remove_user(name: String) -> Result<(), AppError> {
    backend()?.remove_user(name).await.map_err(failed)
}
