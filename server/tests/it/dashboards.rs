//! `/api/v1/dashboards` on the real binary: create, read, versions, stale saves, diff, restore,
//! delete; provisioning from a directory that changes under the running server; export and import
//! with the command line.

use std::time::Duration;

use e2e::{WeirProcess, wait_until};
use serde_json::{Value, json};

use crate::start;

fn document(uid: &str, title: &str) -> Value {
    json!({
        "uid": uid,
        "title": title,
        "tags": ["web", "demo"],
        "time": {"from": "now-1h", "to": "now"},
        "variables": [{"name": "service", "type": "custom", "options": ["api", "web"]}],
        "panels": [{
            "id": 1, "title": "Requests", "type": "timeseries",
            "sql": "SELECT $__timeGroup(_time) AS t, count(*) AS n FROM demo_http WHERE $__timeFilter(_time) AND service = $service GROUP BY 1",
            "grid": {"x": 0, "y": 0, "w": 12, "h": 8}
        }]
    })
}

async fn send(
    weir: &WeirProcess,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, weir.url(path));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_string());
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn get(weir: &WeirProcess, path: &str) -> (u16, Value) {
    send(weir, reqwest::Method::GET, path, None).await
}

#[tokio::test]
async fn dashboards_are_versioned_and_a_stale_save_is_refused() {
    use reqwest::Method;
    let weir = start("dashboards_rest", &[]).await;
    let base = "/api/v1/dashboards";

    let (status, reply) = send(&weir, Method::POST, base, Some(document("web", "Web"))).await;
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply, json!({"uid": "web", "version": 1}));
    let (status, reply) = send(&weir, Method::POST, base, Some(document("web", "Again"))).await;
    assert_eq!(
        (status, reply["kind"].as_str()),
        (409, Some("conflict")),
        "{reply}"
    );
    send(
        &weir,
        Method::POST,
        base,
        Some(document("ops", "Operations")),
    )
    .await;

    // Invalid documents: 400 with a pointer to the bad part.
    let mut bad = document("bad", "Bad");
    bad["panels"][0]["grid"]["w"] = json!(48);
    let (status, reply) = send(&weir, Method::POST, base, Some(bad)).await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(reply["pointer"], "/panels/0/grid/w", "{reply}");
    assert_eq!(reply["kind"], "bad_request");
    let (status, reply) = send(&weir, Method::POST, base, Some(json!({"uid": "x"}))).await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("title"),
        "{reply}"
    );
    let response = reqwest::Client::new()
        .post(weir.url(base))
        .body("{\"uid\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let response = reqwest::Client::new()
        .post(weir.url(base))
        .body(vec![b' '; 5 << 20])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);

    let (status, reply) = get(&weir, "/api/v1/dashboards/web").await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["dashboard"]["version"], 1);
    assert_eq!(reply["dashboard"]["panels"][0]["grid"]["w"], 12);
    assert_eq!(get(&weir, "/api/v1/dashboards/nope").await.0, 404);

    // Two editors read version 1; the first save wins, the second is told and changes nothing.
    let mut first = reply["dashboard"].clone();
    let mut second = first.clone();
    first["title"] = json!("Web services");
    let (status, reply) = send(&weir, Method::PUT, "/api/v1/dashboards/web", Some(first)).await;
    assert_eq!((status, &reply["version"]), (200, &json!(2)), "{reply}");
    second["title"] = json!("Lost update");
    let (status, reply) = send(&weir, Method::PUT, "/api/v1/dashboards/web", Some(second)).await;
    assert_eq!(status, 409, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("version 2"),
        "{reply}"
    );
    assert_eq!(
        get(&weir, "/api/v1/dashboards/web").await.1["dashboard"]["title"],
        "Web services"
    );
    // The URL's uid is the document's.
    let (status, reply) = send(
        &weir,
        Method::PUT,
        "/api/v1/dashboards/ops",
        Some(document("web", "x")),
    )
    .await;
    assert_eq!(
        (status, reply["pointer"].as_str()),
        (400, Some("/uid")),
        "{reply}"
    );

    // Versions, a diff between two, and a restore as a new version.
    let (_, reply) = get(&weir, "/api/v1/dashboards/web/versions").await;
    let versions: Vec<u64> = reply["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1]);
    let (status, reply) = get(&weir, "/api/v1/dashboards/web/diff?from=1&to=2").await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["patch"],
        json!([{"op": "replace", "path": "/title", "value": "Web services"}])
    );
    let (status, reply) = send(
        &weir,
        Method::POST,
        "/api/v1/dashboards/web/versions/1/restore",
        Some(json!({"version": 1})),
    )
    .await;
    assert_eq!(status, 409, "restoring over a stale version: {reply}");
    let (status, reply) = send(
        &weir,
        Method::POST,
        "/api/v1/dashboards/web/versions/1/restore",
        Some(json!({"version": 2})),
    )
    .await;
    assert_eq!((status, &reply["version"]), (200, &json!(3)), "{reply}");
    let (_, reply) = get(&weir, "/api/v1/dashboards/web").await;
    assert_eq!(
        (
            reply["dashboard"]["title"].as_str(),
            reply["dashboard"]["version"].as_u64()
        ),
        (Some("Web"), Some(3))
    );
    assert_eq!(
        get(&weir, "/api/v1/dashboards/web/versions").await.1["versions"][0]["message"],
        "restored version 1"
    );

    // The list: search and tags.
    let (_, reply) = get(&weir, "/api/v1/dashboards").await;
    let uids = |reply: &Value| -> Vec<String> {
        reply["dashboards"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["uid"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(uids(&reply), ["ops", "web"]);
    assert_eq!(
        uids(&get(&weir, "/api/v1/dashboards?search=OPERAT").await.1),
        ["ops"]
    );
    assert_eq!(
        uids(&get(&weir, "/api/v1/dashboards?tag=web&tag=demo").await.1),
        ["ops", "web"]
    );
    assert!(uids(&get(&weir, "/api/v1/dashboards?tag=web&tag=prod").await.1).is_empty());

    let (status, _) = send(&weir, Method::DELETE, "/api/v1/dashboards/web", None).await;
    assert_eq!(status, 204);
    assert_eq!(get(&weir, "/api/v1/dashboards/web").await.0, 404);
    assert_eq!(
        send(&weir, Method::DELETE, "/api/v1/dashboards/web", None)
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn of_concurrent_saves_over_http_exactly_one_wins() {
    let weir = start("dashboards_concurrent", &[]).await;
    send(
        &weir,
        reqwest::Method::POST,
        "/api/v1/dashboards",
        Some(document("web", "Web")),
    )
    .await;
    let mut saves = Vec::new();
    for i in 0..8 {
        let url = weir.url("/api/v1/dashboards/web");
        let mut doc = document("web", &format!("editor {i}"));
        doc["version"] = json!(1);
        saves.push(tokio::spawn(async move {
            reqwest::Client::new()
                .put(url)
                .body(doc.to_string())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for save in saves {
        statuses.push(save.await.unwrap());
    }
    statuses.sort();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409]);
}

fn titles(reply: &Value) -> Vec<(String, String)> {
    reply["dashboards"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["uid"].as_str().unwrap().to_string(),
                d["title"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn provisioned_dashboards_reload_and_a_bad_file_is_reported_alone() {
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path();
    std::fs::write(
        files.join("web.json"),
        serde_json::to_string_pretty(&document("web", "Web")).unwrap(),
    )
    .unwrap();
    std::fs::write(
        files.join("ops.yaml"),
        "uid: ops\ntitle: Ops\npanels:\n  - id: 1\n    title: Errors\n    type: gauge\n    sql: SELECT 1\n    grid: {x: 0, y: 0, w: 6, h: 40000}\n",
    )
    .unwrap();
    let weir = start(
        "dashboards_provisioned",
        &["--dashboards", files.to_str().unwrap()],
    )
    .await;

    let (_, reply) = get(&weir, "/api/v1/dashboards").await;
    assert_eq!(titles(&reply), [("web".into(), "Web".into())]);
    assert!(
        reply["dashboards"][0]["provisioned"]
            .as_str()
            .unwrap()
            .ends_with("web.json")
    );
    let problem = &reply["problems"][0];
    assert!(
        problem["file"].as_str().unwrap().ends_with("ops.yaml"),
        "{reply}"
    );
    assert_eq!(
        (problem["line"].as_u64(), problem["column"].as_u64()),
        (Some(8), Some(30)),
        "{reply}"
    );
    assert!(
        problem["message"]
            .as_str()
            .unwrap()
            .starts_with("/panels/0/grid/h"),
        "{reply}"
    );
    assert!(
        weir.log_tail().contains("ops.yaml"),
        "the log names the bad file"
    );

    // Read-only here.
    let mut edit = get(&weir, "/api/v1/dashboards/web").await.1["dashboard"].clone();
    edit["title"] = json!("Edited");
    let (status, reply) = send(
        &weir,
        reqwest::Method::PUT,
        "/api/v1/dashboards/web",
        Some(edit),
    )
    .await;
    assert_eq!(status, 400, "{reply}");
    assert!(
        reply["error"].as_str().unwrap().contains("provisioned"),
        "{reply}"
    );
    let (status, _) = send(
        &weir,
        reqwest::Method::POST,
        "/api/v1/dashboards",
        Some(document("web", "Shadow")),
    )
    .await;
    assert_eq!(status, 409);

    // Fixing the bad file, changing the good one and adding one: seen without a restart.
    std::fs::write(
        files.join("ops.yaml"),
        "uid: ops\ntitle: Ops\npanels:\n  - id: 1\n    title: Errors\n    type: gauge\n    sql: SELECT 1\n    grid: {x: 0, y: 0, w: 6, h: 4}\n",
    )
    .unwrap();
    std::fs::write(
        files.join("web.json"),
        serde_json::to_string(&document("web", "Web, renamed")).unwrap(),
    )
    .unwrap();
    std::fs::write(
        files.join("db.json"),
        document("db", "Database").to_string(),
    )
    .unwrap();
    let expected: Vec<(String, String)> = vec![
        ("db".into(), "Database".into()),
        ("ops".into(), "Ops".into()),
        ("web".into(), "Web, renamed".into()),
    ];
    wait_until(
        Duration::from_secs(10),
        "the reloaded dashboards",
        || async {
            let (_, reply) = get(&weir, "/api/v1/dashboards").await;
            Ok((titles(&reply) == expected && reply["problems"] == json!([])).then_some(()))
        },
    )
    .await
    .unwrap();

    // A removed file takes its dashboard away; breaking one keeps the others.
    std::fs::remove_file(files.join("db.json")).unwrap();
    std::fs::write(files.join("web.json"), "{\"uid\": \"web\",\n  \"title\": }").unwrap();
    wait_until(
        Duration::from_secs(10),
        "the dashboards after a removal",
        || async {
            let (_, reply) = get(&weir, "/api/v1/dashboards").await;
            let problems = reply["problems"].as_array().unwrap().clone();
            Ok((titles(&reply) == [("ops".to_string(), "Ops".to_string())]
                && problems.len() == 1
                && problems[0]["line"] == 2)
                .then_some(()))
        },
    )
    .await
    .unwrap();
    assert_eq!(get(&weir, "/api/v1/dashboards/db").await.0, 404);
}

#[tokio::test]
async fn export_then_import_round_trips() {
    let weir = start("dashboards_export", &[]).await;
    for (uid, title) in [("web", "Web"), ("ops", "Operations")] {
        let (status, _) = send(
            &weir,
            reqwest::Method::POST,
            "/api/v1/dashboards",
            Some(document(uid, title)),
        )
        .await;
        assert_eq!(status, 201);
    }
    let weir_cli = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_weir"))
            .args(args)
            .output()
            .expect("running weir");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let out = tempfile::tempdir().unwrap();
    let data = weir.data_dir().to_str().unwrap().to_string();
    // Exported while the server runs (SQLite lets the two share the file).
    let (code, text) = weir_cli(&[
        "dashboards",
        "export",
        out.path().to_str().unwrap(),
        "--data-dir",
        &data,
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("exported 2 dashboards"), "{text}");

    let fresh = tempfile::tempdir().unwrap();
    let fresh_data = fresh.path().to_str().unwrap();
    let (code, text) = weir_cli(&[
        "dashboards",
        "import",
        out.path().to_str().unwrap(),
        "--data-dir",
        fresh_data,
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("2 created, 0 updated, 0 unchanged"), "{text}");
    let again = tempfile::tempdir().unwrap();
    let (code, text) = weir_cli(&[
        "dashboards",
        "export",
        again.path().to_str().unwrap(),
        "--data-dir",
        fresh_data,
    ]);
    assert_eq!(code, Some(0), "{text}");
    for uid in ["web", "ops"] {
        let name = format!("{uid}.json");
        let first = std::fs::read_to_string(out.path().join(&name)).unwrap();
        let second = std::fs::read_to_string(again.path().join(&name)).unwrap();
        assert_eq!(first, second, "{name}");
    }
    // Importing the same files again saves nothing; a changed file is a new version; a bad one
    // is reported with its place and fails the command, the rest still saved.
    let (code, text) = weir_cli(&[
        "dashboards",
        "import",
        out.path().to_str().unwrap(),
        "--data-dir",
        fresh_data,
    ]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("0 created, 0 updated, 2 unchanged"), "{text}");
    std::fs::write(
        out.path().join("web.json"),
        document("web", "Web v2").to_string(),
    )
    .unwrap();
    std::fs::write(out.path().join("zz.yaml"), "uid: zz\ntitle: Z\nbogus: 1\n").unwrap();
    let (code, text) = weir_cli(&[
        "dashboards",
        "import",
        out.path().to_str().unwrap(),
        "--data-dir",
        fresh_data,
    ]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains("zz.yaml:1:1:"), "{text}");
    assert!(
        text.contains("0 created, 1 updated, 1 unchanged, 1 not loaded"),
        "{text}"
    );
}

#[tokio::test]
async fn the_demo_makes_its_dashboard_with_a_day_of_history_and_every_panel_runs() {
    use std::collections::BTreeMap;

    use protocol::dashboard::{Scope, TimeRange, VariableValue, substitute};

    let weir = start("dashboards_demo", &["--demo", "--demo-rate", "200"]).await;
    let (status, reply) = get(&weir, "/api/v1/dashboards/web-services").await;
    assert_eq!(status, 200, "{reply}");
    let dashboard: protocol::dashboard::Dashboard =
        serde_json::from_value(reply["dashboard"].clone()).unwrap();
    // A day of history, back-dated, and the incidents announced in it.
    wait_until(Duration::from_secs(60), "a day of demo history", || async {
        let (_, reply) = crate::query(
            &weir,
            "SELECT count(*) FROM demo_http WHERE _time < now() - INTERVAL '23 hours'",
        )
        .await;
        let (_, incidents) = crate::query(
            &weir,
            "SELECT count(*) FROM demo_incidents WHERE kind = 'errors'",
        )
        .await;
        Ok((reply["rows"][0][0].as_u64().unwrap_or(0) > 1000
            && incidents["rows"][0][0].as_u64().unwrap_or(0) > 100)
            .then_some(()))
    })
    .await
    .unwrap();
    // Every panel's and annotation's SQL, substituted for the last day with every service and
    // region, plans and runs. (A day: the history is written oldest first, over seconds, and the
    // live traffic of the first seconds may hold no 5xx of these services.)
    let variables: BTreeMap<String, VariableValue> = [
        ("service", vec!["frontend", "catalog", "search"]),
        ("region", vec!["us-east-1", "eu-west-1"]),
    ]
    .into_iter()
    .map(|(k, v)| {
        (
            k.to_string(),
            VariableValue::List(v.into_iter().map(String::from).collect()),
        )
    })
    .collect();
    let range = TimeRange::parse("now-24h", "now").unwrap();
    let scope = Scope {
        variables: &variables,
        range,
        interval: range.interval(0, 700),
    };
    // (Annotations run too, but their incidents may not be written yet.)
    for annotation in &dashboard.annotations {
        let sql = substitute(&annotation.sql, &scope).unwrap();
        let (status, reply) = crate::query(&weir, &sql).await;
        assert_eq!(status, 200, "{}: {sql}\n{reply}", annotation.name);
    }
    let queries = dashboard
        .panels
        .iter()
        .map(|p| (p.title.clone(), p.sql.clone()))
        .chain(
            dashboard
                .variables
                .iter()
                .map(|v| (v.name.clone(), v.query.clone().unwrap_or_default())),
        );
    for (title, sql) in queries {
        let sql = substitute(&sql, &scope).unwrap_or_else(|e| panic!("{title}: {e}"));
        let (status, reply) = crate::query(&weir, &sql).await;
        assert_eq!(status, 200, "{title}: {sql}\n{reply}");
        assert!(
            !reply["rows"].as_array().unwrap().is_empty(),
            "{title} has rows: {sql}"
        );
    }
}

/// A dashboard page renders on the server with every panel's data; when its client leaves
/// before it is done, the page's queries stop (they run in tasks the renderer spawns, not in
/// the request) instead of burning the cores to the end.
#[tokio::test]
async fn a_page_whose_client_left_stops_its_queries() {
    let weir = start("page_client_left", &[]).await;
    // A query that would run for hours.
    let slow = json!({
        "uid": "slow", "title": "Slow",
        "panels": [{
            "id": 1, "title": "count", "type": "stat",
            "sql": "SELECT count(*) AS n FROM generate_series(1, 100000000000) AS t(v) WHERE v % 7 = 3",
            "grid": {"x": 0, "y": 0, "w": 12, "h": 8}
        }]
    });
    let (status, reply) = crate::post(
        &weir,
        "/api/v1/dashboards",
        "application/json",
        slow.to_string(),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let gone = reqwest::Client::new()
        .get(weir.url("/dashboards/slow"))
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    assert!(gone.is_err(), "the page cannot have rendered in a second");
    wait_until(
        Duration::from_secs(20),
        "the page's query to stop",
        || async {
            Ok(weir
                .log_tail()
                .contains("a page's query stopped: its request ended first")
                .then_some(()))
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e:#}\n{}", weir.log_tail()));
    // The server answers as before.
    let (status, reply) = crate::post(
        &weir,
        "/api/v1/query",
        "application/json",
        json!({"sql": "SELECT 1 AS one"}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{reply}");
}
