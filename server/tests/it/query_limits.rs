//! Queries that would take the server: time and memory limits end them with a 4xx and free their
//! CPU, `/healthz` answers meanwhile, a client that leaves stops its query, a sort larger than
//! the memory limit spills and finishes, and history queries beyond the bound wait, then get 429.

use std::time::{Duration, Instant};

use e2e::{WeirProcess, wait_until};
use serde_json::Value;

use crate::{ingest, query, start};

/// A query that would run for days: a sum over 10^15 generated rows.
const ENDLESS_SUM: &str = "SELECT sum(value) FROM range(1000000000000000)";
/// A four-way cross join of 400 events: 2.56 × 10^10 rows.
const ENDLESS_JOIN: &str = "SELECT count(DISTINCT a.n + b.n * c.n - d.n) FROM t a, t b, t c, t d";

/// CPU seconds the process has used (user + system), from `/proc/PID/stat`.
fn cpu_seconds(weir: &WeirProcess) -> f64 {
    let pid = weir.pid().expect("weir runs");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0 // USER_HZ
}

/// Waits until the process uses almost no CPU over half a second: nothing of a stopped query
/// still runs.
async fn wait_idle(weir: &WeirProcess, what: &str) {
    wait_cpu(weir, what, |share| share < 0.15).await;
}

/// Waits until `share` holds of the CPU (in cores) the process uses over half a second.
async fn wait_cpu(weir: &WeirProcess, what: &str, share: impl Fn(f64) -> bool) {
    let mut last = (Instant::now(), cpu_seconds(weir));
    wait_until(Duration::from_secs(5), what, || {
        let (at, cpu) = last;
        let now = (Instant::now(), cpu_seconds(weir));
        let idle = if now.0 - at >= Duration::from_millis(500) {
            last = now;
            Some(share((now.1 - cpu) / (now.0 - at).as_secs_f64()))
        } else {
            None
        };
        async move { Ok(idle.filter(|&idle| idle)) }
    })
    .await
    .unwrap_or_else(|err| panic!("{err}\n{}", weir.log_tail()));
}

async fn events(weir: &WeirProcess, n: usize) {
    let body: String = (0..n)
        .map(|i| format!("{{\"_time\":\"2026-01-05T10:00:00Z\",\"n\":{i}}}\n"))
        .collect();
    let (status, reply) = ingest(weir, "t", &body).await;
    assert_eq!(status, 200, "{reply}");
}

fn assert_limit(status: u16, reply: &Value, limit: &str) {
    assert_eq!(status, 422, "{reply}");
    assert_eq!(reply["kind"], "limit_exceeded", "{reply}");
    let message = reply["error"].as_str().unwrap();
    assert!(message.contains(limit), "{message}");
}

