//! Explore: a stream's events narrowed by a time range and filters, and the SQL that asks for
//! them. Every value a user picks or types becomes a typed literal and every field name a quoted
//! identifier, so no filter changes a query's shape; the stream name is quoted too (a stream may
//! be named `order` or `user`).
//!
//! A view's state is its URL: `?from=now-1h&to=now&f=status|=|500&f=route|!=|/health`. A filter
//! is `FIELD|OP|VALUE` with `\` and `|` inside a part escaped by `\`. A free SQL predicate
//! (`q=status >= 500 OR latency_ms > 900`) is the one piece of SQL a user writes here: it is
//! checked to be one self-contained expression ([`check_predicate`]) and kept in parentheses.
//!
//! A [`Drill`] is where a dashboard panel's value came from (its stream, time window, group
//! and WHERE clause), as the server works it out from the panel's query: Explore opens on it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::dashboard::substitute::{identifier, quoted_len, string_literal};
use crate::dashboard::time::{Instant, TimeRange};

/// Events a page of raw events holds.
pub const PAGE_ROWS: usize = 50;
/// How a breakdown names the values past its most frequent ones, and a missing value.
pub const OTHER: &str = "(other)";
pub const NONE: &str = "(none)";

/// How a filter compares a field with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal (`=`).
    Eq,
    /// Not equal, a missing value included (`!=`).
    Ne,
    /// The value as text contains the text (`~`).
    Contains,
    /// The value as text does not contain it, a missing value included (`!~`).
    NotContains,
    /// Greater than (`>`).
    Gt,
    /// Less than (`<`).
    Lt,
    /// The event has no value for the field (`null`).
    IsNull,
    /// The event has a value for the field (`!null`).
    NotNull,
}

impl Op {
    pub const ALL: [Op; 8] = [
        Op::Eq,
        Op::Ne,
        Op::Contains,
        Op::NotContains,
        Op::Gt,
        Op::Lt,
        Op::IsNull,
        Op::NotNull,
    ];

    /// The operator as the URL and the filter bar write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Contains => "~",
            Op::NotContains => "!~",
            Op::Gt => ">",
            Op::Lt => "<",
            Op::IsNull => "null",
            Op::NotNull => "!null",
        }
    }

    pub fn parse(text: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == text)
    }

    /// Whether the operator compares with a value (`null` and `!null` do not).
    pub fn takes_value(self) -> bool {
        !matches!(self, Op::IsNull | Op::NotNull)
    }
}

/// What kind of values a field holds, from its Arrow type: how a filter's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    Number,
    Boolean,
    Time,
    Text,
}

impl FieldType {
    /// The kind of an Arrow type as `system.columns` names it (`Int64`, `Float64`, `Utf8`,
    /// `Boolean`, `Timestamp(µs, "UTC")`).
    pub fn of(arrow_type: &str) -> FieldType {
        let number = ["Int", "UInt", "Float", "Decimal"];
        if number.iter().any(|prefix| arrow_type.starts_with(prefix)) {
            FieldType::Number
        } else if arrow_type == "Boolean" {
            FieldType::Boolean
        } else if arrow_type.starts_with("Timestamp") || arrow_type.starts_with("Date") {
            FieldType::Time
        } else {
            FieldType::Text
        }
    }
}

/// One condition on a field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub field: String,
    pub op: Op,
    /// Empty for `null` and `!null`.
    pub value: String,
}

