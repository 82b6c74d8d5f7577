//! A stream's page: live figures and charts of its flow over the last five minutes, and its schema.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use protocol::{ErrorKind, QueryResult, is_stream_name};

use super::{ErrorMessage, LiveBadge, LiveQuery, live_query, number, text};
use crate::api::run_query;
use crate::charts::{self, TimeSeries};
use crate::figures::{self, Figure};

/// The charts cover this many seconds, up to the server's clock when the result was made.
const WINDOW_SECS: i64 = 300;
/// The query reaches a little further back, so the window's first second is whole.
const QUERY_SECS: i64 = WINDOW_SECS + 2;

#[component]
pub(crate) fn StreamPage() -> impl IntoView {
    let params = use_params_map();
    let name = Memo::new(move |_| params.read().get("name").unwrap_or_default());
    let columns = Resource::new(
        move || name.get(),
        |name| async move {
            // A stream name is safe in SQL as it is; anything else never reaches SQL.
            if !is_stream_name(&name) {
                let message = format!("`{name}` is not a stream name");
                return Err(protocol::Error::new(ErrorKind::BadRequest, message));
            }
            run_query(format!(
                "SELECT name, type FROM system.columns WHERE stream = '{name}' ORDER BY position"
            ))
            .await
            .map_err(|e| e.0)
        },
    );
    view! {
        <Title text=move || format!("{} · Weir", name.get())/>
        <section class="page">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let name = name.get_untracked();
                    match columns.await {
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                        Ok(schema) if schema.rows.is_empty() => view! {
                            <p class="empty">"There is no stream named " <code>{name}</code> "."</p>
                        }.into_any(),
                        Ok(schema) => {
                            let has_status = schema.rows.iter().any(|row| text(&row[0]) == "status");
                            view! {
                                <Flow stream=name.clone() has_status/>
                                <Schema schema/>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Per-second event counts (and 5xx counts when the stream has a `status`) over the window.
fn flow_sql(stream: &str, has_status: bool) -> String {
    let errors = if has_status {
        "sum(CASE WHEN status >= 500 THEN 1 ELSE 0 END)"
    } else {
        "0"
    };
    format!(
        "SELECT to_unixtime(date_bin(INTERVAL '1 second', _time)) AS t, count(*) AS events, \
         {errors} AS errors FROM {} \
         WHERE _time >= now() - INTERVAL '{QUERY_SECS} seconds' GROUP BY 1 ORDER BY 1",
        protocol::dashboard::substitute::identifier(stream)
    )
}

#[component]
fn Flow(stream: String, has_status: bool) -> impl IntoView {
    let LiveQuery {
        result, is_live, ..
    } = live_query(flow_sql(&stream, has_status));
    view! {
        <div class="page-head">
            <h1><a class="muted" href="/">"Streams"</a> " / " {stream.clone()}</h1>
            <div class="head-actions">
                <a class="button" href=format!("/explore/{stream}")>"Explore events"</a>
                <LiveBadge is_live/>
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || result.get().map(|result| match result {
                Err(error) => view! { <ErrorMessage error/> }.into_any(),
                Ok(result) => {
                    let flow = FlowSeries::from_result(&result);
                    flow_view(&flow, has_status).into_any()
                }
            })}
        </Suspense>
    }
}

fn flow_view(flow: &FlowSeries, has_status: bool) -> impl IntoView + use<> {
    let x_range = (flow.start as f64, flow.end as f64);
    let events_chart = charts::time_series_svg(
        &TimeSeries {
            points: &flow.events_per_sec,
            color: charts::GREEN,
            y_format: figures::rate,
        },
        x_range,
    );
    let errors_chart = has_status.then(|| {
        charts::time_series_svg(
            &TimeSeries {
                points: &flow.error_rate,
                color: charts::RED,
                y_format: |y| format!("{y:.1}%"),
            },
            x_range,
        )
    });
    let rate = figures::rate(flow.recent_rate());
    let error_rate = figures::percent(flow.recent_error_rate());
    let total = figures::count(flow.total_events);
    view! {
        <div class="figures">
            <Figure label="events/s (last 10 s)" test_id="events-per-sec" value=rate/>
            {has_status.then(|| view! {
                <Figure label="5xx error rate (last 60 s)" test_id="error-rate" value=error_rate/>
            })}
            <Figure label="events (last 5 min)" test_id="events-window" value=total/>
        </div>
        <div class="panel">
            <h2>"Events per second"</h2>
            <div class="chart" data-test="chart-events" inner_html=events_chart></div>
        </div>
        {errors_chart.map(|svg| view! {
            <div class="panel">
                <h2>"5xx error rate, 10 s average"</h2>
                <div class="chart" data-test="chart-errors" inner_html=svg></div>
            </div>
        })}
    }
}

/// The flow query's rows as one value per second of the window, missing seconds as zero.
#[derive(Debug, PartialEq)]
struct FlowSeries {
    start: i64,
    end: i64,
    events: Vec<u64>,
    errors: Vec<u64>,
    events_per_sec: Vec<(f64, f64)>,
    error_rate: Vec<(f64, f64)>,
    total_events: u64,
}

impl FlowSeries {
    fn from_result(result: &QueryResult) -> FlowSeries {
        let end = if result.now > 0 {
            result.now / 1_000_000
        } else {
            result
                .rows
                .iter()
                .map(|row| number(&row[0]) as i64)
                .max()
                .unwrap_or(0)
                + 1
        };
        let start = end - WINDOW_SECS;
        let mut events = vec![0u64; WINDOW_SECS as usize];
        let mut errors = vec![0u64; WINDOW_SECS as usize];
        for row in &result.rows {
            let t = number(&row[0]) as i64;
            if (start..end).contains(&t) {
                events[(t - start) as usize] += number(&row[1]) as u64;
                errors[(t - start) as usize] += number(&row[2]) as u64;
            }
        }
        // The newest second is still filling up: leave it out of the charts.
        let complete = WINDOW_SECS as usize - 1;
        let events_per_sec = (0..complete)
            .map(|i| ((start + i as i64) as f64, events[i] as f64))
            .collect();
        let error_rate = (0..complete)
            .map(|i| {
                let from = i.saturating_sub(9);
                let n: u64 = events[from..=i].iter().sum();
                let e: u64 = errors[from..=i].iter().sum();
                let pct = if n > 0 {
                    e as f64 * 100.0 / n as f64
                } else {
                    0.0
                };
                ((start + i as i64) as f64, pct)
            })
            .collect();
        FlowSeries {
            start,
            end: end - 1,
            total_events: events.iter().sum(),
            events,
            errors,
            events_per_sec,
            error_rate,
        }
    }

    /// Mean events per second over the last 10 complete seconds.
    fn recent_rate(&self) -> f64 {
        let complete = self.events.len() - 1;
        self.events[complete - 10..complete].iter().sum::<u64>() as f64 / 10.0
    }

    /// Share of 5xx among events of the last 60 complete seconds.
    fn recent_error_rate(&self) -> f64 {
        let complete = self.events.len() - 1;
        let n: u64 = self.events[complete - 60..complete].iter().sum();
        let e: u64 = self.errors[complete - 60..complete].iter().sum();
        if n > 0 { e as f64 / n as f64 } else { 0.0 }
    }
}

#[component]
fn Schema(schema: QueryResult) -> impl IntoView {
    view! {
        <div class="panel">
            <h2>"Schema"</h2>
            <table class="schema" data-test="schema">
                <thead><tr><th>"Column"</th><th>"Type"</th></tr></thead>
                <tbody>
                    {schema.rows.iter().map(|row| view! {
                        <tr><td><code>{text(&row[0])}</code></td><td class="muted">{text(&row[1])}</td></tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use protocol::Column;

    use super::*;

    #[test]
    fn flow_fills_missing_seconds_and_skips_the_partial_one() {
        let column = |name: &str| Column {
            name: name.into(),
            data_type: "Int64".into(),
        };
        let end = 10_000i64;
        let rows = (end - 20..end)
            .map(|t| vec![json!(t), json!(if t % 2 == 0 { 10 } else { 0 }), json!(1)])
            .collect();
        let result = QueryResult {
            columns: vec![column("t"), column("events"), column("errors")],
            rows,
            truncated: false,
            now: end * 1_000_000 + 500_000,
        };
        let flow = FlowSeries::from_result(&result);
        assert_eq!((flow.start, flow.end), (end - 300, end - 1));
        assert_eq!(flow.events_per_sec.len(), 299);
        assert_eq!(flow.events_per_sec.last(), Some(&((end - 2) as f64, 10.0)));
        assert_eq!(flow.total_events, 100);
        assert_eq!(flow.recent_rate(), 5.0);
        assert_eq!(flow.recent_error_rate(), 19.0 / 100.0);
        assert!(flow_sql("web", true).contains("status >= 500"));
        assert!(!flow_sql("web", false).contains("status"));
    }
}
