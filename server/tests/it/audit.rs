//! The audit trail against the real binary: logins (and failed ones), logouts, tokens, users,
//! dashboards, alert rules, contact points, the policy and silences land in `_audit` with who,
//! how, from where and what; only admins read it (query, streams, `system` tables, live
//! subscriptions and tails); no one writes to it; contact points' secrets are hidden from
//! viewers; and no password, token or webhook secret is in the trail, the server's log (at
//! debug) or any answer.

use std::path::Path;

use e2e::WeirProcess;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::access::{add_user, basic, bearer, client, data_dir};
use super::alerts::latency_rule;
use super::live::{next_frame, send as send_frame};

const WRONG_PASSWORD: &str = "wrong-pass-51e0";
const NEW_PASSWORD: &str = "new-user-pass-3b7e";
const CHANGED_PASSWORD: &str = "changed-pass-8c1d";
const HMAC_SECRET: &str = "hmac-secret-2a9f";
const HEADER_SECRET: &str = "hdr-secret-6d0b";
const SLACK_SECRET: &str = "slack-secret-4e8a";

/// Sends requests and keeps every answer, to look for secrets in them at the end.
struct Session<'a> {
    weir: &'a WeirProcess,
    answers: Vec<String>,
}

impl Session<'_> {
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        authorization: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = client()
            .request(method, self.weir.url(path))
            .header("authorization", authorization);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        self.answers.push(text.clone());
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn ingest(&mut self, stream: &str, authorization: &str) -> (StatusCode, Value) {
        let response = client()
            .post(self.weir.url(&format!("/api/v1/streams/{stream}/events")))
            .header("authorization", authorization)
            .header("content-type", "application/x-ndjson")
            .body("{\"service\":\"api\",\"latency\":12}\n")
            .send()
            .await
            .expect("request");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        self.answers.push(text.clone());
        (status, serde_json::from_str(&text).unwrap_or(json!(text)))
    }

    async fn query(&mut self, sql: &str, authorization: &str) -> (StatusCode, Value) {
        let body = json!({ "sql": sql });
        self.send(Method::POST, "/api/v1/query", authorization, Some(body))
            .await
    }
}