/// Why a filter cannot be made into SQL: it says which filter and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError(pub String);

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Filter {
    pub fn new(field: impl Into<String>, op: Op, value: impl Into<String>) -> Filter {
        Filter {
            field: field.into(),
            op,
            value: if op.takes_value() {
                value.into()
            } else {
                String::new()
            },
        }
    }

    /// The filter as the URL's `f` parameter holds it: `FIELD|OP|VALUE`.
    pub fn encode(&self) -> String {
        format!(
            "{}|{}|{}",
            escape(&self.field),
            self.op.as_str(),
            escape(&self.value)
        )
    }

    /// A filter from [`Filter::encode`]'s form.
    pub fn decode(text: &str) -> Option<Filter> {
        let parts = split_escaped(text)?;
        let [field, op, value] = <[String; 3]>::try_from(parts).ok()?;
        let op = Op::parse(&op)?;
        (!field.is_empty()).then(|| Filter::new(field, op, value))
    }

    /// The condition as SQL, the field quoted and the value a literal of the field's type.
    pub fn sql(&self, field_type: FieldType) -> Result<String, FilterError> {
        let column = identifier(&self.field);
        let value = || literal(&self.field, &self.value, field_type);
        let text = format!("CAST({column} AS VARCHAR)");
        Ok(match self.op {
            Op::Eq => format!("{column} = {}", value()?),
            Op::Ne => format!("{column} IS DISTINCT FROM {}", value()?),
            Op::Gt => format!("{column} > {}", value()?),
            Op::Lt => format!("{column} < {}", value()?),
            Op::Contains => format!("strpos({text}, {}) > 0", string_literal(&self.value)),
            Op::NotContains => format!(
                "({column} IS NULL OR strpos({text}, {}) = 0)",
                string_literal(&self.value)
            ),
            Op::IsNull => format!("{column} IS NULL"),
            Op::NotNull => format!("{column} IS NOT NULL"),
        })
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.op.takes_value() {
            write!(f, "{} {} {}", self.field, self.op.as_str(), self.value)
        } else {
            write!(f, "{} {}", self.field, self.op.as_str())
        }
    }
}

/// `value` as a literal of `field_type`: numbers and booleans checked and written as such,
/// times and text as string literals (DataFusion casts a string to the column's time type).
fn literal(field: &str, value: &str, field_type: FieldType) -> Result<String, FilterError> {
    let value = value.trim();
    match field_type {
        FieldType::Number => match value.parse::<f64>() {
            Ok(number) if number.is_finite() => Ok(match value.parse::<i64>() {
                Ok(int) => int.to_string(),
                Err(_) => format!("{number:?}"),
            }),
            _ => Err(FilterError(format!(
                "`{field}` holds numbers, and `{value}` is not one"
            ))),
        },
        FieldType::Boolean => match value {
            "true" | "false" => Ok(value.to_owned()),
            _ => Err(FilterError(format!(
                "`{field}` holds true or false, not `{value}`"
            ))),
        },
        FieldType::Time | FieldType::Text => Ok(string_literal(value)),
    }
}

fn escape(part: &str) -> String {
    part.replace('\\', "\\\\").replace('|', "\\|")
}

/// `text` split at its unescaped `|`s, each part unescaped; `None` for a dangling `\`.
fn split_escaped(text: &str) -> Option<Vec<String>> {
    let mut parts = vec![String::new()];
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => parts.last_mut()?.push(chars.next()?),
            '|' => parts.push(String::new()),
            c => parts.last_mut()?.push(c),
        }
    }
    Some(parts)
}

/// Checks that a free SQL predicate is one expression that cannot reach past the parentheses
/// it is put in: its parentheses balance outside quotes, and it has none of what would let the
/// lexer read it otherwise than this check does (`;`, comments, `$`, `\`, prefixed strings
/// such as `E'…'`).
pub fn check_predicate(text: &str) -> Result<(), FilterError> {
    let refuse = |what: &str| {
        Err(FilterError(format!(
            "the predicate `{text}` cannot hold {what}: write one condition such as \
             status >= 500 OR route = '/api'"
        )))
    };
    if text.trim().is_empty() {
        return refuse("nothing");
    }
    let mut depth = 0usize;
    let mut i = 0;
    let mut previous: Option<char> = None;
    while i < text.len() {
        let rest = &text[i..];
        let c = rest.chars().next().expect("not at the end");
        match c {
            '\'' | '"' | '`' => {
                if c == '\'' && previous.is_some_and(|p| p.is_alphanumeric() || p == '_') {
                    return refuse("a prefixed string (E'…')");
                }
                let Some(len) = quoted_len(rest, c) else {
                    return refuse(&format!("an unterminated {c}"));
                };
                if rest[..len].contains('\\') {
                    return refuse("`\\`");
                }
                i += len;
                previous = Some(c);
                continue;
            }
            '(' => depth += 1,
            ')' if depth == 0 => return refuse("a `)` without its `(`"),
            ')' => depth -= 1,
            ';' => return refuse("`;`"),
            '$' => return refuse("`$`"),
            '\\' => return refuse("`\\`"),
            '-' if rest.starts_with("--") => return refuse("a comment"),
            '/' if rest.starts_with("/*") => return refuse("a comment"),
            _ => {}
        }
        previous = Some(c);
        i += c.len_utf8();
    }
    if depth > 0 {
        return refuse("a `(` without its `)`");
    }
    Ok(())
}

