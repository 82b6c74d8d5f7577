//! `/admin`: users and API tokens, for admins (the server refuses everyone else, here and in the
//! API). A token's text is shown once, right after it is made; only its hash is kept.

use leptos::prelude::*;
use leptos_meta::Title;
use protocol::auth::{NewToken, NewUser, Role, Scope, TokenInfo, TokenState, UserChange, UserInfo};

use crate::api::{
    add_user, change_user, create_token, list_tokens, list_users, remove_user, revoke_token,
};
use crate::pages::ErrorMessage;

const ROLES: [Role; 3] = [Role::Viewer, Role::Editor, Role::Admin];

/// `2026-12-02T09:30:00Z` → `2026-12-02 09:30`.
fn when(rfc3339: &str) -> String {
    rfc3339.replace('T', " ").chars().take(16).collect()
}

#[component]
pub fn AdminPage() -> impl IntoView {
    let tick = RwSignal::new(0u32);
    let users = Resource::new(move || tick.get(), |_| list_users());
    let tokens = Resource::new(move || tick.get(), |_| list_tokens());
    let failed = RwSignal::new(None::<protocol::Error>);
    let done = Callback::new(move |result: Result<(), protocol::Error>| match result {
        Ok(()) => {
            failed.set(None);
            tick.update(|t| *t += 1);
        }
        Err(error) => failed.set(Some(error)),
    });
    // Effects run in the browser only: the page says when it is interactive.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    view! {
        <Title text="Admin · Weir"/>
        <section class="page admin" data-test="admin" data-hydrated=move || hydrated.get().to_string()>
            <h1>"Admin"</h1>
            <p class="muted">
                "Who did what, when and from where: "
                <a href="/explore/_audit" data-test="audit-link">"the audit trail"</a>
                " (the stream " <code>"_audit"</code> ", readable by admins only)."
            </p>
            {move || failed.get().map(|error| view! { <ErrorMessage error/> })}
            <div class="admin-grid">
                <div class="panel">
                    <h2>"Users"</h2>
                    <Suspense fallback=|| view! { <p class="muted">"Loading users…"</p> }>
                        {move || Suspend::new(async move {
                            match users.await {
                                Ok(users) => view! { <Users users done/> }.into_any(),
                                Err(error) => view! { <ErrorMessage error=error.0/> }.into_any(),
                            }
                        })}
                    </Suspense>
                    <NewUserForm done/>
                </div>
                <div class="panel">
                    <h2>"API tokens"</h2>
                    <NewTokenForm done/>
                    <Suspense fallback=|| view! { <p class="muted">"Loading tokens…"</p> }>
                        {move || Suspend::new(async move {
                            match tokens.await {
                                Ok(tokens) => view! { <Tokens tokens done/> }.into_any(),
                                Err(error) => view! { <ErrorMessage error=error.0/> }.into_any(),
                            }
                        })}
                    </Suspense>
                </div>
            </div>
        </section>
    }
}

/// Runs `call` in the browser and reports its outcome to `done`.
fn run<F>(done: Callback<Result<(), protocol::Error>>, call: F)
where
    F: std::future::Future<Output = Result<(), crate::api::AppError>> + 'static,
{
    leptos::task::spawn_local(async move { done.run(call.await.map_err(|e| e.0)) });
}

