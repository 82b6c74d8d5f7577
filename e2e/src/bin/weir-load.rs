//! `weir-load`: sends an NDJSON file (or stdin) to a Weir stream from several concurrent clients,
//! each request acknowledged (durable) before the client sends its next, and reports the rate.
//!
//! ```text
//! weir-load URL STREAM FILE|- [--batch EVENTS] [--clients N] [--rate EVENTS_PER_SEC]
//! ```
//!
//! With `--rate`, requests are paced to that many events per second in all (a background load);
//! without, each client sends as fast as its requests are acknowledged. A request refused for
//! overload (503, 429) is sent again after a pause (doubling, up to 2 s), and counted.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context, Result, bail};

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let positional: Vec<&String> = args.iter().take_while(|a| !a.starts_with("--")).collect();
    let [url, stream, file] = positional[..] else {
        bail!(
            "usage: weir-load URL STREAM FILE|- [--batch EVENTS] [--clients N] [--rate EVENTS_PER_SEC]"
        );
    };
    let option = |name: &str, default: usize| -> Result<usize> {
        match args.iter().position(|a| a == name) {
            Some(i) => args
                .get(i + 1)
                .context("a value")?
                .parse()
                .context(name.to_owned()),
            None => Ok(default),
        }
    };
    let batch = option("--batch", 5_000)?;
    let clients = option("--clients", 4)?;
    let rate = option("--rate", 0)?;
    let input: Box<dyn Read + Send> = if file == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(file).with_context(|| file.clone())?)
    };
    let endpoint = format!("{url}/api/v1/streams/{stream}/events");

    // A reader thread cuts the input into bodies of `batch` lines; clients post them.
    let (bodies_tx, bodies_rx) = async_channel(clients * 2);
    std::thread::spawn(move || {
        let mut reader = BufReader::with_capacity(1 << 20, input);
        loop {
            let mut body = Vec::with_capacity(batch * 256);
            let mut n = 0;
            while n < batch {
                match reader.read_until(b'\n', &mut body) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => n += 1,
                }
            }
            if n == 0 || bodies_tx.send_blocking((body, n)).is_err() {
                return;
            }
        }
    });

    let events = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let started = Instant::now();
    // With a rate, body k may leave no earlier than k × batch / rate seconds after the start.
    let sent = Arc::new(AtomicU64::new(0));
    let retries = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (http, endpoint, rx) = (http.clone(), endpoint.clone(), bodies_rx.clone());
            let (events, bytes) = (Arc::clone(&events), Arc::clone(&bytes));
            let sent = Arc::clone(&sent);
            let retries = Arc::clone(&retries);
            tokio::spawn(async move {
                while let Ok((body, n)) = rx.recv().await {
                    if rate > 0 {
                        let k = sent.fetch_add(n as u64, Ordering::Relaxed);
                        let due =
                            started + std::time::Duration::from_secs_f64(k as f64 / rate as f64);
                        tokio::time::sleep_until(due.into()).await;
                    }
                    let len = body.len() as u64;
                    // Overload (503, 429) refuses the whole request: wait and send it again.
                    let mut wait = std::time::Duration::from_millis(50);
                    loop {
                        let response = http
                            .post(&endpoint)
                            .header("content-type", "application/x-ndjson")
                            .body(body.clone())
                            .send()
                            .await?;
                        let status = response.status();
                        let reply = response.text().await?;
                        if status.is_success() {
                            break;
                        }
                        if status != 503 && status != 429 {
                            bail!("{status}: {reply}");
                        }
                        retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(std::time::Duration::from_secs(2));
                    }
                    events.fetch_add(n as u64, Ordering::Relaxed);
                    bytes.fetch_add(len, Ordering::Relaxed);
                }
                Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    let (events, bytes) = (
        events.load(Ordering::Relaxed),
        bytes.load(Ordering::Relaxed),
    );
    println!(
        "{{\"events\":{events},\"bytes\":{bytes},\"seconds\":{secs:.3},\"events_per_sec\":{:.0},\"mb_per_sec\":{:.1},\"clients\":{clients},\"batch\":{batch},\"retries\":{}}}",
        events as f64 / secs,
        bytes as f64 / secs / 1e6,
        retries.load(Ordering::Relaxed)
    );
    Ok(())
}

/// A bounded multi-consumer channel from tokio's mpsc, shared behind a mutex by the consumers.
fn async_channel<T: Send + 'static>(bound: usize) -> (Sender<T>, Receiver<T>) {
    let (tx, rx) = tokio::sync::mpsc::channel(bound);
    (Sender(tx), Receiver(Arc::new(tokio::sync::Mutex::new(rx))))
}

struct Sender<T>(tokio::sync::mpsc::Sender<T>);

impl<T> Sender<T> {
    fn send_blocking(&self, value: T) -> Result<(), ()> {
        self.0.blocking_send(value).map_err(|_| ())
    }
}

struct Receiver<T>(Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<T>>>);

impl<T> Clone for Receiver<T> {
    fn clone(&self) -> Self {
        Receiver(Arc::clone(&self.0))
    }
}

impl<T> Receiver<T> {
    async fn recv(&self) -> Result<T, ()> {
        self.0.lock().await.recv().await.ok_or(())
    }
}
