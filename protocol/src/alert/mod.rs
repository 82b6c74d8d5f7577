//! Alerting: the documents a user writes (rules, contact points, the notification policy,
//! silences; docs/alerts.md), the states of an alert instance, and the templates of its
//! annotations ([`template`]).
//!
//! The server checks a rule against `docs/alert-rule.schema.json` before it deserializes it into
//! [`Rule`]; [`Rule::check`] adds what a JSON Schema cannot say (durations and templates that
//! parse). Whether the SQL runs is for the server to say.

mod matcher;
pub mod template;
mod view;

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::dashboard::Problem;
pub use matcher::{MatchOp, Matcher};
pub use view::{Backtest, Instance, RuleStatus, RuleSummary, SilenceView};

/// An alert rule: a query whose rows are the instances, a condition each row is held to, and how
/// long and how loudly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub uid: String,
    pub title: String,
    /// A query over one stream; its group-by columns identify an instance.
    pub sql: String,
    /// What a row's value is held to; without one, every row returned is alerting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<Condition>,
    /// How long the condition must hold before the instance fires (`0s`: at once).
    #[serde(rename = "for", default = "zero")]
    pub pending_for: String,
    /// How long an instance keeps firing once the condition stops holding.
    #[serde(default = "zero")]
    pub keep_firing_for: String,
    #[serde(default)]
    pub no_data: NoDataPolicy,
    #[serde(default)]
    pub on_error: ErrorPolicy,
    /// Contact points notified directly; without any, the notification policy routes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contact_points: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Templates: `{{ $labels.service }}`, `{{ $value }}`, `{{ humanize $value }}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<String>,
    #[serde(default)]
    pub paused: bool,
    /// The dashboard panel the rule was made from, for the picture in notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel: Option<PanelRef>,
    /// The version this document was read at (`0` for a rule not saved yet).
    #[serde(default)]
    pub version: u64,
}

fn zero() -> String {
    "0s".to_owned()
}

/// A dashboard's panel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelRef {
    pub dashboard: String,
    pub panel: u32,
}

/// `column op threshold`, over each row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub column: String,
    pub op: CompareOp,
    pub threshold: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = "==")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
        }
    }
}

impl Condition {
    /// Whether `value` meets the condition.
    pub fn holds(&self, value: f64) -> bool {
        let t = self.threshold;
        match self.op {
            CompareOp::Gt => value > t,
            CompareOp::Ge => value >= t,
            CompareOp::Lt => value < t,
            CompareOp::Le => value <= t,
            CompareOp::Eq => value == t,
            CompareOp::Ne => value != t,
        }
    }
}

/// What an instance becomes when the query has no value for it (Grafana's names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoDataPolicy {
    /// The instance enters the NoData state (notified like a firing alert).
    #[default]
    NoData,
    /// As if the condition held.
    Alerting,
    /// As if the condition did not hold.
    #[serde(rename = "OK")]
    Ok,
    /// The instance stays as it was.
    KeepLast,
}

/// What an instance becomes when the query fails (Grafana's names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorPolicy {
    /// The rule's instance enters the Error state (notified like a firing alert).
    #[default]
    Error,
    Alerting,
    #[serde(rename = "OK")]
    Ok,
    KeepLast,
}

/// The state of one alert instance.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub enum State {
    #[default]
    Normal,
    /// The condition holds, not yet for `for`.
    Pending,
    Firing,
    /// The condition stopped holding, less than `keep_firing_for` ago: still firing.
    Recovering,
    NoData,
    Error,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Normal,
        State::Pending,
        State::Firing,
        State::Recovering,
        State::NoData,
        State::Error,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::Normal => "Normal",
            State::Pending => "Pending",
            State::Firing => "Firing",
            State::Recovering => "Recovering",
            State::NoData => "NoData",
            State::Error => "Error",
        }
    }

    /// Whether notifications call the instance firing.
    pub fn is_active(self) -> bool {
        matches!(
            self,
            State::Firing | State::Recovering | State::NoData | State::Error
        )
    }

    pub fn parse(text: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change of an instance's state: what `_alerts` records and a backtest returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub rule_uid: String,
    pub title: String,
    pub fingerprint: String,
    pub labels: BTreeMap<String, String>,
    pub from: State,
    pub to: State,
    /// The value the instance had (its condition column), if any.
    pub value: Option<f64>,
    pub reason: String,
    /// µs since the epoch.
    pub time: i64,
    /// When the instance started firing: its alert's `startsAt` (kept on the move that resolves
    /// it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired_at: Option<i64>,
}

