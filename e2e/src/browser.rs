//! Headless Chromium, driven through chromedriver with fantoccini.

use std::net::TcpListener;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result};
use fantoccini::{Client, ClientBuilder};
use serde_json::json;
use tokio::process::{Child, Command};

/// A Chromium session with a fresh profile. Call [`Browser::close`]: it ends the browser and the
/// driver even when the test failed.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Result<Browser> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let driver =
            Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .context("starting chromedriver (apt-get install chromium chromium-driver)")?;
        let profile = tempfile::tempdir()?;
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let client = crate::wait_until(Duration::from_secs(30), "chromedriver", || async {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let client = ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await?;
            Ok(Some(client))
        })
        .await?;
        Ok(Browser {
            client,
            driver,
            _profile: profile,
        })
    }

    /// The text of the first element with `data-test="{id}"`, if there is one.
    pub async fn text(&self, id: &str) -> Result<Option<String>> {
        let script = format!(
            "const e = document.querySelector('[data-test=\"{id}\"]'); return e ? e.textContent : null;"
        );
        let value = self.client.execute(&script, vec![]).await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// The inner HTML of the first element with `data-test="{id}"`, if there is one.
    pub async fn inner_html(&self, id: &str) -> Result<Option<String>> {
        let script = format!(
            "const e = document.querySelector('[data-test=\"{id}\"]'); return e ? e.innerHTML : null;"
        );
        let value = self.client.execute(&script, vec![]).await?;
        Ok(value.as_str().map(str::to_owned))
    }

    /// Clicks the element with `data-test="{id}"` once there is one (within 20 s).
    pub async fn click(&self, id: &str) -> Result<()> {
        self.find(id)
            .await?
            .click()
            .await
            .with_context(|| format!("clicking {id}"))?;
        Ok(())
    }

    /// Replaces the value of the text field or area with `data-test="{id}"`.
    pub async fn fill(&self, id: &str, text: &str) -> Result<()> {
        let field = self.find(id).await?;
        field.clear().await?;
        field.send_keys(text).await?;
        Ok(())
    }

    /// The element with `data-test="{id}"`, waited for up to 20 s.
    pub async fn find(&self, id: &str) -> Result<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(Duration::from_secs(20))
            .for_element(fantoccini::Locator::Css(&format!("[data-test=\"{id}\"]")))
            .await
            .with_context(|| format!("finding {id}"))
    }

    /// Ends the browser session and the driver.
    pub async fn close(mut self) -> Result<()> {
        let closed = self.client.close().await;
        let _ = self.driver.kill().await;
        closed.context("closing the browser")
    }
}
