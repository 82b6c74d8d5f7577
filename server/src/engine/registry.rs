//! Running continuous queries, shared: identical queries (the same analyzed plan) run as one
//! task, whatever the number of viewers.
//!
//! A [`Shared`] query keeps its whole current result and a version, and publishes each change
//! on a bounded broadcast channel. A viewer joins under the result's lock (snapshot at version
//! V, then every change after V) and reads changes at its own pace: one that falls more than the
//! channel's capacity behind is told so and starts again from a fresh snapshot. The query's task
//! never waits for a viewer.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use protocol::Row;
use protocol::live::{Change, Mode, Shape};
use storage::{Snapshot, Store, StreamName, now_micros};
use tokio::sync::{OnceCell, broadcast};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::Error;
use super::operator::{Metrics, Operator, Settings};
use super::plan::{ContinuousPlan, Unsupported, compile};
use super::stream::{Member, StreamTasks};
use crate::error::ApiError;
use crate::query::{QueryService, format};
use crate::runtime::LowerRuntime;

/// Nice value of the engine's threads: a busy ingest thread (nice 0) gets about three times an
/// engine thread's share of a core, a query thread (nice 10) about a third of it.
const ENGINE_NICENESS: i32 = 5;

/// A watermark that moved without any row changing is published at most this often.
const WATERMARK_EVERY: Duration = Duration::from_secs(1);
/// Changes a viewer may be behind before it is resynchronized with a snapshot.
const CHANNEL_CAPACITY: usize = 256;
/// Rows of a re-queried result, at most.
const REQUERY_MAX_ROWS: usize = 10_000;
/// A query outside the incremental shape re-runs this often at least (longer when slow).
const REQUERY_INTERVAL: Duration = Duration::from_secs(1);

/// Limits and settings of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// How late (behind the stream's latest event time) an event may arrive and still update
    /// its window.
    pub allowed_lateness: Duration,
    /// After this long without events, a stream's watermark follows the clock.
    pub idle_after: Duration,
    /// Groups one continuous query holds at most.
    pub max_groups: usize,
    /// State all continuous queries may hold together; a new query past it is refused.
    pub state_budget_bytes: usize,
    /// Distinct continuous queries running at once, at most.
    pub max_queries: usize,
    /// Changed rows a slow viewer may have pending before it is sent a fresh snapshot instead.
    pub backlog_rows: usize,
    /// Threads of the engine's runtime, which applies new events to continuous queries at a
    /// lower CPU priority than ingest.
    pub threads: usize,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            allowed_lateness: Duration::from_secs(30),
            idle_after: Duration::from_secs(5),
            max_groups: 10_000,
            state_budget_bytes: 512 << 20,
            max_queries: 4_096,
            backlog_rows: 10_000,
            threads: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

/// A change of a shared result, as published.
#[derive(Debug)]
pub(crate) enum Update {
    /// Rows that changed (queries whose rows have a key).
    Delta { version: u64, change: Change },
    /// The whole result (queries without a key, re-queried ones).
    Result {
        version: u64,
        rows: Vec<Row>,
        watermark: i64,
        newest: i64,
    },
    /// The query stopped.
    Failed { error: protocol::Error },
}

/// The current result of a shared query.
#[derive(Debug, Default)]
pub(crate) struct Current {
    /// Rows by key text ([`Shape::key_text`]), or by position when rows have no key.
    rows: BTreeMap<String, Row>,
    pub(crate) version: u64,
    /// The event-time watermark (µs); for re-queried queries, the time of the last run.
    pub(crate) watermark: i64,
    /// The event time of the newest event the result includes (µs; 0: none yet).
    pub(crate) newest: i64,
    pub(crate) failed: Option<protocol::Error>,
    pub(crate) metrics: Metrics,
    pub(crate) groups: usize,
    pub(crate) state_bytes: usize,
    pub(crate) mode: Mode,
    /// How far behind the stream the query was at its last flush.
    pub(crate) lag: storage::Lag,
}

/// One running query.
pub(crate) struct Shared {
    sql: String,
    pub(crate) shape: Shape,
    current: Arc<Mutex<Current>>,
    updates: broadcast::Sender<Arc<Update>>,
    stop: CancellationToken,
}

