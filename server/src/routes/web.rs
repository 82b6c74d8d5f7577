//! The web app's server side: the [`Backend`] its pages and server functions reach data through
//! (the route table mounts the pages, the server functions and the built files).

use std::sync::Arc;

use app::api::Backend;
use protocol::QueryResult;
use protocol::dashboard::{Dashboard, Found, Listing};
use storage::now_micros;

use crate::dashboards::{self, Dashboards};
use crate::error::ApiError;
use crate::query::{QueryService, format};
use crate::state::AppState;

/// The backend the app's pages get as context.
pub(crate) fn backend(state: &AppState) -> Arc<dyn Backend> {
    let backend: Arc<dyn Backend> = Arc::new(AppBackend {
        queries: state.queries.clone(),
        max_rows: state.max_result_rows,
        dashboards: state.dashboards.clone(),
    });
    app::api::install_backend(Arc::clone(&backend));
    backend
}

struct AppBackend {
    queries: QueryService,
    max_rows: usize,
    dashboards: Dashboards,
}

fn client_error(err: impl Into<ApiError>) -> protocol::Error {
    err.into().into_inner()
}

#[async_trait::async_trait]
impl Backend for AppBackend {
    async fn query(&self, sql: String) -> Result<QueryResult, protocol::Error> {
        let now = now_micros();
        let output = self
            .queries
            .run(&sql, self.max_rows)
            .await
            .map_err(|e| ApiError::from(e).into_inner())?;
        format::result(&output, now).map_err(|e| ApiError::from(e).into_inner())
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
        if dashboard.version == 0 {
            self.dashboards.create(dashboard).await
        } else {
            self.dashboards.update(dashboard, message).await
        }
        .map_err(client_error)
    }

    async fn delete_dashboard(&self, uid: String) -> Result<(), protocol::Error> {
        self.dashboards.delete(&uid).await.map_err(client_error)
    }
}
