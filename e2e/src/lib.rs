//! The end-to-end harness: [`WeirProcess`] runs the real `weir` binary on a free port with its own
//! data directory, and [`Browser`] drives headless Chromium through chromedriver.
//!
//! Waits are on conditions with deadlines ([`wait_until`]), never bare sleeps.

mod browser;
mod process;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use browser::Browser;
pub use process::WeirProcess;

/// A directory for one test, emptied at the start of each run and kept afterwards, so a failure
/// can be inspected.
pub fn test_dir(base: &Path, name: &str) -> PathBuf {
    let dir = base.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the test directory");
    dir
}

/// The `weir` binary that the browser tests drive: `WEIR_BIN`, or `target/debug/weir`.
pub fn weir_bin() -> PathBuf {
    std::env::var_os("WEIR_BIN").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/weir"),
        PathBuf::from,
    )
}

/// Polls `check` until it returns `Some`, or fails after `deadline` with `what` in the message.
pub async fn wait_until<T, F, Fut>(
    deadline: Duration,
    what: &str,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let until = tokio::time::Instant::now() + deadline;
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok(value),
            Ok(None) => {}
            Err(err) => last_error = Some(err),
        }
        if tokio::time::Instant::now() >= until {
            let cause = last_error
                .map(|e| format!(" (last error: {e:#})"))
                .unwrap_or_default();
            anyhow::bail!("timed out after {deadline:?} waiting for {what}{cause}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
