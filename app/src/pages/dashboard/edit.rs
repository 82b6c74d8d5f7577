//! Edit mode: add, edit, duplicate, remove, move and resize panels; a panel editor with a live
//! preview while typing; dashboard settings; save (a stale version is told, nothing overwritten)
//! and discard.

use leptos::prelude::*;
use protocol::ErrorKind;
use protocol::dashboard::{
    GRID_COLUMNS, Grid, Legend, Panel, PanelKind, PanelOptions, Threshold, Variable,
};

use super::Shown;
use super::panel::PanelView;
use crate::api::{run_query, save_dashboard};

/// What edit mode keeps beside the document: the version last saved (to discard back to), the
/// panel open in the editor, and what the last save said.
#[derive(Clone, Copy)]
pub(crate) struct Editing {
    pub(crate) saved: RwSignal<protocol::dashboard::Dashboard>,
    pub(crate) panel: RwSignal<Option<Panel>>,
    pub(crate) settings: RwSignal<bool>,
    pub(crate) status: RwSignal<Option<Result<String, protocol::Error>>>,
    /// A panel being dragged to a new place or size.
    pub(crate) drag: RwSignal<Option<Drag>>,
}

/// A panel being moved (by its handle) or resized (by its corner) with the mouse: where the
/// pointer went down, the panel's place then, and the place it would take now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Drag {
    id: u32,
    resize: bool,
    start: (f64, f64),
    from: Grid,
    pub(crate) to: Grid,
}

impl Drag {
    /// The place after the pointer moved by (`columns`, `rows`) grid cells.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn moved(self, columns: i32, rows: i32) -> Grid {
        let g = self.from;
        if self.resize {
            let w = (g.w as i32 + columns).clamp(1, (GRID_COLUMNS - g.x) as i32) as u32;
            let h = (g.h as i32 + rows).clamp(2, 100) as u32;
            Grid { w, h, ..g }
        } else {
            let x = (g.x as i32 + columns).clamp(0, (GRID_COLUMNS - g.w) as i32) as u32;
            let y = (g.y as i32 + rows).max(0) as u32;
            Grid { x, y, ..g }
        }
    }
}

/// Where a dragged panel would go, drawn on the grid, and the pointer followed until it is
/// released; then the panel takes that place.
#[component]
pub(crate) fn DragLayer(grid: NodeRef<leptos::html::Div>) -> impl IntoView {
    let shown = expect_context::<Shown>();
    let editing = expect_context::<Editing>();
    #[cfg(feature = "hydrate")]
    {
        let track = window_event_listener(leptos::ev::pointermove, move |ev| {
            let Some(drag) = editing.drag.get_untracked() else {
                return;
            };
            let Some(el) = grid.get_untracked() else {
                return;
            };
            let gap = f64::from(super::GAP);
            let column = (f64::from(el.client_width()) + gap) / f64::from(GRID_COLUMNS);
            let row = f64::from(super::ROW_HEIGHT) + gap;
            let dx = ((f64::from(ev.client_x()) - drag.start.0) / column).round() as i32;
            let dy = ((f64::from(ev.client_y()) - drag.start.1) / row).round() as i32;
            let to = drag.moved(dx, dy);
            if to != drag.to {
                editing.drag.set(Some(Drag { to, ..drag }));
            }
        });
        let drop = window_event_listener(leptos::ev::pointerup, move |_| {
            let Some(drag) = editing.drag.get_untracked() else {
                return;
            };
            editing.drag.set(None);
            if drag.to != drag.from {
                change_panel(shown, drag.id, |panels, i| panels[i].grid = drag.to);
            }
        });
        on_cleanup(move || {
            track.remove();
            drop.remove();
        });
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (grid, shown);
    move || {
        editing.drag.get().map(|d| {
            let g = d.to;
            view! {
                <div class="drop-ghost" data-test="drop-ghost" style=format!(
                    "grid-column: {} / span {}; grid-row: {} / span {};", g.x + 1, g.w, g.y + 1, g.h
                )></div>
            }
        })
    }
}

/// A uid from a title: `Web services` → `web-services`.
pub(crate) fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            out.push(c);
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    let out = out.trim_end_matches('-');
    let out: String = out.chars().take(64).collect();
    if out.is_empty() {
        "dashboard".into()
    } else {
        out
    }
}

/// The row below every panel: where a new one goes.
fn bottom(panels: &[Panel]) -> u32 {
    panels
        .iter()
        .map(|p| p.grid.y + p.grid.h)
        .max()
        .unwrap_or(0)
}

