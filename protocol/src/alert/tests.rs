//! Rules, contact points and policies as documents: defaults, checks, durations, matching.

use serde_json::json;

use super::*;

fn rule(value: serde_json::Value) -> Rule {
    serde_json::from_value(value).unwrap()
}

#[test]
fn a_rule_reads_with_defaults() {
    let r = rule(json!({"uid": "r1", "title": "Errors", "sql": "SELECT 1"}));
    assert_eq!(r.pending_micros(), 0);
    assert_eq!(r.no_data, NoDataPolicy::NoData);
    assert_eq!(r.on_error, ErrorPolicy::Error);
    assert!(r.check().is_ok());
    let r = rule(json!({
        "uid": "r1", "title": "Errors", "sql": "SELECT 1", "for": "1m30s",
        "no_data": "OK", "on_error": "KeepLast",
        "condition": {"column": "ratio", "op": ">=", "threshold": 0.02}
    }));
    assert_eq!(r.pending_micros(), 90_000_000);
    assert_eq!(r.no_data, NoDataPolicy::Ok);
    assert!(r.condition.as_ref().unwrap().holds(0.02));
    assert!(!r.condition.as_ref().unwrap().holds(0.01));
}

#[test]
fn checks_name_the_bad_field() {
    let base = json!({"uid": "r1", "title": "Errors", "sql": "SELECT 1"});
    let with = |key: &str, value: serde_json::Value| {
        let mut doc = base.clone();
        doc[key] = value;
        rule(doc).check().unwrap_err().pointer
    };
    assert_eq!(with("for", json!("-5m")), "/for");
    assert_eq!(
        with("keep_firing_for", json!("5 minutes")),
        "/keep_firing_for"
    );
    assert_eq!(with("uid", json!("Bad Uid")), "/uid");
    assert_eq!(
        with("annotations", json!({"summary": "{{ $valu }}"})),
        "/annotations/summary"
    );
    assert_eq!(with("labels", json!({"bad-name": "x"})), "/labels/bad-name");
    assert_eq!(with("title", json!("  ")), "/title");
}

#[test]
fn durations_read_as_prometheus_writes_them() {
    assert_eq!(parse_duration("0"), Ok(0));
    assert_eq!(parse_duration("0s"), Ok(0));
    assert_eq!(parse_duration("250ms"), Ok(250_000));
    assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000));
    assert_eq!(parse_duration("7d"), Ok(604_800_000_000));
    for bad in ["", "-1s", "5", "5 m", "1.5h", "m", "99999999999999999999s"] {
        assert!(parse_duration(bad).is_err(), "{bad}");
    }
}

#[test]
fn contact_points_refuse_other_schemes() {
    let cp: ContactPoint = serde_json::from_value(json!({
        "uid": "ops", "name": "Ops", "type": "webhook", "url": "file:///etc/passwd"
    }))
    .unwrap();
    let err = cp.check().unwrap_err();
    assert_eq!(err.pointer, "/url");
    assert!(err.message.contains("file://"), "{err}");
    let cp: ContactPoint = serde_json::from_value(json!({
        "uid": "ops", "name": "Ops", "type": "slack", "url": "https://hooks.example/x"
    }))
    .unwrap();
    assert!(cp.check().is_ok());
    assert!(cp.send_resolved);
    assert!(check_http_url("http://").is_err());
    assert!(check_http_url("localhost:9093").is_err());
}

#[test]
fn a_policy_names_what_exists() {
    let policy: Policy = serde_json::from_value(json!({
        "receiver": "ops",
        "routes": [{"matchers": [{"name": "severity", "op": "=", "value": "critical"}],
                    "receiver": "pager", "mute_time_intervals": ["nights"]}],
        "time_intervals": [{"name": "nights", "times": [{"start": "22:00", "end": "06:00"}]}]
    }))
    .unwrap();
    assert_eq!(policy.group_wait, "30s");
    assert!(policy.check(&|uid| uid == "ops" || uid == "pager").is_ok());
    assert_eq!(
        policy.check(&|uid| uid == "ops").unwrap_err().pointer,
        "/routes/0/receiver"
    );
    let nights = &policy.time_intervals[0];
    assert!(nights.contains(0, 23 * 60));
    assert!(nights.contains(3, 5 * 60 + 59));
    assert!(!nights.contains(3, 6 * 60));
    assert!(!nights.contains(3, 12 * 60));
}

#[test]
fn fingerprints_follow_labels() {
    let a: BTreeMap<String, String> = [("a".into(), "1".into()), ("b".into(), "2".into())].into();
    let b: BTreeMap<String, String> = [("a".into(), "12".into())].into();
    let c: BTreeMap<String, String> = [("a1".into(), "2".into())].into();
    assert_eq!(fingerprint(&a), fingerprint(&a.clone()));
    assert_ne!(fingerprint(&b), fingerprint(&c));
    assert_eq!(fingerprint(&a).len(), 16);
}

#[test]
fn matchers_read_in_alertmanager_text_form() {
    let m = Matcher::parse(r#"service="check\"out""#).unwrap();
    assert_eq!(
        (m.name.as_str(), m.op, m.value.as_str()),
        ("service", MatchOp::Equal, "check\"out")
    );
    let m = Matcher::parse("env =~ prod.*").unwrap();
    assert_eq!((m.op, m.value.as_str()), (MatchOp::Regex, "prod.*"));
    assert_eq!(Matcher::parse("code!=200").unwrap().op, MatchOp::NotEqual);
    assert_eq!(Matcher::parse("code!~5..").unwrap().op, MatchOp::NotRegex);
    // What Display writes reads back.
    let m = Matcher::parse(r#"a="x y""#).unwrap();
    assert_eq!(Matcher::parse(&m.to_string()).unwrap(), m);
    assert!(
        Matcher::parse("service")
            .unwrap_err()
            .contains("not a matcher")
    );
    assert!(Matcher::parse("1x=2").unwrap_err().contains("label name"));
}

#[test]
fn a_silence_view_reads_back() {
    let view = SilenceView {
        silence: Silence {
            id: "s1".into(),
            matchers: vec![Matcher::parse("service=api").unwrap()],
            starts_at: None,
            ends_at: "2026-01-01T00:00:00Z".into(),
            comment: String::new(),
            created_by: String::new(),
        },
        state: "active".into(),
    };
    let text = serde_json::to_string(&view).unwrap();
    assert_eq!(serde_json::from_str::<SilenceView>(&text).unwrap(), view);
}
