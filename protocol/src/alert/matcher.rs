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

impl std::fmt::Display for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}
