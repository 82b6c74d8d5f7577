//! Users managed through the API by admins: added, given a new role or password (which ends
//! their sessions), removed; the last admin neither removed nor demoted.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::access::{basic, client, send, start_with_users};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_manage_users_and_the_last_admin_stays() {
    let weir = start_with_users("access_users").await;
    let admin = basic("admin");
    let as_admin = [("authorization", admin.as_str())];
    let (s, _) = send(
        &weir,
        Method::GET,
        "/api/v1/users",
        &[("authorization", &basic("eddie"))],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "an editor manages no users");
    let nina = json!({"name": "nina", "role": "viewer", "password": "nina-pass-9d2c"});
    let (s, body) = send(
        &weir,
        Method::POST,
        "/api/v1/users",
        &as_admin,
        Some(nina.clone()),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, _) = send(&weir, Method::POST, "/api/v1/users", &as_admin, Some(nina)).await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (s, body) = send(
        &weir,
        Method::POST,
        "/api/v1/users",
        &as_admin,
        Some(json!({"name": "short", "role": "viewer", "password": "x"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, _) = send(
        &weir,
        Method::GET,
        "/api/v1/streams",
        &[("authorization", &basic("nina"))],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);

    // A new password ends the user's sessions.
    let login = client()
        .post(weir.url("/api/v1/auth/login"))
        .json(&json!({"name": "nina", "password": "nina-pass-9d2c"}))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (s, _) = send(
        &weir,
        Method::GET,
        "/api/v1/auth/me",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = send(
        &weir,
        Method::PUT,
        "/api/v1/users/nina",
        &as_admin,
        Some(json!({"password": "nina-new-pass-1", "role": "editor"})),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = send(
        &weir,
        Method::GET,
        "/api/v1/auth/me",
        &[("cookie", &cookie)],
        None,
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "the old session ended");
    let (_, users) = send(&weir, Method::GET, "/api/v1/users", &as_admin, None).await;
    let listed: Vec<(String, String)> = users
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["name"].as_str().unwrap().to_owned(),
                u["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        listed.contains(&("nina".into(), "editor".into())),
        "{listed:?}"
    );
    assert!(!users.to_string().contains("argon2"), "no hashes listed");

    // The last admin is neither removed nor demoted.
    let (s, body) = send(
        &weir,
        Method::DELETE,
        "/api/v1/users/admin",
        &as_admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert!(
        body["error"].as_str().unwrap().contains("last admin"),
        "{body}"
    );
    let (s, _) = send(
        &weir,
        Method::PUT,
        "/api/v1/users/admin",
        &as_admin,
        Some(json!({"role": "viewer"})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = send(&weir, Method::DELETE, "/api/v1/users/nina", &as_admin, None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = send(&weir, Method::DELETE, "/api/v1/users/nina", &as_admin, None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}