/// The bar of edit mode: add a panel, settings, save, discard, leave.
#[component]
pub(crate) fn EditBar() -> impl IntoView {
    let shown = expect_context::<Shown>();
    let editing = expect_context::<Editing>();
    let dirty = move || shown.dashboard.with(|d| editing.saved.with(|s| d != s));
    let add = move |_| {
        let dashboard = shown.dashboard.get_untracked();
        let id = dashboard.panels.iter().map(|p| p.id).max().unwrap_or(0) + 1;
        let y = bottom(&dashboard.panels);
        leptos::task::spawn_local(async move {
            let stream = run_query("SELECT name FROM system.streams ORDER BY name LIMIT 1".into())
                .await
                .ok()
                .and_then(|r| r.rows.first().and_then(|row| row.first().cloned()))
                .map(|v| crate::viz::text(&v))
                .unwrap_or_else(|| "my_stream".into());
            editing.panel.set(Some(Panel {
                id,
                title: "New panel".into(),
                kind: PanelKind::Timeseries,
                sql: format!(
                    "SELECT $__timeGroup(_time) AS t, count(*) AS events\nFROM {}\nWHERE $__timeFilter(_time)\nGROUP BY 1",
                    protocol::dashboard::substitute::identifier(&stream)
                ),
                grid: Grid { x: 0, y, w: 12, h: 8 },
                description: String::new(),
                options: PanelOptions::default(),
            }));
        });
    };
    let save = move |_| {
        let mut dashboard = shown.dashboard.get_untracked();
        if dashboard.uid.is_empty() {
            dashboard.uid = slug(&dashboard.title);
        }
        let new = dashboard.version == 0;
        editing.status.set(Some(Ok("Saving…".into())));
        leptos::task::spawn_local(async move {
            match save_dashboard(dashboard.clone(), String::new()).await {
                Ok(version) => {
                    dashboard.version = version;
                    shown.dashboard.set(dashboard.clone());
                    editing.saved.set(dashboard.clone());
                    editing
                        .status
                        .set(Some(Ok(format!("Saved as version {version}."))));
                    if new {
                        let navigate = leptos_router::hooks::use_navigate();
                        navigate(
                            &format!("/dashboards/{}?edit", dashboard.uid),
                            Default::default(),
                        );
                    }
                }
                Err(error) => editing.status.set(Some(Err(error.0))),
            }
        });
    };
    let discard = move |_| {
        shown.dashboard.set(editing.saved.get_untracked());
        editing.status.set(None);
    };
    let leave = move |_| shown.navigate(|v| v.edit = false);
    view! {
        <div class="edit-bar" data-test="edit-bar">
            <button class="button" on:click=add data-test="add-panel">"+ Add panel"</button>
            <button class="button" on:click=move |_| editing.settings.set(true) data-test="settings">"⚙ Settings"</button>
            <span class="spacer"></span>
            {move || editing.status.get().map(|status| match status {
                Ok(text) => view! { <span class="muted small" data-test="save-status">{text}</span> }.into_any(),
                Err(error) if error.kind == ErrorKind::Conflict => view! {
                    <span class="error small" data-test="save-status" data-kind="conflict">
                        {error.message} " "
                        <a href="" data-test="reload">"Reload"</a>
                    </span>
                }.into_any(),
                Err(error) => view! {
                    <span class="error small" data-test="save-status" data-kind=error.kind.as_str()>{error.message}</span>
                }.into_any(),
            })}
            <button class="button" on:click=discard disabled=move || !dirty() data-test="discard">"Discard"</button>
            <button class="button primary" on:click=save disabled=move || !dirty() data-test="save">"Save"</button>
            <button class="button" on:click=leave data-test="exit-edit">"Exit edit"</button>
        </div>
        <Show when=move || editing.panel.with(Option::is_some)>
            <PanelEditor/>
        </Show>
        <Show when=move || editing.settings.get()>
            <Settings/>
        </Show>
    }
}

/// Changes the panel `id` of the shown dashboard.
fn change_panel(shown: Shown, id: u32, change: impl FnOnce(&mut Vec<Panel>, usize)) {
    shown.dashboard.update(|d| {
        if let Some(i) = d.panels.iter().position(|p| p.id == id) {
            change(&mut d.panels, i);
        }
    });
}

