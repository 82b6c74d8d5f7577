//! Alerting's history as streams: every state transition is an event of `_alerts`, every
//! notification attempt one of `_notifications`, queryable and chartable like any stream.
//!
//! Events are appended by a task of their own in batches, so that neither a rule nor a send
//! waits on the stream's fsync; the state itself is in the metadata database first.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use protocol::alert::Transition;
use protocol::dashboard::time::rfc3339;
use serde_json::{Value, json};
use storage::{Store, StreamName};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::ingest::{self, BodyFormat};

/// The stream of state transitions.
pub(crate) const ALERTS_STREAM: &str = "_alerts";
/// The stream of notification attempts.
pub(crate) const NOTIFICATIONS_STREAM: &str = "_notifications";

#[derive(Clone)]
pub(crate) struct History {
    events: mpsc::UnboundedSender<(&'static str, Value)>,
    activity: Arc<Activity>,
}

/// What alerting did since the server started, for Weir's metrics.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    /// Rule evaluations: each new result or change of a rule's query.
    pub(crate) evaluations: AtomicU64,
    pub(crate) transitions: AtomicU64,
    /// Notification attempts, by outcome.
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) refused: AtomicU64,
}

impl History {
    /// Starts the appender; it drains what is queued when `stop` fires, then ends.
    pub(crate) fn start(
        store: Arc<Store>,
        stop: CancellationToken,
    ) -> (History, tokio::task::JoinHandle<()>) {
        let (events, mut queue) = mpsc::unbounded_channel::<(&'static str, Value)>();
        let task = tokio::spawn(async move {
            loop {
                let first = tokio::select! {
                    () = stop.cancelled() => None,
                    first = queue.recv() => first,
                };
                let mut batch: Vec<(&'static str, Value)> = first.into_iter().collect();
                while let Ok(more) = queue.try_recv() {
                    batch.push(more);
                }
                if batch.is_empty() {
                    return;
                }
                for stream in [ALERTS_STREAM, NOTIFICATIONS_STREAM] {
                    let body: String = batch
                        .iter()
                        .filter(|(s, _)| *s == stream)
                        .map(|(_, e)| format!("{e}\n"))
                        .collect();
                    if !body.is_empty() {
                        append(&store, stream, body).await;
                    }
                }
            }
        });
        let activity = Arc::default();
        (History { events, activity }, task)
    }

    pub(crate) fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    /// One evaluation of a rule (its query's new result or change applied).
    pub(crate) fn evaluated(&self) {
        self.activity.evaluations.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn transition(&self, t: &Transition) {
        self.activity.transitions.fetch_add(1, Ordering::Relaxed);
        let _ = self.events.send((
            ALERTS_STREAM,
            json!({
                "_time": rfc3339(t.time),
                "rule_uid": t.rule_uid,
                "title": t.title,
                "fingerprint": t.fingerprint,
                "labels": t.labels,
                "from_state": t.from.as_str(),
                "to_state": t.to.as_str(),
                "value": t.value,
                "reason": t.reason,
            }),
        ));
    }

    /// One notification attempt (stamped now).
    pub(crate) fn notification(&self, mut event: Value) {
        let counter = match event["status"].as_str() {
            Some("delivered") => &self.activity.delivered,
            Some("refused") => &self.activity.refused,
            _ => &self.activity.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        event["_time"] = json!(rfc3339(storage::now_micros()));
        let _ = self.events.send((NOTIFICATIONS_STREAM, event));
    }
}

async fn append(store: &Arc<Store>, stream: &'static str, body: String) {
    let store = Arc::clone(store);
    let appended = tokio::task::spawn_blocking(move || {
        let stream = StreamName::new(stream).expect("a valid stream name");
        ingest::append_json(&store, &stream, body.as_bytes(), BodyFormat::Ndjson)
    })
    .await;
    match appended {
        Ok(Ok(outcome)) if !outcome.rejected.is_empty() => {
            tracing::warn!(
                stream,
                rejected = outcome.rejected.len(),
                "alert history events rejected"
            );
        }
        Ok(Ok(_)) => {}
        Ok(Err(err)) => tracing::warn!(stream, %err, "alert history not written"),
        Err(err) => tracing::warn!(stream, %err, "alert history task failed"),
    }
}

/// The transitions in `result`, a query of `_alerts` for `rule`'s `time` (µs), `title`,
/// `fingerprint`, `from_state`, `to_state`, `value` and `reason` (labels are left out: the
/// instance's fingerprint names them). Rows a state does not parse in are skipped.
pub(crate) fn transitions(rule: &str, result: &protocol::QueryResult) -> Vec<Transition> {
    let column = |name: &str| result.column(name);
    let (
        Some(time),
        Some(title),
        Some(fingerprint),
        Some(from),
        Some(to),
        Some(value),
        Some(reason),
    ) = (
        column("time"),
        column("title"),
        column("fingerprint"),
        column("from_state"),
        column("to_state"),
        column("value"),
        column("reason"),
    )
    else {
        return Vec::new();
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    result
        .rows
        .iter()
        .filter_map(|row| {
            Some(Transition {
                rule_uid: rule.to_owned(),
                title: text(&row[title]),
                fingerprint: text(&row[fingerprint]),
                labels: Default::default(),
                from: protocol::alert::State::parse(row[from].as_str()?)?,
                to: protocol::alert::State::parse(row[to].as_str()?)?,
                value: row[value].as_f64(),
                reason: text(&row[reason]),
                time: row[time].as_i64()?,
                fired_at: None,
            })
        })
        .collect()
}
