//! "What is different?": the selected events (a time range dragged across the histogram, or
//! the events that pass the filters) set against the baseline (the rest of the range, or the
//! range's other events). Each field's values are counted in both; the fields whose shares of
//! one value lie furthest apart ([`difference`]) come first, their most different values on
//! top, each a click away from a filter. Numbers with many values are compared by bins cut at their deciles.

use leptos::prelude::*;
use protocol::QueryResult;
use protocol::dashboard::PanelOptions;
use protocol::dashboard::substitute::identifier;
use protocol::explore::{
    CUTS, Compare, Dimension, FEW_VALUES, FieldType, Filter, Op, Selection, difference,
};
use serde::{Deserialize, Serialize};

use super::fields::{Fields, Narrow};
use crate::api::run_query;
use crate::viz::{format_value, number, text};

/// Values shown per field.
const VALUES: usize = 5;

/// The comparison's counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Comparison {
    compare: Compare,
    /// Events in the selection and in the baseline.
    selected: u64,
    baseline: u64,
    dimensions: Vec<Dimension>,
    /// `Selection::compare_sql`'s rows.
    rows: QueryResult,
}

/// Counts both sets (and cuts the number fields), then each field's values in both: two
/// queries.
pub(super) async fn comparison(
    selection: Selection,
    fields: Fields,
    compare: Compare,
) -> Result<Comparison, protocol::Error> {
    let bad = |e: protocol::explore::FilterError| {
        protocol::Error::new(protocol::ErrorKind::BadRequest, e.0)
    };
    let types = |name: &str| fields.kind(name);
    let numbers: Vec<String> = fields
        .0
        .iter()
        .filter(|(_, t)| FieldType::of(t) == FieldType::Number)
        .map(|(name, _)| name.clone())
        .collect();
    let sql = selection
        .compare_cuts_sql(&types, compare, &numbers)
        .map_err(bad)?;
    let row = run_query(sql)
        .await
        .map_err(|e| e.0)?
        .rows
        .into_iter()
        .next()
        .unwrap_or_default();
    let figure = |i: usize| row.get(i).and_then(number);
    let (selected, baseline) = (
        figure(0).unwrap_or(0.0) as u64,
        figure(1).unwrap_or(0.0) as u64,
    );
    let mut out = Comparison {
        compare,
        selected,
        baseline,
        dimensions: Vec::new(),
        rows: QueryResult::default(),
    };
    if selected == 0 || baseline == 0 {
        return Ok(out);
    }
    let per_number = 1 + CUTS.len();
    out.dimensions = fields
        .names()
        .into_iter()
        .map(|name| {
            let Some(j) = numbers.iter().position(|n| *n == name) else {
                return Dimension::Values(name);
            };
            let at = 2 + j * per_number;
            let distinct = figure(at).unwrap_or(0.0) as u64;
            let mut cuts: Vec<f64> = (1..per_number)
                .filter_map(|k| figure(at + k))
                .filter(|c| c.is_finite())
                .collect();
            cuts.dedup();
            if distinct <= FEW_VALUES || cuts.is_empty() {
                Dimension::Values(name)
            } else {
                Dimension::Bins(name, cuts)
            }
        })
        .collect();
    let sql = selection
        .compare_sql(
            &types,
            compare,
            &out.dimensions,
            (selected, baseline),
            VALUES,
        )
        .map_err(bad)?;
    out.rows = run_query(sql).await.map_err(|e| e.0)?;
    Ok(out)
}

/// A value of a field in both sets.
struct Value {
    label: String,
    selected: f64,
    baseline: f64,
    /// The filter or condition that keeps its events.
    keep: Narrow,
}

