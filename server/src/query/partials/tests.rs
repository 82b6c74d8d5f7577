//! Cached partial aggregates give the answers DataFusion gives without them, before and after
//! late events and compactions, and a cached file is not read again.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use storage::{Store, StoreConfig, StreamName};

use crate::ingest::{self, BodyFormat};
use crate::query::{QueryLimits, QueryOutput, QueryService, format};

use super::*;

fn web() -> StreamName {
    StreamName::new("web").unwrap()
}

/// `(minute after 10:00, status, route, latency)` as an NDJSON line.
fn line(minute: u32, status: u32, route: Option<&str>, latency: Option<u32>) -> String {
    let route = route.map_or("null".to_owned(), |r| format!("\"{r}\""));
    let latency = latency.map_or("null".to_owned(), |l| l.to_string());
    format!(
        "{{\"_time\":\"2026-01-05T{:02}:{:02}:{:02}Z\",\"status\":{status},\"route\":{route},\"latency\":{latency}}}\n",
        10 + minute / 60,
        minute % 60,
        minute % 7,
    )
}

async fn rows(service: &QueryService, sql: &str) -> Vec<Vec<serde_json::Value>> {
    let output = service.run(sql, 10_000).await.unwrap();
    format::rows(&output).unwrap()
}

/// The answer of plain DataFusion (no cache, default settings) over the store's snapshot.
async fn reference(store: &Store, sql: &str) -> Vec<Vec<serde_json::Value>> {
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_table("web", store.snapshot(&web()).unwrap().into_table())
        .unwrap();
    let frame = ctx.sql(sql).await.unwrap();
    let schema = Arc::clone(frame.schema().inner());
    let batches = frame.collect().await.unwrap();
    format::rows(&QueryOutput {
        schema,
        batches,
        truncated: false,
    })
    .unwrap()
}

/// How many lake files a run of `sql` opened.
async fn files_read(service: &QueryService, sql: &str) -> u64 {
    let registered = service.running.register("probe").expect("a free id");
    service
        .execute(
            sql,
            10_000,
            std::time::Duration::from_secs(30),
            Some(Arc::clone(&registered.entry)),
        )
        .await
        .unwrap();
    service.running.progress("probe").unwrap().files_scanned
}

/// 20 events in each of three hours, 10:00 to 12:57 (`status` 200 + i for the i-th), tiered
/// into three lake files; a query service over them.
async fn three_hourly_files() -> (tempfile::TempDir, Arc<Store>, QueryService) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(dir.path(), StoreConfig::default())
            .await
            .unwrap(),
    );
    let body: String = (0..60)
        .map(|i| line(i * 3, 200 + i, Some("/a"), Some(i)))
        .collect();
    ingest::append_json(&store, &web(), body.as_bytes(), BodyFormat::Detect).unwrap();
    store.tier(&web()).await.unwrap().expect("tiered");
    let service = QueryService::new(
        Arc::clone(&store),
        QueryLimits::default(),
        dir.path().join("spill"),
    )
    .unwrap();
    (dir, store, service)
}

#[tokio::test]
async fn a_cached_file_is_not_read_again_and_a_late_event_or_a_compaction_is_seen() {
    let (_dir, store, service) = three_hourly_files().await;
    let sql = "SELECT date_trunc('hour', _time) AS hour, count(*) AS n, sum(status) AS s \
               FROM web GROUP BY 1 ORDER BY 1";
    let counts = |rows: &[Vec<serde_json::Value>]| -> Vec<u64> {
        rows.iter().map(|r| r[1].as_u64().unwrap()).collect()
    };

    assert_eq!(
        files_read(&service, sql).await,
        3,
        "the first run reads every file"
    );
    assert_eq!(
        service.partials.usage().0,
        3,
        "and keeps each file's states"
    );
    assert_eq!(files_read(&service, sql).await, 0, "the second reads none");
    let first = rows(&service, sql).await;
    assert_eq!(counts(&first), [20, 20, 20]);
    assert_eq!(first, reference(&store, sql).await);

    // A late event for 10:30 is tiered into a new file of that hour.
    let late = line(30, 1000, Some("/a"), None);
    ingest::append_json(&store, &web(), late.as_bytes(), BodyFormat::Detect).unwrap();
    store.tier(&web()).await.unwrap().expect("tiered");
    assert_eq!(
        files_read(&service, sql).await,
        1,
        "only the new file is read"
    );
    let after = rows(&service, sql).await;
    assert_eq!(counts(&after), [21, 20, 20]);
    assert_eq!(
        after[0][2].as_i64().unwrap(),
        first[0][2].as_i64().unwrap() + 1000
    );

    // Compaction merges the hour's two files into a new one: the answer stays.
    assert!(store.compact(&web()).await.unwrap() >= 1);
    assert_eq!(
        files_read(&service, sql).await,
        1,
        "the compacted file is new"
    );
    assert_eq!(rows(&service, sql).await, after);
    assert_eq!(after, reference(&store, sql).await);
}

