//! Explore's histogram: the selected events over the range (drag to zoom, click a bar to narrow
//! to its bucket), or broken down by a field: stacked bars per value and the count of each
//! value, kept or left out in one click.

use leptos::prelude::*;
use protocol::QueryResult;
use protocol::dashboard::time::rfc3339;
use protocol::explore::{Compare, Filter, NONE, OTHER, Op, Selection};
use serde::{Deserialize, Serialize};

use super::fields::Fields;
use super::{Comparing, View, bucket};
use crate::pages::dashboard::now_micros;
use crate::pages::zoom::{Click, ZoomChart};
use crate::viz::{PALETTE, Series, draw, number, text};

/// The histogram's result, and the field it is broken down by (rows `(t, value, n)`; else
/// `(t, n)`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Histogram {
    pub(super) result: QueryResult,
    pub(super) by: Option<String>,
}

/// Gray for the values a breakdown does not name.
const REST: &str = "#6c7280";

pub(super) fn histogram_view(
    histogram: &Histogram,
    selection: Option<Selection>,
    view: View,
    fields: Fields,
    go: Callback<View>,
) -> impl IntoView + use<> {
    let result = &histogram.result;
    let series = match &histogram.by {
        None => vec![Series {
            name: "events".into(),
            color: "#73bf69".into(),
            points: result
                .rows
                .iter()
                .filter_map(|row| Some((number(&row[0])?, number(&row[1])?)))
                .collect(),
        }],
        Some(_) => breakdown(result),
    };
    let total: f64 = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .sum();
    let now = if result.now > 0 {
        result.now
    } else {
        now_micros()
    };
    let (from, to) = selection.map_or((0, 0), |s| s.range.resolve(now));
    let format = |y: f64| crate::figures::count(y as u64);
    let step = bucket((to - from).max(1));
    // Comparing, a drag or a click selects the events to compare; else it zooms.
    let comparing = view.compare.is_some();
    let target = move |view: &View, from: i64, to: i64| {
        if comparing {
            View {
                compare: Some(Comparing::On(Compare::Range { from, to })),
                ..view.clone()
            }
        } else {
            view.between(from, to)
        }
    };
    let zoom_view = view.clone();
    let on_zoom = Callback::new(move |(t0, t1): (f64, f64)| {
        go.run(target(&zoom_view, (t0 * 1e6) as i64, (t1 * 1e6) as i64));
    });
    // A bar is a bucket of `step` µs from the epoch: a click narrows to it.
    let click_view = view.clone();
    let on_click = Callback::new(move |click: Click| {
        let start = ((click.time * 1e6) as i64).div_euclid(step) * step;
        go.run(target(&click_view, start, start + step - 1));
    });
    let band = match view.compare {
        Some(Comparing::On(Compare::Range { from, to })) => {
            Some((from as f64 / 1e6, (to + 1) as f64 / 1e6))
        }
        _ => None,
    };
    let different_view = view.clone();
    let filtered = !view.filters.is_empty() || !view.predicates.is_empty();
    let different = move |_| {
        let compare = if filtered {
            Comparing::On(Compare::Filters)
        } else {
            Comparing::Picking
        };
        go.run(View {
            compare: Some(compare),
            ..different_view.clone()
        });
    };
    let title = if comparing {
        "Drag across to select the events to compare with the rest; click a bar to select it"
    } else {
        "Drag across to zoom into that time range; click a bar to narrow to it"
    };
    let svg = draw::svg(1160, 160, |root| {
        draw::time_chart(
            root,
            &draw::TimeChart {
                series: &series,
                x_range: (from as f64 / 1e6, to as f64 / 1e6),
                y_min: Some(0.0),
                y_max: None,
                stack: true,
                bars: true,
                format: &format,
                offset: 0,
                marks: &[],
            },
        )
        .map_err(|e| e.to_string())
    });
    let by_view = view.clone();
    let by = histogram.by.clone().unwrap_or_default();
    let counts = histogram
        .by
        .clone()
        .map(|field| counts(field, &series, total, &view, go));
    view! {
        <div class="histogram-head">
            <h2><span data-test="total">{crate::figures::count(total as u64)}</span> " events"
                <span class="muted">" · " {rfc3339(from / 1_000_000 * 1_000_000)} " to " {rfc3339(to / 1_000_000 * 1_000_000)}</span></h2>
            <button class="button" data-test="compare-start" disabled=comparing on:click=different
                title="Compare the filtered events, or a time range you select, with the rest">"What is different?"</button>
            <label class="muted">"Break down by "
                <select data-test="breakdown" on:change=move |ev| {
                    let field = event_target_value(&ev);
                    go.run(View { by: (!field.is_empty()).then_some(field), ..by_view.clone() });
                }>
                    <option value="" selected=by.is_empty()>"nothing"</option>
                    {fields.0.iter().map(|(name, _)| view! {
                        <option value=name.clone() selected=*name == by>{name.clone()}</option>
                    }).collect_view()}
                </select>
            </label>
        </div>
        <div class="histogram" data-test="histogram">
            <ZoomChart svg x_range=(from as f64 / 1e6, to as f64 / 1e6) width=1160 height=160 on_zoom on_click band=band.unwrap_or_default()
                title=title/>
        </div>
        {counts}
    }
}

