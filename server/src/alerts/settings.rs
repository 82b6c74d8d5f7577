//! Contact points, the notification policy and silences: their CRUD, each change rebuilding the
//! notifier's routing.

use std::collections::BTreeMap;

use protocol::alert::{ContactPoint, Policy, Problem, Rule, Silence, SilenceView, Target};
use serde_json::Value;
use storage::now_micros;

use super::notify::Routing;
use super::{Alerts, Error, check, invalid, matchers};
use crate::meta::{self, Kind};

/// What stands for a secret a reader may not see.
pub(crate) const REDACTED: &str = "[redacted]";

/// `point` as a caller who may not change it sees it: its signing secret, its headers' values
/// and its URL's path and query (a Slack webhook's URL is its secret) replaced by
/// [`REDACTED`]. Those who may change it (editors) see it whole, to edit it.
pub(crate) fn redact(mut point: ContactPoint) -> ContactPoint {
    let url = |url: &mut String| {
        *url = match reqwest::Url::parse(url) {
            Ok(parsed) => format!("{}/{REDACTED}", parsed.origin().ascii_serialization()),
            Err(_) => REDACTED.to_owned(),
        };
    };
    match &mut point.target {
        Target::Webhook {
            url: u,
            secret,
            headers,
        } => {
            url(u);
            if let Some(secret) = secret {
                *secret = REDACTED.to_owned();
            }
            for value in headers.values_mut() {
                *value = REDACTED.to_owned();
            }
        }
        Target::Slack { url: u, .. } | Target::Alertmanager { url: u } => url(u),
    }
    point
}

impl Alerts {
    // Contact points.

    pub(crate) async fn contact_points(&self) -> Result<Vec<ContactPoint>, Error> {
        let stored = self.inner.meta.documents(Kind::ContactPoint).await?;
        Ok(stored.into_iter().map(|s| s.document).collect())
    }

    pub(crate) async fn contact_point(&self, uid: &str) -> Result<ContactPoint, Error> {
        Ok(self
            .inner
            .meta
            .document(Kind::ContactPoint, uid)
            .await?
            .document)
    }

    /// Creates (`existing` false) or replaces a contact point.
    pub(crate) async fn save_contact_point(
        &self,
        uid: Option<&str>,
        document: &Value,
    ) -> Result<ContactPoint, Error> {
        let _edit = self.inner.edits.lock().await;
        let point = check::contact_point(document).map_err(invalid("contact point"))?;
        let expected = match uid {
            None => 0,
            Some(uid) => {
                if point.uid != uid {
                    return Err(Error::Invalid {
                        what: "contact point",
                        problem: Problem {
                            pointer: "/uid".to_owned(),
                            message: format!(
                                "the document's uid `{}` is not the path's `{uid}`",
                                point.uid
                            ),
                        },
                    });
                }
                self.not_provisioned::<ContactPoint>(Kind::ContactPoint, uid)
                    .await?
                    .version
            }
        };
        self.put_contact_point(point, expected, String::new()).await
    }

    /// Saves a checked contact point (new when `expected` is 0).
    pub(super) async fn put_contact_point(
        &self,
        point: ContactPoint,
        expected: u64,
        source: String,
    ) -> Result<ContactPoint, Error> {
        self.inner
            .meta
            .save_document(
                Kind::ContactPoint,
                &point.uid.clone(),
                expected,
                (point.clone(), source),
                |_, _| {},
            )
            .await?;
        self.reload_routing().await?;
        Ok(point)
    }

    /// Deletes a contact point no rule and no route names.
    pub(crate) async fn delete_contact_point(&self, uid: &str) -> Result<(), Error> {
        let _edit = self.inner.edits.lock().await;
        self.not_provisioned::<ContactPoint>(Kind::ContactPoint, uid)
            .await?;
        let rules = self.inner.meta.documents::<Rule>(Kind::Rule).await?;
        if let Some(rule) = rules
            .iter()
            .find(|r| r.document.contact_points.iter().any(|c| c == uid))
        {
            return Err(Error::InUse(format!(
                "contact point `{uid}` is used by the rule `{}`: change the rule first",
                rule.document.uid
            )));
        }
        let routing = self.inner.notifier.routing();
        if policy_names(&routing.policy, uid) {
            return Err(Error::InUse(format!(
                "contact point `{uid}` is a receiver of the notification policy: change it first"
            )));
        }
        self.inner
            .meta
            .delete_document(Kind::ContactPoint, uid)
            .await?;
        self.reload_routing().await?;
        Ok(())
    }

    // The notification policy.

    pub(crate) fn policy(&self) -> Policy {
        self.inner.notifier.routing().policy.clone()
    }

    pub(crate) async fn set_policy(&self, document: &Value) -> Result<Policy, Error> {
        let _edit = self.inner.edits.lock().await;
        let policy = check::policy(document).map_err(invalid("notification policy"))?;
        let routing = self.inner.notifier.routing();
        policy
            .check(&|uid| routing.contact_points.contains_key(uid))
            .map_err(invalid("notification policy"))?;
        Routing::new(policy.clone(), BTreeMap::new(), Vec::new()).map_err(|message| {
            Error::Invalid {
                what: "notification policy",
                problem: Problem {
                    pointer: "/routes".to_owned(),
                    message,
                },
            }
        })?;
        let expected = match self.not_provisioned::<Policy>(Kind::Policy, POLICY).await {
            Ok(stored) => stored.version,
            Err(Error::Meta(meta::Error::NotFound { .. })) => 0,
            Err(err) => return Err(err),
        };
        self.put_policy(policy, expected, String::new()).await
    }

