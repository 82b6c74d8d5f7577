//! `POST /api/v1/streams/{stream}/events` and the stream listing.

use std::io::Write;

use serde_json::json;

use crate::{ingest, post, scalar, start};

#[tokio::test]
async fn good_lines_are_kept_and_bad_ones_reported_by_line() {
    let weir = start("good_lines_kept", &[]).await;
    let body = "{\"service\":\"api\",\"status\":200}\n\
                {\"service\":\"api\",\"status\":\n\
                {\"service\":\"web\",\"status\":503,\"latency_ms\":12.5}\n\
                {\"service\":\"web\",\"status\":\"oops\"}\n\
                \n\
                {\"service\":\"db\",\"nested\":{\"a\":1}}\n";
    let (status, reply) = ingest(&weir, "web_logs", body).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["accepted"], 3);
    assert_eq!(reply["offsets"], json!({"first": 0, "last": 2}));
    let rejected = reply["rejected"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{reply}");
    assert_eq!(rejected[0]["line"], 2);
    assert!(
        rejected[0]["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON"),
        "{reply}"
    );
    assert_eq!(
        rejected[1],
        json!({"line": 4, "error": "field `status` is Int64, got a string"})
    );

    let total = scalar(
        &weir,
        "SELECT count(*) FROM web_logs WHERE nested_a = 1 OR status >= 200",
    )
    .await;
    assert_eq!(total, 3);

    // A JSON array works too, and offsets continue.
    let (status, reply) = post(
        &weir,
        "/api/v1/streams/web_logs/events",
        "application/json",
        r#"[{"service":"x","status":201},{"service":"y","status":204}]"#,
    )
    .await;
    assert_eq!(
        (status, reply["offsets"].clone()),
        (200, json!({"first": 3, "last": 4}))
    );
}

#[tokio::test]
async fn a_body_of_only_bad_events_is_a_400_and_names_are_checked() {
    let weir = start("only_bad_events", &[]).await;
    let (status, reply) = ingest(&weir, "s", "nope\n[1,2]\n").await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["accepted"], 0);
    assert_eq!(reply["rejected"].as_array().unwrap().len(), 2);
    let (status, reply) = ingest(&weir, "Bad-Name", "{\"a\":1}").await;
    assert_eq!(status, 400);
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("invalid stream name"),
        "{reply}"
    );
    let (status, _) = post(
        &weir,
        "/api/v1/streams/s/events",
        "application/json",
        "[{\"a\":1},",
    )
    .await;
    assert_eq!(status, 400);
    // An empty body is fine and stores nothing.
    let (status, reply) = ingest(&weir, "s", "").await;
    assert_eq!((status, reply["accepted"].clone()), (200, json!(0)));
    let (status, _) = e2e_get(&weir, "/api/v1/streams/s").await;
    assert_eq!(status, 404, "no stream is created without an event");
}

#[tokio::test]
async fn gzip_bodies_are_decoded_and_oversized_ones_refused() {
    let weir = start("gzip_and_limits", &["--max-body-bytes", "4096"]).await;
    let lines: String = (0..40)
        .map(|i| format!("{{\"i\":{i},\"pad\":\"{}\"}}\n", "x".repeat(20)))
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(lines.as_bytes()).unwrap();
    let compressed = gz.finish().unwrap();
    let response = reqwest::Client::new()
        .post(weir.url("/api/v1/streams/zipped/events"))
        .header("content-type", "application/x-ndjson")
        .header("content-encoding", "gzip")
        .body(compressed)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(scalar(&weir, "SELECT sum(i) FROM zipped").await, 780);

    let big: String = (0..400)
        .map(|i| format!("{{\"i\":{i},\"pad\":\"{}\"}}\n", "x".repeat(20)))
        .collect();
    let (status, reply) = ingest(&weir, "zipped", &big).await;
    assert_eq!(status, 413, "{reply}");
    // A small body that inflates past the limit is refused too.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(big.as_bytes()).unwrap();
    let bomb = gz.finish().unwrap();
    assert!(bomb.len() < 4096);
    let response = reqwest::Client::new()
        .post(weir.url("/api/v1/streams/zipped/events"))
        .header("content-encoding", "gzip")
        .body(bomb)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert_eq!(
        scalar(&weir, "SELECT count(*) FROM zipped").await,
        40,
        "nothing of a refused body is stored"
    );
}

#[tokio::test]
async fn concurrent_clients_get_distinct_gap_free_offsets() {
    let weir = start("concurrent_clients", &[]).await;
    let clients = (0..8).map(|client| {
        let url = weir.url("/api/v1/streams/load/events");
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut offsets = Vec::new();
            for request in 0..10 {
                let body: String = (0..25)
                    .map(|i| format!("{{\"c\":{client},\"r\":{request},\"i\":{i}}}\n"))
                    .collect();
                let reply: serde_json::Value = http
                    .post(&url)
                    .body(body)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let (first, last) = (
                    reply["offsets"]["first"].as_u64().unwrap(),
                    reply["offsets"]["last"].as_u64().unwrap(),
                );
                assert_eq!(last - first, 24);
                offsets.extend(first..=last);
            }
            offsets
        })
    });
    let mut all: Vec<u64> = Vec::new();
    for client in clients {
        all.extend(client.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (0..2000).collect::<Vec<u64>>());
    assert_eq!(
        scalar(&weir, "SELECT count(DISTINCT _offset) FROM load").await,
        2000
    );
}

#[tokio::test]
async fn streams_are_listed_with_schema_and_counts() {
    let weir = start("streams_listed", &[]).await;
    ingest(&weir, "alpha", "{\"a\":1}\n{\"a\":2.5,\"b\":true}\n").await;
    ingest(&weir, "beta", "{\"x\":\"y\"}\n").await;
    let (status, body) = e2e_get(&weir, "/api/v1/streams").await;
    assert_eq!(status, 200);
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    let names: Vec<&str> = reply["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["alpha", "beta"]);
    let (status, body) = e2e_get(&weir, "/api/v1/streams/alpha").await;
    assert_eq!(status, 200);
    let alpha: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(alpha["events"], 2);
    assert_eq!(alpha["schema"][2], json!({"name": "a", "type": "Float64"}));
    assert!(alpha["wal_bytes"].as_u64().unwrap() > 0);
}

async fn e2e_get(weir: &e2e::WeirProcess, path: &str) -> (u16, String) {
    weir.get(path).await.expect("GET")
}
