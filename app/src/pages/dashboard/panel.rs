//! One panel: its SQL with the variables and the time range substituted, kept live (or queried
//! once for a fixed range), drawn as its type says, with its freshness in the corner.

use leptos::prelude::*;
use protocol::QueryResult;
use protocol::dashboard::{Panel, PanelKind, TimeRange};
use protocol::live::Mode;

use super::drill::{DrillMenu, Pick, Picked};
use super::rows::{Logs, Paging, Table};
use super::{GAP, GRID_WIDTH, ROW_HEIGHT, Shown, Zone, browser_offset, now_micros, panel_sql};
use crate::api::run_query;
use crate::pages::zoom::{Click, ClickChart, Point, ZoomChart};
use crate::pages::{ErrorMessage, LiveQuery, live_query_from};
use crate::viz::{self, draw};

/// A panel's header and padding, in pixels: what its chart does not get of its box.
const CHROME_HEIGHT: u32 = 44;
const PADDING: u32 = 24;

/// The chart size of a panel `w` columns wide and `h` rows high.
pub(crate) fn chart_size(w: u32, h: u32) -> (u32, u32) {
    let column = (GRID_WIDTH + GAP) as f64 / 24.0;
    let width = (column * f64::from(w) - f64::from(GAP)) as u32;
    let height = h * ROW_HEIGHT + (h.saturating_sub(1)) * GAP;
    (
        width.saturating_sub(PADDING).max(60),
        height.saturating_sub(CHROME_HEIGHT).max(40),
    )
}

#[component]
pub(crate) fn PanelView(
    panel: Panel,
    /// The first result, fetched with the page, and the SQL it is of.
    initial: Option<(String, Result<QueryResult, protocol::Error>)>,
    /// Shown in the panel editor: no edit tools.
    #[prop(optional)]
    preview: bool,
) -> impl IntoView {
    let initial = StoredValue::new(initial);
    let shown = expect_context::<Shown>();
    let grid = panel.grid;
    let (nominal, height) = chart_size(grid.w, grid.h);
    let id = panel.id;
    // Its place on the grid (a move changes only this).
    let style = move || {
        let g = if preview {
            grid
        } else {
            shown
                .dashboard
                .with(|d| d.panel(id).map(|p| p.grid))
                .unwrap_or(grid)
        };
        format!(
            "grid-column: {} / span {}; grid-row: {} / span {};",
            g.x + 1,
            g.w,
            g.y + 1,
            g.h
        )
    };
    // The chart's width as laid out in this window (the server draws at the nominal width): it
    // chooses `$__interval`, so a chart never gets more points than it has pixels.
    let element = NodeRef::<leptos::html::Div>::new();
    let width = RwSignal::new(nominal);
    measure(element, width);
    let kind = panel.kind;
    let panel = StoredValue::new(panel);
    let inspect = RwSignal::new(false);
    let range = shown.range;
    let base = Memo::new(move |_| {
        let (range, width) = (range.get(), width.get());
        shown.vars.with(|vars| {
            panel.with_value(|p| {
                panel_sql(p, vars, range, (width, height), 0)
                    .map(|sql| (sql, range, width))
                    .map_err(|e| e.to_string())
            })
        })
    });
    // A table's or a log's page, with the query (of page 0) it is a page of: a new query starts
    // again at the first page.
    let page = RwSignal::new((String::new(), 0usize));
    let rows = kind.page_rows(height);
    // The page shown: the one asked for while the query is the one it was asked of, else 0.
    let number = Memo::new(move |_| {
        base.with(|b| match b {
            Ok((first, ..)) => page.with(|(of, n)| if of == first { *n } else { 0 }),
            Err(_) => 0,
        })
    });
    let sql = Memo::new(move |_| {
        let (first, range, width) = base.get()?;
        let number = number.get();
        if number == 0 {
            return Ok((first, range, width));
        }
        shown.vars.with(|vars| {
            panel.with_value(|p| {
                panel_sql(p, vars, range, (width, height), number)
                    .map(|sql| (sql, range, width))
                    .map_err(|e| e.to_string())
            })
        })
    });
    let paging = rows.map(|_| Paging {
        number: number.into(),
        go: Callback::new(move |number: usize| {
            if let Ok((first, ..)) = base.get_untracked() {
                page.set((first, number));
            }
        }),
    });
    let title = panel.with_value(|p| p.title.clone());
    let description = panel.with_value(|p| p.description.clone());
    view! {
        <div class="dpanel" style=style node_ref=element data-test=format!("panel-{id}") data-kind=panel.with_value(|p| p.kind.as_str())>
            <div class="dpanel-head">
                <h2 title=description>{title}</h2>
                <button class="inspect" title="Inspect: the query as run, its data, CSV" data-test="inspect"
                    on:click=move |_| inspect.set(true)>"Inspect"</button>
                {(!preview).then(|| {
                    let href = shown.dashboard.with_untracked(|d| format!("/alerts/new?dashboard={}&panel={id}", crate::pages::dashboards::encode(&d.uid)));
                    view! { <a class="inspect" href=href title="Create an alert rule from this panel's query" data-test="create-alert">"Alert"</a> }
                })}
                {move || (shown.editing.get() && !preview).then(|| view! { <super::edit::PanelTools id/> })}
            </div>
            <div class="dpanel-body" style=format!("height: {height}px")>
                {move || match sql.get() {
                    Err(message) => view! {
                        <p class="error" data-test="panel-error">{message}</p>
                    }.into_any(),
                    Ok((sql, range, width)) => {
                        // The page's result while the SQL is the one it was fetched for; once
                        // the SQL changed, it is of no later query (not even the same SQL again).
                        let first = initial.with_value(|i| {
                            i.as_ref().filter(|(s, _)| *s == sql).map(|(_, r)| r.clone())
                        });
                        if first.is_none() {
                            initial.set_value(None);
                        }
                        let drawn = Drawn {
                            panel: panel.get_value(),
                            sql,
                            range,
                            width,
                            height,
                            paging,
                            inspect,
                        };
                        if range.is_live() {
                            view! { <LiveBody drawn first/> }.into_any()
                        } else {
                            view! { <HistoryBody drawn first/> }.into_any()
                        }
                    }
                }}
            </div>
        </div>
    }
}