    pub(super) async fn put_policy(
        &self,
        policy: Policy,
        expected: u64,
        source: String,
    ) -> Result<Policy, Error> {
        self.inner
            .meta
            .save_document(
                Kind::Policy,
                POLICY,
                expected,
                (policy.clone(), source),
                |_, _| {},
            )
            .await?;
        self.reload_routing().await?;
        Ok(policy)
    }

    // Silences.

    pub(crate) async fn silences(&self) -> Result<Vec<SilenceView>, Error> {
        let now = now_micros();
        let stored = self.inner.meta.documents::<Silence>(Kind::Silence).await?;
        let mut list: Vec<SilenceView> = stored
            .into_iter()
            .map(|s| {
                let (start, end) = silence_times(&s.document).unwrap_or((0, 0));
                let state = if now < start {
                    "pending"
                } else if now < end {
                    "active"
                } else {
                    "expired"
                };
                SilenceView {
                    silence: s.document,
                    state: state.to_owned(),
                }
            })
            .collect();
        list.sort_by_key(|s| (s.state == "expired", s.silence.ends_at.clone()));
        Ok(list)
    }

    pub(crate) async fn create_silence(&self, document: &Value) -> Result<Silence, Error> {
        let _edit = self.inner.edits.lock().await;
        let mut silence = check::silence(document).map_err(invalid("silence"))?;
        let now = now_micros();
        silence.id = format!("{:016x}", rand::random::<u64>());
        if silence.starts_at.is_none() {
            silence.starts_at = Some(protocol::dashboard::time::rfc3339(now));
        }
        let (_, end) = check_silence(&silence)?;
        if end <= now {
            return Err(Error::Invalid {
                what: "silence",
                problem: Problem {
                    pointer: "/ends_at".to_owned(),
                    message: "a silence ends after now".to_owned(),
                },
            });
        }
        self.put_silence(silence, 0, String::new()).await
    }

    pub(super) async fn put_silence(
        &self,
        silence: Silence,
        expected: u64,
        source: String,
    ) -> Result<Silence, Error> {
        self.inner
            .meta
            .save_document(
                Kind::Silence,
                &silence.id.clone(),
                expected,
                (silence.clone(), source),
                |_, _| {},
            )
            .await?;
        self.reload_routing().await?;
        Ok(silence)
    }

    pub(crate) async fn delete_silence(&self, id: &str) -> Result<(), Error> {
        let _edit = self.inner.edits.lock().await;
        self.not_provisioned::<Silence>(Kind::Silence, id).await?;
        self.inner.meta.delete_document(Kind::Silence, id).await?;
        self.reload_routing().await?;
        Ok(())
    }
}

/// A silence's times (ending after it starts) and matchers (that compile).
pub(super) fn check_silence(silence: &Silence) -> Result<(i64, i64), Error> {
    let (start, end) = silence_times(silence).map_err(invalid("silence"))?;
    if end <= start {
        return Err(Error::Invalid {
            what: "silence",
            problem: Problem {
                pointer: "/ends_at".to_owned(),
                message: "a silence ends after it starts".to_owned(),
            },
        });
    }
    matchers::Active::new(silence, start, end).map_err(|message| Error::Invalid {
        what: "silence",
        problem: Problem {
            pointer: "/matchers".to_owned(),
            message,
        },
    })?;
    Ok((start, end))
}

/// The key the one notification policy is stored under.
pub(super) const POLICY: &str = "default";

/// Whether a route of the policy (or the policy) sends to `uid`.
pub(super) fn policy_names(policy: &Policy, uid: &str) -> bool {
    fn routes(list: &[protocol::alert::Route], uid: &str) -> bool {
        list.iter()
            .any(|r| r.receiver.as_deref() == Some(uid) || routes(&r.routes, uid))
    }
    policy.receiver.as_deref() == Some(uid) || routes(&policy.routes, uid)
}

/// A silence's start and end, µs.
pub(super) fn silence_times(silence: &Silence) -> Result<(i64, i64), Problem> {
    let read = |pointer: &str, text: &str| {
        chrono::DateTime::parse_from_rfc3339(text)
            .map(|t| t.timestamp_micros())
            .map_err(|err| Problem {
                pointer: pointer.to_owned(),
                message: format!("`{text}` is not an RFC 3339 time: {err}"),
            })
    };
    let start = match &silence.starts_at {
        Some(text) => read("/starts_at", text)?,
        None => 0,
    };
    Ok((start, read("/ends_at", &silence.ends_at)?))
}

#[cfg(test)]
mod redaction {
    use super::*;

    #[test]
    fn a_reader_sees_no_secret_of_a_contact_point() {
        let point: ContactPoint = serde_json::from_value(serde_json::json!({
            "uid": "ops", "name": "ops", "type": "webhook",
            "url": "https://hooks.example.com/in/s3cret-path?key=k3y",
            "secret": "hmac-s3cret", "headers": {"Authorization": "Bearer t0ken"}
        }))
        .unwrap();
        let shown = serde_json::to_string(&redact(point)).unwrap();
        for secret in ["s3cret-path", "k3y", "hmac-s3cret", "t0ken"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("https://hooks.example.com/[redacted]"),
            "{shown}"
        );
        assert!(
            shown.contains("Authorization"),
            "the header's name stays: {shown}"
        );
    }
}
