//! "What is different?" counts each value in the selection and the baseline as a model of the
//! events does, and names the values whose shares differ most: over random comparisons (a time
//! range or the filtered events, values or bins, a filter on both).

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use protocol::dashboard::time::{Instant, TimeRange};
use protocol::explore::{Compare, Dimension, FieldType, Filter, Op, Selection, difference};
use storage::{StoreConfig, StreamName};

use super::*;

/// 2026-01-05T10:00:00Z in µs.
const START: i64 = 1_767_607_200_000_000;
const EVENTS: i64 = 400;

/// The test's events: `(time µs, status, route, region, latency_ms)`.
fn event(i: i64) -> (i64, i64, Option<&'static str>, &'static str, Option<f64>) {
    let status = [200, 200, 404, 500, 200, 503][(i % 6) as usize];
    let route = [Some("/a"), Some("/b"), None, Some("/it's")][(i % 4) as usize];
    let region = ["eu", "us", "ap"][(i % 7 % 3) as usize];
    let latency = (i % 5 != 0).then(|| ((i * 37) % 200) as f64 + 0.5);
    (START + i * 500_000, status, route, region, latency)
}

async fn service(dir: &std::path::Path) -> QueryService {
    let store = Arc::new(Store::open(dir, StoreConfig::default()).await.unwrap());
    let json = |v: Option<String>| v.unwrap_or_else(|| "null".into());
    let body: String = (0..EVENTS)
        .map(|i| {
            let (t, status, route, region, latency) = event(i);
            format!(
                "{{\"_time\":\"{}\",\"status\":{status},\"route\":{},\"region\":\"{region}\",\"latency_ms\":{}}}\n",
                protocol::dashboard::time::rfc3339(t),
                json(route.map(|r| format!("\"{r}\""))),
                json(latency.map(|l| format!("{l:?}"))),
            )
        })
        .collect();
    let web = StreamName::new("web").unwrap();
    ingest::append_json(&store, &web, body.as_bytes(), BodyFormat::Detect).unwrap();
    QueryService::new(store, QueryLimits::default(), dir.join("spill")).unwrap()
}

fn types(field: &str) -> FieldType {
    match field {
        "status" | "latency_ms" => FieldType::Number,
        _ => FieldType::Text,
    }
}

/// An event's value for a dimension, as the comparison names it.
fn value(i: i64, dimension: &Dimension) -> Option<String> {
    let (_, status, route, region, latency) = event(i);
    match dimension {
        Dimension::Values(field) => match field.as_str() {
            "status" => Some(status.to_string()),
            "route" => route.map(str::to_owned),
            _ => Some(region.to_owned()),
        },
        Dimension::Bins(_, cuts) => {
            latency.map(|l| cuts.iter().take_while(|&&c| l >= c).count().to_string())
        }
    }
}

#[derive(Debug, Clone)]
struct Case {
    compare: Compare,
    /// A region every event of both sets is in (a filter on both, for a range).
    region: Option<&'static str>,
    /// For the filters: the status the selection's events have.
    status: i64,
    cuts: Vec<f64>,
    k: usize,
}

fn case() -> impl Strategy<Value = Case> {
    let range = (0..EVENTS, 1..EVENTS).prop_map(|(a, n)| Compare::Range {
        from: START + a * 500_000,
        to: START + (a + n).min(EVENTS) * 500_000 - 1,
    });
    (
        prop_oneof![range, Just(Compare::Filters)],
        proptest::option::of(prop::sample::select(vec!["eu", "us", "ap"])),
        prop::sample::select(vec![200, 404, 500, 503]),
        prop::collection::btree_set(0u32..200, 1..6),
        1usize..5,
    )
        .prop_map(|(compare, region, status, cuts, k)| Case {
            compare,
            region,
            status,
            cuts: cuts.into_iter().map(f64::from).collect(),
            k,
        })
}