/// Where notifications go. (Unknown fields are the JSON Schema's to refuse: serde cannot with a
/// flattened enum.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContactPoint {
    pub uid: String,
    pub name: String,
    #[serde(flatten)]
    pub target: Target,
    /// Whether resolved alerts are notified too.
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

fn yes() -> bool {
    true
}

/// A contact point's kind and its settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Target {
    /// POSTs Alertmanager's webhook payload (version 4).
    Webhook {
        url: String,
        /// Signs the body: `X-Weir-Signature: sha256=<hex HMAC-SHA256>`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        headers: BTreeMap<String, String>,
    },
    /// A Slack incoming webhook.
    Slack {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        channel: Option<String>,
    },
    /// A Prometheus Alertmanager (its v2 API), which groups and routes on its own.
    Alertmanager { url: String },
}

impl Target {
    pub fn url(&self) -> &str {
        match self {
            Target::Webhook { url, .. }
            | Target::Slack { url, .. }
            | Target::Alertmanager { url } => url,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Target::Webhook { .. } => "webhook",
            Target::Slack { .. } => "slack",
            Target::Alertmanager { .. } => "alertmanager",
        }
    }
}

/// The notification policy: a tree of routes, Alertmanager's, whose root catches every alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// The contact point of alerts no child route takes (none: they are not notified).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    #[serde(default = "default_group_by")]
    pub group_by: Vec<String>,
    #[serde(default = "default_group_wait")]
    pub group_wait: String,
    #[serde(default = "default_group_interval")]
    pub group_interval: String,
    #[serde(default = "default_repeat_interval")]
    pub repeat_interval: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    /// Named time windows that routes mute notifications in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_intervals: Vec<TimeInterval>,
}

fn default_group_by() -> Vec<String> {
    vec!["alertname".to_owned()]
}
fn default_group_wait() -> String {
    "30s".to_owned()
}
fn default_group_interval() -> String {
    "5m".to_owned()
}
fn default_repeat_interval() -> String {
    "4h".to_owned()
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            receiver: None,
            group_by: default_group_by(),
            group_wait: default_group_wait(),
            group_interval: default_group_interval(),
            repeat_interval: default_repeat_interval(),
            routes: Vec::new(),
            time_intervals: Vec::new(),
        }
    }
}

/// A child route: alerts matching every matcher go to its receiver, with its timings (its
/// parent's where it sets none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    #[serde(default)]
    pub matchers: Vec<Matcher>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_by: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_wait: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_interval: Option<String>,
    /// Whether later sibling routes are tried after this one matched.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Names of [`Policy::time_intervals`] in which this route notifies nothing.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mute_time_intervals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

/// A named set of time windows (UTC): a moment is in it when it is in one of its ranges of the
/// day on one of its weekdays (all days when none is given).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeInterval {
    pub name: String,
    /// `{"start": "22:00", "end": "06:00"}`: an end before the start wraps past midnight.
    #[serde(default)]
    pub times: Vec<TimeOfDay>,
    /// `monday` … `sunday`.
    #[serde(default)]
    pub weekdays: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeOfDay {
    pub start: String,
    pub end: String,
}

pub const WEEKDAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

impl TimeInterval {
    /// Whether `weekday` (0 = Monday) at `minute` of the day (UTC) is inside.
    pub fn contains(&self, weekday: u32, minute: u32) -> bool {
        let day_ok = self.weekdays.is_empty()
            || self
                .weekdays
                .iter()
                .any(|d| WEEKDAYS.iter().position(|w| w == d) == Some(weekday as usize));
        let time_ok = self.times.is_empty()
            || self
                .times
                .iter()
                .any(|t| match (parse_clock(&t.start), parse_clock(&t.end)) {
                    (Some(s), Some(e)) if s <= e => (s..e).contains(&minute),
                    (Some(s), Some(e)) => minute >= s || minute < e,
                    _ => false,
                });
        day_ok && time_ok
    }
}

