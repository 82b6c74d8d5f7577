//! Drilling down from a panel's value leads to exactly the events the value counts: over random
//! panels (groups, buckets, WHERE clauses, HAVING, FILTER, LIMIT), Explore's count of the
//! drilled events equals the panel's value in every row.

use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use protocol::explore::{Drill, FieldType, Filter, Op};
use storage::{Store, StoreConfig, StreamName};

use crate::ingest::{self, BodyFormat};
use crate::query::{QueryLimits, QueryService, format};

/// 2026-01-05T10:00:00Z in µs.
const START: i64 = 1_767_607_200_000_000;

/// 600 events, one every 500 ms from [`START`], into a stream named `order` (a keyword).
async fn service(dir: &std::path::Path) -> QueryService {
    let store = Arc::new(Store::open(dir, StoreConfig::default()).await.unwrap());
    let body: String = (0..600)
        .map(|i: i64| {
            let t = START + i * 500_000;
            let time = protocol::dashboard::time::rfc3339(t);
            let status = [200, 200, 404, 500, 200, 503][(i % 6) as usize];
            let route = ["\"/a\"", "\"/b\"", "null", "\"/it's\""][(i % 4) as usize];
            let region = ["eu", "us", "ap"][(i % 7 % 3) as usize];
            let latency = if i % 5 == 0 {
                "null".to_owned()
            } else {
                format!("{}.5", (i * 37) % 200)
            };
            format!(
                "{{\"_time\":\"{time}\",\"status\":{status},\"route\":{route},\
                 \"region\":\"{region}\",\"latency_ms\":{latency}}}\n"
            )
        })
        .collect();
    let order = StreamName::new("order").unwrap();
    ingest::append_json(&store, &order, body.as_bytes(), BodyFormat::Detect).unwrap();
    QueryService::new(store, QueryLimits::default(), dir.join("spill")).unwrap()
}

fn types(field: &str) -> FieldType {
    match field {
        "status" | "latency_ms" => FieldType::Number,
        _ => FieldType::Text,
    }
}

async fn rows(service: &QueryService, sql: &str) -> Vec<Vec<serde_json::Value>> {
    let output = service.run(sql, 10_000).await.unwrap();
    format::rows(&output).unwrap()
}

/// How many events Explore shows for a drill.
async fn explore_count(service: &QueryService, drill: &Drill) -> i64 {
    let sql = drill.selection().presence_sql(&types, &[], &[]).unwrap();
    rows(service, &sql).await[0][0].as_i64().unwrap()
}

/// A panel as the property test makes it.
#[derive(Debug, Clone)]
struct Panel {
    bucket: Option<u32>,
    groups: Vec<&'static str>,
    expression_group: bool,
    conditions: Vec<&'static str>,
    /// Seconds after [`START`]: the panel's fixed time range.
    range: Option<(u32, u32)>,
    value: &'static str,
    having: bool,
    top: bool,
    alias: bool,
}

impl Panel {
    fn sql(&self) -> String {
        let mut select = Vec::new();
        if let Some(b) = self.bucket {
            select.push(format!("date_bin(INTERVAL '{b} seconds', _time) AS t"));
        }
        select.extend(self.groups.iter().map(|g| g.to_string()));
        if self.expression_group {
            select.push("upper(region) AS reg".into());
        }
        let keys = select.len();
        select.push(format!("{} AS v", self.value));
        let mut conditions: Vec<String> = self.conditions.iter().map(|c| c.to_string()).collect();
        if let Some((a, b)) = self.range {
            let (from, to) = (
                START + i64::from(a) * 1_000_000,
                START + i64::from(b) * 1_000_000,
            );
            conditions.push(format!(
                "_time >= to_timestamp_micros({from}) AND _time <= to_timestamp_micros({to})"
            ));
        }
        let mut sql = format!(
            "SELECT {} FROM \"order\"{}",
            select.join(", "),
            if self.alias { " o" } else { "" }
        );
        if !conditions.is_empty() {
            sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
        }
        if keys > 0 {
            let positions: Vec<String> = (1..=keys).map(|i| i.to_string()).collect();
            sql.push_str(&format!(" GROUP BY {}", positions.join(", ")));
        }
        if self.having {
            sql.push_str(" HAVING count(*) > 2");
        }
        if self.top {
            sql.push_str(" ORDER BY v DESC LIMIT 5");
        }
        sql
    }
}

