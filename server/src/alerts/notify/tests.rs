//! Routing and the rule for sending, without a network.

use serde_json::json;

use super::*;

fn alert(labels: &[(&str, &str)]) -> Alert {
    Alert {
        fingerprint: "f".into(),
        rule_uid: "r".into(),
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        annotations: BTreeMap::new(),
        starts_at: 0,
        ends_at: None,
        contact_points: Vec::new(),
        panel: None,
    }
}

fn routing(policy: serde_json::Value) -> Routing {
    Routing::new(
        serde_json::from_value(policy).unwrap(),
        BTreeMap::new(),
        Vec::new(),
    )
    .unwrap()
}

#[test]
fn routes_take_the_deepest_match_and_continue() {
    let r = routing(json!({
        "receiver": "default",
        "group_wait": "10s",
        "routes": [
            {"matchers": [{"name": "team", "op": "=", "value": "web"}], "receiver": "web",
             "routes": [{"matchers": [{"name": "severity", "op": "=", "value": "critical"}],
                         "receiver": "pager", "group_wait": "0s"}]},
            {"matchers": [{"name": "team", "op": "=~", "value": "web|db"}], "receiver": "both",
             "continue": true},
            {"matchers": [{"name": "team", "op": "=", "value": "db"}], "receiver": "db"}
        ]
    }));
    let receivers = |labels: &[(&str, &str)]| -> Vec<(Option<String>, i64)> {
        r.route(&alert(labels))
            .into_iter()
            .map(|(_, o)| (o.receiver, o.group_wait))
            .collect()
    };
    assert_eq!(
        receivers(&[("team", "web")]),
        [(Some("web".into()), 10_000_000)]
    );
    assert_eq!(
        receivers(&[("team", "web"), ("severity", "critical")]),
        [(Some("pager".into()), 0)]
    );
    assert_eq!(
        receivers(&[("team", "db")]),
        [
            (Some("both".into()), 10_000_000),
            (Some("db".into()), 10_000_000)
        ]
    );
    assert_eq!(
        receivers(&[("team", "ops")]),
        [(Some("default".into()), 10_000_000)]
    );
    // A rule's own contact points go around the tree.
    let mut own = alert(&[("team", "web")]);
    own.contact_points = vec!["a".into(), "b".into()];
    let taken: Vec<_> = r.route(&own).into_iter().map(|(_, o)| o.receiver).collect();
    assert_eq!(taken, [Some("a".into()), Some("b".into())]);
}

#[test]
fn sends_what_changed_or_what_is_due() {
    let set = |fps: &[&str]| fps.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let entry = LogEntry {
        firing: set(&["a", "b"]),
        resolved: set(&[]),
        sent_at: 1_000,
    };
    let repeat = 10_000;
    // Nothing sent yet: only firing alerts are news.
    assert!(needs_update(
        None,
        &set(&["a"]),
        &set(&[]),
        true,
        repeat,
        2_000
    ));
    assert!(!needs_update(
        None,
        &set(&[]),
        &set(&["a"]),
        true,
        repeat,
        2_000
    ));
    // The same alerts again: only once repeat_interval passed.
    assert!(!needs_update(
        Some(&entry),
        &set(&["a", "b"]),
        &set(&[]),
        true,
        repeat,
        5_000
    ));
    assert!(needs_update(
        Some(&entry),
        &set(&["a", "b"]),
        &set(&[]),
        true,
        repeat,
        11_000
    ));
    // A new one: at once.
    assert!(needs_update(
        Some(&entry),
        &set(&["a", "c"]),
        &set(&[]),
        true,
        repeat,
        5_000
    ));
    // One resolved: when the receiver wants resolved alerts.
    assert!(needs_update(
        Some(&entry),
        &set(&["a"]),
        &set(&["b"]),
        true,
        repeat,
        5_000
    ));
    assert!(!needs_update(
        Some(&entry),
        &set(&["a"]),
        &set(&["b"]),
        false,
        repeat,
        5_000
    ));
    // All resolved: always.
    assert!(needs_update(
        Some(&entry),
        &set(&[]),
        &set(&["a", "b"]),
        false,
        repeat,
        5_000
    ));
}

