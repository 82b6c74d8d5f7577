//! Logging in and out in headless Chromium, as users go: a viewer sent to the login page logs
//! in, sees the dashboard without its Edit button (nor the editor when asking for it with
//! `?edit`), is refused the rule editor, and logs out; an admin makes an API token on the admin
//! page, sees its text once, and revokes it; the audit trail holds it all. One server and one
//! browser for the journey.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use e2e::{Browser, WeirProcess, test_dir, wait_until, weir_bin};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

fn artifacts() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../e2e-artifacts");
    std::fs::create_dir_all(&dir).expect("creating the artifacts directory");
    dir
}

fn add_user(data: &Path, name: &str, role: &str) {
    let mut child = Command::new(weir_bin())
        .args(["user", "add", "--name", name, "--role", role, "--data-dir"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("weir runs");
    writeln!(child.stdin.take().expect("stdin"), "{name}-pass-51ab").expect("stdin");
    assert!(child.wait().expect("weir exits").success());
}

#[tokio::test]
async fn a_viewer_logs_in_sees_no_editor_and_logs_out_and_an_admin_makes_a_token() {
    let data = test_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), "access_journey");
    add_user(&data, "ada", "admin");
    add_user(&data, "vera", "viewer");
    let mut weir = WeirProcess::start(&weir_bin(), &data, &[])
        .await
        .expect("starting weir");
    let browser = Browser::start().await.expect("starting the browser");
    let outcome = journey(&browser, &weir).await;
    if let (Err(_), Ok(png)) = (&outcome, browser.client.screenshot().await) {
        let _ = std::fs::write(artifacts().join("access-failure.png"), png);
    }
    let closed = browser.close().await;
    let _ = weir.kill_9().await;
    if let Err(err) = outcome {
        panic!("{err:#}\n--- weir log ---\n{}", weir.log_tail());
    }
    closed.expect("closing the browser");
}

async fn url(browser: &Browser) -> Result<String> {
    Ok(browser.client.current_url().await?.to_string())
}

/// Waits until the page `[data-test=page]` is interactive (hydrated).
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

async fn log_in(browser: &Browser, name: &str) -> Result<()> {
    browser.fill("login-name", name).await?;
    browser
        .fill("login-password", &format!("{name}-pass-51ab"))
        .await?;
    browser.click("login-submit").await
}

