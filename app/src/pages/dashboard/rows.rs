//! Rows as a table or as log lines, a page at a time: paged on the server for a panel, in the
//! browser for the inspector (which has the whole result).

use leptos::prelude::*;
use protocol::QueryResult;

use crate::viz;

/// A `table` or `logs` panel's page, paged on the server.
#[derive(Clone, Copy)]
pub(crate) struct Paging {
    /// The page shown, from 0.
    pub(crate) number: Signal<usize>,
    /// Goes to a page.
    pub(crate) go: Callback<usize>,
}

/// Rows as a table, a page at a time.
#[component]
pub(crate) fn Table(
    result: QueryResult,
    rows_per_page: usize,
    paging: Option<Paging>,
    /// A click on a row: its index in the result, and the client pixels clicked.
    #[prop(optional)]
    on_row: Option<Callback<(usize, i32, i32)>>,
) -> impl IntoView {
    let (window, pager) = pages(result.rows.len(), rows_per_page, paging);
    let result = StoredValue::new(result);
    view! {
        <div class="table-box">
            <table class="data" data-test="table">
                <thead><tr>
                    {result.with_value(|r| r.columns.iter().map(|c| view! { <th>{c.name.clone()}</th> }).collect_view())}
                </tr></thead>
                <tbody>
                    {move || {
                        let (start, len) = window.get();
                        result.with_value(|r| r.rows.iter().enumerate().skip(start).take(len).map(|(i, row)| {
                            let names = r.columns.iter().map(|c| c.name.as_str());
                            view! {
                            <tr class:drillable=on_row.is_some() data-test="row"
                                title=on_row.map(|_| "Click for the events behind this row")
                                on:click=move |ev| if let Some(on_row) = on_row { on_row.run((i, ev.client_x(), ev.client_y())) }>
                                {row.iter().zip(names).map(|(v, name)| {
                                let numeric = v.is_number();
                                match viz::trace_link(name, v) {
                                    // A trace id opens its trace, not the row's drill-down.
                                    Some(href) => view! { <td><a href=href data-test="trace-link" title="Open this trace"
                                        on:click=|ev| ev.stop_propagation()>{viz::cell(v)}</a></td> }.into_any(),
                                    None => view! { <td class:num=numeric>{viz::cell(v)}</td> }.into_any(),
                                }
                            }).collect_view()}</tr>
                        }}).collect_view())
                    }}
                </tbody>
            </table>
            {pager}
        </div>
    }
}

/// Raw events, newest first, a page at a time: the time, then `column=value` for the rest.
#[component]
pub(crate) fn Logs(
    result: QueryResult,
    rows_per_page: usize,
    offset: i32,
    paging: Option<Paging>,
) -> impl IntoView {
    let time = viz::time_column(&result);
    let (window, pager) = pages(result.rows.len(), rows_per_page, paging);
    let mut rows = result.rows.clone();
    // A page from the server holds one row more than it shows: it stays out of the sort.
    if paging.is_some() {
        rows.truncate(rows_per_page);
    }
    if let Some(t) = time {
        rows.sort_by(|a, b| {
            let (x, y) = (
                viz::seconds(&a[t]).unwrap_or(0.0),
                viz::seconds(&b[t]).unwrap_or(0.0),
            );
            y.total_cmp(&x)
        });
    }
    let names: Vec<String> = result.columns.iter().map(|c| c.name.clone()).collect();
    let rows = StoredValue::new(rows);
    let names = StoredValue::new(names);
    view! {
        <div class="logs" data-test="logs">
            {move || {
                let (start, len) = window.get();
                rows.with_value(|rows| rows.iter().skip(start).take(len).map(|row| {
                    let when = time.and_then(|t| viz::seconds(&row[t])).map(|s| {
                        viz::clock(s, 0.0, offset)
                    }).unwrap_or_default();
                    let status = names.with_value(|n| n.iter().position(|c| c == "status"))
                        .and_then(|i| viz::number(&row[i]));
                    let level = match status {
                        Some(s) if s >= 500.0 => "log-error",
                        Some(s) if s >= 400.0 => "log-warn",
                        _ => "",
                    };
                    let trace = names.with_value(|n| n.iter().position(|c| c == "trace_id"))
                        .and_then(|i| viz::trace_link("trace_id", &row[i]));
                    let fields: String = names.with_value(|names| names.iter().enumerate()
                        .filter(|(i, n)| Some(*i) != time && !n.starts_with('_'))
                        .map(|(i, n)| format!("{n}={}", viz::text(&row[i])))
                        .collect::<Vec<_>>()
                        .join("  "));
                    view! {
                        <div class=format!("log-line {level}")><span class="log-time">{when}</span>" "{fields}
                            {trace.map(|href| view! { " " <a class="log-trace" href=href data-test="trace-link" title="Open this trace">"trace ↗"</a> })}
                        </div>
                    }
                }).collect_view())
            }}
            {pager}
        </div>
    }
}

/// Which of a result's `total` rows a page shows (start, count), and the pager under them.
/// With `paging`, the result is one page from the server (and one row more when a next page
/// exists); without, the whole result is here and pages in the browser (the inspector).
fn pages(total: usize, rows: usize, paging: Option<Paging>) -> (Signal<(usize, usize)>, AnyView) {
    match paging {
        Some(Paging { number, go, .. }) => {
            let more = total > rows;
            let at = number.get_untracked();
            let pager = (at > 0 || more).then(|| {
                let first = at * rows + 1;
                let last = at * rows + total.min(rows);
                view! {
                    <div class="pager" data-test="pager">
                        <button class="button small" data-test="page-previous" disabled=at == 0
                            on:click=move |_| go.run(at.saturating_sub(1))>"‹"</button>
                        <span class="muted small" data-test="page">
                            {format!("rows {first}–{last}{}", if more { " · more" } else { "" })}
                        </span>
                        <button class="button small" data-test="page-next" disabled=!more
                            on:click=move |_| go.run(at + 1)>"›"</button>
                    </div>
                }
            });
            (Signal::stored((0, rows)), pager.into_any())
        }
        None => {
            let page = RwSignal::new(0usize);
            let count = total.div_ceil(rows).max(1);
            let pager = (count > 1).then(|| {
                view! {
                    <div class="pager" data-test="pager">
                        <button class="button small" disabled=move || { page.get() == 0 } on:click=move |_| page.update(|p| *p = p.saturating_sub(1))>"‹"</button>
                        <span class="muted small">{move || format!("page {} of {count} · {total} rows", page.get() + 1)}</span>
                        <button class="button small" disabled=move || { page.get() + 1 >= count } on:click=move |_| page.update(|p| *p = (*p + 1).min(count - 1))>"›"</button>
                    </div>
                }
            });
            (
                Signal::derive(move || (page.get() * rows, rows)),
                pager.into_any(),
            )
        }
    }
}
