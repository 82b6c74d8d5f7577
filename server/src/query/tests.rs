//! The query service against a real store: streams and system tables, read-only SQL, row limits.

use storage::{StoreConfig, StreamName};

use crate::ingest::{self, BodyFormat};

use super::*;

async fn service_with_events(body: &str) -> (tempfile::TempDir, QueryService) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(dir.path(), StoreConfig::default())
            .await
            .unwrap(),
    );
    let web = StreamName::new("web").unwrap();
    ingest::append_json(&store, &web, body.as_bytes(), BodyFormat::Detect).unwrap();
    let service =
        QueryService::new(store, QueryLimits::default(), dir.path().join("spill")).unwrap();
    (dir, service)
}

async fn json(service: &QueryService, sql: &str) -> Vec<Vec<serde_json::Value>> {
    let output = service.run(sql, 1000).await.unwrap();
    format::rows(&output).unwrap()
}

#[tokio::test]
async fn queries_streams_and_system_tables() {
    let body = "{\"_time\":\"2026-01-05T10:00:00Z\",\"status\":200,\"ms\":1.5,\"ok\":true}\n\
                {\"_time\":\"2026-01-05T10:00:01Z\",\"status\":503,\"ms\":null,\"ok\":false}\n";
    let (_dir, service) = service_with_events(body).await;
    let rows = json(
        &service,
        "SELECT _time, _offset, status, ms, ok FROM web ORDER BY _offset",
    )
    .await;
    assert_eq!(
        serde_json::json!(rows),
        serde_json::json!([
            ["2026-01-05T10:00:00.000000Z", 0, 200, 1.5, true],
            ["2026-01-05T10:00:01.000000Z", 1, 503, null, false],
        ])
    );
    let rows = json(&service, "SELECT name, events, columns FROM system.streams").await;
    assert_eq!(serde_json::json!(rows), serde_json::json!([["web", 2, 5]]));
    let rows = json(
        &service,
        "SELECT name, type FROM system.columns WHERE stream = 'web' ORDER BY position LIMIT 2",
    )
    .await;
    assert_eq!(
        serde_json::json!(rows[1]),
        serde_json::json!(["_offset", "Int64"])
    );
}

#[tokio::test]
async fn refuses_writes_and_reports_bad_sql() {
    let (_dir, service) = service_with_events("{\"a\":1}").await;
    for sql in [
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO web VALUES (1)",
        "COPY (SELECT 1) TO '/tmp/x.csv'",
        "CREATE EXTERNAL TABLE x STORED AS CSV LOCATION '/etc/passwd'",
        "SET datafusion.execution.batch_size = 1",
    ] {
        assert!(service.run(sql, 10).await.is_err(), "{sql} must be refused");
    }
    let Err(err) = service.run("SELEC 1", 10).await else {
        panic!("bad SQL must fail")
    };
    let api = crate::error::ApiError::from(err);
    assert_eq!(api.status(), axum::http::StatusCode::BAD_REQUEST);
    let error = api.into_inner();
    assert_eq!(error.kind, protocol::ErrorKind::BadRequest);
    assert!(
        error.message.contains("Line: 1, Column: 1"),
        "{}",
        error.message
    );
    let Err(err) = service.run("SELECT * FROM nope", 10).await else {
        panic!()
    };
    assert!(err.to_string().contains("nope"), "{err}");
}

#[tokio::test]
async fn truncates_at_the_row_limit() {
    let body: String = (0..50).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    let (_dir, service) = service_with_events(&body).await;
    let output = service.run("SELECT i FROM web", 20).await.unwrap();
    assert!(output.truncated);
    assert_eq!(
        output
            .batches
            .iter()
            .map(RecordBatch::num_rows)
            .sum::<usize>(),
        20
    );
    let csv = format::Export::Csv.write(&output).unwrap();
    assert_eq!(String::from_utf8(csv).unwrap().lines().count(), 21);
}