/// A stream's events in a time range that pass every filter and every free SQL predicate.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    pub stream: String,
    pub range: TimeRange,
    pub filters: Vec<Filter>,
    /// Free SQL conditions ([`check_predicate`]).
    pub predicates: Vec<String>,
}

/// Where a panel's value came from: the events of `stream` from `from` to `to` (µs, both
/// included; `None` for no bound) that pass every filter and predicate. Explore opens on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drill {
    pub stream: String,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// The clicked group's keys that are plain fields.
    pub filters: Vec<Filter>,
    /// The panel's WHERE clause (but its time range), the keys that are expressions, and the
    /// FILTER clause of the clicked aggregate, as SQL.
    pub predicates: Vec<String>,
    /// What makes the events a superset of the value's (a group key the result does not show).
    pub note: Option<String>,
}

/// Where a page of raw events starts: just older than this event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// `_time`, µs since the epoch.
    pub time: i64,
    pub offset: i64,
}

impl Drill {
    /// The time range Explore shows: no lower bound is the epoch, no upper bound now.
    pub fn range(&self) -> TimeRange {
        TimeRange {
            from: Instant::At(self.from.unwrap_or(0)),
            to: self.to.map_or(Instant::Now { offset: 0 }, Instant::At),
        }
    }

    /// The events as a selection.
    pub fn selection(&self) -> Selection {
        Selection {
            stream: self.stream.clone(),
            range: self.range(),
            filters: self.filters.clone(),
            predicates: self.predicates.clone(),
        }
    }
}

impl Selection {
    /// The `WHERE` condition: the range, then each filter, with `types` giving each field's
    /// type (a field not in it is text).
    pub fn where_sql(&self, types: &dyn Fn(&str) -> FieldType) -> Result<String, FilterError> {
        let range = range_sql(self.range);
        Ok(match self.filter_sql(types)? {
            Some(filter) => format!("{range} AND {filter}"),
            None => range,
        })
    }

    /// The filters and predicates alone, as one condition (`None` for none): what a live tail
    /// of the selection keeps.
    pub fn filter_sql(
        &self,
        types: &dyn Fn(&str) -> FieldType,
    ) -> Result<Option<String>, FilterError> {
        let mut conditions = Vec::new();
        for filter in &self.filters {
            // In parentheses: the parser binds `IS DISTINCT FROM 'a' AND …` as `'a' AND …`.
            conditions.push(format!("({})", filter.sql(types(&filter.field))?));
        }
        for predicate in &self.predicates {
            check_predicate(predicate)?;
            conditions.push(format!("({predicate})"));
        }
        Ok((!conditions.is_empty()).then(|| conditions.join(" AND ")))
    }

    fn table_sql(&self) -> String {
        identifier(&self.stream)
    }

    /// Events per bucket of `bucket` µs: `(t, n)` with `t` the bucket's start in seconds.
    pub fn histogram_sql(
        &self,
        types: &dyn Fn(&str) -> FieldType,
        bucket: i64,
    ) -> Result<String, FilterError> {
        Ok(format!(
            "SELECT to_unixtime(date_bin(INTERVAL '{bucket} microseconds', _time, \
             TIMESTAMP '1970-01-01T00:00:00Z')) AS t, count(*) AS n FROM {} WHERE {} \
             GROUP BY 1 ORDER BY 1",
            self.table_sql(),
            self.where_sql(types)?
        ))
    }

