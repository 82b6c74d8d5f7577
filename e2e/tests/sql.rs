//! The SQL workbench in headless Chromium against the real server, as a user goes: type a
//! query with the completion writing a stream named like a keyword in quotes, run it with
//! Ctrl+Enter, see it as a table and a chart, explain it, export it, find it in the history
//! after a reload, and open Explore's view as SQL; then start a query that would run for hours, watch its progress and cancel
//! it: the server stops it. One server and one browser.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use e2e::{Browser, WeirProcess, test_dir, wait_until, weir_bin};
use fantoccini::key::Key;

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn write_run_chart_explain_export_and_cancel_a_query() {
    let data = test_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), "sql_workbench");
    let mut weir = WeirProcess::start(&weir_bin(), &data, &[])
        .await
        .expect("starting weir");
    let browser = Browser::start().await.expect("starting the browser");
    let mut outcome = write_and_run(&browser, &weir).await;
    if outcome.is_ok() {
        outcome = cancel_a_long_query(&browser, &weir).await;
    }
    if let (Err(_), Ok(png)) = (&outcome, browser.client.screenshot().await) {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../e2e-artifacts");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("sql-failure.png"), png);
    }
    let closed = browser.close().await;
    let _ = weir.kill_9().await;
    if let Err(err) = outcome {
        panic!("{err:#}\n--- weir log ---\n{}", weir.log_tail());
    }
    closed.expect("closing the browser");
}

/// Opens the workbench and waits for it to hydrate.
async fn open(browser: &Browser, weir: &WeirProcess, path: &str) -> Result<()> {
    browser.client.goto(&weir.url(path)).await?;
    browser
        .client
        .wait()
        .at_most(WAIT)
        .for_element(fantoccini::Locator::Css(
            "[data-test=sql-page][data-hydrated=true]",
        ))
        .await
        .context("the SQL page to hydrate")?;
    Ok(())
}

async fn editor_value(browser: &Browser) -> Result<String> {
    let value = browser
        .client
        .execute(
            "return document.querySelector('[data-test=sql-editor]').value;",
            vec![],
        )
        .await?;
    value
        .as_str()
        .map(str::to_owned)
        .context("the editor's text")
}

/// Empties the editor and types `text` into it, key by key.
async fn type_fresh(browser: &Browser, text: &str) -> Result<()> {
    let editor = browser.find("sql-editor").await?;
    editor.click().await?;
    let select_all = format!("{}a{}{}", Key::Control, Key::Null, Key::Backspace);
    editor.send_keys(&select_all).await?;
    editor.send_keys(text).await?;
    Ok(())
}

async fn wait_text(
    browser: &Browser,
    id: &str,
    what: &str,
    want: impl Fn(&str) -> bool,
) -> Result<String> {
    wait_until(WAIT, what, || async {
        Ok(browser.text(id).await?.filter(|t| want(t)))
    })
    .await
}