#[test]
fn each_value_is_counted_in_both_sets_and_the_most_different_come_first() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let service = runtime.block_on(service(dir.path()));
    let mut runner = TestRunner::new(Config::with_cases(24));
    runner
        .run(&case(), |case| {
            let mut filters = Vec::new();
            if let Compare::Filters = case.compare {
                filters.push(Filter::new("status", Op::Eq, case.status.to_string()));
            }
            let predicates = case
                .region
                .map(|r| vec![format!("region = '{r}'")])
                .unwrap_or_default();
            let selection = Selection {
                stream: "web".into(),
                range: TimeRange {
                    from: Instant::At(START),
                    to: Instant::At(START + EVENTS * 500_000),
                },
                filters,
                predicates,
            };
            let dimensions = vec![
                Dimension::Values("status".into()),
                Dimension::Values("route".into()),
                Dimension::Values("region".into()),
                Dimension::Bins("latency_ms".into(), case.cuts.clone()),
            ];
            // The model: which events are in the scope, which of them selected.
            let (scope, inside): (Vec<i64>, Vec<bool>) = (0..EVENTS)
                .filter_map(|i| {
                    let (t, status, _, region, _) = event(i);
                    let in_region = case.region.is_none_or(|r| r == region);
                    match case.compare {
                        Compare::Range { from, to } => {
                            in_region.then_some((i, (from..=to).contains(&t)))
                        }
                        Compare::Filters => Some((i, in_region && status == case.status)),
                    }
                })
                .unzip();
            let selected = inside.iter().filter(|s| **s).count() as u64;
            let totals = (selected, scope.len() as u64 - selected);
            let sql = selection
                .compare_sql(&types, case.compare, &dimensions, totals, case.k)
                .unwrap();
            let rows = runtime.block_on(json(&service, &sql));
            for (d, dimension) in dimensions.iter().enumerate() {
                let mut counts = HashMap::<Option<String>, (i64, i64)>::new();
                for (i, selected) in scope.iter().zip(&inside) {
                    let entry = counts.entry(value(*i, dimension)).or_default();
                    if *selected {
                        entry.0 += 1
                    } else {
                        entry.1 += 1
                    }
                }
                let sel_total: i64 = counts.values().map(|c| c.0).sum();
                let base_total: i64 = counts.values().map(|c| c.1).sum();
                let diff = |(sel, base): (i64, i64)| {
                    difference(
                        sel as f64 / sel_total.max(1) as f64,
                        base as f64 / base_total.max(1) as f64,
                    )
                };
                let got: Vec<&Vec<serde_json::Value>> =
                    rows.iter().filter(|r| r[0] == d as i64).collect();
                prop_assert_eq!(got.len(), case.k.min(counts.len()), "{:?}", dimension);
                let mut last = f64::INFINITY;
                for row in &got {
                    let key = row[1].as_str().map(str::to_owned);
                    let counted = (row[2].as_i64().unwrap(), row[3].as_i64().unwrap());
                    prop_assert_eq!(
                        Some(&counted),
                        counts.get(&key),
                        "{:?} {:?}",
                        dimension,
                        key
                    );
                    prop_assert!(diff(counted) <= last + 1e-12);
                    last = diff(counted);
                    counts.remove(&key);
                }
                // No value left out differs more than the last one named.
                for left in counts.values() {
                    prop_assert!(diff(*left) <= last + 1e-12, "{:?}", dimension);
                }
            }
            Ok(())
        })
        .unwrap();
}

/// The first query's counts of both sets and the cuts of a number field at its deciles.
#[tokio::test]
async fn the_sets_are_counted_and_a_number_field_is_cut_at_its_deciles() {
    let dir = tempfile::tempdir().unwrap();
    let service = service(dir.path()).await;
    let selection = Selection {
        stream: "web".into(),
        range: TimeRange {
            from: Instant::At(START),
            to: Instant::At(START + EVENTS * 500_000),
        },
        filters: vec![Filter::new("status", Op::Eq, "500")],
        predicates: Vec::new(),
    };
    let sql = selection
        .compare_cuts_sql(&types, Compare::Filters, &["latency_ms".into()])
        .unwrap();
    let row = &json(&service, &sql).await[0];
    // Every sixth event is a 500: 67 of 400.
    assert_eq!((row[0].as_i64(), row[1].as_i64()), (Some(67), Some(333)));
    // 160 distinct latencies (37·i mod 200, i not a multiple of 5) over 320 events.
    let distinct = row[2].as_i64().unwrap();
    assert!((150..=170).contains(&distinct), "{distinct}");
    let cuts: Vec<f64> = row[3..].iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(cuts.len(), 9);
    assert!(cuts.windows(2).all(|w| w[0] <= w[1]), "{cuts:?}");
    assert!(
        (10.0..=30.0).contains(&cuts[0]) && (170.0..=190.0).contains(&cuts[8]),
        "{cuts:?}"
    );
}
