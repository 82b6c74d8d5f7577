//! The guard in front of every route: it finds the permission the route table declared for the
//! matched route, works out who the caller is from the request's credentials (a bearer token,
//! basic auth, or the session cookie), refuses cross-origin writes and live sockets, and either
//! answers 400/401/403/429 or lets the request through with its [`Caller`] as an extension.
//! Pages send a caller who must log in to the login page instead; a server function's error
//! gets the status of its kind.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use protocol::ErrorKind;

use super::table::{Kind, Permissions};
use crate::audit::{Action, Actor, Audit};
use crate::auth::access::Permission;
use crate::auth::{Auth, AuthError, Caller, Credential};
use crate::error::ApiError;

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "weir_session";

/// What the guard needs: the gatekeeper, the route table's permissions, the origin users
/// reach the server at (behind a proxy that rewrites `Host`), and the audit trail (for
/// failed logins by basic auth).
#[derive(Clone)]
pub(crate) struct Guard {
    pub(crate) auth: Auth,
    pub(crate) audit: Audit,
    pub(crate) permissions: Arc<Permissions>,
    pub(crate) external_origin: Option<String>,
}

pub(crate) async fn guard(
    State(guard): State<Guard>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(path) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
    else {
        // Only matched routes pass through here; the rest are the public files and 404s.
        return next.run(request).await;
    };
    let Some((permission, kind)) = guard.permissions.get(request.method(), &path) else {
        return ApiError::new(
            ErrorKind::Forbidden,
            format!(
                "{} {path} declares no permission, so it is refused to everyone",
                request.method()
            ),
        )
        .into_response();
    };
    if let Err(message) = same_origin(&request, guard.external_origin.as_deref()) {
        return ApiError::new(ErrorKind::Forbidden, message).into_response();
    }
    let address = client_address(&request);
    let caller = match credential(request.headers()) {
        Err(message) if permission != Permission::Public => {
            return ApiError::new(ErrorKind::BadRequest, message).into_response();
        }
        Err(_) => guard.auth.nobody(),
        Ok(credential) => {
            let basic_user = match &credential {
                Some(Credential::Basic { user, .. }) => Some(user.clone()),
                _ => None,
            };
            match guard.auth.authenticate(credential, address).await {
                Ok(caller) => caller,
                Err(err) => {
                    // Basic auth is a login each time: its failures are in the audit trail.
                    if let (Some(user), AuthError::Unauthenticated(reason)) = (&basic_user, &err) {
                        let actor = Actor::logging_in(user, address);
                        let detail = format!("basic auth: {reason}");
                        guard
                            .audit
                            .record(&actor, Action::LoginFailed, "", &detail)
                            .await;
                    }
                    if permission == Permission::Public {
                        guard.auth.nobody()
                    } else {
                        return refusal(err);
                    }
                }
            }
        }
    };
    if !caller.allows(permission) {
        if matches!(caller, Caller::Anonymous) {
            if kind == Kind::Page {
                return to_login(&request);
            }
            return unauthorized(caller.refusal(permission));
        }
        if kind == Kind::Page {
            return forbidden_page(&caller.refusal(permission));
        }
        return ApiError::new(ErrorKind::Forbidden, caller.refusal(permission)).into_response();
    }
    request.extensions_mut().insert(Actor::of(&caller, address));
    request.extensions_mut().insert(caller);
    let response = next.run(request).await;
    if kind == Kind::ServerFn && response.status() == StatusCode::INTERNAL_SERVER_ERROR {
        return with_kind_status(response).await;
    }
    response
}

/// A server function's error with the status of its kind: Leptos answers every error 500, a
/// malformed call included, and a malformed call is the caller's fault (400).
async fn with_kind_status(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 20).await else {
        return Response::from_parts(parts, axum::body::Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<protocol::Error>(&bytes) {
        parts.status = StatusCode::from_u16(error.kind.http_status()).unwrap_or(parts.status);
    }
    Response::from_parts(parts, axum::body::Body::from(bytes))
}

/// A page a logged-in user may not see: why, in the app's style, and the way home.
fn forbidden_page(reason: &str) -> Response {
    let reason = reason
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    let html = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Not allowed · \
         Weir</title><link rel=\"stylesheet\" href=\"/pkg/weir.css\"></head><body><main>\
         <h1>Not allowed</h1><p class=\"error\" data-test=\"forbidden\">{reason}.</p>\
         <p><a href=\"/\">Home</a></p></main></body></html>"
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// The address the request came from (unspecified when the server was not told it).
pub(crate) fn client_address(request: &Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip())
}

fn unauthorized(message: String) -> Response {
    let mut response = ApiError::new(ErrorKind::Unauthorized, message).into_response();
    // Bearer, not Basic: a browser prompts for Basic, and its users log in on the login page.
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"weir\""),
    );
    response
}

