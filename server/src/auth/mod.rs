//! Who may do what: users with roles and argon2id-hashed passwords (managed with `weir user`),
//! API tokens with scopes, browser sessions, and the rules that say whether a caller holds the
//! permission a route declares. The route layer (`router::guard`) applies them to every request.

pub(crate) mod access;
mod limiter;
mod manage;
mod password;
mod secret;
mod service;
pub mod users;

pub use protocol::auth::Role;

pub(crate) use password::hash_password;
pub(crate) use service::{Auth, AuthError, Caller, Credential, LiveWatch, SESSION_LIFETIME};

/// The longest user name.
const MAX_NAME_CHARS: usize = 64;

/// The shortest password accepted.
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;

/// The longest password accepted: argon2 takes any length, but hashing a megabyte is a cost
/// anyone could impose.
pub(crate) const MAX_PASSWORD_BYTES: usize = 1024;

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
