//! The home page: every stream with its live event rate.

use leptos::prelude::*;
use leptos_meta::Title;

use super::{ErrorMessage, LiveBadge, LiveQuery, live_query, number, text};
use crate::figures;

const STREAMS_SQL: &str = "SELECT name, events, events_per_sec, hot_bytes + lake_bytes AS bytes, \
                           columns FROM system.streams ORDER BY name";

#[component]
pub(crate) fn HomePage() -> impl IntoView {
    let LiveQuery {
        result, is_live, ..
    } = live_query(STREAMS_SQL.to_owned());
    view! {
        <Title text="Streams · Weir"/>
        <section class="page">
            <div class="page-head">
                <h1>"Streams"</h1>
                <LiveBadge is_live/>
            </div>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || result.get().map(|result| match result {
                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    Ok(result) if result.rows.is_empty() => view! {
                        <div class="empty">
                            <p>"No streams yet. Send events to create one:"</p>
                            <pre>"curl -X POST http://127.0.0.1:8080/api/v1/streams/app_logs/events \\\n  -H 'content-type: application/x-ndjson' \\\n  --data-binary '{\"level\":\"info\",\"msg\":\"hello\"}'"</pre>
                        </div>
                    }.into_any(),
                    Ok(result) => view! {
                        <table class="streams" data-test="streams">
                            <thead>
                                <tr>
                                    <th>"Stream"</th>
                                    <th class="num">"Events/s"</th>
                                    <th class="num">"Events"</th>
                                    <th class="num">"Size"</th>
                                    <th class="num">"Columns"</th>
                                    <th></th>
                                </tr>
                            </thead>
                            <tbody>
                                {result.rows.into_iter().map(|row| {
                                    let name = text(&row[0]);
                                    view! {
                                        <tr data-test=format!("stream-{name}")>
                                            <td><a href=format!("/streams/{name}")>{name.clone()}</a></td>
                                            <td class="num" data-test="rate">{figures::rate(number(&row[2]))}</td>
                                            <td class="num">{figures::count(number(&row[1]) as u64)}</td>
                                            <td class="num">{figures::bytes(number(&row[3]) as u64)}</td>
                                            <td class="num">{figures::count(number(&row[4]) as u64)}</td>
                                            <td><a data-test="explore" href=format!("/explore/{name}")>"Explore"</a></td>
                                        </tr>
                                    }
                                }).collect_view()}
                            </tbody>
                        </table>
                    }.into_any(),
                })}
            </Suspense>
        </section>
    }
}
