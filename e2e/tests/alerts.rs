//! Alerting in headless Chromium against the real server, as a user goes: write a rule in the
//! editor (its live preview and its backtest before saving), save it, post the events that break
//! it and watch its instance go Pending then Firing, silence it in one click, find the silence and
//! the instance's history; then make a rule from a dashboard panel's "Alert" button. One server
//! and one browser for the whole journey.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use e2e::{Browser, WeirProcess, test_dir, wait_until, weir_bin};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn artifacts() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../e2e-artifacts");
    std::fs::create_dir_all(&dir).expect("creating the artifacts directory");
    dir
}

#[tokio::test]
async fn a_rule_made_in_the_ui_goes_pending_then_firing_and_is_silenced() {
    let data = test_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), "alerts_journey");
    let mut weir = WeirProcess::start(&weir_bin(), &data, &[])
        .await
        .expect("starting weir");
    let browser = Browser::start().await.expect("starting the browser");
    let outcome = journey(&browser, &weir).await;
    if let (Err(_), Ok(png)) = (&outcome, browser.client.screenshot().await) {
        let _ = std::fs::write(artifacts().join("alerts-failure.png"), png);
    }
    let closed = browser.close().await;
    let _ = weir.kill_9().await;
    if let Err(err) = outcome {
        panic!("{err:#}\n--- weir log ---\n{}", weir.log_tail());
    }
    closed.expect("closing the browser");
}

/// Posts `n` events of `service` with `status`, timed now.
async fn post(weir: &WeirProcess, service: &str, status: u16, n: usize) -> Result<()> {
    let body: String = (0..n)
        .map(|i| format!("{{\"service\":\"{service}\",\"status\":{status},\"latency_ms\":{i}}}\n"))
        .collect();
    weir.ingest("web", body).await
}

/// Waits for `[data-test=page][data-hydrated=true]`.
async fn hydrated(browser: &Browser, page: &str) -> Result<()> {
    let css = format!("[data-test=\"{page}\"][data-hydrated=\"true\"]");
    browser
        .client
        .wait()
        .at_most(WAIT)
        .for_element(fantoccini::Locator::Css(&css))
        .await
        .with_context(|| format!("the {page} page to hydrate"))?;
    Ok(())
}

