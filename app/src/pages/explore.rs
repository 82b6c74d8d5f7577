//! Explore a stream: `/explore/{stream}?from=&to=&f=FIELD|OP|VALUE&q=SQL`. A histogram of the
//! events that pass the filters over the range (drag across it to zoom, click a bar to narrow to
//! it), each field with the share of events that have it and its top values (click one to keep
//! or leave out its events), and the raw events newest first, a page at a time by keyset, each
//! openable as JSON with every field filterable from it. The view is its URL; a panel's
//! drill-down ([`drill_url`]) is one.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use protocol::dashboard::substitute::string_literal;
use protocol::dashboard::time::{TimeRange, rfc3339};
use protocol::explore::{
    Compare, Cursor, Drill, FieldType, Filter, FilterError, Op, PAGE_ROWS, Selection,
    check_predicate,
};
use protocol::{ErrorKind, is_stream_name};

use self::compare::{comparison, comparison_view};
use self::events::{Events, TailEvents};
use self::fields::{Fields, Narrow, field_list};
use self::histogram::{Histogram, histogram_view};
use super::ErrorMessage;
use super::dashboard::now_micros;
use crate::api::run_query;
use crate::viz::{percent_encode as encode, text};

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
/// Values a breakdown names (the rest are `(other)`).
const BREAKDOWN_VALUES: usize = 8;

mod compare;
mod events;
mod fields;
mod histogram;
/// Bars the histogram aims for.
const BARS: u32 = 120;

/// The view as the URL says it.
#[derive(Debug, Clone, PartialEq)]
struct View {
    stream: String,
    from: String,
    to: String,
    filters: Vec<Filter>,
    /// Free SQL conditions.
    predicates: Vec<String>,
    /// Why the events may be more than a drilled value's.
    note: Option<String>,
    /// The field the histogram is broken down by.
    by: Option<String>,
    /// What is compared with what, if anything.
    compare: Option<Comparing>,
    /// Whether raw events are a live tail.
    tail: bool,
}

/// "What is different?": waiting for a time range to be dragged, or comparing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Comparing {
    Picking,
    On(Compare),
}

impl Comparing {
    fn encode(self) -> String {
        match self {
            Comparing::Picking => "pick".into(),
            Comparing::On(compare) => compare.encode(),
        }
    }

    fn decode(text: &str) -> Option<Comparing> {
        match text {
            "pick" => Some(Comparing::Picking),
            _ => Compare::decode(text).map(Comparing::On),
        }
    }
}

