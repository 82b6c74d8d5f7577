//! `weir-otlp-load`: the same events through each ingest protocol, to compare their rates. Reads
//! the first N events of an NDJSON file of `demo_http` events (`shared/bench/gen_events.py`),
//! encodes them beforehand into request bodies of one protocol, then posts those from several
//! concurrent clients, each waiting for its acknowledgement (durable) before sending the next.
//!
//! ```text
//! weir-otlp-load URL FILE --protocol json|otlp-logs|otlp-traces|remote-write|es-bulk
//!                [--events N] [--batch EVENTS] [--clients N]
//! ```
//!
//! The mapping: OTLP logs, one record per event (the event's fields as attributes, grouped by
//! `service` into resources); OTLP traces, one span per event (`route` its name, `latency_ms` its
//! duration); remote write, one series per event with one sample (`latency_ms`, the string
//! fields as labels); Elasticsearch bulk, an `index` action line before each event. `json-logs`
//! and `json-spans` post, as NDJSON, the rows that the OTLP log records and spans become (the
//! same columns and values): JSON ingest of comparable rows. Prints one JSON line with the rate.

use std::io::{BufRead, BufReader};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, file, ..] = &args[..] else {
        bail!(
            "usage: weir-otlp-load URL FILE --protocol json|json-logs|json-spans|otlp-logs|otlp-traces|remote-write|es-bulk [--events N] [--batch EVENTS] [--clients N]"
        );
    };
    let option = |name: &str| args.iter().position(|a| a == name).map(|i| &args[i + 1]);
    let number = |name: &str, default: usize| -> Result<usize> {
        option(name).map_or(Ok(default), |v| v.parse().context(name.to_owned()))
    };
    let protocol = option("--protocol").context("--protocol")?.clone();
    let (events, batch, clients) = (
        number("--events", 500_000)?,
        number("--batch", 5_000)?,
        number("--clients", 4)?,
    );
    let reader = BufReader::new(std::fs::File::open(file).context("the NDJSON file")?);
    let lines: Vec<String> = reader.lines().take(events).collect::<Result<_, _>>()?;
    let (path, content_type, bodies) = match protocol.as_str() {
        "json" => (
            "/api/v1/streams/bench_json/events",
            "application/x-ndjson",
            lines
                .chunks(batch)
                .map(|c| (c.join("\n").into_bytes(), c.len()))
                .collect(),
        ),
        "json-logs" => (
            "/api/v1/streams/bench_json_logs/events",
            "application/x-ndjson",
            encode(&lines, batch, |events| rows(events, log_row))?,
        ),
        "json-spans" => (
            "/api/v1/streams/bench_json_spans/events",
            "application/x-ndjson",
            encode(&lines, batch, |events| rows(events, span_row))?,
        ),
        "otlp-logs" => (
            "/v1/logs",
            "application/x-protobuf",
            encode(&lines, batch, logs)?,
        ),
        "otlp-traces" => (
            "/v1/traces",
            "application/x-protobuf",
            encode(&lines, batch, spans)?,
        ),
        "remote-write" => (
            "/api/v1/prom/remote/write",
            "application/x-protobuf",
            encode(&lines, batch, samples)?,
        ),
        "es-bulk" => (
            "/api/v1/es/bench_es/_bulk",
            "application/x-ndjson",
            lines
                .chunks(batch)
                .map(|c| {
                    let body: String = c
                        .iter()
                        .map(|l| format!("{{\"index\":{{}}}}\n{l}\n"))
                        .collect();
                    (body.into_bytes(), c.len())
                })
                .collect(),
        ),
        other => bail!("unknown protocol {other}"),
    };
    let bodies: Vec<(Vec<u8>, usize)> = bodies;
    let total_bytes: usize = bodies.iter().map(|(b, _)| b.len()).sum();
    let endpoint = format!("{url}{path}");
    let queue = Arc::new(std::sync::Mutex::new(bodies.into_iter()));
    let http = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, endpoint, queue, done) = (
                http.clone(),
                endpoint.clone(),
                Arc::clone(&queue),
                Arc::clone(&done),
            );
            tokio::spawn(async move {
                loop {
                    let next = queue.lock().expect("queue").next();
                    let Some((body, n)) = next else {
                        return Ok::<(), anyhow::Error>(());
                    };
                    let response = http
                        .post(&endpoint)
                        .header("content-type", content_type)
                        .body(body)
                        .send()
                        .await?;
                    let status = response.status();
                    if !status.is_success() {
                        bail!("{status}: {}", response.text().await?);
                    }
                    done.fetch_add(n as u64, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    println!(
        "{{\"protocol\":\"{protocol}\",\"events\":{n},\"seconds\":{secs:.3},\"events_per_sec\":{:.0},\"body_bytes_per_event\":{:.1},\"clients\":{clients},\"batch\":{batch}}}",
        n as f64 / secs,
        total_bytes as f64 / n as f64
    );
    Ok(())
}

/// Bodies of `batch` events each, made by `make` from the parsed events.
fn encode(
    lines: &[String],
    batch: usize,
    make: fn(&[Value]) -> Vec<u8>,
) -> Result<Vec<(Vec<u8>, usize)>> {
    lines
        .chunks(batch)
        .map(|chunk| {
            let events: Vec<Value> = chunk
                .iter()
                .map(|l| serde_json::from_str(l))
                .collect::<Result<_, _>>()?;
            Ok((make(&events), events.len()))
        })
        .collect()
}

/// An NDJSON body of `row` of each event.
fn rows(events: &[Value], row: fn(usize, &Value) -> Value) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, event) in events.iter().enumerate() {
        serde_json::to_writer(&mut body, &row(i, event)).expect("a JSON value serializes");
        body.push(b'\n');
    }
    body
}

/// The row an OTLP log record of `event` becomes (docs/otlp.md), as JSON.
fn log_row(_: usize, event: &Value) -> Value {
    let status = event["status"].as_i64().unwrap_or(0);
    let mut row = serde_json::json!({
        "_time": event["_time"],
        "severity_number": if status >= 500 { 17 } else { 9 },
        "body": format!(
            "{} {} {status}",
            event["method"].as_str().unwrap_or(""),
            event["route"].as_str().unwrap_or("")
        ),
        "trace_id": event["trace_id"],
    });
    add_attributes(&mut row, event);
    row
}

/// The row an OTLP span of `event` becomes (docs/otlp.md), as JSON.
fn span_row(i: usize, event: &Value) -> Value {
    let start = time_ns(event);
    let latency = event["latency_ms"].as_f64().unwrap_or(0.0);
    let end = start + (latency * 1e6) as u64;
    let status = event["status"].as_i64().unwrap_or(0);
    let mut row = serde_json::json!({
        "_time": event["_time"],
        "trace_id": event["trace_id"],
        "span_id": hex::encode((start ^ i as u64).to_le_bytes()),
        "name": event["route"],
        "kind": "server",
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "duration_ns": end - start,
        "status_code": if status >= 500 { "error" } else { "unset" },
    });
    add_attributes(&mut row, event);
    row
}

/// The event's attributes and its service, as the columns OTLP makes of them.
fn add_attributes(row: &mut Value, event: &Value) {
    for kv in attributes(event) {
        let value = match kv.value.and_then(|v| v.value) {
            Some(Any::StringValue(s)) => Value::from(s),
            Some(Any::BoolValue(b)) => Value::from(b),
            Some(Any::IntValue(i)) => Value::from(i),
            Some(Any::DoubleValue(f)) => Value::from(f),
            _ => continue,
        };
        row[kv.key] = value;
    }
    row["service_name"] = Value::from(service(event));
}

fn time_ns(event: &Value) -> u64 {
    event["_time"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .unwrap_or_default() as u64
}

fn kv(key: &str, value: Any) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// The event's fields other than `_time`, `service` and `trace_id`, as attributes.
fn attributes(event: &Value) -> Vec<KeyValue> {
    let Some(fields) = event.as_object() else {
        return Vec::new();
    };
    fields
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "_time" | "service" | "trace_id"))
        .filter_map(|(k, v)| {
            let value = match v {
                Value::String(s) => Any::StringValue(s.clone()),
                Value::Bool(b) => Any::BoolValue(*b),
                Value::Number(n) if n.is_i64() => Any::IntValue(n.as_i64()?),
                Value::Number(n) => Any::DoubleValue(n.as_f64()?),
                _ => return None,
            };
            Some(kv(k, value))
        })
        .collect()
}

