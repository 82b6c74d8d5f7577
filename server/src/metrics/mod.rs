//! Weir's own metrics, served at `GET /metrics` in the OpenMetrics text format (which
//! Prometheus scrapes) through `prometheus-client`, and scraped by Weir itself into the stream
//! `_weir_metrics` ([`scrape`]).
//!
//! Two kinds: what happens is counted as it happens (ingest per stream and protocol, the store's
//! fsyncs, appends and lake commits through [`storage::Observer`], queries); what is, is read at
//! scrape time ([`collect`]: the streams' tiers, the engine, live sockets, alerts).

mod collect;
pub(crate) mod scrape;

use std::sync::Arc;
use std::time::Duration;

use std::fmt::Write;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use storage::{LakeCommit, StreamName};

pub(crate) use collect::Sources;

use crate::ingest::Outcome;
use crate::query::Error;

/// The "Weir" dashboard, made at start when Weir scrapes itself: what `_weir_metrics` holds.
pub(crate) const DASHBOARD: &str = include_str!("../../../docs/examples/weir.json");

/// How an ingest request came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Protocol {
    /// `POST /api/v1/streams/{stream}/events`.
    Json,
    /// `POST /v1/logs|traces|metrics`.
    Otlp,
    RemoteWrite,
    EsBulk,
    /// Weir's own scrape into `_weir_metrics`.
    SelfScrape,
    /// The demo's generator (`--demo`).
    Demo,
}

