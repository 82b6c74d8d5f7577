//! The engine against DataFusion's batch results over the same events.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::datasource::MemTable;
use datafusion::prelude::{DataFrame, SessionConfig, SessionContext};
use serde_json::Value;

use protocol::live::{Direction, Order};

use super::operator::{Operator, Settings};
use super::plan::{ContinuousPlan, Unsupported, Window, compile};
use crate::ingest::{self, BodyFormat};
use crate::query::{analyze, format};

const SECOND: i64 = 1_000_000;
/// A clock time aligned to every pane width the tests use.
const T0: i64 = 1_700_000_040 * SECOND;

#[derive(Debug, Clone)]
struct Event {
    time: i64,
    service: Option<&'static str>,
    status: Option<i64>,
    latency: Option<i64>,
}

fn schema() -> SchemaRef {
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("_time", utc, false),
        Field::new("_offset", DataType::Int64, false),
        Field::new("service", DataType::Utf8, true),
        Field::new("status", DataType::Int64, true),
        Field::new("latency", DataType::Int64, true),
    ]))
}

fn batch(events: &[Event], first_offset: i64) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| e.time))
                    .with_timezone("UTC"),
            ),
            Arc::new(Int64Array::from_iter_values(
                (0..events.len() as i64).map(|i| first_offset + i),
            )),
            Arc::new(StringArray::from_iter(events.iter().map(|e| e.service))),
            Arc::new(Int64Array::from_iter(events.iter().map(|e| e.status))),
            Arc::new(Int64Array::from_iter(events.iter().map(|e| e.latency))),
        ],
    )
    .unwrap()
}

fn context(events: &[Event]) -> SessionContext {
    let config = SessionConfig::new()
        .with_default_catalog_and_schema("weir", "public")
        .with_target_partitions(2);
    let ctx = SessionContext::new_with_config(config);
    let table = MemTable::try_new(schema(), vec![vec![batch(events, 0)]]).unwrap();
    ctx.register_table("s", Arc::new(table)).unwrap();
    ctx
}

async fn compile_sql(sql: &str, events: &[Event]) -> Result<ContinuousPlan, Unsupported> {
    let ctx = context(events);
    let (plan, state) = analyze(&ctx, sql).await.expect("valid SQL");
    compile(&plan, &state)
}

fn settings(lateness: i64) -> Settings {
    Settings {
        lateness,
        idle: 86_400 * SECOND,
        max_groups: 100_000,
    }
}

/// `sql` run as a batch query over `events` with `now()` at `now`.
async fn batch_rows(sql: &str, events: &[Event], now: i64) -> Vec<Vec<Value>> {
    let ctx = context(events);
    let mut state = ctx.state();
    let start = chrono::DateTime::from_timestamp_micros(now).unwrap();
    *state.execution_props_mut() = state
        .execution_props()
        .clone()
        .with_query_execution_start_time(start);
    let plan = state.create_logical_plan(sql).await.unwrap();
    let batches = DataFrame::new(state, plan).collect().await.unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        rows.extend(format::batch_rows(b).unwrap());
    }
    rows
}

fn sorted(mut rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    rows.sort_by_key(|r| serde_json::to_string(r).unwrap());
    rows
}

fn event(time: i64, service: &'static str, status: i64, latency: i64) -> Event {
    Event {
        time,
        service: Some(service),
        status: Some(status),
        latency: Some(latency),
    }
}

#[tokio::test]
async fn compiles_the_demo_flow_query() {
    let sql = "SELECT to_unixtime(date_bin(INTERVAL '1 second', _time)) AS t, count(*) AS events, \
               sum(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS errors FROM s \
               WHERE _time >= now() - INTERVAL '300 seconds' GROUP BY 1 ORDER BY 1";
    let plan = compile_sql(sql, &[]).await.unwrap();
    assert_eq!(
        plan.window,
        Window::Bucket {
            width: SECOND,
            origin: 0
        }
    );
    assert_eq!(plan.range, Some(300 * SECOND));
    assert!(plan.physical_filter.is_none());
    assert_eq!(plan.shape.key, Some(vec![0]));
    assert_eq!(
        plan.shape.order,
        vec![Order {
            column: 0,
            direction: Direction::Asc
        }]
    );
    assert_eq!(plan.stream, "s");
}

#[tokio::test]
async fn a_moving_range_without_a_bucket_slides_by_panes() {
    let sql = "SELECT service, count(*) FROM s WHERE status >= 500 \
               AND _time > now() - INTERVAL '5 minutes' GROUP BY service";
    let plan = compile_sql(sql, &[]).await.unwrap();
    assert_eq!(plan.window, Window::Sliding { width: 5 * SECOND });
    assert!(plan.physical_filter.is_some());
    assert_eq!(plan.shape.key, Some(vec![0]));
}

