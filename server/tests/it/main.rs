//! Integration tests: the real `weir` binary on a free port with a temp data directory, driven
//! over HTTP and WebSocket.

mod access;
mod admin;
mod alertmanager;
mod alerts;
mod alerts_files;
mod audit;
mod backtest;
mod cli;
mod crash;
mod dashboards;
mod disk_full;
mod es_bulk;
mod ingest;
mod lake;
mod live;
mod live_herd;
mod metrics;
mod otlp;
mod priorities;
mod query;
mod query_limits;
mod remote_write;
mod render;
mod restart;
mod tail;
mod tls;
mod users;

use std::path::Path;

use e2e::{WeirProcess, test_dir};
use serde_json::Value;

/// Starts `weir serve ARGS` on a fresh directory named after the test.
pub(crate) async fn start(name: &str, args: &[&str]) -> WeirProcess {
    let dir = test_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), name);
    WeirProcess::start(
        Path::new(env!("CARGO_BIN_EXE_weir")),
        &dir.join("data"),
        args,
    )
    .await
    .expect("starting weir")
}

pub(crate) async fn post(
    weir: &WeirProcess,
    path: &str,
    content_type: &str,
    body: impl Into<reqwest::Body>,
) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(weir.url(path))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

/// A port free to listen on (for a helper process such as Prometheus).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A GET: its status, content type and body.
pub(crate) async fn get(weir: &WeirProcess, path: &str) -> (u16, String, String) {
    let response = reqwest::get(weir.url(path)).await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

pub(crate) async fn ingest(weir: &WeirProcess, stream: &str, ndjson: &str) -> (u16, Value) {
    post(
        weir,
        &format!("/api/v1/streams/{stream}/events"),
        "application/x-ndjson",
        ndjson.to_owned(),
    )
    .await
}

/// Waits until every event of `stream` is in its lake (tiered) and none is in its hot tier.
pub(crate) async fn tiered(weir: &WeirProcess, stream: &str) {
    let path = format!("/api/v1/streams/{stream}");
    e2e::wait_until(
        std::time::Duration::from_secs(60),
        "the stream to be tiered",
        || async {
            let (_, body) = weir.get(&path).await?;
            let info: Value = serde_json::from_str(&body)?;
            Ok((info["hot_rows"] == 0 && info["lake_files"].as_u64() > Some(0)).then_some(()))
        },
    )
    .await
    .unwrap();
}

pub(crate) async fn query(weir: &WeirProcess, sql: &str) -> (u16, Value) {
    let body = serde_json::json!({ "sql": sql }).to_string();
    post(weir, "/api/v1/query", "application/json", body).await
}

/// The single value of a one-row, one-column query.
pub(crate) async fn scalar(weir: &WeirProcess, sql: &str) -> Value {
    let (status, reply) = query(weir, sql).await;
    assert_eq!(status, 200, "{sql}: {reply}\n{}", weir.log_tail());
    reply["rows"][0][0].clone()
}
