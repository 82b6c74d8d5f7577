//! The trace view in headless Chromium against the real server: a trace of 15 spans over 9
//! services and its logs arrive by OTLP/HTTP (JSON, as an SDK sends it); an event of another
//! stream carries its trace id. From that event in Explore, and from a dashboard's table, the
//! trace opens as a waterfall with its critical path marked (what the end waited on: the failed
//! charge and its retry, one after the other, but not the writes that ran beside them), a
//! span's attributes on click, and its logs beside it. One server and one browser.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use e2e::{Browser, WeirProcess, test_dir, wait_until, weir_bin};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);
const TRACE: &str = "5b8efff798038103d269b633813fc60c";

/// (span, parent, service, name, start ms, end ms, error)
#[rustfmt::skip]
const SPANS: [(&str, &str, &str, &str, u64, u64, bool); 15] = [
    ("0000000000000001", "", "frontend", "GET /checkout", 0, 412, false),
    ("0000000000000002", "0000000000000001", "frontend", "POST /v1/orders", 8, 405, false),
    ("0000000000000003", "0000000000000002", "api-gateway", "POST /v1/orders", 12, 401, false),
    ("000000000000000e", "0000000000000003", "redis", "GET ratelimit:u04211", 13, 19, false),
    ("0000000000000004", "0000000000000003", "auth", "POST /v1/token", 15, 41, false),
    ("0000000000000005", "0000000000000003", "checkout", "create order", 45, 398, false),
    ("0000000000000006", "0000000000000005", "inventory", "reserve stock", 50, 118, false),
    ("0000000000000007", "0000000000000005", "postgres", "INSERT orders", 52, 70, false),
    ("000000000000000f", "0000000000000005", "redis", "SET cart:u04211", 60, 64, false),
    ("0000000000000008", "0000000000000005", "payments", "POST /v1/charges", 122, 260, true),
    ("000000000000000a", "0000000000000008", "stripe", "charge", 130, 255, true),
    ("0000000000000009", "0000000000000005", "payments", "POST /v1/charges (retry)", 265, 388, false),
    ("000000000000000b", "0000000000000009", "stripe", "charge", 270, 380, false),
    ("000000000000000c", "0000000000000005", "notifications", "POST /v1/email", 390, 396, false),
    ("000000000000000d", "0000000000000001", "frontend", "render", 405, 412, false),
];

/// (span, severity, text)
#[rustfmt::skip]
const LOGS: [(&str, &str, &str); 5] = [
    ("0000000000000003", "INFO", "order request accepted for user u04211"),
    ("000000000000000a", "ERROR", "charge failed: card_declined (issuer timeout), retrying"),
    ("000000000000000b", "INFO", "charge ch_3Q8 succeeded: 129.90 EUR"),
    ("0000000000000005", "INFO", "order 88121 created"),
    ("000000000000000c", "WARN", "email queue slow: 6 ms"),
];

