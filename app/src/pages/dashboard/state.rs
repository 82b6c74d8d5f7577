//! What a dashboard view shows, as its URL says it: the time range (`from`, `to`), variable values
//! (`var-NAME`, repeated for several), the time zone (`tz`), `kiosk` and `edit`. A link
//! reproduces the view.

use std::collections::BTreeMap;

use leptos_router::params::ParamsMap;
use protocol::dashboard::substitute::Value;
use protocol::dashboard::time::{self, parse_duration};
use protocol::dashboard::{Dashboard, TimeRange, Variable, VariableKind};

use crate::pages::dashboards::encode;

/// The value of a variable meaning "every option".
pub(crate) const ALL: &str = "$__all";

/// How times are written: in UTC, or in the browser's zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Zone {
    Utc,
    Browser,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ViewState {
    pub(crate) from: String,
    pub(crate) to: String,
    /// Values chosen in the URL, by variable name (absent: the variable's default).
    pub(crate) vars: BTreeMap<String, Vec<String>>,
    pub(crate) zone: Zone,
    pub(crate) kiosk: bool,
    pub(crate) edit: bool,
}

impl ViewState {
    pub(crate) fn from_query(query: &ParamsMap, dashboard: &Dashboard) -> ViewState {
        let vars = dashboard
            .variables
            .iter()
            .filter_map(|v| {
                let values = query.get_all(&format!("var-{}", v.name))?;
                Some((v.name.clone(), values))
            })
            .collect();
        ViewState {
            from: query
                .get("from")
                .unwrap_or_else(|| dashboard.time.from.clone()),
            to: query.get("to").unwrap_or_else(|| dashboard.time.to.clone()),
            vars,
            zone: match query.get("tz").as_deref() {
                Some("browser") => Zone::Browser,
                _ => Zone::Utc,
            },
            kiosk: query.get("kiosk").is_some(),
            edit: query.get("edit").is_some(),
        }
    }

    /// The range, or the last 15 minutes when the URL's does not parse.
    pub(crate) fn range(&self) -> Result<TimeRange, (TimeRange, String)> {
        TimeRange::parse(&self.from, &self.to)
            .map_err(|err| (TimeRange::last(15 * 60 * 1_000_000), err.to_string()))
    }

    /// The URL's query string for this view.
    pub(crate) fn to_query(&self) -> String {
        let mut parts = vec![
            format!("from={}", encode(&self.from)),
            format!("to={}", encode(&self.to)),
        ];
        for (name, values) in &self.vars {
            for value in values {
                parts.push(format!("var-{name}={}", encode(value)));
            }
        }
        if self.zone == Zone::Browser {
            parts.push("tz=browser".into());
        }
        if self.kiosk {
            parts.push("kiosk".into());
        }
        if self.edit {
            parts.push("edit".into());
        }
        parts.join("&")
    }
}

/// A variable with the options it offers now and the value(s) picked.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Resolved {
    pub(crate) variable: Variable,
    pub(crate) options: Vec<String>,
    pub(crate) current: Vec<String>,
    /// Why the options could not be had (a query variable's SQL failed).
    pub(crate) error: Option<String>,
}

impl Resolved {
    pub(crate) fn new(
        variable: Variable,
        options: Vec<String>,
        chosen: Option<&Vec<String>>,
    ) -> Resolved {
        let current = match chosen {
            Some(values) if !values.is_empty() => values.clone(),
            _ if !variable.default.is_empty() => variable.default.clone(),
            _ => options.first().cloned().into_iter().collect(),
        };
        Resolved {
            variable,
            options,
            current,
            error: None,
        }
    }

    /// The value substituted for `$name`.
    pub(crate) fn value(&self) -> Value {
        let all = self.current.iter().any(|v| v == ALL);
        match self.variable.kind {
            VariableKind::Interval => {
                let micros = self
                    .current
                    .first()
                    .and_then(|v| parse_duration(v).ok())
                    .unwrap_or(60_000_000);
                Value::Interval(micros)
            }
            _ if all => Value::List(self.options.clone()),
            _ if self.variable.multi => Value::List(self.current.clone()),
            _ => Value::Text(self.current.first().cloned().unwrap_or_default()),
        }
    }
}

/// The values of resolved variables, for substitution.
pub(crate) fn values(resolved: &[Resolved]) -> BTreeMap<String, Value> {
    resolved
        .iter()
        .map(|r| (r.variable.name.clone(), r.value()))
        .collect()
}

/// Quick ranges of the time picker: label, `from` (to is `now`).
pub(crate) const QUICK_RANGES: [(&str, &str); 11] = [
    ("Last 5 minutes", "now-5m"),
    ("Last 15 minutes", "now-15m"),
    ("Last 30 minutes", "now-30m"),
    ("Last 1 hour", "now-1h"),
    ("Last 3 hours", "now-3h"),
    ("Last 6 hours", "now-6h"),
    ("Last 12 hours", "now-12h"),
    ("Last 24 hours", "now-24h"),
    ("Last 2 days", "now-2d"),
    ("Last 7 days", "now-7d"),
    ("Last 30 days", "now-30d"),
];

/// How the picker names a range: "Last 15 minutes", or its two ends.
pub(crate) fn describe(from: &str, to: &str) -> String {
    if let Some((label, _)) = QUICK_RANGES.iter().find(|(_, f)| *f == from && to == "now") {
        return (*label).to_string();
    }
    let end = |text: &str| match text.parse::<protocol::dashboard::Instant>() {
        Ok(protocol::dashboard::Instant::At(micros)) => time::rfc3339(micros)
            .replace('T', " ")
            .trim_end_matches('Z')
            .to_string(),
        _ => text.to_string(),
    };
    format!("{} to {}", end(from), end(to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_round_trips_the_view() {
        let dashboard: Dashboard = serde_json::from_value(serde_json::json!({
            "uid": "web", "title": "Web",
            "variables": [
                {"name": "service", "type": "custom", "options": ["api", "web"], "multi": true},
                {"name": "step", "type": "interval", "options": ["1m", "5m"]}
            ]
        }))
        .unwrap();
        let mut query = ParamsMap::new();
        query.insert("from", "now-1h".into());
        query.insert("var-service", "api".into());
        query.insert("var-service", "we b&x".into());
        query.insert("kiosk", String::new());
        let view = ViewState::from_query(&query, &dashboard);
        assert_eq!(view.to, "now");
        assert_eq!(view.vars["service"], ["api", "we b&x"]);
        assert!(view.kiosk && !view.edit);
        assert_eq!(
            view.to_query(),
            "from=now-1h&to=now&var-service=api&var-service=we%20b%26x&kiosk"
        );
        let step = Resolved::new(
            dashboard.variables[1].clone(),
            vec!["1m".into(), "5m".into()],
            None,
        );
        assert_eq!(step.value(), Value::Interval(60_000_000));
        let all = Resolved::new(
            dashboard.variables[0].clone(),
            vec!["api".into(), "web".into()],
            Some(&vec![ALL.to_string()]),
        );
        assert_eq!(all.value(), Value::List(vec!["api".into(), "web".into()]));
        assert_eq!(describe("now-15m", "now"), "Last 15 minutes");
        assert_eq!(
            describe("1796014800000", "now"),
            "2026-11-30 05:00:00 to now"
        );
    }
}
