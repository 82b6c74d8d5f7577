//! The rule editor (`/alerts/new`, `/alerts/{uid}/edit`, and `/alerts/new?dashboard=&panel=`
//! from a dashboard's panel): the SQL and the condition with a live preview of each instance's
//! value against the threshold, the timing and policies, labels, annotations, contact points,
//! and a backtest of the rule as written before it is saved.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use protocol::alert::{
    CompareOp, Condition, ContactPoint, ErrorPolicy, NoDataPolicy, PanelRef, Rule,
};
use protocol::dashboard::TimeRange;

use super::preview::{Backtesting, Preview};
use crate::api::{list_contact_points, load_alert_rule, load_dashboard, save_alert_rule};
use crate::pages::ErrorMessage;

/// The annotations the editor has a field for (others are kept as they are).
const ANNOTATIONS: [(&str, &str); 3] = [
    (
        "summary",
        "Summary: {{ $labels.service }} fails {{ humanizePercentage $value }}",
    ),
    ("description", "Description"),
    ("runbook_url", "Runbook URL"),
];

#[component]
pub(crate) fn RuleEditorPage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let uid = params.read_untracked().get("uid");
    let dashboard = query.read_untracked().get("dashboard");
    let panel = query
        .read_untracked()
        .get("panel")
        .and_then(|p| p.parse::<u32>().ok());
    let start = Resource::new(
        || (),
        move |()| starting_rule(uid.clone(), dashboard.clone(), panel),
    );
    let points = Resource::new(|| (), |()| list_contact_points());
    view! {
        <Title text="Edit alert rule · Weir"/>
        <section class="page" data-test="rule-editor">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let points = points.await.unwrap_or_default();
                    match start.await {
                        Err(error) => view! { <ErrorMessage error/> }.into_any(),
                        Ok((rule, note)) => view! { <Editor rule note points/> }.into_any(),
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The rule the editor starts from, and a note on where it came from.
async fn starting_rule(
    uid: Option<String>,
    dashboard: Option<String>,
    panel: Option<u32>,
) -> Result<(Rule, Option<String>), protocol::Error> {
    if let Some(uid) = uid {
        return Ok((load_alert_rule(uid).await.map_err(|e| e.0)?.rule, None));
    }
    let mut rule: Rule = serde_json::from_value(serde_json::json!({
        "uid": "", "title": "", "for": "1m",
        "sql": "SELECT service, avg(CASE WHEN status >= 500 THEN 1.0 ELSE 0.0 END) AS ratio\nFROM web\nWHERE _time >= now() - INTERVAL '5 minutes'\nGROUP BY service",
        "condition": {"column": "ratio", "op": ">", "threshold": 0.05},
    }))
    .expect("a valid starting rule");
    let (Some(dashboard), Some(panel)) = (dashboard, panel) else {
        return Ok((rule, None));
    };
    let found = load_dashboard(dashboard.clone()).await.map_err(|e| e.0)?;
    let Some(p) = found.dashboard.panel(panel) else {
        return Ok((
            rule,
            Some(format!("Panel {panel} is not on dashboard {dashboard}.")),
        ));
    };
    // The panel's macros with its dashboard's time range: `$__timeFilter(_time)` becomes the
    // moving range a rule wants. (A variable stays for the user to replace.)
    let range =
        TimeRange::from_spec(&found.dashboard.time).unwrap_or(TimeRange::last(3_600_000_000));
    let sql = protocol::dashboard::substitute(
        &p.sql,
        &crate::pages::dashboard::scope(&BTreeMap::new(), range, 720),
    );
    rule.title = p.title.clone();
    rule.condition = None;
    rule.panel = Some(PanelRef {
        dashboard: dashboard.clone(),
        panel,
    });
    let note = match sql {
        Ok(sql) => {
            rule.sql = sql;
            format!(
                "From the panel “{}” of {}. A rule's rows are its instances: group by what names one \
                 (not by time), and hold one column to a condition.",
                p.title, found.dashboard.title
            )
        }
        Err(err) => {
            rule.sql = p.sql.clone();
            format!(
                "From the panel “{}”: replace its variables ({err}).",
                p.title
            )
        }
    };
    Ok((rule, Some(note)))
}

/// A rule's uid made from its title: lowercase letters, digits and dashes.
fn uid_of(title: &str) -> String {
    let mut uid = String::new();
    for c in title.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            uid.push(c);
        } else if !uid.ends_with('-') && !uid.is_empty() {
            uid.push('-');
        }
    }
    uid.trim_end_matches('-').chars().take(40).collect()
}

