//! The store as a whole: appends, restarts, tiering, compaction, retention, subscriptions and
//! snapshots under concurrency, the hot tier's bound.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use datafusion::prelude::SessionContext;

use std::collections::BTreeMap;

use super::*;
use crate::testing::events;

async fn open(dir: &Path) -> Store {
    Store::open(dir, StoreConfig::default()).await.unwrap()
}

fn name(s: &str) -> StreamName {
    StreamName::new(s).unwrap()
}

/// Runs `sql` over one snapshot of `stream` registered as table `t`.
async fn query(snapshot: Snapshot, sql: &str) -> Vec<arrow::record_batch::RecordBatch> {
    let ctx = SessionContext::new();
    ctx.register_table("t", snapshot.into_table()).unwrap();
    ctx.sql(sql).await.unwrap().collect().await.unwrap()
}

/// (count(*), sum(_offset)) of one snapshot.
async fn count_and_sum(snapshot: Snapshot) -> (i64, i64) {
    let batches = query(
        snapshot,
        "SELECT count(*), coalesce(sum(_offset), 0) FROM t",
    )
    .await;
    let count = batches[0].column(0).as_primitive::<Int64Type>().value(0);
    let sum = batches[0].column(1).as_primitive::<Int64Type>().value(0);
    (count, sum)
}

async fn offsets(snapshot: Snapshot) -> Vec<i64> {
    query(snapshot, "SELECT _offset FROM t ORDER BY _offset")
        .await
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect()
}

#[tokio::test]
async fn append_snapshot_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let web = name("web");
    {
        let store = open(dir.path()).await;
        let out = store
            .append(&web, &events("{\"a\":1}\n{\"a\":2,\"b\":\"x\"}\n"))
            .unwrap();
        assert_eq!(out.accepted(), 2);
        assert_eq!(out.offsets, Some((Offset(0), Offset(1))));
        // A string for the integer column `a`: that event is left out, the other kept.
        let out = store
            .append(&web, &events("{\"a\":\"bad\"}\n{\"b\":\"y\"}\n"))
            .unwrap();
        assert_eq!(out.accepted(), 1);
        assert_eq!(
            out.rejected,
            vec![RowRejection {
                row: 0,
                error: "field `a` is Int64, got a string".into()
            }]
        );
        let out = store.append(&web, &events("{\"a\":3.5}")).unwrap();
        assert_eq!(out.offsets, Some((Offset(3), Offset(3))));
        assert_eq!(
            offsets(store.snapshot(&web).unwrap()).await,
            vec![0, 1, 2, 3]
        );
    }
    let store = open(dir.path()).await;
    let snapshot = store.snapshot(&web).unwrap();
    let names: Vec<_> = snapshot
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["_time", "_offset", "a", "b"]);
    assert_eq!(
        snapshot.schema().field(2).data_type(),
        &arrow::datatypes::DataType::Float64
    );
    assert_eq!(offsets(snapshot).await, vec![0, 1, 2, 3]);
    let out = store.append(&web, &events("{\"a\":4}")).unwrap();
    assert_eq!(out.offsets, Some((Offset(4), Offset(4))));
}