impl Drop for Shared {
    /// The last viewer gone, the query's task stops.
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Totals over the running queries, for Weir's metrics.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Totals {
    pub(crate) queries: usize,
    pub(crate) failed: usize,
    pub(crate) viewers: usize,
    pub(crate) state_bytes: usize,
    pub(crate) groups: usize,
    /// The largest lag of a running query, in events and in ms.
    pub(crate) lag_events: u64,
    pub(crate) lag_ms: u64,
    /// Counters of the queries running now (a query that stops takes its counts with it).
    pub(crate) events: u64,
    pub(crate) late_events: u64,
    pub(crate) overflow_events: u64,
}

impl EngineInfo {
    pub(crate) fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for q in &self.queries {
            t.queries += 1;
            t.failed += usize::from(q.failed.is_some());
            t.viewers += q.viewers;
            t.state_bytes += q.state_bytes;
            t.groups += q.groups;
            t.lag_events = t.lag_events.max(q.lag_events);
            t.lag_ms = t.lag_ms.max(q.lag_ms);
            t.events += q.metrics.events;
            t.late_events += q.metrics.late_events;
            t.overflow_events += q.metrics.overflow_events;
        }
        t
    }
}

/// What `GET /api/v1/engine` tells.
#[derive(Debug, serde::Serialize)]
pub(crate) struct EngineInfo {
    queries: Vec<QueryInfo>,
    /// Queries started since the server started: each a backfill (or a first run).
    started: u64,
    state_bytes: usize,
    state_budget_bytes: usize,
}

/// One running query, as `GET /api/v1/engine` tells it.
#[derive(Debug, serde::Serialize)]
struct QueryInfo {
    sql: String,
    #[serde(flatten)]
    mode: Mode,
    viewers: usize,
    groups: usize,
    state_bytes: usize,
    /// The event-time watermark, µs since the epoch.
    watermark: i64,
    /// Durable events of the stream the query has not applied yet, and how long the oldest of
    /// them has waited (ms).
    lag_events: u64,
    lag_ms: u64,
    #[serde(flatten)]
    metrics: Metrics,
    /// Why the query stopped, if it did.
    failed: Option<String>,
}

/// The rows and version a viewer starts from.
#[derive(Debug, Clone)]
pub(crate) struct Start {
    pub(crate) rows: Vec<Row>,
    pub(crate) version: u64,
    pub(crate) watermark: i64,
    pub(crate) newest: i64,
    pub(crate) mode: Mode,
    pub(crate) overflow: bool,
}

impl Shared {
    /// The current result, and a receiver of every change after it (an error if the query
    /// stopped).
    pub(crate) fn join(
        &self,
    ) -> Result<(Start, broadcast::Receiver<Arc<Update>>), protocol::Error> {
        let current = self.current.lock().expect("a poisoned result");
        if let Some(error) = &current.failed {
            return Err(error.clone());
        }
        let updates = self.updates.subscribe();
        let mut rows: Vec<Row> = current.rows.values().cloned().collect();
        self.shape.sort(&mut rows);
        let start = Start {
            rows,
            version: current.version,
            watermark: current.watermark,
            newest: current.newest,
            mode: current.mode.clone(),
            overflow: current.metrics.overflow_events > 0,
        };
        Ok((start, updates))
    }

    fn failed(&self) -> bool {
        self.current.lock().expect("poisoned").failed.is_some()
    }
}

/// Running continuous queries, by normalized plan.
#[derive(Clone)]
pub(crate) struct Engine {
    queries: QueryService,
    config: EngineConfig,
    /// Running queries by their analyzed plan's text; the viewers hold them.
    running: Arc<Mutex<HashMap<String, Weak<Shared>>>>,
    /// Queries being started (backfilled), by the same key: a subscriber that comes meanwhile
    /// waits for that one start rather than backfilling its own.
    starting: Arc<Mutex<HashMap<String, Arc<Starting>>>>,
    /// Queries started (backfilled, or run a first time) since the server started.
    started: Arc<AtomicU64>,
    stopping: CancellationToken,
    /// The task of each stream that has incremental queries, on `runtime`.
    streams: StreamTasks,
    /// Kept for as long as an engine (a clone of it) is.
    runtime: Arc<LowerRuntime>,
}

/// A query's start, shared by the subscribers that wait for it: the query, or why it failed.
type Starting = OnceCell<Result<Arc<Shared>, protocol::Error>>;

