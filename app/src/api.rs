//! What the app asks of the server: server functions that run a query and read and save
//! dashboards, and the [`Backend`] trait the server implements for them.

use leptos::prelude::*;
use leptos::server_fn::codec::{Json, JsonEncoding};
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use protocol::alert::{Instance, RuleSummary};
use protocol::dashboard::{Dashboard, Found, Listing};
use protocol::{ErrorKind, QueryResult};
use serde::{Deserialize, Serialize};

/// What the server provides to the app as context, on the server only.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Runs read-only SQL.
    async fn query(&self, sql: String) -> Result<QueryResult, protocol::Error>;
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
    /// answered something this app does not understand.
    fn from_server_fn_error(value: ServerFnErrorErr) -> AppError {
        let kind = match value {
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => ErrorKind::Unavailable,
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => ErrorKind::BadRequest,
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

/// Runs read-only SQL on the server (directly while rendering there, over HTTP from the browser).
#[server(prefix = "/app/fn")]
pub async fn run_query(sql: String) -> Result<QueryResult, AppError> {
    backend()?.query(sql).await.map_err(AppError)
}

/// The dashboards list.
#[server(prefix = "/app/fn")]
pub async fn list_dashboards(search: String) -> Result<Listing, AppError> {
    backend()?.dashboards(search).await.map_err(AppError)
}

/// One dashboard.
#[server(prefix = "/app/fn")]
pub async fn load_dashboard(uid: String) -> Result<Found, AppError> {
    backend()?.dashboard(uid).await.map_err(AppError)
}

/// Saves a dashboard (a `conflict` error when someone saved it since its version was read).
#[server(prefix = "/app/fn", input = Json)]
pub async fn save_dashboard(dashboard: Dashboard, message: String) -> Result<u64, AppError> {
    backend()?
        .save_dashboard(dashboard, message)
        .await
        .map_err(AppError)
}

/// Deletes a dashboard.
#[server(prefix = "/app/fn")]
pub async fn delete_dashboard(uid: String) -> Result<(), AppError> {
    backend()?.delete_dashboard(uid).await.map_err(AppError)
}

/// The alert rules.
#[server(prefix = "/app/fn")]
pub async fn list_alert_rules() -> Result<Vec<RuleSummary>, AppError> {
    backend()?.alert_rules().await.map_err(AppError)
}

/// The current alert instances (of one rule, when given).
#[server(prefix = "/app/fn")]
pub async fn list_alert_instances(rule: Option<String>) -> Result<Vec<Instance>, AppError> {
    backend()?.alert_instances(rule).await.map_err(AppError)
}
