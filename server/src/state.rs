//! What every handler shares: the store, the query service, the engine, limits, and the
//! server's lifetime (shutdown, live sockets).

use std::path::Path;
use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;
use storage::Store;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::alerts::Alerts;
use crate::audit::Audit;
use crate::auth::Auth;
use crate::config::Config;
use crate::dashboards::Dashboards;
use crate::engine::Engine;
use crate::metrics::Metrics;
use crate::query::QueryService;

/// PNG pictures drawn at once (one per core of the machines Weir is measured on).
pub(crate) const MAX_CONCURRENT_RENDERS: usize = 2;

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<Store>,
    pub(crate) queries: QueryService,
    /// Continuous queries, shared by every live subscription.
    pub(crate) engine: Engine,
    /// Dashboards: stored in the metadata database, or provisioned from files.
    pub(crate) dashboards: Dashboards,
    /// Alert rules, their instances, and notifications.
    pub(crate) alerts: Alerts,
    /// Weir's own metrics (`GET /metrics`).
    pub(crate) metrics: Metrics,
    /// Who the caller is and what it may do; logins, tokens, sessions.
    pub(crate) auth: Auth,
    /// Who did what: the stream `_audit`.
    pub(crate) audit: Audit,
    /// The origin users reach the server at (`https://weir.example.com`), when it was given:
    /// writes from it are not cross-origin even behind a proxy that rewrites `Host`.
    pub(crate) external_origin: Option<String>,
    /// Session cookies are `Secure` (served over TLS).
    pub(crate) secure_cookies: bool,
    pub(crate) ingest_permits: Arc<Semaphore>,
    /// Pictures (PNG) drawn at once: each holds its queries' results and a bitmap of up to
    /// 4096 × 4096 pixels (48 MiB), so more are refused rather than queued.
    pub(crate) render_permits: Arc<Semaphore>,
    pub(crate) max_result_rows: usize,
    pub(crate) max_body_bytes: usize,
    pub(crate) leptos: LeptosOptions,
    /// Cancelled when the server starts shutting down: live sockets close on it.
    pub(crate) stopping: CancellationToken,
    /// Live sockets outlive the HTTP graceful shutdown (an upgraded connection is no longer a
    /// request), so the server waits on them here to send each its close frame.
    pub(crate) live_sockets: TaskTracker,
}

/// The services a server's handlers share, started by `serve`.
pub(crate) struct Services {
    pub(crate) store: Arc<Store>,
    pub(crate) queries: QueryService,
    pub(crate) engine: Engine,
    pub(crate) dashboards: Dashboards,
    pub(crate) alerts: Alerts,
    pub(crate) metrics: Metrics,
    pub(crate) auth: Auth,
    pub(crate) audit: Audit,
}

impl AppState {
    pub(crate) fn new(
        services: Services,
        config: &Config,
        stopping: CancellationToken,
    ) -> AppState {
        let Services {
            store,
            queries,
            engine,
            dashboards,
            alerts,
            metrics,
            auth,
            audit,
        } = services;
        AppState {
            engine,
            alerts,
            queries,
            store,
            dashboards,
            metrics,
            auth,
            audit,
            external_origin: config.external_url.as_deref().and_then(origin),
            secure_cookies: false,
            ingest_permits: Arc::new(Semaphore::new(config.max_concurrent_ingest)),
            render_permits: Arc::new(Semaphore::new(MAX_CONCURRENT_RENDERS)),
            max_result_rows: config.max_result_rows,
            max_body_bytes: config.max_body_bytes,
            leptos: leptos_options(&config.site_root),
            stopping,
            live_sockets: TaskTracker::new(),
        }
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> LeptosOptions {
        state.leptos.clone()
    }
}

/// The origin (scheme, host and port) of a URL: `https://weir.example.com/x` → `https://weir.example.com`.
fn origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next()?;
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

/// Where the built web app is served from (`pkg/weir.js`, `pkg/weir_bg.wasm`, `pkg/weir.css`).
fn leptos_options(site_root: &Path) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("weir")
        .site_root(site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build()
}
