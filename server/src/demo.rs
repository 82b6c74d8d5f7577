//! `--demo`: realistic web-service traffic into the stream `demo_http`, with recurring incidents.
//!
//! The shape follows shared/bench's generator: services and routes with skewed popularity,
//! log-normal latency per route with a long tail (504s at 30 s), ~4% 4xx and ~0.5% 5xx as a
//! baseline, Zipf-distributed users and random trace ids. Incidents recur on a fixed cycle so a
//! demo shows them within minutes: every 2 minutes one busy service returns 30% 5xx for 35 s, and every
//! 3 minutes one route gets 8× slower for 40 s. Each incident is announced, when it starts, in
//! the stream `demo_incidents` (`_time`, `end`, `kind`, `text`): the demo dashboard draws them as
//! annotations. On its first start (no `demo_http` yet) the demo also writes a day of history,
//! back-dated, at a tenth of the live rate, with its incidents, so that the first look has history
//! to zoom and drill into. Events go through the same `ingest::append_json` path as HTTP ingest.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, LogNormal, Poisson, Zipf};
use serde::Serialize;
use storage::{Store, StreamName, now_micros};

use crate::ingest::{self, BodyFormat};
use tokio_util::sync::CancellationToken;

use crate::config::DemoConfig;
use crate::metrics::{Metrics, Protocol};

pub(crate) const STREAM: &str = "demo_http";
pub(crate) const INCIDENTS: &str = "demo_incidents";
/// The dashboard `--demo` makes on its first start (an example in docs/ too).
pub(crate) const DASHBOARD: &str = include_str!("../../docs/examples/web-services.json");
/// History written on the first start.
const HISTORY: Duration = Duration::from_secs(24 * 3600);
const TICK: Duration = Duration::from_millis(100);
const USERS: f64 = 200_000.0;

struct Route {
    service: &'static str,
    method: &'static str,
    path: &'static str,
    median_ms: f64,
    sigma: f64,
    weight: f64,
}

const fn route(
    service: &'static str,
    method: &'static str,
    path: &'static str,
    median_ms: f64,
    sigma: f64,
    weight: f64,
) -> Route {
    Route {
        service,
        method,
        path,
        median_ms,
        sigma,
        weight,
    }
}

const ROUTES: &[Route] = &[
    route("frontend", "GET", "/", 38.0, 0.5, 14.0),
    route("frontend", "GET", "/products/{id}", 55.0, 0.6, 9.0),
    route("frontend", "GET", "/assets/{file}", 6.0, 0.8, 12.0),
    route("frontend", "GET", "/cart", 48.0, 0.55, 3.0),
    route("api-gateway", "GET", "/v1/health", 2.0, 0.4, 6.0),
    route("api-gateway", "POST", "/v1/graphql", 85.0, 0.75, 7.0),
    route("api-gateway", "GET", "/v1/config", 9.0, 0.5, 2.0),
    route("catalog", "GET", "/v1/products", 42.0, 0.6, 6.0),
    route("catalog", "GET", "/v1/products/{id}", 21.0, 0.55, 7.0),
    route("catalog", "GET", "/v1/categories", 15.0, 0.5, 2.0),
    route("catalog", "GET", "/v1/reviews/{id}", 33.0, 0.7, 1.5),
    route("search", "GET", "/v1/query", 120.0, 0.8, 6.0),
    route("search", "GET", "/v1/suggest", 18.0, 0.6, 4.0),
    route("auth", "POST", "/v1/login", 140.0, 0.5, 2.0),
    route("auth", "POST", "/v1/token", 25.0, 0.45, 4.0),
    route("users", "GET", "/v1/profiles/{id}", 19.0, 0.5, 3.0),
    route("users", "PUT", "/v1/addresses/{id}", 45.0, 0.6, 0.8),
    route("cart", "GET", "/v1/carts/{id}", 14.0, 0.5, 3.0),
    route("cart", "POST", "/v1/carts/{id}/items", 31.0, 0.55, 2.0),
    route("cart", "DELETE", "/v1/carts/{id}/items", 27.0, 0.5, 0.7),
    route("inventory", "GET", "/v1/stock/{id}", 11.0, 0.6, 2.5),
    route("checkout", "POST", "/v1/orders", 260.0, 0.6, 1.0),
    route("checkout", "GET", "/v1/orders/{id}", 35.0, 0.5, 0.8),
    route("payments", "POST", "/v1/charges", 420.0, 0.7, 0.8),
    route("payments", "POST", "/v1/refunds", 380.0, 0.7, 0.1),
    route("shipping", "GET", "/v1/rates", 95.0, 0.65, 0.6),
    route("notifications", "POST", "/v1/email", 160.0, 0.8, 0.5),
    route(
        "notifications",
        "PATCH",
        "/v1/preferences/{id}",
        28.0,
        0.5,
        0.2,
    ),
];

