//! Explore in headless Chromium against the real server, as a user goes: open it from the
//! streams list, keep only the events of a value clicked in the field list, page the raw events
//! by keyset, and open one event as JSON. One server and one browser.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use e2e::{Browser, WeirProcess, test_dir, wait_until, weir_bin};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn explore_a_stream_filter_by_a_clicked_value_page_and_open_an_event() {
    let data = test_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), "explore_journey");
    let mut weir = WeirProcess::start(&weir_bin(), &data, &[])
        .await
        .expect("starting weir");
    let browser = Browser::start().await.expect("starting the browser");
    let outcome = journey(&browser, &weir).await;
    if let (Err(_), Ok(png)) = (&outcome, browser.client.screenshot().await) {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../e2e-artifacts");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("explore-failure.png"), png);
    }
    let closed = browser.close().await;
    let _ = weir.kill_9().await;
    if let Err(err) = outcome {
        panic!("{err:#}\n--- weir log ---\n{}", weir.log_tail());
    }
    closed.expect("closing the browser");
}

/// The `data-test` elements' count on the page.
async fn count(browser: &Browser, id: &str) -> Result<usize> {
    let script = format!("return document.querySelectorAll('[data-test=\"{id}\"]').length;");
    let value = browser.client.execute(&script, vec![]).await?;
    value.as_u64().map(|n| n as usize).context("a count")
}

async fn wait_text(browser: &Browser, id: &str, want: &str) -> Result<()> {
    wait_until(WAIT, &format!("{id} to read {want}"), || async {
        Ok(browser.text(id).await?.filter(|t| t.trim() == want))
    })
    .await?;
    Ok(())
}

async fn journey(browser: &Browser, weir: &WeirProcess) -> Result<()> {
    // 120 events of the last minutes: 90 of `api` (status 200), 30 of `web` (status 500).
    let body: String = (0..120)
        .map(|i| {
            let (service, status) = if i % 4 == 0 {
                ("web", 500)
            } else {
                ("api", 200)
            };
            format!("{{\"service\":\"{service}\",\"status\":{status},\"n\":{i}}}\n")
        })
        .collect();
    weir.ingest("web", body).await?;

    browser.client.goto(&weir.url("/")).await?;
    browser.click("explore").await?;
    browser
        .client
        .wait()
        .at_most(WAIT)
        .for_element(fantoccini::Locator::Css(
            "[data-test=explore][data-hydrated=true]",
        ))
        .await
        .context("the explore page to hydrate")?;
    wait_text(browser, "total", "120").await?;
    ensure!(
        count(browser, "event").await? == 50,
        "a first page of 50 events"
    );

    // Keep only the events of `web`, clicked in the field list.
    browser.find("field").await?;
    let web = browser
        .client
        .find(fantoccini::Locator::XPath(
            "//details[@data-field='service']//tr[@data-test='top-value'][.//span[text()='web']]//button[@data-test='keep']",
        ))
        .await
        .context("the keep button of service = web")?;
    web.click().await?;
    wait_text(browser, "total", "30").await?;
    let url = browser.client.current_url().await?;
    ensure!(
        url.as_str().contains("f=service%7C%3D%7Cweb"),
        "the filter is in the URL: {url}"
    );
    wait_until(WAIT, "30 events of web", || async {
        Ok((count(browser, "event").await? == 30).then_some(()))
    })
    .await?;

    // Leave `web` and page through all 120 events of the other filter: 50 + 50 + 20.
    browser
        .client
        .goto(&weir.url("/explore/web?from=now-1h&to=now"))
        .await?;
    wait_text(browser, "total", "120").await?;
    browser.click("older").await?;
    wait_until(WAIT, "the second page", || async {
        Ok(browser
            .text("events-page")
            .await?
            .filter(|t| t.trim() == "2"))
    })
    .await?;
    browser.click("older").await?;
    wait_until(WAIT, "the last page of 20", || async {
        Ok((count(browser, "event").await? == 20).then_some(()))
    })
    .await?;
    // Every event was on exactly one page: the last page ends at n = 0.
    let last = browser
        .client
        .execute(
            "const e = [...document.querySelectorAll('[data-test=\"event-json\"]')]; return e[e.length - 1].textContent;",
            vec![],
        )
        .await?;
    let last: serde_json::Value = serde_json::from_str(last.as_str().context("json")?)?;
    ensure!(last["n"] == 0, "the oldest event is the first sent: {last}");

    // Open one event.
    browser.click("event").await?;
    let json = browser.find("event-json").await?;
    ensure!(json.is_displayed().await?, "the event opens as JSON");
    Ok(())
}