#[tokio::test]
async fn a_file_inside_the_range_keeps_its_states_whatever_the_range() {
    let (_dir, store, service) = three_hourly_files().await;
    let sql = |from: &str, to: &str| {
        format!(
            "SELECT count(*) AS n, sum(status) AS s FROM web \
             WHERE _time >= '2026-01-05T{from}Z' AND _time < '2026-01-05T{to}Z' AND status > 0"
        )
    };
    let wide = sql("10:00:00", "13:00:00");
    assert_eq!(files_read(&service, &wide).await, 3);
    // Another range that holds every file: their states are the same.
    let wider = sql("09:00:00", "14:00:00");
    assert_eq!(files_read(&service, &wider).await, 0, "{wider}");
    // One that cuts the last hour: that file alone is read.
    let cut = sql("09:30:00", "12:30:00");
    assert_eq!(files_read(&service, &cut).await, 1, "{cut}");
    for sql in [wide, wider, cut] {
        assert_eq!(rows(&service, &sql).await, reference(&store, &sql).await);
    }
    assert_eq!(
        rows(&service, &sql("09:30:00", "12:30:00")).await,
        [[
            serde_json::json!(50),
            serde_json::json!((0..50).map(|i| 200 + i).sum::<i64>())
        ]]
    );
}

#[tokio::test]
async fn a_group_by_a_dictionary_column_groups_by_its_keys_unless_something_else_reads_it() {
    let (_dir, store, service) = three_hourly_files().await;
    let plan = async |sql: &str| -> String {
        let output = service.run(&format!("EXPLAIN {sql}"), 100).await.unwrap();
        format::rows(&output)
            .unwrap()
            .iter()
            .map(|row| row[1].to_string())
            .collect()
    };
    for (sql, keyed) in [
        (
            "SELECT route, count(*), max(latency) FROM web GROUP BY route ORDER BY 1",
            true,
        ),
        (
            "SELECT route, count(*) FROM web WHERE status > 230 GROUP BY route ORDER BY 1",
            true,
        ),
        (
            "SELECT route, count(*) FROM web WHERE route <> '/b' GROUP BY route ORDER BY 1",
            false,
        ),
        (
            "SELECT route, count(DISTINCT status) FROM web GROUP BY route ORDER BY 1",
            false,
        ),
        (
            "SELECT route, max(length(route)) FROM web GROUP BY route ORDER BY 1",
            false,
        ),
        (
            "SELECT status, count(*) FROM web GROUP BY status ORDER BY 1",
            false,
        ),
    ] {
        assert_eq!(plan(sql).await.contains("KeyedPartialExec"), keyed, "{sql}");
        assert_eq!(
            rows(&service, sql).await,
            reference(&store, sql).await,
            "{sql}"
        );
    }
}

#[test]
fn volatile_and_unaggregated_plans_are_left_alone() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            Store::open(dir.path(), StoreConfig::default())
                .await
                .unwrap(),
        );
        let body: String = (0..30).map(|i| line(i * 5, 200, None, Some(i))).collect();
        ingest::append_json(&store, &web(), body.as_bytes(), BodyFormat::Detect).unwrap();
        store.tier(&web()).await.unwrap().expect("tiered");
        let service =
            QueryService::new(store, QueryLimits::default(), dir.path().join("spill")).unwrap();
        for sql in [
            "SELECT count(*) FROM web WHERE random() < 0.5",
            "SELECT status FROM web ORDER BY _time DESC LIMIT 3",
        ] {
            rows(&service, sql).await;
            assert_eq!(service.partials.usage().0, 0, "{sql}");
        }
        rows(&service, "SELECT count(*) FROM web WHERE latency < 100").await;
        assert_eq!(service.partials.usage().0, 3, "one per hour file");
    });
}

/// One tiering's events: `(minute, status index, route index, latency)`.
type Batch = Vec<(u32, usize, usize, Option<u32>)>;

