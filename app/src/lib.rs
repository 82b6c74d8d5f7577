//! Weir's web app: [`App`] and its pages, rendered on the server (`ssr`) and hydrated in the
//! browser (`hydrate`, compiled to wasm).
//!
//! The app never touches storage. On the server it reaches data through the [`api::Backend`] trait
//! that the `weir` server provides as context; in the browser it calls the same server functions
//! over HTTP and keeps pages live with the `/api/v1/live` WebSocket ([`live`]).

pub mod api;
mod charts;
mod figures;
pub mod live;
mod pages;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
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
    view! {
        <Title text="Weir"/>
        <Router>
            <header class="topbar">
                <a href="/" class="brand">
                    <span class="brand-mark">"≋"</span>
                    "Weir"
                </a>
                <nav>
                    <a href="/">"Streams"</a>
                </nav>
            </header>
            <main>
                <Routes fallback=|| view! { <p class="empty">"Page not found."</p> }>
                    <Route path=path!("/") view=pages::home::HomePage/>
                    <Route path=path!("/streams/:name") view=pages::stream::StreamPage/>
                </Routes>
            </main>
        </Router>
    }
}

/// Entry point of the wasm bundle: attaches the app to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
}
