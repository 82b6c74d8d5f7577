//! Explore in headless Chromium against the real server, as a user goes: open it from the
//! streams list, keep only the events of a value clicked in the field list, page the raw events
//! by keyset, open one event as JSON and filter by one of its fields, narrow by a SQL condition;
//! ask what is different about the filtered events and about a time range dragged across the
//! histogram; tail new events live and see how many the page skipped; and drill down from a
//! spike of the demo dashboard, and from a cell of its heatmap, to exactly the events counted.
//! One server (with the demo) and one browser.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use e2e::{Browser, WeirProcess, test_dir, wait_until, weir_bin};
use fantoccini::Locator;
use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};

const WAIT: Duration = Duration::from_secs(20);

#[tokio::test]
async fn explore_a_stream_filter_by_a_clicked_value_page_and_open_an_event() {
    let data = test_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), "explore_journey");
    let mut weir = WeirProcess::start(&weir_bin(), &data, &["--demo", "--demo-rate", "100"])
        .await
        .expect("starting weir");
    let browser = Browser::start().await.expect("starting the browser");
    let mut outcome = journey(&browser, &weir).await;
    if outcome.is_ok() {
        outcome = what_is_different(&browser, &weir).await;
    }
    if outcome.is_ok() {
        outcome = live_tail(&browser, &weir).await;
    }
    if outcome.is_ok() {
        outcome = drill_from_a_spike(&browser, &weir).await;
    }
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

/// Waits for Explore to hydrate: its buttons work from then on.
async fn hydrated(browser: &Browser) -> Result<()> {
    wait_until(WAIT, "Explore to hydrate", || async {
        let hydrated = browser
            .client
            .execute(
                "return document.querySelector('[data-test=explore][data-hydrated=true]') !== null;",
                vec![],
            )
            .await?;
        Ok(hydrated.as_bool().filter(|h| *h))
    })
    .await?;
    Ok(())
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
    browser
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-test=stream-web] [data-test=explore]"))
        .await
        .context("the stream web in the streams list")?
        .click()
        .await?;
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

    // Open one event, and leave out the events of its service from its fields.
    browser.click("event").await?;
    let json = browser.find("event-json").await?;
    ensure!(json.is_displayed().await?, "the event opens as JSON");
    browser
        .client
        .find(Locator::Css(
            "details[open] [data-test=event-field][data-field=service] [data-test=leave]",
        ))
        .await
        .context("the event's service field")?
        .click()
        .await?;
    // The other service's events remain: 90 of `api` or 30 of `web`.
    wait_until(WAIT, "a service left out", || async {
        let total = browser.text("total").await?.unwrap_or_default();
        Ok(["90", "30"].contains(&total.trim()).then_some(()))
    })
    .await?;

    // A free SQL condition narrows further, and a bad one is refused with the reason.
    browser
        .client
        .goto(&weir.url("/explore/web?from=now-1h&to=now"))
        .await?;
    wait_text(browser, "total", "120").await?;
    browser
        .fill("predicate-input", "n < 10 OR n >= 115")
        .await?;
    browser.click("predicate-add").await?;
    wait_text(browser, "total", "15").await?;
    browser.fill("predicate-input", "n < 10) OR (1 = 1").await?;
    browser.click("predicate-add").await?;
    let refused = browser.find("predicate-error").await?.text().await?;
    ensure!(refused.contains("without its"), "the reason: {refused}");

    // Broken down by service: a count per value; and the number field `n` summed up.
    browser
        .client
        .goto(&weir.url("/explore/web?from=now-1h&to=now&by=service"))
        .await?;
    wait_until(WAIT, "the breakdown by service", || async {
        let counts = browser
            .client
            .execute(
                "return [...document.querySelectorAll('[data-test=breakdown-value]')]\
                 .map(r => r.dataset.value + '=' + r.querySelector('[data-test=breakdown-count]').textContent)\
                 .join(',');",
                vec![],
            )
            .await?;
        Ok((counts.as_str() == Some("api=90,web=30")).then_some(()))
    })
    .await?;
    let numbers = browser
        .client
        .find(Locator::Css("[data-field=n] [data-test=numbers]"))
        .await?
        .text()
        .await?;
    ensure!(
        numbers.contains("min 0") && numbers.contains("max 119"),
        "the figures of n: {numbers}"
    );

    // A field of few values is counted over the range; a float (DataFusion estimates no
    // distinct floats) from the newest events.
    let body: String = (0..30)
        .map(|i| format!("{{\"host\":\"h{}\",\"ms\":{i}.5}}\n", i % 3))
        .collect();
    weir.ingest("latency", body).await?;
    browser.client.goto(&weir.url("/explore/latency")).await?;
    wait_text(browser, "total", "30").await?;
    let notes = browser
        .client
        .execute(
            "return ['host', 'ms'].map(f => { \
               const d = document.querySelector(`details[data-test=field][data-field=${f}]`); \
               const note = t => d.querySelector(`[data-test=${t}]`)?.textContent ?? '-'; \
               return `${f}:${note('distinct')}:${note('sampled')}`; }).join('|');",
            vec![],
        )
        .await?;
    ensure!(
        notes.as_str()
            == Some("host:≈ 3 distinct values:-|ms:-:Top values of the newest 30 events"),
        "the field list's notes: {notes}"
    );
    Ok(())
}