fn basic_with(user: &str, password: &str) -> String {
    use base64::Engine;
    let pair = format!("{user}:{password}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// `columns` of every row of `_audit`, in order, as the admin reads them.
async fn trail(session: &mut Session<'_>) -> Vec<Vec<String>> {
    let sql = "SELECT actor, via, address, action, target, detail FROM _audit ORDER BY _time";
    let (status, reply) = session.query(sql, &basic("admin")).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    reply["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .collect()
}

#[tokio::test]
async fn the_audit_trail_records_who_did_what_for_admins_only_and_no_secret() {
    let data = data_dir("audit_trail");
    for (user, role) in [("admin", "admin"), ("eddie", "editor"), ("vera", "viewer")] {
        add_user(&data, user, role, &format!("{user}-pass-9d2c"));
    }
    let weir =
        WeirProcess::start_logging(Path::new(env!("CARGO_BIN_EXE_weir")), &data, &[], "debug")
            .await
            .expect("starting weir");
    let mut s = Session {
        weir: &weir,
        answers: Vec::new(),
    };
    let (admin, editor, viewer) = (basic("admin"), basic("eddie"), basic("vera"));
    let mut secrets: Vec<String> = [
        "admin-pass-9d2c",
        "eddie-pass-9d2c",
        "vera-pass-9d2c",
        WRONG_PASSWORD,
        NEW_PASSWORD,
        CHANGED_PASSWORD,
        HMAC_SECRET,
        HEADER_SECRET,
        SLACK_SECRET,
    ]
    .map(str::to_owned)
    .to_vec();

    // Logins: the login page's (JSON here) success and failure, and basic auth's failure.
    let login = |password: &str| json!({"name": "admin", "password": password});
    let response = client()
        .post(weir.url("/api/v1/auth/login"))
        .json(&login("admin-pass-9d2c"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    // A session id is not secret; the part after its dot is.
    secrets.push(cookie.split_once('.').unwrap().1.to_owned());
    let refused = client()
        .post(weir.url("/api/v1/auth/login"))
        .json(&login(WRONG_PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    s.answers.push(refused.text().await.unwrap());
    let (status, _) = s
        .send(
            Method::GET,
            "/api/v1/streams",
            &basic_with("vera", WRONG_PASSWORD),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A token: made, used, refused where it may not write, revoked, refused.
    let body = json!({"name": "shipper", "scopes": ["ingest"], "streams": "app*"});
    let (status, made) = s
        .send(Method::POST, "/api/v1/tokens", &admin, Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let (token_id, token) = (
        made["id"].as_str().unwrap().to_owned(),
        made["token"].as_str().unwrap().to_owned(),
    );
    // Its text was in that one answer, and must be nowhere else.
    s.answers.pop();
    secrets.push(token_secret(&token));
    assert_eq!(s.ingest("app", &bearer(&token)).await.0, StatusCode::OK);
    // No one writes to the trail: not the token, not an admin.
    for who in [bearer(&token), admin.clone()] {
        let (status, reply) = s.ingest("_audit", &who).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");
        assert!(
            reply["error"].as_str().unwrap().contains("audit trail"),
            "{reply}"
        );
    }
    let path = format!("/api/v1/tokens/{token_id}");
    assert_eq!(
        s.send(Method::DELETE, &path, &admin, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.ingest("app", &bearer(&token)).await.0,
        StatusCode::UNAUTHORIZED
    );

    // A user: added, changed (role and password), removed.
    let nina = json!({"name": "nina", "role": "viewer", "password": NEW_PASSWORD});
    let (status, reply) = s
        .send(Method::POST, "/api/v1/users", &admin, Some(nina))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let change = json!({"role": "editor", "password": CHANGED_PASSWORD});
    let (status, reply) = s
        .send(Method::PUT, "/api/v1/users/nina", &admin, Some(change))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{reply}");
    // A password too short is refused without being repeated.
    let short = json!({"password": "sh0rt"});
    let (status, reply) = s
        .send(Method::PUT, "/api/v1/users/nina", &admin, Some(short))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    secrets.push("sh0rt".to_owned());
    assert_eq!(
        s.send(Method::DELETE, "/api/v1/users/nina", &admin, None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );

    // An editor's dashboard, alert rule, contact points, policy and silence.
    let dashboard = json!({"uid": "ops", "title": "Operations", "panels": []});
    let (status, reply) = s
        .send(Method::POST, "/api/v1/dashboards", &editor, Some(dashboard))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let dashboard = json!({"uid": "ops", "title": "Operations", "version": 1, "panels": []});
    let (status, reply) = s
        .send(
            Method::PUT,
            "/api/v1/dashboards/ops?message=renamed",
            &editor,
            Some(dashboard),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(
        s.send(Method::DELETE, "/api/v1/dashboards/ops", &editor, None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let rule = latency_rule("slow", json!({}));
    let (status, reply) = s
        .send(Method::POST, "/api/v1/alerts/rules", &editor, Some(rule))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(
        s.send(Method::DELETE, "/api/v1/alerts/rules/slow", &editor, None)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    let hook = json!({"uid": "hook", "name": "Hook", "type": "webhook",
        "url": "http://127.0.0.1:9/in", "secret": HMAC_SECRET,
        "headers": {"Authorization": format!("Bearer {HEADER_SECRET}")}});
    let slack = json!({"uid": "chat", "name": "Chat", "type": "slack",
        "url": format!("https://hooks.slack.com/services/T0/B0/{SLACK_SECRET}")});
    for point in [hook, slack] {
        let (status, reply) = s
            .send(
                Method::POST,
                "/api/v1/alerts/contact-points",
                &editor,
                Some(point),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{reply}");
        // The editor who sent it gets it back whole.
        s.answers.pop();
    }
    // Those who may change a contact point see it whole; a viewer sees no secret of it.
    let (_, whole) = s
        .send(Method::GET, "/api/v1/alerts/contact-points", &editor, None)
        .await;
    assert!(whole.to_string().contains(HMAC_SECRET), "{whole}");
    s.answers.pop();
    let (status, shown) = s
        .send(Method::GET, "/api/v1/alerts/contact-points", &viewer, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown.as_array().unwrap().len(), 2, "{shown}");
    assert!(shown.to_string().contains("[redacted]"), "{shown}");
    let (status, _) = s
        .send(
            Method::GET,
            "/api/v1/alerts/contact-points/chat",
            &viewer,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let policy = json!({"receiver": "hook"});
    let (status, reply) = s
        .send(Method::PUT, "/api/v1/alerts/policy", &editor, Some(policy))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let silence = json!({"matchers": [{"name": "service", "op": "=", "value": "api"}],
        "ends_at": "2999-01-01T00:00:00Z", "comment": "deploying"});
    let (status, reply) = s
        .send(
            Method::POST,
            "/api/v1/alerts/silences",
            &editor,
            Some(silence),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let silence_id = reply["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/alerts/silences/{silence_id}");
    assert_eq!(
        s.send(Method::DELETE, &path, &editor, None).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        s.send(
            Method::DELETE,
            "/api/v1/alerts/contact-points/chat",
            &editor,
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );

    // The session's logout.
    let response = client()
        .post(weir.url("/api/v1/auth/logout"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);

    // Each action is there, in order, with who, how, from where and what.
    let rows = trail(&mut s).await;
    let local = "127.0.0.1";
    let expected: Vec<[&str; 5]> = vec![
        ["admin", "password", "login", "", ""],
        [
            "admin",
            "password",
            "login_failed",
            "",
            "wrong user name or password",
        ],
        [
            "vera",
            "password",
            "login_failed",
            "",
            "basic auth: wrong user name or password",
        ],
        [
            "admin",
            "password",
            "token_create",
            &token_id,
            "`shipper`, scopes ingest, streams `app*`",
        ],
        ["admin", "password", "token_revoke", &token_id, ""],
        ["admin", "password", "user_add", "nina", "role viewer"],
        [
            "admin",
            "password",
            "user_change",
            "nina",
            "role editor, password changed",
        ],
        ["admin", "password", "user_remove", "nina", ""],
        [
            "eddie",
            "password",
            "dashboard_save",
            "ops",
            "`Operations` version 1",
        ],
        [
            "eddie",
            "password",
            "dashboard_save",
            "ops",
            "`Operations` version 2: renamed",
        ],
        ["eddie", "password", "dashboard_delete", "ops", ""],
        [
            "eddie",
            "password",
            "alert_rule_save",
            "slow",
            "`Slow service` version 1",
        ],
        ["eddie", "password", "alert_rule_delete", "slow", ""],
        [
            "eddie",
            "password",
            "contact_point_save",
            "hook",
            "`Hook`, webhook",
        ],
        [
            "eddie",
            "password",
            "contact_point_save",
            "chat",
            "`Chat`, slack",
        ],
        [
            "eddie",
            "password",
            "policy_save",
            "",
            "receiver `hook`, 0 routes",
        ],
        [
            "eddie",
            "password",
            "silence_create",
            &silence_id,
            "{service=\"api\"} until 2999-01-01T00:00:00Z: deploying",
        ],
        ["eddie", "password", "silence_delete", &silence_id, ""],
        ["eddie", "password", "contact_point_delete", "chat", ""],
        ["admin", "session", "logout", "", ""],
    ];
    let got: Vec<[&str; 5]> = rows
        .iter()
        .map(|r| {
            assert_eq!(r[2], local, "{r:?}");
            [
                r[0].as_str(),
                r[1].as_str(),
                r[3].as_str(),
                r[4].as_str(),
                r[5].as_str(),
            ]
        })
        .collect();
    assert_eq!(got, expected);

    // Only admins read it: not a viewer, an editor, or a read token; an admin token does.
    let (_, read) = s
        .send(
            Method::POST,
            "/api/v1/tokens",
            &admin,
            Some(json!({"name": "reader", "scopes": ["read"]})),
        )
        .await;
    let (_, root) = s
        .send(
            Method::POST,
            "/api/v1/tokens",
            &admin,
            Some(json!({"name": "root", "scopes": ["admin"]})),
        )
        .await;
    s.answers.truncate(s.answers.len() - 2);
    let (read, root) = (
        read["token"].as_str().unwrap().to_owned(),
        root["token"].as_str().unwrap().to_owned(),
    );
    secrets.extend([token_secret(&read), token_secret(&root)]);
    for who in [viewer.clone(), editor.clone(), bearer(&read)] {
        let (status, reply) = s.query("SELECT count(*) FROM _audit", &who).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
        assert!(
            reply["error"]
                .as_str()
                .unwrap()
                .contains("the stream `_audit` is readable by admins only"),
            "{reply}"
        );
        let (_, listed) = s.send(Method::GET, "/api/v1/streams", &who, None).await;
        let names: Vec<&str> = listed["streams"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert!(
            names.contains(&"app") && !names.contains(&"_audit"),
            "{listed}"
        );
        let (status, _) = s
            .send(Method::GET, "/api/v1/streams/_audit", &who, None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (_, system) = s
            .query(
                "SELECT name FROM system.streams WHERE name LIKE '%audit'",
                &who,
            )
            .await;
        assert_eq!(system["rows"], json!([]), "{system}");
    }
    let (status, reply) = s
        .query("SELECT count(*) AS n FROM _audit", &bearer(&root))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    // The two tokens just made are in it too.
    assert_eq!(reply["rows"][0][0], json!(rows.len() + 2), "{reply}");
    let (_, system) = s
        .query(
            "SELECT name FROM system.streams WHERE name LIKE '%audit'",
            &admin,
        )
        .await;
    assert_eq!(system["rows"], json!([["_audit"]]), "{system}");

    // Nor over a live socket: a subscription or a tail of the trail is refused to a viewer.
    let mut socket = live_socket(&weir, &viewer).await;
    send_frame(
        &mut socket,
        json!({"type": "subscribe", "id": "q", "sql": "SELECT count(*) FROM _audit"}),
    )
    .await;
    send_frame(
        &mut socket,
        json!({"type": "tail", "id": "t", "stream": "_audit"}),
    )
    .await;
    let mut refused = Vec::new();
    while refused.len() < 2 {
        let frame = next_frame(&mut socket).await;
        assert_eq!(frame["type"], "error", "{frame}");
        assert!(
            frame["message"]
                .as_str()
                .unwrap()
                .contains("readable by admins only"),
            "{frame}"
        );
        refused.push(frame["id"].as_str().unwrap().to_owned());
    }
    refused.sort();
    assert_eq!(refused, ["q", "t"]);
    // An admin's socket subscribes.
    let mut socket = live_socket(&weir, &admin).await;
    send_frame(
        &mut socket,
        json!({"type": "subscribe", "id": "q", "sql": "SELECT count(*) AS n FROM _audit"}),
    )
    .await;
    let frame = next_frame(&mut socket).await;
    assert_eq!(frame["type"], "snapshot", "{frame}");

    // No secret anywhere: not in the trail, the server's log or any answer.
    let everything = format!(
        "{}\n{}\n{}",
        serde_json::to_string(&rows).unwrap(),
        weir.log(),
        s.answers.join("\n")
    );
    assert!(weir.log().contains("DEBUG"), "the log is at debug");
    for secret in &secrets {
        let at = everything.find(secret.as_str()).map(|i| {
            let line_start = everything[..i].rfind('\n').map_or(0, |n| n + 1);
            everything[line_start..]
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned()
        });
        assert!(
            at.is_none(),
            "a secret ({}…) was given away in {:?}",
            &secret[..4],
            at.map(|line| line.replace(secret.as_str(), "<SECRET>"))
        );
    }
}

/// The secret part of a token (`weir_<id>_<secret>`: the id is not secret).
fn token_secret(token: &str) -> String {
    let secret = token.rsplit('_').next().unwrap();
    assert_eq!(secret.len(), 64, "{token}");
    secret.to_owned()
}

async fn live_socket(weir: &WeirProcess, authorization: &str) -> super::live::Socket {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/api/v1/live", weir.addr())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", authorization.parse().unwrap());
    let (socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    socket
}