/// Dashboard substitution against the real planner: hostile values are literals that match
/// nothing, lists and time macros plan and select what they say.
#[tokio::test]
async fn substituted_dashboard_sql_runs_as_typed_literals() {
    use std::collections::BTreeMap;

    use protocol::dashboard::{Scope, TimeRange, VariableValue as Value, substitute};

    let body = "{\"_time\":\"2026-01-05T10:00:00Z\",\"service\":\"api\",\"n\":1}\n\
                {\"_time\":\"2026-01-05T10:00:30Z\",\"service\":\"web\",\"n\":2}\n\
                {\"_time\":\"2026-01-05T10:05:00Z\",\"service\":\"x' OR 1=1 --\",\"n\":4}\n";
    let (_dir, service) = service_with_events(body).await;
    let run = |variables: BTreeMap<String, Value>, range: &str, sql: &str| {
        let (from, to) = range.split_once(' ').unwrap();
        let scope = Scope {
            variables: &variables,
            range: TimeRange::parse(from, to).unwrap(),
            interval: 60_000_000,
        };
        let sql = substitute(sql, &scope).unwrap();
        let service = service.clone();
        async move { json(&service, &sql).await }
    };
    let one = |value: &str| BTreeMap::from([("s".to_string(), Value::Text(value.into()))]);
    let all = "2026-01-05T00:00:00Z 2026-01-06T00:00:00Z";
    let sum = "SELECT coalesce(sum(n), 0) FROM web WHERE $__timeFilter(_time) AND service = $s";
    for (value, expected) in [
        ("api", 1),
        ("x' OR 1=1 --", 4),
        ("'; DROP TABLE web; --", 0),
        ("nothing' OR 'a'='a", 0),
    ] {
        let rows = run(one(value), all, sum).await;
        assert_eq!(rows, [[serde_json::json!(expected)]], "{value}");
    }
    let list = BTreeMap::from([(
        "s".to_string(),
        Value::List(vec!["api".into(), "web".into(), "') OR ('1'='1".into()]),
    )]);
    let rows = run(list, all, "SELECT sum(n) FROM web WHERE service IN ($s)").await;
    assert_eq!(rows, [[serde_json::json!(3)]]);
    // An absolute range keeps only its events, its bounds included.
    let rows = run(
        one("api"),
        "2026-01-05T10:00:30Z 2026-01-05T10:05:00Z",
        "SELECT sum(n) FROM web WHERE $__timeFilter(_time)",
    )
    .await;
    assert_eq!(rows, [[serde_json::json!(6)]]);
    // Buckets of $__interval (a minute here).
    let rows = run(
        one("api"),
        all,
        "SELECT $__timeGroup(_time) AS t, count(*) FROM web WHERE $__timeFilter(_time) GROUP BY 1 ORDER BY 1",
    )
    .await;
    assert_eq!(
        serde_json::json!(rows),
        serde_json::json!([
            ["2026-01-05T10:00:00.000000Z", 2],
            ["2026-01-05T10:05:00.000000Z", 1]
        ])
    );
}

