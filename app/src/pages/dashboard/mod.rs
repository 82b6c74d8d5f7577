//! A dashboard: its panels on a 24-column grid, each kept live (or, for a fixed range of history,
//! queried once); a time picker and the variables above them, both in the URL.

mod context;
mod drill;
mod edit;
mod panel;
mod rows;
mod state;

use crate::session::IfRole;
use protocol::auth::Role;
use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};
use protocol::dashboard::{Dashboard, Found, TimeRange, TimeSpec, VariableKind, VariableValue};

use super::ErrorMessage;
use crate::api::load_dashboard;
use crate::viz;
pub(crate) use context::{Context, context, panel_sql, scope};
pub(crate) use state::{ALL, QUICK_RANGES, Resolved, ViewState, Zone, describe, values};

/// The grid's width in pixels at which charts are drawn (and `$__interval` chosen): a 1440-pixel
/// window less the page's padding.
pub(crate) const GRID_WIDTH: u32 = 1400;
/// A grid row's height and the gap between panels, in pixels (as Grafana's).
pub(crate) const ROW_HEIGHT: u32 = 30;
pub(crate) const GAP: u32 = 8;

/// The server's (or the browser's) clock, µs since the epoch.
pub(crate) fn now_micros() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        (js_sys::Date::now() * 1000.0) as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64)
    }
}

/// The browser's offset from UTC in seconds (0 on the server, which draws in UTC).
pub(crate) fn browser_offset() -> i32 {
    #[cfg(feature = "hydrate")]
    {
        -(js_sys::Date::new_0().get_timezone_offset() * 60.0) as i32
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0
    }
}

/// A new, empty dashboard (the page `/dashboards/new`).
fn blank() -> Found {
    Found {
        dashboard: Dashboard {
            uid: String::new(),
            title: "New dashboard".into(),
            description: String::new(),
            tags: vec![],
            time: TimeSpec::default(),
            variables: vec![],
            panels: vec![],
            annotations: vec![],
            version: 0,
        },
        updated_at: 0,
        provisioned: None,
    }
}

#[component]
pub(crate) fn DashboardPage() -> impl IntoView {
    let params = use_params_map();
    let uid = Memo::new(move |_| params.read().get("uid").unwrap_or_default());
    let found = Resource::new(
        move || uid.get(),
        |uid| async move {
            if uid == "new" {
                Ok(blank())
            } else {
                load_dashboard(uid).await
            }
        },
    );
    view! {
        <Suspense fallback=|| view! { <p class="muted page">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match found.await {
                    Err(error) => view! {
                        <section class="page"><ErrorMessage error=error.0/></section>
                    }.into_any(),
                    Ok(found) => view! { <DashboardView found/> }.into_any(),
                }
            })}
        </Suspense>
    }
}

/// What every part of a shown dashboard reads: the document (edited in place in edit mode), the
/// view the URL asks for, and the variables resolved for it.
#[derive(Clone, Copy)]
pub(crate) struct Shown {
    pub(crate) dashboard: RwSignal<Dashboard>,
    /// Whether panels show their edit tools.
    pub(crate) editing: Signal<bool>,
    pub(crate) view: Memo<ViewState>,
    pub(crate) range: Memo<TimeRange>,
    /// The context of the view the page was loaded with: rendered on the server, hydrated.
    pub(crate) first: Resource<Context>,
    /// The variables and annotations resolved again for a later view (in the browser).
    pub(crate) later: RwSignal<Option<(Vec<Resolved>, Vec<viz::draw::Mark>)>>,
    /// The variables' values now: panels substitute them, and query again only when their SQL
    /// changes.
    pub(crate) vars: Memo<BTreeMap<String, VariableValue>>,
    pub(crate) marks: Memo<Vec<viz::draw::Mark>>,
    pub(crate) provisioned: StoredValue<Option<String>>,
}