/// Keeps `width` the chart width of the panel `element` in this window: once hydrated, and
/// whenever the window is resized. Small changes are ignored (they would query again for
/// nothing).
fn measure(element: NodeRef<leptos::html::Div>, width: RwSignal<u32>) {
    #[cfg(feature = "hydrate")]
    {
        let read = move || {
            let Some(el) = element.get_untracked() else {
                return;
            };
            let laid_out = (el.client_width().max(0) as u32).saturating_sub(PADDING);
            let now = width.get_untracked();
            if laid_out >= 60 && laid_out.abs_diff(now) * 50 > now {
                width.set(laid_out);
            }
        };
        Effect::new(move |_| {
            if element.get().is_some() {
                read();
            }
        });
        let handle = window_event_listener(leptos::ev::resize, move |_| read());
        on_cleanup(move || handle.remove());
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (element, width);
    }
}

/// A panel over a live range: a continuous query.
#[component]
fn LiveBody(drawn: Drawn, first: Option<Result<QueryResult, protocol::Error>>) -> impl IntoView {
    let LiveQuery {
        result,
        is_live,
        mode,
        lag,
    } = live_query_from(drawn.sql.clone(), first);
    let freshness = move || match mode.get() {
        _ if !is_live.get() => ("connecting", "○ connecting".to_string(), String::new()),
        Some(Mode::Requery {
            reason,
            interval_ms,
        }) => (
            "requery",
            format!(
                "↻ every {} s",
                (interval_ms as f64 / 1000.0).max(1.0).round()
            ),
            format!("re-queried every {interval_ms} ms: {reason}"),
        ),
        _ => match lag.get() {
            Some(lag) => (
                "live",
                format!("● live · {}", viz::age(lag)),
                format!(
                    "kept up to date event by event; the newest event shown is {} old",
                    viz::age(lag)
                ),
            ),
            None => (
                "live",
                "● live".to_string(),
                "kept up to date event by event (no new event since it started)".to_string(),
            ),
        },
    };
    view! {
        <span class=move || format!("freshness {}", freshness().0) data-test="freshness" title=move || freshness().2>
            {move || freshness().1}
        </span>
        {drawn.view(result)}
    }
}

