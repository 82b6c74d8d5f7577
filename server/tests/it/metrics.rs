//! Weir's own metrics against the real binary: `GET /metrics` counts what was ingested, per
//! stream and protocol, as Debian's `prometheus` scrapes it; Weir's scrape of itself lands in
//! `_weir_metrics`; and every panel of the provisioned "Weir" dashboard runs on it.

use std::collections::BTreeMap;
use std::process::Stdio;
use std::time::Duration;

use e2e::wait_until;
use protocol::dashboard::{Scope, TimeRange, substitute};
use serde_json::Value;
use tokio::process::Command;

use super::{free_port, get, ingest, query, start};

const PROMETHEUS: &str = "/usr/bin/prometheus";

/// The value of the sample `name{labels}` in an exposition's text.
fn sample(text: &str, name: &str, labels: &str) -> Option<f64> {
    let prefix = if labels.is_empty() {
        format!("{name} ")
    } else {
        format!("{name}{{{labels}}} ")
    };
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn metrics_count_ingest_and_weir_scrapes_itself_for_its_dashboard() {
    let weir = start("metrics_self", &["--self-metrics-every-secs", "0.5"]).await;
    let body = "{\"n\":1}\n{\"n\":2}\nnot json\n{\"n\":\"three\"}\n";
    let (status, reply) = ingest(&weir, "app", body).await;
    assert_eq!(status, 200, "{reply}");
    let (status, _) = ingest(&weir, "app", "{\"n\":4}\n").await;
    assert_eq!(status, 200);

    let (status, headers, text) = get(&weir, "/metrics").await;
    assert_eq!(status, 200);
    assert!(
        headers.starts_with("application/openmetrics-text; version=1.0.0"),
        "{headers}"
    );
    let labels = "stream=\"app\",protocol=\"json\"";
    assert_eq!(
        sample(&text, "weir_ingest_events_total", labels),
        Some(3.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "weir_ingest_rejected_events_total", labels),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "weir_ingest_bytes_total", labels),
        Some((body.len() + 8) as f64)
    );
    assert_eq!(
        sample(
            &text,
            "weir_ingest_requests_total",
            "protocol=\"json\",code=\"200\""
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(&text, "weir_stream_events_total", "stream=\"app\""),
        Some(3.0)
    );
    // Two appends (the second waited for no one): two fsyncs of `app` at least.
    assert!(sample(&text, "weir_wal_fsync_seconds_count", "").unwrap() >= 2.0);
    assert!(sample(&text, "weir_append_seconds_count", "").unwrap() >= 2.0);
    assert!(text.ends_with("# EOF\n"));

    // Weir's own scrape, in SQL.
    let sql = "SELECT max(value) FROM _weir_metrics \
               WHERE metric = 'weir_ingest_events_total' AND stream = 'app'";
    wait_until(
        Duration::from_secs(30),
        "app's events in _weir_metrics",
        || async {
            let (_, reply) = query(&weir, sql).await;
            Ok((reply["rows"][0][0] == 3.0).then_some(()))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", weir.log_tail()));

    // The provisioned dashboard, each panel's SQL run as the dashboard runs it.
    let (status, _, dashboard) = get(&weir, "/api/v1/dashboards/weir").await;
    assert_eq!(status, 200, "{dashboard}");
    let dashboard: Value = serde_json::from_str(&dashboard).unwrap();
    let variables = BTreeMap::new();
    let scope = Scope {
        variables: &variables,
        range: TimeRange::parse("now-15m", "now").unwrap(),
        interval: 1_000_000,
    };
    let panels = dashboard["dashboard"]["panels"].as_array().unwrap();
    assert!(panels.len() >= 12);
    // Another scrape or two, so that counters have a rate.
    wait_until(Duration::from_secs(30), "three scrapes", || async {
        let (_, reply) = query(&weir, "SELECT count(DISTINCT _time) FROM _weir_metrics").await;
        Ok((reply["rows"][0][0].as_i64() >= Some(3)).then_some(()))
    })
    .await
    .unwrap();
    for panel in panels {
        let sql = substitute(panel["sql"].as_str().unwrap(), &scope).unwrap();
        let (status, reply) = query(&weir, &sql).await;
        assert_eq!(status, 200, "panel {}: {reply}", panel["title"]);
    }
    let rate = panels
        .iter()
        .find(|p| p["title"] == "Ingest by stream, events/s")
        .unwrap();
    let (_, reply) = query(
        &weir,
        &substitute(rate["sql"].as_str().unwrap(), &scope).unwrap(),
    )
    .await;
    let streams: Vec<&str> = reply["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r[1].as_str())
        .collect();
    assert!(streams.contains(&"_weir_metrics"), "{reply}");
}

#[tokio::test]
async fn a_real_prometheus_scrapes_weirs_metrics() {
    let weir = start("metrics_prometheus", &["--self-metrics-every-secs", "0"]).await;
    let (status, _) = ingest(&weir, "orders", "{\"n\":1}\n{\"n\":2}\n").await;
    assert_eq!(status, 200);
    let dir = weir.data_dir().parent().unwrap().join("prometheus");
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let target = weir
        .url("/")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: weir\n    \
         static_configs:\n      - targets: ['{target}']\n"
    );
    std::fs::write(dir.join("prometheus.yml"), config).unwrap();
    let _prometheus = Command::new(PROMETHEUS)
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
    let client = reqwest::Client::new();
    let api = format!("http://127.0.0.1:{port}/api/v1/query");
    let prom = |q: &'static str| {
        let (client, api) = (client.clone(), api.clone());
        async move {
            let reply: Value = client
                .get(&api)
                .query(&[("query", q)])
                .send()
                .await?
                .json()
                .await?;
            anyhow::Ok(reply)
        }
    };
    // Prometheus's view of Weir's counter: the two events, with their labels; the scrape up.
    let result = wait_until(
        Duration::from_secs(60),
        "Weir's counter in Prometheus",
        || async {
            let reply = prom("weir_ingest_events_total").await?;
            let result = reply["data"]["result"].clone();
            Ok(result
                .as_array()
                .is_some_and(|r| !r.is_empty())
                .then_some(result))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", weir.log_tail()));
    assert_eq!(result[0]["metric"]["stream"], "orders", "{result}");
    assert_eq!(result[0]["metric"]["protocol"], "json");
    assert_eq!(result[0]["value"][1], "2");
    let up = prom("up{job=\"weir\"}").await.unwrap();
    assert_eq!(up["data"]["result"][0]["value"][1], "1", "{up}");
    // A histogram, as Prometheus reads one: its quantile is a number of seconds.
    let q = prom("histogram_quantile(0.5, weir_wal_fsync_seconds_bucket)")
        .await
        .unwrap();
    let median: f64 = q["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(median > 0.0 && median < 2.0, "{q}");
}
