//! Explore's field list: each field with its type, the share of events that have it, about how
//! many distinct values it takes and its top values (keep or leave out each in one click); a
//! number field also with its min, avg, p50, p99 and max, and how its values spread (click a
//! bar to keep that range).
//!
//! Top values are exact counts over the selection for a field of few distinct values (whose
//! per-file counts the server keeps between queries), and counts in the newest events for a
//! field of many (a trace id: exact counts would group every event of the range, seconds for a
//! day of a busy stream).

use std::collections::HashMap;

use leptos::prelude::*;
use protocol::QueryResult;
use protocol::dashboard::PanelOptions;
use protocol::dashboard::substitute::identifier;
use protocol::explore::{FieldType, Filter, Op, Selection};
use serde::{Deserialize, Serialize};

use crate::api::run_query;
use crate::viz::{format_value, number, text};

/// Buckets of a number field's spread.
const SPREAD: u32 = 24;

/// A field with more distinct values than this (or a float, which has no estimate) gets its top
/// values from the newest events.
const EXACT_TOP_DISTINCT: f64 = 10_000.0;

/// The newest events whose values are counted for a field of many distinct values.
const SAMPLE_EVENTS: usize = 1_000;

/// A stream's fields (but `_time` and `_offset`) with their types.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Fields(pub(super) Vec<(String, String)>);

impl Fields {
    pub(super) fn names(&self) -> Vec<String> {
        self.0.iter().map(|(name, _)| name.clone()).collect()
    }

    pub(super) fn kind(&self, field: &str) -> FieldType {
        self.0
            .iter()
            .find(|(name, _)| name == field)
            .map_or(FieldType::Text, |(_, t)| FieldType::of(t))
    }
}

/// What the field list shows, for the current selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Summary {
    /// One row: `count(*)`, then `count(field)` for each field, then distinct estimates.
    pub(super) presence: QueryResult,
    /// Each field's estimate of distinct values (`None` for a float).
    pub(super) distinct: Vec<Option<f64>>,
    /// Rows `(field index, value, count)`, exact over the selection.
    pub(super) top: QueryResult,
    /// Rows `(field index, value, count)` in the newest [`SAMPLE_EVENTS`] events.
    pub(super) sampled: QueryResult,
    pub(super) numbers: HashMap<String, Numbers>,
}

/// The field list's figures over `selection`: presence and distinct estimates first (they say
/// which fields are counted exactly), then top values and numbers at once.
pub(super) async fn summary(
    selection: Selection,
    fields: Fields,
    k: usize,
) -> Result<Summary, protocol::Error> {
    let types = |name: &str| fields.kind(name);
    let bad = |e: protocol::explore::FilterError| {
        protocol::Error::new(protocol::ErrorKind::BadRequest, e.0)
    };
    let names = fields.names();
    let estimable: Vec<String> = fields
        .0
        .iter()
        .filter(|(_, t)| !t.starts_with("Float"))
        .map(|(name, _)| name.clone())
        .collect();
    let sql = selection
        .presence_sql(&types, &names, &estimable)
        .map_err(bad)?;
    let presence = run_query(sql).await.map_err(|e| e.0)?;
    let row = presence.rows.first().cloned().unwrap_or_default();
    let distinct: Vec<Option<f64>> = names
        .iter()
        .map(|name| {
            let j = estimable.iter().position(|e| e == name)?;
            row.get(1 + names.len() + j).and_then(number)
        })
        .collect();
    let (exact, many): (Vec<_>, Vec<_>) = names
        .iter()
        .cloned()
        .enumerate()
        .partition(|(i, _)| distinct[*i].is_some_and(|d| d <= EXACT_TOP_DISTINCT));
    let top = async {
        if exact.is_empty() {
            return Ok(QueryResult::default());
        }
        let sql = selection.top_values_sql(&types, &exact, k).map_err(bad)?;
        run_query(sql).await.map_err(|e| e.0)
    };
    let sampled = async {
        if many.is_empty() {
            return Ok(QueryResult::default());
        }
        let sql = selection
            .sample_top_values_sql(&types, &many, k, SAMPLE_EVENTS)
            .map_err(bad)?;
        run_query(sql).await.map_err(|e| e.0)
    };
    let (top, sampled, numbers) = futures::join!(top, sampled, numbers(&selection, &fields));
    Ok(Summary {
        presence,
        distinct,
        top: top?,
        sampled: sampled?,
        numbers: numbers?,
    })
}

