//! Explore a stream: `/explore/{stream}?from=&to=&f=FIELD|OP|VALUE`. A histogram of the events
//! that pass the filters over the range, each field with the share of events that have it and
//! its top values (click one to keep or leave out its events), and the raw events newest first,
//! a page at a time by keyset, each openable as JSON. The view is its URL.

use std::collections::HashMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use protocol::dashboard::substitute::string_literal;
use protocol::dashboard::time::{TimeRange, rfc3339};
use protocol::explore::{Cursor, FieldType, Filter, FilterError, Op, PAGE_ROWS, Selection};
use protocol::{ErrorKind, QueryResult, is_stream_name};

use super::ErrorMessage;
use super::dashboard::now_micros;
use crate::api::run_query;
use crate::viz::{Series, draw, number, percent_encode as encode, text};

/// Ranges offered, as the URL writes them.
const RANGES: [(&str, &str); 6] = [
    ("now-15m", "Last 15 minutes"),
    ("now-1h", "Last hour"),
    ("now-6h", "Last 6 hours"),
    ("now-24h", "Last 24 hours"),
    ("now-7d", "Last 7 days"),
    ("now-30d", "Last 30 days"),
];
/// Top values shown per field.
const TOP_VALUES: usize = 5;
/// Bars the histogram aims for.
const BARS: u32 = 120;

/// The view as the URL says it.
#[derive(Debug, Clone, PartialEq)]
struct View {
    stream: String,
    from: String,
    to: String,
    filters: Vec<Filter>,
}

impl View {
    fn url(&self) -> String {
        let mut url = format!(
            "/explore/{}?from={}&to={}",
            self.stream,
            encode(&self.from),
            encode(&self.to)
        );
        for filter in &self.filters {
            url.push_str(&format!("&f={}", encode(&filter.encode())));
        }
        url
    }

    fn with_filter(&self, filter: Filter) -> View {
        let mut view = self.clone();
        view.filters
            .retain(|f| f.field != filter.field || f.op != filter.op);
        view.filters.push(filter);
        view
    }
}

/// Makes one of Explore's queries from the selection and the fields' types.
type Build<'a> = dyn Fn(&Selection, &dyn Fn(&str) -> FieldType) -> Result<String, FilterError> + 'a;

/// A stream's fields (but `_time` and `_offset`) with their types.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Fields(Vec<(String, String)>);

impl Fields {
    fn names(&self) -> Vec<String> {
        self.0.iter().map(|(name, _)| name.clone()).collect()
    }

    fn kind(&self, field: &str) -> FieldType {
        self.0
            .iter()
            .find(|(name, _)| name == field)
            .map_or(FieldType::Text, |(_, t)| FieldType::of(t))
    }
}

