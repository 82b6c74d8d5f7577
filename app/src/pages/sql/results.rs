//! A workbench result: a paged table or a chart of picked columns (x, y, and a column whose
//! values name the series), links that export it, and a plan as EXPLAIN gives it.

use leptos::prelude::*;
use protocol::dashboard::PanelOptions;
use protocol::{Column, QueryResult};

use super::duration;
use crate::viz::{self, draw};

/// Table rows per page.
const PAGE: usize = 100;
const CHART_WIDTH: u32 = 1100;
const CHART_HEIGHT: u32 = 320;

fn is_time(column: &Column) -> bool {
    column.data_type.starts_with("Timestamp") || column.data_type.starts_with("Date")
}

fn is_number(column: &Column) -> bool {
    let t = column.data_type.as_str();
    t.starts_with("Int")
        || t.starts_with("UInt")
        || t.starts_with("Float")
        || t.starts_with("Decimal")
}

/// What a chart shows: column indexes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Picks {
    pub(crate) x: usize,
    pub(crate) y: usize,
    pub(crate) series: Option<usize>,
}

/// The chart a result suggests: time (else the first text column) on x, the first number on
/// y, and over time a text column as the series (`time, service, count` draws a line per
/// service). None without a number to draw.
pub(crate) fn default_picks(columns: &[Column]) -> Option<Picks> {
    let time = columns.iter().position(is_time);
    let text = columns.iter().position(|c| !is_time(c) && !is_number(c));
    let x = time.or(text).unwrap_or(0);
    let y = columns
        .iter()
        .enumerate()
        .position(|(i, c)| i != x && is_number(c))?;
    let series = time.and(text);
    Some(Picks { x, y, series })
}

/// The result cut to the picked columns, as the panels' drawing reads it: `x, series?, y`.
pub(crate) fn picked(result: &QueryResult, picks: Picks) -> QueryResult {
    let order: Vec<usize> = [Some(picks.x), picks.series, Some(picks.y)]
        .into_iter()
        .flatten()
        .collect();
    QueryResult {
        columns: order.iter().map(|&i| result.columns[i].clone()).collect(),
        rows: result
            .rows
            .iter()
            .map(|row| order.iter().map(|&i| row[i].clone()).collect())
            .collect(),
        truncated: result.truncated,
        now: result.now,
    }
}