#[tokio::test]
async fn tiering_moves_events_to_the_lake_and_restart_neither_loses_nor_repeats() {
    let dir = tempfile::tempdir().unwrap();
    let web = name("web");
    let body = |from: usize| -> String {
        (from..from + 100)
            .map(|i| {
                format!(
                    "{{\"_time\":{},\"i\":{i},\"route\":\"/r{}\"}}\n",
                    1_767_600_000 + i * 60,
                    i % 7
                )
            })
            .collect()
    };
    {
        let store = open(dir.path()).await;
        store.append(&web, &events(body(0))).unwrap();
        assert_eq!(store.tier(&web).await.unwrap(), Some(Offset(100)));
        assert_eq!(store.tier(&web).await.unwrap(), None, "nothing new to tier");
        store.append(&web, &events(body(100))).unwrap();
        let snapshot = store.snapshot(&web).unwrap();
        assert_eq!(
            (snapshot.start(), snapshot.end()),
            (Offset(100), Offset(200))
        );
        assert_eq!(snapshot.lake_version(), Some(0));
        assert!(
            snapshot.lake_files().len() >= 2,
            "100 minutes span two hour partitions"
        );
        assert_eq!(count_and_sum(snapshot).await, (200, 199 * 200 / 2));
        let info = store.stream_info(&web).unwrap();
        assert!(info.lake_bytes > 0 && info.hot_rows == 100, "{info:?}");
    }
    // The WAL segments of tiered events are gone; the rest is replayed on top of the lake.
    let wal: Vec<_> = fs::read_dir(dir.path().join("wal/web")).unwrap().collect();
    assert_eq!(wal.len(), 1);
    let store = open(dir.path()).await;
    assert_eq!(
        count_and_sum(store.snapshot(&web).unwrap()).await,
        (200, 199 * 200 / 2)
    );
    assert_eq!(store.tier(&web).await.unwrap(), Some(Offset(200)));
    drop(store);
    let store = open(dir.path()).await;
    let snapshot = store.snapshot(&web).unwrap();
    assert_eq!(
        (snapshot.start(), snapshot.end()),
        (Offset(200), Offset(200))
    );
    assert_eq!(count_and_sum(snapshot).await, (200, 199 * 200 / 2));
    let out = store.append(&web, &events("{\"i\":-1}")).unwrap();
    assert_eq!(out.offsets, Some((Offset(200), Offset(200))));
}

#[tokio::test]
async fn filters_on_time_prune_lake_files_by_their_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let web = name("web");
    // Three tierings, each one hour apart: three files in three partitions.
    for hour in 0..3 {
        let body: String = (0..50)
            .map(|i| {
                format!(
                    "{{\"_time\":{},\"status\":{}}}\n",
                    1_767_600_000 + hour * 3600 + i,
                    200 + hour
                )
            })
            .collect();
        store.append(&web, &events(body)).unwrap();
        store.tier(&web).await.unwrap();
    }
    assert_eq!(store.snapshot(&web).unwrap().lake_files().len(), 3);
    let ctx = SessionContext::new();
    ctx.register_table("web", store.snapshot(&web).unwrap().into_table())
        .unwrap();
    let sql = "SELECT count(*) FROM web WHERE _time >= to_timestamp(1767603600) AND _time < to_timestamp(1767603600 + 3600)";
    let plan = ctx
        .sql(&format!("EXPLAIN {sql}"))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&plan)
        .unwrap()
        .to_string();
    assert_eq!(
        text.matches(".parquet").count(),
        1,
        "one file read:\n{text}"
    );
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    assert_eq!(
        batches[0].column(0).as_primitive::<Int64Type>().value(0),
        50
    );
    // A filter on another column prunes too (status differs per file).
    let plan = ctx
        .sql("EXPLAIN SELECT * FROM web WHERE status = 202")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let text = arrow::util::pretty::pretty_format_batches(&plan)
        .unwrap()
        .to_string();
    assert_eq!(text.matches(".parquet").count(), 1, "{text}");
}

#[tokio::test]
async fn second_open_of_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _store = open(dir.path()).await;
    assert!(matches!(
        Store::open(dir.path(), StoreConfig::default()).await,
        Err(Error::Locked { .. })
    ));
}

#[tokio::test]
async fn nothing_is_created_for_no_events() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let out = store.append(&name("x"), &events("")).unwrap();
    assert_eq!((out.accepted(), out.rejected.len()), (0, 0));
    assert!(store.stream_names().is_empty());
    assert!(matches!(
        store.snapshot(&name("x")),
        Err(Error::StreamNotFound { .. })
    ));
}

