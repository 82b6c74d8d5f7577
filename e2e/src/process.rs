//! The real `weir` binary as a child process.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::watch;

/// `weir serve` on `127.0.0.1:0` with its own data directory. Killed when dropped.
pub struct WeirProcess {
    bin: PathBuf,
    data_dir: PathBuf,
    args: Vec<String>,
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    /// `RUST_LOG` for the server.
    log_filter: String,
}

const START_TIMEOUT: Duration = Duration::from_secs(30);

impl WeirProcess {
    /// Starts `bin serve --data-dir DATA_DIR --listen 127.0.0.1:0 ARGS` and waits until it listens.
    /// Weir's scrape of itself is off unless ARGS set `--self-metrics-every-secs`: a test sees
    /// only the streams and dashboards it makes (the tests of Weir's own metrics turn it on).
    pub async fn start(bin: &Path, data_dir: &Path, args: &[&str]) -> Result<WeirProcess> {
        WeirProcess::start_logging(bin, data_dir, args, "info").await
    }

    /// [`WeirProcess::start`], the server logging what `log_filter` (`RUST_LOG`) lets through.
    pub async fn start_logging(
        bin: &Path,
        data_dir: &Path,
        args: &[&str],
        log_filter: &str,
    ) -> Result<WeirProcess> {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        if !args
            .iter()
            .any(|a| a.starts_with("--self-metrics-every-secs"))
        {
            args.extend(["--self-metrics-every-secs".to_owned(), "0".to_owned()]);
        }
        let log = Arc::new(Mutex::new(String::new()));
        let (child, addr) = spawn(bin, data_dir, &args, log_filter, &log).await?;
        Ok(WeirProcess {
            bin: bin.to_owned(),
            data_dir: data_dir.to_owned(),
            args,
            child,
            addr,
            log,
            log_filter: log_filter.to_owned(),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The last lines the server logged, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Posts NDJSON events to `stream`; an error unless the server kept them.
    pub async fn ingest(&self, stream: &str, ndjson: String) -> Result<()> {
        let response = reqwest::Client::new()
            .post(self.url(&format!("/api/v1/streams/{stream}/events")))
            .header("content-type", "application/x-ndjson")
            .body(ndjson)
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "ingest into {stream}: {}",
            response.status()
        );
        Ok(())
    }

    /// Runs SQL through `POST /api/v1/query`: the result's rows.
    pub async fn query(&self, sql: &str) -> Result<Vec<Vec<serde_json::Value>>> {
        let response = reqwest::Client::new()
            .post(self.url("/api/v1/query"))
            .json(&serde_json::json!({ "sql": sql }))
            .send()
            .await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "query {sql}: {status} {body}");
        serde_json::from_value(body["rows"].clone()).context("the rows of a result")
    }

    /// A plain HTTP/1.0 GET (no client library needed): the status and the body.
    pub async fn get(&self, path: &str) -> Result<(u16, String)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(self.addr).await?;
        let request = format!("GET {path} HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr);
        stream.write_all(request.as_bytes()).await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        let (head, body) = response
            .split_once("\r\n\r\n")
            .context("an HTTP response")?;
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .context("an HTTP status")?;
        Ok((status, body.to_owned()))
    }

    /// Kills the server with SIGKILL, as a crash would, and reaps it.
    pub async fn kill_9(&mut self) -> Result<()> {
        self.child.kill().await.context("killing weir")
    }

    /// Asks the server to stop with SIGTERM and waits (up to 30 s) for it to exit.
    pub async fn terminate(&mut self) -> Result<ExitStatus> {
        let pid = self.child.id().context("weir already exited")?;
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        if !status.success() {
            bail!("kill -TERM {pid} failed");
        }
        tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .context("weir did not stop within 30 s of SIGTERM")?
            .context("waiting for weir")
    }

    /// Starts the server again on the same data directory (after `kill_9` or `terminate`).
    pub async fn restart(&mut self) -> Result<()> {
        let _ = self.child.kill().await;
        let (child, addr) = spawn(
            &self.bin,
            &self.data_dir,
            &self.args,
            &self.log_filter,
            &self.log,
        )
        .await?;
        self.child = child;
        self.addr = addr;
        Ok(())
    }
}

async fn spawn(
    bin: &Path,
    data_dir: &Path,
    args: &[String],
    log_filter: &str,
    log: &Arc<Mutex<String>>,
) -> Result<(Child, SocketAddr)> {
    if !bin.exists() {
        bail!(
            "{} does not exist: run `cargo xtask build` first",
            bin.display()
        );
    }
    let mut child = Command::new(bin)
        .arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .env("RUST_LOG", log_filter)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stderr = child.stderr.take().context("weir's stderr")?;
    let (addr_tx, mut addr_rx) = watch::channel(None::<SocketAddr>);
    let log = Arc::clone(log);
    tokio::spawn(async move {
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(addr) = line
                .split("listening on http://")
                .nth(1)
                .and_then(|rest| rest.split_whitespace().next())
                .and_then(|addr| addr.parse().ok())
            {
                let _ = addr_tx.send(Some(addr));
            }
            if let Ok(mut log) = log.lock() {
                log.push_str(&line);
                log.push('\n');
            }
        }
    });
    let addr = tokio::time::timeout(START_TIMEOUT, addr_rx.wait_for(Option::is_some))
        .await
        .context("weir did not report its address within 30 s")?
        .context("weir exited before listening")?
        .context("address")?;
    Ok((child, addr))
}
