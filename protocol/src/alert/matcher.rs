//! Label matchers, Alertmanager's: `name = value`, `!=`, `=~` and `!~` (regular expressions,
//! anchored at both ends). The server compiles the expressions; this crate has no regex engine.

use serde::{Deserialize, Serialize};

use super::is_label_name;

/// One matcher: `{"name": "service", "op": "=~", "value": "check.*"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MatchOp {
    #[serde(rename = "=")]
    Equal,
    #[serde(rename = "!=")]
    NotEqual,
    #[serde(rename = "=~")]
    Regex,
    #[serde(rename = "!~")]
    NotRegex,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }

    pub fn is_regex(self) -> bool {
        matches!(self, MatchOp::Regex | MatchOp::NotRegex)
    }

    /// Whether a match means the alert is selected (`=`, `=~`) or not (`!=`, `!~`).
    pub fn is_positive(self) -> bool {
        matches!(self, MatchOp::Equal | MatchOp::Regex)
    }
}

impl Matcher {
    /// Whether the label name is one (the regular expression is the server's to check).
    pub fn check(&self) -> Result<(), String> {
        if is_label_name(&self.name) {
            Ok(())
        } else {
            Err(format!(
                "`{}` is not a label name: [a-zA-Z_][a-zA-Z0-9_]*",
                self.name
            ))
        }
    }
}

impl Matcher {
    /// Reads Alertmanager's text form: `service="checkout"`, `env=~prod.*`, `code != 200`.
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let text = text.trim();
        let at = text
            .find(['=', '!'])
            .ok_or_else(|| format!("`{text}` is not a matcher: write name=value, !=, =~ or !~"))?;
        let (name, rest) = text.split_at(at);
        let (op, value) = [
            ("=~", MatchOp::Regex),
            ("!~", MatchOp::NotRegex),
            ("!=", MatchOp::NotEqual),
            ("=", MatchOp::Equal),
        ]
        .into_iter()
        .find_map(|(token, op)| rest.strip_prefix(token).map(|value| (op, value)))
        .ok_or_else(|| format!("`{text}` is not a matcher: write name=value, !=, =~ or !~"))?;
        let value = value.trim();
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\\\"", "\"").replace("\\\\", "\\"),
            None => value.to_owned(),
        };
        let matcher = Matcher {
            name: name.trim().to_owned(),
            op,
            value,
        };
        matcher.check()?;
        Ok(matcher)
    }
}

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}