/// The 30 events of `web` (status 500) against the other 90: the fields that tell them apart
/// come first; then a time range dragged across the histogram is compared with the rest.
async fn what_is_different(browser: &Browser, weir: &WeirProcess) -> Result<()> {
    browser
        .client
        .goto(&weir.url("/explore/web?from=now-1h&to=now&f=status%7C%3D%7C500"))
        .await?;
    wait_text(browser, "total", "30").await?;
    hydrated(browser).await?;
    browser.click("compare-start").await?;
    wait_text(browser, "compare-selected", "30").await?;
    wait_text(browser, "compare-baseline", "90").await?;
    let url = browser.client.current_url().await?;
    ensure!(url.as_str().contains("cmp=filters"), "in the URL: {url}");
    // `service` and `status` each tell the sets apart completely; `n` (0 to 119) hardly.
    let ranked = browser
        .client
        .execute(
            "return [...document.querySelectorAll('[data-test=compare-field]')].map(f => f.dataset.field + ':' + \
             [...f.querySelectorAll('[data-test=compare-value]')].map(v => v.dataset.value + '=' + \
             v.querySelector('[data-test=compare-share]').textContent).join('|'));",
            vec![],
        )
        .await?;
    let ranked: Vec<String> = serde_json::from_value(ranked)?;
    ensure!(
        ranked.len() == 3
            && ranked[0].starts_with("service:web=100%")
            && ranked[1].starts_with("status:500=100%")
            && ranked[2].starts_with("n:"),
        "fields ranked by how much they differ: {ranked:?}"
    );
    // Keep a value from the comparison: a filter, as from the field list.
    browser
        .client
        .find(Locator::Css(
            "[data-test=compare-field][data-field=service] [data-test=compare-value] [data-test=keep]",
        ))
        .await?
        .click()
        .await?;
    wait_until(WAIT, "the kept value in the URL", || async {
        let url = browser.client.current_url().await?;
        Ok(url.as_str().contains("f=service%7C%3D%7Cweb").then_some(()))
    })
    .await?;

    // Without filters, the button asks for a time range: a drag across the histogram then
    // selects instead of zooming.
    browser
        .client
        .goto(&weir.url("/explore/web?from=now-1h&to=now"))
        .await?;
    wait_text(browser, "total", "120").await?;
    hydrated(browser).await?;
    browser.click("compare-start").await?;
    browser.find("compare-pick").await?;
    let dragged = wait_until(WAIT, "a range compared", || async {
        let url = browser.client.current_url().await?;
        if url.as_str().contains("cmp=") && !url.as_str().contains("cmp=pick") {
            return Ok(Some(url));
        }
        let chart = browser
            .client
            .find(Locator::Css("[data-test=histogram] [data-test=chart]"))
            .await?;
        let width = chart.rectangle().await?.2;
        browser
            .client
            .perform_actions(
                MouseActions::new("mouse".into())
                    .then(PointerAction::MoveToElement {
                        element: chart.clone(),
                        duration: None,
                        x: 0.0,
                        y: 0.0,
                    })
                    .then(PointerAction::Down {
                        button: MOUSE_BUTTON_LEFT,
                    })
                    .then(PointerAction::MoveToElement {
                        element: chart,
                        duration: None,
                        x: width * 0.45,
                        y: 0.0,
                    })
                    .then(PointerAction::Up {
                        button: MOUSE_BUTTON_LEFT,
                    }),
            )
            .await?;
        Ok(None)
    })
    .await?;
    ensure!(
        dragged.as_str().contains("from=now-1h"),
        "the range is kept, not zoomed: {dragged}"
    );
    browser.find("chart-band").await?;
    wait_until(WAIT, "the range's events and the rest", || async {
        let selected = browser.text("compare-selected").await?;
        let baseline = browser.text("compare-baseline").await?;
        let n = |t: Option<String>| t.and_then(|t| t.trim().replace(',', "").parse::<u64>().ok());
        Ok(match (n(selected), n(baseline)) {
            (Some(a), Some(b)) if a + b == 120 => Some(()),
            _ => None,
        })
    })
    .await?;
    Ok(())
}

