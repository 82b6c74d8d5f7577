//! Who may do what, against the real binary: every route's declared permission checked with no
//! credentials, a wrong-scope, an expired and a revoked token and the right one; roles by basic
//! auth and by session; logins and their backoff; CSRF from a foreign origin; ingest tokens
//! limited to streams; a revoked token's live socket closed; the refusal to serve beyond
//! loopback with no users.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{WeirProcess, test_dir, wait_until};
use futures::StreamExt;
use reqwest::header::{AUTHORIZATION, COOKIE, ORIGIN};
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const ADMIN_PASSWORD: &str = "admin-pass-9d2c";

pub(crate) fn add_user(data: &Path, name: &str, role: &str, password: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_weir"))
        .args(["user", "add", "--name", name, "--role", role, "--data-dir"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("weir runs");
    writeln!(child.stdin.take().expect("stdin"), "{password}").expect("stdin");
    assert!(child.wait().expect("weir exits").success());
}

/// A server with an admin, an editor and a viewer (passwords `<name>-pass-9d2c`).
pub(crate) async fn start_with_users(name: &str) -> WeirProcess {
    let data = data_dir(name);
    for (user, role) in [("admin", "admin"), ("eddie", "editor"), ("vera", "viewer")] {
        add_user(&data, user, role, &format!("{user}-pass-9d2c"));
    }
    WeirProcess::start(Path::new(env!("CARGO_BIN_EXE_weir")), &data, &[])
        .await
        .expect("starting weir")
}

pub(crate) fn data_dir(name: &str) -> PathBuf {
    test_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), name).join("data")
}

/// A client that does not follow redirects (a page's 303 to the login page is the answer).
pub(crate) fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

