//! Who may do what. This step: users, their roles, and their passwords hashed with argon2id, kept
//! in the metadata database and managed with `weir user` (issue 15 adds tokens, sessions and the
//! one permission check on every route).

mod password;
pub mod users;

use std::fmt;
use std::str::FromStr;

pub(crate) use password::hash_password;

/// What a user may do; each role may do what the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
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

/// The longest user name.
const MAX_NAME_CHARS: usize = 64;

/// The shortest password accepted.
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;

/// The longest password accepted: argon2 takes any length, but hashing a megabyte is a cost
/// anyone could impose.
const MAX_PASSWORD_BYTES: usize = 1024;

/// A user name is 1–64 letters, digits, `_`, `-`, `.` or `@` (an e-mail address fits).
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "a user name is 1 to {MAX_NAME_CHARS} letters, digits, `_`, `-`, `.` or `@`"
        ))
    }
}

/// A password is at least 8 characters and at most 1 KiB. The message never repeats it.
pub(crate) fn check_password(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(format!(
            "the password is too short: at least {MIN_PASSWORD_CHARS} characters"
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(format!(
            "the password is too long: at most {MAX_PASSWORD_BYTES} bytes"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
