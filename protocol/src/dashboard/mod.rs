//! Dashboards: the document a user makes, keeps and versions (docs/dashboards.md), and the rules
//! that turn a panel's SQL into the SQL that runs ([`substitute()`]) for a time range ([`time`]).
//!
//! The server checks a document against `docs/dashboard.schema.json` before it deserializes it
//! into [`Dashboard`]; [`Dashboard::check`] adds the rules a JSON Schema cannot say (unique panel
//! ids, panels inside the 24-column grid, time expressions that parse).

pub mod substitute;
pub mod time;

use serde::{Deserialize, Serialize};

pub use substitute::{Scope, SubstituteError, Value as VariableValue, page, substitute};
pub use time::{Instant, TimeError, TimeRange};

/// Columns of the dashboard grid.
pub const GRID_COLUMNS: u32 = 24;

/// What a dashboard uid may be, as error messages say it.
pub const UID_RULE: &str = "1 to 64 characters from [a-z0-9_-]";

/// Whether `uid` follows [`UID_RULE`]: safe in a URL path and as a file name.
pub fn is_uid(uid: &str) -> bool {
    (1..=64).contains(&uid.len())
        && uid
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// A dashboard: panels of live SQL on a grid, with variables and a default time range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    pub uid: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub tags: Vec<String>,
    /// The range shown when the URL names none.
    #[serde(default)]
    pub time: TimeSpec,
    #[serde(default)]
    pub variables: Vec<Variable>,
    #[serde(default)]
    pub panels: Vec<Panel>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub annotations: Vec<Annotation>,
    /// The version this document was read at: a save must name the version it replaces. `0` (or
    /// absent) for a dashboard not saved yet.
    #[serde(default)]
    pub version: u64,
}

/// A time range as written: `now-15m`, `now`, RFC 3339, or milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeSpec {
    pub from: String,
    pub to: String,
}

impl Default for TimeSpec {
    fn default() -> TimeSpec {
        TimeSpec {
            from: "now-15m".into(),
            to: "now".into(),
        }
    }
}

/// A panel: one SQL query drawn one way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    /// Unique in its dashboard; names the panel in URLs (`/panels/{id}/render.png`).
    pub id: u32,
    pub title: String,
    #[serde(rename = "type")]
    pub kind: PanelKind,
    pub sql: String,
    pub grid: Grid,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default)]
    pub options: PanelOptions,
}

/// How a panel draws its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PanelKind {
    /// Lines over time: the first timestamp column is x, numeric columns are series.
    Timeseries,
    /// Bars: one per row, labelled by the first text column (or over time, like a time series).
    Bar,
    /// A big number (the last row's value) with a sparkline of the rows.
    Stat,
    /// A dial from `min` to `max` with the thresholds' colours.
    Gauge,
    /// The rows as a table, paged.
    Table,
    /// Raw events, newest first, paged.
    Logs,
    /// Time on x, a bucket column on y, a count as colour.
    Heatmap,
}

impl PanelKind {
    pub const ALL: [PanelKind; 7] = [
        PanelKind::Timeseries,
        PanelKind::Bar,
        PanelKind::Stat,
        PanelKind::Gauge,
        PanelKind::Table,
        PanelKind::Logs,
        PanelKind::Heatmap,
    ];

    /// Rows a `table` or `logs` panel whose body is `height` pixels high shows on a page (the
    /// web app's row heights: 29 px a table row under its header, 22 px a log line above the
    /// pager), at least 3; `None` for the other types, which are not paged.
    pub fn page_rows(self, height: u32) -> Option<usize> {
        match self {
            PanelKind::Table => Some((height.saturating_sub(60) / 29).max(3) as usize),
            PanelKind::Logs => Some((height.saturating_sub(40) / 22).max(3) as usize),
            _ => None,
        }
    }

    /// The name in documents (`timeseries`, `stat`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            PanelKind::Timeseries => "timeseries",
            PanelKind::Bar => "bar",
            PanelKind::Stat => "stat",
            PanelKind::Gauge => "gauge",
            PanelKind::Table => "table",
            PanelKind::Logs => "logs",
            PanelKind::Heatmap => "heatmap",
        }
    }
}

/// A panel's place on the grid: columns `x..x+w` of [`GRID_COLUMNS`], rows `y..y+h` (a row is
/// 30 px, as in Grafana).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

/// How values are shown. Every field is optional; absent means the panel's default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PanelOptions {
    /// `none`, `short`, `percent` (0-100), `percentunit` (0-1), `ms`, `s`, `bytes`, `reqps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Colours by value: each step applies from its value up; the first has no value (the base).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<Threshold>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legend: Option<Legend>,
    /// Stack the series of a time series or bar chart.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stack: bool,
    /// A column whose values name the series (long format: `time, service, value`): one series
    /// per distinct value, instead of one per numeric column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
}

/// A threshold step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// From which value on (`null` for the base step).
    pub value: Option<f64>,
    /// A CSS colour: `#rrggbb` or a name.
    pub color: String,
}