/// Writers append concurrently while the stream is tiered and compacted again and again and
/// readers take snapshots: every snapshot holds offsets `0..end` exactly once (count and sum
/// agree), and never less than what was acknowledged before it was taken. It runs until at least
/// 10 tierings, 2 compactions and 20 snapshot checks have interleaved with the writers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_tiering_compaction_and_snapshots_are_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()).await);
    let web = name("web");
    store.append(&web, &events("{\"w\":-1}")).unwrap();
    let acked = Arc::new(AtomicU64::new(1));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let (store, web, acked, done) = (
                Arc::clone(&store),
                web.clone(),
                Arc::clone(&acked),
                Arc::clone(&done),
            );
            tokio::task::spawn_blocking(move || {
                let mut i = 0;
                while !done.load(Ordering::SeqCst) {
                    let body: String = (0..7)
                        .map(|j| format!("{{\"w\":{writer},\"i\":{i},\"j\":{j}}}\n"))
                        .collect();
                    let out = store.append(&web, &events(body)).unwrap();
                    assert_eq!(out.accepted(), 7);
                    acked.fetch_add(7, Ordering::SeqCst);
                    i += 1;
                }
            })
        })
        .collect();
    let tierings = Arc::new(AtomicU64::new(0));
    let compactions = Arc::new(AtomicU64::new(0));
    let maintainer = |compact: bool| {
        let (store, web, done) = (Arc::clone(&store), web.clone(), Arc::clone(&done));
        let counter = Arc::clone(if compact { &compactions } else { &tierings });
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                let n = if compact {
                    store.compact(&web).await.unwrap() as u64
                } else {
                    u64::from(store.tier(&web).await.unwrap().is_some())
                };
                counter.fetch_add(n, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        })
    };
    let (tierer, compactor) = (maintainer(false), maintainer(true));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let mut checks = 0;
    loop {
        let before = acked.load(Ordering::SeqCst);
        let snapshot = store.snapshot(&web).unwrap();
        let end = snapshot.end().0 as i64;
        let (count, sum) = count_and_sum(snapshot).await;
        assert!(
            count as u64 >= before,
            "a snapshot lost acknowledged events"
        );
        assert_eq!(
            (count, sum),
            (end, end * (end - 1) / 2),
            "offsets 0..end exactly once"
        );
        checks += 1;
        let (t, c) = (
            tierings.load(Ordering::SeqCst),
            compactions.load(Ordering::SeqCst),
        );
        if t >= 10 && c >= 2 && checks >= 20 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "tierings {t}, compactions {c}, checks {checks}"
        );
    }
    done.store(true, Ordering::SeqCst);
    for task in writers {
        task.await.unwrap();
    }
    tierer.await.unwrap();
    compactor.await.unwrap();
    let n = acked.load(Ordering::SeqCst) as i64;
    assert_eq!(
        count_and_sum(store.snapshot(&web).unwrap()).await,
        (n, n * (n - 1) / 2)
    );
    drop(store);
    let store = open(dir.path()).await;
    assert_eq!(
        count_and_sum(store.snapshot(&web).unwrap()).await,
        (n, n * (n - 1) / 2)
    );
}

#[tokio::test]
async fn subscribe_catches_up_then_follows() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()).await);
    let web = name("web");
    store
        .append(&web, &events("{\"i\":0}\n{\"i\":1}\n{\"i\":2}\n"))
        .unwrap();
    let mut subscription = store.subscribe(&web, Offset(1)).unwrap();
    let caught_up = subscription.next().await.unwrap();
    let offsets: Vec<i64> = caught_up
        .iter()
        .flat_map(|b| b.column(1).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    assert_eq!(offsets, vec![1, 2]);
    assert_eq!(subscription.position(), Offset(3));
    let writer = {
        let (store, web) = (Arc::clone(&store), web.clone());
        tokio::task::spawn_blocking(move || {
            store
                .append(&web, &events("{\"i\":3}\n{\"i\":4}\n"))
                .unwrap()
        })
    };
    let live = subscription.next().await.unwrap();
    writer.await.unwrap();
    assert_eq!(live[0].column(1).as_primitive::<Int64Type>().value(0), 3);
    assert!(subscription.position() >= Offset(4));
}

#[tokio::test]
async fn a_reader_behind_is_told_by_how_many_events_and_since_when() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let web = name("web");
    store
        .append(&web, &events("{\"i\":0}\n{\"i\":1}\n"))
        .unwrap();
    let progress = store.subscribe(&web, Offset(0)).unwrap().progress();
    assert_eq!(progress.lag(Offset(2)), crate::Lag::default());
    let before = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(20));
    store
        .append(&web, &events("{\"i\":2}\n{\"i\":3}\n{\"i\":4}\n"))
        .unwrap();
    // Behind by the second append only: waiting since it, not since the first.
    let lag = progress.lag(Offset(2));
    assert_eq!(lag.events, 3);
    assert!(lag.wait <= before.elapsed() - std::time::Duration::from_millis(20));
    // Behind by both: waiting since the first (at least the 20 ms between them).
    let lag = progress.lag(Offset(1));
    assert_eq!(lag.events, 4);
    assert!(lag.wait >= std::time::Duration::from_millis(20));
    assert_eq!(progress.lag(Offset(5)), crate::Lag::default());
}