/// A panel over a fixed piece of history: one query.
#[component]
fn HistoryBody(drawn: Drawn, first: Option<Result<QueryResult, protocol::Error>>) -> impl IntoView {
    // The page's result when it has it; else (the SQL changed since) a query of its own.
    let result: Signal<Option<Result<QueryResult, protocol::Error>>> = match first {
        Some(first) => Signal::stored(Some(first)),
        None => {
            let sql = drawn.sql.clone();
            let resource = Resource::new(|| (), move |()| run_query(sql.clone()));
            Signal::derive(move || resource.get().map(|r| r.map_err(|e| e.0)))
        }
    };
    view! {
        <span class="freshness history" data-test="freshness" title="a fixed range of history, queried once">"history"</span>
        {drawn.view(result)}
    }
}

/// What a live or a history panel draws its result with.
struct Drawn {
    panel: Panel,
    /// The SQL as run.
    sql: String,
    range: TimeRange,
    width: u32,
    height: u32,
    paging: Option<Paging>,
    inspect: RwSignal<bool>,
}

impl Drawn {
    /// The result as the panel's type draws it (or its error), and the inspector when open.
    fn view(self, result: Signal<Option<Result<QueryResult, protocol::Error>>>) -> impl IntoView {
        let shown = expect_context::<Shown>();
        let Drawn {
            panel,
            sql,
            range,
            width,
            height,
            paging,
            inspect,
        } = self;
        let title = panel.title.clone();
        let panel = StoredValue::new(panel);
        let sql = StoredValue::new(sql);
        // Outside the result's view: a live panel redraws on every change, the menu stays.
        let pick = RwSignal::new(None::<Pick>);
        view! {
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || result.get().map(|result| match result {
                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    Ok(result) => {
                        let now = if result.now > 0 { result.now } else { now_micros() };
                        let (from, to) = range.resolve(now);
                        let offset = zone_offset(shown.view.with_untracked(|v| v.zone));
                        shown.marks.with(|marks| panel.with_value(|p| sql.with_value(|sql| body(p, &result, Frame {
                            x_range: (from as f64 / 1e6, to as f64 / 1e6),
                            width,
                            height,
                            offset,
                            marks,
                            paging,
                            sql,
                            pick,
                        }))))
                    }
                })}
            </Suspense>
            {move || pick.get().map(|p| view! { <DrillMenu pick=p close=pick/> })}
            {move || inspect.get().then(|| view! {
                <Inspector title=title.clone() sql=sql.get_value() result=result.get() close=inspect/>
            })}
        }
    }
}