fn labels_text(labels: &BTreeMap<String, String>) -> String {
    labels.iter().map(|(k, v)| format!("{k}={v}\n")).collect()
}

/// `name=value` lines as labels; a line without `=` is refused with its number.
fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .ok_or_else(|| format!("labels, line {}: write name=value", n + 1))?;
        labels.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(labels)
}

#[component]
fn Editor(rule: Rule, note: Option<String>, points: Vec<ContactPoint>) -> impl IntoView {
    let is_new = rule.version == 0;
    let draft = RwSignal::new(rule);
    // The SQL the preview runs: the editor's, once the user stops typing in it (leaves it).
    let preview_sql = RwSignal::new(draft.with_untracked(|r| r.sql.clone()));
    let labels = RwSignal::new(draft.with_untracked(|r| labels_text(&r.labels)));
    let threshold = RwSignal::new(draft.with_untracked(|r| {
        r.condition
            .as_ref()
            .map(|c| c.threshold.to_string())
            .unwrap_or_default()
    }));
    let problem = RwSignal::new(None::<protocol::Error>);
    let saving = RwSignal::new(false);
    let navigate = use_navigate();
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));

    // The draft as it would be saved: labels and threshold parsed.
    let built = move || -> Result<Rule, protocol::Error> {
        let mut rule = draft.get_untracked();
        let bad = |message: String, at: &str| {
            protocol::Error::new(protocol::ErrorKind::BadRequest, message).at(at.to_owned())
        };
        rule.labels = parse_labels(&labels.get_untracked()).map_err(|m| bad(m, "/labels"))?;
        if let Some(condition) = &mut rule.condition {
            condition.threshold = threshold
                .get_untracked()
                .trim()
                .parse()
                .map_err(|_| bad("the threshold is a number".into(), "/condition/threshold"))?;
        }
        if rule.uid.is_empty() {
            rule.uid = uid_of(&rule.title);
        }
        rule.annotations.retain(|_, v| !v.is_empty());
        Ok(rule)
    };
    let save = move |_| {
        let rule = match built() {
            Ok(rule) => rule,
            Err(error) => return problem.set(Some(error)),
        };
        saving.set(true);
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match save_alert_rule(rule).await {
                Ok(saved) => navigate(&format!("/alerts/{}", saved.uid), Default::default()),
                Err(error) => {
                    saving.set(false);
                    problem.set(Some(error.0));
                }
            }
        });
    };

    let text = move |get: fn(&Rule) -> String, set: fn(&mut Rule, String)| {
        (
            move || draft.with(get),
            move |ev: leptos::ev::Event| draft.update(|r| set(r, event_target_value(&ev))),
        )
    };
    let (title, set_title) = text(|r| r.title.clone(), |r, v| r.title = v);
    let (for_, set_for) = text(|r| r.pending_for.clone(), |r, v| r.pending_for = v);
    let (keep, set_keep) = text(|r| r.keep_firing_for.clone(), |r, v| r.keep_firing_for = v);
    let (severity, set_severity) = text(
        |r| r.severity.clone().unwrap_or_default(),
        |r, v| r.severity = (!v.is_empty()).then_some(v),
    );
    let (column, set_column) = text(
        |r| {
            r.condition
                .as_ref()
                .map(|c| c.column.clone())
                .unwrap_or_default()
        },
        |r, v| {
            if let Some(c) = &mut r.condition {
                c.column = v;
            }
        },
    );
    let has_condition = move || draft.with(|r| r.condition.is_some());
    let toggle_condition = move |ev: leptos::ev::Event| {
        let on = event_target_checked(&ev);
        draft.update(|r| {
            r.condition = on.then(|| Condition {
                column: String::new(),
                op: CompareOp::Gt,
                threshold: 0.0,
            });
        });
    };
    let condition_now = Signal::derive(move || {
        draft.with(|r| r.condition.clone()).map(|mut c| {
            c.threshold = threshold.get().trim().parse().unwrap_or(f64::NAN);
            c
        })
    });
    let ops = [
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
        CompareOp::Eq,
        CompareOp::Ne,
    ];
    let error_at = move |at: &'static str| {
        move || {
            problem.with(|p| {
                p.as_ref()
                    .and_then(|p| p.pointer.as_deref())
                    .is_some_and(|p| p.starts_with(at))
            })
        }
    };
    let cancel = if is_new {
        "/alerts".to_owned()
    } else {
        format!("/alerts/{}", draft.with_untracked(|r| r.uid.clone()))
    };
    view! {
        <div class="page-head">
            <h1><a class="crumb" href="/alerts">"Alerts"</a> " / " {if is_new { "New rule" } else { "Edit rule" }}</h1>
            <div class="actions">
                <a class="button" href=cancel>"Cancel"</a>
                <button class="button primary" on:click=save disabled=move || saving.get() data-test="save-rule">"Save rule"</button>
            </div>
        </div>
        {note.map(|n| view! { <p class="note">{n}</p> })}
        {move || problem.get().map(|error| view! { <ErrorMessage error/> })}
        <div class="rule-editor" data-test="rule-form" data-hydrated=move || hydrated.get().to_string()>
            <div class="rule-form">
                <label class="field" class:invalid=error_at("/title")>"Title"
                    <input type="text" prop:value=title on:input=set_title data-test="rule-title"/>
                </label>
                <label class="field" class:invalid=error_at("/sql")>"Query: one row per instance, its group-by columns name it"
                    <textarea rows="6" class="code" prop:value=move || draft.with(|r| r.sql.clone())
                        on:input=move |ev| draft.update(|r| r.sql = event_target_value(&ev))
                        on:change=move |ev| preview_sql.set(event_target_value(&ev))
                        data-test="rule-sql"></textarea>
                </label>
                <div class="field-row" class:invalid=error_at("/condition")>
                    <label class="check"><input type="checkbox" prop:checked=has_condition on:change=toggle_condition data-test="rule-has-condition"/>"Condition"</label>
                    {move || if has_condition() {
                        view! {
                            <input type="text" placeholder="column" prop:value=column on:input=set_column data-test="rule-column"/>
                            <select prop:value=move || draft.with(|r| r.condition.as_ref().map(|c| c.op.as_str()).unwrap_or(">").to_owned())
                                on:change=move |ev| {
                                    let op = event_target_value(&ev);
                                    draft.update(|r| if let (Some(c), Some(op)) = (&mut r.condition, ops.into_iter().find(|o| o.as_str() == op)) { c.op = op });
                                }>
                                {ops.map(|o| view! { <option value=o.as_str()>{o.as_str()}</option> }).collect_view()}
                            </select>
                            <input type="text" class="narrow" placeholder="threshold" bind:value=threshold data-test="rule-threshold"/>
                        }.into_any()
                    } else {
                        view! { <span class="muted">"Without one, every row the query returns is alerting (HAVING can say when)."</span> }.into_any()
                    }}
                </div>
                <div class="field-row">
                    <label class="field" class:invalid=error_at("/for")>"Pending for"
                        <input type="text" class="narrow" prop:value=for_ on:input=set_for data-test="rule-for"/></label>
                    <label class="field" class:invalid=error_at("/keep_firing_for")>"Keep firing for"
                        <input type="text" class="narrow" prop:value=keep on:input=set_keep/></label>
                    <label class="field">"No data"
                        <select on:change=move |ev| {
                            let v = event_target_value(&ev);
                            draft.update(|r| r.no_data = serde_json::from_value(serde_json::Value::String(v)).unwrap_or_default());
                        }>
                            {[NoDataPolicy::NoData, NoDataPolicy::Alerting, NoDataPolicy::Ok, NoDataPolicy::KeepLast].map(|p| {
                                let name = serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                                view! { <option value=name.clone() selected=move || draft.with(|r| r.no_data == p)>{name.clone()}</option> }
                            }).collect_view()}
                        </select></label>
                    <label class="field">"On error"
                        <select on:change=move |ev| {
                            let v = event_target_value(&ev);
                            draft.update(|r| r.on_error = serde_json::from_value(serde_json::Value::String(v)).unwrap_or_default());
                        }>
                            {[ErrorPolicy::Error, ErrorPolicy::Alerting, ErrorPolicy::Ok, ErrorPolicy::KeepLast].map(|p| {
                                let name = serde_json::to_value(p).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
                                view! { <option value=name.clone() selected=move || draft.with(|r| r.on_error == p)>{name.clone()}</option> }
                            }).collect_view()}
                        </select></label>
                    <label class="field">"Severity"
                        <input type="text" class="narrow" placeholder="critical" prop:value=severity on:input=set_severity/></label>
                </div>
                <label class="field" class:invalid=error_at("/labels")>"Labels: name=value, one per line"
                    <textarea rows="2" class="code" bind:value=labels></textarea></label>
                {ANNOTATIONS.map(|(key, placeholder)| view! {
                    <label class="field" class:invalid=error_at("/annotations")>{key}
                        <input type="text" placeholder=placeholder
                            prop:value=move || draft.with(|r| r.annotations.get(key).cloned().unwrap_or_default())
                            on:input=move |ev| draft.update(|r| { r.annotations.insert(key.to_owned(), event_target_value(&ev)); })/>
                    </label>
                }).collect_view()}
                <fieldset class="field" class:invalid=error_at("/contact_points")>
                    <legend>"Contact points (none: the notification policy routes)"</legend>
                    {if points.is_empty() {
                        view! { <span class="muted">"No contact points yet: POST one to /api/v1/alerts/contact-points."</span> }.into_any()
                    } else {
                        points.into_iter().map(|p| {
                            let uid = p.uid.clone();
                            let checked = {
                                let uid = uid.clone();
                                move || draft.with(|r| r.contact_points.contains(&uid))
                            };
                            view! {
                                <label class="check">
                                    <input type="checkbox" prop:checked=checked on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        let uid = uid.clone();
                                        draft.update(|r| {
                                            r.contact_points.retain(|c| *c != uid);
                                            if on { r.contact_points.push(uid); }
                                        });
                                    }/>
                                    {p.name}
                                </label>
                            }
                        }).collect_view().into_any()
                    }}
                </fieldset>
                <label class="check"><input type="checkbox" prop:checked=move || draft.with(|r| r.paused)
                    on:change=move |ev| draft.update(|r| r.paused = event_target_checked(&ev))/>"Paused"</label>
            </div>
            <div class="rule-side">
                <h2>"Now" <button class="button small" on:click=move |_| preview_sql.set(draft.get_untracked().sql) data-test="preview">"Run"</button></h2>
                {move || {
                    let sql = preview_sql.get();
                    view! { <Preview sql condition=condition_now/> }
                }}
                <Backtesting rule=Signal::derive(move || { draft.track(); labels.track(); threshold.track(); built() })/>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_is_made_from_the_title() {
        assert_eq!(uid_of("Checkout errors!"), "checkout-errors");
        assert_eq!(uid_of("  p99 > 250 ms  "), "p99-250-ms");
        assert_eq!(uid_of("Ünïcode"), "n-code");
    }

    #[test]
    fn labels_read_one_per_line_and_a_bad_line_is_named() {
        let labels = parse_labels("team = shop\n\nenv=prod\n").unwrap();
        assert_eq!(labels_text(&labels), "env=prod\nteam=shop\n");
        assert_eq!(
            parse_labels("a=1\nteam").unwrap_err(),
            "labels, line 2: write name=value"
        );
    }
}
