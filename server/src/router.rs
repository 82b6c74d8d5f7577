//! The one route table, and the state every handler shares.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRef};
use axum::routing::{get, post};
use leptos::config::LeptosOptions;
use storage::Store;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::trace::TraceLayer;

use crate::config::Config;
use crate::engine::Engine;
use crate::query::QueryService;
use crate::{live, routes, web};

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) store: Arc<Store>,
    pub(crate) queries: QueryService,
    /// Continuous queries, shared by every live subscription.
    pub(crate) engine: Engine,
    pub(crate) ingest_permits: Arc<Semaphore>,
    pub(crate) max_result_rows: usize,
    pub(crate) max_body_bytes: usize,
    pub(crate) leptos: LeptosOptions,
    /// Cancelled when the server starts shutting down: live sockets close on it.
    pub(crate) stopping: CancellationToken,
    /// Live sockets outlive the HTTP graceful shutdown (an upgraded connection is no longer a
    /// request), so the server waits on them here to send each its close frame.
    pub(crate) live_sockets: TaskTracker,
}

impl AppState {
    pub(crate) fn new(store: Arc<Store>, config: &Config, stopping: CancellationToken) -> AppState {
        let queries = QueryService::new(Arc::clone(&store));
        AppState {
            engine: Engine::new(
                Arc::clone(&store),
                queries.clone(),
                config.engine.clone(),
                stopping.clone(),
            ),
            queries,
            store,
            ingest_permits: Arc::new(Semaphore::new(config.max_concurrent_ingest)),
            max_result_rows: config.max_result_rows,
            max_body_bytes: config.max_body_bytes,
            leptos: web::leptos_options(&config.site_root),
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

pub(crate) fn build(state: AppState) -> Router {
    // Decompression runs before the body limit, so the limit bounds the decompressed size too.
    let ingest = Router::new()
        .route(
            "/api/v1/streams/{stream}/events",
            post(routes::ingest::ingest),
        )
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(RequestDecompressionLayer::new());
    let api = Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/api/v1/streams", get(routes::streams::list))
        .route("/api/v1/streams/{stream}", get(routes::streams::show))
        .route(
            "/api/v1/query",
            post(routes::query::query).layer(DefaultBodyLimit::max(1 << 20)),
        )
        .route("/api/v1/live", get(live::upgrade))
        .route("/api/v1/engine", get(routes::engine::describe))
        .merge(ingest);
    web::routes(api, &state)
        .layer(CompressionLayer::new())
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}