async fn write_and_run(browser: &Browser, weir: &WeirProcess) -> Result<()> {
    // 60 orders of three users; `order` and `user` are SQL keywords.
    let body: String = (0..60)
        .map(|i| {
            let user = ["ann", "bob", "cy"][i % 3];
            format!("{{\"user\":\"{user}\",\"total\":{}}}\n", i + 1)
        })
        .collect();
    weir.ingest("order", body).await?;

    open(browser, weir, "/sql").await?;
    // The completion writes the keyword-named column and stream in quotes.
    type_fresh(browser, "SELECT us").await?;
    wait_until(WAIT, "the completion of `us`", || async {
        let first = browser
            .client
            .execute(
                "const e = document.querySelector('[data-test=sql-completion]'); return e ? e.dataset.insert : null;",
                vec![],
            )
            .await?;
        Ok(first.as_str().filter(|i| *i == "\"user\"").map(str::to_owned))
    })
    .await?;
    let editor = browser.find("sql-editor").await?;
    editor.send_keys(&Key::Tab.to_string()).await?;
    editor
        .send_keys(", count(*) AS orders, sum(total) AS amount FROM ord")
        .await?;
    browser.find("sql-completions").await?;
    editor.send_keys(&Key::Tab.to_string()).await?;
    editor.send_keys(" GROUP BY 1 ORDER BY amount DESC").await?;
    let sql = editor_value(browser).await?;
    ensure!(
        sql == "SELECT \"user\", count(*) AS orders, sum(total) AS amount FROM \"order\" GROUP BY 1 ORDER BY amount DESC",
        "the editor holds what completion wrote: {sql}"
    );
    editor
        .send_keys(&format!("{}{}", Key::Control, Key::Enter))
        .await?;
    wait_text(browser, "sql-summary", "3 rows", |t| {
        t.starts_with("3 rows in")
    })
    .await?;
    let first_row = browser.text("sql-row").await?.context("a first row")?;
    // cy has 20 orders of 3 + 6 + … + 60 = 630.
    ensure!(first_row == "cy20630", "the first row: {first_row}");
    let url = browser.client.current_url().await?;
    ensure!(
        url.as_str().contains("q=SELECT"),
        "the URL holds the query: {url}"
    );

    // The same result as a chart: users on x, a bar each.
    browser.click("sql-chart-tab").await?;
    let svg = browser.find("sql-chart").await?.html(true).await?;
    ensure!(
        svg.contains("<svg") && svg.contains("ann"),
        "a bar per user"
    );

    // Export: the link's file is the result.
    let href = browser
        .find("sql-export-csv")
        .await?
        .attr("href")
        .await?
        .context("an export link")?;
    let csv = reqwest::get(weir.url(&href)).await?.text().await?;
    ensure!(
        csv == "user,orders,amount\ncy,20,630\nbob,20,610\nann,20,590\n",
        "the exported CSV: {csv}"
    );

    // The plan.
    browser.click("sql-explain").await?;
    wait_text(browser, "sql-plan", "the plan", |t| {
        t.contains("physical_plan")
    })
    .await?;

    // After a reload, the history has the query; a click puts it back in the editor.
    open(browser, weir, "/sql").await?;
    let entry = browser
        .text("sql-history-entry")
        .await?
        .context("a history entry")?;
    ensure!(
        entry.contains("FROM \"order\""),
        "the history's entry: {entry}"
    );
    type_fresh(browser, "SELECT 1").await?;
    browser.click("sql-history-entry").await?;
    wait_until(WAIT, "the history's query in the editor", || async {
        Ok(editor_value(browser)
            .await?
            .contains("FROM \"order\"")
            .then_some(()))
    })
    .await?;

    // Explore opens its view's events as SQL; the workbench runs what the link holds.
    browser.client.goto(&weir.url("/explore/order")).await?;
    browser.click("open-sql").await?;
    wait_text(browser, "sql-summary", "Explore's events", |t| {
        t.starts_with("50 rows in")
    })
    .await?;
    let sql = editor_value(browser).await?;
    ensure!(
        sql.starts_with("SELECT * FROM \"order\" WHERE") && sql.contains("ORDER BY _time DESC"),
        "Explore's query: {sql}"
    );
    Ok(())
}

async fn cancel_a_long_query(browser: &Browser, weir: &WeirProcess) -> Result<()> {
    // Hours of work at a debug build's speed: the time limit (60 s) is far off.
    type_fresh(browser, "SELECT sum(value) FROM range(1000000000000000)").await?;
    browser.click("sql-run").await?;
    let id = wait_until(WAIT, "the query's progress", || async {
        let id = browser
            .client
            .execute(
                "const e = document.querySelector('[data-test=sql-progress]'); return e && e.textContent.includes('Running') ? e.dataset.id : null;",
                vec![],
            )
            .await?;
        Ok(id.as_str().map(str::to_owned))
    })
    .await?;
    let (status, _) = weir.get(&format!("/api/v1/query/{id}")).await?;
    ensure!(
        status == 200,
        "the server runs the query under {id}: {status}"
    );

    let clicked = Instant::now();
    browser.click("sql-cancel").await?;
    wait_text(browser, "sql-cancelled", "the query to be cancelled", |t| {
        t.starts_with("Cancelled after")
    })
    .await?;
    ensure!(
        clicked.elapsed() < Duration::from_secs(10),
        "cancelled within 10 s: {:?}",
        clicked.elapsed()
    );
    // The server runs it no more, and answers at once.
    let (status, _) = weir.get(&format!("/api/v1/query/{id}")).await?;
    ensure!(status == 404, "no query runs under {id} any more: {status}");
    let asked = Instant::now();
    let (status, _) = weir.get("/healthz").await?;
    ensure!(
        status == 200 && asked.elapsed() < Duration::from_secs(1),
        "the server answers at once"
    );
    Ok(())
}
