//! The metrics' text, and the self-scrape's reading of it back into samples.

use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use proptest::prelude::*;
use storage::{Observer, StreamName};

use super::scrape::parse;
use super::{Metrics, Protocol, QueryKind};
use crate::ingest::events::Scalar;
use crate::ingest::{Outcome, Rejection};

/// The value of the sample `metric` with `labels` (name, value), from the self-scrape's parse.
fn value(text: &str, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let events = parse(text, 0).unwrap();
    events.iter().find_map(|e| {
        let get = |name: &str| e.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        let matches = get("metric") == Some(&Scalar::Str(metric.to_owned()))
            && labels
                .iter()
                .all(|(k, v)| get(k) == Some(&Scalar::Str((*v).to_owned())));
        match get("value") {
            Some(Scalar::Float(v)) if matches => Some(*v),
            _ => None,
        }
    })
}

#[test]
fn what_is_counted_reads_back_as_samples() {
    let metrics = Metrics::new();
    let stream = StreamName::new("app").unwrap();
    let outcome = Outcome {
        accepted: 7,
        rejected: vec![Rejection {
            line: 2,
            error: "bad".to_owned(),
        }],
        offsets: None,
    };
    metrics.ingested(Protocol::Otlp, &stream, 1000, &outcome);
    metrics.ingested(Protocol::Otlp, &stream, 500, &outcome);
    metrics.request(Protocol::Otlp, 200);
    metrics.fsync(&stream, 12, Duration::from_micros(300));
    metrics.fsync(&stream, 1, Duration::from_millis(3));
    metrics.query(
        QueryKind::History,
        Duration::from_millis(20),
        Some("time_limit"),
    );
    let text = metrics.encode();
    assert!(text.ends_with("# EOF\n"), "{text}");
    let labels = [("stream", "app"), ("protocol", "otlp")];
    assert_eq!(
        value(&text, "weir_ingest_events_total", &labels),
        Some(14.0)
    );
    assert_eq!(
        value(&text, "weir_ingest_rejected_events_total", &labels),
        Some(2.0)
    );
    assert_eq!(
        value(&text, "weir_ingest_bytes_total", &labels),
        Some(1500.0)
    );
    assert_eq!(
        value(
            &text,
            "weir_ingest_requests_total",
            &[("protocol", "otlp"), ("code", "200")]
        ),
        Some(1.0)
    );
    assert_eq!(value(&text, "weir_wal_fsync_seconds_count", &[]), Some(2.0));
    let sum = value(&text, "weir_wal_fsync_seconds_sum", &[]).unwrap();
    assert!((sum - 0.0033).abs() < 1e-9, "{sum}");
    // Cumulative buckets: 0.3 ms is under 0.4 ms, 3 ms is not.
    assert_eq!(
        value(&text, "weir_wal_fsync_seconds_bucket", &[("le", "0.0004")]),
        Some(1.0)
    );
    assert_eq!(
        value(&text, "weir_wal_fsync_seconds_bucket", &[("le", "+Inf")]),
        Some(2.0)
    );
    assert_eq!(
        value(&text, "weir_wal_group_commit_events_sum", &[]),
        Some(13.0)
    );
    assert_eq!(
        value(
            &text,
            "weir_query_errors_total",
            &[("kind", "history"), ("reason", "time_limit")]
        ),
        Some(1.0)
    );
}

#[test]
fn malformed_lines_are_errors_with_their_line() {
    let err = parse("# HELP x y\nx{a=\"1\" 2\n", 0).unwrap_err();
    assert!(err.starts_with("line 2:"), "{err}");
    assert!(parse("x{a=1} 2", 0).is_err());
    assert!(parse("x{a=\"1\"} two", 0).is_err());
    assert!(parse("x", 0).is_err());
    let events = parse("x{metric=\"m\"} +Inf 1700000000\n", 5).unwrap();
    assert_eq!(events[0].time_us, 5);
    assert_eq!(
        events[0].fields,
        vec![
            ("metric".to_owned(), Scalar::Str("x".to_owned())),
            ("value".to_owned(), Scalar::Float(f64::INFINITY)),
            ("label_metric".to_owned(), Scalar::Str("m".to_owned())),
        ]
    );
}

proptest! {
    /// Whatever a label's value (quotes, backslashes, newlines, any character), the text
    /// prometheus-client writes reads back to it.
    #[test]
    fn label_values_round_trip(label in "\\PC{0,20}", n in 0u64..1_000_000) {
        let family: Family<Vec<(String, String)>, Counter> = Family::default();
        family.get_or_create(&vec![("name".to_owned(), label.clone())]).inc_by(n);
        let mut registry = Registry::default();
        registry.register("x", "help", family);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        prop_assert_eq!(value(&text, "x_total", &[("name", &label)]), Some(n as f64));
    }
}