/// Explore's SQL runs as written over a stream named with an SQL keyword; its histogram, field
/// counts and top values agree with its raw events, and keyset pages cover every event once.
#[tokio::test]
async fn explore_queries_agree_and_pages_cover_every_event_once() {
    use protocol::dashboard::time::TimeRange;
    use protocol::explore::{Cursor, FieldType, Filter, Op, Selection};

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(dir.path(), StoreConfig::default())
            .await
            .unwrap(),
    );
    // 7 events per second over 30 seconds, every third a 500; a quote in one service.
    let body: String = (0..210)
        .map(|i| {
            let status = if i % 3 == 0 { 500 } else { 200 };
            let service = if i % 2 == 0 { "api" } else { "o'hare" };
            format!(
                "{{\"_time\":\"2026-01-05T10:00:{:02}Z\",\"status\":{status},\"service\":\"{service}\",\"i\":{i}}}\n",
                i / 7
            )
        })
        .collect();
    let order = StreamName::new("order").unwrap();
    ingest::append_json(&store, &order, body.as_bytes(), BodyFormat::Detect).unwrap();
    let service =
        QueryService::new(store, QueryLimits::default(), dir.path().join("spill")).unwrap();
    let types = |field: &str| match field {
        "status" | "i" => FieldType::Number,
        _ => FieldType::Text,
    };
    let selection = Selection {
        stream: "order".into(),
        range: TimeRange::parse("2026-01-05T10:00:00Z", "2026-01-05T10:00:29Z").unwrap(),
        filters: vec![
            Filter::new("status", Op::Eq, "500"),
            Filter::new("service", Op::Ne, "o'hare"),
        ],
        predicates: Vec::new(),
    };
    // Events 0, 6, 12, … (even and a multiple of 3): i < 210, so 35 of them.
    let histogram = json(
        &service,
        &selection.histogram_sql(&types, 10_000_000).unwrap(),
    )
    .await;
    let counts: Vec<i64> = histogram.iter().map(|r| r[1].as_i64().unwrap()).collect();
    assert_eq!(counts.iter().sum::<i64>(), 35, "{histogram:?}");
    assert_eq!(histogram.len(), 3);
    let fields = ["status".to_owned(), "service".to_owned(), "gone".to_owned()];
    let presence = service
        .run(
            &selection
                .presence_sql(&types, &fields[..2], &["service".into(), "i".into()])
                .unwrap(),
            10,
        )
        .await
        .unwrap();
    // 35 events, each with a status and a service; one service, 35 values of i.
    assert_eq!(
        serde_json::json!(format::rows(&presence).unwrap()),
        serde_json::json!([[35, 35, 35, 1, 35]])
    );
    let indexed = [(0, fields[0].clone()), (1, fields[1].clone())];
    let mut top = json(
        &service,
        &selection.top_values_sql(&types, &indexed, 5).unwrap(),
    )
    .await;
    // UNION ALL keeps no order between fields; each field's rows are in order.
    top.sort_by_key(|row| row[0].as_i64());
    assert_eq!(
        serde_json::json!(top),
        serde_json::json!([[0, "500", 35], [1, "api", 35]])
    );
    // The newest 10 events: i = 150, 156, …, 204, each once; ties go by the value as text.
    let sampled = [(0, "status".to_owned()), (2, "i".to_owned())];
    let sample = json(
        &service,
        &selection
            .sample_top_values_sql(&types, &sampled, 3, 10)
            .unwrap(),
    )
    .await;
    assert_eq!(
        serde_json::json!(sample),
        serde_json::json!([[0, "500", 10], [2, "150", 1], [2, "156", 1], [2, "162", 1]])
    );
    // Broken down by service with one value named: 35 `api` events, nothing else passes.
    let mut unfiltered = selection.clone();
    unfiltered.filters.truncate(1);
    let breakdown = json(
        &service,
        &unfiltered
            .breakdown_sql(&types, "service", 10_000_000, 1)
            .unwrap(),
    )
    .await;
    let mut per_value = std::collections::BTreeMap::<String, i64>::new();
    for row in &breakdown {
        *per_value
            .entry(row[1].as_str().unwrap().to_owned())
            .or_default() += row[2].as_i64().unwrap();
    }
    // 70 events of status 500: 35 of each service; a tie broken by the value, `api` first.
    assert_eq!(
        per_value.into_iter().collect::<Vec<_>>(),
        [("(other)".to_owned(), 35), ("api".to_owned(), 35)]
    );
    // A number field summed up: i is 0, 6, …, 204.
    let numbers = json(
        &service,
        &selection.numbers_sql(&types, &["i".to_owned()]).unwrap(),
    )
    .await;
    let figure = |k: usize| numbers[0][k].as_f64().unwrap();
    assert_eq!((figure(0), figure(1), figure(4)), (0.0, 102.0, 204.0));
    assert!((90.0..=114.0).contains(&figure(2)), "p50 {}", figure(2));
    let spread = json(
        &service,
        &selection
            .spread_sql(&types, &[("i".to_owned(), 0.0, 204.0)], 4)
            .unwrap(),
    )
    .await;
    let mut buckets: Vec<(i64, i64)> = spread
        .iter()
        .map(|r| (r[1].as_i64().unwrap(), r[2].as_i64().unwrap()))
        .collect();
    buckets.sort_unstable();
    // Width 51: 0–48 (9 values), 54–96 (8), 102–150 (9), 156–204 (9, the maximum included).
    assert_eq!(buckets, [(0, 9), (1, 8), (2, 9), (3, 9)]);
    // Pages of 10 by keyset, newest first: 35 distinct events, in order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = service
            .run(&selection.events_sql(&types, after, 10).unwrap(), 100)
            .await
            .unwrap();
        let rows = format::rows(&page).unwrap();
        let column = |name: &str| page.schema.index_of(name).unwrap();
        let (time, offset, i) = (column("_time"), column("_offset"), column("i"));
        seen.extend(rows.iter().map(|r| r[i].as_i64().unwrap()));
        let Some(last) = rows.last() else { break };
        let t = protocol::dashboard::time::parse_rfc3339(last[time].as_str().unwrap()).unwrap();
        after = Some(Cursor {
            time: t,
            offset: last[offset].as_i64().unwrap(),
        });
    }
    let expected: Vec<i64> = (0..210).rev().filter(|i| i % 6 == 0).collect();
    assert_eq!(seen, expected);
    // A value that is not a number for a number field is refused before any SQL.
    let bad = Selection {
        filters: vec![Filter::new("status", Op::Eq, "1 OR 1=1")],
        ..selection
    };
    assert!(bad.events_sql(&types, None, 10).is_err());
}

