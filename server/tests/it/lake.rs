//! The lake tier as others see it: the `deltalake` Python package and DuckDB read a stream's Delta
//! table without Weir and get the same rows as Weir's query.

use std::path::Path;

use serde_json::{Value, json};

use crate::{ingest, query, start, tiered};

#[tokio::test]
async fn deltalake_and_duckdb_read_the_same_rows_as_weir() {
    let weir = start("lake_read_by_others", &["--tier-max-age-secs", "0.1"]).await;
    let body: String = (0..600)
        .map(|i| {
            let service = ["api", "web", "db"][i as usize % 3];
            let mut event = json!({
                "_time": 1_767_600_000_000_000i64 + i * 17_000_123,
                "service": service,
                "status": 200 + (i % 5) * 100,
                "latency_ms": (i as f64) * 1.25 + 0.001,
                "ok": i % 7 != 0,
            });
            if i % 4 == 0 {
                event["http"] = json!({"code": i % 11});
            }
            event.to_string() + "\n"
        })
        .collect();
    let (status, reply) = ingest(&weir, "web", &body).await;
    assert_eq!(status, 200, "{reply}");
    tiered(&weir, "web").await;

    let columns = [
        "_time",
        "_offset",
        "service",
        "status",
        "latency_ms",
        "ok",
        "http_code",
    ];
    let sql = "SELECT CAST(_time AS BIGINT), _offset, service, status, latency_ms, ok, http_code \
               FROM web ORDER BY _offset";
    let (status, reply) = query(&weir, sql).await;
    assert_eq!(status, 200, "{reply}");
    let weir_rows = reply["rows"].clone();
    assert_eq!(weir_rows.as_array().unwrap().len(), 600);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../e2e/python/read_lake.py");
    let table = weir.data_dir().join("lake/web");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(&table)
        .args(columns)
        .output()
        .expect("python3 (install e2e/python/requirements.txt)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let others: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        others["deltalake"], weir_rows,
        "deltalake differs from Weir"
    );
    assert_eq!(others["duckdb"], weir_rows, "DuckDB differs from Weir");
    assert_eq!(
        others["txn"], 600,
        "the lake watermark is the weir transaction version"
    );
    assert!(
        others["files"].as_u64().unwrap() >= 3,
        "three hours, three partitions at least"
    );
}
