//! The one route table: every path, the permission it needs, its handler in `routes/`, and the
//! layers around them. [`guard`] checks every request against the table's permissions; a route
//! without a declared permission is refused to everyone.

pub(crate) mod guard;
pub(crate) mod table;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::{Extension, Router};
use leptos::prelude::provide_context;
use leptos::server_fn::ServerFn;
use leptos_axum::{LeptosRoutes, generate_route_list};
use routes::dashboards as dash;
use routes::render;
use tower_http::compression::CompressionLayer;
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::trace::TraceLayer;

use self::guard::Guard;
use self::table::{Kind, Routes};
use crate::auth::access::Permission::{self, Admin, Ingest, Public, Read, Write};
use crate::routes;
use crate::state::AppState;

/// `POST /api/v1/query` bodies are SQL: 1 MiB is plenty.
const MAX_QUERY_BODY_BYTES: usize = 1 << 20;

/// A dashboard document: 100 panels of long SQL fit in 4 MiB.
const MAX_DASHBOARD_BODY_BYTES: usize = 4 << 20;

/// Alerting documents are small; 1 MiB is plenty.
const MAX_ALERTS_BODY_BYTES: usize = 1 << 20;

/// Logins and tokens are a few hundred bytes.
const MAX_AUTH_BODY_BYTES: usize = 64 << 10;

fn dashboards() -> Routes {
    Routes::new()
        .get("/api/v1/dashboards", Read, dash::list)
        .post("/api/v1/dashboards", Write, dash::create)
        .get("/api/v1/dashboards/{uid}", Read, dash::show)
        .put("/api/v1/dashboards/{uid}", Write, dash::update)
        .delete("/api/v1/dashboards/{uid}", Write, dash::delete)
        .get("/api/v1/dashboards/{uid}/versions", Read, dash::versions)
        .get(
            "/api/v1/dashboards/{uid}/versions/{version}",
            Read,
            dash::version,
        )
        .post(
            "/api/v1/dashboards/{uid}/versions/{version}/restore",
            Write,
            dash::restore,
        )
        .get("/api/v1/dashboards/{uid}/diff", Read, dash::diff)
        .get(
            "/api/v1/dashboards/{uid}/render.png",
            Read,
            render::dashboard,
        )
        .get(
            "/api/v1/dashboards/{uid}/panels/{id}/render.png",
            Read,
            render::panel,
        )
        .layer(DefaultBodyLimit::max(MAX_DASHBOARD_BODY_BYTES))
}

fn alerts() -> Routes {
    use routes::alerts as a;
    Routes::new()
        .get("/api/v1/alerts", Read, a::instances)
        .get("/api/v1/alerts/rules", Read, a::rules)
        .post("/api/v1/alerts/rules", Write, a::create_rule)
        .get("/api/v1/alerts/rules/{uid}", Read, a::rule)
        .put("/api/v1/alerts/rules/{uid}", Write, a::update_rule)
        .delete("/api/v1/alerts/rules/{uid}", Write, a::delete_rule)
        // Runs a rule's query over history, changing nothing.
        .post("/api/v1/alerts/rules/backtest", Read, a::backtest)
        .post("/api/v1/alerts/rules/{uid}/test", Read, a::test_rule)
        .get("/api/v1/alerts/contact-points", Read, a::contact_points)
        .post(
            "/api/v1/alerts/contact-points",
            Write,
            a::create_contact_point,
        )
        .get(
            "/api/v1/alerts/contact-points/{uid}",
            Read,
            a::contact_point,
        )
        .put(
            "/api/v1/alerts/contact-points/{uid}",
            Write,
            a::update_contact_point,
        )
        .delete(
            "/api/v1/alerts/contact-points/{uid}",
            Write,
            a::delete_contact_point,
        )
        .get("/api/v1/alerts/policy", Read, a::policy)
        .put("/api/v1/alerts/policy", Write, a::set_policy)
        .get("/api/v1/alerts/silences", Read, a::silences)
        .post("/api/v1/alerts/silences", Write, a::create_silence)
        .delete("/api/v1/alerts/silences/{id}", Write, a::delete_silence)
        .layer(DefaultBodyLimit::max(MAX_ALERTS_BODY_BYTES))
}