/// `HH:MM` as minutes of the day (`24:00` is the end of the day).
pub fn parse_clock(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
}

/// A silence: alerts matching every matcher are not notified between its start and end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Silence {
    /// Given by the server when created.
    #[serde(default)]
    pub id: String,
    pub matchers: Vec<Matcher>,
    /// RFC 3339; absent: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starts_at: Option<String>,
    /// RFC 3339.
    pub ends_at: String,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub created_by: String,
}

/// A duration as rules write it: `0`, `0s`, `30s`, `5m`, `1h30m`, `250ms`, `7d`. In µs.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "`{text}` is not a duration: write whole numbers with units ms, s, m, h, d, w \
             (e.g. 30s, 5m, 1h30m, 0s)"
        )
    };
    if text == "0" {
        return Ok(0);
    }
    let mut rest = text;
    let mut total: i64 = 0;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let number: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..letters] {
            "ms" => 1_000,
            "s" => 1_000_000,
            "m" => 60_000_000,
            "h" => 3_600_000_000,
            "d" => 86_400_000_000,
            "w" => 604_800_000_000,
            _ => return Err(bad()),
        };
        rest = &rest[letters..];
        total = number
            .checked_mul(unit)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(bad)?;
    }
    Ok(total)
}

/// What a uid may be (rules, contact points): as a dashboard's.
pub use crate::dashboard::{UID_RULE, is_uid};

fn problem(pointer: impl Into<String>, message: impl Into<String>) -> Problem {
    Problem {
        pointer: pointer.into(),
        message: message.into(),
    }
}

/// Whether `name` is a label name (Prometheus's rule: `[a-zA-Z_][a-zA-Z0-9_]*`).
pub fn is_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl Rule {
    /// The rule's `for`, in µs.
    pub fn pending_micros(&self) -> i64 {
        parse_duration(&self.pending_for).unwrap_or(0)
    }

    pub fn keep_firing_micros(&self) -> i64 {
        parse_duration(&self.keep_firing_for).unwrap_or(0)
    }

    /// The rules of a rule beyond its JSON Schema: the first problem found, if any.
    pub fn check(&self) -> Result<(), Problem> {
        if !is_uid(&self.uid) {
            return Err(problem("/uid", format!("a uid is {UID_RULE}")));
        }
        if self.title.trim().is_empty() {
            return Err(problem("/title", "a rule needs a title"));
        }
        for (pointer, text) in [
            ("/for", &self.pending_for),
            ("/keep_firing_for", &self.keep_firing_for),
        ] {
            parse_duration(text).map_err(|m| problem(pointer, m))?;
        }
        if let Some(condition) = &self.condition
            && !condition.threshold.is_finite()
        {
            return Err(problem(
                "/condition/threshold",
                "a threshold is a finite number",
            ));
        }
        for name in self.labels.keys() {
            if !is_label_name(name) {
                return Err(problem(
                    format!("/labels/{name}"),
                    "a label name is [a-zA-Z_][a-zA-Z0-9_]*",
                ));
            }
        }
        for (name, text) in &self.annotations {
            template::Template::parse(text)
                .map_err(|err| problem(format!("/annotations/{name}"), err.to_string()))?;
        }
        for (i, uid) in self.contact_points.iter().enumerate() {
            if !is_uid(uid) {
                return Err(problem(
                    format!("/contact_points/{i}"),
                    format!("a contact point uid is {UID_RULE}"),
                ));
            }
        }
        Ok(())
    }
}

