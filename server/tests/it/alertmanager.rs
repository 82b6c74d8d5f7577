//! Weir sending to a real Prometheus Alertmanager (Debian's `prometheus-alertmanager`, 0.25),
//! which routes to a webhook: the alert arrives through it firing, then resolved.

use std::process::Stdio;
use std::time::Duration;

use e2e::wait_until;
use serde_json::{Value, json};
use tokio::process::Command;

use super::alerts::{Receiver, events, latency_rule, post_json, put};
use super::{free_port, ingest, start};

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

#[tokio::test]
async fn alerts_reach_a_real_alertmanager_and_resolve_there() {
    let weir = start("alerts_alertmanager", &[]).await;
    let hook = Receiver::start(false).await;
    let dir = weir.data_dir().parent().unwrap().join("alertmanager");
    std::fs::create_dir_all(&dir).unwrap();
    let config = format!(
        "route:\n  receiver: hook\n  group_by: ['alertname']\n  group_wait: 0s\n  \
         group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    \
         webhook_configs:\n      - url: {}\n        send_resolved: true\n",
        hook.url
    );
    std::fs::write(dir.join("alertmanager.yml"), config).unwrap();
    let port = free_port();
    let mut alertmanager = Command::new(ALERTMANAGER)
        .arg(format!(
            "--config.file={}",
            dir.join("alertmanager.yml").display()
        ))
        .arg(format!("--storage.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{ALERTMANAGER} (apt-get install prometheus-alertmanager): {e}")
        });
    let am = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    wait_until(Duration::from_secs(20), "alertmanager ready", || async {
        let ready = client.get(format!("{am}/-/ready")).send().await;
        Ok(ready.ok().filter(|r| r.status().is_success()).map(|_| ()))
    })
    .await
    .unwrap();

    assert_eq!(
        ingest(&weir, "app", &events("checkout", 100, 2)).await.0,
        200
    );
    let point = json!({"uid": "am", "name": "Alertmanager", "type": "alertmanager", "url": am});
    assert_eq!(
        post_json(&weir, "/api/v1/alerts/contact-points", point)
            .await
            .0,
        201
    );
    assert_eq!(
        put(&weir, "/api/v1/alerts/policy", json!({"receiver": "am"}))
            .await
            .0,
        200
    );
    let (status, reply) = post_json(
        &weir,
        "/api/v1/alerts/rules",
        latency_rule("slow", json!({})),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(
        ingest(&weir, "app", &events("checkout", 2000, 2)).await.0,
        200
    );

    // Alertmanager holds it, with Weir's labels and annotations ...
    let held = wait_until(
        Duration::from_secs(10),
        "the alert in alertmanager",
        || async {
            let alerts: Value = client
                .get(format!("{am}/api/v2/alerts"))
                .send()
                .await?
                .json()
                .await?;
            Ok(alerts.as_array().and_then(|a| a.first().cloned()))
        },
    )
    .await
    .unwrap();
    assert_eq!(held["labels"]["alertname"], "Slow service");
    assert_eq!(held["labels"]["service"], "checkout");
    assert_eq!(held["annotations"]["summary"], "checkout takes 1.05kms");
    assert!(
        held["generatorURL"]
            .as_str()
            .unwrap()
            .ends_with("/alerts/slow")
    );
    // ... and routes it to its webhook, firing.
    let firing = hook.nth(1, Duration::from_secs(10)).await;
    assert_eq!(firing.body["status"], "firing");
    assert_eq!(firing.body["alerts"][0]["labels"]["service"], "checkout");

    // Resolved in Weir: Alertmanager is told the end, and says "resolved".
    assert_eq!(
        ingest(&weir, "app", &events("checkout", 10, 40)).await.0,
        200
    );
    let resolved = wait_until(
        Duration::from_secs(15),
        "resolved through alertmanager",
        || async {
            Ok(hook
                .all()
                .into_iter()
                .find(|r| r.body["status"] == "resolved"))
        },
    )
    .await
    .unwrap();
    assert_eq!(resolved.body["alerts"][0]["labels"]["service"], "checkout");
    alertmanager.kill().await.unwrap();
}