/// A panel's query as run (variables and macros substituted), its data as a table, and the data
/// as a CSV file.
#[component]
fn Inspector(
    title: String,
    sql: String,
    result: Option<Result<QueryResult, protocol::Error>>,
    close: RwSignal<bool>,
) -> impl IntoView {
    let file: String = title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let data = match result {
        None => view! { <p class="muted">"Loading…"</p> }.into_any(),
        Some(Err(error)) => view! { <ErrorMessage error/> }.into_any(),
        Some(Ok(result)) => {
            let href = format!(
                "data:text/csv;charset=utf-8,{}",
                viz::percent_encode(&viz::csv(&result))
            );
            let count = format!(
                "{} rows{}",
                result.rows.len(),
                if result.truncated {
                    " (truncated: the query returned more)"
                } else {
                    ""
                }
            );
            view! {
                <div class="row">
                    <h3>"Data " <span class="muted small" data-test="inspect-count">{count}</span></h3>
                    <span class="spacer"></span>
                    <a class="button" href=href download=format!("{file}.csv") data-test="inspect-csv">"Download CSV"</a>
                </div>
                <Table result rows_per_page=15 paging=None/>
            }
            .into_any()
        }
    };
    view! {
        <div class="modal" data-test="inspector" on:click=move |_| close.set(false)>
            <div class="modal-box inspector" on:click=|ev| ev.stop_propagation()>
                <div class="row">
                    <h2>"Inspect: " {title}</h2>
                    <span class="spacer"></span>
                    <button class="button" data-test="inspect-close" on:click=move |_| close.set(false)>"Close"</button>
                </div>
                <h3>"Query as run"</h3>
                <pre class="sql" data-test="inspect-sql">{sql}</pre>
                {data}
            </div>
        </div>
    }
}

fn zone_offset(zone: Zone) -> i32 {
    match zone {
        Zone::Utc => 0,
        Zone::Browser => browser_offset(),
    }
}

/// Where and how a panel draws: the time range (seconds since the epoch), the chart's size,
/// the zone's offset, the annotations.
struct Frame<'a> {
    x_range: (f64, f64),
    width: u32,
    height: u32,
    offset: i32,
    marks: &'a [draw::Mark],
    paging: Option<Paging>,
    /// The SQL the result is of, and what a click on a value picked.
    sql: &'a str,
    pick: RwSignal<Option<Pick>>,
}

