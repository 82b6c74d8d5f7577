//! What a request needs and what a caller holds: the permission each route declares, the scopes
//! a token carries, the streams an ingest token may write. Pure rules, no I/O: the route layer
//! and the token store apply them.

use protocol::auth::{Role, Scope};

/// What a route needs. Every route declares one; a route without one is refused to everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Permission {
    /// Anyone: the login page, the health check, the web app's files.
    Public,
    /// Read dashboards, streams and alerts; query; watch live.
    Read,
    /// Write events (to the streams a token's pattern allows).
    Ingest,
    /// Change dashboards, alert rules, contact points, silences.
    Write,
    /// Users, tokens, settings.
    Admin,
}

impl Permission {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Permission::Public => "public",
            Permission::Read => "read",
            Permission::Ingest => "ingest",
            Permission::Write => "write",
            Permission::Admin => "admin",
        }
    }

    /// The role a user needs for it.
    pub(crate) fn least_role(self) -> Role {
        match self {
            Permission::Public | Permission::Read => Role::Viewer,
            Permission::Ingest | Permission::Write => Role::Editor,
            Permission::Admin => Role::Admin,
        }
    }

    /// The scope a token needs for it (`None`: none at all).
    pub(crate) fn least_scope(self) -> Option<Scope> {
        match self {
            Permission::Public => None,
            Permission::Read => Some(Scope::Read),
            Permission::Ingest => Some(Scope::Ingest),
            Permission::Write => Some(Scope::Write),
            Permission::Admin => Some(Scope::Admin),
        }
    }
}

/// Whether a user of `role` holds `permission`.
pub(crate) fn role_allows(role: Role, permission: Permission) -> bool {
    role >= permission.least_role()
}

/// Whether a token with `scopes` holds `permission`: `admin` holds every one, `write` holds
/// `read` too (an editor of dashboards reads them), the others only their own.
pub(crate) fn scopes_allow(scopes: &[Scope], permission: Permission) -> bool {
    let has = |scope| scopes.contains(&scope) || scopes.contains(&Scope::Admin);
    match permission {
        Permission::Public => true,
        Permission::Read => has(Scope::Read) || has(Scope::Write),
        Permission::Ingest => has(Scope::Ingest),
        Permission::Write => has(Scope::Write),
        Permission::Admin => has(Scope::Admin),
    }
}

/// The streams an ingest token may write: comma-separated globs where `*` stands for any run
/// of characters (`app_*`, `app_*,audit`); empty or `*` is every stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StreamPatterns(Vec<String>);

impl StreamPatterns {
    pub(crate) fn parse(text: &str) -> Result<StreamPatterns, String> {
        let patterns: Vec<String> = text
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        for pattern in &patterns {
            let ok = pattern
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '*'));
            if !ok {
                return Err(format!(
                    "stream pattern `{pattern}`: letters, digits, `_`, `-`, `.` and `*` only"
                ));
            }
        }
        Ok(StreamPatterns(patterns))
    }

    /// Whether `stream` is one of the patterns' streams.
    pub(crate) fn allows(&self, stream: &str) -> bool {
        self.0.is_empty() || self.0.iter().any(|p| glob(p.as_bytes(), stream.as_bytes()))
    }

    /// As written back (comma-separated).
    pub(crate) fn text(&self) -> String {
        self.0.join(",")
    }
}

/// `*`-only glob matching, iterative with one backtrack point: linear in practice, never
/// exponential whatever the pattern.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn roles_hold_their_permissions() {
        use Permission::*;
        let table = [
            (Role::Viewer, [true, true, false, false, false]),
            (Role::Editor, [true, true, true, true, false]),
            (Role::Admin, [true, true, true, true, true]),
        ];
        for (role, expected) in table {
            let got = [Public, Read, Ingest, Write, Admin].map(|p| role_allows(role, p));
            assert_eq!(got, expected, "{role}");
        }
    }

    #[test]
    fn scopes_hold_their_permissions() {
        use Permission::*;
        let all = [Public, Read, Ingest, Write, Admin];
        let check = |scopes: &[Scope], expected: [bool; 5]| {
            assert_eq!(all.map(|p| scopes_allow(scopes, p)), expected, "{scopes:?}");
        };
        check(&[], [true, false, false, false, false]);
        check(&[Scope::Ingest], [true, false, true, false, false]);
        check(&[Scope::Read], [true, true, false, false, false]);
        check(&[Scope::Write], [true, true, false, true, false]);
        check(&[Scope::Admin], [true; 5]);
    }

    #[test]
    fn stream_patterns() {
        let p = StreamPatterns::parse("app_*, audit").unwrap();
        assert!(p.allows("app_web") && p.allows("app_") && p.allows("audit"));
        assert!(!p.allows("audit2") && !p.allows("xapp_web") && !p.allows("ap"));
        assert!(StreamPatterns::parse("").unwrap().allows("anything"));
        assert!(StreamPatterns::parse("*").unwrap().allows("anything"));
        assert!(StreamPatterns::parse("a*b*c").unwrap().allows("aXXbYYc"));
        assert!(!StreamPatterns::parse("a*b*c").unwrap().allows("aXXbYY"));
        assert!(StreamPatterns::parse("app/*").is_err());
        assert_eq!(p.text(), "app_*,audit");
    }

    /// The definition of a glob, recursive (exponential, fine for short strings): the model.
    fn model(p: &[u8], t: &[u8]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some((b'*', rest)) => (0..=t.len()).any(|i| model(rest, &t[i..])),
            Some((c, rest)) => t.first() == Some(c) && model(rest, &t[1..]),
        }
    }

    proptest! {
        #[test]
        fn glob_matches_as_a_regex_would(pattern in "[ab*]{0,8}", text in "[ab]{0,10}") {
            prop_assert_eq!(
                glob(pattern.as_bytes(), text.as_bytes()),
                model(pattern.as_bytes(), text.as_bytes())
            );
        }
    }
}
