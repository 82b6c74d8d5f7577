//! The web app on the server: Leptos pages rendered here, server functions, and the built wasm
//! bundle and CSS served from the site root. The app reaches data only through [`app::api::Backend`].

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use app::api::{Backend, Column, QueryResult};
use axum::Router;
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{LeptosRoutes, generate_route_list};

use crate::error::ApiError;
use crate::query::{QueryService, format};
use crate::router::AppState;

pub(crate) fn leptos_options(site_root: &Path) -> LeptosOptions {
    LeptosOptions::builder()
        .output_name("weir")
        .site_root(site_root.to_string_lossy().into_owned())
        .site_pkg_dir("pkg")
        .build()
}

pub(crate) fn routes(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let backend: Arc<dyn Backend> = Arc::new(AppBackend {
        queries: state.queries.clone(),
        max_rows: state.max_result_rows,
    });
    let options = state.leptos.clone();
    router
        .leptos_routes_with_context(
            state,
            generate_route_list(app::App),
            move || provide_context(Arc::clone(&backend)),
            move || app::shell(options.clone()),
        )
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(
            app::shell,
        ))
}

struct AppBackend {
    queries: QueryService,
    max_rows: usize,
}

#[async_trait::async_trait]
impl Backend for AppBackend {
    async fn query(&self, sql: String) -> Result<QueryResult, String> {
        let watermark = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let output = self
            .queries
            .run(&sql, self.max_rows)
            .await
            .map_err(|e| ApiError::from(e).message)?;
        let rows = format::rows(&output).map_err(|e| e.to_string())?;
        Ok(QueryResult {
            columns: output
                .schema
                .fields()
                .iter()
                .map(|f| Column {
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                })
                .collect(),
            rows,
            watermark,
        })
    }
}
