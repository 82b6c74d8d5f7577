//! `/api/v1/live`: real WebSocket clients subscribe, get a snapshot then deltas as events arrive,
//! unsubscribe, send bad frames, fall behind, and reconnect.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use protocol::live::{LiveResult, ServerMessage};
use serde_json::{Value, json};
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;

use crate::{ingest, start};

pub(crate) type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub(crate) async fn connect(weir: &e2e::WeirProcess) -> Socket {
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/live", weir.addr()))
        .await
        .expect("websocket");
    socket
}

pub(crate) async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("frames are JSON");
        }
    }
}

/// The next frame that changes rows: skips deltas that only move the watermark (sent when a
/// stream has been idle for a while, which a slow machine can make happen mid-test).
async fn next_change(socket: &mut Socket) -> Value {
    loop {
        let frame = next_frame(socket).await;
        let empty = |field: &str| frame[field].as_array().is_some_and(Vec::is_empty);
        if !(frame["type"] == "delta" && empty("upserts") && empty("deletes")) {
            return frame;
        }
    }
}

pub(crate) async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

async fn subscribe(socket: &mut Socket, id: &str, sql: &str) {
    send(socket, json!({"type": "subscribe", "id": id, "sql": sql})).await;
}

/// A client's view of one subscription, built from its frames as a browser builds it (with the
/// `protocol` crate's rules), counting snapshots and deltas.
#[derive(Debug, Default)]
struct View {
    result: Option<LiveResult>,
    snapshots: u64,
    deltas: u64,
}

impl View {
    fn apply(&mut self, frame: &Value) {
        match serde_json::from_value::<ServerMessage>(frame.clone()).expect("a server frame") {
            ServerMessage::Snapshot(snapshot) => {
                self.snapshots += 1;
                match &mut self.result {
                    Some(result) => result.reset(snapshot).expect("seq has no gaps"),
                    None => {
                        assert_eq!(snapshot.seq, 1, "{frame}");
                        self.result = Some(LiveResult::new(snapshot));
                    }
                }
            }
            ServerMessage::Delta(delta) => {
                self.deltas += 1;
                let result = self.result.as_mut().expect("a snapshot first");
                result.apply(&delta).expect("seq has no gaps");
            }
            _ => panic!("unexpected frame {frame}"),
        }
    }

    /// The rows, in the order the client keeps them.
    fn rows(&self) -> Vec<Value> {
        let rows = self.result.as_ref().map_or(&[][..], LiveResult::rows);
        rows.iter().map(|row| Value::from(row.clone())).collect()
    }
}

/// Reads frames into the views until `done` holds for subscription `id`, within 20 s.
async fn until(
    socket: &mut Socket,
    views: &mut BTreeMap<String, View>,
    id: &str,
    done: impl Fn(&View) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !views.get(id).is_some_and(&done) {
        assert!(
            Instant::now() < deadline,
            "{id} did not reach the expected result: {:?}",
            views.get(id)
        );
        let frame = next_frame(socket).await;
        let frame_id = frame["id"].as_str().expect("an id").to_owned();
        assert_ne!(frame["type"], "error", "{frame}");
        views.entry(frame_id).or_default().apply(&frame);
    }
}

