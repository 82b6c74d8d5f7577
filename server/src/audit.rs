//! The audit trail: who did what, when and from where. Logins (and failed ones), logouts, API
//! tokens made and revoked, users added, changed and removed, and saves and deletes of
//! dashboards, alert rules, contact points, the notification policy and silences are events of
//! the stream `_audit`: `_time, actor, via, address, action, target, detail`.
//!
//! Only admins read it (`query::views`), and no one but Weir writes to it (ingest refuses it).
//! An event never holds a secret: it names a token by its id, a user by name, a change by what
//! it changed ("password changed"), never by the value.
//!
//! Each event is durable (fsync'd) before the action's answer goes out: an action the caller
//! was told of is in the trail, short of a disk that refuses the write (then the server logs
//! that the event was lost: the action itself was done and stays done).

use std::net::IpAddr;
use std::sync::Arc;

use protocol::dashboard::time::rfc3339;
use serde_json::json;
use storage::{Store, StreamName};

use crate::auth::Caller;
use crate::ingest::{self, BodyFormat};

/// The stream of audit events.
pub(crate) const AUDIT_STREAM: &str = "_audit";

/// The most characters of a name typed at a failed login kept in its event.
const MAX_TYPED_NAME_CHARS: usize = 100;

/// Appends audit events to [`AUDIT_STREAM`].
#[derive(Clone)]
pub(crate) struct Audit {
    store: Arc<Store>,
}

/// Who did something, how they were recognized, and from where.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    /// A user's or an API token's name; for a failed login, the name typed; empty for no one.
    pub(crate) name: String,
    /// `session`, `password` (basic auth, or the login form), `token`, `open` or `anonymous`.
    pub(crate) via: &'static str,
    pub(crate) address: IpAddr,
}

impl Actor {
    /// The caller of a request from `address`.
    pub(crate) fn of(caller: &Caller, address: IpAddr) -> Actor {
        let via = match caller {
            Caller::Open => "open",
            Caller::Anonymous => "anonymous",
            Caller::User {
                session: Some(_), ..
            } => "session",
            Caller::User { .. } => "password",
            Caller::Token { .. } => "token",
        };
        Actor {
            name: caller.name().to_owned(),
            via,
            address,
        }
    }

    /// Someone logging in, by name and password, from `address` (the name as typed: a
    /// failed login's may name no user).
    pub(crate) fn logging_in(name: &str, address: IpAddr) -> Actor {
        Actor {
            name: name.chars().take(MAX_TYPED_NAME_CHARS).collect(),
            via: "password",
            address,
        }
    }
}

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    Login,
    LoginFailed,
    Logout,
    TokenCreate,
    TokenRevoke,
    UserAdd,
    UserChange,
    UserRemove,
    DashboardSave,
    DashboardDelete,
    DashboardRestore,
    AlertRuleSave,
    AlertRuleDelete,
    ContactPointSave,
    ContactPointDelete,
    PolicySave,
    SilenceCreate,
    SilenceDelete,
}

impl Action {
    /// The `action` column's value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Action::Login => "login",
            Action::LoginFailed => "login_failed",
            Action::Logout => "logout",
            Action::TokenCreate => "token_create",
            Action::TokenRevoke => "token_revoke",
            Action::UserAdd => "user_add",
            Action::UserChange => "user_change",
            Action::UserRemove => "user_remove",
            Action::DashboardSave => "dashboard_save",
            Action::DashboardDelete => "dashboard_delete",
            Action::DashboardRestore => "dashboard_restore",
            Action::AlertRuleSave => "alert_rule_save",
            Action::AlertRuleDelete => "alert_rule_delete",
            Action::ContactPointSave => "contact_point_save",
            Action::ContactPointDelete => "contact_point_delete",
            Action::PolicySave => "policy_save",
            Action::SilenceCreate => "silence_create",
            Action::SilenceDelete => "silence_delete",
        }
    }
}

impl Audit {
    pub(crate) fn new(store: Arc<Store>) -> Audit {
        Audit { store }
    }

