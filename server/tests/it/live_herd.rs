//! Many viewers of one panel subscribing at once, as a dashboard's open tabs do when the server
//! restarts: they wait for the query's one backfill instead of each running its own.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{Value, json};

use crate::live::{Socket, connect, next_frame, send};
use crate::start;

const SOCKETS: usize = 500;

/// Subscribes every socket to `sql` at once; how long until the last has its snapshot.
async fn subscribe_all(sockets: &mut [Socket], id: &str, sql: &str) -> Duration {
    let started = Instant::now();
    join_all(sockets.iter_mut().map(|socket| async move {
        send(socket, json!({"type": "subscribe", "id": id, "sql": sql})).await;
        loop {
            let frame = next_frame(socket).await;
            if frame["id"] == id {
                assert_eq!(frame["type"], "snapshot", "{frame}");
                return;
            }
        }
    }))
    .await;
    started.elapsed()
}

async fn engine(weir: &e2e::WeirProcess) -> Value {
    reqwest::get(weir.url("/api/v1/engine"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn viewers_subscribing_at_once_share_one_backfill() {
    let weir = start("live_herd", &[]).await;
    // Enough events that a backfill takes a while.
    let client = reqwest::Client::new();
    let url = weir.url("/api/v1/streams/web/events");
    for batch in 0..40 {
        let body: String = (0..5_000)
            .map(|i| {
                let n = batch * 5_000 + i;
                format!(
                    "{{\"service\":\"s{}\",\"latency\":{}}}\n",
                    n % 50,
                    n % 1_000
                )
            })
            .collect();
        let response = client.post(&url).body(body).send().await.unwrap();
        assert_eq!(response.status(), 200);
    }
    let mut sockets = join_all((0..SOCKETS).map(|_| connect(&weir))).await;
    // Two queries of the same cost: they differ in a literal only.
    let query = |threshold: u32| {
        format!(
            "SELECT service, count(*) AS n, avg(latency) AS latency FROM web \
             WHERE latency >= {threshold} GROUP BY service"
        )
    };
    let before = engine(&weir).await["started"].as_u64().unwrap();

    // One viewer alone: one backfill.
    let one = subscribe_all(&mut sockets[..1], "a", &query(1)).await;
    // The others joining it, running: no backfill, only their joins.
    let joins = subscribe_all(&mut sockets[1..], "a", &query(1)).await;
    // Every viewer subscribing at once to a query not yet running.
    let herd = subscribe_all(&mut sockets, "b", &query(2)).await;

    let engine = engine(&weir).await;
    assert_eq!(
        engine["started"].as_u64().unwrap() - before,
        2,
        "one start per query, whatever the viewers: {engine}"
    );
    let viewers: Vec<u64> = engine["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["viewers"].as_u64().unwrap())
        .collect();
    assert_eq!(viewers, [SOCKETS as u64; 2], "{engine}");
    // Each waiting for a backfill of its own, one after another, would take SOCKETS of them.
    let bound = (one + joins) * 3;
    assert!(
        herd <= bound,
        "{SOCKETS} viewers at once took {herd:?}; one backfill {one:?}, {} joins {joins:?}",
        SOCKETS - 1
    );
    eprintln!("one backfill {one:?}; joins {joins:?}; {SOCKETS} at once {herd:?}");
}
