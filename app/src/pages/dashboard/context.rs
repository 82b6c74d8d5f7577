//! What a view's panels are drawn with besides their own SQL, fetched with the page (and for
//! PNG rendering): the variables resolved, the annotations as marks, each panel's first result.

use std::collections::BTreeMap;

use protocol::dashboard::{
    Dashboard, Panel, Scope, SubstituteError, TimeRange, VariableKind, substitute,
};

use super::{GRID_WIDTH, Resolved, ViewState, now_micros, values};
use crate::api::run_query;
use crate::viz;

/// What a view's panels are drawn with besides their own SQL.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Context {
    pub(crate) variables: Vec<Resolved>,
    pub(crate) marks: Vec<viz::draw::Mark>,
    /// Each panel's first result, by panel id, with the SQL it is the result of: the page
    /// renders (and hydrates) with these, then each panel keeps itself live.
    pub(crate) results: BTreeMap<u32, (String, Result<protocol::QueryResult, protocol::Error>)>,
}

/// Resolves every variable in order: each may use the ones before it in its query.
async fn resolve(dashboard: Dashboard, view: ViewState, range: TimeRange) -> Vec<Resolved> {
    let mut resolved: Vec<Resolved> = Vec::new();
    for variable in dashboard.variables {
        let chosen = view.vars.get(&variable.name);
        match variable.kind {
            VariableKind::Custom | VariableKind::Interval => {
                let options = variable.options.clone();
                resolved.push(Resolved::new(variable, options, chosen));
            }
            VariableKind::Textbox => resolved.push(Resolved::new(variable, vec![], chosen)),
            VariableKind::Query => {
                let vars = values(&resolved);
                let scope = Scope {
                    variables: &vars,
                    range,
                    interval: range.interval(now_micros(), GRID_WIDTH),
                };
                let sql = variable.query.clone().unwrap_or_default();
                let outcome = match substitute(&sql, &scope) {
                    Err(err) => Err(err.to_string()),
                    Ok(sql) => run_query(sql).await.map_err(|e| e.0.message),
                };
                match outcome {
                    Ok(result) => {
                        let mut options: Vec<String> = result
                            .rows
                            .iter()
                            .filter_map(|row| row.first().map(viz::text))
                            .collect();
                        options.dedup();
                        resolved.push(Resolved::new(variable, options, chosen));
                    }
                    Err(error) => {
                        let mut r = Resolved::new(variable, vec![], chosen);
                        r.error = Some(error);
                        resolved.push(r);
                    }
                }
            }
        }
    }
    resolved
}

/// The context of `dashboard` shown as `view` over `range`, each panel's SQL substituted for
/// the chart size (width, height) in pixels `size_of` gives it (the width chooses
/// `$__interval`; the height, a table's or a log's page).
pub(crate) async fn context(
    dashboard: Dashboard,
    view: ViewState,
    range: TimeRange,
    size_of: impl Fn(&Panel) -> (u32, u32),
) -> Context {
    let panels = dashboard.panels.clone();
    let annotations = dashboard.annotations.clone();
    let resolved = resolve(dashboard, view, range).await;
    let vars = values(&resolved);
    // The panels' queries (and the annotations') run at once: the page waits for the slowest,
    // not for the sum.
    let queries = panels.into_iter().filter_map(|panel| {
        let sql = panel_sql(&panel, &vars, range, size_of(&panel), 0).ok()?;
        Some(async move {
            let result = run_query(sql.clone()).await.map_err(|e| e.0);
            (panel.id, (sql, result))
        })
    });
    let (results, marks) = futures::future::join(
        futures::future::join_all(queries),
        marks(annotations, vars.clone(), range),
    )
    .await;
    let results: BTreeMap<_, _> = results.into_iter().collect();
    Context {
        variables: resolved,
        marks,
        results,
    }
}

/// The variables resolved and the annotations' marks for a later view of a shown dashboard (a
/// variable or the range changed): its panels each query for themselves.
pub(crate) async fn refresh(
    dashboard: Dashboard,
    view: ViewState,
    range: TimeRange,
) -> (Vec<Resolved>, Vec<viz::draw::Mark>) {
    let annotations = dashboard.annotations.clone();
    let resolved = resolve(dashboard, view, range).await;
    let marks = marks(annotations, values(&resolved), range).await;
    (resolved, marks)
}

/// The SQL a panel runs: its own, substituted in the view's scope for a chart of `size`; for a
/// `table` or `logs` panel only its page number `page` (paged on the server, one row more
/// than the page shows, to know whether a next page exists).
pub(crate) fn panel_sql(
    panel: &Panel,
    vars: &BTreeMap<String, protocol::dashboard::VariableValue>,
    range: TimeRange,
    (width, height): (u32, u32),
    page: usize,
) -> Result<String, SubstituteError> {
    let sql = substitute(&panel.sql, &scope(vars, range, width))?;
    Ok(match panel.kind.page_rows(height) {
        Some(rows) => protocol::dashboard::page(&sql, rows + 1, page * rows),
        None => sql,
    })
}

/// The annotations' rows as marks: `time`, optional `end` and `text` columns (by name, or the
/// first columns in that order). An annotation whose query fails marks nothing (and says why in
/// the log).
async fn marks(
    annotations: Vec<protocol::dashboard::Annotation>,
    vars: BTreeMap<String, protocol::dashboard::VariableValue>,
    range: TimeRange,
) -> Vec<viz::draw::Mark> {
    let mut out = Vec::new();
    for annotation in annotations {
        let sql = match substitute(&annotation.sql, &scope(&vars, range, GRID_WIDTH)) {
            Ok(sql) => sql,
            Err(err) => {
                leptos::logging::warn!("annotation {}: {err}", annotation.name);
                continue;
            }
        };
        let result = match run_query(sql).await {
            Ok(result) => result,
            Err(err) => {
                leptos::logging::warn!("annotation {}: {}", annotation.name, err.0.message);
                continue;
            }
        };
        let column = |name: &str, fallback: usize| {
            result
                .column(name)
                .or((fallback < result.columns.len()).then_some(fallback))
        };
        let (Some(time), end, text) = (column("time", 0), result.column("end"), column("text", 1))
        else {
            continue;
        };
        for row in &result.rows {
            let Some(start) = viz::seconds(&row[time]) else {
                continue;
            };
            out.push(viz::draw::Mark {
                start,
                end: end.and_then(|e| viz::seconds(&row[e])),
                text: text.map(|t| viz::text(&row[t])).unwrap_or_default(),
                color: annotation.color.clone(),
            });
        }
    }
    out
}

/// The scope a panel's SQL is substituted in, for a panel `width` pixels wide.
pub(crate) fn scope(
    vars: &BTreeMap<String, protocol::dashboard::VariableValue>,
    range: TimeRange,
    width: u32,
) -> Scope<'_> {
    Scope {
        variables: vars,
        range,
        interval: range.interval(now_micros(), width),
    }
}