/// A number field summed up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Numbers {
    /// min, avg, p50, p99, max.
    stats: [Option<f64>; 5],
    /// Events per bucket of equal width from min to max.
    spread: Vec<u64>,
}

/// How a click narrows the selection.
#[derive(Debug, Clone)]
pub(super) enum Narrow {
    Filter(Filter),
    /// A SQL condition (a range of a number field).
    Predicate(String),
}

/// The number fields of `fields` summed up over `selection`: two queries, the second (the
/// spread) needing the first's min and max.
pub(super) async fn numbers(
    selection: &Selection,
    fields: &Fields,
) -> Result<HashMap<String, Numbers>, protocol::Error> {
    let numeric: Vec<String> = fields
        .0
        .iter()
        .filter(|(_, t)| FieldType::of(t) == FieldType::Number)
        .map(|(name, _)| name.clone())
        .collect();
    let mut out = HashMap::new();
    if numeric.is_empty() {
        return Ok(out);
    }
    let types = |name: &str| fields.kind(name);
    let bad = |e: protocol::explore::FilterError| {
        protocol::Error::new(protocol::ErrorKind::BadRequest, e.0)
    };
    let sql = selection.numbers_sql(&types, &numeric).map_err(bad)?;
    let result = run_query(sql).await.map_err(|e| e.0)?;
    let row = result.rows.first().cloned().unwrap_or_default();
    let mut ranges = Vec::new();
    for (j, name) in numeric.iter().enumerate() {
        let stats: [Option<f64>; 5] = std::array::from_fn(|k| row.get(5 * j + k).and_then(number));
        if let (Some(min), Some(max)) = (stats[0], stats[4]) {
            ranges.push((name.clone(), min, max));
        }
        let spread = vec![0; SPREAD as usize];
        out.insert(name.clone(), Numbers { stats, spread });
    }
    if !ranges.is_empty() {
        let sql = selection.spread_sql(&types, &ranges, SPREAD).map_err(bad)?;
        for row in run_query(sql).await.map_err(|e| e.0)?.rows {
            let (Some(i), Some(bucket), Some(n)) =
                (number(&row[0]), number(&row[1]), number(&row[2]))
            else {
                continue;
            };
            let Some((name, ..)) = ranges.get(i as usize) else {
                continue;
            };
            if let Some(slot) = out
                .get_mut(name)
                .and_then(|numbers| numbers.spread.get_mut(bucket as usize))
            {
                *slot = n as u64;
            }
        }
    }
    Ok(out)
}