#[tokio::test]
async fn a_snapshot_then_keyed_deltas_then_unsubscribe() {
    let weir = start("live_protocol", &[]).await;
    ingest(
        &weir,
        "web",
        "{\"service\":\"api\",\"status\":200}\n{\"service\":\"db\",\"status\":500}\n",
    )
    .await;
    let mut socket = connect(&weir).await;
    subscribe(
        &mut socket,
        "p1",
        "SELECT service, count(*) AS n FROM web GROUP BY service HAVING count(*) < 3 ORDER BY n DESC",
    )
    .await;
    let first = next_frame(&mut socket).await;
    assert_eq!(first["type"], "snapshot", "{first}");
    assert_eq!(
        (first["id"].clone(), first["seq"].clone()),
        (json!("p1"), json!(1))
    );
    assert_eq!(first["columns"][1]["name"], "n");
    assert_eq!(first["key"], json!([0]));
    assert_eq!(first["order"], json!([[1, "desc"]]));
    assert_eq!(first["mode"], "incremental");
    assert!(first["watermark"].as_i64().unwrap() > 0);
    let mut rows = first["rows"].as_array().unwrap().clone();
    rows.sort_by_key(Value::to_string);
    assert_eq!(rows, vec![json!(["api", 1]), json!(["db", 1])]);

    ingest(&weir, "web", "{\"service\":\"api\",\"status\":200}\n").await;
    let delta = next_change(&mut socket).await;
    assert_eq!(delta["type"], "delta", "{delta}");
    assert_eq!(delta["seq"], 2);
    assert_eq!(delta["upserts"], json!([["api", 2]]));
    assert_eq!(delta["deletes"], json!([]));
    // The newest event included is the one just posted (stamped on arrival): a moment before
    // the frame was made.
    let (newest, now) = (
        delta["newest"].as_i64().unwrap(),
        delta["now"].as_i64().unwrap(),
    );
    assert!(
        first["newest"] == 0 && newest > 0 && newest <= now && now - newest < 10_000_000,
        "{first} {delta}"
    );

    // A third api event fails HAVING: the row leaves the result, by key.
    ingest(&weir, "web", "{\"service\":\"api\",\"status\":200}\n").await;
    let delta = next_change(&mut socket).await;
    assert_eq!(
        (delta["upserts"].clone(), delta["deletes"].clone()),
        (json!([]), json!([["api"]])),
        "{delta}"
    );

    // After unsubscribing p1 and subscribing p2, frames come for p2 only.
    send(&mut socket, json!({"type": "unsubscribe", "id": "p1"})).await;
    subscribe(
        &mut socket,
        "p2",
        "SELECT count(*) AS n FROM web WHERE status >= 500",
    )
    .await;
    // (A frame of p1 queued before the unsubscribe may still come first.)
    let mut frame = next_change(&mut socket).await;
    while frame["id"] == "p1" {
        frame = next_change(&mut socket).await;
    }
    assert_eq!(
        (
            frame["id"].clone(),
            frame["rows"].clone(),
            frame["key"].clone()
        ),
        (json!("p2"), json!([[1]]), json!([])),
        "{frame}"
    );
    ingest(&weir, "web", "{\"service\":\"db\",\"status\":503}\n").await;
    let frame = next_change(&mut socket).await;
    assert_eq!(
        (
            frame["id"].clone(),
            frame["type"].clone(),
            frame["upserts"].clone()
        ),
        (json!("p2"), json!("delta"), json!([[2]])),
        "{frame}"
    );
}

#[tokio::test]
async fn bad_frames_get_error_frames_and_the_socket_stays_open() {
    let weir = start("live_errors", &[]).await;
    ingest(&weir, "web", "{\"status\":200}\n").await;
    let mut socket = connect(&weir).await;

    subscribe(&mut socket, "bad", "SELEC count(*) FROM web").await;
    let error = next_frame(&mut socket).await;
    assert_eq!(
        (
            error["type"].clone(),
            error["id"].clone(),
            error["kind"].clone()
        ),
        (json!("error"), json!("bad"), json!("bad_request"))
    );
    assert!(
        error["message"].as_str().unwrap().contains("SQL error"),
        "{error}"
    );

    subscribe(&mut socket, "missing", "SELECT count(*) FROM nowhere").await;
    let error = next_frame(&mut socket).await;
    assert!(
        error["message"].as_str().unwrap().contains("nowhere"),
        "{error}"
    );

    socket.send(Message::Text("not json".into())).await.unwrap();
    let error = next_frame(&mut socket).await;
    assert_eq!(error["id"], Value::Null);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("bad message"),
        "{error}"
    );

    send(&mut socket, json!({"type": "watch", "id": "x"})).await;
    let error = next_frame(&mut socket).await;
    assert_eq!(error["id"], "x", "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("unknown variant"),
        "{error}"
    );

    socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    let error = next_frame(&mut socket).await;
    assert!(
        error["message"].as_str().unwrap().contains("binary"),
        "{error}"
    );

    // Distinct queries, each joined on its own while later subscriptions arrive: one that has
    // joined must count once towards the limit.
    for i in 0..64 {
        let sql = format!("SELECT count(*) AS n{i} FROM web");
        subscribe(&mut socket, &format!("s{i}"), &sql).await;
    }
    subscribe(&mut socket, "one-too-many", "SELECT count(*) FROM web").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline);
        let frame = next_frame(&mut socket).await;
        if frame["type"] == "error" {
            assert_eq!(frame["id"], "one-too-many", "{frame}");
            assert!(
                frame["message"].as_str().unwrap().contains("at most 64"),
                "{frame}"
            );
            break;
        }
    }

    // The socket still works.
    subscribe(&mut socket, "s0", "SELECT count(*) AS again FROM web").await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline);
        let frame = next_frame(&mut socket).await;
        if frame["columns"][0]["name"] == "again" {
            assert_eq!(frame["rows"], json!([[1]]));
            break;
        }
    }
}