#[tokio::test]
async fn names_the_part_it_cannot_keep_live() {
    let cases = [
        ("SELECT * FROM s", "only aggregations"),
        (
            "SELECT service, count(*) FROM s GROUP BY service ORDER BY 2 DESC LIMIT 3",
            "LIMIT",
        ),
        (
            "SELECT service, count(DISTINCT status) FROM s GROUP BY service",
            "approx_distinct",
        ),
        ("SELECT median(latency) FROM s", "median() is not kept live"),
        (
            "SELECT count(*) FROM s WHERE _time < now() - INTERVAL '1 minute'",
            "now() is kept live only in",
        ),
        (
            "SELECT count(*) FROM s a JOIN s b ON a.service = b.service",
            "joins",
        ),
        (
            "SELECT date_bin(INTERVAL '1 month', _time), count(*) FROM s GROUP BY 1",
            "fixed interval",
        ),
    ];
    for (sql, expected) in cases {
        let message = match compile_sql(sql, &[]).await {
            Ok(_) => panic!("{sql} compiled"),
            Err(Unsupported(message)) => message,
        };
        assert!(message.contains(expected), "{sql}: {message}");
    }
}

#[tokio::test]
async fn deltas_upsert_changed_rows_and_delete_expired_ones() {
    let sql = "SELECT date_bin(INTERVAL '10 seconds', _time) AS t, service, count(*) AS n FROM s \
               WHERE _time >= now() - INTERVAL '30 seconds' GROUP BY 1, 2";
    let plan = Arc::new(compile_sql(sql, &[]).await.unwrap());
    let mut op = Operator::new(Arc::clone(&plan), settings(5 * SECOND), 0, T0).unwrap();
    op.backfill(&context(&[]).state()).await.unwrap();
    assert!(op.flush(T0).unwrap().is_empty());
    let events = [
        event(T0 - 25 * SECOND, "api", 200, 1),
        event(T0 - 24 * SECOND, "api", 200, 1),
        event(T0 - SECOND, "web", 500, 1),
    ];
    op.apply(&batch(&events, 0), T0).unwrap();
    let changes = op.flush(T0).unwrap();
    assert_eq!(changes.upserts().len(), 2, "{changes:?}");
    assert!(changes.deletes().is_empty());
    // Ten seconds on, the bucket of T0 - 30 s has left the range.
    let changes = op.flush(T0 + 10 * SECOND).unwrap();
    assert!(changes.upserts().is_empty());
    assert_eq!(
        changes.deletes(),
        vec![vec![
            Value::from("2023-11-14T22:13:30.000000Z"),
            Value::from("api")
        ]]
    );
    assert_eq!(op.rows().len(), 1);
}

#[tokio::test]
async fn late_events_are_counted_and_left_out_of_closed_windows() {
    let sql = "SELECT date_bin(INTERVAL '1 second', _time) AS t, count(*) AS n FROM s GROUP BY 1";
    let plan = Arc::new(compile_sql(sql, &[]).await.unwrap());
    let mut op = Operator::new(plan, settings(2 * SECOND), 0, T0).unwrap();
    op.apply(&batch(&[event(T0, "a", 200, 1)], 0), T0).unwrap();
    // The watermark is now T0 - 2 s: the window of T0 - 3 s is closed, that of T0 - 2 s open.
    op.apply(
        &batch(
            &[
                event(T0 - 3 * SECOND, "a", 200, 1),
                event(T0 - 2 * SECOND, "a", 200, 1),
            ],
            1,
        ),
        T0,
    )
    .unwrap();
    assert_eq!(op.metrics().late_events, 1);
    op.flush(T0).unwrap();
    assert_eq!(op.rows().len(), 2);
    assert_eq!(op.watermark(), T0 - 2 * SECOND);
}

#[tokio::test]
async fn the_watermark_follows_the_clock_when_the_stream_is_idle() {
    let sql = "SELECT date_bin(INTERVAL '1 second', _time) AS t, count(*) AS n FROM s GROUP BY 1";
    let plan = Arc::new(compile_sql(sql, &[]).await.unwrap());
    let settings = Settings {
        lateness: 2 * SECOND,
        idle: 5 * SECOND,
        max_groups: 10,
    };
    let mut op = Operator::new(plan, settings, 0, T0).unwrap();
    op.apply(&batch(&[event(T0 - 60 * SECOND, "a", 200, 1)], 0), T0)
        .unwrap();
    assert_eq!(op.watermark(), T0 - 7 * SECOND);
    op.flush(T0 + 4 * SECOND).unwrap();
    assert_eq!(op.watermark(), T0 - 7 * SECOND);
    op.flush(T0 + 20 * SECOND).unwrap();
    assert_eq!(op.watermark(), T0 + 13 * SECOND);
}