fn config_with(f: impl FnOnce(&mut StoreConfig)) -> StoreConfig {
    let mut config = StoreConfig::default();
    f(&mut config);
    config
}

/// Events of one past hour, `n` per call, with offsets continuing.
fn hour_body(hour: u64, from: u64, n: u64) -> String {
    (from..from + n)
        .map(|i| {
            format!(
                "{{\"_time\":{},\"i\":{i}}}\n",
                1_767_600_000 + hour * 3600 + (i * 37) % 3600
            )
        })
        .collect()
}

#[tokio::test]
async fn compaction_merges_an_hour_sorted_without_changing_data_and_vacuum_deletes_old_files() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(|c| c.vacuum_grace = Duration::ZERO);
    let store = Store::open(dir.path(), config).await.unwrap();
    let web = name("web");
    for round in 0..4 {
        store
            .append(&web, &events(hour_body(0, round * 25, 25)))
            .unwrap();
        store.tier(&web).await.unwrap();
    }
    let before = store.snapshot(&web).unwrap();
    assert_eq!(before.lake_files().len(), 4);
    assert_eq!(store.compact(&web).await.unwrap(), 1);
    let after = store.snapshot(&web).unwrap();
    assert_eq!(after.lake_files().len(), 1);
    assert_eq!(count_and_sum(after.clone()).await, (100, 99 * 100 / 2));
    // The old snapshot still reads its files until vacuum.
    assert_eq!(count_and_sum(before.clone()).await, (100, 99 * 100 / 2));
    let version = after.lake_version().unwrap();
    let commit = std::fs::read_to_string(
        dir.path()
            .join(format!("lake/web/_delta_log/{version:020}.json")),
    )
    .unwrap();
    assert!(
        commit.contains("\"dataChange\":false") && !commit.contains("\"dataChange\":true"),
        "{commit}"
    );
    // The compacted file is sorted by _time.
    let times = query(after, "SELECT _time FROM t").await;
    let times: Vec<i64> = times
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                .values()
                .to_vec()
        })
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "sorted by _time");
    store.expire_and_vacuum(&web).await.unwrap();
    for file in before.lake_files() {
        assert!(!file.exists(), "{} was vacuumed", file.display());
    }
    assert_eq!(store.tier(&web).await.unwrap(), None);
    drop(store);
    let store = open(dir.path()).await;
    assert_eq!(
        count_and_sum(store.snapshot(&web).unwrap()).await,
        (100, 99 * 100 / 2)
    );
}

#[tokio::test]
async fn retention_removes_whole_expired_hours() {
    let dir = tempfile::tempdir().unwrap();
    let mut retention = BTreeMap::new();
    retention.insert(name("web"), Duration::from_secs(7 * 86_400));
    let config = config_with(|c| c.stream_retention = retention);
    let store = Store::open(dir.path(), config).await.unwrap();
    let web = name("web");
    let old = hour_body(0, 0, 10); // January 2026: long expired
    let now = crate::now_micros() / 1_000_000;
    let recent: String = (10..20)
        .map(|i| format!("{{\"_time\":{},\"i\":{i}}}\n", now - 60))
        .collect();
    store.append(&web, &events(&old)).unwrap();
    store.append(&web, &events(recent)).unwrap();
    store.tier(&web).await.unwrap();
    assert_eq!(store.snapshot(&web).unwrap().lake_files().len(), 2);
    store.expire_and_vacuum(&web).await.unwrap();
    let snapshot = store.snapshot(&web).unwrap();
    assert_eq!(snapshot.lake_files().len(), 1);
    assert_eq!(count_and_sum(snapshot).await, (10, (10..20).sum()));
    // Other streams keep everything.
    let api = name("api");
    store.append(&api, &events(old)).unwrap();
    store.tier(&api).await.unwrap();
    store.expire_and_vacuum(&api).await.unwrap();
    assert_eq!(count_and_sum(store.snapshot(&api).unwrap()).await.0, 10);
}

