//! SQL over the store with DataFusion: one session whose `weir.public` schema is the streams
//! (snapshotted per query) and whose `weir.system` schema describes them.
//!
//! **Architecture Invariant:** queries are read-only. DDL, DML (including `COPY … TO`) and
//! statements such as `SET` are refused at planning, and no file-reading table function is
//! registered, so SQL can read streams and nothing else.

pub(crate) mod format;
mod system;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider};
use datafusion::error::Result;
use datafusion::execution::context::SessionState;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use storage::Store;

/// Memory DataFusion may use for all queries running at once (sorts and aggregations past it
/// fail with "resources exhausted" rather than taking the process down).
const QUERY_MEMORY_BYTES: usize = 2 << 30;

/// Runs SQL against the store.
#[derive(Clone)]
pub(crate) struct QueryService {
    ctx: SessionContext,
}

/// The result of one query: its schema, its rows (up to a limit), and whether rows were left out.
pub(crate) struct QueryOutput {
    pub(crate) schema: SchemaRef,
    pub(crate) batches: Vec<RecordBatch>,
    pub(crate) truncated: bool,
}

impl QueryService {
    pub(crate) fn new(store: Arc<Store>) -> QueryService {
        let partitions = std::thread::available_parallelism().map_or(2, usize::from);
        let mut config = SessionConfig::new()
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema("weir", "public")
            .with_information_schema(false)
            .with_target_partitions(partitions);
        // Filters run inside the Parquet scan, cheapest first, so the other columns are decoded
        // only for matching rows: a needle query (one trace, one user) reads little more than
        // the filtered column (docs/benchmarks.md, Q5 and Q7).
        let parquet = &mut config.options_mut().execution.parquet;
        parquet.pushdown_filters = true;
        parquet.reorder_filters = true;
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_limit(QUERY_MEMORY_BYTES, 1.0)
            .build_arc()
            .expect("a memory pool with a fixed limit always builds");
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        let catalog = MemoryCatalogProvider::new();
        catalog
            .register_schema("public", store.schema_provider())
            .expect("a memory catalog accepts schemas");
        catalog
            .register_schema("system", Arc::new(system::SystemSchema::new(store)))
            .expect("a memory catalog accepts schemas");
        ctx.register_catalog("weir", Arc::new(catalog));
        QueryService { ctx }
    }

    /// Whether a stream (or a system table) of that name is there to query.
    pub(crate) fn has_table(&self, name: &str) -> bool {
        self.ctx.table_exist(name).unwrap_or(false)
    }

    /// Plans read-only `sql` and analyzes it (types resolved and coerced), unoptimized: the
    /// plan the incremental engine compiles. The state is the session it was planned in.
    pub(crate) async fn analyze(&self, sql: &str) -> Result<(LogicalPlan, SessionState)> {
        analyze(&self.ctx, sql).await
    }

    /// Plans and runs read-only `sql`, keeping at most `max_rows` rows.
    pub(crate) async fn run(&self, sql: &str, max_rows: usize) -> Result<QueryOutput> {
        let frame = self.ctx.sql_with_options(sql, read_only()).await?;
        let schema: SchemaRef = Arc::clone(frame.schema().inner());
        let mut stream = frame.execute_stream().await?;
        let mut batches = Vec::new();
        let mut n_rows = 0;
        let mut truncated = false;
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if n_rows + batch.num_rows() > max_rows {
                batches.push(batch.slice(0, max_rows - n_rows));
                truncated = true;
                break;
            }
            n_rows += batch.num_rows();
            batches.push(batch);
        }
        Ok(QueryOutput {
            schema,
            batches,
            truncated,
        })
    }
}

fn read_only() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Plans read-only `sql` in `ctx` and runs DataFusion's analyzer on it.
pub(crate) async fn analyze(
    ctx: &SessionContext,
    sql: &str,
) -> Result<(LogicalPlan, SessionState)> {
    let frame = ctx.sql_with_options(sql, read_only()).await?;
    let (state, plan) = frame.into_parts();
    let plan = state
        .analyzer()
        .execute_and_check(plan, state.config_options(), |_, _| {})?;
    Ok((plan, state))
}

#[cfg(test)]
mod tests;
