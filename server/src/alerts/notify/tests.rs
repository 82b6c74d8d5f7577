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
