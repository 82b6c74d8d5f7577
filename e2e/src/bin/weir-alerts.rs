//! `weir-alerts`: alerting benchmarks against a running Weir (docs/benchmarks.md).
//!
//! ```text
//! weir-alerts latency URL STREAM [--trials N] [--every-ms MS]
//! weir-alerts instances URL STREAM [--stop-file PATH]
//! ```
//!
//! `latency` sets up a webhook contact point to a receiver of its own (`group_wait: 0s`) and a
//! rule over STREAM, then per trial POSTs one offending event (a new `service`, so a new group)
//! and times it until the receiver gets the firing notification naming it: p50/p90/p99/max.
//!
//! `instances` makes a rule with an instance per `user_id` (every row alerting: up to the
//! engine's 10,000 groups), then, until PATH exists, asks for the rules list twice a second,
//! timing each answer; then times the whole list of instances ten times, and reports how many
//! instances there were.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use axum::Router;
use axum::body::Bytes;
use axum::routing::post;
use serde_json::{Value, json};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str, default: u64| -> Result<u64> {
        match args.iter().position(|a| a == name) {
            Some(i) => args
                .get(i + 1)
                .context("a value")?
                .parse()
                .context(name.to_owned()),
            None => Ok(default),
        }
    };
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["latency", url, stream, ..] => {
            latency(
                url,
                stream,
                option("--trials", 200)?,
                option("--every-ms", 100)?,
            )
            .await
        }
        ["instances", url, stream, ..] => {
            let stop = match args.iter().position(|a| a == "--stop-file") {
                Some(i) => args.get(i + 1).context("a path")?.clone(),
                None => bail!("instances needs --stop-file PATH"),
            };
            instances(url, stream, &stop).await
        }
        _ => bail!("usage: weir-alerts latency|instances URL STREAM [options]"),
    }
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> Result<Value> {
    let response = http.request(method, &url).json(&body).send().await?;
    let status = response.status();
    let reply: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{url}: {status}: {reply}");
    }
    Ok(reply)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn latency(url: &str, stream: &str, trials: u64, every_ms: u64) -> Result<()> {
    // The receiver notes when each firing alert's service first arrives.
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let sink = Arc::clone(&seen);
    let app = Router::new().route(
        "/hook",
        post(move |body: Bytes| {
            let sink = Arc::clone(&sink);
            async move {
                let now = Instant::now();
                if let Ok(payload) = serde_json::from_slice::<Value>(&body) {
                    let mut seen = sink.lock().unwrap();
                    for alert in payload["alerts"].as_array().into_iter().flatten() {
                        if alert["status"] == "firing"
                            && let Some(service) = alert["labels"]["service"].as_str()
                        {
                            seen.entry(service.to_owned()).or_insert(now);
                        }
                    }
                }
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::new();
    let api = |path: &str| format!("{url}{path}");
    send(
        &http,
        reqwest::Method::POST,
        api("/api/v1/alerts/contact-points"),
        json!({"uid": "bench-hook", "name": "bench", "type": "webhook", "url": hook}),
    )
    .await?;
    send(
        &http,
        reqwest::Method::PUT,
        api("/api/v1/alerts/policy"),
        json!({"receiver": "bench-hook", "group_by": ["alertname", "service"], "group_wait": "0s",
               "group_interval": "1s", "repeat_interval": "1h"}),
    )
    .await?;
    let sql = format!(
        "SELECT service, max(latency_ms) AS latency FROM {stream} \
         WHERE _time >= now() - INTERVAL '10 seconds' GROUP BY service"
    );
    send(
        &http,
        reqwest::Method::POST,
        api("/api/v1/alerts/rules"),
        json!({"uid": "bench-latency", "title": "Bench latency", "sql": sql,
               "condition": {"column": "latency", "op": ">", "threshold": 1e9}}),
    )
    .await?;
    let endpoint = api(&format!("/api/v1/streams/{stream}/events"));
    let mut times = Vec::new();
    let mut missed = 0;
    for trial in 0..trials {
        let service = format!("probe_{trial}");
        let body = format!("{{\"service\":\"{service}\",\"latency_ms\":1e10}}\n");
        let sent = Instant::now();
        let response = http
            .post(&endpoint)
            .header("content-type", "application/x-ndjson")
            .body(body)
            .send()
            .await?;
        if !response.status().is_success() {
            bail!("probe {trial}: {}", response.status());
        }
        let deadline = sent + Duration::from_secs(5);
        loop {
            if let Some(at) = seen.lock().unwrap().get(&service) {
                times.push(at.duration_since(sent).as_secs_f64() * 1000.0);
                break;
            }
            if Instant::now() > deadline {
                missed += 1;
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(every_ms)).await;
    }
    times.sort_by(f64::total_cmp);
    if times.is_empty() {
        bail!("no notification arrived");
    }
    println!(
        "{{\"trials\":{trials},\"missed\":{missed},\"p50_ms\":{:.1},\"p90_ms\":{:.1},\"p99_ms\":{:.1},\"max_ms\":{:.1}}}",
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        percentile(&times, 0.99),
        times[times.len() - 1]
    );
    Ok(())
}

async fn instances(url: &str, stream: &str, stop: &str) -> Result<()> {
    let http = reqwest::Client::new();
    let api = |path: &str| format!("{url}{path}");
    let sql = format!(
        "SELECT user_id, count(*) AS requests FROM {stream} \
         WHERE _time >= now() - INTERVAL '1 hour' GROUP BY user_id"
    );
    send(
        &http,
        reqwest::Method::POST,
        api("/api/v1/alerts/rules"),
        json!({"uid": "bench-users", "title": "Bench users", "sql": sql}),
    )
    .await?;
    eprintln!("ready");
    let mut rules = Vec::new();
    let mut most = 0;
    while !std::path::Path::new(stop).exists() {
        let started = Instant::now();
        let reply: Value = http
            .get(api("/api/v1/alerts/rules"))
            .send()
            .await?
            .json()
            .await?;
        rules.push(started.elapsed().as_secs_f64() * 1000.0);
        let firing = reply[0]["counts"]["Firing"].as_u64().unwrap_or(0);
        most = most.max(firing);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The whole list of instances, once ingest is over.
    let mut list = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let body = http
            .get(api("/api/v1/alerts?rule=bench-users"))
            .send()
            .await?
            .bytes()
            .await?;
        list.push(started.elapsed().as_secs_f64() * 1000.0);
        let listed = serde_json::from_slice::<Value>(&body)?
            .as_array()
            .map_or(0, Vec::len);
        most = most.max(listed as u64);
    }
    rules.sort_by(f64::total_cmp);
    list.sort_by(f64::total_cmp);
    println!(
        "{{\"firing\":{most},\"rules_p50_ms\":{:.1},\"rules_p99_ms\":{:.1},\"instances_p50_ms\":{:.1},\"instances_p99_ms\":{:.1}}}",
        percentile(&rules, 0.5),
        percentile(&rules, 0.99),
        percentile(&list, 0.5),
        percentile(&list, 0.99)
    );
    Ok(())
}