/// Where a chart's legend goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Legend {
    Bottom,
    Right,
    Hidden,
}

/// A variable: a value the viewer picks above the panels, used in their SQL as `$name`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// `[A-Za-z_][A-Za-z0-9_]*`, unique in its dashboard, not starting with `__`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(rename = "type")]
    pub kind: VariableKind,
    /// `query`: SQL whose first column gives the values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// `custom` and `interval`: the values to choose from (intervals as `10s`, `1m`, `1h`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// Several values may be picked; `$name` then expands to a list of literals.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi: bool,
    /// Offer "All": every value of the options.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_all: bool,
    /// The value(s) picked when the URL names none (the first option if empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub default: Vec<String>,
}

/// Where a variable's values come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VariableKind {
    /// The first column of an SQL query's rows.
    Query,
    /// A fixed list.
    Custom,
    /// Free text.
    Textbox,
    /// A time interval picked from a list, substituted as `INTERVAL '…'`.
    Interval,
}

/// An annotation query: SQL returning `time`, `text`, and optionally `end` and `tags`, drawn on
/// every time series of the dashboard as markers (or regions, with `end`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Annotation {
    pub name: String,
    pub sql: String,
    #[serde(default = "annotation_color")]
    pub color: String,
}

fn annotation_color() -> String {
    "#f2cc0c".into()
}

/// A dashboard as the server gives it: the document, and where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Found {
    pub dashboard: Dashboard,
    /// µs since the epoch of its last save (or its file's last load).
    pub updated_at: i64,
    /// The file it is provisioned from, when it is: read-only then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<String>,
}

/// A line of the dashboards list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub uid: String,
    pub title: String,
    pub tags: Vec<String>,
    pub version: u64,
    pub updated_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<String>,
}

/// A provisioning file that could not be loaded: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProblem {
    pub file: String,
    /// 1-based; 0 when the file could not be read at all.
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The dashboards list: those that matched, and the provisioning files that did not load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Listing {
    pub dashboards: Vec<Summary>,
    pub problems: Vec<FileProblem>,
}

/// What is wrong with a document, and where: a JSON pointer (`/panels/2/grid/w`) to the part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

impl Dashboard {
    /// The rules of a dashboard beyond its JSON Schema: the first problem found, if any.
    pub fn check(&self) -> Result<(), Problem> {
        let problem = |pointer: String, message: String| Err(Problem { pointer, message });
        if !is_uid(&self.uid) {
            return problem("/uid".into(), format!("a uid is {UID_RULE}"));
        }
        for (end, text) in [("from", &self.time.from), ("to", &self.time.to)] {
            if let Err(err) = text.parse::<Instant>() {
                return problem(format!("/time/{end}"), err.to_string());
            }
        }
        for (i, panel) in self.panels.iter().enumerate() {
            if let Some(first) = self.panels[..i].iter().position(|p| p.id == panel.id) {
                return problem(
                    format!("/panels/{i}/id"),
                    format!("panel id {} is also the id of panel {first}", panel.id),
                );
            }
            let grid = panel.grid;
            if grid.w == 0 || grid.h == 0 {
                return problem(
                    format!("/panels/{i}/grid"),
                    "a panel is at least 1 wide and 1 high".into(),
                );
            }
            if grid.x + grid.w > GRID_COLUMNS {
                return problem(
                    format!("/panels/{i}/grid"),
                    format!(
                        "x + w is {}: the grid is {GRID_COLUMNS} columns wide",
                        grid.x + grid.w
                    ),
                );
            }
        }
        for (i, variable) in self.variables.iter().enumerate() {
            if !substitute::is_variable_name(&variable.name) {
                return problem(
                    format!("/variables/{i}/name"),
                    format!(
                        "`{}`: a variable name is [A-Za-z_][A-Za-z0-9_]* and does not start with __",
                        variable.name
                    ),
                );
            }
            if self.variables[..i].iter().any(|v| v.name == variable.name) {
                return problem(
                    format!("/variables/{i}/name"),
                    format!("variable `{}` is defined twice", variable.name),
                );
            }
            match variable.kind {
                VariableKind::Query if variable.query.as_deref().is_none_or(str::is_empty) => {
                    return problem(
                        format!("/variables/{i}/query"),
                        "a query variable needs `query`: SQL whose first column gives the values"
                            .into(),
                    );
                }
                VariableKind::Custom | VariableKind::Interval if variable.options.is_empty() => {
                    return problem(
                        format!("/variables/{i}/options"),
                        "a custom or interval variable needs `options`".into(),
                    );
                }
                VariableKind::Interval => {
                    for (j, option) in variable.options.iter().enumerate() {
                        if let Err(err) = time::parse_duration(option) {
                            return problem(format!("/variables/{i}/options/{j}"), err.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// The panel with `id`.
    pub fn panel(&self, id: u32) -> Option<&Panel> {
        self.panels.iter().find(|p| p.id == id)
    }
}

#[cfg(test)]
mod tests;
