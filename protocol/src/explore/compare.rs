//! "What is different?": a selection's events set against a baseline, each field's values
//! counted in both, ranked by how far the two shares of a value lie apart.
//!
//! The selection is either a time range inside Explore's range (the baseline: the rest of the
//! range, the filters applying to both) or the events that pass the filters (the baseline: the
//! range's other events). A number field with many distinct values is compared by bins cut at
//! its deciles over both sets, so that each bin holds about a tenth of the events and a shift of
//! latency shows as a bin that is over-represented.

use serde::{Deserialize, Serialize};

use super::{FieldType, FilterError, Selection};
use crate::dashboard::substitute::identifier;

/// What is compared with what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compare {
    /// The events from `from` to `to` µs (both included) with the rest of the range.
    Range { from: i64, to: i64 },
    /// The events that pass the filters and predicates with the range's other events.
    Filters,
}

/// How a field is compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Dimension {
    /// By each value, as text.
    Values(String),
    /// A number field by bins: `cuts` ascending; bin 0 is below the first cut, bin `k` from
    /// cut `k - 1` up to (not including) cut `k`, the last bin from the last cut up.
    Bins(String, Vec<f64>),
}

/// How far apart a value's shares of the selection (`p`) and the baseline (`q`) lie: the
/// value's term of the chi-squared distance, `(p - q)² / (p + q)`. Unlike `|p - q|`, it ranks a
/// rare value that became twenty times as common (0.1% to 2%) above a common one that moved
/// as many points (73% to 76%).
pub fn difference(p: f64, q: f64) -> f64 {
    if p + q > 0.0 {
        (p - q) * (p - q) / (p + q)
    } else {
        0.0
    }
}

/// A number field with at most this many distinct values is compared value by value.
pub const FEW_VALUES: u64 = 16;
/// The quantiles a number field's bins are cut at.
pub const CUTS: [f64; 9] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];

impl Compare {
    /// As the URL writes it: `filters`, or `FROM,TO` in µs.
    pub fn encode(&self) -> String {
        match self {
            Compare::Filters => "filters".into(),
            Compare::Range { from, to } => format!("{from},{to}"),
        }
    }

    pub fn decode(text: &str) -> Option<Compare> {
        if text == "filters" {
            return Some(Compare::Filters);
        }
        let (from, to) = text.split_once(',')?;
        let (from, to) = (from.parse().ok()?, to.parse().ok()?);
        (from <= to).then_some(Compare::Range { from, to })
    }
}

impl Dimension {
    pub fn field(&self) -> &str {
        match self {
            Dimension::Values(field) | Dimension::Bins(field, _) => field,
        }
    }

    /// A bin's range, `[low, high)`, `None` for no bound.
    pub fn bin(cuts: &[f64], bin: usize) -> (Option<f64>, Option<f64>) {
        let low = bin.checked_sub(1).and_then(|i| cuts.get(i)).copied();
        (low, cuts.get(bin).copied())
    }

    /// The field's value as the comparison groups it: text, or the bin's number as text.
    fn value_sql(&self) -> String {
        match self {
            Dimension::Values(field) => format!("CAST({} AS VARCHAR)", identifier(field)),
            Dimension::Bins(field, cuts) => {
                let column = format!("CAST({} AS DOUBLE)", identifier(field));
                let mut sql = format!("CASE WHEN {column} IS NULL THEN NULL");
                for (i, cut) in cuts.iter().enumerate().filter(|(_, c)| c.is_finite()) {
                    sql.push_str(&format!(" WHEN {column} < {cut:?} THEN '{i}'"));
                }
                sql.push_str(&format!(" ELSE '{}' END", cuts.len()));
                sql
            }
        }
    }
}