#[component]
pub(crate) fn ExplorePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let view = Memo::new(move |_| {
        let query = query.read();
        View {
            stream: params.read().get("stream").unwrap_or_default(),
            from: query.get("from").unwrap_or_else(|| "now-1h".into()),
            to: query.get("to").unwrap_or_else(|| "now".into()),
            filters: query
                .get_all("f")
                .unwrap_or_default()
                .iter()
                .filter_map(|f| Filter::decode(f))
                .collect(),
        }
    });
    let stream = Memo::new(move |_| view.read().stream.clone());
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let fields = Resource::new(
        move || stream.get(),
        |stream| async move {
            if !is_stream_name(&stream) {
                let message = format!("`{stream}` is not a stream name");
                return Err(protocol::Error::new(ErrorKind::BadRequest, message));
            }
            let result = run_query(format!(
                "SELECT name, type FROM system.columns WHERE stream = {} ORDER BY position",
                string_literal(&stream)
            ))
            .await
            .map_err(|e| e.0)?;
            Ok(Fields(
                result
                    .rows
                    .iter()
                    .map(|row| (text(&row[0]), text(&row[1])))
                    .filter(|(name, _)| !name.starts_with('_'))
                    .collect(),
            ))
        },
    );
    view! {
        <Title text=move || format!("Explore {} · Weir", stream.get())/>
        <section class="page explore" data-test="explore" data-hydrated=move || hydrated.get().to_string()>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match fields.await {
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                        Ok(fields) if fields.0.is_empty() => view! {
                            <p class="empty">"There is no stream named " <code>{stream.get_untracked()}</code> "."</p>
                        }.into_any(),
                        Ok(fields) => view! { <Explore view fields/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

#[component]
fn Explore(view: Memo<View>, fields: Fields) -> impl IntoView {
    let navigate = use_navigate();
    let go = move |next: View| navigate(&next.url(), Default::default());
    let fields = StoredValue::new(fields);
    // The selection, or why the URL's range or filters cannot be one.
    let selection = Memo::new(move |_| {
        let view = view.get();
        let range = TimeRange::parse(&view.from, &view.to)
            .map_err(|e| protocol::Error::new(ErrorKind::BadRequest, e.to_string()))?;
        Ok::<_, protocol::Error>(Selection {
            stream: view.stream,
            range,
            filters: view.filters,
        })
    });
    let sql = move |build: &Build<'_>| {
        let selection = selection.get()?;
        fields
            .with_value(|f| build(&selection, &|name| f.kind(name)))
            .map_err(|e| protocol::Error::new(ErrorKind::BadRequest, e.0))
    };
    let histogram = Resource::new(
        move || {
            sql(&|s, t| {
                // Resolved against the browser's clock for the bucket width only.
                let span = s.range.span(now_micros());
                s.histogram_sql(t, bucket(span))
            })
        },
        |sql| async move { run_query(sql?).await.map_err(|e| e.0) },
    );
    let summary = Resource::new(
        move || {
            let names = fields.with_value(Fields::names);
            let presence = sql(&|s, t| s.presence_sql(t, &names));
            let top = sql(&|s, t| s.top_values_sql(t, &names, TOP_VALUES));
            presence.and_then(|p| top.map(|t| (p, t)))
        },
        |sqls| async move {
            let (presence, top) = sqls?;
            let presence = run_query(presence).await.map_err(|e| e.0)?;
            let top = run_query(top).await.map_err(|e| e.0)?;
            Ok::<_, protocol::Error>((presence, top))
        },
    );
    // Pages of raw events: the cursors of the pages before this one.
    let cursors = RwSignal::new(Vec::<Cursor>::new());
    Effect::new(move |_| {
        view.track();
        cursors.set(Vec::new());
    });
    let events = Resource::new(
        move || {
            let after = cursors.get().last().copied();
            sql(&move |s, t| s.events_sql(t, after, PAGE_ROWS))
        },
        |sql| async move { run_query(sql?).await.map_err(|e| e.0) },
    );
    let go_range = go.clone();
    let go_remove = go.clone();
    let go_add = go.clone();
    let go_value = go.clone();
    view! {
        <div class="page-head">
            <h1>
                <a class="muted" href="/">"Streams"</a> " / "
                <a class="muted" href=move || format!("/streams/{}", view.read().stream)>{move || view.read().stream.clone()}</a>
                " / Explore"
            </h1>
            <select data-test="range" on:change=move |ev| {
                let mut next = view.get_untracked();
                next.from = event_target_value(&ev);
                next.to = "now".into();
                go_range(next);
            }>
                {RANGES.iter().map(|(from, label)| view! {
                    <option value=*from selected=move || view.read().from == *from>{*label}</option>
                }).collect_view()}
            </select>
        </div>
        <FilterBar view fields=fields.get_value() on_remove=move |i: usize| {
            let mut next = view.get_untracked();
            next.filters.remove(i);
            go_remove(next);
        } on_add=move |filter: Filter| go_add(view.get_untracked().with_filter(filter))/>
        <div class="panel">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match histogram.await {
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                        Ok(result) => histogram_view(&result, selection.get_untracked().ok()).into_any(),
                    }
                })}
            </Suspense>
        </div>
        <div class="explore-body">
            <aside class="panel fields" data-test="fields">
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || {
                        let go_value = go_value.clone();
                        Suspend::new(async move {
                            match summary.await {
                                Err(error) => view! { <ErrorMessage error/> }.into_any(),
                                Ok((presence, top)) => {
                                    let pick = move |filter: Filter| go_value(view.get_untracked().with_filter(filter));
                                    field_list(&fields.get_value(), &presence, &top, pick).into_any()
                                }
                            }
                        })
                    }}
                </Suspense>
            </aside>
            <div class="panel events">
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match events.await {
                            Err(error) => view! { <ErrorMessage error/> }.into_any(),
                            Ok(result) => view! { <Events result cursors/> }.into_any(),
                        }
                    })}
                </Suspense>
            </div>
        </div>
    }
}

