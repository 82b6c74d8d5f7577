//! Weir scraping itself: every interval, the text `GET /metrics` would serve becomes events of
//! the stream `_weir_metrics`, one per sample, shaped as remote write's `prom_metrics`
//! (`metric`, `value`, a column per label; a histogram's buckets are `…_bucket` samples with
//! `le`), so Weir's own history is queryable with SQL and drawn by the "Weir" dashboard.

use std::sync::Arc;
use std::time::Duration;

use storage::{Store, StreamName};
use tokio_util::sync::CancellationToken;

use super::{Metrics, Protocol};
use crate::ingest::events::{Event, Scalar};
use crate::ingest::{self, Outcome};

/// The stream Weir's own metrics go to.
pub(crate) const STREAM: &str = "_weir_metrics";

/// Scrapes `metrics` into [`STREAM`] every `every` until `stop`.
pub(crate) async fn run(
    metrics: Metrics,
    store: Arc<Store>,
    every: Duration,
    stop: CancellationToken,
) {
    let stream = StreamName::new(STREAM).expect("a valid stream name");
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let text = metrics.encode();
        let events = match parse(&text, storage::now_micros()) {
            Ok(events) => events,
            Err(err) => {
                tracing::warn!(%err, "Weir's own metrics did not parse");
                continue;
            }
        };
        let (store, stream) = (Arc::clone(&store), stream.clone());
        let appended = tokio::task::spawn_blocking(move || {
            let outcome = ingest::append_events(&store, &stream, events, Vec::new());
            (stream, outcome)
        })
        .await;
        match appended {
            Ok((stream, Ok(outcome))) => {
                metrics.ingested(Protocol::SelfScrape, &stream, text.len(), &outcome);
                warn_rejected(&outcome);
            }
            Ok((_, Err(err))) => tracing::warn!(%err, "Weir's own metrics not stored"),
            Err(err) => tracing::warn!(%err, "Weir's own metrics not stored"),
        }
    }
}

fn warn_rejected(outcome: &Outcome) {
    if let Some(first) = outcome.rejected.first() {
        tracing::warn!(
            rejected = outcome.rejected.len(),
            first = %first.error,
            "some of Weir's own metrics were refused"
        );
    }
}

/// The samples of an OpenMetrics (or Prometheus) text exposition as events at `time_us`:
/// `metric`, `value` and a column per label.
pub(crate) fn parse(text: &str, time_us: i64) -> Result<Vec<Event>, String> {
    let mut events = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = sample(line).map_err(|e| format!("line {}: {e}: {line}", n + 1))?;
        events.push(Event {
            line: events.len() + 1,
            time_us,
            fields,
        });
    }
    Ok(events)
}

/// One sample line: `name{label="value",…} value [timestamp]`.
fn sample(line: &str) -> Result<Vec<(String, Scalar)>, &'static str> {
    let name_end = line
        .find(|c: char| c == '{' || c.is_whitespace())
        .ok_or("no value")?;
    let (name, mut rest) = line.split_at(name_end);
    let mut fields = vec![("metric".to_owned(), Scalar::Str(name.to_owned()))];
    if let Some(labels) = rest.strip_prefix('{') {
        rest = parse_labels(labels, &mut fields)?;
    }
    let value = rest.split_whitespace().next().ok_or("no value")?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v
            .parse::<f64>()
            .map_err(|_| "a value that is not a number")?,
    };
    fields.insert(1, ("value".to_owned(), Scalar::Float(value)));
    Ok(fields)
}

/// Reads `k="v",…}` into `fields`; returns what follows the `}`.
fn parse_labels<'a>(
    mut rest: &'a str,
    fields: &mut Vec<(String, Scalar)>,
) -> Result<&'a str, &'static str> {
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return Ok(after);
        }
        let eq = rest.find('=').ok_or("a label without a value")?;
        let key = rest[..eq].trim();
        rest = rest[eq + 1..]
            .strip_prefix('"')
            .ok_or("a label value without quotes")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next().ok_or("an unterminated label value")? {
                (i, '"') => break i,
                (_, '\\') => match chars.next().ok_or("an unterminated label value")?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        rest = &rest[end + 1..];
        // A label named like the sample's own columns keeps a prefix (`label_value`).
        let column = match key {
            "metric" | "value" => format!("label_{key}"),
            _ => key.to_owned(),
        };
        fields.push((column, Scalar::Str(value)));
    }
}