/// A live tail of `web`'s events of one service: new ones arrive at the top, and a burst larger
/// than a frame says how many were not shown.
async fn live_tail(browser: &Browser, weir: &WeirProcess) -> Result<()> {
    browser
        .client
        .goto(&weir.url("/explore/web?from=now-15m&to=now&f=service%7C%3D%7Ctail"))
        .await?;
    hydrated(browser).await?;
    browser.click("tail-start").await?;
    wait_text(
        browser,
        "tail-waiting",
        "Waiting for new events that pass these filters…",
    )
    .await?;
    let url = browser.client.current_url().await?;
    ensure!(url.as_str().contains("tail=1"), "in the URL: {url}");
    weir.ingest(
        "web",
        "{\"service\":\"tail\",\"n\":1}\n{\"service\":\"api\",\"n\":2}\n\
         {\"service\":\"tail\",\"n\":3}\n{\"service\":\"tail\",\"n\":4}\n"
            .to_owned(),
    )
    .await?;
    wait_text(browser, "tail-arrived", "3").await?;
    wait_until(WAIT, "three events, newest first", || async {
        let first = browser
            .client
            .execute(
                "const e = document.querySelectorAll('[data-test=event-json]'); \
                 return e.length === 3 ? e[0].textContent : null;",
                vec![],
            )
            .await?;
        Ok(first.as_str().map(str::to_owned))
    })
    .await
    .and_then(|first| {
        let first: serde_json::Value = serde_json::from_str(&first)?;
        ensure!(first["n"] == 4, "the newest on top: {first}");
        Ok(())
    })?;
    // 260 at once: a frame holds 50, and the page says how many it does not show.
    let burst: String = (0..260)
        .map(|i| format!("{{\"service\":\"tail\",\"n\":{}}}\n", 100 + i))
        .collect();
    weir.ingest("web", burst).await?;
    wait_text(browser, "tail-arrived", "263").await?;
    let skipped = browser
        .find("tail-skipped")
        .await?
        .attr("data-count")
        .await?
        .context("the count")?;
    let shown = count(browser, "event").await?;
    ensure!(
        shown + skipped.parse::<usize>()? == 263 && shown >= 53,
        "{shown} shown and {skipped} skipped of 263"
    );
    browser.click("tail-stop").await?;
    browser.find("older").await?;
    Ok(())
}