/// A bucket width for about [`BARS`] bars over `span` µs, at least a second.
fn bucket(span: i64) -> i64 {
    const STEPS: [i64; 14] = [
        1, 5, 10, 30, 60, 300, 600, 1800, 3600, 10800, 21600, 43200, 86400, 604800,
    ];
    let want = span / 1_000_000 / BARS as i64;
    STEPS.into_iter().find(|&s| s >= want).unwrap_or(604800) * 1_000_000
}

fn histogram_view(result: &QueryResult, selection: Option<Selection>) -> impl IntoView + use<> {
    let points: Vec<(f64, f64)> = result
        .rows
        .iter()
        .filter_map(|row| Some((number(&row[0])?, number(&row[1])?)))
        .collect();
    let total: f64 = points.iter().map(|p| p.1).sum();
    let now = if result.now > 0 {
        result.now
    } else {
        now_micros()
    };
    let (from, to) = selection.map_or((0, 0), |s| s.range.resolve(now));
    let series = [Series {
        name: "events".into(),
        color: "#73bf69".into(),
        points,
    }];
    let format = |y: f64| crate::figures::count(y as u64);
    let svg = draw::svg(1160, 160, |root| {
        draw::time_chart(
            root,
            &draw::TimeChart {
                series: &series,
                x_range: (from as f64 / 1e6, to as f64 / 1e6),
                y_min: Some(0.0),
                y_max: None,
                stack: false,
                bars: true,
                format: &format,
                offset: 0,
                marks: &[],
            },
        )
        .map_err(|e| e.to_string())
    });
    view! {
        <h2><span data-test="total">{crate::figures::count(total as u64)}</span> " events"
            <span class="muted">" · " {rfc3339(from / 1_000_000 * 1_000_000)} " to " {rfc3339(to / 1_000_000 * 1_000_000)}</span></h2>
        <div class="chart" data-test="histogram" inner_html=svg></div>
    }
}

#[component]
fn FilterBar(
    view: Memo<View>,
    fields: Fields,
    on_remove: impl Fn(usize) + Clone + Send + Sync + 'static,
    on_add: impl Fn(Filter) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let field = RwSignal::new(fields.0.first().map(|f| f.0.clone()).unwrap_or_default());
    let op = RwSignal::new("=".to_owned());
    let value = RwSignal::new(String::new());
    view! {
        <div class="filter-bar" data-test="filters">
            {move || view.get().filters.into_iter().enumerate().map(|(i, filter)| {
                let on_remove = on_remove.clone();
                view! {
                    <span class="chip" data-test="filter">
                        <code>{filter.to_string()}</code>
                        <button class="button small" title="Remove this filter" on:click=move |_| on_remove(i)>"×"</button>
                    </span>
                }
            }).collect_view()}
            <form class="add-filter" on:submit=move |ev| {
                ev.prevent_default();
                if let Some(op) = Op::parse(&op.get_untracked()) {
                    on_add(Filter::new(field.get_untracked(), op, value.get_untracked()));
                    value.set(String::new());
                }
            }>
                <select data-test="filter-field" prop:value=move || field.get() on:change=move |ev| field.set(event_target_value(&ev))>
                    {fields.0.iter().map(|(name, _)| view! { <option value=name.clone()>{name.clone()}</option> }).collect_view()}
                </select>
                <select data-test="filter-op" prop:value=move || op.get() on:change=move |ev| op.set(event_target_value(&ev))>
                    {Op::ALL.iter().map(|op| view! { <option value=op.as_str()>{op.as_str()}</option> }).collect_view()}
                </select>
                <input data-test="filter-value" placeholder="value" prop:value=move || value.get()
                    on:input=move |ev| value.set(event_target_value(&ev))/>
                <button class="button" type="submit" data-test="filter-add">"Add filter"</button>
            </form>
        </div>
    }
}