fn ingest(max_body_bytes: usize) -> Routes {
    use routes::{es, otlp};
    // Decompression runs before the body limit, so the limit bounds the decompressed size too.
    let decompressed = Routes::new()
        .post(
            "/api/v1/streams/{stream}/events",
            Ingest,
            routes::ingest::ingest,
        )
        .post("/api/v1/es/_bulk", Ingest, es::bulk)
        .put("/api/v1/es/_bulk", Ingest, es::bulk)
        .post("/api/v1/es/{index}/_bulk", Ingest, es::bulk_into)
        .put("/api/v1/es/{index}/_bulk", Ingest, es::bulk_into)
        .post("/v1/logs", Ingest, otlp::logs)
        .post("/v1/traces", Ingest, otlp::traces)
        .post("/v1/metrics", Ingest, otlp::metrics)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(RequestDecompressionLayer::new());
    // Remote write is snappy-compressed without saying so in a Content-Encoding the
    // decompression layer knows: its decoder reads the decompressed size first and bounds it.
    let remote_write = Routes::new()
        .post(
            "/api/v1/prom/remote/write",
            Ingest,
            routes::remote_write::write,
        )
        .layer(DefaultBodyLimit::max(max_body_bytes));
    // What Elasticsearch clients ask before they send (they are shippers: ingest tokens).
    let es_handshake = Routes::new()
        .get("/api/v1/es", Ingest, es::info)
        .get("/api/v1/es/", Ingest, es::info)
        .get("/api/v1/es/_license", Ingest, es::license)
        .get("/api/v1/es/_xpack", Ingest, es::xpack)
        .get("/api/v1/es/_cluster/health", Ingest, es::health);
    decompressed.merge(remote_write).merge(es_handshake)
}

fn queries() -> Routes {
    use routes::query as q;
    let bodies = Routes::new()
        .post("/api/v1/query", Read, q::query)
        .post("/api/v1/drill", Read, q::drill)
        .layer(DefaultBodyLimit::max(MAX_QUERY_BODY_BYTES));
    Routes::new()
        .get("/api/v1/query", Read, q::download)
        .get("/api/v1/query/{id}", Read, q::progress)
        .delete("/api/v1/query/{id}", Read, q::cancel)
        .get("/api/v1/streams", Read, routes::streams::list)
        .get("/api/v1/streams/{stream}", Read, routes::streams::show)
        .get("/api/v1/live", Read, routes::live::upgrade)
        .get("/api/v1/engine", Read, routes::engine::describe)
        .merge(bodies)
}

fn access() -> Routes {
    use routes::auth as a;
    Routes::new()
        .post("/api/v1/auth/login", Public, a::login)
        .post("/api/v1/auth/logout", Public, a::logout)
        .get("/api/v1/auth/me", Read, a::me)
        .get("/api/v1/auth/routes", Admin, a::routes)
        .get("/api/v1/tokens", Admin, a::tokens)
        .post("/api/v1/tokens", Admin, a::create_token)
        .delete("/api/v1/tokens/{id}", Admin, a::revoke_token)
        .get("/api/v1/users", Admin, a::users)
        .post("/api/v1/users", Admin, a::add_user)
        .put("/api/v1/users/{name}", Admin, a::change_user)
        .delete("/api/v1/users/{name}", Admin, a::remove_user)
        .layer(DefaultBodyLimit::max(MAX_AUTH_BODY_BYTES))
}