#[component]
fn Users(users: Vec<UserInfo>, done: Callback<Result<(), protocol::Error>>) -> impl IntoView {
    view! {
        <table class="list" data-test="users">
            <thead><tr><th>"Name"</th><th>"Role"</th><th>"Since"</th><th></th></tr></thead>
            <tbody>
                {users.into_iter().map(|user| {
                    let name = StoredValue::new(user.name.clone());
                    let set_role = move |ev| {
                        let Ok(role) = event_target_value(&ev).parse::<Role>() else { return };
                        let change = UserChange { role: Some(role), password: None };
                        run(done, change_user(name.get_value(), change));
                    };
                    let remove = move |_| run(done, remove_user(name.get_value()));
                    view! {
                        <tr data-test=format!("user-{}", user.name)>
                            <td>{user.name.clone()}</td>
                            <td>
                                <select on:change=set_role data-test="user-role">
                                    {ROLES.map(|role| view! {
                                        <option value=role.as_str() selected=role == user.role>{role.as_str()}</option>
                                    }).collect_view()}
                                </select>
                            </td>
                            <td class="muted">{when(&user.created_at)}</td>
                            <td class="row-actions">
                                <button class="button small danger" on:click=remove data-test="remove-user">"Remove"</button>
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}

#[component]
fn NewUserForm(done: Callback<Result<(), protocol::Error>>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let role = RwSignal::new(Role::Viewer);
    let password = RwSignal::new(String::new());
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let user = NewUser {
            name: name.get_untracked(),
            role: role.get_untracked(),
            password: password.get_untracked(),
        };
        password.set(String::new());
        name.set(String::new());
        run(done, add_user(user));
    };
    view! {
        <form class="admin-form" on:submit=add data-test="new-user">
            <input type="text" placeholder="name" autocomplete="off" required
                prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
            <select on:change=move |ev| {
                if let Ok(r) = event_target_value(&ev).parse() { role.set(r) }
            }>
                {ROLES.map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> }).collect_view()}
            </select>
            <input type="password" placeholder="password (8 or more)" autocomplete="new-password" required
                prop:value=move || password.get() on:input=move |ev| password.set(event_target_value(&ev))/>
            <button type="submit" class="button primary">"Add user"</button>
        </form>
    }
}

#[component]
fn NewTokenForm(done: Callback<Result<(), protocol::Error>>) -> impl IntoView {
    let name = RwSignal::new(String::new());
    let scopes = RwSignal::new(vec![Scope::Ingest]);
    let streams = RwSignal::new(String::new());
    let expires = RwSignal::new(String::new());
    let made = RwSignal::new(None::<String>);
    let create = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let expires = expires.get_untracked();
        let token = NewToken {
            name: name.get_untracked(),
            scopes: scopes.get_untracked(),
            streams: streams.get_untracked(),
            expires_at: (!expires.is_empty()).then(|| format!("{expires}T00:00:00Z")),
        };
        leptos::task::spawn_local(async move {
            match create_token(token).await {
                Ok(created) => {
                    made.set(Some(created.token));
                    done.run(Ok(()));
                }
                Err(error) => done.run(Err(error.0)),
            }
        });
    };
    view! {
        <form class="admin-form" on:submit=create data-test="new-token">
            <input type="text" placeholder="token name (vector-prod)" required
                prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev))/>
            {Scope::ALL.map(|scope| view! {
                <label class="check">
                    <input type="checkbox" prop:checked=move || scopes.with(|s| s.contains(&scope))
                        data-test=format!("scope-{scope}")
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            scopes.update(|s| {
                                s.retain(|x| *x != scope);
                                if on { s.push(scope) }
                            });
                        }/>
                    {scope.as_str()}
                </label>
            }).collect_view()}
            <input type="text" placeholder="streams (app_*), all if empty"
                prop:value=move || streams.get() on:input=move |ev| streams.set(event_target_value(&ev))/>
            <label class="check">"expires "
                <input type="date" prop:value=move || expires.get() on:input=move |ev| expires.set(event_target_value(&ev))/>
            </label>
            <button type="submit" class="button primary" data-test="create-token">"Create token"</button>
        </form>
        {move || made.get().map(|token| view! {
            <div class="new-token">
                <p>"Copy this token now: it is not shown again."</p>
                <code data-test="token-text">{token}</code>
            </div>
        })}
    }
}

#[component]
fn Tokens(tokens: Vec<TokenInfo>, done: Callback<Result<(), protocol::Error>>) -> impl IntoView {
    if tokens.is_empty() {
        return view! { <p class="muted">"No API tokens yet."</p> }.into_any();
    }
    view! {
        <table class="list" data-test="tokens">
            <thead><tr>
                <th>"Name"</th><th>"Scopes"</th><th>"Streams"</th><th>"Owner"</th>
                <th>"Expires"</th><th>"Last used"</th><th>"State"</th><th></th>
            </tr></thead>
            <tbody>
                {tokens.into_iter().map(|token| {
                    let id = StoredValue::new(token.id.clone());
                    let active = token.state == TokenState::Active;
                    let state = match token.state {
                        TokenState::Active => "active",
                        TokenState::Expired => "expired",
                        TokenState::Revoked => "revoked",
                    };
                    let scopes = token.scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
                    view! {
                        <tr data-test=format!("token-{}", token.name) data-state=state>
                            <td>{token.name.clone()}</td>
                            <td>{scopes}</td>
                            <td>{if token.streams.is_empty() { "all".to_owned() } else { token.streams.clone() }}</td>
                            <td class="muted">{token.owner.clone()}</td>
                            <td class="muted">{token.expires_at.as_deref().map_or_else(|| "never".to_owned(), when)}</td>
                            <td class="muted">{token.last_used_at.as_deref().map_or_else(|| "never".to_owned(), when)}</td>
                            <td><span class=format!("token-state {state}")>{state}</span></td>
                            <td class="row-actions">
                                {active.then(|| view! {
                                    <button class="button small danger" data-test="revoke"
                                        on:click=move |_| run(done, revoke_token(id.get_value()))>"Revoke"</button>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
