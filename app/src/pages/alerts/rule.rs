//! One rule: what it asks and how it runs, its instances now (silenced in one click), and the
//! history of their states from the `_alerts` stream (of one instance with `?instance=`).

use crate::session::IfRole;
use protocol::auth::Role;
use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_params_map, use_query_map};

use protocol::alert::{Instance, RuleSummary, Transition};

use super::{Instances, kept, label_chips, state_class, ticker};
use crate::api::{alert_history, delete_alert_rule, list_alert_instances, load_alert_rule};
use crate::pages::ErrorMessage;

#[component]
pub(crate) fn RulePage() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let uid = Memo::new(move |_| params.read().get("uid").unwrap_or_default());
    let instance = Memo::new(move |_| query.read().get("instance"));
    let tick = ticker();
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let rule = Resource::new(
        move || (uid.get(), tick.get()),
        |(uid, _)| load_alert_rule(uid),
    );
    let instances = Resource::new(
        move || (uid.get(), tick.get()),
        |(uid, _)| list_alert_instances(Some(uid)),
    );
    let history = Resource::new(
        move || (uid.get(), instance.get(), tick.get()),
        |(uid, instance, _)| alert_history(uid, instance),
    );
    view! {
        <Title text="Alert rule · Weir"/>
        <section class="page" data-test="alert-rule" data-hydrated=move || hydrated.get().to_string()>
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match (rule.await, instances.await) {
                        (Err(error), _) | (_, Err(error)) => view! { <ErrorMessage error=error.0/> }.into_any(),
                        (Ok(rule), Ok(list)) => {
                            let refresh = move || instances.refetch();
                            view! {
                                <Head rule=rule.clone()/>
                                <Summary rule/>
                                <h2>"Instances"</h2>
                                <Instances instances=list show_rule=false refresh/>
                            }.into_any()
                        }
                    }
                })}
            </Transition>
            <Transition fallback=|| ()>
                {move || Suspend::new(async move {
                    let labels: BTreeMap<String, BTreeMap<String, String>> = instances
                        .await
                        .map(|list| list.into_iter().map(|i: Instance| (i.fingerprint, i.labels)).collect())
                        .unwrap_or_default();
                    match history.await {
                        Err(error) => view! { <ErrorMessage error=error.0/> }.into_any(),
                        Ok(list) => view! { <History list labels instance=instance.get() uid=uid.get()/> }.into_any(),
                    }
                })}
            </Transition>
        </section>
    }
}

#[component]
fn Head(rule: RuleSummary) -> impl IntoView {
    let uid = rule.rule.uid.clone();
    let edit = format!("/alerts/{uid}/edit");
    let failed = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let delete = move |_| {
        let confirmed = web_confirm("Delete this rule? Its firing instances resolve.");
        if !confirmed {
            return;
        }
        let uid = uid.clone();
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            match delete_alert_rule(uid).await {
                Ok(()) => navigate("/alerts", Default::default()),
                Err(error) => failed.set(Some(error.to_string())),
            }
        });
    };
    let read_only = rule.provisioned.is_some();
    view! {
        <div class="page-head">
            <h1>
                <a class="crumb" href="/alerts">"Alerts"</a> " / " {rule.rule.title.clone()}
                {rule.rule.paused.then(|| view! { <span class="badge">"paused"</span> })}
            </h1>
            <div class="actions">
                {rule.provisioned.map(|file| view! { <span class="badge" title=file>"provisioned: read-only"</span> })}
                {(!read_only).then(|| view! {
                    <IfRole role=Role::Editor>
                        <button class="button danger" on:click=delete.clone() data-test="delete-rule">"Delete"</button>
                        <a class="button primary" href=edit.clone() data-test="edit-rule">"Edit"</a>
                    </IfRole>
                })}
            </div>
        </div>
        {move || failed.get().map(|message| view! { <p class="error">{message}</p> })}
    }
}

fn web_confirm(message: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        web_sys::window()
            .and_then(|w| w.confirm_with_message(message).ok())
            .unwrap_or(false)
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = message;
        false
    }
}

/// The rule at a glance: its query and condition, timing, where it notifies, how it runs.
#[component]
fn Summary(rule: RuleSummary) -> impl IntoView {
    let r = &rule.rule;
    let condition = match &r.condition {
        Some(c) => format!("{} {} {}", c.column, c.op.as_str(), c.threshold),
        None => "every row returned is alerting".to_owned(),
    };
    let points = if r.contact_points.is_empty() {
        "the notification policy".to_owned()
    } else {
        r.contact_points.join(", ")
    };
    view! {
        <div class="rule-summary">
            <pre class="sql">{r.sql.clone()}</pre>
            <dl>
                <dt>"Condition"</dt><dd>{condition}</dd>
                <dt>"Pending for"</dt><dd>{r.pending_for.clone()}</dd>
                <dt>"Keep firing for"</dt><dd>{r.keep_firing_for.clone()}</dd>
                <dt>"No data / error"</dt><dd>{format!("{:?} / {:?}", r.no_data, r.on_error)}</dd>
                <dt>"Notifies"</dt><dd>{points}</dd>
                <dt>"Kept"</dt><dd data-test="kept">{kept(&rule)}</dd>
                <dt>"Labels"</dt><dd>{label_chips(&r.labels)}{r.severity.clone().map(|s| view! { <span class="label">{format!("severity={s}")}</span> })}
                    {(r.labels.is_empty() && r.severity.is_none()).then_some("none")}</dd>
            </dl>
        </div>
    }
}

/// `2026-11-30 20:08:51 UTC`.
fn utc(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The latest transitions, newest first.
#[component]
fn History(
    list: Vec<Transition>,
    labels: BTreeMap<String, BTreeMap<String, String>>,
    instance: Option<String>,
    uid: String,
) -> impl IntoView {
    let heading = match &instance {
        Some(fp) => {
            let all = format!("/alerts/{uid}");
            let chips = labels.get(fp).map(label_chips);
            view! { <h2>"History of " {chips} " " <a class="small" href=all>"(all instances)"</a></h2> }.into_any()
        }
        None => view! { <h2>"History"</h2> }.into_any(),
    };
    if list.is_empty() {
        return view! { {heading} <p class="empty" data-test="alert-history">"No state changes recorded yet."</p> }.into_any();
    }
    view! {
        {heading}
        <table class="list" data-test="alert-history">
            <thead><tr><th>"Time"</th><th>"Instance"</th><th>"Change"</th><th class="num">"Value"</th><th>"Reason"</th></tr></thead>
            <tbody>
                {list.into_iter().map(|t| {
                    let who = match labels.get(&t.fingerprint) {
                        Some(l) => label_chips(l).into_any(),
                        None => view! { <code class="muted">{t.fingerprint.clone()}</code> }.into_any(),
                    };
                    let value = t.value.map(super::value_text).unwrap_or_default();
                    view! {
                        <tr data-test="transition">
                            <td class="muted">{utc(t.time)}</td>
                            <td>{who}</td>
                            <td>
                                <span class=state_class(t.from)>{t.from.as_str()}</span>
                                " → "
                                <span class=state_class(t.to)>{t.to.as_str()}</span>
                            </td>
                            <td class="num">{value}</td>
                            <td class="muted">{t.reason}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