    /// Appends what `actor` did to `target` (an id or a name; empty when there is none), with
    /// `detail` (what changed: never a secret), and waits until it is durable.
    pub(crate) async fn record(&self, actor: &Actor, action: Action, target: &str, detail: &str) {
        let event = json!({
            "_time": rfc3339(storage::now_micros()),
            "actor": actor.name,
            "via": actor.via,
            "address": actor.address.to_string(),
            "action": action.as_str(),
            "target": target,
            "detail": detail,
        });
        let store = Arc::clone(&self.store);
        let appended = tokio::task::spawn_blocking(move || {
            let stream = StreamName::new(AUDIT_STREAM).expect("a valid stream name");
            let body = format!("{event}\n");
            ingest::append_json(&store, &stream, body.as_bytes(), BodyFormat::Ndjson)
        })
        .await;
        let action = action.as_str();
        match appended {
            Ok(Ok(outcome)) if outcome.rejected.is_empty() => {}
            Ok(Ok(_)) => tracing::error!(action, "audit event rejected by its stream"),
            Ok(Err(err)) => tracing::error!(action, %err, "audit event not written"),
            Err(err) => tracing::error!(action, %err, "audit event's task failed"),
        }
    }
}

/// What a token made is: its name, scopes, streams and expiry (never its text).
pub(crate) fn token_detail(token: &protocol::auth::NewToken) -> String {
    let scopes: Vec<&str> = token.scopes.iter().map(|s| s.as_str()).collect();
    let mut detail = format!("`{}`, scopes {}", token.name, scopes.join(","));
    if !token.streams.trim().is_empty() {
        detail += &format!(", streams `{}`", token.streams.trim());
    }
    if let Some(expires) = &token.expires_at {
        detail += &format!(", expires {expires}");
    }
    detail
}

/// What a change of a user changed: the role to what it became, and whether the password
/// changed (never to what).
pub(crate) fn user_change_detail(change: &protocol::auth::UserChange) -> String {
    let role = change.role.map(|role| format!("role {role}"));
    let password = change
        .password
        .is_some()
        .then(|| "password changed".to_owned());
    let parts: Vec<String> = role.into_iter().chain(password).collect();
    if parts.is_empty() {
        "nothing".to_owned()
    } else {
        parts.join(", ")
    }
}

/// A dashboard saved: its title, the version it became, and the save's message.
pub(crate) fn dashboard_detail(title: &str, version: u64, message: &str) -> String {
    let mut detail = format!("`{title}` version {version}");
    if !message.trim().is_empty() {
        detail += &format!(": {}", message.trim());
    }
    detail
}

/// An alert rule saved: its title and the version it became.
pub(crate) fn rule_detail(rule: &protocol::alert::Rule) -> String {
    format!("`{}` version {}", rule.title, rule.version)
}

/// A contact point saved: its name and kind. Never its URL (a Slack webhook's is its secret),
/// headers or signing secret.
pub(crate) fn contact_point_detail(point: &protocol::alert::ContactPoint) -> String {
    format!("`{}`, {}", point.name, point.target.kind())
}

/// A silence made: what it matches, until when, and why.
pub(crate) fn silence_detail(silence: &protocol::alert::Silence) -> String {
    let matchers: Vec<String> = silence.matchers.iter().map(|m| m.to_string()).collect();
    let mut detail = format!("{{{}}} until {}", matchers.join(", "), silence.ends_at);
    if !silence.comment.trim().is_empty() {
        detail += &format!(": {}", silence.comment.trim());
    }
    detail
}

#[cfg(test)]
mod tests {
    use protocol::auth::{NewToken, Role, Scope, UserChange};

    use super::*;

    #[test]
    fn details_never_hold_the_secret() {
        let token = NewToken {
            name: "shipper".into(),
            scopes: vec![Scope::Ingest, Scope::Read],
            streams: "app_*".into(),
            expires_at: Some("2027-01-01T00:00:00Z".into()),
        };
        assert_eq!(
            token_detail(&token),
            "`shipper`, scopes ingest,read, streams `app_*`, expires 2027-01-01T00:00:00Z"
        );
        let change = UserChange {
            role: Some(Role::Editor),
            password: Some("correct horse battery".into()),
        };
        let detail = user_change_detail(&change);
        assert_eq!(detail, "role editor, password changed");
        assert!(!detail.contains("horse"));
    }

    #[test]
    fn an_actor_is_who_the_caller_is_and_how_they_were_recognized() {
        let address: IpAddr = "10.0.0.7".parse().unwrap();
        let user = Caller::User {
            name: "ann".into(),
            role: Role::Admin,
            session: Some("s1".into()),
        };
        let actor = Actor::of(&user, address);
        assert_eq!((actor.name.as_str(), actor.via), ("ann", "session"));
        assert_eq!(Actor::of(&Caller::Open, address).via, "open");
        let typed = "x".repeat(1000);
        assert_eq!(
            Actor::logging_in(&typed, address).name.len(),
            MAX_TYPED_NAME_CHARS
        );
    }
}