impl Shown {
    /// The variables as resolved for the view now (once the page's context is in).
    pub(crate) fn resolved(&self) -> Option<Vec<Resolved>> {
        self.later
            .with(|l| l.as_ref().map(|(r, _)| r.clone()))
            .or_else(|| self.first.with(|c| c.as_ref().map(|c| c.variables.clone())))
    }

    /// Goes to the view `change` makes of the current one (a new history entry).
    pub(crate) fn navigate(&self, change: impl FnOnce(&mut ViewState)) {
        let mut view = self.view.get_untracked();
        change(&mut view);
        let uid = self.dashboard.with_untracked(|d| d.uid.clone());
        let path = if uid.is_empty() {
            "new".to_string()
        } else {
            uid
        };
        let navigate = use_navigate();
        navigate(
            &format!("/dashboards/{path}?{}", view.to_query()),
            NavigateOptions {
                scroll: false,
                ..Default::default()
            },
        );
    }
}

#[component]
fn DashboardView(found: Found) -> impl IntoView {
    let query = use_query_map();
    let dashboard = RwSignal::new(found.dashboard);
    let view = Memo::new(move |_| dashboard.with(|d| ViewState::from_query(&query.read(), d)));
    let range_error = Memo::new(move |_| view.with(|v| v.range().err().map(|(_, e)| e)));
    let range = Memo::new(move |_| view.with(|v| v.range().unwrap_or_else(|(r, _)| r)));
    // The page's context (variables, annotations, every panel's first result), in one
    // resource: one value to carry from the server's render to the browser's hydration. It is
    // of the view the page was loaded with; later views resolve again below.
    let first = Resource::new(
        || (),
        move |()| {
            let (dashboard, view, range) = (
                dashboard.get_untracked(),
                view.get_untracked(),
                range.get_untracked(),
            );
            async move {
                context(dashboard, view, range, |panel| {
                    panel::chart_size(panel.grid.w, panel.grid.h)
                })
                .await
            }
        },
    );
    // A later view (a variable, the range, the variables' or annotations' definitions changed)
    // resolves the variables and annotations again; panels whose SQL that changes query again,
    // the others keep their subscriptions.
    let later = RwSignal::new(None);
    let inputs = Memo::new(move |_| {
        (
            view.with(|v| v.vars.clone()),
            range.get(),
            dashboard.with(|d| (d.variables.clone(), d.annotations.clone())),
        )
    });
    let asked = StoredValue::new(0u64);
    // Not at first: the view the page was loaded with is `first`'s.
    Effect::watch(
        move || inputs.get(),
        move |_, _, _| {
            asked.update_value(|n| *n += 1);
            let this = asked.get_value();
            let (dashboard, view, range) = (
                dashboard.get_untracked(),
                view.get_untracked(),
                range.get_untracked(),
            );
            leptos::task::spawn_local(async move {
                let resolved = context::refresh(dashboard, view, range).await;
                // Only the newest view's answer counts.
                if asked.get_value() == this {
                    later.set(Some(resolved));
                }
            });
        },
        false,
    );
    let vars = Memo::new(move |_| {
        later
            .with(|l| l.as_ref().map(|(r, _)| values(r)))
            .or_else(|| first.with(|c| c.as_ref().map(|c| values(&c.variables))))
            .unwrap_or_default()
    });
    let marks = Memo::new(move |_| {
        later
            .with(|l| l.as_ref().map(|(_, m)| m.clone()))
            .or_else(|| first.with(|c| c.as_ref().map(|c| c.marks.clone())))
            .unwrap_or_default()
    });
    let provisioned = found.provisioned.is_none();
    let new_dashboard = dashboard.with_untracked(|d| d.version == 0);
    // A viewer given `?edit` sees the dashboard, not the editor.
    let may_edit = crate::session::may(Role::Editor);
    let shown = Shown {
        dashboard,
        editing: Signal::derive(move || {
            may_edit.get() && provisioned && (new_dashboard || view.with(|v| v.edit && !v.kiosk))
        }),
        view,
        range,
        first,
        later,
        vars,
        marks,
        provisioned: StoredValue::new(found.provisioned),
    };
    provide_context(shown);
    let editing = edit::Editing {
        saved: RwSignal::new(dashboard.get_untracked()),
        panel: RwSignal::new(None),
        settings: RwSignal::new(false),
        status: RwSignal::new(None),
        drag: RwSignal::new(None),
    };
    provide_context(editing);
    // Effects run in the browser only: the page says when it is interactive.
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let kiosk = move || view.with(|v| v.kiosk);
    let editable = shown.provisioned.with_value(Option::is_none);
    let is_new = dashboard.with_untracked(|d| d.version == 0);
    let edit_mode = move || may_edit.get() && editable && (is_new || view.with(|v| v.edit));
    let title = move || dashboard.with(|d| d.title.clone());
    view! {
        <Title text=move || format!("{} · Weir", title())/>
        <section class="page dashboard" class:kiosk=kiosk data-test="dashboard"
            data-hydrated=move || hydrated.get().to_string()>
            <Show when=move || !kiosk()>
                <div class="dash-head">
                    <h1>
                        <a class="muted" href="/dashboards">"Dashboards"</a>
                        " / "
                        <span data-test="dashboard-title">{title}</span>
                        {move || shown.provisioned.get_value().map(|file| view! {
                            <span class="badge" title=file>"provisioned"</span>
                        })}
                    </h1>
                    <div class="actions">
                        <TimePicker/>
                        <ZoneSelect/>
                        <a class="button" title="Kiosk mode: no chrome, for a wall screen"
                            href=move || format!("?{}", view.with(|v| ViewState { kiosk: true, edit: false, ..v.clone() }.to_query()))>
                            "Kiosk"
                        </a>
                        {editable.then(|| view! {
                            <IfRole role=Role::Editor>
                                <Show when=move || !edit_mode()>
                                    <button class="button" data-test="edit" on:click=move |_| shown.navigate(|v| v.edit = true)>"✎ Edit"</button>
                                </Show>
                            </IfRole>
                        })}
                    </div>
                </div>
                <Show when=edit_mode>
                    <edit::EditBar/>
                </Show>
            </Show>
            {move || range_error.get().map(|e| view! {
                <p class="error" data-test="range-error">"Time range: " {e} " (showing the last 15 minutes)"</p>
            })}
            <Show when=move || !kiosk()>
                <VariablesBar/>
            </Show>
            // Awaits the page's context once: the grid stays mounted while the view changes.
            <Transition fallback=|| view! { <p class="muted">"Loading variables…"</p> }>
                {move || Suspend::new(async move {
                    let Context { results, .. } = first.await;
                    view! { <Grid results/> }
                })}
            </Transition>
        </section>
    }
}