fn attribute(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

/// The trace as OTLP/JSON export requests: spans grouped by service (a resource each), and
/// their logs; times from `start_ns`.
fn export(start_ns: u64) -> (Value, Value) {
    let ns = |ms: u64| (start_ns + ms * 1_000_000).to_string();
    let mut services: Vec<&str> = SPANS.iter().map(|s| s.2).collect();
    services.dedup();
    services.sort_unstable();
    services.dedup();
    let resource = |service: &str| json!({"attributes": [attribute("service.name", service)]});
    let resource_spans: Vec<Value> = services
        .iter()
        .map(|service| {
            let spans: Vec<Value> = SPANS
                .iter()
                .filter(|s| s.2 == *service)
                .map(|&(id, parent, _, name, start, end, error)| {
                    json!({
                        "traceId": TRACE, "spanId": id, "parentSpanId": parent, "name": name,
                        "kind": if parent.is_empty() { 2 } else { 3 },
                        "startTimeUnixNano": ns(start), "endTimeUnixNano": ns(end),
                        "attributes": [attribute("http.route", name), attribute("net.peer.name", "10.0.3.17")],
                        "status": if error { json!({"code": 2, "message": "card_declined"}) } else { json!({}) },
                    })
                })
                .collect();
            json!({"resource": resource(service), "scopeSpans": [{"spans": spans}]})
        })
        .collect();
    let records: Vec<Value> = LOGS
        .iter()
        .map(|&(span, severity, body)| {
            let s = SPANS.iter().find(|s| s.0 == span).unwrap();
            json!({
                "timeUnixNano": ns(s.4 + 1), "severityText": severity,
                "severityNumber": match severity { "ERROR" => 17, "WARN" => 13, _ => 9 },
                "body": {"stringValue": body}, "traceId": TRACE, "spanId": span,
                "attributes": [attribute("service.name", s.2)],
            })
        })
        .collect();
    (
        json!({"resourceSpans": resource_spans}),
        json!({"resourceLogs": [{"resource": resource("shop"), "scopeLogs": [{"logRecords": records}]}]}),
    )
}

async fn post(weir: &WeirProcess, path: &str, body: &Value) -> Result<Value> {
    let reply = reqwest::Client::new()
        .post(weir.url(path))
        .json(body)
        .send()
        .await?;
    let status = reply.status();
    let text = reply.text().await?;
    ensure!(status.is_success(), "{path}: {status} {text}");
    Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn count(browser: &Browser, css: &str) -> Result<usize> {
    let script = format!("return document.querySelectorAll('{css}').length;");
    let value = browser.client.execute(&script, vec![]).await?;
    value.as_u64().map(|n| n as usize).context("a count")
}

async fn hydrated(browser: &Browser, id: &str) -> Result<()> {
    let script =
        format!("return document.querySelector('[data-test={id}][data-hydrated=true]') !== null;");
    wait_until(WAIT, &format!("{id} to hydrate"), || async {
        let value = browser.client.execute(&script, vec![]).await?;
        Ok(value.as_bool().filter(|h| *h))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_trace_opens_from_explore_and_a_table_as_a_waterfall_with_its_critical_path() {
    let data = test_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), "trace_view");
    let mut weir = WeirProcess::start(&weir_bin(), &data, &[])
        .await
        .expect("starting weir");
    let browser = Browser::start().await.expect("starting the browser");
    let outcome = journey(&browser, &weir).await;
    if let (Err(_), Ok(png)) = (&outcome, browser.client.screenshot().await) {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../e2e-artifacts");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("trace-failure.png"), png);
    }
    let closed = browser.close().await;
    let _ = weir.kill_9().await;
    if let Err(err) = outcome {
        panic!("{err:#}\n--- weir log ---\n{}", weir.log_tail());
    }
    closed.expect("closing the browser");
}

async fn journey(browser: &Browser, weir: &WeirProcess) -> Result<()> {
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as u64;
    let (traces, logs) = export(now_ns - 60_000_000_000);
    post(weir, "/v1/traces", &traces).await?;
    post(weir, "/v1/logs", &logs).await?;
    let order = format!("{{\"order\":88121,\"amount\":129.9,\"trace_id\":\"{TRACE}\"}}\n");
    let reply = reqwest::Client::new()
        .post(weir.url("/api/v1/streams/orders/events"))
        .header("content-type", "application/x-ndjson")
        .body(order)
        .send()
        .await?;
    ensure!(reply.status().is_success(), "ingest: {}", reply.status());

    // From Explore: the event's trace id opens its trace.
    browser
        .client
        .goto(&weir.url("/explore/orders?from=now-1h&to=now"))
        .await?;
    hydrated(browser, "explore").await?;
    browser
        .find("event")
        .await?
        .find(fantoccini::Locator::Css("summary"))
        .await?
        .click()
        .await?;
    browser.click("open-trace").await?;
    check_trace(browser).await?;

    // From a dashboard's table: the trace id is a link.
    let dashboard = json!({
        "uid": "orders", "title": "Orders", "time": {"from": "now-1h", "to": "now"},
        "panels": [{"id": 1, "title": "Orders by trace", "type": "table",
            "sql": "SELECT trace_id, count(*) AS orders FROM orders WHERE $__timeFilter(_time) GROUP BY trace_id",
            "grid": {"x": 0, "y": 0, "w": 12, "h": 8}}]
    });
    post(weir, "/api/v1/dashboards", &dashboard).await?;
    browser.client.goto(&weir.url("/dashboards/orders")).await?;
    // The panel renders again when its live result arrives: find the link afresh each try.
    wait_until(WAIT, "the table's trace link to open the trace", || async {
        let link = browser
            .client
            .find(fantoccini::Locator::Css("[data-test=trace-link]"))
            .await;
        if let Ok(link) = link
            && link.text().await.ok().as_deref() == Some(TRACE)
        {
            let _ = link.click().await;
        }
        let url = browser.client.current_url().await?;
        Ok(url.path().starts_with("/trace/").then_some(()))
    })
    .await?;
    check_trace(browser).await?;

    // Not a trace id: said so, and nothing reaches SQL.
    browser
        .client
        .goto(&weir.url("/trace/x'%20OR%201=1%20--"))
        .await?;
    wait_until(WAIT, "the error", || async {
        Ok(browser
            .client
            .source()
            .await?
            .contains("is not a trace id")
            .then_some(()))
    })
    .await?;
    Ok(())
}

/// The trace page of [`TRACE`]: every span in waterfall order, the critical path, a span's
/// attributes on click, and the logs.
async fn check_trace(browser: &Browser) -> Result<()> {
    wait_until(WAIT, "the trace page", || async {
        let url = browser.client.current_url().await?;
        Ok(url
            .path()
            .ends_with(&format!("/trace/{TRACE}"))
            .then_some(()))
    })
    .await?;
    hydrated(browser, "trace").await?;
    wait_until(WAIT, "15 spans", || async {
        Ok((count(browser, "[data-test=span]").await? == 15).then_some(()))
    })
    .await?;
    let title = browser.text("trace-title").await?.unwrap_or_default();
    ensure!(title.contains("frontend · GET /checkout"), "title: {title}");
    let script = "return [...document.querySelectorAll('[data-test=span]')]\
                  .map(e => e.dataset.span + ':' + e.dataset.critical);";
    let rows = browser.client.execute(script, vec![]).await?;
    let rows: Vec<String> = serde_json::from_value(rows)?;
    let expected = [
        "0000000000000001:true",  // GET /checkout
        "0000000000000002:true",  // its call to the gateway
        "0000000000000003:true",  // the gateway
        "000000000000000e:false", // the rate limit, beside auth
        "0000000000000004:true",  // auth, before the order
        "0000000000000005:true",  // create order
        "0000000000000006:true",  // reserve stock, before the charge
        "0000000000000007:false", // the insert and the cart, beside it
        "000000000000000f:false",
        "0000000000000008:true", // the failed charge
        "000000000000000a:true",
        "0000000000000009:true", // its retry
        "000000000000000b:true",
        "000000000000000c:true", // the email
        "000000000000000d:true", // render
    ];
    ensure!(rows == expected, "waterfall: {rows:?}");
    ensure!(
        count(browser, "[data-test=span-details]").await? == 0,
        "no span open yet"
    );
    browser
        .client
        .find(fantoccini::Locator::Css(
            "[data-test=span][data-span='000000000000000a']",
        ))
        .await?
        .click()
        .await?;
    let details = browser.find("span-details").await?.text().await?;
    ensure!(
        details.contains("card_declined") && details.contains("stripe"),
        "details: {details}"
    );
    ensure!(
        count(browser, "[data-test=trace-log]").await? == 5,
        "five logs"
    );
    let logs = browser.text("trace-logs").await?.unwrap_or_default();
    ensure!(
        logs.contains("charge failed: card_declined"),
        "logs: {logs}"
    );
    Ok(())
}