#[tokio::test]
async fn a_query_outside_the_incremental_shape_is_requeried_and_says_why() {
    let weir = start("live_requery", &[]).await;
    ingest(&weir, "web", "{\"status\":200}\n{\"status\":500}\n").await;
    let mut socket = connect(&weir).await;
    subscribe(
        &mut socket,
        "logs",
        "SELECT status FROM web ORDER BY _offset DESC LIMIT 2",
    )
    .await;
    let first = next_frame(&mut socket).await;
    assert_eq!(first["type"], "snapshot", "{first}");
    assert_eq!(first["mode"], "requery");
    assert!(
        first["reason"].as_str().unwrap().contains("LIMIT"),
        "{first}"
    );
    assert!(first["interval_ms"].as_u64().unwrap() >= 1000, "{first}");
    assert_eq!(first["rows"], json!([[500], [200]]));
    ingest(&weir, "web", "{\"status\":404}\n").await;
    let next = next_frame(&mut socket).await;
    assert_eq!(
        (next["type"].clone(), next["rows"].clone()),
        (json!("snapshot"), json!([[404], [500]])),
        "{next}"
    );
}

/// Subscriptions opened while events are being ingested each end with every event counted
/// exactly once: nothing lost or doubled at the seam between backfill and live events.
#[tokio::test]
async fn nothing_is_lost_or_doubled_at_the_backfill_seam() {
    let weir = start("live_seam", &["--tier-max-bytes", "20000"]).await;
    ingest(&weir, "web", "{\"n\":0}\n").await;
    let writer = {
        let url = weir.url("/api/v1/streams/web/events");
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for batch in 0..100 {
                let body: String = (0..50)
                    .map(|i| format!("{{\"n\":{}}}\n", batch * 50 + i))
                    .collect();
                let response = client.post(&url).body(body).send().await.unwrap();
                assert_eq!(response.status(), 200);
            }
        })
    };
    let mut socket = connect(&weir).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        // Distinct SQL, so each has its own operator and its own seam.
        let id = format!("q{i}");
        subscribe(
            &mut socket,
            &id,
            &format!("SELECT count(*) AS c, sum(n) AS s, {i} AS q FROM web"),
        )
        .await;
        ids.push(id);
        // Not a wait for anything: it spreads the subscriptions (and their seams) over the
        // ingest under way.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writer.await.unwrap();
    let total = 1 + 100 * 50;
    let sum: i64 = (0..100 * 50).sum();
    let mut views = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        until(&mut socket, &mut views, id, |v| {
            v.rows() == vec![json!([total, sum, i])]
        })
        .await;
    }
}