impl Engine {
    pub(crate) fn new(
        store: Arc<Store>,
        queries: QueryService,
        config: EngineConfig,
        stopping: CancellationToken,
    ) -> std::io::Result<Engine> {
        let runtime = Arc::new(LowerRuntime::new(
            "weir-engine",
            config.threads,
            ENGINE_NICENESS,
        )?);
        Ok(Engine {
            streams: StreamTasks::new(Arc::clone(&store), runtime.handle().clone()),
            runtime,
            queries,
            config,
            running: Arc::default(),
            starting: Arc::default(),
            started: Arc::default(),
            stopping,
        })
    }

    /// The engine's runtime, below ingest's priority: live sockets' writers run there too, so
    /// that publishing a change to many sockets takes the CPU after appends do, as applying it does.
    pub(crate) fn runtime(&self) -> &tokio::runtime::Handle {
        self.runtime.handle()
    }

    /// The running query of `sql`, started if none is: compiled when it has the incremental
    /// shape (its state backfilled from a snapshot), else re-queried. Viewers [`Shared::join`]
    /// it, and keep it running as long as they hold it. `reader` plans it: a stream the
    /// subscriber may not read is refused there (the engine itself reads every stream).
    ///
    /// Subscribers that come while the query starts wait for its one start (a dashboard's
    /// viewers reconnecting together after a restart backfill once, not once each).
    pub(crate) async fn subscribe(
        &self,
        sql: &str,
        reader: &QueryService,
    ) -> Result<Arc<Shared>, Error> {
        let (logical, state) = reader.analyze(sql).await?;
        let key = logical.display_indent().to_string();
        if let Some(shared) = self.running(&key) {
            return Ok(shared);
        }
        let start = {
            let mut starting = self.starting.lock().expect("poisoned");
            Arc::clone(starting.entry(key.clone()).or_default())
        };
        // The first subscriber starts it; if it leaves half-way, the next waiting one does.
        let started = start
            .get_or_init(|| async {
                let started = match self.running(&key) {
                    Some(shared) => Ok(shared),
                    None => self.start(sql, &logical, &state).await,
                };
                started
                    .map(|shared| self.publish(&key, shared))
                    .map_err(|err| ApiError::from(err).into_inner())
            })
            .await
            .clone();
        // Started (and published) or failed: later subscribers find it running, or try anew.
        {
            let mut starting = self.starting.lock().expect("poisoned");
            if starting.get(&key).is_some_and(|s| Arc::ptr_eq(s, &start)) {
                starting.remove(&key);
            }
        }
        started.map_err(Error::Start)
    }

    /// Starts the query of `sql`, planned as `logical` in `state`.
    async fn start(
        &self,
        sql: &str,
        logical: &datafusion::logical_expr::LogicalPlan,
        state: &datafusion::execution::context::SessionState,
    ) -> Result<Arc<Shared>, Error> {
        if self.all().len() >= self.config.max_queries {
            return Err(Error::TooManyQueries {
                max: self.config.max_queries,
            });
        }
        let compiled = compile(logical, state).and_then(|plan| {
            let snapshot = Snapshot::of_table(plan.table.as_ref())
                .ok_or_else(|| Unsupported(format!("{} is not a stream", plan.stream)))?;
            let end = snapshot.end().0;
            Ok((plan, end))
        });
        self.started.fetch_add(1, Ordering::Relaxed);
        match compiled {
            Ok((plan, end)) => self.start_incremental(sql, plan, end, state).await,
            Err(Unsupported(reason)) => self.start_requery(sql, reason, logical).await,
        }
    }

    /// Makes `shared` the running query of `key`, unless another is running under it: then
    /// that one.
    fn publish(&self, key: &str, shared: Arc<Shared>) -> Arc<Shared> {
        let mut running = self.running.lock().expect("poisoned");
        match running.get(key).and_then(Weak::upgrade) {
            Some(theirs) if !theirs.failed() => theirs,
            _ => {
                running.retain(|_, q| q.strong_count() > 0);
                running.insert(key.to_owned(), Arc::downgrade(&shared));
                shared
            }
        }
    }

    fn running(&self, key: &str) -> Option<Arc<Shared>> {
        self.running
            .lock()
            .expect("poisoned")
            .get(key)
            .and_then(Weak::upgrade)
            .filter(|shared| !shared.failed())
    }

