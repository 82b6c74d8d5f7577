//! The dashboards list: search, tags, which are provisioned from files, and the files that did
//! not load (where and why).

use crate::session::IfRole;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use protocol::auth::Role;

use protocol::dashboard::Listing;

use super::ErrorMessage;
use crate::api::list_dashboards;

#[component]
pub(crate) fn DashboardsPage() -> impl IntoView {
    let query = use_query_map();
    let search = Memo::new(move |_| query.read().get("search").unwrap_or_default());
    let tag = Memo::new(move |_| query.read().get("tag"));
    let listing = Resource::new(move || search.get(), list_dashboards);
    let navigate = use_navigate();
    let on_search = move |ev: leptos::ev::Event| {
        let value = event_target_value(&ev);
        let mut url = String::from("/dashboards");
        if !value.is_empty() {
            url.push_str(&format!("?search={}", encode(&value)));
        }
        navigate(&url, Default::default());
    };
    view! {
        <Title text="Dashboards · Weir"/>
        <section class="page">
            <div class="page-head">
                <h1>"Dashboards"</h1>
                <div class="actions">
                    <input class="search" type="search" placeholder="Search by title or tag"
                        data-test="dashboard-search" prop:value=move || search.get() on:change=on_search/>
                    <IfRole role=Role::Editor>
                        <a class="button primary" href="/dashboards/new" data-test="new-dashboard">"New dashboard"</a>
                    </IfRole>
                </div>
            </div>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match listing.await {
                        Err(error) => view! { <ErrorMessage error=error.0/> }.into_any(),
                        Ok(listing) => view! { <List listing tag=tag.get_untracked()/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// Percent-encodes a query parameter value.
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[component]
fn List(listing: Listing, tag: Option<String>) -> impl IntoView {
    let dashboards: Vec<_> = listing
        .dashboards
        .into_iter()
        .filter(|d| tag.as_ref().is_none_or(|t| d.tags.contains(t)))
        .collect();
    let empty = dashboards.is_empty();
    view! {
        {(!listing.problems.is_empty()).then(|| view! {
            <div class="panel problems" data-test="dashboard-problems">
                <h2>"Dashboard files that did not load"</h2>
                <ul>
                    {listing.problems.into_iter().map(|p| {
                        let place = if p.line > 0 {
                            format!("{}:{}:{}", p.file, p.line, p.column)
                        } else {
                            p.file.clone()
                        };
                        view! { <li><code>{place}</code> " " <span class="error">{p.message}</span></li> }
                    }).collect_view()}
                </ul>
            </div>
        })}
        {if empty {
            view! {
                <div class="empty">
                    <p>"No dashboards here yet. Make one with " <a href="/dashboards/new">"New dashboard"</a>
                    ", POST one to " <code>"/api/v1/dashboards"</code> ", or serve a directory of files with "
                    <code>"weir serve --dashboards DIR"</code> "."</p>
                </div>
            }.into_any()
        } else {
            view! {
                <table class="list" data-test="dashboards">
                    <thead><tr><th>"Title"</th><th>"Tags"</th><th class="num">"Version"</th></tr></thead>
                    <tbody>
                        {dashboards.into_iter().map(|d| {
                            let href = format!("/dashboards/{}", d.uid);
                            let provisioned = d.provisioned.clone();
                            view! {
                                <tr data-test=format!("dashboard-{}", d.uid)>
                                    <td>
                                        <a href=href>{d.title}</a>
                                        {provisioned.map(|file| view! {
                                            <span class="badge" title=file data-test="provisioned">"provisioned"</span>
                                        })}
                                    </td>
                                    <td>
                                        {d.tags.into_iter().map(|t| {
                                            let href = format!("/dashboards?tag={}", encode(&t));
                                            view! { <a class="tag" href=href>{t}</a> }
                                        }).collect_view()}
                                    </td>
                                    <td class="num muted">{if d.version == 0 { "file".to_string() } else { d.version.to_string() }}</td>
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            }.into_any()
        }}
    }
}
