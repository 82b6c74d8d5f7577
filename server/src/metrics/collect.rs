//! Metrics read at scrape time from what holds them: each stream's tiers (hot, log, lake), the
//! engine's running queries, the open live sockets, and alerting's counts and instances.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use storage::Store;
use tokio_util::task::TaskTracker;

use crate::alerts::Alerts;
use crate::engine::Engine;

/// What the collector reads.
#[derive(Clone)]
pub(crate) struct Sources {
    pub(crate) store: Arc<Store>,
    pub(crate) engine: Engine,
    pub(crate) live_sockets: TaskTracker,
    pub(crate) alerts: Alerts,
}

pub(super) struct Collector {
    sources: Sources,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Collector")
    }
}

impl Collector {
    pub(super) fn new(sources: Sources) -> Collector {
        Collector { sources }
    }
}

/// One gauge (or counter) per stream, read from each stream's info.
fn per_stream<V: prometheus_client::encoding::EncodeGaugeValue + Copy>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    streams: &[storage::StreamInfo],
    value: impl Fn(&storage::StreamInfo) -> V,
) -> std::fmt::Result {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for stream in streams {
        let labels = [("stream", stream.name.as_str())];
        ConstGauge::new(value(stream)).encode(metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauge<V: prometheus_client::encoding::EncodeGaugeValue>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: V,
) -> std::fmt::Result {
    ConstGauge::new(value).encode(encoder.encode_descriptor(name, help, None, MetricType::Gauge)?)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> std::fmt::Result {
    ConstCounter::new(value).encode(encoder.encode_descriptor(
        name,
        help,
        None,
        MetricType::Counter,
    )?)
}

impl prometheus_client::collector::Collector for Collector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let e = &mut encoder;
        let streams = self.sources.store.streams();
        {
            let mut metric = e.encode_descriptor(
                "weir_stream_events",
                "Events ever appended to the stream (its next offset)",
                None,
                MetricType::Counter,
            )?;
            for stream in &streams {
                let labels = [("stream", stream.name.as_str())];
                ConstCounter::new(stream.events).encode(metric.encode_family(&labels)?)?;
            }
        }
        per_stream(
            e,
            "weir_stream_hot_bytes",
            "Bytes of the stream's hot tier (in memory, not yet in the lake)",
            &streams,
            |s| s.hot_bytes,
        )?;
        per_stream(
            e,
            "weir_stream_hot_events",
            "Events in the stream's hot tier",
            &streams,
            |s| s.hot_rows,
        )?;
        per_stream(
            e,
            "weir_stream_wal_bytes",
            "Bytes of the stream's write-ahead log",
            &streams,
            |s| s.wal_bytes,
        )?;
        per_stream(
            e,
            "weir_stream_lake_bytes",
            "Bytes of the stream's lake files (Parquet)",
            &streams,
            |s| s.lake_bytes,
        )?;
        per_stream(
            e,
            "weir_stream_lake_files",
            "Files of the stream's lake table",
            &streams,
            |s| s.lake_files,
        )?;
        per_stream(
            e,
            "weir_stream_lake_version",
            "Version of the stream's lake table queries read",
            &streams,
            |s| s.lake_version.map_or(-1, |v| v as i64),
        )?;
        per_stream(
            e,
            "weir_stream_tiering_lag_seconds",
            "Age of the stream's oldest event not yet in the lake",
            &streams,
            |s| s.hot_age_secs,
        )?;
        per_stream(
            e,
            "weir_stream_events_per_second",
            "The stream's arrival rate over the last few seconds",
            &streams,
            |s| s.events_per_sec,
        )?;

        let engine = self.sources.engine.describe().totals();
        gauge(
            e,
            "weir_engine_queries",
            "Continuous queries running",
            engine.queries as i64,
        )?;
        gauge(
            e,
            "weir_engine_failed_queries",
            "Continuous queries stopped by an error",
            engine.failed as i64,
        )?;
        gauge(
            e,
            "weir_engine_subscriptions",
            "Viewers of continuous queries (panels, live sockets' subscriptions, alert rules)",
            engine.viewers as i64,
        )?;
        gauge(
            e,
            "weir_engine_state_bytes",
            "Bytes of state the continuous queries hold",
            engine.state_bytes as i64,
        )?;
        gauge(
            e,
            "weir_engine_groups",
            "Groups the continuous queries hold",
            engine.groups as i64,
        )?;
        gauge(
            e,
            "weir_engine_events",
            "Events applied by the continuous queries running now",
            engine.events as i64,
        )?;
        gauge(
            e,
            "weir_engine_late_events",
            "Events that arrived after their window closed, over the queries running now",
            engine.late_events as i64,
        )?;
        gauge(
            e,
            "weir_engine_overflow_events",
            "Events of groups past the group cap, over the queries running now",
            engine.overflow_events as i64,
        )?;
        gauge(
            e,
            "weir_engine_lag_events",
            "Durable events the running query furthest behind has not applied yet",
            engine.lag_events as i64,
        )?;
        gauge(
            e,
            "weir_engine_lag_ms",
            "How long the oldest event not yet applied by a running query has waited, in ms",
            engine.lag_ms as i64,
        )?;
        gauge(
            e,
            "weir_live_sockets",
            "Open live WebSocket connections",
            self.sources.live_sockets.len() as i64,
        )?;

        let activity = self.sources.alerts.activity();
        counter(
            e,
            "weir_alert_evaluations",
            "Alert rule evaluations (each new result or change of a rule's query)",
            activity.evaluations.load(Ordering::Relaxed),
        )?;
        counter(
            e,
            "weir_alert_transitions",
            "Alert instances changing state",
            activity.transitions.load(Ordering::Relaxed),
        )?;
        {
            let mut metric = e.encode_descriptor(
                "weir_alert_notifications",
                "Notification attempts, by outcome (delivered, failed: retried, refused: not retried)",
                None,
                MetricType::Counter,
            )?;
            for (outcome, value) in [
                ("delivered", &activity.delivered),
                ("failed", &activity.failed),
                ("refused", &activity.refused),
            ] {
                let labels = [("outcome", outcome)];
                ConstCounter::new(value.load(Ordering::Relaxed))
                    .encode(metric.encode_family(&labels)?)?;
            }
        }
        let mut by_state: BTreeMap<&'static str, i64> = BTreeMap::new();
        for instance in self.sources.alerts.instances(None) {
            *by_state.entry(instance.state.as_str()).or_default() += 1;
        }
        let mut metric = e.encode_descriptor(
            "weir_alert_instances",
            "Alert instances, by state",
            None,
            MetricType::Gauge,
        )?;
        for (state, n) in by_state {
            let labels = [("state", state)];
            ConstGauge::new(n).encode(metric.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
