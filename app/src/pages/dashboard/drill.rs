//! Drill-down from a panel: a click on a chart, a stat or a table row opens a menu of the values
//! under it; picking one opens Explore on exactly the events behind that value, as the server
//! works them out from the panel's query ([`drill_down`]).

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;
use serde_json::Value;

use crate::api::drill_down;
use crate::viz::{self, Hit};

/// What a click on a panel picked: the values under it, to choose one of.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pick {
    /// Client pixels, where the menu opens.
    pub(crate) x: i32,
    pub(crate) y: i32,
    pub(crate) title: String,
    /// The panel's SQL as run: the rows are of its result.
    pub(crate) sql: String,
    pub(crate) values: Vec<Picked>,
}

/// One value a click picked, with the row it is of.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Picked {
    pub(crate) name: String,
    pub(crate) color: String,
    pub(crate) value: String,
    /// The value unformatted (for tests and tools), empty for a whole row.
    pub(crate) raw: String,
    pub(crate) row: Vec<Value>,
    /// The column of the value (its aggregate narrows the events); none for a whole row.
    pub(crate) column: Option<usize>,
}

impl Picked {
    /// A chart's value, formatted by `format`.
    pub(crate) fn of_hit(hit: &Hit, rows: &[Vec<Value>], format: &dyn Fn(f64) -> String) -> Self {
        Picked {
            name: hit.name.clone(),
            color: hit.color.clone(),
            value: format(hit.y),
            raw: hit.y.to_string(),
            row: rows.get(hit.row).cloned().unwrap_or_default(),
            column: Some(hit.column),
        }
    }
}

/// The menu of what a click picked; choosing a value opens Explore on its events.
#[component]
pub(crate) fn DrillMenu(pick: Pick, close: RwSignal<Option<Pick>>) -> impl IntoView {
    let navigate = use_navigate();
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let sql = StoredValue::new(pick.sql);
    let values = pick.values.into_iter().map(|picked| {
        let navigate = navigate.clone();
        let Picked {
            name,
            color,
            value,
            raw,
            row,
            column,
        } = picked;
        let open = move |_| {
            let (row, navigate) = (row.clone(), navigate.clone());
            busy.set(true);
            leptos::task::spawn_local(async move {
                match drill_down(sql.get_value(), row, column).await {
                    Ok(drill) => {
                        navigate(&crate::pages::explore::drill_url(&drill), Default::default())
                    }
                    Err(e) => {
                        error.set(Some(e.to_string()));
                        busy.set(false);
                    }
                }
            });
        };
        view! {
            <li><button class="drill-item" data-test="drill" data-value=raw disabled=move || busy.get() on:click=open>
                <span class="swatch" style=format!("background: {}", viz::css_color(&color))></span>
                <span class="name">{name}</span>
                <span class="num">{value}</span>
            </button></li>
        }
    }).collect_view();
    view! {
        <div class="drill-backdrop" on:click=move |_| close.set(None)></div>
        <div class="drill-menu" data-test="drill-menu" style=format!("left: {}px; top: {}px", pick.x, pick.y)>
            <div class="drill-head">
                <span>{pick.title}</span>
                <button class="button small" title="Close" on:click=move |_| close.set(None)>"×"</button>
            </div>
            <ul>{values}</ul>
            <p class="muted small">{move || if busy.get() { "Opening Explore…" } else { "Open the events behind a value in Explore" }}</p>
            {move || error.get().map(|e| view! { <p class="error" data-test="drill-error">{e}</p> })}
        </div>
    }
}
