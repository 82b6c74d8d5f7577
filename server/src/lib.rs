//! Weir's server: the `weir` binary's library. [`serve`] runs everything on one listener: the
//! `/api/v1` HTTP API (ingest, streams, query), the `/api/v1/live` WebSocket hub, the web app
//! (server-rendered Leptos pages, server functions and the wasm bundle) and, with `--demo`, a
//! generator of web-service traffic.
//!
//! Storage is [`storage::Store`]; this crate adds HTTP, SQL (DataFusion) and the UI around it.

// Leptos views are deeply nested types; the web app's pages need more than the default 128.
#![recursion_limit = "256"]

mod alerts;
mod audit;
mod auth;
mod config;
mod dashboards;
mod demo;
mod engine;
mod error;
mod ingest;
mod meta;
mod metrics;
mod query;
mod router;
mod routes;
mod runtime;
mod state;
mod tls;

use std::future::Future;
use std::sync::Arc;

use storage::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use auth::Role;
pub use auth::users::{self as user, UserError, UserSummary};
pub use config::{Config, DemoConfig, EngineConfig, QueryLimits, StoreConfig, TlsConfig};
pub use dashboards::transfer::{
    Imported, export as export_dashboards, import as import_dashboards,
};
pub use error::Error;
pub use tls::TlsError;