fn panels() -> impl Strategy<Value = Panel> {
    let bucket = prop::option::of(prop::sample::select(vec![7u32, 10, 60]));
    let groups = prop::sample::subsequence(vec!["route", "status", "region"], 0..=2);
    let conditions = prop::sample::subsequence(
        vec![
            "status <> 404",
            "route IS NOT NULL",
            "latency_ms > 50",
            "region IN ('eu', 'us')",
        ],
        0..=2,
    );
    let range = prop::option::of((0u32..150, 150u32..320));
    let value = prop::sample::select(vec![
        "count(*)",
        "count(latency_ms)",
        "count(*) FILTER (WHERE status >= 500)",
    ]);
    (
        bucket,
        groups,
        any::<bool>(),
        conditions,
        range,
        value,
        any::<[bool; 3]>(),
    )
        .prop_map(
            |(bucket, groups, expression_group, conditions, range, value, [having, top, alias])| {
                Panel {
                    bucket,
                    groups,
                    expression_group,
                    conditions,
                    range,
                    value,
                    having,
                    top,
                    alias,
                }
            },
        )
}

#[test]
fn drilled_events_count_what_the_panel_showed() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let service = runtime.block_on(service(dir.path()));
    let mut runner = TestRunner::new(Config::with_cases(40));
    runner
        .run(&panels(), |panel| {
            runtime.block_on(async {
                let sql = panel.sql();
                let result = rows(&service, &sql).await;
                let value = result.first().map_or(0, |r| r.len() - 1);
                for row in result.iter().take(8) {
                    let drill = super::drill(&service, &sql, row, Some(value))
                        .await
                        .unwrap();
                    prop_assert_eq!(drill.note.as_deref(), None);
                    let count = explore_count(&service, &drill).await;
                    prop_assert_eq!(
                        Some(count),
                        row[value].as_i64(),
                        "{} at {:?}: {:?}",
                        sql,
                        row,
                        drill
                    );
                }
                Ok(())
            })
        })
        .unwrap();
}

#[tokio::test]
async fn a_bucket_of_a_live_panel_becomes_a_window_and_the_rest_predicates() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path()).await;
    let sql = "SELECT date_bin(INTERVAL '10 seconds', o._time) AS t, route, upper(region) AS reg, \
               count(*) FILTER (WHERE status >= 500) AS errors FROM \"order\" AS o \
               WHERE o._time >= now() - INTERVAL '400 days' AND status <> 404 GROUP BY 1, 2, 3";
    let row = serde_json::json!(["2026-01-05T10:00:10.000000Z", "/it's", "EU", 3]);
    let drill = super::drill(&service, sql, row.as_array().unwrap(), Some(3))
        .await
        .unwrap();
    assert_eq!(drill.stream, "order");
    assert_eq!(drill.from, Some(START + 10_000_000));
    assert_eq!(drill.to, Some(START + 20_000_000 - 1));
    assert_eq!(drill.filters, [Filter::new("route", Op::Eq, "/it's")]);
    assert_eq!(
        drill.predicates,
        [
            "\"status\" <> 404",
            "upper(\"region\") = 'EU'",
            "\"status\" >= 500"
        ]
    );
    // A group key left out of the result: the events of every such group, said so.
    let sql = "SELECT route, count(*) FROM \"order\" GROUP BY route, region";
    let row = serde_json::json!(["/a", 10]);
    let drill = super::drill(&service, sql, row.as_array().unwrap(), Some(1))
        .await
        .unwrap();
    assert!(drill.note.unwrap().contains("region"));
    // A raw row (a logs panel) leads to that event's instant.
    let sql = "SELECT _time AS time, route FROM \"order\" WHERE status = 503 ORDER BY 1 LIMIT 1";
    let first = rows(&service, sql).await.remove(0);
    let drill = super::drill(&service, sql, &first, None).await.unwrap();
    assert_eq!(
        (drill.from, drill.to),
        (Some(START + 2_500_000), Some(START + 2_500_000))
    );
    assert_eq!(explore_count(&service, &drill).await, 1);
    // What cannot lead to events says why.
    let err = super::drill(
        &service,
        "SELECT a.route FROM \"order\" a JOIN \"order\" b ON a.route = b.route",
        &[serde_json::json!("/a")],
        None,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("one stream"), "{err}");
}
