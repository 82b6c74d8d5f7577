//! The Elasticsearch bulk API against the real binary, driven by Elastic's own Python client:
//! its version probe, gzip-compressed bulk requests, per-item errors in the shape it reads; and
//! the probes Beats and Vector make.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use super::{ingest, query, start};

#[tokio::test]
async fn elastics_python_client_bulk_indexes_into_streams() {
    let weir = start("es_bulk_client", &[]).await;
    assert_eq!(ingest(&weir, "shop_logs", r#"{"count":1}"#).await.0, 200);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/python/es_bulk.py");
    let output = tokio::process::Command::new("python3")
        .arg(&script)
        .arg(weir.url(""))
        .output()
        .await
        .expect("python3 (install e2e/python/requirements.txt)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client: {stdout}\n{}\n{}",
        String::from_utf8_lossy(&output.stderr),
        weir.log_tail()
    );
    let reply: Value = serde_json::from_str(stdout.trim()).expect("the script's JSON line");
    assert_eq!(reply["version"], "8.17.0");
    assert_eq!(reply["stored"], 3, "{reply}");
    let errors = reply["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 2, "{reply}");
    let conflict = &errors[0]["index"];
    assert_eq!(conflict["status"], 400);
    assert_eq!(conflict["error"]["type"], "document_parsing_exception");
    assert!(
        conflict["error"]["reason"]
            .as_str()
            .unwrap()
            .contains("count"),
        "{reply}"
    );
    assert_eq!(
        errors[1]["delete"]["error"]["type"],
        "illegal_argument_exception"
    );

    let (status, rows) = query(
        &weir,
        "SELECT _time, message, http_status FROM shop_logs WHERE service = 'shop' ORDER BY _time",
    )
    .await;
    assert_eq!(status, 200, "{rows}");
    assert_eq!(
        rows["rows"],
        serde_json::json!([
            ["2026-12-01T10:00:00.000000Z", "order 0 placed", 200],
            ["2026-12-01T10:00:01.000000Z", "order 1 placed", 201],
            ["2026-12-01T10:00:02.000000Z", "order 2 placed", 202]
        ])
    );
}

#[tokio::test]
async fn shippers_probes_and_bulk_replies() {
    let weir = start("es_bulk_probes", &[]).await;
    let client = reqwest::Client::new();
    for path in [
        "/api/v1/es/",
        "/api/v1/es/_license",
        "/api/v1/es/_xpack",
        "/api/v1/es/_cluster/health",
    ] {
        let response = client.get(weir.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(
            response.headers()["x-elastic-product"],
            "Elasticsearch",
            "{path}"
        );
    }
    // The path's index, an id given and one made from the offset.
    let body =
        "{\"index\":{\"_id\":\"a\"}}\n{\"msg\":\"one\"}\n{\"create\":{}}\n{\"msg\":\"two\"}\n";
    let response = client
        .post(weir.url("/api/v1/es/Fluent-Bit/_bulk"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["errors"], false, "{reply}");
    assert_eq!(reply["items"][0]["index"]["_id"], "a");
    assert_eq!(reply["items"][0]["index"]["status"], 201);
    assert_eq!(reply["items"][1]["create"]["_id"], "fluent_bit-1");
    let (_, rows) = query(&weir, "SELECT msg FROM fluent_bit ORDER BY _offset").await;
    assert_eq!(rows["rows"], serde_json::json!([["one"], ["two"]]));
    // Bodies as Fluent Bit's `es` output (`create`, `_type` unless suppressed, `@timestamp`)
    // and Vector's `elasticsearch` sink (`index`, `timestamp`) write them, gzip-compressed.
    let shipped = concat!(
        "{\"create\":{\"_index\":\"fluent-bit\",\"_type\":\"_doc\"}}\n",
        "{\"@timestamp\":\"2026-12-01T10:00:00.123Z\",\"log\":\"GET /health 200\",",
        "\"stream\":\"stdout\",\"kubernetes\":{\"pod_name\":\"web-1\"}}\n",
        "{\"index\":{\"_index\":\"vector-2026.12.01\"}}\n",
        "{\"host\":\"web-1\",\"message\":\"started\",\"source_type\":\"file\",",
        "\"timestamp\":\"2026-12-01T10:00:01.5Z\"}\n",
    );
    let response = client
        .post(weir.url("/api/v1/es/_bulk"))
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(gzip(shipped.as_bytes()))
        .send()
        .await
        .unwrap();
    let reply: Value = response.json().await.unwrap();
    assert_eq!(reply["errors"], false, "{reply}");
    let (_, rows) = query(
        &weir,
        "SELECT _time, log, kubernetes_pod_name FROM fluent_bit WHERE stream = 'stdout'",
    )
    .await;
    assert_eq!(
        rows["rows"],
        serde_json::json!([["2026-12-01T10:00:00.123000Z", "GET /health 200", "web-1"]])
    );
    let (_, rows) = query(&weir, "SELECT _time, message FROM vector_2026_12_01").await;
    assert_eq!(
        rows["rows"],
        serde_json::json!([["2026-12-01T10:00:01.500000Z", "started"]])
    );

    // A malformed action line: the whole request, 400, with its line.
    let response = client
        .post(weir.url("/api/v1/es/_bulk"))
        .body("{\"index\":{\"_index\":\"x\"}}\n{}\n{\"nope\":{}}\n{}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let reply: Value = response.json().await.unwrap();
    assert_eq!(
        reply["error"]["reason"], "line 3: unknown action `nope`",
        "{reply}"
    );
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}
