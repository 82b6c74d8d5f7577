//! Headless-Chromium tests of the real server: pages hydrate and update live without a reload.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use e2e::{Browser, WeirProcess, test_dir, wait_until, weir_bin};

fn artifacts() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../e2e-artifacts");
    std::fs::create_dir_all(&dir).expect("creating the artifacts directory");
    dir
}

/// The demo page hydrates, its WebSocket delivers, and its figures and chart change in place within
/// 5 s; the home page lists the stream with a live rate. Saves screenshots as artifacts.
#[tokio::test]
async fn demo_page_updates_live_without_reload() {
    let data = test_dir(
        Path::new(env!("CARGO_TARGET_TMPDIR")),
        "demo_page_updates_live",
    );
    let mut weir = WeirProcess::start(&weir_bin(), &data, &["--demo", "--demo-rate", "400"])
        .await
        .expect("starting weir");
    let browser = Browser::start().await.expect("starting the browser");
    let outcome = demo_page(&browser, &weir).await;
    let closed = browser.close().await;
    let _ = weir.kill_9().await;
    if let Err(err) = outcome {
        panic!("{err:#}\n--- weir log ---\n{}", weir.log_tail());
    }
    closed.expect("closing the browser");
}

async fn demo_page(browser: &Browser, weir: &WeirProcess) -> Result<()> {
    let client = &browser.client;
    // Let a couple of seconds of demo traffic exist so the first render has figures.
    wait_until(Duration::from_secs(15), "demo events", || async {
        let (_, body) = weir.get("/api/v1/streams/demo_http").await?;
        let info: serde_json::Value = serde_json::from_str(&body)?;
        Ok((info["events"].as_u64().unwrap_or(0) > 500).then_some(()))
    })
    .await?;
    client.goto(&weir.url("/streams/demo_http")).await?;
    // Only the hydrated page flips this badge, and only when a live frame arrived.
    wait_until(
        Duration::from_secs(20),
        "the page to hydrate and go live",
        || async {
            Ok(browser
                .text("live-status")
                .await?
                .filter(|t| t.contains("live") && !t.contains("connecting")))
        },
    )
    .await?;
    client
        .execute("window.__weir_no_reload = 42;", vec![])
        .await?;
    let before = figures(browser).await?;
    let chart_before = browser
        .inner_html("chart-events")
        .await?
        .context("events chart")?;
    ensure!(
        chart_before.contains("<svg"),
        "the chart is an SVG: {chart_before:.200}"
    );
    let after = wait_until(Duration::from_secs(5), "the figures to change", || async {
        let now = figures(browser).await?;
        Ok((now != before).then_some(now))
    })
    .await?;
    wait_until(Duration::from_secs(5), "the chart to change", || async {
        let chart = browser
            .inner_html("chart-events")
            .await?
            .unwrap_or_default();
        Ok((chart != chart_before).then_some(()))
    })
    .await?;
    let marker = client
        .execute("return window.__weir_no_reload;", vec![])
        .await?;
    ensure!(marker == 42, "the page was reloaded (marker is {marker})");
    ensure!(
        after.0.parse::<f64>().is_ok(),
        "events/s is a number: {after:?}"
    );
    std::fs::write(
        artifacts().join("demo_http.png"),
        client.screenshot().await?,
    )?;

    client.goto(&weir.url("/")).await?;
    let rate = wait_until(
        Duration::from_secs(20),
        "a live rate on the home page",
        || async {
            let live = browser.text("live-status").await?.unwrap_or_default();
            let row = browser.text("stream-demo_http").await?;
            let rate = browser
                .text("rate")
                .await?
                .and_then(|r| r.replace(',', "").parse::<f64>().ok());
            Ok(rate.filter(|r| *r > 0.0 && row.is_some() && live.contains("live")))
        },
    )
    .await?;
    ensure!(rate > 50.0, "demo rate of ~400/s shows as {rate}");
    std::fs::write(artifacts().join("home.png"), client.screenshot().await?)?;
    Ok(())
}

/// (events/s, error rate, events in window) as shown.
async fn figures(browser: &Browser) -> Result<(String, String, String)> {
    Ok((
        browser
            .text("events-per-sec")
            .await?
            .context("events/s figure")?,
        browser
            .text("error-rate")
            .await?
            .context("error rate figure")?,
        browser
            .text("events-window")
            .await?
            .context("events figure")?,
    ))
}
