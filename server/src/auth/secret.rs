//! Secrets handed out once: API tokens (`weir_<id>_<secret>`) and session cookies
//! (`<id>.<secret>`). The id finds the row; the row keeps only the SHA-256 of the secret, and
//! the comparison with it is constant-time. 32 random bytes make a secret: no one guesses one,
//! so a fast hash suffices (a password needs argon2 because people choose them).

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What every token starts with, so that scanners and people recognize one.
pub(crate) const TOKEN_PREFIX: &str = "weir_";

const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// A credential just made: its id, the hash to store, and the text to hand out once.
pub(crate) struct Issued {
    pub(crate) id: String,
    pub(crate) secret_sha256: String,
    pub(crate) text: String,
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the operating system's random source");
    hex::encode(buf)
}

fn issue(text: impl FnOnce(&str, &str) -> String) -> Issued {
    let id = random_hex(ID_BYTES);
    let secret = random_hex(SECRET_BYTES);
    Issued {
        text: text(&id, &secret),
        secret_sha256: sha256(&secret),
        id,
    }
}

pub(crate) fn new_token() -> Issued {
    issue(|id, secret| format!("{TOKEN_PREFIX}{id}_{secret}"))
}

pub(crate) fn new_session() -> Issued {
    issue(|id, secret| format!("{id}.{secret}"))
}

/// The id and secret of a token's text, if it is shaped as one.
pub(crate) fn parse_token(text: &str) -> Option<(&str, &str)> {
    let (id, secret) = text.strip_prefix(TOKEN_PREFIX)?.split_once('_')?;
    well_formed(id, secret).then_some((id, secret))
}

/// The id and secret of a session cookie's value, if it is shaped as one.
pub(crate) fn parse_session(text: &str) -> Option<(&str, &str)> {
    let (id, secret) = text.split_once('.')?;
    well_formed(id, secret).then_some((id, secret))
}

fn well_formed(id: &str, secret: &str) -> bool {
    let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
    hex(id, 2 * ID_BYTES) && hex(secret, 2 * SECRET_BYTES)
}

fn sha256(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether `secret` hashes to `stored` (hex SHA-256), in time independent of where they differ.
pub(crate) fn secret_matches(secret: &str, stored: &str) -> bool {
    sha256(secret).as_bytes().ct_eq(stored.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_parses_back_and_matches_only_its_hash() {
        let token = new_token();
        assert!(token.text.starts_with("weir_"));
        let (id, secret) = parse_token(&token.text).unwrap();
        assert_eq!(id, token.id);
        assert!(secret_matches(secret, &token.secret_sha256));
        assert!(!token.text.contains(&token.secret_sha256));
        let other = new_token();
        assert_ne!(other.id, token.id);
        assert!(!secret_matches(secret, &other.secret_sha256));
    }

    #[test]
    fn a_session_parses_back() {
        let session = new_session();
        let (id, secret) = parse_session(&session.text).unwrap();
        assert_eq!(id, session.id);
        assert!(secret_matches(secret, &session.secret_sha256));
    }

    #[test]
    fn malformed_credentials_do_not_parse() {
        let token = new_token().text;
        for bad in [
            "",
            "weir_",
            "weir_abc_def",
            &token[..token.len() - 1],
            &format!("{token}0"),
            &token.replace("weir_", "wier_"),
            &format!("weir_{}_{}", "g".repeat(16), "0".repeat(64)),
        ] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
        assert_eq!(parse_session("abc.def"), None);
        assert_eq!(parse_session(&"a".repeat(1 << 20)), None);
    }
}
