//! The SQL workbench, `/sql?q=SQL`: an editor that completes stream and column names and SQL
//! keywords, the query's result as a table or a chart, its plan (EXPLAIN), its progress while
//! it runs (elapsed, lake files and bytes scanned of those its plan reads) with a button that
//! stops it on the server, export through `/api/v1/query?format=`, and the queries this browser
//! ran. The URL holds the query last run, so a link reruns it.

mod complete;
mod editor;
mod history;
mod results;

use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;
use leptos_router::NavigateOptions;
use leptos_router::hooks::{use_navigate, use_query_map};

use protocol::{ErrorKind, Progress, QueryResult};

use self::complete::{Catalog, Table};
use self::editor::Editor;
use self::history::{History, Ran};
use self::results::{Plan, Results};
use super::ErrorMessage;
use crate::api::{WORKBENCH_ROWS, cancel_query, query_progress, run_query, run_sql};
use crate::viz::percent_encode;

/// How often a running query's progress is asked for.
const PROGRESS_MS: u64 = 250;

const EXAMPLE: &str = "SELECT service, count(*) AS events\nFROM demo_http\nWHERE _time > now() - INTERVAL '1 hour'\nGROUP BY service\nORDER BY events DESC";

/// Where the workbench's query is.
#[derive(Debug, Clone, PartialEq)]
enum Run {
    Idle,
    Running {
        id: String,
        explain: bool,
    },
    Done {
        sql: String,
        result: QueryResult,
        ms: f64,
        explain: bool,
    },
    Failed(protocol::Error),
    Cancelled {
        ms: f64,
    },
}

fn now_ms() -> f64 {
    super::dashboard::now_micros() as f64 / 1000.0
}

/// An id no other query of this browser has: the time and a random number.
fn new_id() -> String {
    #[cfg(feature = "hydrate")]
    let random = (js_sys::Math::random() * 1e9) as u64;
    #[cfg(not(feature = "hydrate"))]
    let random = 0u64;
    format!("sql-{}-{random}", super::dashboard::now_micros())
}

/// The streams and their columns, for completion.
async fn catalog() -> Catalog {
    let sql = "SELECT \"stream\", \"name\", \"type\" FROM system.columns ORDER BY \"stream\", \"position\"";
    let Ok(result) = run_query(sql.to_owned()).await else {
        return Catalog::default();
    };
    let mut streams: Vec<Table> = Vec::new();
    for row in result.rows {
        let [stream, name, data_type] = [0, 1, 2].map(|i| crate::viz::text(&row[i]));
        match streams.last_mut() {
            Some(table) if table.name == stream => table.columns.push((name, data_type)),
            _ => streams.push(Table {
                name: stream,
                columns: vec![(name, data_type)],
            }),
        }
    }
    Catalog { streams }
}

