//! The differential property tests: the live result of one query, and of many queries
//! applying the same batches as one scan, equals DataFusion's batch result over the same events.

use std::sync::Arc;

use proptest::prelude::*;
use protocol::live::{Change, Delta, LiveResult, Mode, Snapshot};

use super::super::operator::Operator;
use super::super::scan::Scan;
use super::{Event, SECOND, T0, batch, batch_rows, compile_sql, context, settings, sorted};

/// A random query of the supported shape, as SQL.
#[derive(Debug, Clone)]
struct Query {
    bucket: Option<i64>,
    range: Option<i64>,
    by_service: bool,
    by_status: bool,
    filter: Option<String>,
    aggregates: Vec<&'static str>,
    having: bool,
}

impl Query {
    fn sql(&self) -> String {
        let mut keys = Vec::new();
        if let Some(b) = self.bucket {
            keys.push(format!("date_bin(INTERVAL '{b} seconds', _time) AS t"));
        }
        if self.by_service {
            keys.push("service".into());
        }
        if self.by_status {
            keys.push("status".into());
        }
        let mut select = keys.clone();
        select.extend(self.aggregates.iter().map(|a| a.to_string()));
        let mut sql = format!("SELECT {} FROM s", select.join(", "));
        let mut conditions = Vec::new();
        if let Some(f) = &self.filter {
            conditions.push(format!("({f})"));
        }
        if let Some(r) = self.range {
            conditions.push(format!("_time >= now() - INTERVAL '{r} seconds'"));
        }
        if !conditions.is_empty() {
            sql += &format!(" WHERE {}", conditions.join(" AND "));
        }
        if !keys.is_empty() {
            let positions: Vec<String> = (1..=keys.len()).map(|i| i.to_string()).collect();
            sql += &format!(" GROUP BY {}", positions.join(", "));
        }
        if self.having {
            sql += " HAVING count(*) > 1";
        }
        sql
    }

    /// The width of a pane, for telling which events are late.
    fn pane(&self) -> Option<i64> {
        match (self.bucket, self.range) {
            (Some(b), _) => Some(b * SECOND),
            (None, Some(r)) => Some(super::super::plan::sliding_pane(r * SECOND)),
            (None, None) => None,
        }
    }
}

fn query() -> impl Strategy<Value = Query> {
    let aggregate = prop::sample::select(vec![
        "count(*) AS n",
        "count(latency) AS nl",
        "sum(latency) AS total",
        "avg(latency) AS mean",
        "min(latency) AS low",
        "max(status) AS high",
        "approx_distinct(service) AS services",
        "sum(latency) FILTER (WHERE status >= 500) AS error_latency",
        "approx_percentile_cont(0.5) WITHIN GROUP (ORDER BY latency) AS p50",
    ]);
    (
        prop::option::of(prop::sample::select(vec![1i64, 5, 10])),
        prop::option::of(prop::sample::select(vec![30i64, 60, 120])),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(filter()),
        prop::collection::vec(aggregate, 1..4),
        any::<bool>(),
    )
        .prop_map(
            |(bucket, range, by_service, by_status, filter, mut aggregates, having)| {
                aggregates.sort_unstable();
                aggregates.dedup();
                Query {
                    bucket,
                    range,
                    by_service,
                    by_status,
                    filter,
                    aggregates,
                    having,
                }
            },
        )
}

/// A WHERE clause: one of a few forms, each with a literal that varies.
fn filter() -> impl Strategy<Value = String> {
    (0usize..3, 0usize..3).prop_map(|(form, literal)| match form {
        0 => format!("status >= {}", [200, 400, 500][literal]),
        1 => format!("service = '{}'", ["api", "web", "db"][literal]),
        _ => format!("latency > {} OR service IS NULL", [1, 3, 8][literal]),
    })
}

/// Queries that share parts: a query, variants of it that differ in the WHERE clause's literal
/// or in their aggregates, and other queries.
fn queries() -> impl Strategy<Value = Vec<Query>> {
    (
        query(),
        prop::collection::vec((filter(), any::<bool>()), 0..4),
        prop::collection::vec(query(), 0..3),
    )
        .prop_map(|(base, variants, others)| {
            let mut queries = vec![base.clone()];
            for (filter, more) in variants {
                let mut variant = base.clone();
                variant.filter = Some(filter);
                if more {
                    variant.aggregates.push("max(latency) AS worst");
                    variant.aggregates.sort_unstable();
                    variant.aggregates.dedup();
                }
                queries.push(variant);
            }
            queries.extend(others);
            queries
        })
}