#[tokio::test]
async fn subscribe_reads_tiered_events_from_the_lake_then_the_hot_tier() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let web = name("web");
    store.append(&web, &events(hour_body(0, 0, 30))).unwrap();
    store.tier(&web).await.unwrap();
    store.append(&web, &events(hour_body(0, 30, 10))).unwrap();
    let mut subscription = store.subscribe(&web, Offset(5)).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 35 {
        for batch in subscription.next().await.unwrap() {
            seen.extend(
                batch
                    .column_by_name("_offset")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .values()
                    .iter()
                    .copied(),
            );
        }
    }
    assert_eq!(seen, (5..40).collect::<Vec<i64>>());
    assert_eq!(subscription.position(), Offset(40));
}

#[tokio::test]
async fn a_tiered_integer_column_that_becomes_float_keeps_tiering() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).await;
    let web = name("web");
    store
        .append(&web, &events("{\"x\":1}\n{\"x\":2}\n"))
        .unwrap();
    store.tier(&web).await.unwrap();
    store.append(&web, &events("{\"x\":2.5}\n")).unwrap();
    store.tier(&web).await.unwrap();
    let snapshot = store.snapshot(&web).unwrap();
    assert_eq!(snapshot.start(), Offset(3));
    let sums = query(snapshot, "SELECT sum(x) FROM t").await;
    assert_eq!(
        sums[0]
            .column(0)
            .as_primitive::<arrow::datatypes::Float64Type>()
            .value(0),
        5.5
    );
    drop(store);
    let store = open(dir.path()).await;
    let sums = query(
        store.snapshot(&web).unwrap(),
        "SELECT sum(x), count(*) FROM t",
    )
    .await;
    assert_eq!(
        sums[0]
            .column(0)
            .as_primitive::<arrow::datatypes::Float64Type>()
            .value(0),
        5.5
    );
}

#[tokio::test]
async fn the_lake_log_is_checkpointed() {
    let dir = tempfile::tempdir().unwrap();
    let web = name("web");
    {
        let store = open(dir.path()).await;
        for round in 0..27 {
            store
                .append(&web, &events(hour_body(0, round * 2, 2)))
                .unwrap();
            store.tier(&web).await.unwrap();
        }
    }
    let log = dir.path().join("lake/web/_delta_log");
    let files: Vec<_> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        log.join("00000000000000000024.checkpoint.parquet").exists(),
        "a checkpoint after 25 commits: {files:?}"
    );
    let store = open(dir.path()).await;
    assert_eq!(
        count_and_sum(store.snapshot(&web).unwrap()).await,
        (54, 53 * 54 / 2)
    );
}

#[tokio::test]
async fn a_stream_behind_on_tiering_refuses_appends_until_tiered_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(|c| {
        c.tier_bytes = usize::MAX;
        c.tier_age = Duration::from_secs(3600);
        c.max_hot_bytes = 64 << 10;
    });
    let store = Store::open(dir.path(), config).await.unwrap();
    let web = name("web");
    let mut acknowledged = 0u64;
    let refused = loop {
        let body = hour_body(0, acknowledged, 100);
        match store.append(&web, &events(body)) {
            Ok(outcome) => acknowledged += outcome.accepted() as u64,
            Err(err) => break err,
        }
        assert!(acknowledged < 100_000, "appends were never refused");
    };
    assert!(matches!(refused, Error::Behind { .. }), "{refused}");
    assert!(refused.to_string().contains("retry"), "{refused}");
    let (count, _) = count_and_sum(store.snapshot(&web).unwrap()).await;
    assert_eq!(
        count as u64, acknowledged,
        "every acknowledged event, no refused one"
    );

    store.tier(&web).await.unwrap();
    let outcome = store
        .append(&web, &events(hour_body(0, acknowledged, 100)))
        .unwrap();
    assert_eq!(outcome.accepted(), 100);
    let (count, _) = count_and_sum(store.snapshot(&web).unwrap()).await;
    assert_eq!(count as u64, acknowledged + 100);
}