/// Explore on the events behind a panel's value.
pub(crate) fn drill_url(drill: &Drill) -> String {
    View {
        stream: drill.stream.clone(),
        from: drill.from.map_or_else(|| "0".into(), rfc3339),
        to: drill.to.map_or_else(|| "now".into(), rfc3339),
        filters: drill.filters.clone(),
        predicates: drill.predicates.clone(),
        note: drill.note.clone(),
        by: None,
        compare: None,
        tail: false,
    }
    .url()
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
        for predicate in &self.predicates {
            url.push_str(&format!("&q={}", encode(predicate)));
        }
        if let Some(note) = &self.note {
            url.push_str(&format!("&note={}", encode(note)));
        }
        if let Some(by) = &self.by {
            url.push_str(&format!("&by={}", encode(by)));
        }
        if let Some(compare) = self.compare {
            url.push_str(&format!("&cmp={}", compare.encode()));
        }
        if self.tail {
            url.push_str("&tail=1");
        }
        url
    }

    /// The range from `from` to `to` µs, both included.
    fn between(&self, from: i64, to: i64) -> View {
        View {
            from: rfc3339(from),
            to: rfc3339(to),
            ..self.clone()
        }
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
            predicates: query.get_all("q").unwrap_or_default(),
            note: query.get("note"),
            by: query.get("by").filter(|by| !by.is_empty()),
            compare: query.get("cmp").and_then(|c| Comparing::decode(&c)),
            tail: query.get("tail").is_some_and(|t| t == "1"),
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
            predicates: view.predicates,
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
            let by = view.read().by.clone();
            sql(&|s, t| {
                // Resolved against the browser's clock for the bucket width only.
                let span = s.range.span(now_micros());
                match &by {
                    None => s.histogram_sql(t, bucket(span)),
                    Some(field) => s.breakdown_sql(t, field, bucket(span), BREAKDOWN_VALUES),
                }
            })
            .map(|sql| (sql, by))
        },
        |request| async move {
            let (sql, by) = request?;
            let result = run_query(sql).await.map_err(|e| e.0)?;
            Ok::<_, protocol::Error>(Histogram { result, by })
        },
    );
    let summary = Resource::new(
        move || (selection.get(), fields.get_value()),
        |(selection, fields)| async move { fields::summary(selection?, fields, TOP_VALUES).await },
    );
    let compared = Resource::new(
        move || {
            let compare = match view.read().compare {
                Some(Comparing::On(compare)) => Some(compare),
                _ => None,
            };
            (compare, selection.get(), fields.get_value())
        },
        |(compare, selection, fields)| async move {
            let Some(compare) = compare else {
                return Ok(None);
            };
            comparison(selection?, fields, compare).await.map(Some)
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
    let go_bar = Callback::new(go.clone());
    let go_histogram = Callback::new(go.clone());
    let go_event = go.clone();
    let go_compare = Callback::new(go.clone());
    let go_tail = Callback::new(go.clone());
    // A live tail's filter, when the view tails a live range (`Some(None)`: no filter).
    let tail = Memo::new(move |_| {
        let selection = selection
            .get()
            .ok()
            .filter(|s| view.read().tail && s.range.is_live())?;
        fields
            .with_value(|f| selection.filter_sql(&|name| f.kind(name)))
            .ok()
    });
    let go_narrow_view = go.clone();
    let go_narrow = Callback::new(move |narrow: Narrow| {
        let mut next = view.get_untracked();
        match narrow {
            Narrow::Filter(filter) => next = next.with_filter(filter),
            Narrow::Predicate(sql) => next.predicates.push(sql),
        }
        go_narrow_view(next);
    });
    let pick_event =
        Callback::new(move |filter: Filter| go_event(view.get_untracked().with_filter(filter)));
    view! {
        <div class="page-head">
            <h1>
                <a class="muted" href="/">"Streams"</a> " / "
                <a class="muted" href=move || format!("/streams/{}", view.read().stream)>{move || view.read().stream.clone()}</a>
                " / Explore"
            </h1>
            <div class="actions">
                <a class="button" data-test="open-sql" title="This view's newest events as SQL, in the SQL workbench"
                    href=move || sql(&|s, t| s.events_sql(t, None, PAGE_ROWS))
                        .map_or_else(|_| "/sql".to_owned(), |q| format!("/sql?q={}", encode(&q)))>"Open in SQL"</a>
                <select data-test="range" on:change=move |ev| {
                    let mut next = view.get_untracked();
                    next.from = event_target_value(&ev);
                    next.to = "now".into();
                    go_range(next);
                }>
                    {move || {
                        let custom = {
                            let v = view.read();
                            !(v.to == "now" && RANGES.iter().any(|(from, _)| v.from == *from))
                        };
                        custom.then(|| view! { <option value="" selected disabled>"Custom range"</option> })
                    }}
                    {RANGES.iter().map(|(from, label)| view! {
                        <option value=*from selected=move || view.read().to == "now" && view.read().from == *from>{*label}</option>
                    }).collect_view()}
                </select>
            </div>
        </div>
        <FilterBar view fields=fields.get_value() go=go_bar/>
        {move || view.read().note.clone().map(|note| view! {
            <p class="drill-note" data-test="drill-note">{note}</p>
        })}
        <div class="panel">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || {
                    // Drawn again when the comparison changes: a drag then selects, and the
                    // selected range is shaded.
                    view.with(|v| v.compare);
                    Suspend::new(async move {
                        match histogram.await {
                            Err(error) => view! { <ErrorMessage error/> }.into_any(),
                            Ok(histogram) => histogram_view(&histogram, selection.get_untracked().ok(), view.get_untracked(), fields.get_value(), go_histogram).into_any(),
                        }
                    })
                }}
            </Suspense>
        </div>
        {move || (view.read().compare == Some(Comparing::Picking)).then(|| view! {
            <div class="panel compare-pick" data-test="compare-pick">
                <p>"Drag across the histogram, or click a bar, to select the events to compare with the rest of the range."</p>
                <button class="button" on:click=move |_| go_compare.run(View { compare: None, ..view.get_untracked() })>"Cancel"</button>
            </div>
        })}
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match compared.await {
                    Err(error) => view! { <div class="panel"><ErrorMessage error/></div> }.into_any(),
                    Ok(None) => ().into_any(),
                    Ok(Some(compared)) => {
                        let current = view.get_untracked();
                        let filtered = !current.filters.is_empty() || !current.predicates.is_empty();
                        let filters = (filtered && current.compare != Some(Comparing::On(Compare::Filters))).then(|| {
                            Callback::new(move |()| go_compare.run(View { compare: Some(Comparing::On(Compare::Filters)), ..view.get_untracked() }))
                        });
                        let close = Callback::new(move |()| go_compare.run(View { compare: None, ..view.get_untracked() }));
                        view! { <div class="panel compare">{comparison_view(&compared, go_narrow, filters, close)}</div> }.into_any()
                    }
                }
            })}
        </Suspense>
        <div class="explore-body">
            <aside class="panel fields" data-test="fields">
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        match summary.await {
                            Err(error) => view! { <ErrorMessage error/> }.into_any(),
                            Ok(summary) => field_list(&fields.get_value(), &summary, go_narrow).into_any(),
                        }
                    })}
                </Suspense>
            </aside>
            <div class="panel events">
                {move || match tail.get() {
                    Some(filter) => {
                        let stream = view.read_untracked().stream.clone();
                        let stop = Callback::new(move |()| go_tail.run(View { tail: false, ..view.get_untracked() }));
                        view! { <TailEvents stream filter pick=pick_event stop/> }.into_any()
                    }
                    None => view! {
                        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                            {move || Suspend::new(async move {
                                let live = selection.get_untracked().is_ok_and(|s| s.range.is_live());
                                let start = live.then(|| Callback::new(move |()| go_tail.run(View { tail: true, ..view.get_untracked() })));
                                match events.await {
                                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                                    Ok(result) => view! { <Events result cursors pick=pick_event tail=start/> }.into_any(),
                                }
                            })}
                        </Suspense>
                    }.into_any(),
                }}
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