/// Each field: the share of events that have it, and its top values with counts and buttons to
/// keep or leave out each.
fn field_list<F>(
    fields: &Fields,
    presence: &QueryResult,
    top: &QueryResult,
    pick: F,
) -> impl IntoView + use<F>
where
    F: Fn(Filter) + Clone + Send + Sync + 'static,
{
    let counts = presence.rows.first().cloned().unwrap_or_default();
    let total = counts.first().and_then(number).unwrap_or(0.0);
    let mut values: HashMap<usize, Vec<(Option<String>, f64)>> = HashMap::new();
    for row in &top.rows {
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
        let pick = pick.clone();
        view! {
            <details class="field" data-test="field" data-field=name.clone() open=i < 4>
                <summary>
                    <code>{name.clone()}</code>
                    <span class="muted">" " {arrow_type.clone()}</span>
                    <span class="share muted">{crate::figures::percent(share)}</span>
                </summary>
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
                        let (pick_keep, pick_leave) = (pick.clone(), pick.clone());
                        let width = if total > 0.0 { n / total * 100.0 } else { 0.0 };
                        view! {
                            <tr data-test="top-value">
                                <td class="value">
                                    <div class="bar" style=format!("width:{width:.1}%")></div>
                                    <span>{value.clone().unwrap_or_else(|| "(none)".into())}</span>
                                </td>
                                <td class="num">{crate::figures::count(n as u64)}</td>
                                <td class="actions">
                                    <button class="button small" data-test="keep" title="Only these events" on:click=move |_| pick_keep(keep.clone())>"+"</button>
                                    <button class="button small" data-test="leave" title="Leave these events out" on:click=move |_| pick_leave(leave.clone())>"−"</button>
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody></table>
            </details>
        }
    }).collect_view();
    view! { {rows} }
}

#[component]
fn Events(result: QueryResult, cursors: RwSignal<Vec<Cursor>>) -> impl IntoView {
    let time = result.columns.iter().position(|c| c.name == "_time");
    let offset = result.columns.iter().position(|c| c.name == "_offset");
    let last = result.rows.last().and_then(|row| {
        let t = protocol::dashboard::time::parse_rfc3339(&text(&row[time?]))?;
        Some(Cursor {
            time: t,
            offset: number(&row[offset?])? as i64,
        })
    });
    let full = result.rows.len() == PAGE_ROWS;
    let page = move || cursors.read().len() + 1;
    let columns: Vec<String> = result.columns.iter().map(|c| c.name.clone()).collect();
    let rows = result.rows.iter().map(|row| {
        let json = serde_json::Value::Object(
            columns.iter().cloned().zip(row.iter().cloned()).filter(|(_, v)| !v.is_null()).collect(),
        );
        let line = columns.iter().zip(row).filter(|(name, v)| !v.is_null() && !name.starts_with('_'))
            .map(|(name, v)| format!("{name}={}", text(v))).collect::<Vec<_>>().join(" ");
        let when = time.map(|i| text(&row[i])).unwrap_or_default();
        // The time of day to the millisecond; the whole timestamp on hover.
        let clock = when.get(11..23).unwrap_or(&when).to_owned();
        view! {
            <details class="event" data-test="event">
                <summary><span class="muted time" title=when.clone()>{clock}</span> " " {line}</summary>
                <pre data-test="event-json">{serde_json::to_string_pretty(&json).unwrap_or_default()}</pre>
            </details>
        }
    }).collect_view();
    view! {
        <div class="events-head">
            <h2>"Events" <span class="muted">" · newest first · page " <span data-test="events-page">{page}</span></span></h2>
            <button class="button" data-test="newer" disabled=move || cursors.read().is_empty()
                on:click=move |_| cursors.update(|c| { c.pop(); })>"Newer"</button>
            <button class="button" data-test="older" disabled=!full || last.is_none()
                on:click=move |_| if let Some(last) = last { cursors.update(|c| c.push(last)) }>"Older"</button>
        </div>
        {if result.rows.is_empty() {
            view! { <p class="empty">"No events in this range pass these filters."</p> }.into_any()
        } else {
            view! { <div class="event-list">{rows}</div> }.into_any()
        }}
    }
}
