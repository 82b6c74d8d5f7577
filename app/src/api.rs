//! What the app asks of the server: query results, and the server function that runs a query.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// A query result as the HTTP API and the live protocol carry it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<serde_json::Value>>,
    /// When the result was computed, in µs since the epoch: it holds every event acknowledged
    /// before then.
    #[serde(default)]
    pub watermark: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

impl QueryResult {
    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// What the server provides to the app as context, on the server only.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Runs read-only SQL; the error is a message for the user.
    async fn query(&self, sql: String) -> Result<QueryResult, String>;
}

/// Runs read-only SQL on the server (directly while rendering there, over HTTP from the browser).
#[server(prefix = "/app/fn")]
pub async fn run_query(sql: String) -> Result<QueryResult, ServerFnError> {
    let backend = use_context::<std::sync::Arc<dyn Backend>>()
        .ok_or_else(|| ServerFnError::new("the server provided no backend"))?;
    backend.query(sql).await.map_err(ServerFnError::new)
}