    /// Events per bucket of `bucket` µs and per value of `field`: `(t, value, n)`, the value as
    /// text, its `k` most frequent values named and the rest `(other)`, a missing one `(none)`.
    pub fn breakdown_sql(
        &self,
        types: &dyn Fn(&str) -> FieldType,
        field: &str,
        bucket: i64,
        k: usize,
    ) -> Result<String, FilterError> {
        let condition = self.where_sql(types)?;
        let from = self.table_sql();
        let value = format!("CAST({} AS VARCHAR)", identifier(field));
        // The named values joined in (DataFusion plans no IN (subquery) inside CASE).
        Ok(format!(
            "WITH named AS (SELECT v FROM (SELECT {value} AS v, count(*) AS n FROM {from} \
             WHERE {condition} GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT {k})) \
             SELECT to_unixtime(date_bin(INTERVAL '{bucket} microseconds', e._time, \
             TIMESTAMP '1970-01-01T00:00:00Z')) AS t, CASE WHEN e.v IS NULL THEN '{NONE}' \
             WHEN named.v IS NOT NULL THEN e.v ELSE '{OTHER}' END AS value, count(*) AS n \
             FROM (SELECT _time, {value} AS v FROM {from} WHERE {condition}) AS e \
             LEFT JOIN named ON e.v = named.v GROUP BY 1, 2 ORDER BY 1"
        ))
    }

    /// The events and how many have each field: one row, `count(*)`, then `count(field)` for
    /// each of `fields`, then an estimate of how many distinct values each of `distinct` takes
    /// (a HyperLogLog sketch, which DataFusion has for every type but floats).
    pub fn presence_sql(
        &self,
        types: &dyn Fn(&str) -> FieldType,
        fields: &[String],
        distinct: &[String],
    ) -> Result<String, FilterError> {
        let counts: Vec<String> = std::iter::once("count(*)".to_owned())
            .chain(fields.iter().map(|f| format!("count({})", identifier(f))))
            .chain(
                distinct
                    .iter()
                    .map(|f| format!("approx_distinct({})", identifier(f))),
            )
            .collect();
        Ok(format!(
            "SELECT {} FROM {} WHERE {}",
            counts.join(", "),
            self.table_sql(),
            self.where_sql(types)?
        ))
    }

    /// The `k` most frequent values of each of `fields` (`(i, field)` pairs): rows
    /// `(i, value, n)`, the value as text (null for a missing one), most frequent first.
    pub fn top_values_sql(
        &self,
        types: &dyn Fn(&str) -> FieldType,
        fields: &[(usize, String)],
        k: usize,
    ) -> Result<String, FilterError> {
        let condition = self.where_sql(types)?;
        let from = self.table_sql();
        let parts: Vec<String> = fields
            .iter()
            .map(|(i, field)| {
                format!(
                    "SELECT * FROM (SELECT {i} AS i, CAST({} AS VARCHAR) AS value, count(*) AS n \
                     FROM {from} WHERE {condition} GROUP BY 2 ORDER BY 3 DESC, 2 LIMIT {k})",
                    identifier(field)
                )
            })
            .collect();
        Ok(parts.join(" UNION ALL "))
    }

