//! Weir's web app: [`App`] and its pages, rendered on the server (`ssr`) and hydrated in the
//! browser (`hydrate`, compiled to wasm).
//!
//! The app never touches storage. On the server it reaches data through the [`api::Backend`] trait
//! that the `weir` server provides as context; in the browser it calls the same server functions
//! over HTTP and keeps pages live with the `/api/v1/live` WebSocket ([`live`]).

// Leptos views are deeply nested types; the dashboard page needs more than the default 128.
#![recursion_limit = "256"]

pub mod api;
mod charts;
mod figures;
pub mod live;
mod pages;
#[cfg(all(feature = "ssr", feature = "png"))]
pub mod render;
mod session;
pub mod viz;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::SsrMode;
use leptos_router::components::{Route, Router, Routes};
use leptos_router::path;

/// The HTML document around the app: what the server sends for every page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="dark"/>
                <link rel="stylesheet" href="/pkg/weir.css"/>
                <link rel="icon" href="data:,"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    session::provide_current_user();
    view! {
        <Title text="Weir"/>
        <Router>
            <TopBar/>
            <main>
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=path!("/") view=pages::home::HomePage/>
                    <Route path=path!("/login") view=pages::login::LoginPage/>
                    <Route path=path!("/admin") view=pages::admin::AdminPage/>
                    <Route path=path!("/streams/:name") view=pages::stream::StreamPage/>
                    <Route path=path!("/explore/:stream") view=pages::explore::ExplorePage/>
                    <Route path=path!("/sql") view=pages::sql::SqlPage/>
                    <Route path=path!("/trace/:id") view=pages::trace::TracePage/>
                    <Route path=path!("/dashboards") view=pages::dashboards::DashboardsPage/>
                    <Route path=path!("/alerts") view=pages::alerts::AlertsPage/>
                    <Route path=path!("/alerts/new") view=pages::alerts::editor::RuleEditorPage/>
                    <Route path=path!("/alerts/:uid") view=pages::alerts::rule::RulePage/>
                    <Route path=path!("/alerts/:uid/edit") view=pages::alerts::editor::RuleEditorPage/>
                    // The whole page with its data in one response: it reads (and draws) without
                    // JavaScript, and hydrates from exactly what it shows.
                    <Route path=path!("/dashboards/:uid") view=pages::dashboard::DashboardPage ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

/// The bar above every page, but in kiosk mode (`?kiosk`, for a wall screen).
#[component]
fn TopBar() -> impl IntoView {
    let query = leptos_router::hooks::use_query_map();
    let kiosk = move || query.read().get("kiosk").is_some();
    view! {
        <Show when=move || !kiosk()>
            <header class="topbar">
                <a href="/" class="brand">
                    <span class="brand-mark">"≋"</span>
                    "Weir"
                </a>
                <nav>
                    <a href="/">"Streams"</a>
                    <a href="/dashboards">"Dashboards"</a>
                    <a href="/alerts">"Alerts"</a>
                    <a href="/sql">"SQL"</a>
                </nav>
                <session::UserMenu/>
            </header>
        </Show>
    }
}

/// Entry point of the wasm bundle: attaches the app to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