/// The chart as SVG: lines over time when x is a time, else a bar per row; and its series'
/// names and colours, when there are several.
fn chart_svg(result: &QueryResult, picks: Picks) -> Option<(String, Vec<(String, String)>)> {
    let cut = picked(result, picks);
    let options = PanelOptions {
        series: picks.series.map(|i| result.columns[i].name.clone()),
        ..PanelOptions::default()
    };
    let format = |v: f64| viz::format_value(v, &options);
    if is_time(&result.columns[picks.x]) {
        let series = viz::time_series(&cut, &options);
        let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
        let (lo, hi) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
        if series.is_empty() || lo > hi {
            return None;
        }
        let x_range = if hi > lo {
            (lo, hi)
        } else {
            (lo - 30.0, hi + 30.0)
        };
        let legend = if series.len() > 1 {
            series
                .iter()
                .map(|s| (s.name.clone(), s.color.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let svg = draw::svg(CHART_WIDTH, CHART_HEIGHT, |root| {
            draw::time_chart(
                root,
                &draw::TimeChart {
                    series: &series,
                    x_range,
                    y_min: None,
                    y_max: None,
                    stack: false,
                    bars: false,
                    format: &format,
                    offset: 0,
                    marks: &[],
                },
            )
            .map_err(|e| e.to_string())
        });
        Some((svg, legend))
    } else {
        let bars = viz::labelled(&cut);
        if bars.is_empty() {
            return None;
        }
        let color = |_: f64| viz::PALETTE[0].to_owned();
        let svg = draw::svg(CHART_WIDTH, CHART_HEIGHT, |root| {
            draw::bar_chart(root, &bars, &format, &color, None).map_err(|e| e.to_string())
        });
        Some((svg, Vec::new()))
    }
}

#[component]
pub(crate) fn Results(sql: String, result: QueryResult, ms: f64, limit: usize) -> impl IntoView {
    let chart = RwSignal::new(false);
    let rows = result.rows.len();
    let summary = format!(
        "{} {} in {}",
        rows,
        if rows == 1 { "row" } else { "rows" },
        duration(ms)
    );
    let truncated = result
        .truncated
        .then(|| format!("The first {limit} rows: export for up to 1,000,000."));
    let export = |format: &'static str| {
        let href = format!(
            "/api/v1/query?format={format}&sql={}",
            viz::percent_encode(&sql)
        );
        view! {
            <a class="button small" href=href download=format!("query.{format}") data-test=format!("sql-export-{format}")>
                {format.to_uppercase()}
            </a>
        }
    };
    let result = StoredValue::new(result);
    view! {
        <div class="sql-results" data-test="sql-results">
            <div class="sql-results-head">
                <div class="tabs">
                    <button class="tab" class:active=move || !chart.get() data-test="sql-table-tab" on:click=move |_| chart.set(false)>"Table"</button>
                    <button class="tab" class:active=move || chart.get() data-test="sql-chart-tab" on:click=move |_| chart.set(true)>"Chart"</button>
                </div>
                <span data-test="sql-summary">{summary}</span>
                {truncated.map(|t| view! { <span class="sql-warn" data-test="sql-truncated">{t}</span> })}
                <span class="spacer"></span>
                <span class="muted">"Export"</span>
                {export("csv")}
                {export("ndjson")}
                {export("parquet")}
            </div>
            {move || if chart.get() {
                view! { <ResultChart result=result.get_value()/> }.into_any()
            } else {
                view! { <ResultTable result=result.get_value()/> }.into_any()
            }}
        </div>
    }
}

#[component]
fn ResultTable(result: QueryResult) -> impl IntoView {
    let page = RwSignal::new(0usize);
    let pages = result.rows.len().div_ceil(PAGE).max(1);
    let columns = result.columns.clone();
    let rows = StoredValue::new(result.rows);
    view! {
        <div class="table-scroll">
            <table class="data sql-table" data-test="sql-table">
                <thead><tr>{columns.into_iter().map(|c| view! {
                    <th>{c.name}<span class="type">{c.data_type}</span></th>
                }).collect_view()}</tr></thead>
                <tbody>{move || {
                    let start = page.get() * PAGE;
                    rows.with_value(|rows| rows.iter().skip(start).take(PAGE).map(|row| view! {
                        <tr data-test="sql-row">{row.iter().map(|v| {
                            let numeric = v.is_number();
                            view! { <td class:num=numeric>{viz::cell(v)}</td> }
                        }).collect_view()}</tr>
                    }).collect_view())
                }}</tbody>
            </table>
        </div>
        <Show when=move || { pages > 1 }>
            <div class="pager">
                <button class="button small" disabled=move || page.get() == 0 on:click=move |_| page.update(|p| *p -= 1)>"‹ Newer"</button>
                <span class="muted">{move || format!("Page {} of {pages}", page.get() + 1)}</span>
                <button class="button small" disabled=move || page.get() + 1 >= pages data-test="sql-next-page"
                    on:click=move |_| page.update(|p| *p += 1)>"Older ›"</button>
            </div>
        </Show>
    }
}

#[component]
fn ResultChart(result: QueryResult) -> impl IntoView {
    let Some(first) = default_picks(&result.columns) else {
        return view! { <p class="no-data" data-test="sql-no-chart">"No number to draw: a chart needs a numeric column."</p> }.into_any();
    };
    let picks = RwSignal::new(first);
    let columns = result.columns.clone();
    let option = |i: usize, c: &Column, chosen: bool| {
        view! { <option value=i.to_string() selected=chosen>{format!("{} ({})", c.name, c.data_type)}</option> }
    };
    let pick = move |set: fn(&mut Picks, Option<usize>)| {
        move |ev: leptos::ev::Event| {
            let value = event_target_value(&ev).parse().ok();
            picks.update(|p| set(p, value));
        }
    };
    let svg = move || chart_svg(&result, picks.get());
    view! {
        <div class="sql-chart-picks">
            <label>"x " <select data-test="sql-x" on:change=pick(|p, v| p.x = v.unwrap_or(p.x))>
                {columns.iter().enumerate().map(|(i, c)| option(i, c, i == first.x)).collect_view()}
            </select></label>
            <label>"y " <select data-test="sql-y" on:change=pick(|p, v| p.y = v.unwrap_or(p.y))>
                {columns.iter().enumerate().filter(|(_, c)| is_number(c))
                    .map(|(i, c)| option(i, c, i == first.y)).collect_view()}
            </select></label>
            <label>"series " <select data-test="sql-series" on:change=pick(|p, v| p.series = v)>
                <option value="" selected=first.series.is_none()>"none"</option>
                {columns.iter().enumerate().filter(|(_, c)| !is_number(c) && !is_time(c))
                    .map(|(i, c)| option(i, c, Some(i) == first.series)).collect_view()}
            </select></label>
        </div>
        {move || match svg() {
            Some((svg, legend)) => view! {
                <div class="sql-chart">
                    <div class="chart" data-test="sql-chart" inner_html=svg></div>
                    <ul class="legend sql-legend">{legend.into_iter().map(|(name, color)| view! {
                        <li><span class="swatch" style=format!("background: {color}")></span>{name}</li>
                    }).collect_view()}</ul>
                </div>
            }.into_any(),
            None => view! { <p class="no-data">"Nothing to draw for these columns."</p> }.into_any(),
        }}
    }
    .into_any()
}

/// EXPLAIN's answer: each plan under its kind.
#[component]
pub(crate) fn Plan(result: QueryResult) -> impl IntoView {
    view! {
        <div class="sql-plan" data-test="sql-plan">
            {result.rows.iter().map(|row| {
                let kind = row.first().map(viz::text).unwrap_or_default();
                let plan = row.get(1).map(viz::text).unwrap_or_default();
                view! { <h3>{kind}</h3><pre>{plan}</pre> }
            }).collect_view()}
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn column(name: &str, data_type: &str) -> Column {
        Column {
            name: name.into(),
            data_type: data_type.into(),
        }
    }

    #[test]
    fn time_on_x_a_number_on_y_and_text_as_series() {
        let columns = [
            column("minute", "Timestamp(µs, \"UTC\")"),
            column("service", "Utf8"),
            column("n", "Int64"),
        ];
        assert_eq!(
            default_picks(&columns),
            Some(Picks {
                x: 0,
                y: 2,
                series: Some(1)
            })
        );
        let labels = [column("route", "Utf8"), column("p99", "Float64")];
        assert_eq!(
            default_picks(&labels),
            Some(Picks {
                x: 0,
                y: 1,
                series: None
            })
        );
        assert_eq!(default_picks(&[column("route", "Utf8")]), None);
    }

    #[test]
    fn a_chart_of_picked_columns_draws() {
        let result = QueryResult {
            columns: vec![
                column("n", "Int64"),
                column("minute", "Timestamp(µs, \"UTC\")"),
                column("service", "Utf8"),
            ],
            rows: vec![
                vec![json!(3), json!("2026-12-01T10:00:00Z"), json!("api")],
                vec![json!(5), json!("2026-12-01T10:01:00Z"), json!("api")],
                vec![json!(2), json!("2026-12-01T10:00:00Z"), json!("web")],
            ],
            ..QueryResult::default()
        };
        let picks = default_picks(&result.columns).expect("a chart");
        assert_eq!(
            picks,
            Picks {
                x: 1,
                y: 0,
                series: Some(2)
            }
        );
        let cut = picked(&result, picks);
        assert_eq!(
            cut.rows[0],
            vec![json!("2026-12-01T10:00:00Z"), json!("api"), json!(3)]
        );
        let (svg, legend) = chart_svg(&result, picks).expect("drawn");
        assert!(svg.contains("<svg"));
        let names: Vec<&str> = legend.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["api", "web"]);
        let (bars, _) = chart_svg(
            &result,
            Picks {
                x: 2,
                y: 0,
                series: None,
            },
        )
        .expect("bars");
        assert!(bars.contains("api"));
    }
}