#[component]
pub(crate) fn SqlPage() -> impl IntoView {
    let query = use_query_map();
    let initial = query.read_untracked().get("q");
    let autorun = initial.is_some();
    let text = RwSignal::new(initial.unwrap_or_else(|| EXAMPLE.to_owned()));
    let state = RwSignal::new(Run::Idle);
    let progress = RwSignal::new(None::<Progress>);
    let history = RwSignal::new(Vec::<Ran>::new());
    let hydrated = RwSignal::new(false);
    let catalog_resource = LocalResource::new(catalog);
    let catalog = Signal::derive(move || catalog_resource.get().unwrap_or_default());
    let navigate = use_navigate();

    let run = Callback::new(move |explain: bool| {
        let sql = text.get_untracked().trim().to_owned();
        if sql.is_empty() || matches!(state.get_untracked(), Run::Running { .. }) {
            return;
        }
        let id = new_id();
        state.set(Run::Running {
            id: id.clone(),
            explain,
        });
        progress.set(None);
        if !explain {
            navigate(
                &format!("/sql?q={}", percent_encode(&sql)),
                NavigateOptions {
                    replace: true,
                    scroll: false,
                    ..Default::default()
                },
            );
        }
        let sent = if explain {
            format!("EXPLAIN {sql}")
        } else {
            sql.clone()
        };
        spawn_local(async move {
            let started = now_ms();
            let outcome = run_sql(sent, id.clone()).await;
            let ms = now_ms() - started;
            let current =
                matches!(state.get_untracked(), Run::Running { id: ref now, .. } if *now == id);
            if !current {
                return;
            }
            let ran = Ran {
                sql: sql.clone(),
                at_ms: started,
                ms,
                rows: outcome.as_ref().ok().map(|r| r.rows.len()),
                failed: outcome.is_err(),
            };
            state.set(match outcome {
                Ok(result) => Run::Done {
                    sql,
                    result,
                    ms,
                    explain,
                },
                Err(error) if error.kind() == ErrorKind::Cancelled => Run::Cancelled { ms },
                Err(error) => Run::Failed(error.0),
            });
            if !explain && !matches!(state.get_untracked(), Run::Cancelled { .. }) {
                history.update(|h| history::remember(h, ran));
                history::save(&history.get_untracked());
            }
        });
    });
    let cancel = move |_| {
        if let Run::Running { id, .. } = state.get_untracked() {
            spawn_local(async move {
                let _ = cancel_query(id).await;
            });
        }
    };

    // While a query runs, ask how far it has got.
    Effect::new(move |_| {
        let Run::Running { id, .. } = state.get() else {
            return;
        };
        let ask = move || {
            let id = id.clone();
            spawn_local(async move {
                let Ok(Some(now)) = query_progress(id.clone()).await else {
                    return;
                };
                if matches!(state.get_untracked(), Run::Running { id: ref running, .. } if *running == id)
                {
                    progress.set(Some(now));
                }
            });
        };
        if let Ok(handle) =
            set_interval_with_handle(ask, std::time::Duration::from_millis(PROGRESS_MS))
        {
            on_cleanup(move || handle.clear());
        }
    });
    Effect::new(move |_| {
        history.set(history::load());
        hydrated.set(true);
        if autorun {
            run.run(false);
        }
    });

    view! {
        <Title text="SQL · Weir"/>
        <div class="sql-page" data-test="sql-page" data-hydrated=move || hydrated.get().to_string()>
            <div class="sql-main">
                <div class="page-head">
                    <h1>"SQL"</h1>
                    <span class="muted">"DataFusion SQL over every stream's hot events and lake. Ctrl+Space completes; Ctrl+Enter runs."</span>
                </div>
                <Editor text catalog on_run=Callback::new(move |()| run.run(false))/>
                <div class="sql-actions">
                    <button class="button primary" data-test="sql-run"
                        disabled=move || matches!(state.get(), Run::Running { .. })
                        on:click=move |_| run.run(false)>"▶ Run"</button>
                    <button class="button" data-test="sql-explain" title="The plan DataFusion makes for the query, without running it"
                        disabled=move || matches!(state.get(), Run::Running { .. })
                        on:click=move |_| run.run(true)>"Explain"</button>
                    <Show when=move || matches!(state.get(), Run::Running { .. })>
                        <button class="button danger" data-test="sql-cancel" on:click=cancel>"■ Cancel"</button>
                    </Show>
                    {move || status(&state.get(), progress.get())}
                </div>
                {move || match state.get() {
                    Run::Idle | Run::Running { .. } => None,
                    Run::Failed(error) => Some(view! { <ErrorMessage error/> }.into_any()),
                    Run::Cancelled { ms } => Some(view! {
                        <p class="note" data-test="sql-cancelled">
                            {format!("Cancelled after {}: the server stopped the query.", duration(ms))}
                        </p>
                    }.into_any()),
                    Run::Done { result, explain: true, .. } => Some(view! { <Plan result/> }.into_any()),
                    Run::Done { sql, result, ms, explain: false } => Some(view! {
                        <Results sql result ms limit=WORKBENCH_ROWS/>
                    }.into_any()),
                }}
            </div>
            <History history on_pick=Callback::new(move |sql: String| text.set(sql))/>
        </div>
    }
}

/// What the run is doing: its progress while it runs.
fn status(state: &Run, progress: Option<Progress>) -> Option<AnyView> {
    let Run::Running { id, explain } = state else {
        return None;
    };
    let what = if *explain { "Planning" } else { "Running" };
    let Some(progress) = progress else {
        return Some(
            view! { <span class="sql-status muted" data-test="sql-running">{format!("{what}…")}</span> }
                .into_any(),
        );
    };
    // By files: a query reads only its columns' bytes of a file, so bytes never reach the total.
    let share = if progress.files_total > 0 {
        (progress.files_scanned as f64 / progress.files_total as f64).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let files = if progress.files_total > 0 {
        format!(
            " · {} of {} files · {} read of {}",
            progress.files_scanned,
            progress.files_total,
            bytes(progress.bytes_scanned),
            bytes(progress.bytes_total)
        )
    } else if progress.planned {
        " · no lake files to read".to_owned()
    } else {
        " · planning".to_owned()
    };
    Some(
        view! {
            <span class="sql-status" data-test="sql-progress" data-id=id.clone()>
                <span class="progress-bar"><span style=format!("width: {:.1}%", share * 100.0)></span></span>
                <span>{format!("{what} {}{files}", duration(progress.elapsed_ms as f64))}</span>
            </span>
        }
        .into_any(),
    )
}

/// `ms` as people read it: `84 ms`, `1.3 s`.
pub(crate) fn duration(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{:.1} s", ms / 1000.0)
    }
}

fn bytes(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} GB", n / 1e9)
    } else if n >= 1e6 {
        format!("{:.1} MB", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.0} kB", n / 1e3)
    } else {
        format!("{n} B")
    }
}
