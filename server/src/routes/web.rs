//! The web app's server side: the [`Backend`] its pages and server functions reach data through
//! (the route table mounts the pages, the server functions and the built files).

use std::sync::Arc;

use app::api::Backend;
use protocol::QueryResult;
use storage::now_micros;

use crate::error::ApiError;
use crate::query::{QueryService, format};
use crate::state::AppState;

/// The backend the app's pages get as context.
pub(crate) fn backend(state: &AppState) -> Arc<dyn Backend> {
    Arc::new(AppBackend {
        queries: state.queries.clone(),
        max_rows: state.max_result_rows,
    })
}

struct AppBackend {
    queries: QueryService,
    max_rows: usize,
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
}