/// The `data-state` of the instance rows on the page.
async fn instance_states(browser: &Browser) -> Result<Vec<String>> {
    let value = browser
        .client
        .execute(
            "return [...document.querySelectorAll('[data-test=\"alert-instances\"] tr[data-state]')].map(r => r.dataset.state);",
            vec![],
        )
        .await?;
    Ok(value
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

async fn count(browser: &Browser, css: &str) -> Result<usize> {
    let script = format!("return document.querySelectorAll('{css}').length;");
    Ok(browser
        .client
        .execute(&script, vec![])
        .await?
        .as_u64()
        .unwrap_or(0) as usize)
}

async fn journey(browser: &Browser, weir: &WeirProcess) -> Result<()> {
    let client = &browser.client;
    // The stream exists, healthy: checkout answers 200.
    post(weir, "checkout", 200, 20).await?;
    post(weir, "search", 200, 20).await?;

    // The rules list, empty, and its button to a new rule.
    client.goto(&weir.url("/alerts")).await?;
    hydrated(browser, "alerts").await?;
    browser.click("new-rule").await?;
    wait_until(WAIT, "the editor to hydrate", || async {
        Ok(
            (count(browser, "[data-test=\"rule-form\"][data-hydrated=\"true\"]").await? > 0)
                .then_some(()),
        )
    })
    .await?;

    browser.fill("rule-title", "Checkout errors").await?;
    browser
        .fill(
            "rule-sql",
            "SELECT service, count(*) AS errors FROM web WHERE _time >= now() - INTERVAL '5 minutes' AND status >= 500 GROUP BY service",
        )
        .await?;
    browser.fill("rule-column", "errors").await?;
    browser.fill("rule-threshold", "5").await?;
    browser.fill("rule-for", "6s").await?;

    // The preview runs the query as typed: no errors yet, so no instance.
    browser.click("preview").await?;
    wait_until(WAIT, "the preview to say the query has no rows", || async {
        Ok(browser.text("preview-empty").await?.map(|_| ()))
    })
    .await?;
    post(weir, "search", 503, 2).await?;
    // Kept live: the search service's two errors appear without a click, under the threshold.
    wait_until(WAIT, "the live preview to show search's errors", || async {
        let summary = browser.text("preview-summary").await?;
        Ok(summary
            .filter(|s| s.contains("1 instance, 0 alerting"))
            .map(|_| ()))
    })
    .await?;

    // The backtest replays the stream: two errors never crossed 5.
    browser.click("backtest").await?;
    let summary = wait_until(WAIT, "the backtest", || async {
        browser.text("backtest-summary").await
    })
    .await?;
    ensure!(summary.contains("fired 0 times"), "backtest: {summary}");

    browser.click("save-rule").await?;
    wait_until(WAIT, "the rule page after saving", || async {
        let url = client.current_url().await?.to_string();
        Ok(url.ends_with("/alerts/checkout-errors").then_some(()))
    })
    .await?;
    hydrated(browser, "alert-rule").await?;
    let (_, body) = weir.get("/api/v1/alerts/rules/checkout-errors").await?;
    let rule: Value = serde_json::from_str(&body)?;
    ensure!(
        rule["rule"]["condition"] == json!({"column": "errors", "op": ">", "threshold": 5.0})
            && rule["rule"]["for"] == "6s",
        "the saved rule: {body}"
    );

    // Checkout breaks: its instance goes Pending, then Firing once `for` has passed.
    post(weir, "checkout", 503, 12).await?;
    wait_until(WAIT, "the instance to show Pending", || async {
        Ok(instance_states(browser)
            .await?
            .iter()
            .any(|s| s == "Pending")
            .then_some(()))
    })
    .await?;
    wait_until(WAIT, "the instance to show Firing", || async {
        Ok(instance_states(browser)
            .await?
            .iter()
            .any(|s| s == "Firing")
            .then_some(()))
    })
    .await?;
    let _ = std::fs::write(
        artifacts().join("alerts-rule.png"),
        client.screenshot().await?,
    );

    // One click silences it (the row re-renders as the page refreshes: retry a stale click).
    wait_until(WAIT, "the silence button to take", || async {
        Ok(browser.click("silence").await.ok())
    })
    .await?;
    wait_until(WAIT, "the instance to show it is silenced", || async {
        Ok(browser.text("silenced").await?.map(|_| ()))
    })
    .await?;
    let (_, body) = weir.get("/api/v1/alerts?rule=checkout-errors").await?;
    let alerts: Value = serde_json::from_str(&body)?;
    let firing = alerts
        .as_array()
        .and_then(|a| a.iter().find(|i| i["state"] == "Firing"))
        .context("a firing instance over the API")?;
    ensure!(
        firing["labels"]["service"] == "checkout"
            && firing["silenced_by"]
                .as_array()
                .is_some_and(|s| s.len() == 1),
        "the silenced instance: {firing}"
    );

    // Its history, from the `_alerts` stream: Normal → Pending → Firing.
    wait_until(WAIT, "the history to show both transitions", || async {
        let history = browser.text("alert-history").await?.unwrap_or_default();
        Ok((history.contains("Pending") && history.contains("Firing")).then_some(()))
    })
    .await?;

    // The silences tab lists it as active, with its matchers.
    client.goto(&weir.url("/alerts?view=silences")).await?;
    let silences = wait_until(WAIT, "the silence in the list", || async {
        browser.text("silences").await
    })
    .await?;
    ensure!(
        silences.contains("active") && silences.contains("service=\"checkout\""),
        "silences: {silences}"
    );

    // The rules list counts it firing; a filter by state keeps it, another leaves it out.
    client
        .goto(&weir.url("/alerts?view=rules&state=Firing"))
        .await?;
    let rules = wait_until(WAIT, "the rules list", || async {
        browser.text("alert-rules").await
    })
    .await?;
    ensure!(
        rules.contains("Checkout errors") && rules.contains("1 Firing"),
        "rules: {rules}"
    );
    client
        .goto(&weir.url("/alerts?view=rules&state=Error"))
        .await?;
    wait_until(WAIT, "the filter to leave the rule out", || async {
        Ok(browser.text("alert-rules").await?.is_none().then_some(()))
    })
    .await?;

    // A dashboard panel's "Alert" button opens the editor with the panel's title and query.
    let dashboard = json!({
        "uid": "shop", "title": "Shop", "time": {"from": "now-15m", "to": "now"},
        "panels": [{"id": 1, "title": "Errors by service", "type": "bar",
            "sql": "SELECT service, count(*) AS errors FROM web WHERE $__timeFilter(_time) AND status >= 500 GROUP BY service",
            "grid": {"x": 0, "y": 0, "w": 12, "h": 8}}]
    });
    let response = reqwest::Client::new()
        .post(weir.url("/api/v1/dashboards"))
        .json(&dashboard)
        .send()
        .await?;
    ensure!(
        response.status().is_success(),
        "dashboard: {}",
        response.text().await?
    );
    client.goto(&weir.url("/dashboards/shop")).await?;
    hydrated(browser, "dashboard").await?;
    browser.click("create-alert").await?;
    wait_until(WAIT, "the editor made from the panel", || async {
        let title = browser.find("rule-title").await?.prop("value").await?;
        Ok(title.filter(|t| t == "Errors by service"))
    })
    .await?;
    let sql = browser
        .find("rule-sql")
        .await?
        .prop("value")
        .await?
        .unwrap_or_default();
    ensure!(
        sql.contains("_time >=") && !sql.contains("$__timeFilter"),
        "the panel's SQL with its time filter as a moving range: {sql}"
    );
    Ok(())
}
