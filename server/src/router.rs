//! The one route table: every path, its handler in `routes/`, and the layers around them.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};
use routes::dashboards as dash;
use routes::render;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::trace::TraceLayer;

use crate::routes;
use crate::state::AppState;

/// `POST /api/v1/query` bodies are SQL: 1 MiB is plenty.
const MAX_QUERY_BODY_BYTES: usize = 1 << 20;

/// A dashboard document: 100 panels of long SQL fit in 4 MiB.
const MAX_DASHBOARD_BODY_BYTES: usize = 4 << 20;

fn dashboards() -> Router<AppState> {
    Router::new()
        .route("/api/v1/dashboards", get(dash::list).post(dash::create))
        .route(
            "/api/v1/dashboards/{uid}",
            get(dash::show).put(dash::update).delete(dash::delete),
        )
        .route("/api/v1/dashboards/{uid}/versions", get(dash::versions))
        .route(
            "/api/v1/dashboards/{uid}/versions/{version}",
            get(dash::version),
        )
        .route(
            "/api/v1/dashboards/{uid}/versions/{version}/restore",
            post(dash::restore),
        )
        .route("/api/v1/dashboards/{uid}/diff", get(dash::diff))
        .route(
            "/api/v1/dashboards/{uid}/render.png",
            get(render::dashboard),
        )
        .route(
            "/api/v1/dashboards/{uid}/panels/{id}/render.png",
            get(render::panel),
        )
        .layer(DefaultBodyLimit::max(MAX_DASHBOARD_BODY_BYTES))
}

/// Alerting documents are small; 1 MiB is plenty.
const MAX_ALERTS_BODY_BYTES: usize = 1 << 20;

fn alerts() -> Router<AppState> {
    use routes::alerts as a;
    Router::new()
        .route("/api/v1/alerts", get(a::instances))
        .route("/api/v1/alerts/rules", get(a::rules).post(a::create_rule))
        .route(
            "/api/v1/alerts/rules/{uid}",
            get(a::rule).put(a::update_rule).delete(a::delete_rule),
        )
        .route("/api/v1/alerts/rules/backtest", post(a::backtest))
        .route("/api/v1/alerts/rules/{uid}/test", post(a::test_rule))
        .route(
            "/api/v1/alerts/contact-points",
            get(a::contact_points).post(a::create_contact_point),
        )
        .route(
            "/api/v1/alerts/contact-points/{uid}",
            get(a::contact_point)
                .put(a::update_contact_point)
                .delete(a::delete_contact_point),
        )
        .route("/api/v1/alerts/policy", get(a::policy).put(a::set_policy))
        .route(
            "/api/v1/alerts/silences",
            get(a::silences).post(a::create_silence),
        )
        .route(
            "/api/v1/alerts/silences/{id}",
            axum::routing::delete(a::delete_silence),
        )
        .layer(DefaultBodyLimit::max(MAX_ALERTS_BODY_BYTES))
}

pub(crate) fn build(state: AppState) -> Router {
    // Decompression runs before the body limit, so the limit bounds the decompressed size too.
    let ingest = Router::new()
        .route(
            "/api/v1/streams/{stream}/events",
            post(routes::ingest::ingest),
        )
        .route(
            "/api/v1/es/_bulk",
            post(routes::es::bulk).put(routes::es::bulk),
        )
        .route(
            "/api/v1/es/{index}/_bulk",
            post(routes::es::bulk_into).put(routes::es::bulk_into),
        )
        .route("/v1/logs", post(routes::otlp::logs))
        .route("/v1/traces", post(routes::otlp::traces))
        .route("/v1/metrics", post(routes::otlp::metrics))
        .layer(DefaultBodyLimit::max(state.max_body_bytes))
        .layer(RequestDecompressionLayer::new());
    // Remote write is snappy-compressed without saying so in a Content-Encoding the
    // decompression layer knows: its decoder reads the decompressed size first and bounds it.
    let remote_write = Router::new()
        .route(
            "/api/v1/prom/remote/write",
            post(routes::remote_write::write),
        )
        .layer(DefaultBodyLimit::max(state.max_body_bytes));
    let api = Router::new()
        .route("/healthz", get(routes::health::healthz))
        .route("/metrics", get(routes::metrics::metrics))
        .route("/api/v1/streams", get(routes::streams::list))
        .route("/api/v1/streams/{stream}", get(routes::streams::show))
        .route(
            "/api/v1/query",
            post(routes::query::query)
                .get(routes::query::download)
                .layer(DefaultBodyLimit::max(MAX_QUERY_BODY_BYTES)),
        )
        .route(
            "/api/v1/query/{id}",
            get(routes::query::progress).delete(routes::query::cancel),
        )
        .route(
            "/api/v1/drill",
            post(routes::query::drill).layer(DefaultBodyLimit::max(MAX_QUERY_BODY_BYTES)),
        )
        .route("/api/v1/live", get(routes::live::upgrade))
        .route("/api/v1/es", get(routes::es::info).head(routes::es::info))
        .route("/api/v1/es/", get(routes::es::info).head(routes::es::info))
        .route("/api/v1/es/_license", get(routes::es::license))
        .route("/api/v1/es/_xpack", get(routes::es::xpack))
        .route("/api/v1/es/_cluster/health", get(routes::es::health))
        .route("/api/v1/engine", get(routes::engine::describe))
        .merge(ingest)
        .merge(remote_write)
        .merge(dashboards())
        .merge(alerts());
    // The web app: its pages (rendered here, with the backend as context), its server
    // functions, and the built files under the site root.
    let backend = routes::web::backend(&state);
    let options = state.leptos.clone();
    api.leptos_routes_with_context(
        &state,
        generate_route_list(app::App),
        move || provide_context(backend.for_request()),
        move || app::shell(options.clone()),
    )
    .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
        app::shell,
    ))
    .layer(axum::middleware::from_fn(routes::web::request_scope))
    .layer(CompressionLayer::new())
    .layer(TraceLayer::new_for_http())
    .with_state(state)
}
