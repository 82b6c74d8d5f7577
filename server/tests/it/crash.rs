//! Crash safety of the real binary: a client ingests with acknowledgements while the server is
//! killed with SIGKILL at random moments (tiering and compaction run all the time); after each
//! restart every acknowledged event is present exactly once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::{query, start};

const ROUNDS: usize = 20;
const BATCH: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_events_survive_sigkill_exactly_once() {
    let mut weir = start(
        "crash_sigkill",
        &[
            "--tier-max-age-secs",
            "0.15",
            "--compact-every-secs",
            "0.3",
            "--vacuum-grace-secs",
            "0",
        ],
    )
    .await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261125);
    let next_id = Arc::new(AtomicU64::new(0));
    let acked: Arc<Mutex<HashSet<u64>>> = Arc::default();
    let mut lake_versions = Vec::new();
    for round in 0..ROUNDS {
        let target = acked.lock().unwrap().len() + rng.random_range(200..3_000);
        let clients: Vec<_> = (0..2)
            .map(|_| {
                let (url, next_id, acked) = (
                    weir.url("/api/v1/streams/crash/events"),
                    Arc::clone(&next_id),
                    Arc::clone(&acked),
                );
                tokio::spawn(async move {
                    let http = reqwest::Client::new();
                    loop {
                        let first = next_id.fetch_add(BATCH, Ordering::SeqCst);
                        let body: String = (first..first + BATCH)
                            .map(|k| {
                                format!("{{\"k\":{k},\"round\":{round},\"pad\":\"{:0>40}\"}}\n", k)
                            })
                            .collect();
                        match http.post(&url).body(body).send().await {
                            Ok(response) if response.status() == 200 => {
                                acked.lock().unwrap().extend(first..first + BATCH);
                            }
                            _ => return, // the server is gone: these events are unacknowledged
                        }
                    }
                })
            })
            .collect();
        // Kill at a random moment: after a random number of acknowledged events and of lake
        // commits (tierings, compactions) in this round.
        let commits = lake_versions.last().copied().unwrap_or(0) + rng.random_range(1..=3);
        e2e::wait_until(
            Duration::from_secs(60),
            "events and lake commits to pile up",
            || async {
                let (_, body) = weir.get("/api/v1/streams/crash").await?;
                let info: Value = serde_json::from_str(&body)?;
                let version = info["lake_version"].as_u64().unwrap_or(0);
                Ok((acked.lock().unwrap().len() >= target && version >= commits).then_some(()))
            },
        )
        .await
        .unwrap();
        weir.kill_9().await.unwrap();
        for client in clients {
            client.await.unwrap();
        }
        weir.restart().await.unwrap();
        let acked_now = acked.lock().unwrap().clone();
        check_exactly_once(&weir, &acked_now).await;
        let (_, body) = weir.get("/api/v1/streams/crash").await.unwrap();
        let info: Value = serde_json::from_str(&body).unwrap();
        lake_versions.push(info["lake_version"].as_u64().unwrap_or(0));
    }
    assert!(
        *lake_versions.last().unwrap() >= ROUNDS as u64,
        "tiering and compaction committed in every round: {lake_versions:?}"
    );
    assert!(compacted(&weir), "compaction ran");
}

/// Whether the lake log holds a compaction commit (`OPTIMIZE`).
fn compacted(weir: &e2e::WeirProcess) -> bool {
    let log = weir.data_dir().join("lake/crash/_delta_log");
    std::fs::read_dir(log)
        .into_iter()
        .flatten()
        .flatten()
        .any(|entry| {
            std::fs::read_to_string(entry.path())
                .is_ok_and(|text| text.contains("\"operation\":\"OPTIMIZE\""))
        })
}

async fn check_exactly_once(weir: &e2e::WeirProcess, acked: &HashSet<u64>) {
    let (status, reply) = query(weir, "SELECT count(*), count(DISTINCT k) FROM crash").await;
    assert_eq!(status, 200, "{reply}\n{}", weir.log_tail());
    assert_eq!(
        reply["rows"][0][0],
        reply["rows"][0][1],
        "an event is stored twice\n{}",
        weir.log_tail()
    );
    let response = reqwest::Client::new()
        .post(weir.url("/api/v1/query?format=csv"))
        .json(&serde_json::json!({"sql": "SELECT k FROM crash"}))
        .send()
        .await
        .unwrap();
    let stored: HashSet<u64> = response
        .text()
        .await
        .unwrap()
        .lines()
        .skip(1)
        .map(|k| k.parse().unwrap())
        .collect();
    let missing: Vec<&u64> = acked.difference(&stored).take(10).collect();
    assert!(
        missing.is_empty(),
        "acknowledged events lost: {missing:?} (of {})\n{}",
        acked.len(),
        weir.log_tail()
    );
}