/// Rows `(t, value, n)` as a series per value, the most frequent first, the rest last in gray.
fn breakdown(result: &QueryResult) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
    for row in &result.rows {
        let (Some(t), Some(n)) = (number(&row[0]), number(&row[2])) else {
            continue;
        };
        let name = text(&row[1]);
        match series.iter_mut().find(|s| s.name == name) {
            Some(s) => s.points.push((t, n)),
            None => series.push(Series {
                name,
                color: String::new(),
                points: vec![(t, n)],
            }),
        }
    }
    let sum = |s: &Series| s.points.iter().map(|p| p.1).sum::<f64>();
    let unnamed = |s: &Series| s.name == OTHER || s.name == NONE;
    series.sort_by(|a, b| {
        unnamed(a)
            .cmp(&unnamed(b))
            .then(sum(b).total_cmp(&sum(a)))
            .then(a.name.cmp(&b.name))
    });
    for (i, s) in series.iter_mut().enumerate() {
        s.color = if unnamed(s) {
            REST.into()
        } else {
            PALETTE[i % PALETTE.len()].into()
        };
    }
    series
}

/// The count of each value of the breakdown, with its share and buttons to keep or leave out
/// its events.
fn counts(
    field: String,
    series: &[Series],
    total: f64,
    view: &View,
    go: Callback<View>,
) -> impl IntoView + use<> {
    let rows = series
        .iter()
        .map(|s| {
            let n: f64 = s.points.iter().map(|p| p.1).sum();
            let share = if total > 0.0 { n / total } else { 0.0 };
            let filters = match s.name.as_str() {
                OTHER => None,
                NONE => Some((
                    Filter::new(field.clone(), Op::IsNull, ""),
                    Filter::new(field.clone(), Op::NotNull, ""),
                )),
                value => Some((
                    Filter::new(field.clone(), Op::Eq, value),
                    Filter::new(field.clone(), Op::Ne, value),
                )),
            };
            let buttons = filters.map(|(keep, leave)| {
                let (keep_view, leave_view) = (view.clone(), view.clone());
                view! {
                    <button class="button small" data-test="keep" title="Only these events"
                        on:click=move |_| go.run(View { by: None, ..keep_view.with_filter(keep.clone()) })>"+"</button>
                    <button class="button small" data-test="leave" title="Leave these events out"
                        on:click=move |_| go.run(leave_view.with_filter(leave.clone()))>"−"</button>
                }
            });
            view! {
                <tr data-test="breakdown-value" data-value=s.name.clone()>
                    <td><span class="swatch" style=format!("background: {}", s.color)></span>{s.name.clone()}</td>
                    <td class="num" data-test="breakdown-count">{crate::figures::count(n as u64)}</td>
                    <td class="num muted">{crate::figures::percent(share)}</td>
                    <td class="actions">{buttons}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="breakdown" data-test="breakdown-table"><tbody>{rows}</tbody></table>
    }
}