fn events(n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Event>> {
    let event = (
        -200i64..100,
        0i64..1_000_000,
        prop::option::of(prop::sample::select(vec!["api", "web", "db"])),
        prop::option::of(prop::sample::select(vec![200i64, 404, 500])),
        prop::option::of(0i64..10),
    )
        .prop_map(|(s, us, service, status, latency)| Event {
            time: T0 + s * SECOND + us,
            service,
            status,
            latency,
        });
    prop::collection::vec(event, n)
}

/// How the suffix is applied: batch sizes, clock steps (in 10 s) and whether to flush after.
fn schedule() -> impl Strategy<Value = Vec<(usize, i64, bool)>> {
    prop::collection::vec((1usize..12, 0i64..3, any::<bool>()), 1..12)
}

/// One query of a differential run, and the model of what it has seen.
struct Case {
    query: Query,
    sql: String,
    op: Operator,
    client: LiveResult,
    /// The first offset the query applies live (its backfill covered those before).
    start: usize,
    kept: Vec<Event>,
    watermark: i64,
    late: u64,
}

impl Case {
    fn apply_change(&mut self, change: Change) {
        if self.client.shape.key.is_some() {
            let delta = Delta {
                id: "q".into(),
                seq: self.client.seq() + 1,
                change,
            };
            self.client.apply(&delta).unwrap();
        }
    }

    /// The model of lateness: an event is late when its pane ended at or before the watermark
    /// (the latest event time the query applied before its batch, minus the lateness).
    fn model(&mut self, events: &[Event], clock: i64, lateness: i64) {
        let query = &self.query;
        for e in events {
            let closed = query
                .pane()
                .is_some_and(|p| (e.time.div_euclid(p) + 1) * p <= self.watermark);
            let in_range = query.range.is_none_or(|r| {
                let p = query.pane().unwrap();
                e.time.div_euclid(p) >= (clock - r * SECOND).div_euclid(p)
            });
            if closed && in_range {
                self.late += 1;
            }
            if !closed {
                self.kept.push(e.clone());
            }
        }
        if let Some(max) = events.iter().map(|e| e.time).max() {
            self.watermark = self.watermark.max(max - lateness * SECOND);
        }
    }
}

/// Runs `queries` over `prefix` (their backfill) then `suffix` in batches by `schedule`, each
/// batch applied to all of them as one scan; query `i` starts `ahead[i]` events into the suffix
/// (its backfill covers those too), so batches it has seen in part are applied to it alone.
fn run_differential(
    queries: Vec<Query>,
    ahead: Vec<usize>,
    prefix: Vec<Event>,
    suffix: Vec<Event>,
    schedule: Vec<(usize, i64, bool)>,
    lateness: i64,
) -> Result<(), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let settings = settings(lateness * SECOND);
        let mut clock = T0;
        let mut cases = Vec::new();
        for (i, query) in queries.into_iter().enumerate() {
            let sql = query.sql();
            let start = prefix.len() + ahead.get(i).copied().unwrap_or(0).min(suffix.len());
            let mut history = prefix.clone();
            history.extend_from_slice(&suffix[..start - prefix.len()]);
            let plan = Arc::new(
                compile_sql(&sql, &history)
                    .await
                    .map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?,
            );
            let mut op = Operator::new(Arc::clone(&plan), settings, start as u64, clock)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            op.backfill(&context(&history).state())
                .await
                .map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
            // A client of the query: an empty snapshot, then every flush's change as a delta.
            let client = LiveResult::new(Snapshot {
                id: "q".into(),
                seq: 1,
                shape: plan.shape.clone(),
                rows: Vec::new(),
                watermark: 0,
                now: 0,
                newest: 0,
                mode: Mode::Incremental,
                overflow: false,
            });
            let mut case = Case {
                query,
                sql,
                op,
                client,
                start,
                kept: history,
                watermark: i64::MIN,
                late: 0,
            };
            let change = case.op.flush(clock).unwrap();
            case.apply_change(change);
            cases.push(case);
        }

        let mut offset = prefix.len();
        let mut rest = &suffix[..];
        let steps = schedule
            .iter()
            .cycle()
            .take(schedule.len().max(suffix.len()));
        for &(size, step, flush) in steps {
            clock += step * 10 * SECOND;
            let size = size.min(rest.len());
            let (now, later) = rest.split_at(size);
            rest = later;
            let mut scan = (!now.is_empty()).then(|| Scan::new(batch(now, offset as i64)));
            for case in &mut cases {
                if let Some(scan) = &mut scan {
                    case.op.apply_scan(scan, clock).unwrap();
                }
                let seen = case.start.saturating_sub(offset).min(now.len());
                case.model(&now[seen..], clock, lateness);
                if flush {
                    let change = case.op.flush(clock).unwrap();
                    case.apply_change(change);
                }
            }
            offset += now.len();
        }
        for case in &mut cases {
            let change = case.op.flush(clock).unwrap();
            case.apply_change(change);
            let sql = &case.sql;
            if case.query.filter.is_none() {
                // (With a WHERE clause, only matching late events count.)
                prop_assert_eq!(
                    case.op.metrics().late_events,
                    case.late,
                    "late events of {}",
                    sql
                );
            }
            let expected = sorted(batch_rows(sql, &case.kept, clock).await);
            let snapshot = case.op.rows();
            prop_assert_eq!(
                &sorted(snapshot.clone()),
                &expected,
                "{} at clock {}",
                sql,
                clock
            );
            if case.client.shape.key.is_some() {
                // Replaying the frames from the first snapshot gives the snapshot now, in order.
                prop_assert_eq!(case.client.rows(), &snapshot[..], "deltas of {}", sql);
            }
        }
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The live result equals the batch result over the same events (less the late ones),
    /// across a backfill seam, random batches, out-of-order events and a moving clock; and the
    /// deltas sent, applied in order to an empty result, rebuild it.
    #[test]
    fn the_live_result_equals_the_batch_result(
        query in query(),
        prefix in events(0..40),
        suffix in events(0..80),
        schedule in schedule(),
        lateness in prop::sample::select(vec![2i64, 10, 60]),
    ) {
        run_differential(vec![query], Vec::new(), prefix, suffix, schedule, lateness)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Many queries that share parts (a literal apart, aggregates apart), applying each batch as
    /// one scan, each equal their batch result; some start later than others, part-way into a
    /// batch.
    #[test]
    fn queries_folded_together_each_equal_their_batch_result(
        queries in queries(),
        ahead in prop::collection::vec(prop::sample::select(vec![0usize, 0, 1, 5]), 0..8),
        prefix in events(0..30),
        suffix in events(0..60),
        schedule in schedule(),
        lateness in prop::sample::select(vec![2i64, 10, 60]),
    ) {
        run_differential(queries, ahead, prefix, suffix, schedule, lateness)?;
    }
}
