//! Dashboards in headless Chromium against the real server, as a user goes: make a dashboard in
//! the UI with a time series and a stat panel, see both move as events are posted, change a
//! variable, drag across a chart to zoom, reload and see the same view, meet a save conflict; and
//! the page rendered with data for a client without JavaScript. One server and one browser for
//! the whole journey.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use e2e::{Browser, WeirProcess, test_dir, wait_until, weir_bin};
use fantoccini::Locator;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

fn artifacts() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../e2e-artifacts");
    std::fs::create_dir_all(&dir).expect("creating the artifacts directory");
    dir
}

#[tokio::test]
async fn a_dashboard_made_in_the_ui_is_live_zooms_and_keeps_its_view_in_the_url() {
    let data = test_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), "dashboard_journey");
    let mut weir = WeirProcess::start(&weir_bin(), &data, &[])
        .await
        .expect("starting weir");
    let browser = Browser::start().await.expect("starting the browser");
    let outcome = journey(&browser, &weir).await;
    if let (Err(_), Ok(png)) = (&outcome, browser.client.screenshot().await) {
        let _ = std::fs::write(artifacts().join("dashboard-failure.png"), png);
    }
    let closed = browser.close().await;
    let _ = weir.kill_9().await;
    if let Err(err) = outcome {
        panic!("{err:#}\n--- weir log ---\n{}", weir.log_tail());
    }
    closed.expect("closing the browser");
}

/// Posts `n` events of `service`, timed now.
async fn post(weir: &WeirProcess, service: &str, n: usize) -> Result<()> {
    let body: String = (0..n)
        .map(|i| {
            format!(
                "{{\"service\":\"{service}\",\"status\":{},\"latency_ms\":{}}}\n",
                if i % 10 == 0 { 503 } else { 200 },
                10 + i % 50
            )
        })
        .collect();
    weir.ingest("web", body).await
}

/// Presses the mouse on `element`, moves it by (`dx`, `dy`) pixels in steps, releases it.
async fn drag_by(
    client: &fantoccini::Client,
    element: fantoccini::elements::Element,
    dx: f64,
    dy: f64,
) -> Result<()> {
    let mut actions = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: element.clone(),
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        });
    for step in 1..=4 {
        let f = f64::from(step) / 4.0;
        actions = actions.then(PointerAction::MoveToElement {
            element: element.clone(),
            duration: Some(Duration::from_millis(100)),
            x: dx * f,
            y: dy * f,
        });
    }
    client
        .perform_actions(actions.then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        }))
        .await?;
    Ok(())
}

async fn click(browser: &Browser, test: &str) -> Result<()> {
    browser.click(test).await
}

/// Replaces the value of a text field or area.
async fn fill(browser: &Browser, test: &str, text: &str) -> Result<()> {
    browser.fill(test, text).await
}

/// Waits until the dashboard page is interactive (hydrated).
async fn hydrated(browser: &Browser) -> Result<()> {
    browser
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(
            "[data-test=\"dashboard\"][data-hydrated=\"true\"]",
        ))
        .await
        .context("the dashboard page to hydrate")?;
    Ok(())
}

async fn url(browser: &Browser) -> Result<String> {
    Ok(browser.client.current_url().await?.to_string())
}

/// The text of `[data-test=inner]` inside `[data-test=outer]`.
async fn text_in(browser: &Browser, outer: &str, inner: &str) -> Result<Option<String>> {
    let script = format!(
        "const e = document.querySelector('[data-test=\"{outer}\"] [data-test=\"{inner}\"]'); return e ? e.textContent : null;"
    );
    Ok(browser
        .client
        .execute(&script, vec![])
        .await?
        .as_str()
        .map(str::to_owned))
}

async fn stat(browser: &Browser) -> Result<Option<f64>> {
    Ok(text_in(browser, "panel-2", "stat-value")
        .await?
        .and_then(|t| t.trim().parse().ok()))
}