/// Whether `url` is an http or https URL, or why not.
pub fn check_http_url(url: &str) -> Result<(), String> {
    let scheme = url.split_once("://").map(|(s, _)| s.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("http" | "https") if url.len() > scheme.as_ref().map_or(0, |s| s.len() + 3) => Ok(()),
        Some(other) => Err(format!(
            "`{url}`: the scheme {other}:// is not allowed, only http:// and https://"
        )),
        None => Err(format!(
            "`{url}` is not a URL: write http://host/path or https://host/path"
        )),
    }
}

impl ContactPoint {
    pub fn check(&self) -> Result<(), Problem> {
        if !is_uid(&self.uid) {
            return Err(problem("/uid", format!("a uid is {UID_RULE}")));
        }
        if self.name.trim().is_empty() {
            return Err(problem("/name", "a contact point needs a name"));
        }
        check_http_url(self.target.url()).map_err(|m| problem("/url", m))?;
        if let Target::Webhook { headers, .. } = &self.target {
            for name in headers.keys() {
                let token = !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                if !token {
                    return Err(problem(
                        format!("/headers/{name}"),
                        "not an HTTP header name",
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Policy {
    /// Durations that parse, receivers and intervals that are named, matchers that compile.
    pub fn check(&self, contact_point_exists: &dyn Fn(&str) -> bool) -> Result<(), Problem> {
        if let Some(r) = &self.receiver
            && !contact_point_exists(r)
        {
            return Err(problem("/receiver", format!("no contact point `{r}`")));
        }
        for (pointer, text) in [
            ("/group_wait", &self.group_wait),
            ("/group_interval", &self.group_interval),
            ("/repeat_interval", &self.repeat_interval),
        ] {
            parse_duration(text).map_err(|m| problem(pointer, m))?;
        }
        for (i, interval) in self.time_intervals.iter().enumerate() {
            for (j, t) in interval.times.iter().enumerate() {
                for (end, text) in [("start", &t.start), ("end", &t.end)] {
                    if parse_clock(text).is_none() {
                        return Err(problem(
                            format!("/time_intervals/{i}/times/{j}/{end}"),
                            format!("`{text}` is not a time of day: write HH:MM (UTC)"),
                        ));
                    }
                }
            }
            for (j, day) in interval.weekdays.iter().enumerate() {
                if !WEEKDAYS.contains(&day.as_str()) {
                    return Err(problem(
                        format!("/time_intervals/{i}/weekdays/{j}"),
                        format!("`{day}` is not a weekday: write monday … sunday"),
                    ));
                }
            }
        }
        check_routes(&self.routes, "", self, contact_point_exists)
    }
}

fn check_routes(
    routes: &[Route],
    prefix: &str,
    policy: &Policy,
    contact_point_exists: &dyn Fn(&str) -> bool,
) -> Result<(), Problem> {
    for (i, route) in routes.iter().enumerate() {
        let at = format!("{prefix}/routes/{i}");
        if let Some(r) = &route.receiver
            && !contact_point_exists(r)
        {
            return Err(problem(
                format!("{at}/receiver"),
                format!("no contact point `{r}`"),
            ));
        }
        for (name, text) in [
            ("group_wait", &route.group_wait),
            ("group_interval", &route.group_interval),
            ("repeat_interval", &route.repeat_interval),
        ] {
            if let Some(text) = text {
                parse_duration(text).map_err(|m| problem(format!("{at}/{name}"), m))?;
            }
        }
        for (j, m) in route.matchers.iter().enumerate() {
            m.check()
                .map_err(|msg| problem(format!("{at}/matchers/{j}"), msg))?;
        }
        for name in &route.mute_time_intervals {
            if !policy.time_intervals.iter().any(|t| &t.name == name) {
                return Err(problem(
                    format!("{at}/mute_time_intervals"),
                    format!("no time interval `{name}`"),
                ));
            }
        }
        check_routes(&route.routes, &at, policy, contact_point_exists)?;
    }
    Ok(())
}

/// The identity of an instance: a stable hash of its labels (FNV-1a, 64 bits, in hex), as
/// Alertmanager's `fingerprint`.
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (name, value) in labels {
        for byte in name
            .bytes()
            .chain([0xff])
            .chain(value.bytes())
            .chain([0xff])
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

#[cfg(test)]
mod tests;
