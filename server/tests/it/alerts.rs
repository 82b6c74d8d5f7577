//! Alerting with the real binary and real webhook receivers (axum servers in the test): fire,
//! group, resolve, history, silences, restarts without duplicates, a hanging receiver, bad input.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post as route_post;
use e2e::{WeirProcess, wait_until};
use serde_json::{Value, json};

use super::{ingest, post, query, start};

/// A request a receiver got.
#[derive(Debug, Clone)]
pub(crate) struct Received {
    pub(crate) body: Value,
    raw: Bytes,
    headers: HeaderMap,
}

/// A local webhook receiver; `hang` makes it never answer, `failing` answer 503.
pub(crate) struct Receiver {
    pub(crate) url: String,
    got: Arc<Mutex<Vec<Received>>>,
    failing: Arc<AtomicBool>,
}

impl Receiver {
    pub(crate) async fn start(hang: bool) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let failing: Arc<AtomicBool> = Arc::default();
        let (sink, fail) = (Arc::clone(&got), Arc::clone(&failing));
        let app = Router::new().route(
            "/hook",
            route_post(move |headers: HeaderMap, raw: Bytes| {
                let (sink, fail) = (Arc::clone(&sink), Arc::clone(&fail));
                async move {
                    if fail.load(Ordering::SeqCst) {
                        return (StatusCode::SERVICE_UNAVAILABLE, "down");
                    }
                    let body = serde_json::from_slice(&raw).unwrap_or(Value::Null);
                    sink.lock().unwrap().push(Received { body, raw, headers });
                    if hang {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    (StatusCode::OK, "ok")
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, got, failing }
    }

    pub(crate) fn all(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits for the `n`th request (1-based).
    pub(crate) async fn nth(&self, n: usize, within: Duration) -> Received {
        wait_until(within, &format!("webhook request {n}"), || async {
            Ok(self.all().get(n - 1).cloned())
        })
        .await
        .unwrap()
    }
}

pub(crate) async fn put(weir: &WeirProcess, path: &str, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .put(weir.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

pub(crate) async fn post_json(weir: &WeirProcess, path: &str, body: Value) -> (u16, Value) {
    post(weir, path, "application/json", body.to_string()).await
}

async fn get_json(weir: &WeirProcess, path: &str) -> Value {
    let (status, text) = weir.get(path).await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Sets up a webhook contact point `hook` to `receiver` and a policy that sends at once.
async fn setup(weir: &WeirProcess, receiver: &Receiver, secret: Option<&str>) {
    let mut point = json!({"uid": "hook", "name": "Test hook", "type": "webhook",
        "url": receiver.url, "headers": {"X-Team": "web"}});
    if let Some(secret) = secret {
        point["secret"] = json!(secret);
    }
    let (status, reply) = post_json(weir, "/api/v1/alerts/contact-points", point).await;
    assert_eq!(status, 201, "{reply}");
    let policy = json!({"receiver": "hook", "group_by": ["alertname", "service"],
        "group_wait": "0s", "group_interval": "1s", "repeat_interval": "1h"});
    let (status, reply) = put(weir, "/api/v1/alerts/policy", policy).await;
    assert_eq!(status, 200, "{reply}");
}

pub(crate) fn latency_rule(uid: &str, extra: Value) -> Value {
    let mut rule = json!({
        "uid": uid,
        "title": "Slow service",
        "sql": "SELECT service, avg(latency) AS latency FROM app \
                WHERE _time >= now() - INTERVAL '10 minutes' GROUP BY service",
        "condition": {"column": "latency", "op": ">", "threshold": 500},
        "annotations": {"summary": "{{ $labels.service }} takes {{ humanize $value }}ms"},
        "severity": "page"
    });
    for (k, v) in extra.as_object().unwrap() {
        rule[k] = v.clone();
    }
    rule
}

pub(crate) fn events(service: &str, latency: u32, n: usize) -> String {
    (0..n)
        .map(|_| format!("{{\"service\":\"{service}\",\"latency\":{latency}}}\n"))
        .collect()
}

async fn instances(weir: &WeirProcess) -> Vec<Value> {
    get_json(weir, "/api/v1/alerts")
        .await
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn an_alert_fires_notifies_signed_resolves_and_is_history() {
    let weir = start("alerts_fire", &[]).await;
    let receiver = Receiver::start(false).await;
    assert_eq!(
        ingest(&weir, "app", &events("checkout", 100, 2)).await.0,
        200
    );
    setup(&weir, &receiver, Some("s3cret")).await;
    let (status, reply) = post_json(
        &weir,
        "/api/v1/alerts/rules",
        latency_rule("slow", json!({})),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["version"], 1);
    // Normal at first: the rule lists its one instance, below the threshold.
    wait_until(Duration::from_secs(10), "the instance", || async {
        Ok(instances(&weir)
            .await
            .into_iter()
            .find(|i| i["state"] == "Normal"))
    })
    .await
    .unwrap();

    // Two slow requests tip the average: a firing notification, signed.
    let sent = Instant::now();
    assert_eq!(
        ingest(&weir, "app", &events("checkout", 2000, 2)).await.0,
        200
    );
    let first = receiver.nth(1, Duration::from_secs(10)).await;
    let latency = sent.elapsed();
    assert!(
        latency < Duration::from_secs(2),
        "notified after {latency:?}"
    );
    let body = &first.body;
    assert_eq!(body["version"], "4");
    assert_eq!(body["status"], "firing");
    assert_eq!(body["receiver"], "hook");
    assert_eq!(
        body["groupLabels"],
        json!({"alertname": "Slow service", "service": "checkout"})
    );
    let alert = &body["alerts"][0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(
        alert["labels"],
        json!({"alertname": "Slow service", "service": "checkout", "severity": "page"})
    );
    assert_eq!(alert["annotations"]["summary"], "checkout takes 1.05kms");
    assert_eq!(alert["endsAt"], "0001-01-01T00:00:00Z");
    assert!(
        alert["generatorURL"]
            .as_str()
            .unwrap()
            .ends_with("/alerts/slow")
    );
    assert_eq!(alert["fingerprint"].as_str().unwrap().len(), 16);
    assert_eq!(first.headers["x-team"], "web");
    let signature = first.headers["x-weir-signature"].to_str().unwrap();
    assert_eq!(
        signature,
        format!("sha256={}", hmac_hex("s3cret", &first.raw))
    );

    let firing = instances(&weir).await;
    assert_eq!(firing.len(), 1);
    assert_eq!(firing[0]["state"], "Firing");
    assert_eq!(firing[0]["value"], 1050.0);

    // Fast requests bring it back: one resolved notification.
    assert_eq!(
        ingest(&weir, "app", &events("checkout", 10, 40)).await.0,
        200
    );
    let second = receiver.nth(2, Duration::from_secs(10)).await;
    assert_eq!(second.body["status"], "resolved");
    assert_eq!(second.body["alerts"][0]["status"], "resolved");
    assert_ne!(second.body["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(second.body["alerts"][0]["startsAt"], alert["startsAt"]);

    // Both moves are events of _alerts, both sends of _notifications.
    let moves = wait_until(Duration::from_secs(10), "the history", || async {
        let (status, reply) = query(
            &weir,
            "SELECT from_state, to_state, labels_service FROM _alerts ORDER BY _time, _offset",
        )
        .await;
        Ok((status == 200 && reply["rows"].as_array().unwrap().len() >= 2).then_some(reply))
    })
    .await
    .unwrap();
    assert_eq!(
        moves["rows"],
        json!([
            ["Normal", "Firing", "checkout"],
            ["Firing", "Normal", "checkout"]
        ])
    );
    let sends = wait_until(
        Duration::from_secs(10),
        "the notification records",
        || async {
            let (status, reply) = query(
                &weir,
                "SELECT status, http_status, firing, resolved FROM _notifications ORDER BY _time",
            )
            .await;
            Ok((status == 200 && reply["rows"].as_array().unwrap().len() >= 2).then_some(reply))
        },
    )
    .await
    .unwrap();
    assert_eq!(
        sends["rows"],
        json!([["delivered", 200, 1, 0], ["delivered", 200, 0, 1]])
    );
    assert_eq!(receiver.all().len(), 2, "nothing more was sent");

    // A test notification goes where the rule's alerts go, marked as a test.
    let (status, reply) = post_json(&weir, "/api/v1/alerts/rules/slow/test", json!({})).await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply, json!([{"contact_point": "hook", "delivered": true}]));
    let test = receiver.nth(3, Duration::from_secs(5)).await;
    assert_eq!(
        test.body["alerts"][0]["annotations"]["weir_test"],
        "a test notification"
    );
}

fn hmac_hex(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[tokio::test]
async fn a_restart_neither_renotifies_nor_loses_a_resolve_nor_resets_for() {
    let mut weir = start("alerts_restart", &[]).await;
    let receiver = Receiver::start(false).await;
    assert_eq!(
        ingest(&weir, "app", &events("checkout", 100, 2)).await.0,
        200
    );
    setup(&weir, &receiver, None).await;
    let (status, reply) = post_json(
        &weir,
        "/api/v1/alerts/rules",
        latency_rule("slow", json!({})),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    // A second rule on the same data waits an hour before it fires.
    let (status, reply) = post_json(
        &weir,
        "/api/v1/alerts/rules",
        latency_rule(
            "slow-for-an-hour",
            json!({"title": "Slow for long", "for": "1h"}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(
        ingest(&weir, "app", &events("checkout", 2000, 2)).await.0,
        200
    );
    receiver.nth(1, Duration::from_secs(10)).await;
    let pending_since = wait_until(Duration::from_secs(10), "the pending instance", || async {
        Ok(instances(&weir)
            .await
            .into_iter()
            .find(|i| i["state"] == "Pending")
            .map(|i| i["since"].clone()))
    })
    .await
    .unwrap();

    weir.kill_9().await.unwrap();
    weir.restart().await.unwrap();
    // Both rules are back in their states: Firing, and Pending since before the crash.
    let after = wait_until(
        Duration::from_secs(20),
        "the states after restart",
        || async {
            let list = instances(&weir).await;
            let firing = list.iter().any(|i| i["state"] == "Firing");
            let pending = list.iter().find(|i| i["state"] == "Pending").cloned();
            Ok(pending.filter(|_| firing))
        },
    )
    .await
    .unwrap();
    assert_eq!(
        after["since"], pending_since,
        "`for` goes on from where it was"
    );
    // Within repeat_interval, no second "firing": give the notifier time to have sent one.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        receiver.all().len(),
        1,
        "{:#?}",
        receiver.all().iter().map(|r| &r.body).collect::<Vec<_>>()
    );

    // It resolves while the receiver is down: the resolve is saved, its notification fails;
    // killed then, the server sends it after the restart, once.
    receiver.failing.store(true, Ordering::SeqCst);
    assert_eq!(
        ingest(&weir, "app", &events("checkout", 10, 40)).await.0,
        200
    );
    wait_until(Duration::from_secs(10), "a failed attempt", || async {
        let (status, reply) = query(
            &weir,
            "SELECT count(*) FROM _notifications WHERE status = 'failed' AND resolved = 1",
        )
        .await;
        Ok((status == 200 && reply["rows"][0][0].as_i64() > Some(0)).then_some(()))
    })
    .await
    .unwrap();
    weir.kill_9().await.unwrap();
    receiver.failing.store(false, Ordering::SeqCst);
    weir.restart().await.unwrap();
    let resolved = receiver.nth(2, Duration::from_secs(10)).await;
    assert_eq!(resolved.body["status"], "resolved");
    assert_eq!(resolved.body["alerts"][0]["labels"]["service"], "checkout");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(receiver.all().len(), 2);
}

#[tokio::test]
async fn a_hanging_receiver_does_not_delay_another_and_silences_mute() {
    let weir = start("alerts_hang", &[]).await;
    let hang = Receiver::start(true).await;
    let fast = Receiver::start(false).await;
    assert_eq!(
        ingest(&weir, "app", &events("checkout", 100, 1)).await.0,
        200
    );
    assert_eq!(ingest(&weir, "app", &events("search", 100, 1)).await.0, 200);
    for (uid, receiver) in [("hang", &hang), ("fast", &fast)] {
        let point = json!({"uid": uid, "name": uid, "type": "webhook", "url": receiver.url});
        assert_eq!(
            post_json(&weir, "/api/v1/alerts/contact-points", point)
                .await
                .0,
            201
        );
    }
    let policy = json!({"group_by": ["alertname", "service"], "group_wait": "0s",
        "group_interval": "1s", "repeat_interval": "1h"});
    assert_eq!(put(&weir, "/api/v1/alerts/policy", policy).await.0, 200);
    let rule = latency_rule("slow", json!({"contact_points": ["hang", "fast"]}));
    assert_eq!(post_json(&weir, "/api/v1/alerts/rules", rule).await.0, 201);
    // search is silenced before it fires.
    let silence = json!({
        "matchers": [{"name": "service", "op": "=", "value": "search"}],
        "ends_at": "2999-01-01T00:00:00Z", "comment": "deploying", "created_by": "test"
    });
    let (status, reply) = post_json(&weir, "/api/v1/alerts/silences", silence).await;
    assert_eq!(status, 201, "{reply}");
    let silence_id = reply["id"].as_str().unwrap().to_owned();

    assert_eq!(
        ingest(&weir, "app", &events("checkout", 2000, 3)).await.0,
        200
    );
    assert_eq!(
        ingest(&weir, "app", &events("search", 2000, 3)).await.0,
        200
    );
    let got = fast.nth(1, Duration::from_secs(5)).await;
    assert_eq!(got.body["alerts"][0]["labels"]["service"], "checkout");
    hang.nth(1, Duration::from_secs(5)).await;
    // The silenced instance fires, and says by what it is silenced; nobody hears of it.
    let search = wait_until(Duration::from_secs(5), "search firing", || async {
        Ok(instances(&weir)
            .await
            .into_iter()
            .find(|i| i["labels"]["service"] == "search" && i["state"] == "Firing"))
    })
    .await
    .unwrap();
    assert_eq!(search["silenced_by"], json!([silence_id]));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fast.all().len(), 1, "search is silenced");
    // The silence removed, the next flush sends it.
    let response = reqwest::Client::new()
        .delete(weir.url(&format!("/api/v1/alerts/silences/{silence_id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let got = fast.nth(2, Duration::from_secs(5)).await;
    assert_eq!(got.body["alerts"][0]["labels"]["service"], "search");
}

#[tokio::test]
async fn bad_rules_get_400_naming_the_field_and_nothing_is_saved() {
    let weir = start("alerts_bad", &[]).await;
    assert_eq!(
        ingest(&weir, "app", &events("checkout", 100, 1)).await.0,
        200
    );
    let cases = [
        (
            json!({"sql": "SELECT service, avg(latency) AS latency FROM nope GROUP BY service"}),
            "/sql",
            "nope",
        ),
        (
            json!({"sql": "SELECT service,\n  avg(latency AS latency FROM app GROUP BY service"}),
            "/sql",
            "Line: 2",
        ),
        (json!({"for": "-5m"}), "/for", "-5m"),
        (
            json!({"annotations": {"summary": "{{ $labels.service "}}),
            "/annotations/summary",
            "not closed",
        ),
        (
            json!({"condition": {"column": "nope", "op": ">", "threshold": 1}}),
            "/condition/column",
            "latency",
        ),
        (
            json!({"condition": {"column": "service", "op": ">", "threshold": 1}}),
            "/condition/column",
            "not a number",
        ),
        (
            json!({"contact_points": ["nobody"]}),
            "/contact_points/0",
            "nobody",
        ),
        (json!({"no_data": "Sometimes"}), "/no_data", "Sometimes"),
    ];
    for (extra, pointer, mentions) in cases {
        let (status, reply) = post_json(
            &weir,
            "/api/v1/alerts/rules",
            latency_rule("bad", extra.clone()),
        )
        .await;
        assert_eq!(status, 400, "{extra}: {reply}");
        assert_eq!(reply["pointer"], pointer, "{extra}: {reply}");
        let message = reply["error"].as_str().unwrap();
        assert!(message.contains(mentions), "{extra}: {message}");
    }
    let point = json!({"uid": "f", "name": "file", "type": "webhook", "url": "file:///etc/passwd"});
    let (status, reply) = post_json(&weir, "/api/v1/alerts/contact-points", point).await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["pointer"], "/url");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("only http:// and https://"),
        "{reply}"
    );
    let (status, reply) = post(
        &weir,
        "/api/v1/alerts/rules",
        "application/json",
        "{not json",
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(get_json(&weir, "/api/v1/alerts/rules").await, json!([]));
    assert_eq!(
        get_json(&weir, "/api/v1/alerts/contact-points").await,
        json!([])
    );
    // A stale version is a conflict.
    let (status, _) = post_json(&weir, "/api/v1/alerts/rules", latency_rule("ok", json!({}))).await;
    assert_eq!(status, 201);
    let (status, reply) = put(
        &weir,
        "/api/v1/alerts/rules/ok",
        latency_rule("ok", json!({"version": 0})),
    )
    .await;
    assert_eq!(status, 409, "{reply}");
    let (status, reply) = put(
        &weir,
        "/api/v1/alerts/rules/ok",
        latency_rule("ok", json!({"version": 1, "paused": true})),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["version"], 2);
}
