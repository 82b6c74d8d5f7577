//! Sending a notification to a contact point over HTTP: a timeout per attempt, retries with
//! backoff for what may pass later (connection errors, timeouts, 429 and 5xx), and a record of
//! every attempt in the stream `_notifications`.

use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use protocol::alert::{ContactPoint, Target};
use serde_json::json;
use sha2::Sha256;

use super::payload::Notification;
use crate::alerts::history::History;

/// How long a receiver may take to accept a connection ...
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// ... and to answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The header of a signed webhook: `sha256=<hex of HMAC-SHA256(secret, body)>`.
pub(crate) const SIGNATURE_HEADER: &str = "X-Weir-Signature";

/// Retry settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retry {
    pub(crate) attempts: u32,
    pub(crate) first_backoff: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 4,
            first_backoff: Duration::from_millis(500),
        }
    }
}

/// How often firing alerts are sent to an Alertmanager again (Prometheus's `resend_delay`) ...
pub(crate) const ALERTMANAGER_RESEND: i64 = 60_000_000;
/// ... and how long each send is valid for unless sent again (four resends, as Prometheus sets
/// it).
pub(crate) const ALERTMANAGER_VALID_FOR: i64 = 4 * ALERTMANAGER_RESEND;

#[derive(Clone)]
pub(crate) struct Sender {
    client: reqwest::Client,
    retry: Retry,
    history: History,
}

/// What one attempt came to.
enum Attempt {
    Delivered(u16),
    /// Worth trying again.
    Retry(String),
    /// Not worth trying again (a 4xx other than 429).
    Refused(String),
}

impl Sender {
    pub(crate) fn new(retry: Retry, history: History) -> Sender {
        let client = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("weir/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client with rustls builds");
        Sender {
            client,
            retry,
            history,
        }
    }

    /// Sends `notification` to `point`, retrying; true once a receiver took it.
    pub(crate) async fn send(&self, point: &ContactPoint, notification: &Notification) -> bool {
        let now = storage::now_micros();
        let (url, body, headers) = request(point, notification, now);
        let body = body.to_string();
        let mut backoff = self.retry.first_backoff;
        for attempt in 1..=self.retry.attempts {
            let started = Instant::now();
            let outcome = self.attempt(&url, &body, &headers).await;
            let elapsed = started.elapsed();
            let (status, code, error) = match &outcome {
                Attempt::Delivered(code) => ("delivered", Some(*code), None),
                Attempt::Retry(e) => ("failed", None, Some(e.clone())),
                Attempt::Refused(e) => ("refused", None, Some(e.clone())),
            };
            self.history.notification(json!({
                "contact_point": point.uid,
                "type": point.target.kind(),
                "group_key": notification.group_key,
                "status": status,
                "http_status": code,
                "error": error,
                "attempt": attempt,
                "duration_ms": elapsed.as_secs_f64() * 1000.0,
                "firing": notification.firing(),
                "resolved": notification.alerts.len() - notification.firing(),
            }));
            match outcome {
                Attempt::Delivered(_) => return true,
                Attempt::Refused(error) => {
                    tracing::warn!(contact_point = %point.uid, %error, "notification refused");
                    return false;
                }
                Attempt::Retry(error) if attempt == self.retry.attempts => {
                    tracing::warn!(contact_point = %point.uid, %error, attempt, "notification failed");
                    return false;
                }
                Attempt::Retry(_) => {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
        false
    }

    async fn attempt(&self, url: &str, body: &str, headers: &[(String, String)]) -> Attempt {
        let mut request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_owned());
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) => {
                let code = response.status();
                if code.is_success() {
                    Attempt::Delivered(code.as_u16())
                } else {
                    let text = response.text().await.unwrap_or_default();
                    let error = format!(
                        "HTTP {code}: {}",
                        text.chars().take(200).collect::<String>()
                    );
                    if code.as_u16() == 429 || code.is_server_error() {
                        Attempt::Retry(error)
                    } else {
                        Attempt::Refused(error)
                    }
                }
            }
            Err(err) => Attempt::Retry(failure(err)),
        }
    }
}

/// Why a send failed, without its URL: a Slack webhook's URL is its secret, and this text is
/// logged and kept in `_notifications`.
fn failure(err: reqwest::Error) -> String {
    describe(&err.without_url())
}

/// A reqwest error with its causes (the first line alone often says only "error sending request").
fn describe(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The URL, body and headers of a notification to `point`.
fn request(
    point: &ContactPoint,
    notification: &Notification,
    now: i64,
) -> (String, serde_json::Value, Vec<(String, String)>) {
    match &point.target {
        Target::Webhook {
            url,
            secret,
            headers,
        } => {
            let body = notification.webhook();
            let mut extra: Vec<(String, String)> = headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if let Some(secret) = secret {
                extra.push((
                    SIGNATURE_HEADER.to_owned(),
                    format!("sha256={}", sign(secret, body.to_string().as_bytes())),
                ));
            }
            (url.clone(), body, extra)
        }
        Target::Slack { url, channel } => (
            url.clone(),
            notification.slack(channel.as_deref()),
            Vec::new(),
        ),
        Target::Alertmanager { url } => (
            format!("{}/api/v2/alerts", url.trim_end_matches('/')),
            notification.alertmanager(now, ALERTMANAGER_VALID_FOR),
            Vec::new(),
        ),
    }
}

/// HMAC-SHA256 of `body` with `secret`, in hex.
pub(crate) fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_failed_send_does_not_tell_its_url() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        let url = format!("http://127.0.0.1:{port}/services/T0/B0/hook-secret-7f3a");
        let err = reqwest::Client::new().post(&url).send().await.unwrap_err();
        assert!(
            describe(&err).contains("hook-secret-7f3a"),
            "reqwest tells it"
        );
        let text = failure(err);
        assert!(!text.contains("hook-secret-7f3a"), "{text}");
        assert!(text.contains("error sending request"), "{text}");
    }

    #[test]
    fn signatures_are_rfc_4231s() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