    /// The running queries.
    fn all(&self) -> Vec<Arc<Shared>> {
        let mut running = self.running.lock().expect("poisoned");
        running.retain(|_, q| q.strong_count() > 0);
        running.values().filter_map(Weak::upgrade).collect()
    }

    /// Bytes of state all running queries hold.
    fn state_bytes(&self) -> usize {
        self.all()
            .iter()
            .map(|r| r.current.lock().expect("poisoned").state_bytes)
            .sum()
    }

    /// A description of every running query, for `/api/v1/engine`.
    pub(crate) fn describe(&self) -> EngineInfo {
        let all = self.all();
        let queries: Vec<QueryInfo> = all
            .iter()
            .map(|shared| {
                let current = shared.current.lock().expect("poisoned");
                QueryInfo {
                    sql: shared.sql.clone(),
                    mode: current.mode.clone(),
                    // Every viewer holds the query; `all` holds it once more.
                    viewers: Arc::strong_count(shared).saturating_sub(1),
                    groups: current.groups,
                    state_bytes: current.state_bytes,
                    watermark: current.watermark,
                    lag_events: current.lag.events,
                    lag_ms: current.lag.wait.as_millis() as u64,
                    metrics: current.metrics,
                    failed: current.failed.as_ref().map(|e| e.message.clone()),
                }
            })
            .collect();
        EngineInfo {
            started: self.started.load(Ordering::Relaxed),
            state_bytes: queries.iter().map(|q| q.state_bytes).sum(),
            queries,
            state_budget_bytes: self.config.state_budget_bytes,
        }
    }

    pub(crate) fn config(&self) -> &EngineConfig {
        &self.config
    }

    pub(crate) fn settings(&self) -> Settings {
        Settings {
            lateness: self.config.allowed_lateness.as_micros() as i64,
            idle: self.config.idle_after.as_micros() as i64,
            max_groups: self.config.max_groups,
        }
    }

    async fn start_incremental(
        &self,
        sql: &str,
        plan: ContinuousPlan,
        end: u64,
        state: &datafusion::execution::context::SessionState,
    ) -> Result<Arc<Shared>, Error> {
        let stream = StreamName::new(&plan.stream)?;
        let plan = Arc::new(plan);
        let mut operator = Operator::new(Arc::clone(&plan), self.settings(), end, now_micros())?;
        operator.backfill(state).await?;
        operator.flush(now_micros())?;
        let bytes = operator.state_bytes();
        let used = self.state_bytes();
        if used + bytes > self.config.state_budget_bytes {
            return Err(Error::OverBudget {
                needed: bytes,
                used,
                budget: self.config.state_budget_bytes,
            });
        }
        let shared = self.new_shared(sql, plan.shape.clone(), Mode::Incremental);
        {
            let mut current = shared.current.lock().expect("poisoned");
            current.watermark = operator.watermark();
            current.state_bytes = bytes;
            current.groups = operator.n_groups();
            current.metrics = operator.metrics();
            set_rows(&mut current, operator.rows(), &plan.shape);
        }
        let member = Member::new(
            operator,
            Arc::clone(&shared.current),
            shared.updates.clone(),
            shared.stop.clone(),
        );
        self.streams.join(&stream, member)?;
        Ok(shared)
    }

    async fn start_requery(
        &self,
        sql: &str,
        reason: String,
        logical: &datafusion::logical_expr::LogicalPlan,
    ) -> Result<Arc<Shared>, Error> {
        // Run once now, so that a query that cannot run at all is an error, not a feed.
        let started = Instant::now();
        let output = self.queries.run_live(sql, REQUERY_MAX_ROWS).await?;
        let interval = REQUERY_INTERVAL.max(started.elapsed() * 4);
        let rows = format::rows(&output)?;
        let schema = logical.schema().as_arrow().clone();
        let shape = Shape {
            columns: format::columns(&schema),
            key: None,
            order: Vec::new(),
        };
        let mode = Mode::Requery {
            reason,
            interval_ms: interval.as_millis() as u64,
        };
        let shared = self.new_shared(sql, shape, mode);
        {
            let mut current = shared.current.lock().expect("poisoned");
            set_rows(&mut current, rows.clone(), &Shape::default());
            current.watermark = now_micros();
        }
        tokio::spawn(run_requery(
            sql.to_owned(),
            rows,
            self.queries.clone(),
            interval,
            Arc::clone(&shared.current),
            shared.updates.clone(),
            shared.stop.clone(),
        ));
        Ok(shared)
    }