/// A panel's tools in edit mode: edit, duplicate, remove; a handle to drag it to another place
/// and a corner to drag to resize it.
#[component]
pub(crate) fn PanelTools(id: u32) -> impl IntoView {
    let shown = expect_context::<Shown>();
    let editing = expect_context::<Editing>();
    let edit = move |_| {
        let panel = shown.dashboard.with_untracked(|d| d.panel(id).cloned());
        editing.panel.set(panel);
    };
    let duplicate = move |_| {
        shown.dashboard.update(|d| {
            let Some(panel) = d.panel(id).cloned() else {
                return;
            };
            let new_id = d.panels.iter().map(|p| p.id).max().unwrap_or(0) + 1;
            let y = bottom(&d.panels);
            d.panels.push(Panel {
                id: new_id,
                title: format!("{} (copy)", panel.title),
                grid: Grid { y, ..panel.grid },
                ..panel
            });
        });
    };
    let remove = move |_| {
        change_panel(shown, id, |panels, i| {
            panels.remove(i);
        })
    };
    let grab = move |resize: bool| {
        move |ev: leptos::ev::PointerEvent| {
            ev.prevent_default();
            let Some(from) = shown
                .dashboard
                .with_untracked(|d| d.panel(id).map(|p| p.grid))
            else {
                return;
            };
            editing.drag.set(Some(Drag {
                id,
                resize,
                start: (f64::from(ev.client_x()), f64::from(ev.client_y())),
                from,
                to: from,
            }));
        }
    };
    view! {
        <span class="move-handle" title="Drag to move" data-test="move-handle" on:pointerdown=grab(false)>"⠿"</span>
        <span class="resize-handle" title="Drag to resize" data-test="resize-handle" on:pointerdown=grab(true)></span>
        <div class="panel-tools" data-test="panel-tools">
            <button class="button small" title="Edit" on:click=edit data-test="edit-panel">"✎"</button>
            <button class="button small" title="Duplicate" on:click=duplicate data-test="duplicate-panel">"Copy"</button>
            <button class="button small danger" title="Remove" on:click=remove data-test="remove-panel">"✕"</button>
        </div>
    }
}

/// Thresholds as typed: one step per line, `color` for the base, `value color` for the others.
fn parse_thresholds(text: &str) -> Vec<Threshold> {
    text.lines()
        .filter_map(|line| {
            let parts: Vec<&str> = line.split_whitespace().collect();
            match parts.as_slice() {
                [color] => Some(Threshold {
                    value: None,
                    color: (*color).into(),
                }),
                [value, color] => Some(Threshold {
                    value: value.parse().ok(),
                    color: (*color).into(),
                }),
                _ => None,
            }
        })
        .collect()
}