    /// [`Selection::top_values_sql`]'s rows over a sample, the newest `sample` events: one read
    /// of the sample, its fields turned into `(i, value)` rows and counted. For fields of many
    /// distinct values, whose exact counts would group every event of the range (a trace id
    /// takes millions of values a day); Kibana's field list counts a sample too.
    pub fn sample_top_values_sql(
        &self,
        types: &dyn Fn(&str) -> FieldType,
        fields: &[(usize, String)],
        k: usize,
        sample: usize,
    ) -> Result<String, FilterError> {
        let condition = self.where_sql(types)?;
        let from = self.table_sql();
        let pairs: Vec<String> = fields
            .iter()
            .map(|(i, field)| {
                format!(
                    "named_struct('i', {i}, 'v', CAST({} AS VARCHAR))",
                    identifier(field)
                )
            })
            .collect();
        let columns: Vec<String> = fields.iter().map(|(_, f)| identifier(f)).collect();
        Ok(format!(
            "SELECT i, value, n FROM (SELECT i, value, n, row_number() OVER (PARTITION BY i \
             ORDER BY n DESC, value) AS r FROM (SELECT u['i'] AS i, u['v'] AS value, count(*) \
             AS n FROM (SELECT unnest(make_array({})) AS u FROM (SELECT {} FROM {from} WHERE \
             {condition} ORDER BY _time DESC LIMIT {sample})) GROUP BY 1, 2)) WHERE r <= {k} \
             ORDER BY i, n DESC, value",
            pairs.join(", "),
            columns.join(", ")
        ))
    }

    /// Each of `fields` (numbers) summed up in one row: its min, avg, p50, p99 and max, five
    /// columns per field in the order of `fields`.
    pub fn numbers_sql(
        &self,
        types: &dyn Fn(&str) -> FieldType,
        fields: &[String],
    ) -> Result<String, FilterError> {
        let columns: Vec<String> = fields
            .iter()
            .map(|field| {
                let f = format!("CAST({} AS DOUBLE)", identifier(field));
                format!(
                    "min({f}), avg({f}), approx_percentile_cont({f}, 0.5), \
                     approx_percentile_cont({f}, 0.99), max({f})"
                )
            })
            .collect();
        Ok(format!(
            "SELECT {} FROM {} WHERE {}",
            columns.join(", "),
            self.table_sql(),
            self.where_sql(types)?
        ))
    }

    /// How each of `fields` (numbers, with their min and max) is spread: rows `(i, bucket, n)`,
    /// `i` the field's index, `bucket` from 0 to `buckets - 1` of equal width over `[min, max]`.
    pub fn spread_sql(
        &self,
        types: &dyn Fn(&str) -> FieldType,
        fields: &[(String, f64, f64)],
        buckets: u32,
    ) -> Result<String, FilterError> {
        let condition = self.where_sql(types)?;
        let from = self.table_sql();
        let parts: Vec<String> = fields
            .iter()
            .enumerate()
            .filter(|(_, (_, min, max))| min.is_finite() && max.is_finite())
            .map(|(i, (field, min, max))| {
                let step = ((max - min) / f64::from(buckets.max(1))).max(f64::MIN_POSITIVE);
                let column = identifier(field);
                format!(
                    "SELECT {i} AS i, least(CAST(floor((CAST({column} AS DOUBLE) - {min:?}) / \
                     {step:?}) AS BIGINT), {last}) AS bucket, count(*) AS n FROM {from} \
                     WHERE {condition} AND {column} IS NOT NULL GROUP BY 2",
                    last = buckets.max(1) - 1
                )
            })
            .collect();
        Ok(parts.join(" UNION ALL "))
    }

    /// A page of raw events, newest first (by `_time`, then `_offset`), older than `after`
    /// when given: a keyset, so a deep page costs what the first does.
    pub fn events_sql(
        &self,
        types: &dyn Fn(&str) -> FieldType,
        after: Option<Cursor>,
        rows: usize,
    ) -> Result<String, FilterError> {
        let mut condition = self.where_sql(types)?;
        if let Some(Cursor { time, offset }) = after {
            condition.push_str(&format!(
                " AND (_time < to_timestamp_micros({time}) OR \
                 (_time = to_timestamp_micros({time}) AND _offset < {offset}))"
            ));
        }
        Ok(format!(
            "SELECT * FROM {} WHERE {condition} ORDER BY _time DESC, _offset DESC LIMIT {rows}",
            self.table_sql()
        ))
    }
}

/// The range as a condition on `_time`, both ends included for a fixed range.
fn range_sql(range: TimeRange) -> String {
    range.filter_sql("_time")
}

mod compare;

pub use compare::{CUTS, Compare, Dimension, FEW_VALUES, difference};

#[cfg(test)]
mod tests;