impl Selection {
    /// The events both sets are drawn from and the condition that puts one in the selection.
    fn compare_conditions(
        &self,
        types: &dyn Fn(&str) -> FieldType,
        compare: Compare,
    ) -> Result<(String, String), FilterError> {
        Ok(match compare {
            Compare::Range { from, to } => (
                self.where_sql(types)?,
                format!(
                    "_time >= to_timestamp_micros({from}) AND _time <= to_timestamp_micros({to})"
                ),
            ),
            Compare::Filters => {
                let all = Selection {
                    filters: Vec::new(),
                    predicates: Vec::new(),
                    ..self.clone()
                };
                let inside = self.filter_sql(types)?.unwrap_or_else(|| "true".into());
                (all.where_sql(types)?, inside)
            }
        })
    }

    /// How many events each set holds, and how each number field of `numbers` is spread over
    /// both: one row, the selection's and the baseline's counts, then per field its
    /// `approx_distinct` and its value at each of [`CUTS`].
    pub fn compare_cuts_sql(
        &self,
        types: &dyn Fn(&str) -> FieldType,
        compare: Compare,
        numbers: &[String],
    ) -> Result<String, FilterError> {
        let (scope, inside) = self.compare_conditions(types, compare)?;
        let mut columns = vec![
            format!("count(*) FILTER (WHERE ({inside}))"),
            format!("count(*) FILTER (WHERE ({inside}) IS NOT TRUE)"),
        ];
        for field in numbers {
            let column = format!("CAST({} AS DOUBLE)", identifier(field));
            // Not implemented for floats in DataFusion 55: counted by their text.
            columns.push(format!(
                "approx_distinct(CAST({} AS VARCHAR))",
                identifier(field)
            ));
            columns.extend(
                CUTS.iter()
                    .map(|q| format!("approx_percentile_cont({column}, {q:?})")),
            );
        }
        Ok(format!(
            "SELECT {} FROM {} WHERE {scope}",
            columns.join(", "),
            self.table_sql()
        ))
    }

    /// Each of `dimensions` counted in the selection and the baseline: rows `(i, value, sel,
    /// base)`, `i` the dimension's index, `value` as text (a bin's number for
    /// [`Dimension::Bins`], null for a missing value), its `k` values whose shares differ most
    /// first, by [`difference`] (on a tie, the one more common in the selection). `totals` are
    /// the events in the selection and the baseline ([`Selection::compare_cuts_sql`]'s first
    /// two columns): each field keeps only its top `k` values as it counts, so a field with a
    /// value per event (a trace id) costs its count and no sort.
    pub fn compare_sql(
        &self,
        types: &dyn Fn(&str) -> FieldType,
        compare: Compare,
        dimensions: &[Dimension],
        totals: (u64, u64),
        k: usize,
    ) -> Result<String, FilterError> {
        let (scope, inside) = self.compare_conditions(types, compare)?;
        if dimensions.is_empty() {
            return Err(FilterError("there is no field to compare".into()));
        }
        let (selected, baseline) = (totals.0.max(1) as f64, totals.1.max(1) as f64);
        let (p, q) = (
            format!("CAST(sel AS DOUBLE) / {selected:?}"),
            format!("CAST(base AS DOUBLE) / {baseline:?}"),
        );
        let from = self.table_sql();
        let parts: Vec<String> = dimensions
            .iter()
            .enumerate()
            .map(|(i, dimension)| {
                format!(
                    "SELECT * FROM (SELECT {i} AS i, value, sel, base FROM (SELECT value, \
                     sum(s) AS sel, count(*) - sum(s) AS base FROM (SELECT CASE WHEN ({inside}) \
                     THEN 1 ELSE 0 END AS s, {} AS value FROM {from} WHERE {scope}) \
                     GROUP BY value) ORDER BY ({p} - {q}) * ({p} - {q}) / ({p} + {q}) DESC, \
                     sel DESC, value LIMIT {k})",
                    dimension.value_sql()
                )
            })
            .collect();
        Ok(parts.join(" UNION ALL "))
    }
}