/// How long shutdown waits for live sockets to send their close frames.
const LIVE_CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves on `listener` until `shutdown` completes, then stops accepting, lets requests in flight
/// finish, closes live sockets and stops the demo generator and the store's background work.
/// Every acknowledged event was fsync'd when it was acknowledged, so there is nothing to flush.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let metrics = metrics::Metrics::new();
    let mut store_config = config.store.clone();
    store_config.observer = Arc::new(metrics.clone());
    let store = Arc::new(Store::open(&config.data_dir, store_config).await?);
    let stopping = CancellationToken::new();
    // Tiering and compaction (zstd, Parquet, Delta commits) run below ingest's priority, on a
    // thread of their own: a burst of appends is acknowledged at full speed and the hot tier
    // moved after, rather than both at a rate that depends on when tiering happened to start.
    // The hot tier's bound (`max_hot_bytes`) turns a lasting shortfall into 503s.
    let maintenance_runtime =
        runtime::LowerRuntime::new("weir-maintain", 1, runtime::MAINTENANCE_NICENESS)
            .map_err(Error::MaintenanceRuntime)?;
    let maintenance = {
        let (store, stop) = (Arc::clone(&store), stopping.clone());
        maintenance_runtime
            .handle()
            .spawn(async move { store.maintain(stop.cancelled_owned()).await })
    };
    let meta = meta::Meta::open(&config.data_dir)?;
    let open = open_mode(&meta, &listener, &config).await?;
    let auth = auth::Auth::new(meta.clone(), open);
    let open_watch = open.then(|| tokio::spawn(auth.clone().watch_open(stopping.clone())));
    let provisioned = Arc::new(std::sync::RwLock::new(Default::default()));
    let provisioning = config.dashboards_dir.clone().map(|dir| {
        let loaded = dashboards::provision::load(&dir);
        dashboards::provision::report(&dir, &loaded);
        *provisioned.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        tokio::spawn(dashboards::provision::watch(
            dir,
            Arc::clone(&provisioned),
            stopping.clone(),
        ))
    });
    let dashboards = dashboards::Dashboards::new(meta.clone(), provisioned);
    if config.self_metrics_every.is_some() {
        match dashboards.create_if_absent(metrics::DASHBOARD).await {
            Ok(uid) => tracing::info!("Weir's own dashboard at /dashboards/{uid}"),
            Err(err) => tracing::warn!(%err, "Weir's own dashboard not made"),
        }
    }
    if config.demo.is_some() {
        match dashboards.create_if_absent(demo::DASHBOARD).await {
            Ok(uid) => tracing::info!("demo dashboard at /dashboards/{uid}"),
            Err(err) => tracing::warn!(%err, "demo dashboard not made"),
        }
    }
    let queries = query::QueryService::new(
        Arc::clone(&store),
        config.queries.clone(),
        config.data_dir.join("spill"),
    )
    .map_err(Error::QueryRuntime)?
    .with_metrics(metrics.clone());
    // The engine runs what a caller's own query service planned (`Engine::subscribe`).
    let engine = engine::Engine::new(
        Arc::clone(&store),
        queries.for_reader(query::Reader::Admin),
        config.engine.clone(),
        stopping.clone(),
    )
    .map_err(Error::EngineRuntime)?;
    let tls = match &config.tls {
        Some(t) => Some(tls::server_config(&t.cert, &t.key)?),
        None => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let external_url = config.external_url.clone().unwrap_or_else(|| {
        format!(
            "{scheme}://{}",
            listener
                .local_addr()
                .map_or_else(|_| "127.0.0.1".to_owned(), |a| a.to_string())
        )
    });
    let (alerts, alert_history) = alerts::Alerts::start(
        meta.clone(),
        engine.clone(),
        queries.clone(),
        Arc::clone(&store),
        external_url.trim_end_matches('/').to_owned(),
        stopping.clone(),
    )
    .await?;
    let alert_provisioning = match &config.alerts_dir {
        Some(dir) => {
            alerts::provision::report(&alerts.provision(dir).await);
            Some(tokio::spawn(alerts::provision::watch(
                alerts.clone(),
                dir.clone(),
                stopping.clone(),
            )))
        }
        None => None,
    };
    let services = state::Services {
        audit: audit::Audit::new(Arc::clone(&store)),
        store: Arc::clone(&store),
        queries,
        engine,
        dashboards,
        alerts,
        metrics: metrics.clone(),
        auth,
    };
    let mut state = state::AppState::new(services, &config, stopping.clone());
    state.secure_cookies = tls.is_some();
    metrics.collect_from(metrics::Sources {
        store: Arc::clone(&state.store),
        engine: state.engine.clone(),
        live_sockets: state.live_sockets.clone(),
        alerts: state.alerts.clone(),
    });
    let self_scrape = config.self_metrics_every.map(|every| {
        tokio::spawn(metrics::scrape::run(
            metrics.clone(),
            Arc::clone(&store),
            every,
            stopping.clone(),
        ))
    });
    let demo = config.demo.as_ref().map(|demo| {
        tokio::spawn(demo::run(
            demo::Sink {
                store: Arc::clone(&store),
                metrics: metrics.clone(),
            },
            demo.clone(),
            stopping.clone(),
        ))
    });
    let live_sockets = state.live_sockets.clone();
    let app = router::build(state);
    let addr = listener.local_addr().map_err(Error::Listen)?;
    tracing::info!(data_dir = %config.data_dir.display(), "listening on {scheme}://{addr}");
    let on_shutdown = stopping.clone();
    let graceful = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        on_shutdown.cancel();
    };
    let peers = || app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    match tls {
        None => {
            axum::serve(listener, peers())
                .with_graceful_shutdown(graceful)
                .await
        }
        Some(tls) => {
            use axum::serve::ListenerExt;
            // `tap_io` gives the TLS listener's connections their peer address (ConnectInfo).
            let listener = tls::TlsListener::new(listener, tls)
                .map_err(Error::Listen)?
                .tap_io(|_| {});
            axum::serve(listener, peers())
                .with_graceful_shutdown(graceful)
                .await
        }
    }
    .map_err(Error::Listen)?;
    stopping.cancel();
    live_sockets.close();
    if tokio::time::timeout(LIVE_CLOSE_GRACE, live_sockets.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = live_sockets.len(),
            "live sockets did not close in time"
        );
    }
    if let Some(demo) = demo {
        let _ = demo.await;
    }
    if let Some(open_watch) = open_watch {
        let _ = open_watch.await;
    }
    if let Some(self_scrape) = self_scrape {
        let _ = self_scrape.await;
    }
    if let Some(provisioning) = provisioning {
        let _ = provisioning.await;
    }
    if let Some(provisioning) = alert_provisioning {
        let _ = provisioning.await;
    }
    let _ = alert_history.await;
    // Tiering stops at a safe point: a commit under way finishes; the WAL covers the rest.
    let _ = maintenance.await;
    tracing::info!("stopped");
    Ok(())
}

/// Whether the server runs open (no credentials needed): only with no users, and only on a
/// loopback address unless `--insecure-no-auth` says otherwise. Off loopback with neither users
/// nor tokens, it does not start.
async fn open_mode(
    meta: &meta::Meta,
    listener: &TcpListener,
    config: &Config,
) -> Result<bool, Error> {
    let address = listener.local_addr().map_err(Error::Listen)?;
    let (users, tokens) = meta.credential_counts(storage::now_micros()).await?;
    if users > 0 {
        return Ok(false);
    }
    if address.ip().is_loopback() || config.insecure_no_auth {
        tracing::info!("open: no users yet, so every request may do anything");
        return Ok(true);
    }
    if tokens > 0 {
        return Ok(false);
    }
    Err(Error::NoUsers {
        address: address.to_string(),
        data_dir: config.data_dir.display().to_string(),
    })
}
