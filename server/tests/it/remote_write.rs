//! Prometheus remote write against the real binary: Debian's `prometheus` (2.42) scrapes itself
//! and remote-writes to Weir, and its samples come out of SQL with their labels; and the
//! replies its sender acts on: 204, 400 (not retried), 413 before inflating, 503 with
//! `Retry-After` (retried).

use std::process::Stdio;
use std::time::Duration;

use e2e::wait_until;
use serde_json::Value;
use tokio::process::Command;

use super::{free_port, ingest, post, query, start};

const PROMETHEUS: &str = "/usr/bin/prometheus";

#[tokio::test]
async fn a_real_prometheus_remote_writes_its_samples_with_their_labels() {
    let weir = start("remote_write_prometheus", &[]).await;
    let dir = weir.data_dir().parent().unwrap().join("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: self\n    \
         static_configs:\n      - targets: ['127.0.0.1:{port}']\n        labels:\n          \
         team: observability\nremote_write:\n  - url: {}\n    queue_config:\n      \
         batch_send_deadline: 1s\n",
        weir.url("/api/v1/prom/remote/write")
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let mut prometheus = Command::new(PROMETHEUS)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{PROMETHEUS} (apt-get install prometheus): {e}"));

    let sql = "SELECT value, job, instance, team FROM prom_metrics WHERE metric = 'up'";
    let up = wait_until(
        Duration::from_secs(60),
        "Prometheus's `up` in Weir",
        || async {
            let (status, reply) = query(&weir, sql).await;
            Ok((status == 200)
                .then(|| reply["rows"].as_array().cloned().unwrap_or_default())
                .filter(|rows| !rows.is_empty()))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", weir.log_tail()));
    let port = port.to_string();
    assert_eq!(
        up[0],
        serde_json::json!([1.0, "self", format!("127.0.0.1:{port}"), "observability"])
    );
    // Many series of one scrape: counters and histogram buckets (`le`) among them.
    let (_, reply) = query(
        &weir,
        "SELECT count(DISTINCT metric), count(le) FROM prom_metrics WHERE job = 'self'",
    )
    .await;
    let row = &reply["rows"][0];
    assert!(row[0].as_i64().unwrap() > 50, "{reply}");
    assert!(row[1].as_i64().unwrap() > 0, "{reply}");

    // Exactly once: every `up` sample Prometheus holds (five scrapes or more) is in Weir, none
    // twice, and Prometheus counted no failed send.
    let api = format!("http://127.0.0.1:{port}/api/v1/query");
    let client = reqwest::Client::new();
    let prom = |query: &'static str| {
        let (client, api) = (client.clone(), api.clone());
        async move {
            let reply: Value = client
                .get(&api)
                .query(&[("query", query)])
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok(reply["data"]["result"].clone())
        }
    };
    let held: Vec<i64> = wait_until(Duration::from_secs(30), "five `up` samples", || async {
        let result = prom("up[1h]").await?;
        let times: Vec<i64> = result[0]["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v[0].as_f64())
            .map(|t| (t * 1000.0).round() as i64)
            .collect();
        Ok((times.len() >= 5).then_some(times))
    })
    .await
    .unwrap();
    wait_until(Duration::from_secs(30), "each of them in Weir", || async {
        let (_, reply) = query(
            &weir,
            "SELECT CAST(_time AS BIGINT) / 1000 FROM prom_metrics WHERE metric = 'up'",
        )
        .await;
        let got: Vec<i64> = reply["rows"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r[0].as_i64())
            .collect();
        Ok(held.iter().all(|t| got.contains(t)).then_some(()))
    })
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", weir.log_tail()));
    let (_, reply) = query(
        &weir,
        "SELECT count(*) - count(DISTINCT _time) FROM prom_metrics WHERE metric = 'up'",
    )
    .await;
    assert_eq!(reply["rows"][0][0], 0, "no sample twice: {reply}");
    let failed = prom("prometheus_remote_storage_samples_failed_total")
        .await
        .unwrap();
    assert_eq!(
        failed[0]["value"][1], "0",
        "Prometheus counted failed sends: {failed}"
    );
    prometheus.kill().await.unwrap();
}

fn snappy(bytes: &[u8]) -> Vec<u8> {
    snap::raw::Encoder::new().compress_vec(bytes).unwrap()
}

#[tokio::test]
async fn remote_write_answers_as_its_sender_expects() {
    let weir = start("remote_write_replies", &["--max-body-bytes", "1000000"]).await;
    let path = "/api/v1/prom/remote/write";
    // Not snappy, and snappy but not a WriteRequest: 400.
    let (status, reply) = post(&weir, path, "application/x-protobuf", "nonsense").await;
    assert_eq!(status, 400, "{reply}");
    let (status, reply) = post(&weir, path, "application/x-protobuf", snappy(&[0xff; 9])).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("WriteRequest"),
        "{reply}"
    );
    // 100 kB that inflates to 20 MB: 413, from the header, before inflating.
    let bomb = snappy(&vec![0; 20 << 20]);
    assert!(bomb.len() < 1 << 20);
    let (status, reply) = post(&weir, path, "application/x-protobuf", bomb).await;
    assert_eq!(status, 413, "{reply}");
    // A label the stream types as a number: that series' samples are refused, the others kept.
    assert_eq!(
        ingest(&weir, "prom_metrics", r#"{"code":200}"#).await.0,
        200
    );
    let request = write_request(&[
        (&[("__name__", "a"), ("code", "x")], 1.0),
        (&[("__name__", "b"), ("job", "j")], 2.0),
    ]);
    let (status, reply) = post(&weir, path, "application/x-protobuf", snappy(&request)).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("1 samples stored, 1 rejected")
    );
    let (_, reply) = query(
        &weir,
        "SELECT metric, value FROM prom_metrics WHERE job = 'j'",
    )
    .await;
    assert_eq!(reply["rows"], serde_json::json!([["b", 2.0]]));
    let request = write_request(&[(&[("__name__", "c")], 3.0)]);
    let (status, reply) = post(&weir, path, "application/x-protobuf", snappy(&request)).await;
    assert_eq!((status, reply), (204, Value::String(String::new())));

    // Remote write 2.0 is refused, not read as an empty 1.0 request.
    let response = reqwest::Client::new()
        .post(weir.url(path))
        .header(
            "content-type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        )
        .body(snappy(&request))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // Overload: 503 with Retry-After, which Prometheus retries.
    let busy = start("remote_write_busy", &["--max-concurrent-ingest", "0"]).await;
    let response = reqwest::Client::new()
        .post(busy.url(path))
        .body(snappy(&request))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
}

/// A `WriteRequest` of one sample per series, encoded by hand (field numbers of prompb).
fn write_request(series: &[(&[(&str, &str)], f64)]) -> Vec<u8> {
    fn field(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
        out.push(tag << 3 | 2);
        let mut n = bytes.len();
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out.extend_from_slice(bytes);
    }
    let mut request = Vec::new();
    for (labels, value) in series {
        let mut ts = Vec::new();
        for (name, value) in *labels {
            let mut label = Vec::new();
            field(1, name.as_bytes(), &mut label);
            field(2, value.as_bytes(), &mut label);
            field(1, &label, &mut ts);
        }
        let mut sample = vec![1 << 3 | 1];
        sample.extend_from_slice(&value.to_le_bytes());
        sample.push(2 << 3);
        sample.push(1); // timestamp: 1 ms
        field(2, &sample, &mut ts);
        field(1, &ts, &mut request);
    }
    request
}