    fn new_shared(&self, sql: &str, shape: Shape, mode: Mode) -> Arc<Shared> {
        let current = Arc::new(Mutex::new(Current {
            mode,
            ..Current::default()
        }));
        let (updates, _) = broadcast::channel(CHANNEL_CAPACITY);
        Arc::new(Shared {
            sql: sql.to_owned(),
            shape,
            current,
            updates,
            stop: self.stopping.child_token(),
        })
    }
}

/// Replaces the current rows: by key when they have one, else in the order given.
fn set_rows(current: &mut Current, rows: Vec<Row>, shape: &Shape) {
    current.rows = rows
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let key = match shape.key {
                Some(_) => Shape::key_text(&shape.key_of(&row)),
                None => format!("{i:012}"),
            };
            (key, row)
        })
        .collect();
}

/// Publishes `change` (the operator's last flush) into `current` and to the viewers: as a delta
/// for queries with a key, else as the whole result; a watermark that moved alone is published
/// once `WATERMARK_EVERY` has passed since `watermark_sent`. Returns whether it published.
pub(super) fn publish_change(
    current: &mut Current,
    operator: &Operator,
    change: Change,
    updates: &broadcast::Sender<Arc<Update>>,
    watermark_sent: Instant,
) -> bool {
    let plan = operator.plan();
    current.metrics = operator.metrics();
    current.groups = operator.n_groups();
    let watermark = operator.watermark();
    let moved = watermark != current.watermark && watermark_sent.elapsed() >= WATERMARK_EVERY;
    current.watermark = watermark;
    current.newest = operator.newest();
    if change.is_empty() && !moved {
        return false;
    }
    current.version += 1;
    let version = current.version;
    if plan.shape.key.is_some() {
        for key in change.deletes() {
            current.rows.remove(&Shape::key_text(key));
        }
        for row in change.upserts() {
            let key = Shape::key_text(&plan.shape.key_of(row));
            current.rows.insert(key, row.clone());
        }
        let _ = updates.send(Arc::new(Update::Delta { version, change }));
    } else {
        let rows = operator.rows();
        set_rows(current, rows.clone(), &plan.shape);
        let _ = updates.send(Arc::new(Update::Result {
            version,
            rows,
            watermark,
            newest: current.newest,
        }));
    }
    true
}

/// The task of a query outside the incremental shape: re-runs it every `interval`.
async fn run_requery(
    sql: String,
    first: Vec<Row>,
    queries: QueryService,
    interval: Duration,
    current: Arc<Mutex<Current>>,
    updates: broadcast::Sender<Arc<Update>>,
    stop: CancellationToken,
) {
    let mut next = Instant::now() + interval;
    let mut last = first;
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = sleep_until(next) => {}
        }
        next = Instant::now() + interval;
        let rows = match queries.run_live(&sql, REQUERY_MAX_ROWS).await {
            Ok(output) => format::rows(&output).map_err(Error::from),
            Err(err) => Err(Error::from(err)),
        };
        let rows = match rows {
            Ok(rows) => rows,
            Err(err) => {
                fail(&current, &updates, err);
                return;
            }
        };
        let mut current = current.lock().expect("poisoned");
        current.watermark = now_micros();
        if last == rows {
            continue;
        }
        current.version += 1;
        set_rows(&mut current, rows.clone(), &Shape::default());
        let _ = updates.send(Arc::new(Update::Result {
            version: current.version,
            rows: rows.clone(),
            watermark: current.watermark,
            newest: 0,
        }));
        last = rows;
    }
}

pub(super) fn fail(current: &Mutex<Current>, updates: &broadcast::Sender<Arc<Update>>, err: Error) {
    stop_with(current, updates, ApiError::from(err).into_inner());
}

/// Stops the query for `error`: its viewers are told.
pub(super) fn stop_with(
    current: &Mutex<Current>,
    updates: &broadcast::Sender<Arc<Update>>,
    error: protocol::Error,
) {
    tracing::warn!(message = %error.message, "a continuous query stopped");
    current.lock().expect("poisoned").failed = Some(error.clone());
    let _ = updates.send(Arc::new(Update::Failed { error }));
}