#[tokio::test]
async fn a_parse_error_at_a_stream_named_like_a_keyword_suggests_quotes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(dir.path(), StoreConfig::default())
            .await
            .unwrap(),
    );
    for name in ["table", "web"] {
        let stream = StreamName::new(name).unwrap();
        ingest::append_json(&store, &stream, b"{\"a\":1}", BodyFormat::Detect).unwrap();
    }
    let service =
        QueryService::new(store, QueryLimits::default(), dir.path().join("spill")).unwrap();
    let Err(err) = service.run("SELECT a FROM table WHERE a = 1", 10).await else {
        panic!("`FROM table` parses");
    };
    let message = crate::error::ApiError::from(err).into_inner().message;
    assert!(
        message.starts_with("SQL error: ")
            && message.contains("write it in double quotes, as \"table\""),
        "{message}"
    );
    assert_eq!(json(&service, "SELECT a FROM \"table\"").await.len(), 1);
    // A stream whose name is no keyword, or no stream: the parse error alone.
    for sql in [
        "SELECT a FROM web WHER a = 1",
        "SELECT a FROM nothing WHERE",
    ] {
        let Err(err) = service.run(sql, 10).await else {
            panic!("{sql} parses");
        };
        let message = crate::error::ApiError::from(err).into_inner().message;
        assert!(!message.contains("double quotes"), "{message}");
    }
}

mod compare;

/// A query's progress counts the lake files its plan reads (after time pruning) and their
/// bytes, none opened before it runs and all of them after.
#[tokio::test]
async fn progress_counts_the_lake_files_and_bytes_a_plan_reads() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(dir.path(), StoreConfig::default())
            .await
            .unwrap(),
    );
    let web = StreamName::new("web").unwrap();
    // 20 events in each of three hours: three lake files once tiered.
    let body: String = (0..60)
        .map(|i| {
            format!(
                "{{\"_time\":\"2026-01-05T{:02}:{:02}:00Z\",\"status\":{}}}\n",
                10 + i / 20,
                i % 20,
                200 + i
            )
        })
        .collect();
    ingest::append_json(&store, &web, body.as_bytes(), BodyFormat::Detect).unwrap();
    store.tier(&web).await.unwrap().expect("events tiered");
    let service = QueryService::new(
        Arc::clone(&store),
        QueryLimits::default(),
        dir.path().join("spill"),
    )
    .unwrap();
    let lake_bytes = json(&service, "SELECT lake_bytes FROM system.streams").await[0][0]
        .as_u64()
        .unwrap();
    for (sql, files) in [
        ("SELECT sum(status) FROM web", 3),
        (
            "SELECT sum(status) FROM web WHERE _time >= '2026-01-05T11:00:00Z' AND _time < '2026-01-05T12:00:00Z'",
            1,
        ),
    ] {
        let registered = service.running.register("q").expect("a free id");
        let before = service.running.progress("q").unwrap();
        assert!(!before.planned && before.files_total == 0, "{before:?}");
        service
            .execute(
                sql,
                10,
                Duration::from_secs(30),
                Some(Arc::clone(&registered.entry)),
            )
            .await
            .unwrap();
        let after = service.running.progress("q").unwrap();
        assert!(after.planned, "{sql}: {after:?}");
        assert_eq!(
            (after.files_total, after.files_scanned),
            (files, files),
            "{sql}"
        );
        assert!(after.bytes_scanned > 0, "{sql}: {after:?}");
        if files == 3 {
            assert_eq!(after.bytes_total, lake_bytes, "{sql}: every file's bytes");
        } else {
            assert!(after.bytes_total < lake_bytes, "{sql}: one file's bytes");
        }
        drop(registered);
        assert!(
            service.running.progress("q").is_none(),
            "the id is free again"
        );
    }
}