async fn journey(browser: &Browser, weir: &WeirProcess) -> Result<()> {
    let client = &browser.client;
    // The size of docs/'s screenshots, which this journey takes.
    client.set_window_size(1440, 900).await?;
    let made = reqwest::Client::new()
        .post(weir.url("/api/v1/dashboards"))
        .basic_auth("ada", Some("ada-pass-51ab"))
        .json(&json!({"uid": "web", "title": "Web services", "panels": []}))
        .send()
        .await?;
    ensure!(made.status() == 201, "dashboard: {}", made.status());

    // Not logged in: the dashboard's link leads to the login page, and back after logging in.
    client.goto(&weir.url("/dashboards/web")).await?;
    browser.find("login-form").await?;
    ensure!(url(browser).await?.contains("/login?next=/dashboards/web"));
    std::fs::write(artifacts().join("login.png"), client.screenshot().await?)?;
    log_in(browser, "vera").await?;
    wait_until(WAIT, "the dashboard after logging in", || async {
        Ok(browser.text("dashboard-title").await?.map(|_| ()))
    })
    .await?;
    ensure!(url(browser).await?.ends_with("/dashboards/web"));
    let user = browser.text("current-user").await?.unwrap_or_default();
    ensure!(user.contains("vera") && user.contains("viewer"), "{user}");
    hydrated(browser, "dashboard").await?;
    ensure!(browser.text("edit").await?.is_none(), "a viewer sees Edit");
    ensure!(
        browser.text("admin-link").await?.is_none(),
        "a viewer sees Admin"
    );

    // Asking for the editor shows the dashboard, not the editor; the rule editor is refused.
    client.goto(&weir.url("/dashboards/web?edit")).await?;
    hydrated(browser, "dashboard").await?;
    ensure!(
        browser.text("edit-bar").await?.is_none(),
        "a viewer got the editor"
    );
    client.goto(&weir.url("/alerts/new")).await?;
    let refusal = browser.find("forbidden").await?.text().await?;
    ensure!(refusal.contains("vera is a viewer"), "{refusal}");

    // Logging out ends the session: the dashboard needs a login again.
    client.goto(&weir.url("/dashboards")).await?;
    browser.click("logout").await?;
    browser.find("login-form").await?;
    client.goto(&weir.url("/dashboards/web")).await?;
    browser.find("login-form").await?;

    // An admin makes a token on the admin page: its text once, then revokes it.
    log_in(browser, "ada").await?;
    browser.find("admin-link").await?;
    client.goto(&weir.url("/admin")).await?;
    browser.find("users").await?;
    // The page is interactive once hydrated: typing before that is lost.
    hydrated(browser, "admin").await?;
    client
        .find(fantoccini::Locator::Css(
            "[data-test=\"new-token\"] input[type=\"text\"]",
        ))
        .await?
        .send_keys("vector")
        .await?;
    browser.click("create-token").await?;
    let token = browser.find("token-text").await?.text().await?;
    ensure!(token.starts_with("weir_"), "{token}");
    browser.find("token-vector").await?;
    std::fs::write(artifacts().join("admin.png"), client.screenshot().await?)?;
    let used = reqwest::Client::new()
        .post(weir.url("/api/v1/streams/app_web/events"))
        .bearer_auth(&token)
        .body("{\"a\":1}")
        .send()
        .await?;
    ensure!(
        used.status() == 200,
        "the new token ingests: {}",
        used.status()
    );
    browser.click("revoke").await?;
    wait_until(WAIT, "the token to show revoked", || async {
        let state = client
            .execute(
                "const r = document.querySelector('[data-test=\"token-vector\"]'); return r ? r.dataset.state : null;",
                vec![],
            )
            .await?;
        Ok((state.as_str() == Some("revoked")).then_some(()))
    })
    .await?;
    let refused = reqwest::Client::new()
        .post(weir.url("/api/v1/streams/app_web/events"))
        .bearer_auth(&token)
        .body("{\"a\":1}")
        .send()
        .await?;
    ensure!(refused.status() == 401, "revoked: {}", refused.status());

    // The journey is in the audit trail, the admin page's token (a server function's) too.
    let audit: serde_json::Value = reqwest::Client::new()
        .post(weir.url("/api/v1/query"))
        .basic_auth("ada", Some("ada-pass-51ab"))
        .json(&json!({"sql": "SELECT actor, via, action, target FROM _audit ORDER BY _time"}))
        .send()
        .await?
        .json()
        .await?;
    let id = token.split('_').nth(1).unwrap_or_default();
    let expected = json!([
        ["ada", "password", "dashboard_save", "web"],
        ["vera", "password", "login", ""],
        ["vera", "session", "logout", ""],
        ["ada", "password", "login", ""],
        ["ada", "session", "token_create", id],
        ["ada", "session", "token_revoke", id],
    ]);
    ensure!(audit["rows"] == expected, "{audit}");
    // The admin page leads to it, in Explore.
    client.goto(&weir.url("/admin")).await?;
    hydrated(browser, "admin").await?;
    browser.click("audit-link").await?;
    hydrated(browser, "explore").await?;
    wait_until(WAIT, "the audit trail's events", || async {
        let events = client
            .find_all(fantoccini::Locator::Css("[data-test=\"event\"]"))
            .await?;
        Ok((events.len() == expected.as_array().map_or(0, Vec::len)).then_some(()))
    })
    .await?;
    browser.find("field").await?;
    std::fs::write(artifacts().join("audit.png"), client.screenshot().await?)?;
    Ok(())
}