/// The demo dashboard over the first ten minutes of the demo's history: click the tallest bar of
/// "5xx errors by service", pick its largest value, and Explore shows exactly that many events.
async fn drill_from_a_spike(browser: &Browser, weir: &WeirProcess) -> Result<()> {
    // The history is written oldest first: once its 12th minute is there, the first ten are
    // complete (and no live event is that old).
    let start = wait_until(
        Duration::from_secs(60),
        "ten minutes of demo history",
        || async {
            let rows = weir
                .query("SELECT to_unixtime(min(_time)) * 1000 AS t FROM demo_http")
                .await?;
            let Some(start) = rows.first().and_then(|r| r[0].as_f64()) else {
                return Ok(None);
            };
            let start = start as i64;
            let later = weir
                .query(&format!(
                    "SELECT count(*) FROM demo_http WHERE _time >= to_timestamp_millis({}) \
                 AND _time < to_timestamp_millis({})",
                    start + 12 * 60_000,
                    start + 13 * 60_000
                ))
                .await?;
            Ok((later[0][0].as_i64() > Some(0)).then_some(start))
        },
    )
    .await?;
    let dashboard = format!(
        "/dashboards/web-services?from={start}&to={}",
        start + 10 * 60_000
    );
    browser.client.goto(&weir.url(&dashboard)).await?;
    browser
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-test=panel-11] [data-test=chart]"))
        .await
        .context("the errors panel's chart")?;
    wait_until(WAIT, "the page to hydrate", || async {
        Ok(browser
            .client
            .execute("return document.querySelector('[data-test=dashboard][data-hydrated=true]') !== null;", vec![])
            .await?
            .as_bool()
            .filter(|h| *h))
    })
    .await?;
    // The chart may be drawn again once hydrated (for this window's width): click until the
    // menu of the values under the click is there.
    let first = wait_until(WAIT, "the drill-down menu of the tallest bar", || async {
        let menu = browser
            .client
            .find_all(Locator::Css("[data-test=drill-menu] [data-test=drill]"))
            .await?;
        if let Some(first) = menu.into_iter().next() {
            return Ok(Some(first));
        }
        click_tallest_bar(browser).await?;
        Ok(None)
    })
    .await?;
    let value: f64 = first
        .attr("data-value")
        .await?
        .context("the value")?
        .parse()?;
    ensure!(value >= 3.0, "a spike of errors, not a quiet bar: {value}");
    first.click().await?;
    browser
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-test=explore][data-hydrated=true]"))
        .await
        .context("Explore to open")?;
    wait_text(browser, "total", &(value as u64).to_string()).await?;
    let url = browser.client.current_url().await?;
    ensure!(
        url.path() == "/explore/demo_http" && url.as_str().contains("service"),
        "Explore on the stream and the clicked service: {url}"
    );

    // A cell of the requests-by-region heatmap: its region and minute's events.
    browser.client.goto(&weir.url(&dashboard)).await?;
    let heatmap = "[data-test=panel-8] [data-test=chart]";
    let first = wait_until(WAIT, "the drill-down menu of a heatmap cell", || async {
        let menu = browser
            .client
            .find_all(Locator::Css("[data-test=drill-menu] [data-test=drill]"))
            .await?;
        if let Some(first) = menu.into_iter().next() {
            return Ok(Some(first));
        }
        // Its middle: a minute in the middle of the window, a region in the middle.
        browser
            .client
            .find(Locator::Css(heatmap))
            .await?
            .click()
            .await?;
        Ok(None)
    })
    .await?;
    let value: f64 = first
        .attr("data-value")
        .await?
        .context("the cell's value")?
        .parse()?;
    ensure!(value >= 1.0, "a cell with requests: {value}");
    first.click().await?;
    browser
        .client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css("[data-test=explore][data-hydrated=true]"))
        .await
        .context("Explore to open from the heatmap")?;
    wait_text(browser, "total", &(value as u64).to_string()).await?;
    let url = browser.client.current_url().await?;
    ensure!(
        url.as_str().contains("region"),
        "Explore on the clicked region: {url}"
    );
    Ok(())
}

/// Clicks the top of the tallest stack of bars of the errors panel.
async fn click_tallest_bar(browser: &Browser) -> Result<()> {
    let offset = browser
        .client
        .execute(
            r#"const chart = document.querySelector('[data-test=panel-11] [data-test=chart]');
               if (chart === null) return null;
               chart.scrollIntoView({block: 'center'});
               const box = chart.getBoundingClientRect();
               // Bars, not the faint bands of the incidents marked on the chart.
               const bars = [...chart.querySelectorAll('rect')]
                 .filter(r => Number(r.getAttribute('opacity') || 1) > 0.5)
                 .map(r => r.getBoundingClientRect())
                 .filter(r => r.width > 1 && r.width < box.width / 4 && r.height > 1);
               if (bars.length === 0) return null;
               const top = bars.reduce((a, b) => (b.top < a.top ? b : a));
               return [top.left + top.width / 2 - (box.left + box.width / 2),
                       top.top + Math.min(top.height / 2, 3) - (box.top + box.height / 2)];"#,
            vec![],
        )
        .await?;
    let [dx, dy]: [f64; 2] = serde_json::from_value(offset).context("a bar to click")?;
    let chart = browser
        .client
        .find(Locator::Css("[data-test=panel-11] [data-test=chart]"))
        .await?;
    browser
        .client
        .perform_actions(
            MouseActions::new("mouse".into())
                .then(PointerAction::MoveToElement {
                    element: chart,
                    duration: None,
                    x: dx,
                    y: dy,
                })
                .then(PointerAction::Down {
                    button: MOUSE_BUTTON_LEFT,
                })
                .then(PointerAction::Up {
                    button: MOUSE_BUTTON_LEFT,
                }),
        )
        .await?;
    Ok(())
}
