//! Label matchers compiled (regular expressions anchored at both ends, as Alertmanager's), and
//! silences: which alerts they mute, and when.

use std::collections::BTreeMap;

use protocol::alert::{MatchOp, Matcher, Silence};
use regex::Regex;

/// A matcher ready to test label sets.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    name: String,
    op: MatchOp,
    value: String,
    regex: Option<Regex>,
}

impl Compiled {
    pub(crate) fn new(m: &Matcher) -> Result<Compiled, String> {
        m.check()?;
        let regex = if m.op.is_regex() {
            Some(
                Regex::new(&format!("^(?:{})$", m.value))
                    .map_err(|e| format!("`{}` is not a regular expression: {e}", m.value))?,
            )
        } else {
            None
        };
        Ok(Compiled {
            name: m.name.clone(),
            op: m.op,
            value: m.value.clone(),
            regex,
        })
    }

    /// Whether `labels` match (a missing label is the empty string, as in Alertmanager).
    pub(crate) fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let value = labels.get(&self.name).map_or("", String::as_str);
        let hit = match &self.regex {
            Some(regex) => regex.is_match(value),
            None => value == self.value,
        };
        hit == self.op.is_positive()
    }
}

/// Compiles every matcher, or says which one is wrong.
pub(crate) fn compile(matchers: &[Matcher]) -> Result<Vec<Compiled>, (usize, String)> {
    matchers
        .iter()
        .enumerate()
        .map(|(i, m)| Compiled::new(m).map_err(|e| (i, e)))
        .collect()
}

pub(crate) fn all_match(matchers: &[Compiled], labels: &BTreeMap<String, String>) -> bool {
    matchers.iter().all(|m| m.matches(labels))
}

/// A silence with its times read and its matchers compiled.
#[derive(Debug, Clone)]
pub(crate) struct Active {
    pub(crate) id: String,
    pub(crate) starts_at: i64,
    pub(crate) ends_at: i64,
    matchers: Vec<Compiled>,
}

impl Active {
    pub(crate) fn new(silence: &Silence, starts_at: i64, ends_at: i64) -> Result<Active, String> {
        Ok(Active {
            id: silence.id.clone(),
            starts_at,
            ends_at,
            matchers: compile(&silence.matchers).map_err(|(_, e)| e)?,
        })
    }

    /// Whether it mutes `labels` at `now` (µs).
    pub(crate) fn mutes(&self, labels: &BTreeMap<String, String>, now: i64) -> bool {
        self.starts_at <= now && now < self.ends_at && all_match(&self.matchers, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> BTreeMap<String, String> {
        [("service", "checkout"), ("route", "/pay")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    fn m(name: &str, op: MatchOp, value: &str) -> Compiled {
        Compiled::new(&Matcher {
            name: name.to_owned(),
            op,
            value: value.to_owned(),
        })
        .unwrap()
    }

    #[test]
    fn matchers_as_alertmanager_reads_them() {
        let l = labels();
        assert!(m("service", MatchOp::Equal, "checkout").matches(&l));
        assert!(!m("service", MatchOp::NotEqual, "checkout").matches(&l));
        assert!(m("service", MatchOp::Regex, "check.*").matches(&l));
        // Anchored: a part of the value is not a match.
        assert!(!m("service", MatchOp::Regex, "check").matches(&l));
        assert!(m("service", MatchOp::NotRegex, "web|api").matches(&l));
        // A missing label is empty.
        assert!(m("team", MatchOp::Equal, "").matches(&l));
        assert!(!m("team", MatchOp::Regex, ".+").matches(&l));
        let bad = Compiled::new(&Matcher {
            name: "x".into(),
            op: MatchOp::Regex,
            value: "(".into(),
        });
        assert!(bad.unwrap_err().contains("not a regular expression"));
    }

    #[test]
    fn a_silence_mutes_inside_its_window_only() {
        let silence = Silence {
            id: "s1".into(),
            matchers: vec![Matcher {
                name: "service".into(),
                op: MatchOp::Equal,
                value: "checkout".into(),
            }],
            starts_at: None,
            ends_at: String::new(),
            comment: String::new(),
            created_by: String::new(),
        };
        let active = Active::new(&silence, 100, 200).unwrap();
        assert!(!active.mutes(&labels(), 99));
        assert!(active.mutes(&labels(), 100));
        assert!(!active.mutes(&labels(), 200));
    }
}
