//! What the server says of alerting's running state: instances, how a rule runs, silences in
//! force, what a backtest found. The server answers with these; the app reads them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Rule, Silence, State, Transition};

/// An alert instance as `GET /api/v1/alerts` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub rule_uid: String,
    pub title: String,
    pub fingerprint: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: State,
    pub reason: String,
    /// Since when it is in this state, µs since the epoch.
    pub since: i64,
    /// Since when it is Pending or firing (the alert's `startsAt`), µs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_at: Option<i64>,
    pub value: Option<f64>,
    /// Silences that mute it now.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub silenced_by: Vec<String>,
}

/// How a rule runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleStatus {
    /// `incremental`, or `requery` with its reason and interval: how the engine keeps the query.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<crate::live::Mode>,
    /// Why the query is not running, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Changes of the result the rule took, and when it last took one (µs).
    #[serde(default)]
    pub evaluations: u64,
    #[serde(default)]
    pub last_evaluation: i64,
}

/// A rule as the rules list shows it: the document, how it runs, its instances by state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSummary {
    pub rule: Rule,
    pub status: RuleStatus,
    #[serde(default)]
    pub counts: BTreeMap<State, usize>,
    /// µs since the epoch.
    pub updated_at: i64,
    /// The file it is provisioned from (read-only then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<String>,
}

/// A silence and whether it holds now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SilenceView {
    #[serde(flatten)]
    pub silence: Silence,
    /// `pending`, `active` or `expired`.
    pub state: String,
}

/// What a backtest found: the transitions a rule would have made over `[from, to]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backtest {
    /// µs since the epoch.
    pub from: i64,
    pub to: i64,
    /// Events read (the warm-up before `from` included).
    pub events: u64,
    pub transitions: Vec<Transition>,
}