#[tokio::test]
async fn endless_queries_end_at_the_time_limit_and_healthz_answers_meanwhile() {
    let weir = start(
        "query_limits_time",
        &["--query-timeout-secs", "3", "--max-concurrent-queries", "4"],
    )
    .await;
    events(&weir, 400).await;
    wait_idle(&weir, "the server to settle").await;

    let started = Instant::now();
    let slowest = std::cell::Cell::new(Duration::ZERO);
    // Both cores are busy with queries: the server still answers at once.
    let healthz = async {
        loop {
            let asked = Instant::now();
            let (status, _) = weir.get("/healthz").await.unwrap();
            assert_eq!(status, 200);
            slowest.set(slowest.get().max(asked.elapsed()));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let replies = tokio::select! {
        replies = async { tokio::join!(query(&weir, ENDLESS_SUM), query(&weir, ENDLESS_JOIN)) } => replies,
        _ = healthz => unreachable!(),
    };
    for (status, reply) in [replies.0, replies.1] {
        assert_limit(status, &reply, "limit of 3s");
    }
    let slowest = slowest.get();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "stopped after {took:?}");
    assert!(
        slowest < Duration::from_secs(1),
        "/healthz took {slowest:?} while queries ran"
    );
    wait_idle(&weir, "the stopped queries to leave the CPU").await;
    // The server goes on answering queries.
    let (status, reply) = query(&weir, "SELECT count(*) FROM t").await;
    assert_eq!((status, &reply["rows"][0][0]), (200, &Value::from(400)));
}

#[tokio::test]
async fn memory_limits_end_what_cannot_spill_and_sorts_spill_to_disk() {
    let weir = start(
        "query_limits_memory",
        &["--query-memory-bytes", &(48 << 20).to_string()],
    )
    .await;
    events(&weir, 2000).await;
    // A join's hash table cannot spill: 4 million rows of strings pass 48 MiB.
    let (status, reply) = query(
        &weir,
        "SELECT count(*) FROM (SELECT concat(a.n, '-', b.n) AS k FROM t a, t b) x \
         JOIN (SELECT concat(a.n, '-', b.n) AS k FROM t a, t b) y ON x.k = y.k",
    )
    .await;
    assert_limit(status, &reply, "limit of 48 MiB");

    // 4 million distinct values sorted: about 64 MiB of state, more than the query may hold.
    let (status, reply) = query(
        &weir,
        "SELECT DISTINCT a.n * 2000 + b.n AS v FROM t a, t b ORDER BY v DESC",
    )
    .await;
    assert_eq!(status, 200, "{reply}\n{}", weir.log_tail());
    assert_eq!(reply["truncated"], true);
    assert_eq!(reply["rows"][0][0], 3_999_999);
    assert_eq!(reply["rows"][99_999][0], 3_900_000);
}

#[tokio::test]
async fn a_client_that_leaves_stops_its_query_and_turns_are_bounded() {
    let weir = start(
        "query_limits_turns",
        &[
            "--query-timeout-secs",
            "60",
            "--max-concurrent-queries",
            "1",
            "--query-queue-secs",
            "5",
        ],
    )
    .await;
    wait_idle(&weir, "the server to settle").await;
    let client = reqwest::Client::new();
    let url = weir.url("/api/v1/query");
    let body = serde_json::json!({ "sql": ENDLESS_SUM }).to_string();
    let first = tokio::spawn(
        client
            .post(&url)
            .header("content-type", "application/json")
            .body(body.clone())
            .send(),
    );
    wait_cpu(&weir, "the first query to run", |share| share > 0.5).await;
    // The one turn is taken: the next history query waits, then is refused.
    let started = Instant::now();
    let (status, reply) = query(&weir, "SELECT 1").await;
    assert_eq!(status, 429, "{reply}");
    assert_eq!(reply["kind"], "overloaded");
    assert!(started.elapsed() >= Duration::from_secs(4), "{reply}");
    // The client leaves: its query stops long before its time limit.
    first.abort();
    let _ = first.await;
    wait_idle(&weir, "the abandoned query to stop").await;
    let (status, reply) = query(&weir, "SELECT 1").await;
    assert_eq!(status, 200, "{reply}");
}

/// A query sent with an id tells how far it has got while it runs, and a `DELETE` of its id
/// stops it: its client gets a `cancelled` error and its CPU goes idle.
#[tokio::test]
async fn a_query_sent_with_an_id_tells_its_progress_and_is_cancelled_by_it() {
    let weir = start("query_cancel", &["--query-timeout-secs", "60"]).await;
    wait_idle(&weir, "the server to settle").await;
    let client = reqwest::Client::new();
    let body = serde_json::json!({ "sql": ENDLESS_SUM, "id": "long one" }).to_string();
    let running = tokio::spawn(
        client
            .post(weir.url("/api/v1/query"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send(),
    );
    let progress = weir.url("/api/v1/query/long%20one");
    let seen = wait_until(Duration::from_secs(10), "the query's progress", || async {
        let response = reqwest::get(&progress).await?;
        if response.status() != 200 {
            return Ok(None);
        }
        let progress: Value = response.json().await?;
        Ok((progress["planned"] == true).then_some(progress))
    })
    .await
    .unwrap();
    assert!(seen["elapsed_ms"].as_u64().is_some(), "{seen}");
    // The same id again while it runs is refused.
    let (status, reply) = crate::post(&weir, "/api/v1/query", "application/json", body).await;
    assert_eq!(
        (status, reply["kind"].as_str()),
        (409, Some("conflict")),
        "{reply}"
    );
    wait_cpu(&weir, "the query to run", |share| share > 0.5).await;
    let cancel = client.delete(&progress).send().await.unwrap();
    assert_eq!(cancel.status(), 204);
    let answer = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("the client answered within 5 s")
        .unwrap()
        .unwrap();
    assert_eq!(answer.status(), 499);
    let reply: Value = answer.json().await.unwrap();
    assert_eq!(reply["kind"], "cancelled", "{reply}");
    wait_idle(&weir, "the cancelled query to stop").await;
    // Gone from the running queries.
    assert_eq!(reqwest::get(&progress).await.unwrap().status(), 404);
    assert_eq!(client.delete(&progress).send().await.unwrap().status(), 404);
}
