//! SQL over the store with DataFusion: one session whose `weir.public` schema is the streams
//! (snapshotted per query) and whose `weir.system` schema describes them. Queries run within
//! [`limits`]: on a runtime of their own, each with a time and a memory limit.
//!
//! **Architecture Invariant:** queries are read-only. DDL, DML (including `COPY … TO`) and
//! statements such as `SET` are refused at planning, and no file-reading table function is
//! registered, so SQL can read streams and nothing else.

mod drill;
pub(crate) mod format;
mod functions;
mod limits;
mod partials;
pub(crate) mod running;
mod system;
mod topk;
pub(crate) mod views;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemoryCatalogProviderList};
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::SessionState;
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, MemoryPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext};
use futures::StreamExt;
use storage::Store;
use tokio::sync::Semaphore;
use tokio_util::task::AbortOnDropHandle;

pub(crate) use drill::drill;
pub use limits::QueryLimits;
pub(crate) use views::Reader;

use crate::metrics::{Metrics, QueryKind};
use crate::runtime::LowerRuntime;
use limits::{QUERY_NICENESS, QueryPool, mib, out_of_memory, yielding};

/// Runs SQL against the store, for one kind of [`Reader`]: a service is made for anyone (the
/// streams for admins only are not there), and [`QueryService::reading_as`] gives a caller's.
#[derive(Clone)]
pub(crate) struct QueryService {
    /// Who queries plan for: their session is [`QueryService::ctx`].
    reader: Reader,
    /// The session of each reader.
    views: Arc<Views>,
    runtime: Arc<LowerRuntime>,
    /// The pool every query's own [`QueryPool`] draws from.
    memory: Arc<dyn MemoryPool>,
    limits: QueryLimits,
    /// Turns of history queries ([`QueryService::run`]).
    turns: Arc<Semaphore>,
    /// Queries running under an id ([`QueryService::run_as`]).
    pub(crate) running: running::Running,
    /// Where each query's duration and failure are counted.
    metrics: Metrics,
    /// Lake files' partial aggregates, kept between queries (the rule holds them; tests look).
    #[cfg(test)]
    pub(crate) partials: Arc<partials::PartialCache>,
}

struct Views {
    anyone: SessionContext,
    admin: SessionContext,
}

/// Why a query gave no result.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The SQL is wrong, a stream it names is not there, or the pool all queries share is full.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    #[error(
        "the query ran for longer than its limit of {0:?}: it was stopped; narrow its time range \
         or filters (the limit is `weir serve --query-timeout-secs`)"
    )]
    TimeLimit(Duration),
    #[error(
        "the query needs more memory than its limit of {} MiB and cannot spill what it holds to \
         disk: it was stopped; narrow its time range, group by fewer values, or raise \
         `weir serve --query-memory-bytes` ({detail})",
        mib(*limit)
    )]
    MemoryLimit { limit: usize, detail: String },
    #[error(
        "{0} queries are running, the most this server runs at once, and none ended within {1:?}: \
         retry shortly"
    )]
    Busy(usize, Duration),
    /// The SQL names a stream whose name is a keyword without quotes.
    #[error(
        "{parse}. `{name}` is a stream whose name is an SQL keyword: write it in double quotes, as \"{name}\""
    )]
    KeywordName { name: String, parse: String },
    /// The events behind a row of the query's result cannot be told.
    #[error("cannot drill down: {0}")]
    Drill(String),
    /// Stopped by `DELETE /api/v1/query/{id}`.
    #[error("the query was cancelled")]
    Cancelled,
    /// Another query runs under the id asked for.
    #[error("a query with the id `{0}` is running: choose another id")]
    IdInUse(String),
    /// A bug: the query's task panicked.
    #[error("the query failed: {0}")]
    Panicked(String),
}

impl Error {
    /// Every [`Error::reason`].
    pub(crate) const REASONS: [&'static str; 8] = [
        "query",
        "time_limit",
        "memory_limit",
        "busy",
        "drill",
        "cancelled",
        "id_in_use",
        "panicked",
    ];