/// The panels on the grid.
#[component]
fn Grid(
    results: BTreeMap<u32, (String, Result<protocol::QueryResult, protocol::Error>)>,
) -> impl IntoView {
    let shown = expect_context::<Shown>();
    let results = StoredValue::new(results);
    let panels = move || shown.dashboard.with(|d| d.panels.clone());
    let element = NodeRef::<leptos::html::Div>::new();
    view! {
        <div class="grid" data-test="grid" node_ref=element>
            <For
                each=panels
                // A panel is drawn again when it changes, except for its place (a move keeps
                // its subscription).
                key=|p| {
                    let mut p = p.clone();
                    (p.grid.x, p.grid.y) = (0, 0);
                    (p.id, serde_json::to_string(&p).unwrap_or_default())
                }
                children=move |panel| {
                    let initial = results.with_value(|r| r.get(&panel.id).cloned());
                    view! { <panel::PanelView panel initial/> }
                }
            />
            {move || shown.editing.get().then(|| view! { <edit::DragLayer grid=element/> })}
        </div>
        {move || shown.dashboard.with(|d| d.panels.is_empty()).then(|| view! {
            <p class="empty">"This dashboard has no panels yet."</p>
        })}
    }
}

/// The time range picker: quick ranges, an absolute range, and zoom out.
#[component]
fn TimePicker() -> impl IntoView {
    let shown = expect_context::<Shown>();
    let open = RwSignal::new(false);
    let label = move || shown.view.with(|v| describe(&v.from, &v.to));
    let from_input = RwSignal::new(String::new());
    let to_input = RwSignal::new(String::new());
    let toggle = move |_| {
        shown.view.with_untracked(|v| {
            from_input.set(v.from.clone());
            to_input.set(v.to.clone());
        });
        open.update(|o| *o = !*o);
    };
    let pick = move |from: &'static str| {
        open.set(false);
        shown.navigate(|v| {
            v.from = from.to_string();
            v.to = "now".into();
        });
    };
    let apply = move |_| {
        open.set(false);
        let (from, to) = (from_input.get_untracked(), to_input.get_untracked());
        shown.navigate(|v| {
            v.from = from;
            v.to = to;
        });
    };
    let zoom_out = move |_| {
        let range = shown.range.get_untracked();
        let now = now_micros();
        let (from, to) = range.resolve(now);
        let span = (to - from).max(1_000_000);
        shown.navigate(|v| {
            if range.is_live() {
                v.from = format!(
                    "now-{}",
                    protocol::dashboard::time::format_duration(span * 2)
                );
            } else {
                v.from = ((from - span / 2) / 1000).to_string();
                v.to = ((to + span / 2).min(now) / 1000).to_string();
            }
        });
    };
    view! {
        <div class="picker">
            <button class="button" on:click=toggle data-test="time-picker" title="Time range">
                "◷ " {label}
            </button>
            <button class="button" on:click=zoom_out title="Zoom out (twice the range)" data-test="zoom-out">"−"</button>
            <Show when=move || open.get()>
                <div class="picker-menu" data-test="time-menu">
                    <div class="picker-absolute">
                        <h2>"Absolute time range"</h2>
                        <label>"From" <input type="text" data-test="time-from" prop:value=move || from_input.get()
                            on:input=move |ev| from_input.set(event_target_value(&ev))/></label>
                        <label>"To" <input type="text" data-test="time-to" prop:value=move || to_input.get()
                            on:input=move |ev| to_input.set(event_target_value(&ev))/></label>
                        <p class="muted small">"now, now-15m, 2026-11-30T05:00:00Z, or ms since the epoch"</p>
                        <button class="button primary" on:click=apply data-test="time-apply">"Apply time range"</button>
                    </div>
                    <ul class="picker-quick">
                        {QUICK_RANGES.iter().map(|&(label, from)| view! {
                            <li><a href="#" data-test=format!("range-{from}") on:click=move |ev| {
                                ev.prevent_default();
                                pick(from);
                            }>{label}</a></li>
                        }).collect_view()}
                    </ul>
                </div>
            </Show>
        </div>
    }
}