const REGIONS: &[(&str, f64)] = &[
    ("us-east-1", 0.35),
    ("us-west-2", 0.20),
    ("eu-west-1", 0.18),
    ("eu-central-1", 0.12),
    ("ap-southeast-1", 0.09),
    ("ap-northeast-1", 0.06),
];

/// Services that take turns having an error spike: busy ones, so the spike shows in the overall rate.
const SPIKING_SERVICES: &[&str] = &["catalog", "search", "api-gateway", "cart", "frontend"];

#[derive(Serialize)]
struct Event<'a> {
    _time: String,
    service: &'a str,
    route: &'a str,
    method: &'a str,
    status: u16,
    latency_ms: f64,
    bytes: u64,
    region: &'a str,
    trace_id: String,
    user_id: String,
}

/// What is going wrong at a given moment of the demo.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Incidents {
    error_service: Option<&'static str>,
    slow_route: Option<usize>,
}

impl Incidents {
    const ERROR_CYCLE: u64 = 120;
    const ERROR_SPAN: std::ops::Range<u64> = 40..75;
    const ERROR_SHARE: f64 = 0.3;
    const LATENCY_CYCLE: u64 = 180;
    const LATENCY_SPAN: std::ops::Range<u64> = 100..140;
    const LATENCY_FACTOR: f64 = 8.0;

    /// Incidents `elapsed_secs` after the demo started.
    fn at(elapsed_secs: u64) -> Incidents {
        let error_cycle = elapsed_secs / Self::ERROR_CYCLE;
        let latency_cycle = elapsed_secs / Self::LATENCY_CYCLE;
        Incidents {
            error_service: Self::ERROR_SPAN
                .contains(&(elapsed_secs % Self::ERROR_CYCLE))
                .then(|| SPIKING_SERVICES[error_cycle as usize % SPIKING_SERVICES.len()]),
            slow_route: Self::LATENCY_SPAN
                .contains(&(elapsed_secs % Self::LATENCY_CYCLE))
                .then_some((latency_cycle as usize * 7 + 1) % ROUTES.len()),
        }
    }
}

/// An incident as announced in `demo_incidents`.
#[derive(Serialize)]
struct Announcement {
    _time: String,
    end: String,
    kind: &'static str,
    text: String,
}

