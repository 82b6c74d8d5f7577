//! Backtests: the differential test (a backtest over the events a live rule was fed makes the
//! live rule's transitions, at the same times within the live clock's slack), and its errors.

use std::collections::BTreeMap;
use std::time::Duration;

use e2e::wait_until;
use serde_json::{Value, json};

use super::alerts::{events, post_json};
use super::{ingest, query, start};

fn rule() -> Value {
    json!({
        "uid": "slow",
        "title": "Slow",
        "sql": "SELECT service, avg(latency) AS latency FROM app \
                WHERE _time >= now() - INTERVAL '10 seconds' GROUP BY service",
        "condition": {"column": "latency", "op": ">", "threshold": 500},
        "for": "2s",
        "keep_firing_for": "1s",
        "no_data": "OK"
    })
}

/// (service, from, to, time in ms) of each transition.
type Move = (String, String, String, i64);

fn ms_of(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .timestamp_millis()
}

fn by_service(moves: &[Move]) -> BTreeMap<String, Vec<Move>> {
    let mut map: BTreeMap<String, Vec<Move>> = BTreeMap::new();
    for m in moves {
        map.entry(m.0.clone()).or_default().push(m.clone());
    }
    map
}

#[tokio::test]
async fn a_backtest_makes_the_live_rules_transitions() {
    let weir = start("alerts_backtest", &[]).await;
    assert_eq!(
        ingest(&weir, "app", &events("checkout", 100, 1)).await.0,
        200
    );
    let created = chrono::Utc::now().timestamp_millis();
    let (status, reply) = post_json(&weir, "/api/v1/alerts/rules", rule()).await;
    assert_eq!(status, 201, "{reply}");
    // A script of seconds: checkout turns slow (pending, then firing after 2 s), then fast
    // (recovering, resolved 1 s later); web is slow once, fires, and resolves when its events
    // leave the 10-second range.
    let script: &[&[(&str, u32, usize)]] = &[
        &[("checkout", 2000, 2)],
        &[("web", 3000, 1)],
        &[],
        &[("checkout", 2000, 1)],
        &[],
        &[],
        &[("checkout", 10, 60)],
        &[],
        &[("checkout", 10, 5)],
    ];
    for second in script {
        for (service, latency, n) in second.iter() {
            assert_eq!(
                ingest(&weir, "app", &events(service, *latency, *n)).await.0,
                200
            );
        }
        tokio::time::sleep(Duration::from_millis(1300)).await;
    }
    // web's events leave the range about 10 s after they came.
    let live: Vec<Move> = wait_until(Duration::from_secs(30), "web to resolve", || async {
        let (status, reply) = query(
            &weir,
            "SELECT labels_service, from_state, to_state, _time FROM _alerts ORDER BY _time, _offset",
        )
        .await;
        if status != 200 {
            return Ok(None);
        }
        let moves: Vec<Move> = reply["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r[0].as_str().unwrap().to_owned(),
                    r[1].as_str().unwrap().to_owned(),
                    r[2].as_str().unwrap().to_owned(),
                    ms_of(r[3].as_str().unwrap()),
                )
            })
            .collect();
        let web_done = moves.iter().any(|m| m.0 == "web" && m.2 == "Normal");
        Ok(web_done.then_some(moves))
    })
    .await
    .unwrap();
    let ended = chrono::Utc::now().timestamp_millis() + 1000;
    let (status, report) = post_json(
        &weir,
        "/api/v1/alerts/rules/backtest",
        json!({"rule": rule(), "from": created.to_string(), "to": ended.to_string()}),
    )
    .await;
    assert_eq!(status, 200, "{report}");
    let replayed: Vec<Move> = report["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["labels"]["service"].as_str().unwrap().to_owned(),
                t["from"].as_str().unwrap().to_owned(),
                t["to"].as_str().unwrap().to_owned(),
                t["time"].as_i64().unwrap() / 1000,
            )
        })
        .collect();
    let (live, replayed) = (by_service(&live), by_service(&replayed));
    let states = |moves: &[Move]| -> Vec<(String, String)> {
        moves.iter().map(|m| (m.1.clone(), m.2.clone())).collect()
    };
    assert_eq!(
        live.keys().collect::<Vec<_>>(),
        replayed.keys().collect::<Vec<_>>()
    );
    for (service, moves) in &live {
        let again = &replayed[service];
        assert_eq!(
            states(moves),
            states(again),
            "{service}: live {moves:?}, backtest {again:?}"
        );
        for (a, b) in moves.iter().zip(again) {
            // The live clock moves windows every 100 ms and evaluates within 10 ms of an event;
            // the replay at the event's own time or the pane's edge.
            assert!(
                (a.3 - b.3).abs() <= 1100,
                "{service}: live {a:?}, backtest {b:?}"
            );
        }
    }
    let checkout = states(&live["checkout"]);
    assert_eq!(
        checkout,
        [
            ("Normal".into(), "Pending".into()),
            ("Pending".into(), "Firing".into()),
            ("Firing".into(), "Recovering".into()),
            ("Recovering".into(), "Normal".into())
        ]
    );
    assert!(report["events"].as_u64().unwrap() >= 70, "{report}");
}

#[tokio::test]
async fn a_backtest_says_what_it_cannot_replay() {
    let weir = start("alerts_backtest_bad", &[]).await;
    assert_eq!(
        ingest(&weir, "app", &events("checkout", 100, 1)).await.0,
        200
    );
    let mut requeried = rule();
    requeried["sql"] = json!("SELECT service, latency FROM app ORDER BY latency DESC LIMIT 3");
    requeried["condition"] = json!({"column": "latency", "op": ">", "threshold": 1});
    let cases = [
        (
            json!({"rule": requeried, "from": "now-1h", "to": "now"}),
            "/rule/sql",
            "re-queried",
        ),
        (
            json!({"rule": rule(), "from": "now-90d", "to": "now"}),
            "/to",
            "31 days",
        ),
        (
            json!({"rule": rule(), "from": "yesterday", "to": "now"}),
            "/from",
            "yesterday",
        ),
        (
            json!({"rule": {"title": "x", "sql": "SELECT"}, "from": "now-1h"}),
            "/rule/sql",
            "SQL",
        ),
    ];
    for (request, pointer, mentions) in cases {
        let (status, reply) =
            post_json(&weir, "/api/v1/alerts/rules/backtest", request.clone()).await;
        assert_eq!(status, 400, "{request}: {reply}");
        assert_eq!(reply["pointer"], pointer, "{request}: {reply}");
        assert!(
            reply["error"].as_str().unwrap().contains(mentions),
            "{request}: {reply}"
        );
    }
}