#[component]
fn FilterBar(view: Memo<View>, fields: Fields, go: Callback<View>) -> impl IntoView {
    let field = RwSignal::new(fields.0.first().map(|f| f.0.clone()).unwrap_or_default());
    let op = RwSignal::new("=".to_owned());
    let value = RwSignal::new(String::new());
    let predicate = RwSignal::new(String::new());
    let refused = RwSignal::new(None::<String>);
    view! {
        <div class="filter-bar" data-test="filters">
            {move || view.get().filters.into_iter().enumerate().map(|(i, filter)| view! {
                <span class="chip" data-test="filter">
                    <code>{filter.to_string()}</code>
                    <button class="button small" title="Remove this filter" on:click=move |_| {
                        let mut next = view.get_untracked();
                        next.filters.remove(i);
                        go.run(next);
                    }>"×"</button>
                </span>
            }).collect_view()}
            {move || view.get().predicates.into_iter().enumerate().map(|(i, text)| view! {
                <span class="chip sql" data-test="predicate">
                    <code>{text}</code>
                    <button class="button small" title="Remove this condition" on:click=move |_| {
                        let mut next = view.get_untracked();
                        next.predicates.remove(i);
                        go.run(next);
                    }>"×"</button>
                </span>
            }).collect_view()}
            <form class="add-filter" on:submit=move |ev| {
                ev.prevent_default();
                if let Some(op) = Op::parse(&op.get_untracked()) {
                    go.run(view.get_untracked().with_filter(Filter::new(field.get_untracked(), op, value.get_untracked())));
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
            <form class="add-predicate" on:submit=move |ev| {
                ev.prevent_default();
                let text = predicate.get_untracked().trim().to_owned();
                match check_predicate(&text) {
                    Err(e) => refused.set(Some(e.0)),
                    Ok(()) => {
                        refused.set(None);
                        predicate.set(String::new());
                        let mut next = view.get_untracked();
                        next.predicates.push(text);
                        go.run(next);
                    }
                }
            }>
                <input data-test="predicate-input" class="sql" placeholder="or a SQL condition: status >= 500 OR latency_ms > 900"
                    prop:value=move || predicate.get() on:input=move |ev| predicate.set(event_target_value(&ev))/>
                <button class="button" type="submit" data-test="predicate-add">"Add"</button>
            </form>
            {move || refused.get().map(|message| view! { <p class="error" data-test="predicate-error">{message}</p> })}
        </div>
    }
}