    /// A word for why the query failed, as Weir's metrics label it (one of [`Error::REASONS`]).
    pub(crate) fn reason(&self) -> &'static str {
        match self {
            Error::DataFusion(_) | Error::KeywordName { .. } => "query",
            Error::TimeLimit(_) => "time_limit",
            Error::MemoryLimit { .. } => "memory_limit",
            Error::Busy(..) => "busy",
            Error::Drill(_) => "drill",
            Error::Cancelled => "cancelled",
            Error::IdInUse(_) => "id_in_use",
            Error::Panicked(_) => "panicked",
        }
    }

    /// The limit a query met, if that is why it failed.
    fn exceeded_memory(err: DataFusionError, pool: &QueryPool, limit: usize) -> Error {
        if pool.refused() && out_of_memory(&err) {
            Error::MemoryLimit {
                limit,
                detail: err.find_root().to_string(),
            }
        } else {
            Error::DataFusion(err)
        }
    }
}

/// The result of one query: its schema, its rows (up to a limit), and whether rows were left out.
pub(crate) struct QueryOutput {
    pub(crate) schema: SchemaRef,
    pub(crate) batches: Vec<RecordBatch>,
    pub(crate) truncated: bool,
}

impl QueryService {
    /// A query service over `store`, spilling under `spill_dir` (emptied first: what is there
    /// belonged to queries of an earlier run).
    pub(crate) fn new(
        store: Arc<Store>,
        limits: QueryLimits,
        spill_dir: PathBuf,
    ) -> std::io::Result<QueryService> {
        let partitions = std::thread::available_parallelism().map_or(2, usize::from);
        let mut config = SessionConfig::new()
            .with_create_default_catalog_and_schema(false)
            .with_default_catalog_and_schema("weir", "public")
            .with_information_schema(false)
            .with_target_partitions(partitions);
        // Filters run inside the Parquet scan, so the other columns are decoded only for
        // matching rows: a needle query (one trace, one user) reads little more than the
        // filtered column (docs/benchmarks.md, Q5 and Q7). In the query's order, not smallest
        // column first: that put a top k's dynamic filter on `_time` (true for nearly every row
        // of the files it lets through) before the needle, decoding `_time` for every row.
        let parquet = &mut config.options_mut().execution.parquet;
        parquet.pushdown_filters = true;
        parquet.reorder_filters = false;
        match std::fs::remove_dir_all(&spill_dir) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err),
            _ => std::fs::create_dir_all(&spill_dir)?,
        }
        // Fairness is kept within each query (`QueryPool`); across queries, first come first
        // served.
        let memory: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(limits.memory_total));
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::clone(&memory))
            .with_disk_manager_builder(
                DiskManagerBuilder::default()
                    .with_mode(DiskManagerMode::Directories(vec![spill_dir])),
            )
            .build_arc()
            .map_err(std::io::Error::other)?;
        let cache = Arc::new(partials::PartialCache::new(limits.partial_cache_bytes));
        let mut state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(topk::OneHeapTopK));
        if limits.partial_cache_bytes > 0 {
            state = state.with_physical_optimizer_rule(Arc::new(partials::CachePartials {
                cache: Arc::clone(&cache),
            }));
        }
        let state = state.build();
        // Each reader's session: the same configuration and runtime, its own catalog.
        let view = |reader: Reader| {
            let state = SessionStateBuilder::new_from_existing(state.clone())
                .with_catalog_list(Arc::new(MemoryCatalogProviderList::new()))
                .build();
            let ctx = SessionContext::new_with_state(state);
            for function in functions::all() {
                ctx.register_udf(function);
            }
            let streams = views::Streams {
                streams: store.schema_provider(),
                reader,
            };
            let catalog = MemoryCatalogProvider::new();
            catalog
                .register_schema("public", Arc::new(streams))
                .expect("a memory catalog accepts schemas");
            let system = system::SystemSchema::new(Arc::clone(&store), reader);
            catalog
                .register_schema("system", Arc::new(system))
                .expect("a memory catalog accepts schemas");
            ctx.register_catalog("weir", Arc::new(catalog));
            ctx
        };
        let views = Arc::new(Views {
            anyone: view(Reader::Anyone),
            admin: view(Reader::Admin),
        });
        Ok(QueryService {
            reader: Reader::Anyone,
            views,
            runtime: Arc::new(LowerRuntime::new("weir-query", partitions, QUERY_NICENESS)?),
            memory,
            turns: Arc::new(Semaphore::new(limits.max_concurrent)),
            running: running::Running::default(),
            metrics: Metrics::default(),
            #[cfg(test)]
            partials: cache,
            limits,
        })
    }

    /// The service, counting its queries in `metrics`.
    pub(crate) fn with_metrics(mut self, metrics: Metrics) -> QueryService {
        self.metrics = metrics;
        self
    }

    /// The service for `caller`: admins read every stream, anyone else all but the admins'.
    pub(crate) fn reading_as(&self, caller: &crate::auth::Caller) -> QueryService {
        let admin = caller.allows(crate::auth::access::Permission::Admin);
        self.for_reader(if admin { Reader::Admin } else { Reader::Anyone })
    }

    /// The service for `reader`. The engine runs as [`Reader::Admin`] what a caller's service
    /// planned (and checked) first.
    pub(crate) fn for_reader(&self, reader: Reader) -> QueryService {
        QueryService {
            reader,
            ..self.clone()
        }
    }

    /// The session queries plan in: the streams the reader may read.
    fn ctx(&self) -> &SessionContext {
        match self.reader {
            Reader::Anyone => &self.views.anyone,
            Reader::Admin => &self.views.admin,
        }
    }

    /// Whether queries of this service may read `stream`.
    pub(crate) fn may_read(&self, stream: &str) -> bool {
        self.reader.may_read(stream)
    }

    /// Counts a query of `kind` that started at `started` and came to `result`.
    fn count<T>(&self, kind: QueryKind, started: std::time::Instant, result: &Result<T, Error>) {
        let reason = result.as_ref().err().map(Error::reason);
        self.metrics.query(kind, started.elapsed(), reason);
    }

    /// Whether a stream (or a system table) of that name is there to query.
    pub(crate) fn has_table(&self, name: &str) -> bool {
        self.ctx().table_exist(name).unwrap_or(false)
    }

    /// Plans read-only `sql` and analyzes it (types resolved and coerced), unoptimized: the
    /// plan the incremental engine compiles. The state is the session it was planned in.
    pub(crate) async fn analyze(&self, sql: &str) -> Result<(LogicalPlan, SessionState)> {
        analyze(self.ctx(), sql).await
    }

    /// Plans and runs read-only `sql` as a history query, keeping at most `max_rows` rows: it
    /// waits for one of the turns history queries share, then runs within the limits. Dropping
    /// the future stops the query.
    pub(crate) async fn run(&self, sql: &str, max_rows: usize) -> Result<QueryOutput, Error> {
        self.run_as(sql, max_rows, None).await
    }

    /// [`QueryService::run`], under `id` when given: its progress can be asked for and it
    /// can be cancelled ([`running::Running`]) until it ends.
    pub(crate) async fn run_as(
        &self,
        sql: &str,
        max_rows: usize,
        id: Option<&str>,
    ) -> Result<QueryOutput, Error> {
        let started = std::time::Instant::now();
        let result = self.run_registered(sql, max_rows, id).await;
        self.count(QueryKind::History, started, &result);
        result
    }

    async fn run_registered(
        &self,
        sql: &str,
        max_rows: usize,
        id: Option<&str>,
    ) -> Result<QueryOutput, Error> {
        let registered = match id {
            Some(id) => Some(
                self.running
                    .register(id)
                    .ok_or_else(|| Error::IdInUse(id.to_owned()))?,
            ),
            None => None,
        };
        let entry = registered.as_ref().map(|r| Arc::clone(&r.entry));
        let cancel = entry.as_ref().map(|e| e.cancel.clone()).unwrap_or_default();
        let started = tokio::time::Instant::now();
        let wait = self.limits.queue_wait.min(self.limits.timeout);
        let turn = tokio::time::timeout(wait, Arc::clone(&self.turns).acquire_owned());
        let _turn = tokio::select! {
            turn = turn => turn
                .map_err(|_| Error::Busy(self.limits.max_concurrent, wait))?
                .expect("the semaphore is never closed"),
            () = cancel.cancelled() => return Err(Error::Cancelled),
        };
        let time = self.limits.timeout.saturating_sub(started.elapsed());
        tokio::select! {
            output = self.execute(sql, max_rows, time, entry) => output,
            // Dropping the query's future stops it (its task is aborted on drop).
            () = cancel.cancelled() => Err(Error::Cancelled),
        }
    }

    /// Runs `sql` as [`QueryService::run`] does, without waiting for a turn: for the engine's
    /// re-queried continuous queries, which are few and must not queue behind history.
    pub(crate) async fn run_live(&self, sql: &str, max_rows: usize) -> Result<QueryOutput, Error> {
        let started = std::time::Instant::now();
        let result = self.execute(sql, max_rows, self.limits.timeout, None).await;
        self.count(QueryKind::Live, started, &result);
        result
    }

    /// Runs `sql` on the query runtime, in a session whose memory is its own [`QueryPool`],
    /// stopped when `time` runs out or the returned future is dropped.
    async fn execute(
        &self,
        sql: &str,
        max_rows: usize,
        time: Duration,
        entry: Option<Arc<running::Entry>>,
    ) -> Result<QueryOutput, Error> {
        let limit = self.limits.memory_per_query;
        let pool = Arc::new(QueryPool::new(Arc::clone(&self.memory), limit));
        let runtime = RuntimeEnvBuilder::from_runtime_env(&self.ctx().runtime_env())
            .with_memory_pool(Arc::clone(&pool) as Arc<dyn MemoryPool>)
            .build_arc()?;
        let state = SessionStateBuilder::new_from_existing(self.ctx().state())
            .with_runtime_env(runtime)
            .build();
        let ctx = SessionContext::new_with_state(state);
        let owned = sql.to_owned();
        // Aborted when dropped: by the time limit, or by a caller that stopped waiting.
        let task = AbortOnDropHandle::new(
            self.runtime
                .handle()
                .spawn(async move { collect(&ctx, &owned, max_rows, entry).await }),
        );
        match tokio::time::timeout(time, task).await {
            Err(_) => Err(Error::TimeLimit(self.limits.timeout)),
            Ok(Err(join)) => Err(Error::Panicked(join.to_string())),
            Ok(Ok(output)) => output
                .map_err(|err| self.keyword_hint(sql, Error::exceeded_memory(err, &pool, limit))),
        }
    }

    /// A parse error in SQL that names a stream without quotes right after FROM or JOIN, or
    /// at such a word: the stream's name is an SQL keyword (`FROM table`), and quoting it is
    /// the fix.
    fn keyword_hint(&self, sql: &str, err: Error) -> Error {
        let Error::DataFusion(inner) = &err else {
            return err;
        };
        let DataFusionError::SQL(parser, _) = inner.find_root() else {
            return err;
        };
        let text = parser.to_string();
        let found = text.split("found: ").nth(1).map(|f| {
            f.split(" at Line")
                .next()
                .unwrap_or(f)
                .trim()
                .to_lowercase()
        });
        let words: Vec<String> = sql
            .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')' || c == ';')
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let after_from = words
            .windows(2)
            .filter(|w| w[0] == "from" || w[0] == "join")
            .map(|w| w[1].clone());
        let keyword = |word: &str| {
            let upper = word.to_uppercase();
            datafusion::sql::sqlparser::keywords::ALL_KEYWORDS.contains(&upper.as_str())
        };
        let Some(name) = found.into_iter().chain(after_from).find(|word| {
            word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && keyword(word)
                && self.has_table(&format!("\"{word}\""))
        }) else {
            return err;
        };
        let parse = text.strip_prefix("sql parser error: ").unwrap_or(&text);
        Error::KeywordName {
            name,
            parse: format!("SQL error: {parse}"),
        }
    }
}

/// Plans and runs read-only `sql` in `ctx`, keeping at most `max_rows` rows (and its plan in
/// `entry`, for its progress).
async fn collect(
    ctx: &SessionContext,
    sql: &str,
    max_rows: usize,
    entry: Option<Arc<running::Entry>>,
) -> Result<QueryOutput> {
    let frame = ctx.sql_with_options(sql, read_only()).await?;
    let schema: SchemaRef = Arc::clone(frame.schema().inner());
    let task = Arc::new(frame.task_ctx());
    let plan = yielding(frame.create_physical_plan().await?)?;
    if let Some(entry) = entry {
        let _ = entry.plan.set(Arc::clone(&plan));
    }
    let mut stream = execute_stream(plan, task)?;
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