/// Queries a literal apart share their stream's one task: they join while events flow (some
/// behind the task, catching up), leave and come back, and each ends exactly right, caught up.
#[tokio::test]
async fn queries_a_literal_apart_come_and_go_while_events_flow_and_each_is_exact() {
    let weir = start("live_share", &[]).await;
    ingest(&weir, "web", "{\"k\":0,\"v\":0}\n").await;
    let rounds = 60;
    let writer = {
        let url = weir.url("/api/v1/streams/web/events");
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            for _ in 0..rounds {
                let body: String = (0..40)
                    .map(|i| format!("{{\"k\":{},\"v\":{}}}\n", i % 4, i % 10))
                    .collect();
                let response = client.post(&url).body(body).send().await.unwrap();
                assert_eq!(response.status(), 200);
            }
        })
    };
    let sql = |i: usize| format!("SELECT k, count(*) AS n FROM web WHERE v >= {i} GROUP BY k");
    let mut socket = connect(&weir).await;
    for i in 0..10 {
        subscribe(&mut socket, &format!("a{i}"), &sql(i)).await;
        // Not a wait for anything: spreads the joins over the ingest under way.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Half leave (their queries stop) and come back under new ids (they start again).
    for i in (0..10).step_by(2) {
        send(
            &mut socket,
            json!({"type": "unsubscribe", "id": format!("a{i}")}),
        )
        .await;
    }
    for i in (0..10).step_by(2) {
        subscribe(&mut socket, &format!("b{i}"), &sql(i)).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    writer.await.unwrap();
    // Per round, for each k, the events with v >= i; plus the first event (k 0, v 0) for i = 0.
    let expected = |i: usize| -> Vec<Value> {
        (0..4)
            .map(|k| {
                let per_round = (0..40).filter(|e| e % 4 == k && e % 10 >= i).count();
                let first = usize::from(k == 0 && i == 0);
                json!([k, per_round * rounds + first])
            })
            .filter(|row| row[1] != json!(0))
            .collect()
    };
    let mut views = BTreeMap::new();
    for i in 0..10 {
        let id = if i % 2 == 0 {
            format!("b{i}")
        } else {
            format!("a{i}")
        };
        until(&mut socket, &mut views, &id, |v| v.rows() == expected(i)).await;
    }
    let engine = reqwest::get(weir.url("/api/v1/engine"))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let queries = engine["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 10, "{engine}");
    for query in queries {
        // Caught up when it published its exact result.
        assert_eq!(query["lag_events"], 0, "{query}");
        assert!(query["lag_ms"].is_u64(), "{query}");
    }
}

#[tokio::test]
async fn a_slow_client_is_resent_a_snapshot_and_slows_no_one() {
    let weir = start("live_slow", &["--live-backlog-rows", "100"]).await;
    // Long keys, so that the deltas are large: 500 rows of ~1 kB each.
    let key = |k: usize| format!("key-{k:01000}");
    ingest(&weir, "web", &format!("{{\"k\":\"{}\"}}\n", key(0))).await;
    let sql = "SELECT k, count(*) AS n FROM web GROUP BY k";
    // A small receive buffer, so that the kernel does not absorb megabytes for it.
    let tcp = tokio::net::TcpSocket::new_v4().unwrap();
    tcp.set_recv_buffer_size(8 << 10).unwrap();
    let tcp = tokio_tungstenite::MaybeTlsStream::Plain(tcp.connect(weir.addr()).await.unwrap());
    let (mut slow, _) =
        tokio_tungstenite::client_async(format!("ws://{}/api/v1/live", weir.addr()), tcp)
            .await
            .unwrap();
    subscribe(&mut slow, "p", sql).await;
    let first = next_frame(&mut slow).await;
    assert_eq!(first["type"], "snapshot");
    let mut fast = connect(&weir).await;
    subscribe(&mut fast, "p", sql).await;
    let mut fast_views = BTreeMap::new();
    until(&mut fast, &mut fast_views, "p", |v| v.snapshots == 1).await;

    // The slow client reads nothing while 500 keys change 100 times (tens of MB of deltas, more
    // than the sockets' buffers hold).
    let keys = 500;
    let rounds = 100;
    let body: String = (0..keys)
        .map(|k| format!("{{\"k\":\"{}\"}}\n", key(k)))
        .collect();
    let started = Instant::now();
    let client = reqwest::Client::new();
    for round in 1..=rounds {
        let response = client
            .post(weir.url("/api/v1/streams/web/events"))
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        if round <= 20 {
            // The first rounds are each published before the next (the engine, below ingest's
            // priority, could otherwise fold them all into a few changes on a busy machine):
            // at least 20 deltas of 500 rows, ~10 MB, more than the slow socket's buffers hold.
            until(&mut fast, &mut fast_views, "p", |v| {
                v.rows()
                    .iter()
                    .any(|r| r[0] == json!(key(1)) && r[1] == json!(round))
            })
            .await;
        }
    }
    let ingest_time = started.elapsed();
    let done = |v: &View| {
        let rows = v.rows();
        rows.len() == keys
            && rows
                .iter()
                .all(|r| r[1] == json!(rounds + usize::from(r[0] == json!(key(0)))))
    };
    // The fast client is up to date while the slow one is still stalled.
    until(&mut fast, &mut fast_views, "p", done).await;

    // The slow client, reading at last, is not replayed every change: it gets a fresh snapshot
    // and ends up exactly right.
    let mut slow_views = BTreeMap::new();
    slow_views
        .entry("p".to_owned())
        .or_insert_with(View::default)
        .apply(&first);
    until(&mut slow, &mut slow_views, "p", done).await;
    let slow_view = &slow_views["p"];
    eprintln!(
        "slow view: {} snapshots, {} deltas",
        slow_view.snapshots, slow_view.deltas
    );
    assert!(
        slow_view.snapshots >= 2,
        "resent a snapshot: {} snapshots",
        slow_view.snapshots
    );
    assert!(
        slow_view.deltas < rounds as u64,
        "not a backlog: {} deltas for {rounds} rounds",
        slow_view.deltas
    );
    eprintln!("ingest of {rounds} rounds took {ingest_time:?} with a stalled client");
}

#[tokio::test]
async fn identical_queries_share_one_operator_and_state_is_bounded() {
    let weir = start("live_sharing", &["--max-groups", "2"]).await;
    ingest(&weir, "web", "{\"k\":1}\n{\"k\":2}\n{\"k\":3}\n").await;
    let mut a = connect(&weir).await;
    let mut b = connect(&weir).await;
    subscribe(&mut a, "p", "SELECT k, count(*) AS n FROM web GROUP BY k").await;
    // The same query, spelled differently.
    subscribe(&mut b, "q", "select K,   COUNT(*) as n from web group by k").await;
    let first = next_frame(&mut a).await;
    let second = next_frame(&mut b).await;
    assert_eq!(first["rows"], second["rows"]);
    assert_eq!(first["rows"].as_array().unwrap().len(), 2, "{first}");
    assert_eq!(first["overflow"], true, "the group cap is marked: {first}");

    let engine = reqwest::get(weir.url("/api/v1/engine"))
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let queries = engine["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 1, "{engine}");
    assert_eq!(queries[0]["viewers"], 2, "{engine}");
    assert_eq!(queries[0]["mode"], "incremental", "{engine}");
    assert_eq!(queries[0]["groups"], 2, "{engine}");
    drop((a, b));
}

#[tokio::test]
async fn a_query_past_the_state_budget_is_refused_clearly() {
    let weir = start("live_budget", &["--live-state-budget-bytes", "100"]).await;
    ingest(&weir, "web", "{\"k\":1}\n").await;
    let mut socket = connect(&weir).await;
    subscribe(
        &mut socket,
        "p",
        "SELECT k, approx_distinct(k) FROM web GROUP BY k",
    )
    .await;
    let error = next_frame(&mut socket).await;
    assert_eq!(
        (
            error["type"].clone(),
            error["id"].clone(),
            error["kind"].clone()
        ),
        (json!("error"), json!("p"), json!("overloaded"))
    );
    assert!(
        error["message"].as_str().unwrap().contains("budget"),
        "{error}"
    );
}

#[tokio::test]
async fn a_client_that_reconnects_gets_the_current_result() {
    let weir = start("live_reconnect", &[]).await;
    ingest(&weir, "web", "{\"status\":200}\n").await;
    let sql = "SELECT status, count(*) AS n FROM web GROUP BY status";
    let mut socket = connect(&weir).await;
    subscribe(&mut socket, "p", sql).await;
    let first = next_frame(&mut socket).await;
    assert_eq!(first["rows"], json!([[200, 1]]));
    socket.close(None).await.unwrap();
    drop(socket);

    ingest(&weir, "web", "{\"status\":200}\n{\"status\":500}\n").await;
    let mut socket = connect(&weir).await;
    subscribe(&mut socket, "p", sql).await;
    let mut views = BTreeMap::new();
    until(&mut socket, &mut views, "p", |v| {
        let mut rows = v.rows();
        rows.sort_by_key(Value::to_string);
        rows == vec![json!([200, 2]), json!([500, 1])]
    })
    .await;
    assert_eq!(views["p"].snapshots, 1);
}

#[tokio::test]
async fn sockets_close_when_the_server_stops() {
    let mut weir = start("live_shutdown", &[]).await;
    ingest(&weir, "web", "{\"a\":1}\n").await;
    let mut socket = connect(&weir).await;
    subscribe(&mut socket, "p", "SELECT count(*) FROM web").await;
    next_frame(&mut socket).await;
    let status = weir.terminate().await.unwrap();
    assert!(status.success());
    let closed = timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Close(frame) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .expect("the socket ends within 10 s");
    assert_eq!(closed, Some(1001), "closed with 'going away'");
}

/// RFC 6455: a message over the size limit is answered with close code 1009 (message too big),
/// not a dropped connection.
#[tokio::test]
async fn a_message_over_the_limit_is_closed_with_1009() {
    let weir = start("live_too_big", &[]).await;
    for size in [10 << 20, (64 << 10) + 1] {
        let (mut sink, mut stream) = connect(&weir).await.split();
        let sql = format!("SELECT '{}'", "x".repeat(size));
        let message = json!({"type": "subscribe", "id": "p", "sql": sql}).to_string();
        // Sent beside the reads, as a browser does: the server may close before it is all
        // written (the send then fails, which is fine).
        let sending = tokio::spawn(async move { sink.send(Message::Text(message.into())).await });
        let closed = timeout(Duration::from_secs(10), async {
            while let Some(message) = stream.next().await {
                match message {
                    Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                    Ok(_) => {}
                    Err(err) => panic!("the socket failed before its close frame: {err}"),
                }
            }
            None
        })
        .await
        .expect("the socket closes within 10 s");
        assert_eq!(
            closed,
            Some(1009),
            "a {size}-byte message: closed with 'message too big'"
        );
        sending.abort();
    }
    // The server still serves.
    let mut socket = connect(&weir).await;
    ingest(&weir, "web", "{\"a\":1}\n").await;
    subscribe(&mut socket, "p", "SELECT count(*) FROM web").await;
    assert_eq!(next_frame(&mut socket).await["type"], "snapshot");
}