fn thresholds_text(thresholds: &[Threshold]) -> String {
    thresholds
        .iter()
        .map(|t| match t.value {
            Some(v) => format!("{v} {}", t.color),
            None => t.color.clone(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

const UNITS: [&str; 8] = [
    "short",
    "none",
    "percent",
    "percentunit",
    "ms",
    "s",
    "bytes",
    "reqps",
];

/// The panel editor: the SQL, the visualization and its options, with a preview that follows
/// the typing (half a second after the last key).
#[component]
fn PanelEditor() -> impl IntoView {
    let shown = expect_context::<Shown>();
    let editing = expect_context::<Editing>();
    let Some(start) = editing.panel.get_untracked() else {
        return ().into_any();
    };
    let draft = RwSignal::new(start.clone());
    let preview = RwSignal::new(start);
    let thresholds = RwSignal::new(thresholds_text(
        &draft.with_untracked(|p| p.options.thresholds.clone()),
    ));
    // The preview catches up with the draft once typing pauses.
    let typed = RwSignal::new(0u64);
    Effect::new(move |_| {
        let n = typed.get();
        if n == 0 {
            return;
        }
        set_timeout(
            move || {
                if typed.get_untracked() == n {
                    preview.set(draft.get_untracked());
                }
            },
            std::time::Duration::from_millis(500),
        );
    });
    let update = move |change: Box<dyn FnOnce(&mut Panel)>| {
        draft.update(|p| change(p));
        typed.update(|n| *n += 1);
    };
    let apply = move |_| {
        let panel = draft.get_untracked();
        shown
            .dashboard
            .update(|d| match d.panels.iter().position(|p| p.id == panel.id) {
                Some(i) => d.panels[i] = panel,
                None => d.panels.push(panel),
            });
        editing.panel.set(None);
    };
    view! {
        <div class="modal" data-test="panel-editor">
            <div class="modal-box editor">
                <div class="editor-preview">
                    <div class="grid preview-grid">
                        {move || {
                            let mut panel = preview.get();
                            panel.grid = Grid { x: 0, y: 0, w: 24, h: panel.grid.h.clamp(6, 12) };
                            view! { <PanelView panel preview=true initial=None/> }
                        }}
                    </div>
                </div>
                <div class="editor-form">
                    <label>"Title"
                        <input type="text" data-test="panel-title" prop:value=move || draft.with(|p| p.title.clone())
                            on:input=move |ev| { let v = event_target_value(&ev); update(Box::new(move |p| p.title = v)) }/>
                    </label>
                    <label>"Visualization"
                        <select data-test="panel-type" on:change=move |ev| {
                            let v = event_target_value(&ev);
                            update(Box::new(move |p| {
                                if let Some(kind) = PanelKind::ALL.into_iter().find(|k| k.as_str() == v) {
                                    p.kind = kind;
                                }
                            }))
                        }>
                            {PanelKind::ALL.into_iter().map(|k| view! {
                                <option value=k.as_str() selected=move || draft.with(|p| p.kind == k)>{k.as_str()}</option>
                            }).collect_view()}
                        </select>
                    </label>
                    <label class="sql">"SQL"
                        <textarea data-test="panel-sql" rows="9" spellcheck="false" prop:value=move || draft.with(|p| p.sql.clone())
                            on:input=move |ev| { let v = event_target_value(&ev); update(Box::new(move |p| p.sql = v)) }></textarea>
                    </label>
                    <p class="muted small">"$name and ${name} are variables (as literals); macros: $__timeFilter(_time), $__timeGroup(_time), $__interval, $__from, $__to."</p>
                    <div class="row">
                        <label>"Unit"
                            <select data-test="panel-unit" on:change=move |ev| {
                                let v = event_target_value(&ev);
                                update(Box::new(move |p| p.options.unit = (v != "short").then_some(v)))
                            }>
                                {UNITS.into_iter().map(|u| view! {
                                    <option value=u selected=move || draft.with(|p| p.options.unit.as_deref().unwrap_or("short") == u)>{u}</option>
                                }).collect_view()}
                            </select>
                        </label>
                        <label>"Decimals"
                            <input type="text" size="3" prop:value=move || draft.with(|p| p.options.decimals.map(|d| d.to_string()).unwrap_or_default())
                                on:input=move |ev| { let v = event_target_value(&ev); update(Box::new(move |p| p.options.decimals = v.parse().ok())) }/>
                        </label>
                        <label>"Min"
                            <input type="text" size="6" prop:value=move || draft.with(|p| p.options.min.map(|d| d.to_string()).unwrap_or_default())
                                on:input=move |ev| { let v = event_target_value(&ev); update(Box::new(move |p| p.options.min = v.parse().ok())) }/>
                        </label>
                        <label>"Max"
                            <input type="text" size="6" prop:value=move || draft.with(|p| p.options.max.map(|d| d.to_string()).unwrap_or_default())
                                on:input=move |ev| { let v = event_target_value(&ev); update(Box::new(move |p| p.options.max = v.parse().ok())) }/>
                        </label>
                    </div>
                    <div class="row">
                        <label>"Series from column"
                            <input type="text" size="12" placeholder="(auto)" prop:value=move || draft.with(|p| p.options.series.clone().unwrap_or_default())
                                on:input=move |ev| { let v = event_target_value(&ev); update(Box::new(move |p| p.options.series = (!v.is_empty()).then_some(v))) }/>
                        </label>
                        <label>"Legend"
                            <select on:change=move |ev| {
                                let v = event_target_value(&ev);
                                update(Box::new(move |p| p.options.legend = match v.as_str() {
                                    "right" => Some(Legend::Right),
                                    "hidden" => Some(Legend::Hidden),
                                    _ => None,
                                }))
                            }>
                                <option value="bottom">"bottom"</option>
                                <option value="right" selected=move || draft.with(|p| p.options.legend == Some(Legend::Right))>"right"</option>
                                <option value="hidden" selected=move || draft.with(|p| p.options.legend == Some(Legend::Hidden))>"hidden"</option>
                            </select>
                        </label>
                        <label class="check">
                            <input type="checkbox" prop:checked=move || draft.with(|p| p.options.stack)
                                on:change=move |ev| { let v = event_target_checked(&ev); update(Box::new(move |p| p.options.stack = v)) }/>
                            "Stack"
                        </label>
                    </div>
                    <label>"Thresholds (a colour, then one `value colour` per line)"
                        <textarea rows="3" prop:value=move || thresholds.get()
                            on:input=move |ev| {
                                let v = event_target_value(&ev);
                                thresholds.set(v.clone());
                                update(Box::new(move |p| p.options.thresholds = parse_thresholds(&v)))
                            }></textarea>
                    </label>
                    <div class="row end">
                        <button class="button" on:click=move |_| editing.panel.set(None) data-test="panel-cancel">"Cancel"</button>
                        <button class="button primary" on:click=apply data-test="panel-apply">"Apply"</button>
                    </div>
                </div>
            </div>
        </div>
    }
    .into_any()
}

/// Dashboard settings: title, uid (while new), tags, description, variables (as JSON).
#[component]
fn Settings() -> impl IntoView {
    let shown = expect_context::<Shown>();
    let editing = expect_context::<Editing>();
    let start = shown.dashboard.get_untracked();
    let title = RwSignal::new(start.title.clone());
    let uid = RwSignal::new(start.uid.clone());
    let tags = RwSignal::new(start.tags.join(", "));
    let description = RwSignal::new(start.description.clone());
    let variables =
        RwSignal::new(serde_json::to_string_pretty(&start.variables).unwrap_or_default());
    let problem = RwSignal::new(None::<String>);
    let is_new = start.version == 0;
    let apply = move |_| {
        let parsed: Result<Vec<Variable>, _> = serde_json::from_str(&variables.get_untracked());
        let vars = match parsed {
            Ok(vars) => vars,
            Err(err) => {
                problem.set(Some(format!("Variables: {err}")));
                return;
            }
        };
        shown.dashboard.update(|d| {
            d.title = title.get_untracked();
            if is_new {
                d.uid = uid.get_untracked();
            }
            d.tags = tags
                .get_untracked()
                .split(',')
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect();
            d.description = description.get_untracked();
            d.variables = vars;
        });
        editing.settings.set(false);
    };
    view! {
        <div class="modal" data-test="settings-editor">
            <div class="modal-box settings">
                <h2>"Dashboard settings"</h2>
                <label>"Title" <input type="text" data-test="dashboard-title-input" prop:value=move || title.get()
                    on:input=move |ev| title.set(event_target_value(&ev))/></label>
                {is_new.then(|| view! {
                    <label>"UID (in the URL; from the title when empty)" <input type="text" data-test="dashboard-uid-input" prop:value=move || uid.get()
                        on:input=move |ev| uid.set(event_target_value(&ev))/></label>
                })}
                <label>"Tags (comma separated)" <input type="text" prop:value=move || tags.get()
                    on:input=move |ev| tags.set(event_target_value(&ev))/></label>
                <label>"Description" <input type="text" prop:value=move || description.get()
                    on:input=move |ev| description.set(event_target_value(&ev))/></label>
                <label>"Variables (JSON: name, type query|custom|textbox|interval, query, options, multi, include_all, default)"
                    <textarea rows="8" spellcheck="false" data-test="variables-json" prop:value=move || variables.get()
                        on:input=move |ev| variables.set(event_target_value(&ev))></textarea>
                </label>
                {move || problem.get().map(|p| view! { <p class="error small">{p}</p> })}
                <div class="row end">
                    <button class="button" on:click=move |_| editing.settings.set(false)>"Cancel"</button>
                    <button class="button primary" on:click=apply data-test="settings-apply">"Apply"</button>
                </div>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drag(resize: bool, from: Grid) -> Drag {
        Drag {
            id: 1,
            resize,
            start: (0.0, 0.0),
            from,
            to: from,
        }
    }

    #[test]
    fn a_drag_snaps_to_the_grid_and_stays_on_it() {
        let g = Grid {
            x: 6,
            y: 4,
            w: 12,
            h: 8,
        };
        assert_eq!(drag(false, g).moved(2, -1), Grid { x: 8, y: 3, ..g });
        // Not past either edge, nor above the top.
        assert_eq!(drag(false, g).moved(20, -9), Grid { x: 12, y: 0, ..g });
        assert_eq!(drag(false, g).moved(-9, 0), Grid { x: 0, ..g });
        // Resizing keeps the place; not wider than what is right of it, not shorter than 2.
        assert_eq!(drag(true, g).moved(3, 2), Grid { w: 15, h: 10, ..g });
        assert_eq!(drag(true, g).moved(30, -30), Grid { w: 18, h: 2, ..g });
        assert_eq!(drag(true, g).moved(-30, 0), Grid { w: 1, ..g });
    }
}
