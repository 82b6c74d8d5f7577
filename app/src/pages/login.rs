//! `/login`: a user's name and password, posted as a plain form to `/api/v1/auth/login` (it
//! works before the wasm loads, and password managers know it). A refused login comes back here
//! with `?error=`; `?next=` is where a successful one goes.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let query = use_query_map();
    let error = move || query.read().get("error");
    let next = move || query.read().get("next").unwrap_or_else(|| "/".to_owned());
    view! {
        <Title text="Log in · Weir"/>
        <section class="login">
            <form class="login-card" method="post" action="/api/v1/auth/login" data-test="login-form">
                <h1><span class="brand-mark">"≋"</span>"Log in to Weir"</h1>
                {move || error().map(|error| view! {
                    <p class="error" data-test="login-error">{error}</p>
                })}
                <label>
                    <span>"User name"</span>
                    <input type="text" name="name" autocomplete="username" required autofocus data-test="login-name"/>
                </label>
                <label>
                    <span>"Password"</span>
                    <input type="password" name="password" autocomplete="current-password" required data-test="login-password"/>
                </label>
                <input type="hidden" name="next" value=next/>
                <button type="submit" class="button primary" data-test="login-submit">"Log in"</button>
            </form>
        </section>
    }
}