#[component]
fn ZoneSelect() -> impl IntoView {
    let shown = expect_context::<Shown>();
    let on_change = move |ev: leptos::ev::Event| {
        let zone = if event_target_value(&ev) == "browser" {
            Zone::Browser
        } else {
            Zone::Utc
        };
        shown.navigate(|v| v.zone = zone);
    };
    view! {
        <select class="zone" title="Time zone" on:change=on_change data-test="zone">
            <option value="utc" selected=move || shown.view.with(|v| v.zone == Zone::Utc)>"UTC"</option>
            <option value="browser" selected=move || shown.view.with(|v| v.zone == Zone::Browser)>"Browser time"</option>
        </select>
    }
}

/// The variables: a dropdown (several picks for multi-value ones) or a text box each. A change
/// goes to the URL at once, and the panels that use the variable subscribe again.
#[component]
fn VariablesBar() -> impl IntoView {
    let shown = expect_context::<Shown>();
    view! {
        <Transition fallback=|| ()>
            {move || Suspend::new(async move {
                let _ = shown.first.await;
                move || shown.resolved().filter(|r| !r.is_empty()).map(|resolved| view! {
                    <div class="variables" data-test="variables">
                        {resolved.into_iter().map(|r| view! { <VariableControl resolved=r/> }).collect_view()}
                    </div>
                })
            })}
        </Transition>
    }
}