#[tokio::test]
async fn a_top_k_has_one_heap_and_a_needle_opens_only_the_files_that_may_hold_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        Store::open(dir.path(), StoreConfig::default())
            .await
            .unwrap(),
    );
    let web = StreamName::new("web").unwrap();
    // 200 events in each of three hours (three lake files), then 30 hot ones; user `u{i % 50}`
    // in the lake, `late` in the hot tier; trace `t{i}` once each.
    let event = |i: usize, hour: usize, user: String| {
        format!(
            "{{\"_time\":\"2026-01-05T{hour:02}:{:02}:{:02}Z\",\"i\":{i},\"user\":\"{user}\",\"trace\":\"t{i}\"}}\n",
            (i % 200) / 60,
            (i % 200) % 60
        )
    };
    let lake: String = (0..600)
        .map(|i| event(i, 10 + i / 200, format!("u{}", i % 50)))
        .collect();
    ingest::append_json(&store, &web, lake.as_bytes(), BodyFormat::Detect).unwrap();
    store.tier(&web).await.unwrap().expect("events tiered");
    let hot: String = (600..630).map(|i| event(i, 13, "late".into())).collect();
    ingest::append_json(&store, &web, hot.as_bytes(), BodyFormat::Detect).unwrap();
    let service =
        QueryService::new(store, QueryLimits::default(), dir.path().join("spill")).unwrap();
    let ints = |rows: Vec<Vec<serde_json::Value>>| -> Vec<i64> {
        rows.iter().map(|r| r[0].as_i64().unwrap()).collect()
    };
    // Newest first: the hot tier's, then the lake's, across partitions.
    let newest = ints(
        json(
            &service,
            "SELECT i FROM web ORDER BY _time DESC, i DESC LIMIT 40",
        )
        .await,
    );
    assert_eq!(newest, (590..630).rev().collect::<Vec<i64>>());
    let user = ints(
        json(
            &service,
            "SELECT i FROM web WHERE user = 'u7' ORDER BY _time DESC LIMIT 5",
        )
        .await,
    );
    assert_eq!(user, vec![557, 507, 457, 407, 357]);
    let trace = ints(
        json(
            &service,
            "SELECT i FROM web WHERE trace IN ('t5', 't405', 't612') ORDER BY i",
        )
        .await,
    );
    assert_eq!(trace, vec![5, 405, 612]);
    let plan = |sql: String| {
        let service = &service;
        async move {
            json(service, &format!("EXPLAIN {sql}"))
                .await
                .into_iter()
                .map(|row| row[1].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    let top = plan("SELECT i FROM web ORDER BY _time DESC LIMIT 40".into()).await;
    assert!(
        top.contains("SortExec: TopK(fetch=40)") && top.contains("preserve_partitioning=[false]"),
        "{top}"
    );
    assert!(!top.contains("SortPreservingMergeExec"), "{top}");
    // One trace id: only the file of its hour is scanned (the other two files' filters lack it).
    let needle = plan("SELECT i FROM web WHERE trace = 't250'".into()).await;
    assert_eq!(needle.matches(".parquet").count(), 1, "{needle}");
    let all = plan("SELECT i FROM web WHERE upper(trace) = 'T250'".into()).await;
    assert_eq!(all.matches(".parquet").count(), 3, "{all}");
}

#[test]
fn every_error_reason_is_listed_for_the_metrics() {
    use std::time::Duration;
    let errors = [
        Error::DataFusion(datafusion::error::DataFusionError::Plan("x".to_owned())),
        Error::TimeLimit(Duration::ZERO),
        Error::MemoryLimit {
            limit: 0,
            detail: String::new(),
        },
        Error::Busy(1, Duration::ZERO),
        Error::KeywordName {
            name: String::new(),
            parse: String::new(),
        },
        Error::Drill(String::new()),
        Error::Cancelled,
        Error::IdInUse(String::new()),
        Error::Panicked(String::new()),
    ];
    let reasons: std::collections::BTreeSet<&str> = errors.iter().map(Error::reason).collect();
    let listed: std::collections::BTreeSet<&str> = Error::REASONS.into_iter().collect();
    assert_eq!(reasons, listed);
}
