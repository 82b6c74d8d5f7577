//! Who is asking and what they may do, as the API and the web app see it: roles, token scopes,
//! the current caller, and API tokens as asked for and as listed.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a user may do; each role may do what the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read dashboards, query, watch live.
    Viewer,
    /// And change dashboards, alert rules, contact points and silences; ingest.
    Editor,
    /// And manage users, tokens and settings.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s.to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "editor" => Ok(Role::Editor),
            "admin" => Ok(Role::Admin),
            _ => Err(format!(
                "unknown role `{s}`: a role is one of admin, editor, viewer"
            )),
        }
    }
}

/// What an API token may do: one or more of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// Write events (to the streams the token's patterns allow).
    Ingest,
    /// Query, watch live, read dashboards and alerts.
    Read,
    /// Change dashboards and alerting (and read them).
    Write,
    /// Everything, users and tokens included.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Ingest, Scope::Read, Scope::Write, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;

    fn from_str(s: &str) -> Result<Scope, String> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| {
                format!("unknown scope `{s}`: a scope is one of ingest, read, write, admin")
            })
    }
}

/// How the caller of a request was recognized.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// Not at all: the server is open (no users yet, on a loopback address).
    Open,
    /// A browser session's cookie.
    Session,
    /// HTTP basic auth with a user's name and password.
    Password,
    /// An API token (bearer, or the password of basic auth).
    Token,
}

/// `GET /api/v1/auth/me`: who the server takes the caller for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    /// The user's name, or the token's; `None` when the server is open.
    pub name: Option<String>,
    /// What the caller may do as a role (a token's scopes mapped onto the nearest role).
    pub role: Role,
    pub via: Via,
}

/// `POST /api/v1/tokens`: a token to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Comma-separated stream-name globs an `ingest` token may write (`app_*`); empty for all.
    #[serde(default)]
    pub streams: String,
    /// RFC 3339; `None` never expires.
    #[serde(default)]
    pub expires_at: Option<String>,
}

/// The reply to `POST /api/v1/tokens`: the token's text, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedToken {
    pub id: String,
    pub token: String,
}

/// Whether a token can still be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenState {
    Active,
    Expired,
    Revoked,
}

/// A token as `GET /api/v1/tokens` lists it (never its secret). Times are RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    /// The user who made it; empty when the server was open.
    pub owner: String,
    pub scopes: Vec<Scope>,
    pub streams: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub state: TokenState,
}

/// A user as `GET /api/v1/users` lists it (never a password or its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    pub name: String,
    pub role: Role,
    /// RFC 3339.
    pub created_at: String,
}

/// `POST /api/v1/users`: a user to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    pub role: Role,
    pub password: String,
}

/// `PUT /api/v1/users/{name}`: a new role, a new password, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub password: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_and_scopes_parse_and_print() {
        for role in [Role::Viewer, Role::Editor, Role::Admin] {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("Admin".parse::<Role>(), Ok(Role::Admin));
        let err = "root".parse::<Role>().unwrap_err();
        assert!(err.contains("one of admin, editor, viewer"), "{err}");
        assert!(Role::Admin > Role::Editor && Role::Editor > Role::Viewer);
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
            assert_eq!(
                serde_json::to_string(&scope).unwrap(),
                format!("\"{scope}\"")
            );
        }
        assert!(
            "root"
                .parse::<Scope>()
                .unwrap_err()
                .contains("one of ingest")
        );
    }

    #[test]
    fn a_new_token_names_what_it_does_not_know() {
        let err = serde_json::from_str::<NewToken>(r#"{"name":"x","scopes":["root"]}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `root`"), "{err}");
        let err = serde_json::from_str::<NewToken>(r#"{"name":"x","scopes":[],"stream":"a"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `stream`"), "{err}");
        let ok: NewToken = serde_json::from_str(r#"{"name":"x","scopes":["ingest"]}"#).unwrap();
        assert_eq!((ok.streams.as_str(), ok.expires_at), ("", None));
    }
}
