//! Alerting as code: `--alerts DIR` files are applied, read-only in the API, reloaded when they
//! change, removed when they go, and a bad document is reported at its file, line and column.

use std::time::Duration;

use e2e::{test_dir, wait_until};
use serde_json::{Value, json};

use super::alerts::{events, put};
use super::{ingest, start};

const GOOD: &str = r#"
contact_points:
  - uid: ops
    name: Ops
    type: webhook
    url: http://127.0.0.1:9/hook
policy:
  receiver: ops
  group_wait: 0s
rules:
  - uid: slow
    title: Slow service
    sql: >-
      SELECT service, avg(latency) AS latency FROM app
      WHERE _time >= now() - INTERVAL '5 minutes' GROUP BY service
    condition: {column: latency, op: ">", threshold: 500}
    for: 1m
silences:
  - id: maintenance
    matchers: [{name: service, op: "=", value: search}]
    starts_at: "2026-01-01T00:00:00Z"
    ends_at: "2999-01-01T00:00:00Z"
    comment: planned
"#;

const BAD: &str = r#"rules:
  - uid: broken
    title: Broken
    sql: SELECT service, avg(latency) AS latency FROM app GROUP BY service
    for: soon
"#;

async fn get(weir: &e2e::WeirProcess, path: &str) -> (u16, Value) {
    let (status, text) = weir.get(path).await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn files_provision_alerting_read_only_and_reload() {
    let dir = test_dir(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")),
        "alerts_files_dir",
    );
    std::fs::create_dir_all(&dir).unwrap();
    let arg = dir.display().to_string();
    let weir = start("alerts_files", &["--alerts", &arg]).await;
    assert_eq!(
        ingest(&weir, "app", &events("checkout", 100, 1)).await.0,
        200
    );
    std::fs::write(dir.join("team.yaml"), GOOD).unwrap();
    std::fs::write(dir.join("bad.yaml"), BAD).unwrap();
    let rule = wait_until(Duration::from_secs(10), "the provisioned rule", || async {
        let (status, rule) = get(&weir, "/api/v1/alerts/rules/slow").await;
        Ok((status == 200).then_some(rule))
    })
    .await
    .unwrap();
    assert_eq!(rule["rule"]["for"], "1m");
    assert_eq!(get(&weir, "/api/v1/alerts/contact-points/ops").await.0, 200);
    assert_eq!(
        get(&weir, "/api/v1/alerts/policy").await.1["receiver"],
        "ops"
    );
    let silences = get(&weir, "/api/v1/alerts/silences").await.1;
    assert_eq!(silences[0]["id"], "maintenance");
    assert_eq!(silences[0]["state"], "active");
    // The bad file is reported where it is wrong; the good one is applied all the same.
    assert_eq!(get(&weir, "/api/v1/alerts/rules/broken").await.0, 404);
    wait_until(Duration::from_secs(5), "the report of bad.yaml", || async {
        let log = weir.log_tail();
        Ok(
            (log.contains("bad.yaml") && log.contains("line=5") && log.contains("/rules/0/for"))
                .then_some(()),
        )
    })
    .await
    .unwrap();

    // Read-only through the API.
    let mut changed = rule["rule"].clone();
    changed["for"] = json!("5m");
    let (status, reply) = put(&weir, "/api/v1/alerts/rules/slow", changed).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("team.yaml"),
        "{reply}"
    );
    let response = reqwest::Client::new()
        .delete(weir.url("/api/v1/alerts/contact-points/ops"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);

    // The file changes: the rule follows; it goes: so does the rule.
    std::fs::write(dir.join("team.yaml"), GOOD.replace("for: 1m", "for: 2m")).unwrap();
    wait_until(Duration::from_secs(10), "the changed rule", || async {
        let (_, rule) = get(&weir, "/api/v1/alerts/rules/slow").await;
        Ok((rule["rule"]["for"] == "2m").then_some(()))
    })
    .await
    .unwrap();
    std::fs::remove_file(dir.join("team.yaml")).unwrap();
    wait_until(Duration::from_secs(10), "the rule gone", || async {
        Ok((get(&weir, "/api/v1/alerts/rules/slow").await.0 == 404).then_some(()))
    })
    .await
    .unwrap();
    assert_eq!(get(&weir, "/api/v1/alerts/contact-points/ops").await.0, 404);
    assert_eq!(get(&weir, "/api/v1/alerts/silences").await.1, json!([]));
}

#[tokio::test]
async fn a_rule_over_a_stream_not_there_yet_loads_once_it_is() {
    let dir = test_dir(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")),
        "alerts_files_later_dir",
    );
    std::fs::create_dir_all(&dir).unwrap();
    let rule = "rules:\n  - uid: later\n    title: Later\n    sql: SELECT service, count(*) AS n FROM later GROUP BY service\n";
    std::fs::write(dir.join("later.yaml"), rule).unwrap();
    let arg = dir.display().to_string();
    let weir = start("alerts_files_later", &["--alerts", &arg]).await;
    assert_eq!(get(&weir, "/api/v1/alerts/rules/later").await.0, 404);
    assert_eq!(
        ingest(&weir, "later", &events("checkout", 1, 1)).await.0,
        200
    );
    wait_until(
        Duration::from_secs(20),
        "the rule once its stream exists",
        || async { Ok((get(&weir, "/api/v1/alerts/rules/later").await.0 == 200).then_some(())) },
    )
    .await
    .unwrap();
}