async fn journey(browser: &Browser, weir: &WeirProcess) -> Result<()> {
    let client = &browser.client;
    post(weir, "api", 40).await?;
    post(weir, "web", 7).await?;

    // A new dashboard from the list page.
    client.goto(&weir.url("/dashboards")).await?;
    click(browser, "new-dashboard").await?;
    wait_until(WAIT, "the new dashboard in edit mode", || async {
        Ok(browser.text("edit-bar").await?.map(|_| ()))
    })
    .await?;
    hydrated(browser).await?;
    click(browser, "settings").await?;
    fill(browser, "dashboard-title-input", "Checkout").await?;
    fill(browser, "dashboard-uid-input", "checkout").await?;
    fill(
        browser,
        "variables-json",
        r#"[{"name": "service", "type": "query", "query": "SELECT DISTINCT service FROM web ORDER BY 1"}]"#,
    )
    .await?;
    click(browser, "settings-apply").await?;

    // A time series, then a stat.
    click(browser, "add-panel").await?;
    fill(browser, "panel-title", "Requests").await?;
    fill(
        browser,
        "panel-sql",
        "SELECT $__timeGroup(_time) AS t, count(*) AS requests FROM web WHERE $__timeFilter(_time) AND service = $service GROUP BY 1",
    )
    .await?;
    // The preview follows the typing: a chart appears in the editor before Apply.
    wait_until(WAIT, "the editor's preview chart", || async {
        Ok(text_in(browser, "panel-editor", "chart").await?.map(|_| ()))
    })
    .await?;
    click(browser, "panel-apply").await?;
    click(browser, "add-panel").await?;
    fill(browser, "panel-title", "Requests in range").await?;
    client
        .find(Locator::Css("[data-test=\"panel-type\"]"))
        .await?
        .select_by_value("stat")
        .await?;
    fill(
        browser,
        "panel-sql",
        "SELECT count(*) AS requests FROM web WHERE $__timeFilter(_time) AND service = $service",
    )
    .await?;
    click(browser, "panel-apply").await?;
    click(browser, "save").await?;
    wait_until(WAIT, "the saved dashboard's URL", || async {
        Ok(url(browser)
            .await?
            .contains("/dashboards/checkout")
            .then_some(()))
    })
    .await?;
    hydrated(browser).await?;
    let (status, body) = weir.get("/api/v1/dashboards/checkout").await?;
    ensure!(status == 200, "the dashboard was saved: {status} {body}");
    let saved: Value = serde_json::from_str(&body)?;
    ensure!(saved["dashboard"]["version"] == 1, "{saved}");
    ensure!(
        saved["dashboard"]["panels"].as_array().map(Vec::len) == Some(2),
        "two panels: {saved}"
    );
    // The save (a server function's) is in the audit trail: open, so by no one.
    let audit = weir
        .query("SELECT actor, via, action, target, detail FROM _audit")
        .await?;
    ensure!(
        audit
            == [[
                json!(""),
                json!("open"),
                json!("dashboard_save"),
                json!("checkout"),
                json!("`Checkout` version 1")
            ]],
        "{audit:?}"
    );
    // A third panel, by the API: the events as logs, four lines a page, not using $service.
    let mut document = saved["dashboard"].clone();
    document["panels"].as_array_mut().context("panels")?.push(json!({
        "id": 3, "title": "Events", "type": "logs",
        "sql": "SELECT _time, service, status FROM web WHERE $__timeFilter(_time) ORDER BY _time DESC",
        "grid": {"x": 0, "y": 40, "w": 24, "h": 5}
    }));
    let response = reqwest::Client::new()
        .put(weir.url("/api/v1/dashboards/checkout"))
        .body(document.to_string())
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "adding the logs panel: {}",
        response.status()
    );
    let (_, body) = weir.get("/api/v1/dashboards/checkout").await?;
    let saved: Value = serde_json::from_str(&body)?;

    // Viewing it: both panels live, and moving as events arrive.
    client
        .goto(&weir.url("/dashboards/checkout?from=now-15m&to=now"))
        .await?;
    hydrated(browser).await?;
    wait_until(WAIT, "both panels live", || async {
        let a = text_in(browser, "panel-1", "freshness")
            .await?
            .unwrap_or_default();
        let b = text_in(browser, "panel-2", "freshness")
            .await?
            .unwrap_or_default();
        Ok((a.contains("live") && b.contains("live")).then_some(()))
    })
    .await?;
    ensure!(
        stat(browser).await? == Some(40.0),
        "the stat counts api's 40 events"
    );
    let chart_before = text_in(browser, "panel-1", "chart").await?;
    let svg_before = client
        .execute(
            "return document.querySelector('[data-test=\"panel-1\"] .chart-svg').innerHTML",
            vec![],
        )
        .await?;
    post(weir, "api", 25).await?;
    wait_until(WAIT, "the stat to move to 65", || async {
        Ok((stat(browser).await? == Some(65.0)).then_some(()))
    })
    .await?;
    wait_until(WAIT, "the time series to move", || async {
        let svg = client
            .execute(
                "return document.querySelector('[data-test=\"panel-1\"] .chart-svg').innerHTML",
                vec![],
            )
            .await?;
        Ok((svg != svg_before).then_some(()))
    })
    .await?;
    let _ = chart_before;
    // Having applied new events, each panel says how far behind the newest one it is.
    wait_until(WAIT, "the panel's lag", || async {
        let a = text_in(browser, "panel-1", "freshness")
            .await?
            .unwrap_or_default();
        Ok((a.starts_with("● live · ") && (a.ends_with(" ms") || a.ends_with(" s"))).then_some(()))
    })
    .await?;
    std::fs::write(
        artifacts().join("dashboard.png"),
        client.screenshot().await?,
    )?;

    // The logs panel pages on the server: four lines, then the next four.
    wait_until(WAIT, "the logs' first page", || async {
        Ok(text_in(browser, "panel-3", "page")
            .await?
            .filter(|t| t.starts_with("rows 1–4"))
            .map(|_| ()))
    })
    .await?;
    let lines = "return [...document.querySelectorAll('[data-test=\"panel-3\"] .log-line')].map(e => e.textContent).join('|')";
    let first_page = client.execute(lines, vec![]).await?;
    ensure!(
        first_page.as_str().map(|t| t.split('|').count()) == Some(4),
        "four lines: {first_page}"
    );
    click(browser, "page-next").await?;
    wait_until(WAIT, "the logs' second page", || async {
        Ok(text_in(browser, "panel-3", "page")
            .await?
            .filter(|t| t.starts_with("rows 5–8"))
            .map(|_| ()))
    })
    .await?;
    let inspected = wait_until(WAIT, "the second page's lines", || async {
        let page = client.execute(lines, vec![]).await?;
        Ok(
            (page.as_str().is_some_and(|t| t.split('|').count() == 4) && page != first_page)
                .then_some(page),
        )
    })
    .await?;
    let _ = inspected;

    // Changing the variable re-subscribes at once the panels that use it (the logs panel keeps
    // its subscription), and goes into the URL. The page's socket is watched for what it sends.
    client
        .execute(
            "window.sent = []; const send = WebSocket.prototype.send; WebSocket.prototype.send = function (m) { window.sent.push(String(m)); return send.call(this, m); };",
            vec![],
        )
        .await?;
    client
        .find(Locator::Css("[data-test=\"var-service\"]"))
        .await?
        .select_by_value("web")
        .await?;
    wait_until(WAIT, "the stat for web", || async {
        Ok((stat(browser).await? == Some(7.0)).then_some(()))
    })
    .await?;
    ensure!(
        url(browser).await?.contains("var-service=web"),
        "{}",
        url(browser).await?
    );
    let sent = client
        .execute(
            "return window.sent.filter(m => m.includes('\"subscribe\"'));",
            vec![],
        )
        .await?;
    let sent: Vec<String> = serde_json::from_value(sent)?;
    ensure!(
        sent.len() == 2 && sent.iter().all(|m| m.contains("service = 'web'")),
        "the two panels that use $service subscribed again, not the logs: {sent:?}"
    );

    // Dragging across the time series zooms into that range: absolute, in the URL, history.
    // The re-subscribed panel shows "no data" until its new snapshot arrives, so wait for it.
    let chart = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(
            "[data-test=\"panel-1\"] [data-test=\"chart\"]",
        ))
        .await
        .context("panel 1's chart after the variable changed")?;
    let drag = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: chart.clone(),
            duration: None,
            x: -150.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveToElement {
            element: chart.clone(),
            duration: Some(Duration::from_millis(200)),
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::MoveToElement {
            element: chart,
            duration: Some(Duration::from_millis(200)),
            x: 150.0,
            y: 0.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    client.perform_actions(drag).await?;
    let zoomed = wait_until(WAIT, "an absolute range in the URL", || async {
        let url = url(browser).await?;
        let from = query_param(&url, "from");
        Ok(from
            .filter(|f| f.chars().all(|c| c.is_ascii_digit()))
            .map(|_| url))
    })
    .await?;
    let from: i64 = query_param(&zoomed, "from").context("from")?.parse()?;
    let to: i64 = query_param(&zoomed, "to").context("to")?.parse()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    ensure!(
        from < to && to - from < 15 * 60_000 && now - from < 16 * 60_000,
        "a piece of the last 15 minutes: {from}..{to} (now {now})"
    );
    ensure!(
        zoomed.contains("var-service=web"),
        "the variable is kept: {zoomed}"
    );
    wait_until(WAIT, "the panels to show history", || async {
        let a = text_in(browser, "panel-1", "freshness")
            .await?
            .unwrap_or_default();
        Ok(a.contains("history").then_some(()))
    })
    .await?;

    // A reload shows the same view.
    client.refresh().await?;
    hydrated(browser).await?;
    wait_until(WAIT, "the same view after a reload", || async {
        let picker = browser.text("time-picker").await?.unwrap_or_default();
        let a = text_in(browser, "panel-1", "freshness")
            .await?
            .unwrap_or_default();
        Ok(
            (url(browser).await? == zoomed && a.contains("history") && picker.contains(" to "))
                .then_some(()),
        )
    })
    .await?;
    wait_until(
        WAIT,
        "the stat to show a value after the reload",
        || async { Ok(stat(browser).await?.map(|_| ())) },
    )
    .await?;

    // Inspect: the SQL as run (the variable a quoted literal, the macros expanded), the data,
    // and the data as CSV.
    client
        .execute(
            "document.querySelector('[data-test=\"panel-1\"] [data-test=\"inspect\"]').click();",
            vec![],
        )
        .await?;
    let sql = wait_until(WAIT, "the inspector", || async {
        text_in(browser, "inspector", "inspect-sql").await
    })
    .await?;
    ensure!(
        sql.contains("service = 'web'") && !sql.contains('$') && sql.contains("_time >="),
        "the SQL as run: {sql}"
    );
    let csv = client
        .execute(
            "return document.querySelector('[data-test=\"inspect-csv\"]').getAttribute('href');",
            vec![],
        )
        .await?;
    let csv = csv.as_str().unwrap_or_default().to_string();
    ensure!(
        csv.starts_with("data:text/csv") && csv.contains("requests"),
        "the CSV link: {csv:.200}"
    );
    click(browser, "inspect-close").await?;
    wait_until(WAIT, "the inspector to close", || async {
        Ok(browser.text("inspector").await?.is_none().then_some(()))
    })
    .await?;

    // Someone else saves meanwhile: this editor's save is refused and says so.
    client.goto(&weir.url("/dashboards/checkout?edit")).await?;
    wait_until(WAIT, "edit mode", || async {
        Ok(browser.text("edit-bar").await?.map(|_| ()))
    })
    .await?;
    hydrated(browser).await?;
    // Dragging a panel's corner resizes it; dragging its handle moves it (the grid snaps).
    let place = |id: &'static str| async move {
        let style = client
            .execute(
                &format!(
                    "return document.querySelector('[data-test=\"{id}\"]').getAttribute('style')"
                ),
                vec![],
            )
            .await?;
        anyhow::Ok(style.as_str().unwrap_or_default().to_string())
    };
    let before = place("panel-1").await?;
    let span = |style: &str, what: &str| -> Option<u32> {
        let rest = &style[style.find(what)?..];
        rest.split("span ")
            .nth(1)?
            .split(';')
            .next()?
            .trim()
            .parse()
            .ok()
    };
    let start = |style: &str, what: &str| -> Option<u32> {
        let rest = &style[style.find(what)?..];
        rest.split(": ")
            .nth(1)?
            .split(' ')
            .next()?
            .trim()
            .parse()
            .ok()
    };
    let corner = client
        .find(Locator::Css(
            "[data-test=\"panel-1\"] [data-test=\"resize-handle\"]",
        ))
        .await?;
    let column = client
        .execute(
            "return document.querySelector('[data-test=\"grid\"]').clientWidth / 24",
            vec![],
        )
        .await?
        .as_f64()
        .context("the grid's width")?;
    drag_by(client, corner, 3.0 * column, 0.0).await?;
    let resized = wait_until(WAIT, "panel 1 three columns wider", || async {
        let after = place("panel-1").await?;
        Ok(
            (span(&after, "grid-column") == span(&before, "grid-column").map(|w| w + 3))
                .then_some(after),
        )
    })
    .await?;
    let handle = client
        .find(Locator::Css(
            "[data-test=\"panel-2\"] [data-test=\"move-handle\"]",
        ))
        .await?;
    let before = place("panel-2").await?;
    drag_by(client, handle, 0.0, 3.0 * 38.0).await?;
    wait_until(WAIT, "panel 2 three rows lower", || async {
        let after = place("panel-2").await?;
        Ok((start(&after, "grid-row") == start(&before, "grid-row").map(|y| y + 3)).then_some(()))
    })
    .await?;
    ensure!(place("panel-1").await? == resized, "panel 1 kept its place");
    let mut other = saved["dashboard"].clone();
    other["title"] = json!("Checkout (theirs)");
    let response = reqwest::Client::new()
        .put(weir.url("/api/v1/dashboards/checkout"))
        .body(other.to_string())
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "the other save: {}",
        response.status()
    );
    click(browser, "settings").await?;
    fill(browser, "dashboard-title-input", "Checkout (mine)").await?;
    click(browser, "settings-apply").await?;
    click(browser, "save").await?;
    wait_until(WAIT, "the conflict to be told", || async {
        let kind = client
            .execute(
                "const e = document.querySelector('[data-test=\"save-status\"]'); return e ? e.getAttribute('data-kind') : null;",
                vec![],
            )
            .await?;
        Ok((kind == "conflict").then_some(()))
    })
    .await?;
    let (_, body) = weir.get("/api/v1/dashboards/checkout").await?;
    ensure!(
        body.contains("Checkout (theirs)"),
        "nothing overwritten: {body}"
    );

    // Without JavaScript: the server's HTML already holds the panels with their data.
    let (status, html) = weir
        .get("/dashboards/checkout?from=now-1h&to=now&var-service=api")
        .await?;
    ensure!(status == 200, "{status}");
    ensure!(
        html.contains("data-test=\"panel-1\"") && html.contains("<svg"),
        "a chart in the HTML"
    );
    let stat_html = html
        .split("data-test=\"stat-value\"")
        .nth(1)
        .context("a stat value in the HTML")?;
    let shown: String = stat_html
        .split_once('>')
        .map(|(_, rest)| rest.chars().take_while(|c| *c != '<').collect())
        .unwrap_or_default();
    ensure!(
        shown.trim() == "65",
        "the stat's value in the HTML: {shown:?}"
    );
    Ok(())
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == name).then(|| value.to_string())
    })
}