#[test]
fn group_keys_read_like_alertmanagers() {
    let labels: BTreeMap<String, String> =
        [("alertname".to_owned(), "High \"errors\"".to_owned())].into();
    assert_eq!(label_text(&labels), r#"{alertname="High \"errors\""}"#);
    let all = group_labels(&["...".to_owned()], &labels);
    assert_eq!(all, labels);
}

fn notification(resolved: bool) -> Notification {
    let mut a = alert(&[
        ("alertname", "Slow"),
        ("service", "checkout"),
        ("team", "web"),
    ]);
    a.annotations
        .insert("summary".into(), "checkout is slow".into());
    a.starts_at = 1_700_000_000_000_000;
    a.ends_at = resolved.then_some(1_700_000_060_000_000);
    a.panel = Some(PanelRef {
        dashboard: "demo".into(),
        panel: 3,
    });
    let mut b = alert(&[
        ("alertname", "Slow"),
        ("service", "search"),
        ("team", "web"),
    ]);
    b.fingerprint = "g".into();
    b.starts_at = 1_700_000_000_000_000;
    Notification {
        group_key: "root:ops:{alertname=\"Slow\"}".into(),
        receiver: "ops".into(),
        group_labels: [("alertname".to_owned(), "Slow".to_owned())].into(),
        alerts: vec![a, b],
        external_url: "http://weir.example".into(),
    }
}

#[test]
fn payloads_are_the_formats_receivers_read() {
    let n = notification(true);
    let hook = n.webhook();
    assert_eq!(hook["version"], "4");
    assert_eq!(hook["status"], "firing", "one of the two still fires");
    assert_eq!(
        hook["commonLabels"],
        json!({"alertname": "Slow", "team": "web"})
    );
    assert_eq!(hook["commonAnnotations"], json!({}));
    assert_eq!(hook["externalURL"], "http://weir.example");
    assert_eq!(hook["alerts"][0]["status"], "resolved");
    assert_eq!(hook["alerts"][0]["startsAt"], "2023-11-14T22:13:20Z");
    assert_eq!(hook["alerts"][0]["endsAt"], "2023-11-14T22:14:20Z");
    assert_eq!(hook["alerts"][1]["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(
        hook["alerts"][1]["generatorURL"],
        "http://weir.example/alerts/r"
    );

    let slack = n.slack(Some("#ops"));
    assert_eq!(slack["text"], "[FIRING:1] Slow");
    assert_eq!(slack["channel"], "#ops");
    let blocks = slack["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    let lines = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(
        lines.contains("service=checkout, team=web: checkout is slow"),
        "{lines}"
    );
    assert!(
        lines.contains("<http://weir.example/alerts/r|Open the rule>"),
        "{lines}"
    );
    assert_eq!(blocks[2]["type"], "image");
    assert_eq!(
        blocks[2]["image_url"],
        "http://weir.example/api/v1/dashboards/demo/panels/3/render.png?from=now-1h&to=now"
    );

    let am = n.alertmanager(1_700_000_100_000_000, deliver::ALERTMANAGER_VALID_FOR);
    assert_eq!(
        am[0]["endsAt"], "2023-11-14T22:14:20Z",
        "resolved: when it resolved"
    );
    assert_eq!(
        am[1]["endsAt"], "2023-11-14T22:19:00Z",
        "firing: valid for 4 minutes"
    );
    assert!(am[0].get("status").is_none());
}

#[test]
fn mute_time_intervals_hold_in_utc() {
    let r = routing(json!({
        "time_intervals": [{"name": "nights", "times": [{"start": "22:00", "end": "06:00"}],
                            "weekdays": ["tuesday"]}]
    }));
    let at = |text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_micros()
    };
    let nights = ["nights".to_owned()];
    // 2026-12-01 is a Tuesday.
    assert!(r.muted(&nights, at("2026-12-01T23:30:00Z")));
    assert!(r.muted(&nights, at("2026-12-01T05:59:00Z")));
    assert!(!r.muted(&nights, at("2026-12-01T06:00:00Z")));
    assert!(!r.muted(&nights, at("2026-12-02T23:30:00Z")), "Wednesday");
    assert!(!r.muted(&[], at("2026-12-01T23:30:00Z")));
}