/// The comparison, most different field first. `close` ends it; `filters` compares the
/// filtered events with the rest instead, when there are filters.
pub(super) fn comparison_view(
    comparison: &Comparison,
    narrow: Callback<Narrow>,
    filters: Option<Callback<()>>,
    close: Callback<()>,
) -> impl IntoView + use<> {
    let (what, against) = match comparison.compare {
        Compare::Range { .. } => ("in the time range selected", "the rest of the range"),
        Compare::Filters => ("that pass the filters", "the range's other events"),
    };
    let head = view! {
        <div class="compare-head">
            <h2>"What is different?"</h2>
            <p class="muted">
                <strong class="selected" data-test="compare-selected">{crate::figures::count(comparison.selected)}</strong>
                " events " {what} " against "
                <strong class="baseline" data-test="compare-baseline">{crate::figures::count(comparison.baseline)}</strong>
                " in " {against} ". Drag across the histogram to select a time range."
            </p>
            {filters.map(|filters| view! {
                <button class="button" data-test="compare-filters" title="Compare the events that pass the filters with the others"
                    on:click=move |_| filters.run(())>"Filtered against the rest"</button>
            })}
            <button class="button" data-test="compare-close" on:click=move |_| close.run(())>"Close"</button>
        </div>
    };
    if comparison.selected == 0 || comparison.baseline == 0 {
        let empty = if comparison.selected == 0 {
            "No event is in the selection."
        } else {
            "No event is left for the baseline: select a narrower time range, or widen the range."
        };
        return view! { <div data-test="compare">{head}<p class="empty">{empty}</p></div> }
            .into_any();
    }
    let mut fields: Vec<(f64, String, Vec<Value>)> = comparison
        .dimensions
        .iter()
        .enumerate()
        .map(|(i, dimension)| {
            let values: Vec<Value> = comparison
                .rows
                .rows
                .iter()
                .filter(|row| number(&row[0]) == Some(i as f64))
                .map(|row| value(dimension, row, (comparison.selected, comparison.baseline)))
                .collect();
            let score = values
                .iter()
                .map(|v| difference(v.selected, v.baseline))
                .fold(0.0, f64::max);
            (score, dimension.field().to_owned(), values)
        })
        .collect();
    fields.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let cards = fields
        .into_iter()
        .map(|(_, name, values)| {
            let rows = values
                .into_iter()
                .map(|v| {
                    let Value { label, selected, baseline, keep } = v;
                    let keep = StoredValue::new(keep);
                    let more = if selected >= baseline { "more" } else { "less" };
                    view! {
                        <tr data-test="compare-value" data-value=label.clone()>
                            <td class="value" title=label.clone()>{label.clone()}</td>
                            <td class="shares">
                                <div class="share-bar selected" style=format!("width:{:.1}%", selected * 100.0)></div>
                                <div class="share-bar baseline" style=format!("width:{:.1}%", baseline * 100.0)></div>
                            </td>
                            <td class="num" title=format!("{more} often in the selection")>
                                <span class="selected" data-test="compare-share">{share(selected)}</span>
                                <span class="muted">" vs "</span>
                                <span class="baseline">{share(baseline)}</span>
                            </td>
                            <td class="actions">
                                <button class="button small" data-test="keep" title="Only these events"
                                    on:click=move |_| narrow.run(keep.with_value(Narrow::clone))>"+"</button>
                            </td>
                        </tr>
                    }
                })
                .collect_view();
            view! {
                <div class="compare-field" data-test="compare-field" data-field=name.clone()>
                    <div class="compare-field-head"><code>{name.clone()}</code></div>
                    <table class="compare-values"><tbody>{rows}</tbody></table>
                </div>
            }
        })
        .collect_view();
    view! {
        <div data-test="compare">
            {head}
            <div class="compare-legend muted">
                <span class="swatch selected"></span>" selection "
                <span class="swatch baseline"></span>" baseline"
            </div>
            <div class="compare-fields">{cards}</div>
        </div>
    }
    .into_any()
}

/// A share as a percentage with a precision that tells small ones apart.
fn share(fraction: f64) -> String {
    let percent = fraction * 100.0;
    if percent > 0.0 && percent < 1.0 {
        format!("{percent:.1}%")
    } else {
        format!("{percent:.0}%")
    }
}

/// A row `(i, value, sel, base)` of a dimension, of `totals` events in each set.
fn value(
    dimension: &Dimension,
    row: &[serde_json::Value],
    (selected, baseline): (u64, u64),
) -> Value {
    let figure = |i: usize| row.get(i).and_then(number).unwrap_or(0.0);
    let fraction = |n: f64, total: f64| if total > 0.0 { n / total } else { 0.0 };
    let raw = row.get(1).filter(|v| !v.is_null()).map(text);
    let (label, keep) = match (dimension, raw) {
        (Dimension::Values(field), None) | (Dimension::Bins(field, _), None) => (
            "(none)".to_owned(),
            Narrow::Filter(Filter::new(field.clone(), Op::IsNull, "")),
        ),
        (Dimension::Values(field), Some(v)) => (
            v.clone(),
            Narrow::Filter(Filter::new(field.clone(), Op::Eq, v)),
        ),
        (Dimension::Bins(field, cuts), Some(v)) => {
            let bin = v.parse::<usize>().unwrap_or(0);
            bin_value(field, cuts, bin)
        }
    };
    Value {
        label,
        selected: fraction(figure(2), selected as f64),
        baseline: fraction(figure(3), baseline as f64),
        keep,
    }
}

/// A bin of a number field: its label (`< 12`, `12 – 40`, `≥ 900`) and its condition.
fn bin_value(field: &str, cuts: &[f64], bin: usize) -> (String, Narrow) {
    let options = PanelOptions::default();
    let show = |v: f64| format_value(v, &options);
    let column = identifier(field);
    match Dimension::bin(cuts, bin) {
        (None, Some(high)) => (
            format!("< {}", show(high)),
            Narrow::Predicate(format!("{column} < {high:?}")),
        ),
        (Some(low), Some(high)) => (
            format!("{} – {}", show(low), show(high)),
            Narrow::Predicate(format!("{column} >= {low:?} AND {column} < {high:?}")),
        ),
        (Some(low), None) => (
            format!("≥ {}", show(low)),
            Narrow::Predicate(format!("{column} >= {low:?}")),
        ),
        (None, None) => (
            "all".into(),
            Narrow::Predicate(format!("{column} IS NOT NULL")),
        ),
    }
}
