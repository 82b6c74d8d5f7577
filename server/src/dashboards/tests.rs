//! Dashboard documents against the schema in docs/, and provisioning files with their problems.

use serde_json::json;

use super::provision;

fn document() -> serde_json::Value {
    json!({
        "uid": "web",
        "title": "Web services",
        "tags": ["demo"],
        "time": {"from": "now-1h", "to": "now"},
        "variables": [{"name": "service", "type": "custom", "options": ["api", "web"], "multi": true}],
        "panels": [{
            "id": 1, "title": "Requests", "type": "timeseries",
            "sql": "SELECT $__timeGroup(_time) AS t, count(*) FROM demo_http WHERE $__timeFilter(_time) GROUP BY 1",
            "grid": {"x": 0, "y": 0, "w": 12, "h": 8},
            "options": {"unit": "reqps", "thresholds": [{"value": null, "color": "green"}, {"value": 80, "color": "#e02f44"}]}
        }]
    })
}

#[test]
fn a_good_document_parses() {
    let d = super::parse(&document()).unwrap();
    assert_eq!(d.panels[0].options.thresholds.len(), 2);
    assert_eq!(d.version, 0);
}

#[test]
fn a_bad_document_gets_a_pointer_to_the_bad_part() {
    let cases = [
        ("/panels/0/grid/w", json!(30)),
        ("/panels/0/type", json!("pie")),
        ("/uid", json!("Not A Uid")),
        (
            "/panels/0/options/thresholds/1/color",
            json!("red; background: url(x)"),
        ),
        ("/variables/0/type", json!("list")),
    ];
    for (pointer, bad) in cases {
        let mut doc = document();
        *doc.pointer_mut(pointer).unwrap() = bad;
        let problem = super::parse(&doc).unwrap_err();
        assert_eq!(problem.pointer, pointer, "{problem}");
    }
    // Unknown properties are refused where they are.
    let mut doc = document();
    doc["panels"][0]["colour"] = json!("red");
    let problem = super::parse(&doc).unwrap_err();
    assert_eq!(problem.pointer, "/panels/0");
    assert!(problem.message.contains("colour"), "{problem}");
    // The model's rules beyond the schema.
    let mut doc = document();
    doc["panels"][0]["grid"]["x"] = json!(20);
    assert_eq!(super::parse(&doc).unwrap_err().pointer, "/panels/0/grid");
    // A missing property: the object that lacks it.
    let mut doc = document();
    doc["panels"][0].as_object_mut().unwrap().remove("sql");
    let problem = super::parse(&doc).unwrap_err();
    assert_eq!(problem.pointer, "/panels/0");
    assert!(problem.message.contains("sql"), "{problem}");
}

#[test]
fn a_directory_loads_what_it_can_and_says_where_the_rest_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.json"),
        serde_json::to_string_pretty(&document()).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        "uid: ops\ntitle: Ops\npanels:\n  - id: 1\n    title: Errors\n    type: stat\n    sql: SELECT 1\n    grid: {x: 0, y: 0, w: 30, h: 4}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("c.yml"), "uid: broken\ntitle: [oops\n").unwrap();
    std::fs::write(
        dir.path().join("d.json"),
        r#"{"uid": "web", "title": "Twin"}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a dashboard").unwrap();

    let p = provision::load(dir.path());
    assert_eq!(p.dashboards.keys().collect::<Vec<_>>(), ["web"]);
    let by_file = |name: &str| {
        p.problems
            .iter()
            .find(|x| x.file.ends_with(name))
            .unwrap_or_else(|| panic!("no problem for {name}: {:?}", p.problems))
    };
    let b = by_file("b.yaml");
    assert_eq!((b.line, b.column), (8, 24), "{b:?}");
    assert!(b.message.starts_with("/panels/0/grid/w:"), "{b:?}");
    let c = by_file("c.yml");
    assert!(c.line >= 2 && c.message.starts_with("not YAML"), "{c:?}");
    let d = by_file("d.json");
    assert!(d.message.contains("also the uid of"), "{d:?}");
    assert_eq!(p.problems.len(), 3);
}