#[component]
fn VariableControl(resolved: Resolved) -> impl IntoView {
    let shown = expect_context::<Shown>();
    let name = resolved.variable.name.clone();
    let label = resolved
        .variable
        .label
        .clone()
        .unwrap_or_else(|| name.clone());
    let set = {
        let name = name.clone();
        move |values: Vec<String>| {
            let name = name.clone();
            shown.navigate(move |v| {
                v.vars.insert(name, values);
            });
        }
    };
    let control = match resolved.variable.kind {
        VariableKind::Textbox => {
            let set = set.clone();
            view! {
                <input type="text" data-test=format!("var-{name}")
                    prop:value=resolved.current.first().cloned().unwrap_or_default()
                    on:change=move |ev| set(vec![event_target_value(&ev)])/>
            }
            .into_any()
        }
        _ if resolved.variable.multi => {
            let options = resolved.options.clone();
            let include_all = resolved.variable.include_all;
            view! { <MultiSelect name=name.clone() options include_all current=resolved.current.clone() set=set.clone()/> }
                .into_any()
        }
        _ => {
            let mut options = resolved.options.clone();
            if resolved.variable.include_all {
                options.insert(0, ALL.to_string());
            }
            let current = resolved.current.clone();
            let set = set.clone();
            let on_change = move |ev: leptos::ev::Event| set(vec![event_target_value(&ev)]);
            view! {
                <select data-test=format!("var-{name}") on:change=on_change>
                    {options.into_iter().map(|option| {
                        let selected = current.contains(&option);
                        let text = if option == ALL { "All".to_string() } else { option.clone() };
                        view! { <option value=option selected=selected>{text}</option> }
                    }).collect_view()}
                </select>
            }
            .into_any()
        }
    };
    view! {
        <label class="variable">
            <span class="variable-label">{label}</span>
            {control}
            {resolved.error.map(|e| {
                let title = e.clone();
                view! { <span class="error small" title=title>"⚠ " {e}</span> }
            })}
        </label>
    }
}

/// A multi-value variable: a button that says what is picked, and a list to tick.
#[component]
fn MultiSelect(
    name: String,
    options: Vec<String>,
    include_all: bool,
    current: Vec<String>,
    set: impl Fn(Vec<String>) + Clone + Send + Sync + 'static,
) -> impl IntoView {
    let open = RwSignal::new(false);
    let all = current.iter().any(|v| v == ALL);
    let label = if all || current.is_empty() {
        "All".to_string()
    } else {
        current.join(" + ")
    };
    let current = StoredValue::new(current);
    let toggle = move |option: String| {
        let mut picked = current.get_value();
        if option == ALL {
            picked = vec![ALL.to_string()];
        } else {
            picked.retain(|v| v != ALL);
            if let Some(i) = picked.iter().position(|v| *v == option) {
                picked.remove(i);
            } else {
                picked.push(option);
            }
            if picked.is_empty() && include_all {
                picked = vec![ALL.to_string()];
            }
        }
        current.set_value(picked.clone());
        set(picked);
    };
    let mut shown = options;
    if include_all {
        shown.insert(0, ALL.to_string());
    }
    view! {
        <div class="multi" data-test=format!("var-{name}")>
            <button class="button" on:click=move |_| open.update(|o| *o = !*o)>{label} " ▾"</button>
            <Show when=move || open.get()>
                <div class="multi-menu">
                    {shown.clone().into_iter().map(|option| {
                        let checked = current.with_value(|c| c.contains(&option));
                        let text = if option == ALL { "All".to_string() } else { option.clone() };
                        let toggle = toggle.clone();
                        let value = option.clone();
                        view! {
                            <label data-test=format!("option-{option}")>
                                <input type="checkbox" checked=checked on:change=move |_| toggle(value.clone())/>
                                {text}
                            </label>
                        }
                    }).collect_view()}
                </div>
            </Show>
        </div>
    }
}