/// The web app's pages: what each needs. A page added to the app but not here is refused.
const PAGES: &[(&str, Permission)] = &[
    ("/login", Public),
    ("/", Read),
    ("/streams/{name}", Read),
    ("/explore/{stream}", Read),
    ("/sql", Read),
    ("/trace/{id}", Read),
    ("/dashboards", Read),
    ("/dashboards/{uid}", Read),
    ("/alerts", Read),
    ("/alerts/new", Write),
    ("/alerts/{uid}", Read),
    ("/alerts/{uid}/edit", Write),
    ("/admin", Admin),
];

/// The web app's server functions: what each needs. One added to the app but not here is
/// refused.
fn server_fns() -> Vec<(&'static str, Permission)> {
    use app::api::*;
    vec![
        (RunQuery::PATH, Read),
        (RunSql::PATH, Read),
        (QueryProgress::PATH, Read),
        (CancelQuery::PATH, Read),
        (DrillDown::PATH, Read),
        (ListDashboards::PATH, Read),
        (LoadDashboard::PATH, Read),
        (SaveDashboard::PATH, Write),
        (DeleteDashboard::PATH, Write),
        (ListAlertRules::PATH, Read),
        (ListAlertInstances::PATH, Read),
        (LoadAlertRule::PATH, Read),
        (SaveAlertRule::PATH, Write),
        (DeleteAlertRule::PATH, Write),
        (BacktestAlertRule::PATH, Read),
        (ListContactPoints::PATH, Read),
        (ListSilences::PATH, Read),
        (CreateSilence::PATH, Write),
        (DeleteSilence::PATH, Write),
        (AlertHistory::PATH, Read),
        (CurrentUser::PATH, Public),
        (ListTokens::PATH, Admin),
        (CreateToken::PATH, Admin),
        (RevokeToken::PATH, Admin),
        (ListUsers::PATH, Admin),
        (AddUser::PATH, Admin),
        (ChangeUser::PATH, Admin),
        (RemoveUser::PATH, Admin),
    ]
}

pub(crate) fn build(state: AppState) -> Router {
    let (api, mut permissions) = Routes::new()
        .get("/healthz", Public, routes::health::healthz)
        .get("/metrics", Read, routes::metrics::metrics)
        .merge(ingest(state.max_body_bytes))
        .merge(queries())
        .merge(dashboards())
        .merge(alerts())
        .merge(access())
        .into_parts();
    // The web app: its pages (rendered here, with the backend as context), its server
    // functions, and the built files under the site root. Leptos registers the pages and
    // server functions itself; their permissions come from the lists above.
    let pages = generate_route_list(app::App);
    for listing in &pages {
        let path = listing.path().to_owned();
        let permission = PAGES.iter().find(|(p, _)| *p == path).map(|(_, p)| *p);
        for method in listing.methods() {
            let method = Method::from_bytes(format!("{method:?}").to_uppercase().as_bytes())
                .unwrap_or(Method::GET);
            permissions.declare((method, path.clone()), permission, Kind::Page);
        }
    }
    let server_fns = server_fns();
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        let permission = server_fns.iter().find(|(p, _)| *p == path).map(|(_, p)| *p);
        permissions.declare((method, path.to_owned()), permission, Kind::ServerFn);
    }
    let permissions = Arc::new(permissions);
    let guard = Guard {
        auth: state.auth.clone(),
        audit: state.audit.clone(),
        permissions: Arc::clone(&permissions),
        external_origin: state.external_origin.clone(),
    };
    let backend = routes::web::backend(&state);
    let options = state.leptos.clone();
    api.leptos_routes_with_context(
        &state,
        pages,
        move || provide_context(backend.for_request()),
        move || app::shell(options.clone()),
    )
    // Every route, the app's included, passes the guard; the fallback (built files, 404s) is
    // public.
    .route_layer(axum::middleware::from_fn_with_state(guard, guard::guard))
    .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
        app::shell,
    ))
    .layer(Extension(permissions))
    .layer(axum::middleware::from_fn(routes::web::request_scope))
    .layer(CompressionLayer::new())
    .layer(TraceLayer::new_for_http())
    .with_state(state)
}