impl EncodeLabelValue for Protocol {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(match self {
            Protocol::Json => "json",
            Protocol::Otlp => "otlp",
            Protocol::RemoteWrite => "remote_write",
            Protocol::EsBulk => "es_bulk",
            Protocol::SelfScrape => "self",
            Protocol::Demo => "demo",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct IngestLabels {
    stream: String,
    protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    protocol: Protocol,
    code: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StreamLabels {
    stream: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CommitLabels {
    stream: String,
    kind: &'static str,
}

/// What kind of query ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum QueryKind {
    /// A history query (the query API, Explore, panels' first results).
    History,
    /// A continuous query the engine re-runs as a whole.
    Live,
}

impl EncodeLabelValue for QueryKind {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        encoder.write_str(match self {
            QueryKind::History => "history",
            QueryKind::Live => "live",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct QueryLabels {
    kind: QueryKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct QueryErrorLabels {
    kind: QueryKind,
    reason: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Latencies from 50 µs to ~1.6 s, doubling: an fsync is ~0.3 ms here.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Query durations from 1 ms to ~65 s.
fn query_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

/// The metrics Weir counts as it works, and the registry that encodes them with those read at
/// scrape time. Cheap to clone; safe to update from any thread.
#[derive(Clone, Debug)]
pub(crate) struct Metrics {
    registry: Arc<std::sync::RwLock<Registry>>,
    ingest_events: Family<IngestLabels, Counter>,
    ingest_rejected: Family<IngestLabels, Counter>,
    ingest_bytes: Family<IngestLabels, Counter>,
    ingest_requests: Family<RequestLabels, Counter>,
    fsync_seconds: Histogram,
    group_commit_events: Histogram,
    append_seconds: Histogram,
    lake_commits: Family<CommitLabels, Counter>,
    lake_commit_seconds: HistogramFamily<StreamLabels>,
    query_seconds: HistogramFamily<QueryLabels>,
    query_errors: Family<QueryErrorLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let metrics = Metrics {
            registry: Arc::new(std::sync::RwLock::new(Registry::default())),
            ingest_events: Family::default(),
            ingest_rejected: Family::default(),
            ingest_bytes: Family::default(),
            ingest_requests: Family::default(),
            fsync_seconds: latency_histogram(),
            group_commit_events: Histogram::new(exponential_buckets(1.0, 4.0, 10)),
            append_seconds: latency_histogram(),
            lake_commits: Family::default(),
            lake_commit_seconds: Family::new_with_constructor(query_histogram),
            query_seconds: Family::new_with_constructor(query_histogram),
            query_errors: Family::default(),
        };
        {
            let mut r = metrics.registry.write().unwrap_or_else(|p| p.into_inner());
            r.register(
                "weir_ingest_events",
                "Events stored, by stream and protocol",
                metrics.ingest_events.clone(),
            );
            r.register(
                "weir_ingest_rejected_events",
                "Events (log records, spans, samples, documents) refused, by stream and protocol",
                metrics.ingest_rejected.clone(),
            );
            r.register(
                "weir_ingest_bytes",
                "Request bytes taken in (decompressed), by stream and protocol",
                metrics.ingest_bytes.clone(),
            );
            r.register(
                "weir_ingest_requests",
                "Ingest requests answered, by protocol and HTTP status",
                metrics.ingest_requests.clone(),
            );
            r.register(
                "weir_wal_fsync_seconds",
                "Time of one fsync of a stream's write-ahead log",
                metrics.fsync_seconds.clone(),
            );
            r.register(
                "weir_wal_group_commit_events",
                "Events made durable by one fsync (a group commit)",
                metrics.group_commit_events.clone(),
            );
            r.register(
                "weir_append_seconds",
                "Time from an append taking its stream until its events were durable (the group commit's latency)",
                metrics.append_seconds.clone(),
            );
            r.register(
                "weir_lake_commits",
                "New versions of a stream's lake table, by kind (tiering, compaction, retention)",
                metrics.lake_commits.clone(),
            );
            r.register(
                "weir_lake_commit_seconds",
                "Time to write and commit a new lake version",
                metrics.lake_commit_seconds.clone(),
            );
            r.register(
                "weir_query_seconds",
                "Duration of queries, by kind (history, live)",
                metrics.query_seconds.clone(),
            );
            r.register(
                "weir_query_errors",
                "Queries that failed, by kind and reason",
                metrics.query_errors.clone(),
            );
        }
        // Series known in advance start at 0, so that they (and their label columns in
        // `_weir_metrics`) are there before the first request or error.
        for (protocol, code) in [
            (Protocol::Json, 200),
            (Protocol::Otlp, 200),
            (Protocol::RemoteWrite, 204),
            (Protocol::EsBulk, 200),
        ] {
            let _ = metrics
                .ingest_requests
                .get_or_create(&RequestLabels { protocol, code });
        }
        for kind in [QueryKind::History, QueryKind::Live] {
            let _ = metrics.query_seconds.get_or_create(&QueryLabels { kind });
            for reason in Error::REASONS {
                let _ = metrics
                    .query_errors
                    .get_or_create(&QueryErrorLabels { kind, reason });
            }
        }
        metrics
    }

    /// Adds what is read at scrape time: the store's streams, the engine, sockets, alerts.
    pub(crate) fn collect_from(&self, sources: Sources) {
        self.registry
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .register_collector(Box::new(collect::Collector::new(sources)));
    }

    /// The OpenMetrics text of every metric.
    pub(crate) fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String does not fail.
        let _ = prometheus_client::encoding::text::encode(
            &mut text,
            &self.registry.read().unwrap_or_else(|p| p.into_inner()),
        );
        text
    }

    /// One ingest of `bytes` bytes into `stream` and what became of its events.
    pub(crate) fn ingested(
        &self,
        protocol: Protocol,
        stream: &StreamName,
        bytes: usize,
        outcome: &Outcome,
    ) {
        let labels = IngestLabels {
            stream: stream.to_string(),
            protocol,
        };
        self.ingest_events
            .get_or_create(&labels)
            .inc_by(outcome.accepted as u64);
        self.ingest_bytes
            .get_or_create(&labels)
            .inc_by(bytes as u64);
        if !outcome.rejected.is_empty() {
            self.ingest_rejected
                .get_or_create(&labels)
                .inc_by(outcome.rejected.len() as u64);
        }
    }

    /// One ingest request answered with `code`.
    pub(crate) fn request(&self, protocol: Protocol, code: u16) {
        self.ingest_requests
            .get_or_create(&RequestLabels { protocol, code })
            .inc();
    }

    /// One query of `kind` that took `took`; `error` is why it failed, if it did.
    pub(crate) fn query(&self, kind: QueryKind, took: Duration, error: Option<&'static str>) {
        self.query_seconds
            .get_or_create(&QueryLabels { kind })
            .observe(took.as_secs_f64());
        if let Some(reason) = error {
            self.query_errors
                .get_or_create(&QueryErrorLabels { kind, reason })
                .inc();
        }
    }
}

/// The store's measurements, into the metrics above.
impl storage::Observer for Metrics {
    fn fsync(&self, _stream: &StreamName, events: u64, took: Duration) {
        self.fsync_seconds.observe(took.as_secs_f64());
        self.group_commit_events.observe(events as f64);
    }

    fn append(&self, _stream: &StreamName, _events: u64, took: Duration) {
        self.append_seconds.observe(took.as_secs_f64());
    }

    fn lake_commit(&self, stream: &StreamName, kind: LakeCommit, took: Duration) {
        self.lake_commits
            .get_or_create(&CommitLabels {
                stream: stream.to_string(),
                kind: kind.as_str(),
            })
            .inc();
        self.lake_commit_seconds
            .get_or_create(&StreamLabels {
                stream: stream.to_string(),
            })
            .observe(took.as_secs_f64());
    }
}

#[cfg(test)]
mod tests;