/// Draws `result` as the panel's type says.
fn body(panel: &Panel, result: &QueryResult, frame: Frame<'_>) -> AnyView {
    let Frame {
        x_range,
        width,
        height,
        offset,
        marks,
        paging,
        sql,
        pick,
    } = frame;
    let options = panel.options.clone();
    let sql = sql.to_owned();
    let format = {
        let options = options.clone();
        move |v: f64| viz::format_value(v, &options)
    };
    match panel.kind {
        PanelKind::Timeseries | PanelKind::Bar if viz::time_column(result).is_some() => {
            let series = viz::time_series(result, &options);
            if series.is_empty() {
                return no_data();
            }
            let legend = !matches!(options.legend, Some(protocol::dashboard::Legend::Hidden))
                && series.len() > 1;
            let chart_height = if legend {
                height.saturating_sub(24)
            } else {
                height
            };
            let svg = draw::svg(width, chart_height, |root| {
                draw::time_chart(
                    root,
                    &draw::TimeChart {
                        series: &series,
                        x_range,
                        y_min: options.min,
                        y_max: options.max,
                        stack: options.stack,
                        bars: panel.kind == PanelKind::Bar,
                        format: &format,
                        offset,
                        marks,
                    },
                )
                .map_err(|e| e.to_string())
            });
            let shown = expect_context::<Shown>();
            let on_zoom = Callback::new(move |(t0, t1): (f64, f64)| {
                let (from, to) = ((t0 * 1000.0) as i64, (t1 * 1000.0) as i64);
                shown.navigate(|v| {
                    v.from = from.to_string();
                    v.to = to.to_string();
                });
            });
            let (result, options) = (result.clone(), options.clone());
            let on_click = Callback::new(move |click: Click| {
                let hits = viz::hits_at(&result, &options, click.time);
                let Some(x) = hits.first().map(|h| h.x) else {
                    return;
                };
                let format = |v: f64| viz::format_value(v, &options);
                pick.set(Some(Pick {
                    x: click.x,
                    y: click.y,
                    title: viz::clock(x, 0.0, offset),
                    sql: sql.clone(),
                    values: hits
                        .iter()
                        .map(|h| Picked::of_hit(h, &result.rows, &format))
                        .collect(),
                }));
            });
            view! {
                <ZoomChart svg x_range width height=chart_height marks=marks.to_vec() on_zoom on_click
                    title="Drag across to zoom into that time range; click for the events behind a value"/>
                {legend.then(|| view! { <Legend series/> })}
            }
            .into_any()
        }
        PanelKind::Timeseries | PanelKind::Bar => {
            let found = viz::labelled_bars(result);
            if found.is_empty() {
                return no_data();
            }
            let bars: Vec<(String, f64)> =
                found.iter().map(|b| (b.label.clone(), b.value)).collect();
            let color_of =
                |v: f64| viz::threshold_color(&options.thresholds, v, viz::PALETTE[0]).to_string();
            let svg = draw::svg(width, height, |root| {
                draw::bar_chart(root, &bars, &format, &color_of, None).map_err(|e| e.to_string())
            });
            let rows = result.rows.clone();
            let on_click = Callback::new(move |point: Point| {
                let Some(bar) = draw::bar_at(found.len(), height, point.svg.1).map(|i| &found[i])
                else {
                    return;
                };
                pick.set(Some(Pick {
                    x: point.x,
                    y: point.y,
                    title: bar.label.clone(),
                    sql: sql.clone(),
                    values: vec![Picked {
                        name: bar.label.clone(),
                        color: viz::PALETTE[0].into(),
                        value: viz::format_value(bar.value, &options),
                        raw: bar.value.to_string(),
                        row: rows[bar.row].clone(),
                        column: Some(bar.column),
                    }],
                }));
            });
            view! { <ClickChart svg width height on_click title="Click a bar for the events behind it"/> }
                .into_any()
        }
        PanelKind::Stat => {
            let (value, spark) = viz::figure(result, &options);
            let Some(value) = value else {
                return no_data();
            };
            let color = viz::css_color(viz::threshold_color(&options.thresholds, value, "#ffffff"));
            let line =
                viz::threshold_color(&options.thresholds, value, viz::PALETTE[0]).to_string();
            let spark_height = (height / 3).max(20);
            let svg = draw::svg(width, spark_height, |root| {
                draw::sparkline(root, &spark, &line).map_err(|e| e.to_string())
            });
            let size = (height.saturating_sub(spark_height) as f64 * 0.55).clamp(18.0, 72.0);
            let values = stat_values(result, &options, &spark);
            let on_click = move |ev: leptos::ev::MouseEvent| {
                pick.set(Some(Pick {
                    x: ev.client_x(),
                    y: ev.client_y(),
                    title: "This value".into(),
                    sql: sql.clone(),
                    values: values.clone(),
                }));
            };
            view! {
                <div class="stat drillable" title="Click for the events behind this value" on:click=on_click>
                    <div class="stat-value" data-test="stat-value" style=format!("color: {color}; font-size: {size:.0}px")>
                        {viz::format_value(value, &options)}
                    </div>
                    <div class="sparkline" inner_html=svg></div>
                </div>
            }
            .into_any()
        }
        PanelKind::Gauge => {
            let (value, _) = viz::figure(result, &options);
            let Some(value) = value else {
                return no_data();
            };
            let (min, max) = viz::gauge::bounds(&options, value);
            let color = viz::css_color(viz::threshold_color(
                &options.thresholds,
                value,
                viz::PALETTE[0],
            ));
            let steps: Vec<(f64, String)> = options
                .thresholds
                .iter()
                .map(|t| (t.value.unwrap_or(min), viz::css_color(&t.color)))
                .collect();
            let svg = viz::gauge::svg(
                value,
                min,
                max,
                &color,
                &viz::format_value(value, &options),
                &steps,
            );
            view! { <div class="gauge-box" data-test="gauge" inner_html=svg></div> }.into_any()
        }
        PanelKind::Heatmap => {
            let (cells, buckets, step) = viz::heat_cells(result, &options);
            if cells.is_empty() {
                return no_data();
            }
            let svg = draw::svg(width, height, |root| {
                draw::heatmap(root, &cells, &buckets, x_range, step, offset)
                    .map_err(|e| e.to_string())
            });
            let result = result.clone();
            let on_click = Callback::new(move |point: Point| {
                let Some((row, column, bucket)) =
                    draw::heatmap_at((width, height), x_range, buckets.len(), point.svg).and_then(
                        |(time, bucket)| viz::heat_cell_at(&result, &options, time, bucket),
                    )
                else {
                    return;
                };
                let value = viz::number(&result.rows[row][column]).unwrap_or_default();
                let time = viz::time_column(&result)
                    .and_then(|t| viz::seconds(&result.rows[row][t]))
                    .unwrap_or_default();
                pick.set(Some(Pick {
                    x: point.x,
                    y: point.y,
                    title: viz::clock(time, 0.0, offset),
                    sql: sql.clone(),
                    values: vec![Picked {
                        name: bucket,
                        color: viz::PALETTE[3].into(),
                        value: viz::format_value(value, &options),
                        raw: value.to_string(),
                        row: result.rows[row].clone(),
                        column: Some(column),
                    }],
                }));
            });
            view! { <ClickChart svg width height on_click title="Click a cell for the events behind it"/> }
                .into_any()
        }
        PanelKind::Table => {
            let rows_per_page = PanelKind::Table.page_rows(height).unwrap_or(3);
            let rows = result.rows.clone();
            let on_row = Callback::new(move |(i, x, y): (usize, i32, i32)| {
                let Some(row) = rows.get(i) else { return };
                let label: Vec<String> = row
                    .iter()
                    .filter(|v| v.is_string())
                    .map(viz::text)
                    .collect();
                pick.set(Some(Pick {
                    x,
                    y,
                    title: "This row".into(),
                    sql: sql.clone(),
                    values: vec![Picked {
                        name: label.join(" · "),
                        color: viz::PALETTE[0].into(),
                        value: String::new(),
                        raw: String::new(),
                        row: row.clone(),
                        column: None,
                    }],
                }));
            });
            view! { <Table result=result.clone() rows_per_page paging on_row/> }.into_any()
        }
        PanelKind::Logs => {
            let rows_per_page = PanelKind::Logs.page_rows(height).unwrap_or(3);
            view! { <Logs result=result.clone() rows_per_page offset paging/> }.into_any()
        }
    }
}