/// Each field: the share of events that have it, and its top values with counts and buttons to
/// keep or leave out each; for a number, its figures and spread.
pub(super) fn field_list(
    fields: &Fields,
    summary: &Summary,
    narrow: Callback<Narrow>,
) -> impl IntoView + use<> {
    let counts = summary.presence.rows.first().cloned().unwrap_or_default();
    let total = counts.first().and_then(number).unwrap_or(0.0);
    let sample = total.min(SAMPLE_EVENTS as f64);
    let mut values: HashMap<usize, Vec<(Option<String>, f64)>> = HashMap::new();
    let in_sample: std::collections::HashSet<usize> = (summary.sampled.rows.iter())
        .filter_map(|row| number(&row[0]).map(|i| i as usize))
        .collect();
    for row in summary.top.rows.iter().chain(&summary.sampled.rows) {
        let i = number(&row[0]).unwrap_or(-1.0) as usize;
        let value = (!row[1].is_null()).then(|| text(&row[1]));
        values
            .entry(i)
            .or_default()
            .push((value, number(&row[2]).unwrap_or(0.0)));
    }
    let rows = fields.0.iter().enumerate().map(|(i, (name, arrow_type))| {
        let have = counts.get(i + 1).and_then(number).unwrap_or(0.0);
        let share = if total > 0.0 { have / total } else { 0.0 };
        let top = values.remove(&i).unwrap_or_default();
        let numbers = summary.numbers.get(name).cloned();
        let from_sample = in_sample.contains(&i);
        // A bar's width is its share of the events counted: the range's, or the sample's.
        let whole = if from_sample { sample } else { total };
        let distinct = summary.distinct.get(i).copied().flatten();
        view! {
            <details class="field" data-test="field" data-field=name.clone() open=i < 4>
                <summary>
                    <code>{name.clone()}</code>
                    <span class="muted">" " {arrow_type.clone()}</span>
                    <span class="share muted">{crate::figures::percent(share)}</span>
                </summary>
                {distinct.map(|d| view! {
                    <p class="muted small" data-test="distinct">"≈ " {crate::figures::compact(d)} " distinct values"</p>
                })}
                {numbers.map(|n| numbers_view(name, n, narrow))}
                <table class="top-values"><tbody>
                    {top.into_iter().map(|(value, n)| {
                        let keep = match &value {
                            Some(v) => Filter::new(name.clone(), Op::Eq, v.clone()),
                            None => Filter::new(name.clone(), Op::IsNull, ""),
                        };
                        let leave = match &value {
                            Some(v) => Filter::new(name.clone(), Op::Ne, v.clone()),
                            None => Filter::new(name.clone(), Op::NotNull, ""),
                        };
                        let width = if whole > 0.0 { n / whole * 100.0 } else { 0.0 };
                        view! {
                            <tr data-test="top-value">
                                <td class="value">
                                    <div class="bar" style=format!("width:{width:.1}%")></div>
                                    <span>{value.clone().unwrap_or_else(|| "(none)".into())}</span>
                                </td>
                                <td class="num">{crate::figures::count(n as u64)}</td>
                                <td class="actions">
                                    <button class="button small" data-test="keep" title="Only these events" on:click=move |_| narrow.run(Narrow::Filter(keep.clone()))>"+"</button>
                                    <button class="button small" data-test="leave" title="Leave these events out" on:click=move |_| narrow.run(Narrow::Filter(leave.clone()))>"−"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody></table>
                {from_sample.then(|| view! {
                    <p class="muted small" data-test="sampled">"Top values of the newest " {crate::figures::count(sample as u64)} " events"</p>
                })}
            </details>
        }
    }).collect_view();
    view! { {rows} }
}

/// A number field's min, avg, p50, p99 and max, and its spread as bars, each a click away from
/// keeping only its range.
fn numbers_view(name: &str, numbers: Numbers, narrow: Callback<Narrow>) -> impl IntoView + use<> {
    let options = PanelOptions::default();
    let show = move |v: Option<f64>| v.map_or_else(|| "–".into(), |v| format_value(v, &options));
    let labels = ["min", "avg", "p50", "p99", "max"];
    let figures = labels
        .iter()
        .zip(numbers.stats)
        .map(|(label, v)| view! { <span><span class="muted">{*label} " "</span>{show(v)}</span> })
        .collect_view();
    let (Some(min), Some(max)) = (numbers.stats[0], numbers.stats[4]) else {
        return view! { <div class="numbers" data-test="numbers">{figures}</div> }.into_any();
    };
    let highest = numbers.spread.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = (max - min) / f64::from(SPREAD);
    let column = identifier(name);
    let last = numbers.spread.len().saturating_sub(1);
    let bars = numbers
        .spread
        .iter()
        .enumerate()
        .map(|(b, &n)| {
            let low = min + step * b as f64;
            let high = if b == last { max } else { low + step };
            // The last bucket holds its upper end.
            let upper = if b == last { "<=" } else { "<" };
            let sql = format!("{column} >= {low:?} AND {column} {upper} {high:?}");
            let title = format!("{} to {}: {n} events", show(Some(low)), show(Some(high)));
            let height = (n as f64 / highest * 100.0).max(if n > 0 { 4.0 } else { 0.0 });
            view! {
                <button class="spread-bar" data-test="spread-bar" title=title
                    on:click=move |_| narrow.run(Narrow::Predicate(sql.clone()))>
                    <span style=format!("height: {height:.1}%")></span>
                </button>
            }
        })
        .collect_view();
    view! {
        <div class="numbers" data-test="numbers">{figures}</div>
        <div class="spread" data-test="spread">{bars}</div>
    }
    .into_any()
}