fn service(event: &Value) -> String {
    event["service"].as_str().unwrap_or("unknown").to_owned()
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv("service.name", Any::StringValue(service.to_owned()))],
        ..Default::default()
    })
}

/// Groups events by service, keeping their order within each.
fn by_service(events: &[Value]) -> Vec<(String, Vec<&Value>)> {
    let mut groups: Vec<(String, Vec<&Value>)> = Vec::new();
    for event in events {
        let name = service(event);
        match groups.iter_mut().find(|(s, _)| *s == name) {
            Some((_, group)) => group.push(event),
            None => groups.push((name, vec![event])),
        }
    }
    groups
}

fn trace_id(event: &Value) -> Vec<u8> {
    event["trace_id"]
        .as_str()
        .and_then(|t| hex::decode(t).ok())
        .unwrap_or_default()
}

fn logs(events: &[Value]) -> Vec<u8> {
    let resource_logs = by_service(events)
        .into_iter()
        .map(|(service, events)| ResourceLogs {
            resource: resource(&service),
            scope_logs: vec![ScopeLogs {
                log_records: events
                    .iter()
                    .map(|e| {
                        let status = e["status"].as_i64().unwrap_or(0);
                        LogRecord {
                            time_unix_nano: time_ns(e),
                            severity_number: if status >= 500 { 17 } else { 9 },
                            body: Some(AnyValue {
                                value: Some(Any::StringValue(format!(
                                    "{} {} {status}",
                                    e["method"].as_str().unwrap_or(""),
                                    e["route"].as_str().unwrap_or("")
                                ))),
                            }),
                            attributes: attributes(e),
                            trace_id: trace_id(e),
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest { resource_logs }.encode_to_vec()
}

fn spans(events: &[Value]) -> Vec<u8> {
    let resource_spans = by_service(events)
        .into_iter()
        .map(|(service, events)| ResourceSpans {
            resource: resource(&service),
            scope_spans: vec![ScopeSpans {
                spans: events
                    .iter()
                    .enumerate()
                    .map(|(i, e)| {
                        let start = time_ns(e);
                        let latency = e["latency_ms"].as_f64().unwrap_or(0.0);
                        let status = e["status"].as_i64().unwrap_or(0);
                        Span {
                            trace_id: trace_id(e),
                            span_id: (start ^ i as u64).to_le_bytes().to_vec(),
                            name: e["route"].as_str().unwrap_or("").to_owned(),
                            kind: 2,
                            start_time_unix_nano: start,
                            end_time_unix_nano: start + (latency * 1e6) as u64,
                            attributes: attributes(e),
                            status: Some(Status {
                                code: if status >= 500 { 2 } else { 0 },
                                ..Default::default()
                            }),
                            ..Default::default()
                        }
                    })
                    .collect(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }.encode_to_vec()
}

/// `prometheus.WriteRequest` and its parts, for the fields remote write 1.0 sends.
#[derive(Clone, PartialEq, Message)]
struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    timeseries: Vec<TimeSeries>,
}

#[derive(Clone, PartialEq, Message)]
struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
struct Label {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    value: String,
}

#[derive(Clone, PartialEq, Message)]
struct Sample {
    #[prost(double, tag = "1")]
    value: f64,
    #[prost(int64, tag = "2")]
    timestamp: i64,
}

fn samples(events: &[Value]) -> Vec<u8> {
    let timeseries = events
        .iter()
        .map(|e| {
            let mut labels = vec![Label {
                name: "__name__".to_owned(),
                value: "http_request_latency_ms".to_owned(),
            }];
            for key in ["method", "region", "route", "service", "status"] {
                let value = match &e[key] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                labels.push(Label {
                    name: key.to_owned(),
                    value,
                });
            }
            TimeSeries {
                labels,
                samples: vec![Sample {
                    value: e["latency_ms"].as_f64().unwrap_or(0.0),
                    timestamp: (time_ns(e) / 1_000_000) as i64,
                }],
            }
        })
        .collect();
    let raw = WriteRequest { timeseries }.encode_to_vec();
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .expect("snappy compresses any bytes")
}
