//! A rule's instances from results: labels, conditions, rows leaving, no data, errors.

use protocol::Column;
use serde_json::json;

use super::*;

fn rule(extra: serde_json::Value) -> Arc<Rule> {
    let mut doc = json!({"uid": "errors", "title": "High errors", "sql": "SELECT 1"});
    for (k, v) in extra.as_object().unwrap() {
        doc[k] = v.clone();
    }
    Arc::new(serde_json::from_value(doc).unwrap())
}

fn shape() -> Shape {
    Shape {
        columns: vec![
            Column {
                name: "service".into(),
                data_type: "Utf8".into(),
            },
            Column {
                name: "ratio".into(),
                data_type: "Float64".into(),
            },
        ],
        key: Some(vec![0]),
        order: Vec::new(),
    }
}

fn moves(list: &[Transition]) -> Vec<(String, State, State, i64)> {
    list.iter()
        .map(|t| {
            let who = t.labels.get("service").cloned().unwrap_or_default();
            (who, t.from, t.to, t.time)
        })
        .collect()
}

fn s(text: &str) -> String {
    text.to_owned()
}

#[test]
fn rows_are_instances_held_to_the_condition() {
    let rule = rule(json!({
        "condition": {"column": "ratio", "op": ">", "threshold": 0.02},
        "labels": {"team": "web"}, "severity": "critical",
        "annotations": {"summary": "{{ $labels.service }} at {{ humanizePercentage $value }}"}
    }));
    let mut eval = RuleEval::new(rule);
    let shape = shape();
    eval.set_shape(&shape);
    let out = eval.replace(
        &[
            vec![json!("checkout"), json!(0.05)],
            vec![json!("web"), json!(0.01)],
        ],
        &shape,
        10,
    );
    assert_eq!(
        moves(&out),
        [(s("checkout"), State::Normal, State::Firing, 10)]
    );
    assert_eq!(out[0].reason, "ratio = 0.05 > 0.02");
    assert_eq!(out[0].fired_at, Some(10));
    let labels = &out[0].labels;
    assert_eq!(labels["alertname"], "High errors");
    assert_eq!(labels["severity"], "critical");
    assert_eq!(labels["team"], "web");
    assert_eq!(labels.len(), 4, "{labels:?}");
    let listed = eval.list();
    assert_eq!(listed.len(), 2, "the Normal row is listed too");
    let web = listed.iter().find(|i| i.state == State::Normal).unwrap();
    assert_eq!(web.reason, "ratio = 0.01, not > 0.02");
    let checkout = listed.iter().find(|i| i.state == State::Firing).unwrap();
    assert_eq!(checkout.annotations["summary"], "checkout at 5%");

    // A delta: checkout recovers, web crosses.
    let out = eval.apply_delta(
        &[
            vec![json!("checkout"), json!(0.01)],
            vec![json!("web"), json!(0.5)],
        ],
        &[],
        &shape,
        20,
    );
    assert_eq!(
        moves(&out),
        [
            (s("checkout"), State::Firing, State::Normal, 20),
            (s("web"), State::Normal, State::Firing, 20)
        ]
    );
    assert_eq!(out[0].fired_at, Some(10), "a resolve keeps when it fired");
    // web's row leaves the result (its window passed): it resolves and is forgotten.
    let out = eval.apply_delta(&[], &[vec![json!("web")]], &shape, 30);
    assert_eq!(moves(&out), [(s("web"), State::Firing, State::Normal, 30)]);
    assert_eq!(eval.list().len(), 1);
}

#[test]
fn an_empty_result_is_no_data_and_errors_are_the_rules() {
    let rule = rule(json!({"condition": {"column": "ratio", "op": ">", "threshold": 1}}));
    let mut eval = RuleEval::new(rule);
    let shape = shape();
    eval.set_shape(&shape);
    let out = eval.replace(&[], &shape, 5);
    assert_eq!(moves(&out), [(s(""), State::Normal, State::NoData, 5)]);
    assert_eq!(
        out[0].labels.len(),
        1,
        "the rule-level instance: alertname only"
    );
    let out = eval.replace(&[vec![json!("a"), json!(0.5)]], &shape, 6);
    assert_eq!(moves(&out), [(s(""), State::NoData, State::Normal, 6)]);
    let out = eval.error("boom", 7);
    assert_eq!(moves(&out), [(s(""), State::Normal, State::Error, 7)]);
    assert!(out[0].reason.contains("boom"));
    let out = eval.replace(&[vec![json!("a"), json!(0.5)]], &shape, 8);
    assert_eq!(moves(&out), [(s(""), State::Error, State::Normal, 8)]);
}

#[test]
fn without_a_condition_every_row_alerts_and_for_waits() {
    let rule = rule(json!({"for": "1m"}));
    let mut eval = RuleEval::new(rule);
    let shape = shape();
    eval.set_shape(&shape);
    let out = eval.replace(&[vec![json!("a"), json!(3)]], &shape, 0);
    assert_eq!(moves(&out), [(s("a"), State::Normal, State::Pending, 0)]);
    assert_eq!(eval.deadline(), Some(60_000_000));
    assert!(eval.tick(59_999_999).is_empty());
    let out = eval.tick(61_000_000);
    assert_eq!(
        moves(&out),
        [(s("a"), State::Pending, State::Firing, 60_000_000)]
    );
    assert_eq!(
        eval.list()[0].value,
        Some(3.0),
        "the first numeric column is the value"
    );
    // An empty result without a condition is not "no data": the row left.
    let out = eval.replace(&[], &shape, 70_000_000);
    assert_eq!(
        moves(&out),
        [(s("a"), State::Firing, State::Normal, 70_000_000)]
    );
    assert!(eval.list().is_empty());
}

#[test]
fn restored_instances_the_result_lacks_resolve() {
    let rule = rule(json!({}));
    let mut eval = RuleEval::new(Arc::clone(&rule));
    let labels: BTreeMap<String, String> = [
        ("alertname".to_owned(), "High errors".to_owned()),
        ("service".to_owned(), "gone".to_owned()),
    ]
    .into();
    let machine = Machine {
        state: State::Firing,
        since: 1,
        fired_at: Some(1),
        reason: String::new(),
    };
    eval.restore(labels, machine, Some(1.0));
    let shape = shape();
    eval.set_shape(&shape);
    let out = eval.replace(&[vec![json!("here"), json!(1)]], &shape, 9);
    let mut got = moves(&out);
    got.sort();
    assert_eq!(
        got,
        [
            (s("gone"), State::Firing, State::Normal, 9),
            (s("here"), State::Normal, State::Firing, 9)
        ]
    );
    let out = eval.resolve_all("paused", 10);
    assert_eq!(moves(&out), [(s("here"), State::Firing, State::Normal, 10)]);
}
