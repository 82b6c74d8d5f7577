//! The queries this browser ran in the workbench, newest first, kept in its `localStorage`
//! (nothing of it reaches the server): the same query run again moves to the top.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use super::duration;

/// The `localStorage` key.
#[cfg(feature = "hydrate")]
const KEY: &str = "weir.sql.history";
/// Queries kept.
const KEEP: usize = 50;

/// One query run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Ran {
    pub(crate) sql: String,
    /// When it started, ms since the epoch, and how long it took.
    pub(crate) at_ms: f64,
    pub(crate) ms: f64,
    /// Its rows, when it answered.
    pub(crate) rows: Option<usize>,
    pub(crate) failed: bool,
}

/// Puts `ran` first, without an older run of the same query, keeping the newest [`KEEP`].
pub(crate) fn remember(history: &mut Vec<Ran>, ran: Ran) {
    history.retain(|r| r.sql != ran.sql);
    history.insert(0, ran);
    history.truncate(KEEP);
}

/// The history this browser keeps (none on the server, or when it cannot be read).
pub(crate) fn load() -> Vec<Ran> {
    #[cfg(feature = "hydrate")]
    {
        storage()
            .and_then(|s| s.get_item(KEY).ok().flatten())
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        Vec::new()
    }
}

pub(crate) fn save(history: &[Ran]) {
    #[cfg(feature = "hydrate")]
    if let (Some(storage), Ok(text)) = (storage(), serde_json::to_string(history)) {
        // A full storage keeps the old history: the next run tries again.
        let _ = storage.set_item(KEY, &text);
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = history;
}

#[cfg(feature = "hydrate")]
fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The history beside the editor: a click puts a query back in the editor.
#[component]
pub(crate) fn History(history: RwSignal<Vec<Ran>>, on_pick: Callback<String>) -> impl IntoView {
    let clear = move |_| {
        history.set(Vec::new());
        save(&[]);
    };
    view! {
        <aside class="sql-history" data-test="sql-history">
            <div class="sql-history-head">
                <h2>"History"</h2>
                <Show when=move || history.with(|h| !h.is_empty())>
                    <button class="button small" data-test="sql-history-clear" on:click=clear>"Clear"</button>
                </Show>
            </div>
            <Show when=move || history.with(Vec::is_empty)>
                <p class="muted">"Queries you run in this browser are kept here."</p>
            </Show>
            <ul>
                {move || history.get().into_iter().map(|ran| {
                    let sql = ran.sql.clone();
                    let what = match (ran.failed, ran.rows) {
                        (true, _) => "failed".to_owned(),
                        (false, Some(1)) => "1 row".to_owned(),
                        (false, Some(n)) => format!("{n} rows"),
                        (false, None) => String::new(),
                    };
                    view! {
                        <li data-test="sql-history-entry" class:failed=ran.failed
                            title=ran.sql.clone()
                            on:click=move |_| on_pick.run(sql.clone())>
                            <code>{ran.sql.split_whitespace().collect::<Vec<_>>().join(" ")}</code>
                            <span class="muted">{format!("{what} · {}", duration(ran.ms))}</span>
                        </li>
                    }
                }).collect_view()}
            </ul>
        </aside>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(sql: &str) -> Ran {
        Ran {
            sql: sql.into(),
            at_ms: 0.0,
            ms: 1.0,
            rows: Some(1),
            failed: false,
        }
    }

    #[test]
    fn the_newest_first_once_each_and_no_more_than_kept() {
        let mut history = Vec::new();
        for i in 0..KEEP + 5 {
            remember(&mut history, ran(&format!("SELECT {i}")));
        }
        remember(&mut history, ran("SELECT 10"));
        assert_eq!(history.len(), KEEP);
        assert_eq!(history[0].sql, "SELECT 10");
        assert_eq!(history[1].sql, format!("SELECT {}", KEEP + 4));
        assert_eq!(history.iter().filter(|r| r.sql == "SELECT 10").count(), 1);
    }
}