fn batches() -> impl Strategy<Value = (Vec<Batch>, Batch)> {
    let event = (
        0u32..180,
        0usize..4,
        0usize..4,
        proptest::option::of(0u32..500),
    );
    (
        proptest::collection::vec(proptest::collection::vec(event.clone(), 1..30), 1..4),
        proptest::collection::vec(event, 0..10),
    )
}

const STATUS: [u32; 4] = [200, 404, 500, 503];
const ROUTE: [Option<&str>; 4] = [Some("/a"), Some("/b"), None, Some("/it's")];

fn body(batch: &Batch) -> String {
    batch
        .iter()
        .map(|&(m, s, r, l)| line(m, STATUS[s], ROUTE[r], l))
        .collect()
}

/// Aggregates whose states merge exactly (no float sums), over groups and filters.
fn queries() -> Vec<String> {
    let mut out = Vec::new();
    for group in [
        "",
        "route",
        "status",
        "date_trunc('minute', _time)",
        "date_bin(INTERVAL '20 minutes', _time), route",
    ] {
        for filter in [
            "",
            "WHERE status >= 500",
            "WHERE _time >= '2026-01-05T10:40:00Z' AND _time < '2026-01-05T12:10:00Z'",
            "WHERE '2026-01-05T10:50:00Z' < _time AND _time <= '2026-01-05T12:20:00Z'",
            "WHERE route = '/a' OR latency > 250",
            // Needles, whose files and row groups are chosen by bloom filters.
            "WHERE route = '/it''s'",
            "WHERE route IN ('/a', '/b') AND route <> '/b' AND status >= 404",
        ] {
            let (select, by) = if group.is_empty() {
                (String::new(), String::new())
            } else {
                (
                    format!("{group}, "),
                    format!("GROUP BY {group} ORDER BY {group}"),
                )
            };
            out.push(format!(
                "SELECT {select}count(*) AS n, sum(status) AS s, min(latency) AS lo, \
                 max(latency) AS hi, count(DISTINCT route) AS d, \
                 count(*) FILTER (WHERE latency IS NULL) AS missing \
                 FROM web {filter} {by}"
            ));
            // Without a distinct count: grouped by `route` alone, these group by its keys.
            out.push(format!(
                "SELECT {select}count(*) AS n, max(latency) AS hi, median(latency) AS mid, \
                 sum(status) FILTER (WHERE latency > 100) AS slow \
                 FROM web {filter} {by}"
            ));
        }
    }
    out
}

/// Over random events tiered in random batches (late ones among them), with some left in the
/// hot tier: every query answers as plain DataFusion does, on its first (computing) and second
/// (cached) run, and again after more events and a compaction.
#[test]
fn cached_answers_equal_uncached_ones() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 8,
        ..Config::default()
    });
    let sampled = proptest::sample::subsequence(queries(), 6);
    runner
        .run(
            &(batches(), batches(), sampled),
            |((tiered, hot), (later, _), queries)| {
                rt.block_on(async {
                    let dir = tempfile::tempdir().unwrap();
                    let store = Arc::new(
                        Store::open(dir.path(), StoreConfig::default())
                            .await
                            .unwrap(),
                    );
                    for batch in &tiered {
                        ingest::append_json(
                            &store,
                            &web(),
                            body(batch).as_bytes(),
                            BodyFormat::Detect,
                        )
                        .unwrap();
                        store.tier(&web()).await.unwrap();
                    }
                    if !hot.is_empty() {
                        ingest::append_json(
                            &store,
                            &web(),
                            body(&hot).as_bytes(),
                            BodyFormat::Detect,
                        )
                        .unwrap();
                    }
                    let service = QueryService::new(
                        Arc::clone(&store),
                        QueryLimits::default(),
                        dir.path().join("spill"),
                    )
                    .unwrap();
                    let check = async |when: &str| {
                        for sql in &queries {
                            let expected = reference(&store, sql).await;
                            for run in ["computing", "cached"] {
                                let got = rows(&service, sql).await;
                                prop_assert_eq!(&got, &expected, "{} {} run of {}", when, run, sql);
                            }
                        }
                        Ok(())
                    };
                    check("before").await?;
                    for batch in &later {
                        ingest::append_json(
                            &store,
                            &web(),
                            body(batch).as_bytes(),
                            BodyFormat::Detect,
                        )
                        .unwrap();
                        store.tier(&web()).await.unwrap();
                    }
                    store.compact(&web()).await.unwrap();
                    check("after more events and a compaction").await?;
                    prop_assert!(service.partials.usage().0 > 0);
                    Ok(())
                })
            },
        )
        .unwrap();
}