pub(crate) fn basic(user: &str) -> String {
    use base64::Engine;
    let pair = format!("{user}:{user}-pass-9d2c");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

pub(crate) async fn send(
    weir: &WeirProcess,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client().request(method, weir.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

pub(crate) async fn make_token(weir: &WeirProcess, body: Value) -> (String, String) {
    let (status, reply) = send(
        weir,
        Method::POST,
        "/api/v1/tokens",
        &[("authorization", &basic("admin"))],
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    (
        reply["id"].as_str().unwrap().to_owned(),
        reply["token"].as_str().unwrap().to_owned(),
    )
}

pub(crate) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// A path of the route table with its parameters filled in.
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|part| {
            if part.starts_with('{') {
                match part {
                    "{stream}" | "{index}" | "{name}" => "app_web",
                    "{version}" | "{id}" => "1",
                    _ => "no_such_thing",
                }
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_declares_a_permission_and_the_guard_applies_it() {
    let weir = start_with_users("access_every_route").await;
    let (status, table) = send(
        &weir,
        Method::GET,
        "/api/v1/auth/routes",
        &[("authorization", &basic("admin"))],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{table}");
    let routes = table["routes"].as_array().unwrap();
    let undeclared: Vec<&Value> = routes
        .iter()
        .filter(|r| r["permission"].is_null())
        .collect();
    assert!(
        undeclared.is_empty(),
        "routes without a permission: {undeclared:?}"
    );
    // All of them: the API, the pages and the server functions.
    for (method, path, permission) in [
        ("POST", "/api/v1/dashboards", "write"),
        ("GET", "/api/v1/live", "read"),
        ("POST", "/v1/logs", "ingest"),
        ("POST", "/api/v1/tokens", "admin"),
        ("GET", "/dashboards/{uid}", "read"),
        ("GET", "/alerts/new", "write"),
        ("GET", "/login", "public"),
    ] {
        assert!(
            routes.iter().any(|r| r["method"] == method
                && r["path"] == path
                && r["permission"] == permission),
            "{method} {path} {permission} in {routes:?}"
        );
    }
    let server_fns = routes.iter().filter(|r| r["kind"] == "server_fn").count();
    assert!(server_fns >= 20, "{server_fns} server functions");

    let scope_of = |p: &str| match p {
        "read" => "read",
        "ingest" => "ingest",
        "write" => "write",
        _ => "admin",
    };
    let wrong_of = |p: &str| match p {
        "read" => "ingest",
        "ingest" => "read",
        "write" => "read",
        _ => "write",
    };
    let mut tokens = std::collections::HashMap::new();
    for scope in ["read", "ingest", "write", "admin"] {
        let (_, token) = make_token(&weir, json!({"name": scope, "scopes": [scope]})).await;
        tokens.insert(scope, token);
    }
    let (revoked_id, revoked) =
        make_token(&weir, json!({"name": "gone", "scopes": ["admin"]})).await;
    let (status, _) = send(
        &weir,
        Method::DELETE,
        &format!("/api/v1/tokens/{revoked_id}"),
        &[("authorization", &basic("admin"))],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let soon = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (_, expired) = make_token(
        &weir,
        json!({"name": "brief", "scopes": ["admin"], "expires_at": soon}),
    )
    .await;
    let expired_header = bearer(&expired);
    wait_until(Duration::from_secs(10), "the token to expire", || {
        let weir = &weir;
        let header = expired_header.clone();
        async move {
            let (status, _) = send(
                weir,
                Method::GET,
                "/api/v1/auth/me",
                &[("authorization", &header)],
                None,
            )
            .await;
            Ok((status == StatusCode::UNAUTHORIZED).then_some(()))
        }
    })
    .await
    .unwrap();

    let mut checked = 0;
    for route in routes {
        let method = Method::from_bytes(route["method"].as_str().unwrap().as_bytes()).unwrap();
        let path = concrete(route["path"].as_str().unwrap());
        let permission = route["permission"].as_str().unwrap();
        let what = format!("{method} {path} ({permission})");
        let status_with = |auth: Option<String>| {
            let (weir, method, path) = (&weir, method.clone(), path.clone());
            async move {
                let headers: Vec<(&str, &str)> = match &auth {
                    Some(a) => vec![("authorization", a.as_str())],
                    None => vec![],
                };
                send(weir, method, &path, &headers, None).await.0
            }
        };
        let denied = |s: StatusCode| s == StatusCode::UNAUTHORIZED || s == StatusCode::FORBIDDEN;
        let anonymous = status_with(None).await;
        if permission == "public" {
            assert!(
                !denied(anonymous) && anonymous != StatusCode::SEE_OTHER,
                "{what}: {anonymous}"
            );
            continue;
        }
        if route["kind"] == "page" {
            assert_eq!(
                anonymous,
                StatusCode::SEE_OTHER,
                "{what}: to the login page"
            );
        } else {
            assert_eq!(anonymous, StatusCode::UNAUTHORIZED, "{what}");
        }
        let wrong = status_with(Some(bearer(&tokens[wrong_of(permission)]))).await;
        assert_eq!(wrong, StatusCode::FORBIDDEN, "{what}: wrong scope");
        let stale = status_with(Some(expired_header.clone())).await;
        assert_eq!(stale, StatusCode::UNAUTHORIZED, "{what}: expired");
        let gone = status_with(Some(bearer(&revoked))).await;
        assert_eq!(gone, StatusCode::UNAUTHORIZED, "{what}: revoked");
        let right = status_with(Some(bearer(&tokens[scope_of(permission)]))).await;
        assert!(
            !denied(right) && !right.is_server_error(),
            "{what}: right scope got {right}"
        );
        checked += 1;
    }
    assert!(checked > 60, "{checked} routes checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_sessions_logins_and_cross_site_requests() {
    let weir = start_with_users("access_roles");
    let weir = weir.await;
    let dashboard = json!({"uid": "web", "title": "Web", "panels": []});
    let as_user = |user: &str| vec![("authorization".to_owned(), basic(user))];
    let call = |method: Method, path: &'static str, headers: Vec<(String, String)>, body| {
        let weir = &weir;
        async move {
            let headers: Vec<(&str, &str)> = headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_str()))
                .collect();
            send(weir, method, path, &headers, body).await
        }
    };
    // A viewer reads and may not write; an editor writes and may not manage tokens.
    let (s, _) = call(Method::GET, "/api/v1/dashboards", as_user("vera"), None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, body) = call(
        Method::POST,
        "/api/v1/dashboards",
        as_user("vera"),
        Some(dashboard.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"],
        "vera is a viewer; this needs the editor role"
    );
    let (s, body) = call(
        Method::POST,
        "/api/v1/dashboards",
        as_user("eddie"),
        Some(dashboard),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, _) = call(Method::GET, "/api/v1/tokens", as_user("eddie"), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = call(Method::GET, "/api/v1/tokens", as_user("admin"), None).await;
    assert_eq!(s, StatusCode::OK);

    // Unknown users and wrong passwords get the same answer.
    let wrong = |user: &str, password: &str| {
        use base64::Engine;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        vec![("authorization".to_owned(), format!("Basic {pair}"))]
    };
    let (s1, unknown) = call(
        Method::GET,
        "/api/v1/streams",
        wrong("nobody", "whatever-1"),
        None,
    )
    .await;
    let (s2, mistyped) = call(
        Method::GET,
        "/api/v1/streams",
        wrong("vera", "whatever-1"),
        None,
    )
    .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(unknown, mistyped);
    // ... after the same work: an unknown user's password is checked against a dummy hash, so
    // that timing tells no one which names exist. Medians of four, within a factor of two
    // (without the dummy hash, an unknown user answers ten times faster).
    let median = |times: &mut Vec<Duration>| {
        times.sort();
        (times[1] + times[2]) / 2
    };
    let (mut unknown_times, mut wrong_times) = (Vec::new(), Vec::new());
    for i in 0..4 {
        for (user, times) in [
            (format!("nobody{i}"), &mut unknown_times),
            ("eddie".to_owned(), &mut wrong_times),
        ] {
            let started = std::time::Instant::now();
            let (s, _) = call(
                Method::GET,
                "/api/v1/streams",
                wrong(&user, "whatever-1"),
                None,
            )
            .await;
            times.push(started.elapsed());
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
    }
    let (unknown_time, wrong_time) = (median(&mut unknown_times), median(&mut wrong_times));
    let ratio = unknown_time.as_secs_f64() / wrong_time.as_secs_f64();
    assert!(
        (0.5..2.0).contains(&ratio),
        "unknown user {unknown_time:?}, wrong password {wrong_time:?}"
    );
    // Malformed credentials are a 400 that repeats none of them; a huge cookie is no 500.
    for bad in ["Bearer", "Basic %%%", "Negotiate abc"] {
        let (s, body) = call(
            Method::GET,
            "/api/v1/streams",
            vec![("authorization".to_owned(), bad.to_owned())],
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let huge = format!("weir_session={}", "a".repeat(1 << 20));
    let (s, _) = call(
        Method::GET,
        "/api/v1/streams",
        vec![("cookie".to_owned(), huge)],
        None,
    )
    .await;
    assert!(s.is_client_error(), "a 1 MB cookie: {s}");

    // A session: log in, use the cookie, refuse a foreign page's write, log out.
    let response = client()
        .post(weir.url("/api/v1/auth/login"))
        .json(&json!({"name": "eddie", "password": "eddie-pass-9d2c"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let set_cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let me: Value = response.json().await.unwrap();
    assert_eq!(
        me,
        json!({"name": "eddie", "role": "editor", "via": "session"})
    );
    let cookie = set_cookie.split(';').next().unwrap().to_owned();
    let with_cookie = |origin: Option<&str>| {
        let mut h = vec![("cookie".to_owned(), cookie.clone())];
        if let Some(origin) = origin {
            h.push(("origin".to_owned(), origin.to_owned()));
        }
        h
    };
    let (s, _) = call(Method::GET, "/api/v1/auth/me", with_cookie(None), None).await;
    assert_eq!(s, StatusCode::OK);
    let silence = json!({"matchers": [{"label": "alertname", "op": "=", "value": "x"}],
        "ends_at": "2099-01-01T00:00:00Z", "comment": "c"});
    let own_origin = weir.url("");
    let (s, body) = call(
        Method::POST,
        "/api/v1/alerts/silences",
        with_cookie(Some("https://evil.example")),
        Some(silence.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("another origin"),
        "{body}"
    );
    let (s, body) = call(
        Method::POST,
        "/api/v1/alerts/silences",
        with_cookie(Some(&own_origin)),
        Some(silence),
    )
    .await;
    assert!(
        s.is_success() || s == StatusCode::BAD_REQUEST,
        "same origin: {s} {body}"
    );
    let (s, _) = call(
        Method::POST,
        "/api/v1/auth/logout",
        with_cookie(Some(&own_origin)),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(Method::GET, "/api/v1/auth/me", with_cookie(None), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the session ended");

    // The login page's form: a redirect on, or back with the reason.
    let form = client()
        .post(weir.url("/api/v1/auth/login"))
        .form(&[
            ("name", "vera"),
            ("password", "vera-pass-9d2c"),
            ("next", "/dashboards"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::SEE_OTHER);
    assert_eq!(form.headers()["location"], "/dashboards");
    let open_redirect = client()
        .post(weir.url("/api/v1/auth/login"))
        .form(&[
            ("name", "vera"),
            ("password", "vera-pass-9d2c"),
            ("next", "//evil.example"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(open_redirect.headers()["location"], "/");
    let (s, page) = call(Method::GET, "/dashboards", vec![], None).await;
    assert_eq!(s, StatusCode::SEE_OTHER, "{page}");
    let login_page = client()
        .get(weir.url("/login?next=%2Fdashboards"))
        .send()
        .await
        .unwrap();
    assert_eq!(login_page.status(), StatusCode::OK);
    let html = login_page.text().await.unwrap();
    assert!(html.contains("action=\"/api/v1/auth/login\""), "{html}");

    // Failed logins past five wait, twice as long each time.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = client()
            .post(weir.url("/api/v1/auth/login"))
            .json(&json!({"name": "vera", "password": "not-her-password"}))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(response.headers()["retry-after"], "1");
        }
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);
    assert!(
        !weir.log_tail().contains("not-her-password"),
        "no password in the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_tokens_keep_to_their_streams_and_revocation_closes_live_sockets() {
    let weir = start_with_users("access_tokens").await;
    let (_, ingest) = make_token(
        &weir,
        json!({"name": "shipper", "scopes": ["ingest"], "streams": "app_*"}),
    )
    .await;
    let auth = bearer(&ingest);
    let post = |path: String, headers: Vec<(&'static str, String)>, body: String| {
        let url = weir.url(&path);
        async move {
            let mut request = client().post(url).body(body);
            for (n, v) in headers {
                request = request.header(n, v);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            (
                status,
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let event = r#"{"route":"/a","status":200}"#.to_owned();
    let (s, body) = post(
        "/api/v1/streams/app_web/events".into(),
        vec![(AUTHORIZATION.as_str(), auth.clone())],
        event.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, body) = post(
        "/api/v1/streams/billing/events".into(),
        vec![(AUTHORIZATION.as_str(), auth.clone())],
        event.clone(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        body["error"],
        "the API token `shipper` may write only to streams matching `app_*`, not to `billing`"
    );
    // Basic auth with the token as password, for shippers that know only that (Filebeat).
    use base64::Engine;
    let as_basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("filebeat:{ingest}"))
    );
    let bulk = "{\"index\":{\"_index\":\"app_api\"}}\n{\"a\":1}\n{\"index\":{\"_index\":\"billing\"}}\n{\"a\":2}\n";
    let (s, body) = post(
        "/api/v1/es/_bulk".into(),
        vec![
            (AUTHORIZATION.as_str(), as_basic),
            ("content-type", "application/x-ndjson".into()),
        ],
        bulk.into(),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["items"][0]["index"]["status"], 201, "{body}");
    assert_eq!(body["items"][1]["index"]["status"], 403, "{body}");
    let (s, _) = post(
        "/api/v1/prom/remote/write".into(),
        vec![
            (AUTHORIZATION.as_str(), auth.clone()),
            ("x-weir-stream", "billing".into()),
        ],
        String::new(),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // An ingest token reads nothing.
    let (s, _) = send(
        &weir,
        Method::GET,
        "/api/v1/streams",
        &[("authorization", &auth)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // A live socket opened with a read token closes when the token is revoked.
    let (read_id, read) = make_token(&weir, json!({"name": "wall", "scopes": ["read"]})).await;
    let mut request = format!("ws://{}/api/v1/live", weir.addr())
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert(AUTHORIZATION, bearer(&read).parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("upgrade");
    let (s, _) = send(
        &weir,
        Method::DELETE,
        &format!("/api/v1/tokens/{read_id}"),
        &[("authorization", &basic("admin"))],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let close = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(frame) = socket.next().await {
            if let Ok(Message::Close(frame)) = frame {
                return frame;
            }
        }
        None
    })
    .await
    .expect("closed within 10 s")
    .expect("a close frame");
    assert_eq!(u16::from(close.code), 1008, "{close:?}");
    // Without credentials, and with a session from another origin, no socket opens.
    let no_auth =
        tokio_tungstenite::connect_async(format!("ws://{}/api/v1/live", weir.addr())).await;
    assert!(no_auth.is_err());
    let mut foreign = format!("ws://{}/api/v1/live", weir.addr())
        .into_client_request()
        .unwrap();
    foreign
        .headers_mut()
        .insert(ORIGIN, "https://evil.example".parse().unwrap());
    foreign
        .headers_mut()
        .insert(COOKIE, "weir_session=x".parse().unwrap());
    match tokio_tungstenite::connect_async(foreign).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::FORBIDDEN);
        }
        other => panic!("a cross-origin socket opened: {other:?}"),
    }
    // Tokens are listed without their secrets.
    let (_, listed) = send(
        &weir,
        Method::GET,
        "/api/v1/tokens",
        &[("authorization", &basic("admin"))],
        None,
    )
    .await;
    let text = listed.to_string();
    assert!(!text.contains(&read) && !text.contains(&ingest), "{text}");
    let wall = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "wall")
        .unwrap();
    assert_eq!(wall["state"], "revoked");
    assert_eq!(wall["owner"], "admin");
    assert!(
        !weir.log_tail().contains(&ingest[10..]),
        "no token in the log"
    );
}

#[tokio::test]
async fn beyond_loopback_it_needs_a_user_or_says_how_to_make_one() {
    let data = data_dir("access_no_users");
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", "0.0.0.0:0", "--self-metrics-every-secs", "0"])
        .output()
        .await
        .expect("weir runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("refusing to listen on 0.0.0.0"), "{stderr}");
    assert!(stderr.contains("weir user add --data-dir"), "{stderr}");

    // With --insecure-no-auth it serves, open.
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_weir"))
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--listen",
            "0.0.0.0:0",
            "--self-metrics-every-secs",
            "0",
            "--insecure-no-auth",
        ])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("weir runs");
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stderr.take().unwrap()));
    let listening = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("listening on") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(listening);
    child.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_server_closes_when_its_first_user_is_made() {
    let data = data_dir("access_open");
    let weir = WeirProcess::start(Path::new(env!("CARGO_BIN_EXE_weir")), &data, &[])
        .await
        .unwrap();
    let (s, me) = send(&weir, Method::GET, "/api/v1/auth/me", &[], None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me, json!({"name": null, "role": "admin", "via": "open"}));
    add_user(&data, "admin", "admin", ADMIN_PASSWORD);
    wait_until(Duration::from_secs(10), "credentials to be needed", || {
        let weir = &weir;
        async move {
            let (s, _) = send(weir, Method::GET, "/api/v1/streams", &[], None).await;
            Ok((s == StatusCode::UNAUTHORIZED).then_some(()))
        }
    })
    .await
    .unwrap();
}
