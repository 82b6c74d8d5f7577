//! Who the browser is logged in as, for the whole app: the top bar's user and its logout, the
//! admin link, and which buttons a role may use (the server refuses the rest anyway).

use leptos::prelude::*;
use protocol::auth::{Me, Role, Via};

use crate::api::{AppError, current_user};

/// The current user, asked once per page load.
#[derive(Clone, Copy)]
pub(crate) struct CurrentUser(Resource<Result<Option<Me>, AppError>>);

pub(crate) fn provide_current_user() {
    provide_context(CurrentUser(Resource::new(|| (), |()| current_user())));
}

fn current() -> Resource<Result<Option<Me>, AppError>> {
    expect_context::<CurrentUser>().0
}

/// Whether the current user holds `role`: false until the page is interactive, then what the
/// server said (for edit tools that appear in place; the server refuses their saves anyway).
pub(crate) fn may(role: Role) -> Signal<bool> {
    let user = current();
    let allowed = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(Ok(me)) = user.get() {
            allowed.set(me.is_some_and(|me| me.role >= role));
        }
    });
    allowed.into()
}

/// Its children, once the current user is known to hold `role`; nothing for anyone else.
#[component]
pub(crate) fn IfRole(role: Role, children: ChildrenFn) -> impl IntoView {
    let user = current();
    let children = StoredValue::new(children);
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let allowed = matches!(user.await, Ok(Some(me)) if me.role >= role);
                allowed.then(|| children.with_value(|children| children()))
            })}
        </Suspense>
    }
}

/// The right end of the top bar: the user, their role and a logout button; on an open server,
/// that it is open.
#[component]
pub(crate) fn UserMenu() -> impl IntoView {
    let user = current();
    view! {
        <div class="user-menu">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match user.await {
                        Ok(Some(Me { via: Via::Open, .. })) => view! {
                            <span class="badge badge-open" data-test="open-server"
                                title="Anyone who can reach this server may do anything. Add the first admin with `weir user add`, then log in.">
                                "open: no users yet"
                            </span>
                        }.into_any(),
                        Ok(Some(me)) => {
                            let admin = me.role == Role::Admin;
                            view! {
                                {admin.then(|| view! { <a href="/admin" data-test="admin-link">"Admin"</a> })}
                                <span class="user" data-test="current-user">
                                    {me.name.unwrap_or_default()}
                                    <span class="muted">" · " {me.role.as_str()}</span>
                                </span>
                                <form method="post" action="/api/v1/auth/logout">
                                    <button type="submit" class="button small" data-test="logout">"Log out"</button>
                                </form>
                            }.into_any()
                        }
                        _ => view! { <a class="button small" href="/login">"Log in"</a> }.into_any(),
                    }
                })}
            </Suspense>
        </div>
    }
}