/// The answer to credentials that do not let the caller in.
pub(crate) fn refusal(err: AuthError) -> Response {
    match err {
        AuthError::Unauthenticated(message) => unauthorized(message),
        AuthError::Throttled(wait) => {
            let seconds = wait.as_secs().max(1);
            let mut response =
                ApiError::new(ErrorKind::Overloaded, err.to_string()).into_response();
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
        other => ApiError::from(other).into_response(),
    }
}

/// Characters of a path and query kept as they are in `next=`.
const NEXT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.');

fn to_login(request: &Request) -> Response {
    let next = request
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let location = format!("/login?next={}", utf8_percent_encode(&next, NEXT));
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// The credentials a request presents: its `Authorization` header, else its session cookie.
/// `Err` says what is malformed, without repeating any of it.
fn credential(headers: &HeaderMap) -> Result<Option<Credential>, String> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let malformed = "malformed Authorization header: expected `Bearer <token>` or \
                         `Basic <base64 of name:password>`";
        let value = value.to_str().map_err(|_| malformed.to_owned())?.trim();
        let (scheme, rest) = value.split_once(' ').ok_or(malformed)?;
        let rest = rest.trim();
        return if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            Ok(Some(Credential::Bearer(rest.to_owned())))
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .ok_or("malformed Authorization header: Basic needs base64 of UTF-8 text")?;
            let (user, password) = decoded
                .split_once(':')
                .ok_or("malformed Authorization header: Basic needs `name:password`")?;
            Ok(Some(Credential::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            }))
        } else {
            Err(malformed.to_owned())
        };
    }
    Ok(session_cookie(headers).map(Credential::Session))
}

/// The session cookie's value, if the request has one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then(|| value.trim_matches('"').to_owned())
        })
}

/// Refuses what a page on another origin could make a browser send with the user's cookies or
/// cached basic credentials: a write (any method but GET, HEAD, OPTIONS) or a WebSocket upgrade
/// whose `Origin` is not this server's. Programs send no `Origin` and pass.
fn same_origin(request: &Request, external_origin: Option<&str>) -> Result<(), String> {
    let headers = request.headers();
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    if safe && !headers.contains_key(header::UPGRADE) {
        return Ok(());
    }
    let refused = |origin: &str| {
        format!(
            "a request from a page on another origin ({origin}) may not change anything or \
             open a live socket here"
        )
    };
    if headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes() == b"cross-site")
    {
        return Err(refused("a cross-site page"));
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("a malformed Origin");
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    let same = origin_host.is_some() && origin_host == host;
    if same || external_origin.is_some_and(|e| e.eq_ignore_ascii_case(origin)) {
        Ok(())
    } else {
        Err(refused(origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn credentials_are_read_from_the_authorization_header_or_the_cookie() {
        let basic = base64::engine::general_purpose::STANDARD.encode("ann:pa:ss");
        match credential(&headers(&[("authorization", &format!("Basic {basic}"))])) {
            Ok(Some(Credential::Basic { user, password })) => {
                assert_eq!((user.as_str(), password.as_str()), ("ann", "pa:ss"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            credential(&headers(&[("authorization", "bearer weir_x")])),
            Ok(Some(Credential::Bearer(t))) if t == "weir_x"
        ));
        assert!(matches!(
            credential(&headers(&[("cookie", "a=1; weir_session=abc.def; b=2")])),
            Ok(Some(Credential::Session(s))) if s == "abc.def"
        ));
        assert!(matches!(credential(&headers(&[])), Ok(None)));
        for bad in [
            "Bearer",
            "Bearer ",
            "Token weir_x",
            "Basic !!!",
            "weir_secret",
        ] {
            let err = credential(&headers(&[("authorization", bad)])).unwrap_err();
            assert!(err.starts_with("malformed Authorization header"), "{err}");
            assert!(!err.contains("weir_"), "no secret in {err}");
        }
        let no_colon = base64::engine::general_purpose::STANDARD.encode("ann");
        assert!(credential(&headers(&[("authorization", &format!("Basic {no_colon}"))])).is_err());
    }

    fn request(method: Method, pairs: &[(&'static str, &str)]) -> Request {
        let mut request = Request::builder()
            .method(method)
            .uri("/api/v1/dashboards")
            .body(axum::body::Body::empty())
            .unwrap();
        *request.headers_mut() = headers(pairs);
        request
    }

    #[test]
    fn writes_and_upgrades_from_another_origin_are_refused() {
        let host = ("host", "127.0.0.1:8080");
        let ok = |method, pairs: &[(&'static str, &str)]| {
            same_origin(&request(method, pairs), Some("https://weir.example.com")).is_ok()
        };
        assert!(ok(Method::GET, &[host, ("origin", "https://evil.example")]));
        assert!(ok(Method::POST, &[host]));
        assert!(ok(
            Method::POST,
            &[host, ("origin", "http://127.0.0.1:8080")]
        ));
        assert!(ok(
            Method::POST,
            &[host, ("origin", "https://weir.example.com")]
        ));
        assert!(!ok(
            Method::POST,
            &[host, ("origin", "https://evil.example")]
        ));
        assert!(!ok(
            Method::DELETE,
            &[host, ("origin", "http://127.0.0.1:9999")]
        ));
        assert!(!ok(Method::POST, &[host, ("origin", "null")]));
        assert!(!ok(Method::POST, &[host, ("sec-fetch-site", "cross-site")]));
        let upgrade = ("upgrade", "websocket");
        assert!(!ok(
            Method::GET,
            &[host, upgrade, ("origin", "https://evil.example")]
        ));
        assert!(ok(
            Method::GET,
            &[host, upgrade, ("origin", "http://127.0.0.1:8080")]
        ));
    }
}