fn rfc3339(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

impl Incidents {
    /// The incidents that start in second `elapsed_secs` of a demo that started at `origin_us`.
    fn starting(origin_us: i64, elapsed_secs: u64) -> Vec<Announcement> {
        let at = |secs: u64| origin_us + secs as i64 * 1_000_000;
        let mut out = Vec::new();
        if elapsed_secs % Self::ERROR_CYCLE == Self::ERROR_SPAN.start {
            let service = SPIKING_SERVICES
                [(elapsed_secs / Self::ERROR_CYCLE) as usize % SPIKING_SERVICES.len()];
            let secs = Self::ERROR_SPAN.end - Self::ERROR_SPAN.start;
            out.push(Announcement {
                _time: rfc3339(at(elapsed_secs)),
                end: rfc3339(at(elapsed_secs + secs)),
                kind: "errors",
                text: format!(
                    "{service}: {:.0}% of requests fail (5xx) for {secs} s",
                    Self::ERROR_SHARE * 100.0
                ),
            });
        }
        if elapsed_secs % Self::LATENCY_CYCLE == Self::LATENCY_SPAN.start {
            let route =
                &ROUTES[((elapsed_secs / Self::LATENCY_CYCLE) as usize * 7 + 1) % ROUTES.len()];
            let secs = Self::LATENCY_SPAN.end - Self::LATENCY_SPAN.start;
            out.push(Announcement {
                _time: rfc3339(at(elapsed_secs)),
                end: rfc3339(at(elapsed_secs + secs)),
                kind: "latency",
                text: format!(
                    "{} {}: {:.0}× slower for {secs} s",
                    route.method,
                    route.path,
                    Self::LATENCY_FACTOR
                ),
            });
        }
        out
    }
}

/// Where the demo's events go: the store, counted in Weir's metrics.
#[derive(Clone)]
pub(crate) struct Sink {
    pub(crate) store: Arc<Store>,
    pub(crate) metrics: Metrics,
}

/// Appends NDJSON to a stream, logging (not failing on) what goes wrong: the demo goes on.
async fn append(sink: &Sink, stream: &StreamName, body: String) {
    let (store, stream) = (Arc::clone(&sink.store), stream.clone());
    let bytes = body.len();
    let appended = tokio::task::spawn_blocking(move || {
        let outcome = ingest::append_json(&store, &stream, body.as_bytes(), BodyFormat::Ndjson);
        (stream, outcome)
    })
    .await;
    if let Ok((stream, Ok(outcome))) = &appended {
        sink.metrics
            .ingested(Protocol::Demo, stream, bytes, outcome);
    }
    match appended.map(|(_, outcome)| outcome) {
        Ok(Ok(outcome)) if outcome.rejected.is_empty() => {}
        Ok(Ok(outcome)) => tracing::warn!(rejected = ?outcome.rejected, "demo events rejected"),
        Ok(Err(err)) => tracing::warn!(%err, "demo append failed"),
        Err(err) => tracing::warn!(%err, "demo append task failed"),
    }
}

/// NDJSON of the incidents starting in seconds `from..to` of a demo that started at `origin_us`.
fn announcements(origin_us: i64, from: u64, to: u64) -> String {
    let mut body = String::new();
    for second in from..to {
        for announcement in Incidents::starting(origin_us, second) {
            if let Ok(line) = serde_json::to_string(&announcement) {
                let _ = writeln!(body, "{line}");
            }
        }
    }
    body
}

/// Writes [`HISTORY`] of traffic ending at `end_us`, a minute per append, at `events_per_sec`.
async fn backfill(sink: Sink, events_per_sec: f64, end_us: i64, stopping: CancellationToken) {
    let stream = StreamName::new(STREAM).expect("the demo stream name is valid");
    let incidents = StreamName::new(INCIDENTS).expect("the incidents stream name is valid");
    let origin = end_us - HISTORY.as_micros() as i64;
    let mut generator = Generator::new(origin as u64);
    let arrivals = Poisson::new(events_per_sec.max(0.1)).expect("a positive rate");
    let started = std::time::Instant::now();
    let seconds = HISTORY.as_secs();
    let mut written = 0usize;
    for minute in (0..seconds).step_by(60) {
        if stopping.is_cancelled() {
            return;
        }
        let mut body = String::new();
        for second in minute..(minute + 60).min(seconds) {
            let n = arrivals.sample(&mut generator.rng) as usize;
            let from = origin + second as i64 * 1_000_000;
            generator.write(&mut body, n, from, 1_000_000, Incidents::at(second));
            written += n;
        }
        append(&sink, &stream, body).await;
        let announced = announcements(origin, minute, (minute + 60).min(seconds));
        if !announced.is_empty() {
            append(&sink, &incidents, announced).await;
        }
    }
    tracing::info!(
        events = written,
        secs = started.elapsed().as_secs_f64(),
        "demo history written"
    );
}

struct Generator {
    rng: StdRng,
    route_cdf: Vec<f64>,
    region_cdf: Vec<f64>,
    latency: Vec<LogNormal<f64>>,
    size: LogNormal<f64>,
    users: Zipf<f64>,
}

impl Generator {
    fn new(seed: u64) -> Generator {
        let cdf = |weights: Vec<f64>| {
            let total: f64 = weights.iter().sum();
            weights
                .iter()
                .scan(0.0, |acc, w| {
                    *acc += w / total;
                    Some(*acc)
                })
                .collect::<Vec<f64>>()
        };
        Generator {
            rng: StdRng::seed_from_u64(seed),
            route_cdf: cdf(ROUTES.iter().map(|r| r.weight).collect()),
            region_cdf: cdf(REGIONS.iter().map(|r| r.1).collect()),
            latency: ROUTES
                .iter()
                .map(|r| LogNormal::new(r.median_ms.ln(), r.sigma).expect("valid log-normal"))
                .collect(),
            size: LogNormal::new(4_000f64.ln(), 1.1).expect("valid log-normal"),
            users: Zipf::new(USERS, 1.0).expect("valid zipf"),
        }
    }

    fn pick(rng: &mut StdRng, cdf: &[f64]) -> usize {
        let x: f64 = rng.random();
        cdf.partition_point(|&c| c < x).min(cdf.len() - 1)
    }

    /// Appends `n` events with times in `[from_us, from_us + span_us)` to `out` as NDJSON.
    fn write(
        &mut self,
        out: &mut String,
        n: usize,
        from_us: i64,
        span_us: i64,
        incidents: Incidents,
    ) {
        let mut times: Vec<i64> = (0..n)
            .map(|_| from_us + self.rng.random_range(0..span_us.max(1)))
            .collect();
        times.sort_unstable();
        for time_us in times {
            let route_idx = Self::pick(&mut self.rng, &self.route_cdf);
            let route = &ROUTES[route_idx];
            let failing = incidents.error_service == Some(route.service);
            let mut status = self.status(route.method, failing);
            let mut latency_ms = self.latency[route_idx].sample(&mut self.rng);
            if failing {
                latency_ms *= 1.5;
            }
            if incidents.slow_route == Some(route_idx) {
                latency_ms *= Incidents::LATENCY_FACTOR;
            }
            if latency_ms >= 30_000.0 {
                status = 504;
            }
            if status == 504 {
                latency_ms = 30_000.0 + self.rng.random_range(0.0..50.0);
            }
            let bytes = match status {
                204 | 304 => 0,
                s if s >= 400 => self.rng.random_range(60..400),
                _ => self.size.sample(&mut self.rng).min(5e6) as u64,
            };
            let rank = self.users.sample(&mut self.rng) as u64;
            let event = Event {
                _time: chrono::DateTime::from_timestamp_micros(time_us)
                    .unwrap_or_default()
                    .format("%Y-%m-%dT%H:%M:%S%.6fZ")
                    .to_string(),
                service: route.service,
                route: route.path,
                method: route.method,
                status,
                latency_ms: (latency_ms * 1000.0).round() / 1000.0,
                bytes,
                region: REGIONS[Self::pick(&mut self.rng, &self.region_cdf)].0,
                trace_id: format!("{:032x}", self.rng.random::<u128>()),
                user_id: format!("u{:06}", (rank * 7_919) % USERS as u64),
            };
            if let Ok(line) = serde_json::to_string(&event) {
                let _ = writeln!(out, "{line}");
            }
        }
    }

    fn status(&mut self, method: &str, failing: bool) -> u16 {
        let x: f64 = self.rng.random();
        if failing && x < Incidents::ERROR_SHARE {
            return [500, 502, 503, 503][self.rng.random_range(0..4)];
        }
        let table: &[(u16, f64)] = match method {
            "GET" => &[
                (200, 0.902),
                (304, 0.06),
                (404, 0.02),
                (401, 0.005),
                (403, 0.003),
                (429, 0.005),
                (500, 0.002),
                (502, 0.001),
                (503, 0.001),
                (504, 0.001),
            ],
            "POST" => &[
                (201, 0.80),
                (200, 0.13),
                (400, 0.035),
                (409, 0.01),
                (422, 0.01),
                (401, 0.005),
                (429, 0.005),
                (500, 0.002),
                (502, 0.001),
                (503, 0.001),
                (504, 0.001),
            ],
            "DELETE" => &[
                (204, 0.94),
                (404, 0.04),
                (403, 0.01),
                (401, 0.005),
                (500, 0.002),
                (502, 0.001),
                (503, 0.001),
                (504, 0.001),
            ],
            _ => &[
                (200, 0.93),
                (400, 0.03),
                (404, 0.02),
                (409, 0.01),
                (401, 0.005),
                (500, 0.002),
                (502, 0.001),
                (503, 0.001),
                (504, 0.001),
            ],
        };
        let x: f64 = self.rng.random();
        let mut acc = 0.0;
        for &(status, p) in table {
            acc += p;
            if x < acc {
                return status;
            }
        }
        table[0].0
    }
}

/// Writes demo traffic until `stopping` is cancelled.
pub(crate) async fn run(sink: Sink, config: DemoConfig, stopping: CancellationToken) {
    let store = &sink.store;
    let stream = StreamName::new(STREAM).expect("the demo stream name is valid");
    let incidents_stream = StreamName::new(INCIDENTS).expect("the incidents stream name is valid");
    let started = now_micros();
    let first_start = store.streams().iter().all(|s| s.name != STREAM);
    let history = first_start.then(|| {
        tokio::spawn(backfill(
            sink.clone(),
            f64::from(config.events_per_sec) / 10.0,
            started,
            stopping.clone(),
        ))
    });
    let mut announced_until = 0u64;
    let mut generator = Generator::new(started as u64);
    let per_tick = f64::from(config.events_per_sec.max(1)) * TICK.as_secs_f64();
    let arrivals = Poisson::new(per_tick).expect("a positive rate");
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_incidents = Incidents::at(0);
    tracing::info!(
        stream = STREAM,
        events_per_sec = config.events_per_sec,
        "demo generator started"
    );
    loop {
        tokio::select! {
            () = stopping.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = now_micros();
        let elapsed = ((now - started) / 1_000_000) as u64;
        let incidents = Incidents::at(elapsed);
        if elapsed + 1 > announced_until {
            let body = announcements(started, announced_until, elapsed + 1);
            announced_until = elapsed + 1;
            if !body.is_empty() {
                append(&sink, &incidents_stream, body).await;
            }
        }
        if incidents != last_incidents {
            tracing::info!(error_service = ?incidents.error_service,
                slow_route = ?incidents.slow_route.map(|i| ROUTES[i].path), "demo incidents changed");
            last_incidents = incidents;
        }
        let n = arrivals.sample(&mut generator.rng) as usize;
        let mut body = String::with_capacity(n * 260);
        let span = TICK.as_micros() as i64;
        generator.write(&mut body, n, now - span, span, incidents);
        append(&sink, &stream, body).await;
    }
    if let Some(history) = history {
        let _ = history.await;
    }
    tracing::info!("demo generator stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incidents_recur() {
        assert_eq!(
            Incidents::at(0),
            Incidents {
                error_service: None,
                slow_route: None
            }
        );
        assert_eq!(Incidents::at(45).error_service, Some("catalog"));
        assert_eq!(Incidents::at(165).error_service, Some("search"));
        assert!(Incidents::at(110).slow_route.is_some());
        assert_ne!(Incidents::at(110).slow_route, Incidents::at(290).slow_route);
    }

    #[test]
    fn traffic_looks_like_a_web_service() {
        let mut generator = Generator::new(7);
        let mut body = String::new();
        let calm = Incidents::at(0);
        generator.write(&mut body, 20_000, 1_767_607_200_000_000, 1_000_000, calm);
        let events: Vec<serde_json::Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len(), 20_000);
        let share = |f: &dyn Fn(&serde_json::Value) -> bool| {
            events.iter().filter(|e| f(e)).count() as f64 / events.len() as f64
        };
        let errors = share(&|e| e["status"].as_u64().unwrap() >= 500);
        assert!(
            (0.002..0.012).contains(&errors),
            "baseline 5xx share {errors}"
        );
        let slow = share(&|e| e["latency_ms"].as_f64().unwrap() > 500.0);
        assert!((0.001..0.1).contains(&slow), "long tail share {slow}");
        let services: std::collections::HashSet<_> = events
            .iter()
            .map(|e| e["service"].as_str().unwrap().to_owned())
            .collect();
        assert!(services.len() >= 10);
        let times: Vec<&str> = events
            .iter()
            .map(|e| e["_time"].as_str().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));

        let mut spike = String::new();
        let mut incident = Incidents::at(45);
        incident.slow_route = None;
        generator.write(
            &mut spike,
            20_000,
            1_767_607_200_000_000,
            1_000_000,
            incident,
        );
        let checkout: Vec<serde_json::Value> = spike
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|e| e["service"] == "catalog")
            .collect();
        let failing = checkout
            .iter()
            .filter(|e| e["status"].as_u64().unwrap() >= 500)
            .count();
        let share = failing as f64 / checkout.len() as f64;
        assert!((0.2..0.4).contains(&share), "spike 5xx share {share}");
    }
}
