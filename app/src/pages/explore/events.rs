//! Explore's raw events: a page at a time, newest first, by keyset; or a live tail of the new
//! ones. Each opens as its fields (every one a click away from a filter) and its JSON.

use leptos::prelude::*;
use protocol::QueryResult;
use protocol::explore::{Cursor, Filter, Op, PAGE_ROWS};

use crate::live::use_live_tail;
use crate::viz::{number, text};

#[component]
pub(super) fn Events(
    result: QueryResult,
    cursors: RwSignal<Vec<Cursor>>,
    pick: Callback<Filter>,
    /// Starts a live tail; `None` when the range does not end now.
    tail: Option<Callback<()>>,
) -> impl IntoView {
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
    view! {
        <div class="events-head">
            <h2>"Events" <span class="muted">" · newest first · page " <span data-test="events-page">{page}</span></span></h2>
            {tail.map(|tail| view! {
                <button class="button" data-test="tail-start" title="Show new events as they arrive"
                    on:click=move |_| tail.run(())>"Live tail"</button>
            })}
            <button class="button" data-test="newer" disabled=move || cursors.read().is_empty()
                on:click=move |_| cursors.update(|c| { c.pop(); })>"Newer"</button>
            <button class="button" data-test="older" disabled=!full || last.is_none()
                on:click=move |_| if let Some(last) = last { cursors.update(|c| c.push(last)) }>"Older"</button>
        </div>
        {if result.rows.is_empty() {
            view! { <p class="empty">"No events in this range pass these filters."</p> }.into_any()
        } else {
            event_list(&result, pick).into_any()
        }}
    }
}

/// Events, each a line that opens to its fields and JSON.
fn event_list(result: &QueryResult, pick: Callback<Filter>) -> impl IntoView + use<> {
    let time = result.columns.iter().position(|c| c.name == "_time");
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
                <table class="event-fields"><tbody>
                    {columns.iter().zip(row).filter(|(name, v)| !v.is_null() && !name.starts_with('_')).map(|(name, v)| {
                        let keep = Filter::new(name.clone(), Op::Eq, text(v));
                        let leave = Filter::new(name.clone(), Op::Ne, text(v));
                        let trace = crate::viz::trace_link(name, v);
                        view! {
                            <tr data-test="event-field" data-field=name.clone()>
                                <td class="name"><code>{name.clone()}</code></td>
                                <td class="value">{text(v)}</td>
                                <td class="actions">
                                    <button class="button small" data-test="keep" title="Only events with this value" on:click=move |_| pick.run(keep.clone())>"+"</button>
                                    <button class="button small" data-test="leave" title="Leave out events with this value" on:click=move |_| pick.run(leave.clone())>"−"</button>
                                    {trace.map(|href| view! {
                                        <a class="button small" data-test="open-trace" href=href title="Open this trace: its spans and logs">"Trace"</a>
                                    })}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody></table>
                <pre data-test="event-json">{serde_json::to_string_pretty(&json).unwrap_or_default()}</pre>
            </details>
        }
    }).collect_view();
    view! { <div class="event-list">{rows}</div> }
}

/// A live tail: the new events of `stream` that pass `filter`, newest first, as they arrive,
/// and how many the page does not show.
#[component]
pub(super) fn TailEvents(
    stream: String,
    filter: Option<String>,
    pick: Callback<Filter>,
    stop: Callback<()>,
) -> impl IntoView {
    let tail = use_live_tail(stream, filter);
    let arrived = move || crate::figures::count(tail.read().arrived);
    let skipped = move || {
        let skipped = tail.read().skipped;
        (skipped > 0).then(|| view! {
            <span class="tail-skipped" data-test="tail-skipped" data-count=skipped
                title="More events arrived than the page shows: narrow the filters to see them all">
                {crate::figures::count(skipped)} " not shown"
            </span>
        })
    };
    view! {
        <div class="events-head">
            <h2><span class="live-dot"></span>"Live tail"
                <span class="muted">" · newest first · " <span data-test="tail-arrived">{arrived}</span> " new events"</span></h2>
            {skipped}
            <button class="button" data-test="tail-stop" on:click=move |_| stop.run(())>"Stop"</button>
        </div>
        {move || {
            let tail = tail.read();
            if let Some(error) = &tail.error {
                view! { <p class="error" data-test="tail-error">{error.message.clone()}</p> }.into_any()
            } else if tail.events.rows.is_empty() {
                let waiting = if tail.started { "Waiting for new events that pass these filters…" } else { "Starting…" };
                view! { <p class="empty" data-test="tail-waiting">{waiting}</p> }.into_any()
            } else {
                event_list(&tail.events, pick).into_any()
            }
        }}
    }
}