#[tokio::test]
async fn groups_past_the_cap_are_left_out_and_flagged() {
    let sql = "SELECT latency, count(*) FROM s GROUP BY latency";
    let plan = Arc::new(compile_sql(sql, &[]).await.unwrap());
    let settings = Settings {
        max_groups: 3,
        ..settings(SECOND)
    };
    let mut op = Operator::new(plan, settings, 0, T0).unwrap();
    let events: Vec<Event> = (0..5).map(|i| event(T0, "a", 200, i)).collect();
    op.apply(&batch(&events, 0), T0).unwrap();
    op.flush(T0).unwrap();
    assert_eq!(op.rows().len(), 3);
    assert_eq!(op.metrics().overflow_events, 2);
}

mod differential;

/// Engine throughput on one core over the shared/bench workload (docs/benchmarks.md):
///
/// ```text
/// WEIR_BENCH_EVENTS=/tmp/bench/data1m/demo_http.ndjson \
///   cargo test --release -p weir --lib engine::tests::throughput -- --ignored --nocapture
/// ```
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: run in release with WEIR_BENCH_EVENTS (docs/benchmarks.md)"]
async fn throughput() {
    use std::io::BufRead;

    let path = std::env::var("WEIR_BENCH_EVENTS").expect("WEIR_BENCH_EVENTS=FILE.ndjson");
    let limit: usize = std::env::var("WEIR_BENCH_LIMIT")
        .map(|v| v.parse().unwrap())
        .unwrap_or(1_000_000);
    // Decode the events as ingest does, so the batches are those ingest makes.
    let dir = tempfile::tempdir().unwrap();
    let config = storage::StoreConfig {
        tier_bytes: usize::MAX,
        tier_age: std::time::Duration::from_secs(86_400),
        max_hot_bytes: usize::MAX,
        ..Default::default()
    };
    let store = storage::Store::open(dir.path(), config).await.unwrap();
    let stream = storage::StreamName::new("demo_http").unwrap();
    let reader = std::io::BufReader::new(std::fs::File::open(&path).unwrap());
    let mut body = Vec::new();
    let mut n = 0;
    for line in reader.lines().take(limit) {
        body.extend_from_slice(line.unwrap().as_bytes());
        body.push(b'\n');
        n += 1;
        if n % 8192 == 0 {
            ingest::append_json(&store, &stream, &body, BodyFormat::Ndjson).unwrap();
            body.clear();
        }
    }
    if !body.is_empty() {
        ingest::append_json(&store, &stream, &body, BodyFormat::Ndjson).unwrap();
    }
    let snapshot = store.snapshot(&stream).unwrap();
    let batches = snapshot.batches().to_vec();
    let schema = Arc::clone(snapshot.schema());
    let config = SessionConfig::new().with_default_catalog_and_schema("weir", "public");
    let ctx = SessionContext::new_with_config(config);
    let table = MemTable::try_new(Arc::clone(&schema), vec![batches.clone()]).unwrap();
    ctx.register_table("demo_http", Arc::new(table)).unwrap();
    let times = |b: &RecordBatch| {
        arrow::compute::max(
            b.column_by_name("_time")
                .unwrap()
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap(),
        )
        .unwrap()
    };
    let cases = [
        (
            "filter + group by + count",
            "SELECT service, status, count(*) AS n FROM demo_http WHERE method = 'GET' \
             GROUP BY service, status",
        ),
        (
            "panel: 10 s buckets by service, last 15 minutes",
            "SELECT date_bin(INTERVAL '10 seconds', _time) AS t, service, count(*) AS n, \
             avg(latency_ms) AS latency FROM demo_http \
             WHERE _time >= now() - INTERVAL '15 minutes' GROUP BY 1, 2",
        ),
        (
            "sliding p99 by service, last 5 minutes",
            "SELECT service, approx_percentile_cont(0.99) WITHIN GROUP (ORDER BY latency_ms) \
             AS p99 FROM demo_http WHERE _time >= now() - INTERVAL '5 minutes' GROUP BY service",
        ),
    ];
    for (name, sql) in cases {
        let (plan, state) = analyze(&ctx, sql).await.unwrap();
        let plan = Arc::new(compile(&plan, &state).unwrap());
        let first = times(&batches[0]);
        let mut op = Operator::new(Arc::clone(&plan), settings(30 * SECOND), 0, first).unwrap();
        let started = std::time::Instant::now();
        let mut flushes = 0;
        for (i, batch) in batches.iter().enumerate() {
            // The clock follows the events, as it would live.
            let now = times(batch);
            op.apply(batch, now).unwrap();
            if i % 4 == 3 {
                op.flush(now).unwrap();
                flushes += 1;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        let events = op.metrics().events;
        println!(
            "{{\"case\":\"{name}\",\"events\":{events},\"batches\":{},\"flushes\":{flushes},\"seconds\":{secs:.3},\"events_per_sec\":{:.0},\"late\":{},\"groups\":{}}}",
            batches.len(),
            events as f64 / secs,
            op.metrics().late_events,
            op.n_groups()
        );
    }
}
