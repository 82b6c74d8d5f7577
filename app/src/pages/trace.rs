//! A trace (`/trace/{trace_id}`): its spans from `otel_traces` as a waterfall (service, name,
//! duration, status; a span's attributes on click), the critical path marked on it, and the
//! trace's log records from `otel_logs` beside it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use protocol::trace::{self, Segment, Span};
use protocol::{ErrorKind, QueryResult};
use serde_json::Value;

use super::ErrorMessage;
use crate::api::run_query;
use crate::viz::{PALETTE, text};

/// A trace as loaded: its spans, each span's non-empty columns, and its log records (none
/// when there is no `otel_logs`).
struct Loaded {
    spans: Vec<Span>,
    details: Vec<Vec<(String, String)>>,
    logs: Option<QueryResult>,
}

#[component]
pub(crate) fn TracePage() -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| {
        params
            .read()
            .get("id")
            .unwrap_or_default()
            .to_ascii_lowercase()
    });
    let data = Resource::new(move || id.get(), |id| async move { load(id).await });
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <Title text=move || format!("Trace {} · Weir", short(&id.get()))/>
        <section class="page trace-page" data-test="trace" data-hydrated=move || hydrated.get().to_string()>
            <Suspense fallback=|| view! { <p class="muted">"Loading the trace…"</p> }>
                {move || Suspend::new(async move {
                    let id = id.get_untracked();
                    match data.await {
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                        Ok(None) => view! {
                            <p class="empty" data-test="trace-empty">"No span of trace " <code>{id}</code>
                                " is in " <code>"otel_traces"</code> " (yet): spans arrive by OTLP at "
                                <code>"/v1/traces"</code> "."</p>
                        }.into_any(),
                        Ok(Some((result, logs))) => {
                            let (spans, details) = spans(&result);
                            let loaded = Loaded { spans, details, logs };
                            view! { <TraceView id loaded/> }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The trace's spans and its log records (none without `otel_logs`); `None` when it has no
/// span.
async fn load(id: String) -> Result<Option<(QueryResult, Option<QueryResult>)>, protocol::Error> {
    let (Some(spans_sql), Some(logs_sql)) = (trace::spans_sql(&id), trace::logs_sql(&id)) else {
        let message = format!("`{id}` is not a trace id: it has 32 hexadecimal digits");
        return Err(protocol::Error::new(ErrorKind::BadRequest, message));
    };
    let streams = run_query(
        "SELECT name FROM system.streams WHERE name IN ('otel_traces', 'otel_logs')".to_owned(),
    )
    .await
    .map_err(|e| e.0)?;
    let has = |name: &str| streams.rows.iter().any(|r| text(&r[0]) == name);
    if !has("otel_traces") {
        return Ok(None);
    }
    let result = run_query(spans_sql).await.map_err(|e| e.0)?;
    if result.rows.is_empty() {
        return Ok(None);
    }
    let logs = if has("otel_logs") {
        Some(run_query(logs_sql).await.map_err(|e| e.0)?)
    } else {
        None
    };
    Ok(Some((result, logs)))
}

/// The spans of a result of `otel_traces` rows, and each one's non-empty columns.
fn spans(result: &QueryResult) -> (Vec<Span>, Vec<Vec<(String, String)>>) {
    let at = |name: &str| result.columns.iter().position(|c| c.name == name);
    let (id, parent, service, name, status) = (
        at("span_id"),
        at("parent_span_id"),
        at("service_name"),
        at("name"),
        at("status_code"),
    );
    let (start, end, time) = (
        at("start_time_unix_nano"),
        at("end_time_unix_nano"),
        at("_time"),
    );
    let get = |row: &[Value], i: Option<usize>| i.map(|i| text(&row[i])).unwrap_or_default();
    let nanos = |row: &[Value], i: Option<usize>| {
        i.and_then(|i| {
            row[i]
                .as_i64()
                .or_else(|| row[i].as_f64().map(|f| f as i64))
        })
    };
    let mut spans = Vec::with_capacity(result.rows.len());
    let mut details = Vec::with_capacity(result.rows.len());
    for row in &result.rows {
        let fallback = time
            .and_then(|t| protocol::dashboard::time::parse_rfc3339(&text(&row[t])))
            .unwrap_or_default();
        let start = nanos(row, start).map_or(fallback, |n| n / 1000);
        let end = nanos(row, end).map_or(start, |n| n / 1000).max(start);
        spans.push(Span {
            span_id: get(row, id),
            parent_span_id: get(row, parent),
            service: get(row, service),
            name: get(row, name),
            start,
            end,
            status: get(row, status),
        });
        details.push(
            result
                .columns
                .iter()
                .zip(row)
                .filter(|(c, v)| !v.is_null() && c.name != "_offset" && c.name != "_hour")
                .map(|(c, v)| (c.name.clone(), text(v)))
                .collect(),
        );
    }
    (spans, details)
}

/// The first 8 digits of an id, as lists show ids.
fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

/// A duration in µs, as a trace view says it.
fn duration(micros: i64) -> String {
    let us = micros as f64;
    let (value, unit) = if us < 1000.0 {
        (us, "µs")
    } else if us < 1_000_000.0 {
        (us / 1000.0, "ms")
    } else {
        (us / 1_000_000.0, "s")
    };
    // Three significant digits or so: 1.25 ms, 12.5 ms, 125 ms.
    match value {
        0.0 => "0".to_owned(),
        v if v < 10.0 => format!("{v:.2} {unit}"),
        v if v < 100.0 => format!("{v:.1} {unit}"),
        v => format!("{v:.0} {unit}"),
    }
}

/// A color per service, the same every time for the same name.
fn color(service: &str) -> &'static str {
    let hash = service.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    PALETTE[hash as usize % PALETTE.len()]
}

#[component]
fn TraceView(id: String, loaded: Loaded) -> impl IntoView {
    let Loaded {
        spans,
        details,
        logs,
    } = loaded;
    let placed = trace::waterfall(&spans);
    let path = trace::critical_path(&spans);
    let root = trace::main_root(&spans).unwrap_or(0);
    let t0 = spans.iter().map(|s| s.start).min().unwrap_or(0);
    let t1 = spans.iter().map(|s| s.end).max().unwrap_or(t0);
    let total = (t1 - t0).max(1);
    let mut services: Vec<&str> = spans.iter().map(|s| s.service.as_str()).collect();
    services.sort_unstable();
    services.dedup();
    let errors = spans.iter().filter(|s| s.status == "error").count();
    let selected = RwSignal::new(None::<usize>);
    let when = protocol::dashboard::time::rfc3339(t0);
    let pct = move |t: i64| (t - t0) as f64 * 100.0 / total as f64;
    let ticks = (0..=4)
        .map(|i| {
            let at = i as f64 * 25.0;
            let label = duration(total * i / 4);
            view! { <span class="tick" style=format!("left:{at}%")>{label}</span> }
        })
        .collect_view();
    let rows = placed
        .iter()
        .map(|p| {
            let i = p.index;
            let span = &spans[i];
            let critical: Vec<Segment> = path.iter().filter(|s| s.span == i).copied().collect();
            let on_path = !critical.is_empty();
            let left = pct(span.start);
            let width = (pct(span.end) - left).max(0.15);
            let marks = critical
                .iter()
                .map(|s| {
                    let style = format!(
                        "left:{:.3}%;width:{:.3}%",
                        pct(s.start),
                        (pct(s.end) - pct(s.start)).max(0.15)
                    );
                    view! { <div class="span-critical" style=style></div> }
                })
                .collect_view();
            let bar_style = format!(
                "left:{left:.3}%;width:{width:.3}%;background:{}",
                color(&span.service)
            );
            // After the bar when there is room, else before it, else inside its end.
            let (label_style, inside) = if left + width < 88.0 {
                (format!("left:{:.3}%", left + width + 0.5), false)
            } else if left > 12.0 {
                (format!("right:{:.3}%", 100.0 - left + 0.5), false)
            } else {
                (format!("right:{:.3}%", 100.0 - left - width + 0.5), true)
            };
            let indent = format!("padding-left:{}px", 8 + p.depth * 16);
            let fields = details[i].clone();
            let error = span.status == "error";
            view! {
                <div class="span-row" class:critical=on_path class:failed=error
                    class:selected=move || selected.get() == Some(i) data-test="span"
                    data-span=span.span_id.clone() data-critical=on_path.to_string()
                    on:click=move |_| selected.update(|s| *s = if *s == Some(i) { None } else { Some(i) })>
                    <div class="span-name" style=indent title=format!("{} · {}", span.service, span.name)>
                        <span class="service-chip" style=format!("background:{}", color(&span.service))></span>
                        <span class="service">{span.service.clone()}</span>" "
                        <span class="name">{span.name.clone()}</span>
                    </div>
                    <div class="span-track">
                        <div class="span-bar" style=bar_style></div>
                        {marks}
                        <span class="span-duration" class:inside=inside style=label_style>{duration(span.end - span.start)}</span>
                    </div>
                </div>
                <Show when=move || selected.get() == Some(i)>
                    <table class="span-details" data-test="span-details"><tbody>
                        {fields.iter().map(|(name, value)| view! {
                            <tr><td class="name"><code>{name.clone()}</code></td><td class="value">{value.clone()}</td></tr>
                        }).collect_view()}
                    </tbody></table>
                </Show>
            }
        })
        .collect_view();
    let root_span = spans[root].clone();
    let span_ids: Vec<String> = spans.iter().map(|s| s.span_id.clone()).collect();
    view! {
        <div class="page-head">
            <h1 data-test="trace-title">
                <span class="service-chip big" style=format!("background:{}", color(&root_span.service))></span>
                {root_span.service.clone()} " · " {root_span.name.clone()}
            </h1>
        </div>
        <p class="trace-meta muted">
            "Trace " <code data-test="trace-id">{id.clone()}</code>
            " · started " {when}
            " · " <strong>{duration(total)}</strong>
            " · " <span data-test="span-count">{spans.len()}</span> " spans"
            " · " {services.len()} " services"
            {(errors > 0).then(|| view! { " · " <span class="trace-errors">{errors} " with errors"</span> })}
            " · " <span class="legend-critical"></span> " critical path: what the trace's end waited on"
        </p>
        <div class="trace-grid">
            <div class="waterfall" data-test="waterfall">
                <div class="span-row head">
                    <div class="span-name">"Service · span"</div>
                    <div class="span-track">{ticks}</div>
                </div>
                {rows}
            </div>
            <TraceLogs logs t0 span_ids selected/>
        </div>
    }
}

/// The trace's log records, oldest first, each at its offset from the trace's start; a record
/// of a span selects it.
#[component]
fn TraceLogs(
    logs: Option<QueryResult>,
    t0: i64,
    span_ids: Vec<String>,
    selected: RwSignal<Option<usize>>,
) -> impl IntoView {
    let Some(logs) = logs else {
        return view! {
            <aside class="trace-logs"><h2>"Logs"</h2>
                <p class="empty">"No " <code>"otel_logs"</code> " stream: logs sent by OTLP appear here."</p>
            </aside>
        }
        .into_any();
    };
    let at = |name: &str| logs.columns.iter().position(|c| c.name == name);
    let (time, severity, body, service, span) = (
        at("_time"),
        at("severity_text"),
        at("body"),
        at("service_name"),
        at("span_id"),
    );
    let get = |row: &[Value], i: Option<usize>| i.map(|i| text(&row[i])).unwrap_or_default();
    let n = logs.rows.len();
    let lines = logs
        .rows
        .iter()
        .map(|row| {
            let offset = time
                .and_then(|t| protocol::dashboard::time::parse_rfc3339(&text(&row[t])))
                .map(|t| format!("+{}", duration(t - t0)))
                .unwrap_or_default();
            let level = get(row, severity);
            let class = match level.to_ascii_lowercase().as_str() {
                l if l.starts_with("err") || l.starts_with("fatal") => "log-line log-error",
                l if l.starts_with("warn") => "log-line log-warn",
                _ => "log-line",
            };
            let of_span = span_ids.iter().position(|s| *s == get(row, span));
            view! {
                <div class=class data-test="trace-log" class:linked=of_span.is_some()
                    on:click=move |_| if let Some(i) = of_span { selected.set(Some(i)) }>
                    <span class="log-time">{offset}</span> " "
                    <span class="log-level">{level}</span> " "
                    <span class="service">{get(row, service)}</span> " "
                    {get(row, body)}
                </div>
            }
        })
        .collect_view();
    view! {
        <aside class="trace-logs" data-test="trace-logs">
            <h2>"Logs " <span class="muted">{n} " records"</span></h2>
            {if n == 0 {
                view! { <p class="empty">"No log record carries this trace id."</p> }.into_any()
            } else {
                view! { <div class="logs">{lines}</div> }.into_any()
            }}
        </aside>
    }
    .into_any()
}
