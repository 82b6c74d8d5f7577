//! OTLP/HTTP against the real binary: the OpenTelemetry Python SDK's own exporters send a trace,
//! its logs and metrics, which come out of SQL as documented (docs/otlp.md); OTLP/JSON; and the
//! replies exporters act on: partial success, 400, 413 (a decompression bomb too), 415, 429 with
//! `Retry-After`.

use std::io::Write;
use std::path::Path;

use prost::Message;
use serde_json::Value;

use super::{ingest, post, query, scalar, start};

/// One query's rows.
async fn rows(weir: &e2e::WeirProcess, sql: &str) -> Vec<Value> {
    let (status, reply) = query(weir, sql).await;
    assert_eq!(status, 200, "{sql}: {reply}");
    reply["rows"].as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_python_sdks_exporters_send_a_trace_its_logs_and_metrics() {
    let weir = start("otlp_python_sdk", &[]).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/python/otel_export.py");
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(weir.url(""))
        .output()
        .await
        .expect("python3 (install e2e/python/requirements.txt)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exporters: {stdout}\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        weir.log_tail()
    );
    let reply: Value = serde_json::from_str(stdout.trim()).expect("the script's JSON line");
    let trace_id = reply["trace_id"].as_str().expect("trace id").to_owned();

    let spans = rows(
        &weir,
        &format!(
            "SELECT name, kind, status_code, status_message, parent_span_id, span_id, \
             service_name, duration_ns, events, payment_amount, http_route \
             FROM otel_traces WHERE trace_id = '{trace_id}' ORDER BY start_time_unix_nano"
        ),
    )
    .await;
    assert_eq!(spans.len(), 2, "{spans:?}");
    let (root, child) = (&spans[0], &spans[1]);
    assert_eq!(root[0], "POST /checkout");
    assert_eq!(root[1], "server");
    assert_eq!(root[4], Value::Null, "the root has no parent");
    assert_eq!(root[10], "/checkout");
    assert_eq!(child[0], "charge card");
    assert_eq!(child[1], "client");
    assert_eq!(
        (&child[2], &child[3]),
        (&"error".into(), &"card declined".into())
    );
    assert_eq!(child[4], root[5], "the child's parent is the root");
    assert_eq!(child[6], "checkout");
    assert!(child[7].as_i64().unwrap() > 0);
    assert!(
        child[8].as_str().unwrap().contains("\"retry\""),
        "{}",
        child[8]
    );
    assert_eq!(child[9], 42.5);

    let logs = rows(
        &weir,
        &format!(
            "SELECT body, severity_text, severity_number, span_id, service_name, \
             deployment_environment FROM otel_logs WHERE trace_id = '{trace_id}' ORDER BY _time"
        ),
    )
    .await;
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert_eq!(logs[0][0], "checkout started");
    assert_eq!(logs[1][0], "card declined");
    assert_eq!(logs[1][1], "ERROR");
    assert_eq!(logs[1][2], 17);
    assert_eq!(logs[1][3], child[5], "the log is the child span's");
    assert_eq!(
        (&logs[1][4], &logs[1][5]),
        (&"checkout".into(), &"test".into())
    );

    let points = rows(
        &weir,
        "SELECT metric, type, temporality, monotonic, value, count, sum, bucket_counts, region \
         FROM otel_metrics ORDER BY metric",
    )
    .await;
    assert_eq!(points.len(), 2, "{points:?}");
    let (latency, orders) = (&points[0], &points[1]);
    assert_eq!(latency[0], "checkout.latency");
    assert_eq!(latency[1], "histogram");
    assert_eq!((&latency[5], &latency[6]), (&3.into(), &342.0.into()));
    let counts: Vec<u64> = serde_json::from_str(latency[7].as_str().unwrap()).unwrap();
    assert_eq!(counts.iter().sum::<u64>(), 3, "{counts:?}");
    assert_eq!(orders[0], "orders");
    assert_eq!(
        (&orders[1], &orders[2]),
        (&"sum".into(), &"cumulative".into())
    );
    assert_eq!((&orders[3], &orders[4]), (&true.into(), &3.0.into()));
    assert_eq!(orders[8], "eu");
    // 12, 80 and 250 in the SDK's default buckets (…, 10, 25, 50, 75, 100, 250, …): the median
    // is halfway through (75, 100].
    let median = scalar(
        &weir,
        "SELECT histogram_quantile(0.5, bucket_bounds, bucket_counts) FROM otel_metrics \
         WHERE metric = 'checkout.latency'",
    )
    .await;
    assert_eq!(median, 87.5);
}

/// The specification's JSON example, gzip-compressed, to another stream by header.
#[tokio::test]
async fn otlp_json_goes_where_the_header_says_and_bad_bodies_are_told_apart() {
    let weir = start("otlp_json", &["--max-body-bytes", "200000"]).await;
    let body = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name",
        "value":{"stringValue":"my.service"}}]},"scopeLogs":[{"scope":{"name":"my.library"},
        "logRecords":[{"timeUnixNano":"1544712660300000000","severityNumber":10,
        "traceId":"5B8EFFF798038103D269B633813FC60C","body":{"stringValue":"Example log"},
        "attributes":[{"key":"int.attribute","value":{"intValue":"10"}}]}]}]}]}"#;
    let client = reqwest::Client::new();
    let response = client
        .post(weir.url("/v1/logs"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .header("x-weir-stream", "app_logs")
        .body(gzip(body.as_bytes()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        "{}",
        "full success: no partial_success"
    );
    assert_eq!(
        scalar(
            &weir,
            "SELECT int_attribute FROM app_logs WHERE service_name = 'my.service'"
        )
        .await,
        10
    );

    // Undecodable: 400 with a google.rpc.Status in the request's encoding.
    let response = client
        .post(weir.url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(vec![0xff, 0xff, 0xff])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let status = RpcStatus::decode(response.bytes().await.unwrap()).expect("a Status message");
    assert_eq!(status.code, 3);
    assert!(status.message.contains("protobuf"), "{}", status.message);
    let (code, reply) = post(
        &weir,
        "/v1/metrics",
        "application/json",
        "{\"resourceMetrics\":1}",
    )
    .await;
    assert_eq!(code, 400, "{reply}");
    assert!(
        reply["message"].as_str().unwrap().contains("OTLP/JSON"),
        "{reply}"
    );
    let (code, _) = post(&weir, "/v1/logs", "text/plain", "hello").await;
    assert_eq!(code, 415);

    // Too large, and a small gzip body that inflates past the limit: 413, not retried.
    let (code, reply) = post(&weir, "/v1/logs", "application/json", vec![b' '; 300_000]).await;
    assert_eq!(code, 413, "{reply}");
    let bomb = gzip(&vec![b' '; 50_000_000]);
    assert!(bomb.len() < 100_000);
    let response = client
        .post(weir.url("/v1/logs"))
        .header("content-type", "application/json")
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    let (status, _) = query(&weir, "SELECT 1").await;
    assert_eq!(status, 200, "still serving\n{}", weir.log_tail());
}

/// A stream whose `severity_number` is text: the OTLP records that bring a number are rejected,
/// the others kept, and the reply says so in `partial_success`.
#[tokio::test]
async fn rejected_records_come_back_as_partial_success() {
    let weir = start("otlp_partial", &[]).await;
    let (code, _) = ingest(&weir, "typed", r#"{"severity_number":"high"}"#).await;
    assert_eq!(code, 200);
    let body = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
        {"body":{"stringValue":"kept"}},
        {"severityNumber":9,"body":{"stringValue":"rejected"}},
        {"body":{"stringValue":"kept too"}}]}]}]}"#;
    let response = reqwest::Client::new()
        .post(weir.url("/v1/logs"))
        .header("content-type", "application/json")
        .header("x-weir-stream", "typed")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    let partial = &reply["partialSuccess"];
    assert_eq!(partial["rejectedLogRecords"], 1, "{reply}");
    let message = partial["errorMessage"].as_str().unwrap();
    assert!(
        message.starts_with("log record 2: ") && message.contains("severity_number"),
        "{message}"
    );
    assert_eq!(scalar(&weir, "SELECT count(body) FROM typed").await, 2);
}

#[tokio::test]
async fn an_overloaded_server_answers_429_with_retry_after() {
    // No ingest may run at once: every export is refused as overload.
    let weir = start("otlp_overload", &["--max-concurrent-ingest", "0"]).await;
    let response = reqwest::Client::new()
        .post(weir.url("/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(Vec::new())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let status = RpcStatus::decode(response.bytes().await.unwrap()).unwrap();
    assert_eq!(status.code, 8);
}

/// `google.rpc.Status`, as a client decodes an OTLP error.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}