/// What a stat shows, as values to drill into: the series' values at the time of the figure
/// (several when it sums series), or the last row's first number.
fn stat_values(
    result: &QueryResult,
    options: &protocol::dashboard::PanelOptions,
    spark: &[(f64, f64)],
) -> Vec<Picked> {
    let format = |v: f64| viz::format_value(v, options);
    if viz::time_column(result).is_some() {
        let shown = match spark.len() {
            0 => return Vec::new(),
            1 | 2 => spark[spark.len() - 1].0,
            n => spark[n - 2].0,
        };
        return viz::hits_at(result, options, shown)
            .iter()
            .map(|h| Picked::of_hit(h, &result.rows, &format))
            .collect();
    }
    let (Some(row), Some(&column)) = (result.rows.last(), viz::value_columns(result, &[]).first())
    else {
        return Vec::new();
    };
    vec![Picked {
        name: result.columns[column].name.clone(),
        color: viz::PALETTE[0].into(),
        value: viz::number(&row[column]).map(format).unwrap_or_default(),
        raw: viz::number(&row[column])
            .map(|v| v.to_string())
            .unwrap_or_default(),
        row: row.clone(),
        column: Some(column),
    }]
}

fn no_data() -> AnyView {
    view! { <p class="no-data" data-test="no-data">"No data"</p> }.into_any()
}

#[component]
fn Legend(series: Vec<viz::Series>) -> impl IntoView {
    view! {
        <ul class="legend">
            {series.into_iter().map(|s| view! {
                <li><span class="swatch" style=format!("background: {}", s.color)></span>{s.name}</li>
            }).collect_view()}
        </ul>
    }
}
