//! The alerts page: every rule with its instances by state (and whether the engine keeps it live
//! or re-queries it), and the instances that are not Normal, with their reason and since when.
//! (The rule editor, silences and history come next: issue 12's point 8.)

use leptos::prelude::*;
use leptos_meta::Title;

use protocol::alert::{Instance, RuleSummary, State};
use protocol::live::Mode;

use super::ErrorMessage;
use crate::api::{list_alert_instances, list_alert_rules};

#[component]
pub(crate) fn AlertsPage() -> impl IntoView {
    let rules = Resource::new(|| (), |()| list_alert_rules());
    let instances = Resource::new(|| (), |()| list_alert_instances(None));
    view! {
        <Title text="Alerts · Weir"/>
        <section class="page">
            <div class="page-head">
                <h1>"Alerts"</h1>
            </div>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match (rules.await, instances.await) {
                        (Err(error), _) | (_, Err(error)) => {
                            view! { <ErrorMessage error=error.0/> }.into_any()
                        }
                        (Ok(rules), Ok(instances)) => {
                            view! { <Rules rules/> <Instances instances/> }.into_any()
                        }
                    }
                })}
            </Suspense>
        </section>
    }
}

/// The CSS class of a state's badge.
fn state_class(state: State) -> &'static str {
    match state {
        State::Normal => "state normal",
        State::Pending => "state pending",
        State::Firing | State::Recovering => "state firing",
        State::NoData | State::Error => "state trouble",
    }
}

#[component]
fn Rules(rules: Vec<RuleSummary>) -> impl IntoView {
    if rules.is_empty() {
        return view! {
            <div class="empty">
                <p>"No alert rules yet. POST one to " <code>"/api/v1/alerts/rules"</code>
                " or keep them as files with " <code>"weir serve --alerts DIR"</code>
                " (docs/alerts.md)."</p>
            </div>
        }
        .into_any();
    }
    view! {
        <table class="list" data-test="alert-rules">
            <thead><tr><th>"Rule"</th><th>"Instances"</th><th>"Kept"</th><th class="num">"Version"</th></tr></thead>
            <tbody>
                {rules.into_iter().map(|r| {
                    let counts = State::ALL
                        .into_iter()
                        .filter_map(|s| r.counts.get(&s).map(|n| (s, *n)))
                        .filter(|(_, n)| *n > 0)
                        .map(|(s, n)| view! { <span class=state_class(s)>{format!("{n} {s}")}</span> })
                        .collect_view();
                    let kept = match (&r.rule.paused, &r.status.error, &r.status.mode) {
                        (true, _, _) => "paused".to_owned(),
                        (_, Some(error), _) => format!("error: {error}"),
                        (_, _, Some(Mode::Requery { interval_ms, .. })) => {
                            format!("re-queried every {} s", interval_ms / 1000)
                        }
                        (_, _, Some(Mode::Incremental)) => "live".to_owned(),
                        (_, _, None) => "starting".to_owned(),
                    };
                    view! {
                        <tr data-test=format!("rule-{}", r.rule.uid)>
                            <td>
                                <strong>{r.rule.title}</strong>
                                {r.provisioned.map(|file| view! { <span class="badge" title=file>"provisioned"</span> })}
                                <div class="muted"><code>{r.rule.sql}</code></div>
                            </td>
                            <td>{counts}</td>
                            <td class="muted">{kept}</td>
                            <td class="num muted">{r.rule.version}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}

#[component]
fn Instances(instances: Vec<Instance>) -> impl IntoView {
    let active: Vec<Instance> = instances
        .into_iter()
        .filter(|i| i.state != State::Normal)
        .collect();
    if active.is_empty() {
        return view! { <p class="muted" data-test="alert-instances">"Nothing is pending or firing."</p> }
            .into_any();
    }
    view! {
        <h2>"Pending and firing"</h2>
        <table class="list" data-test="alert-instances">
            <thead><tr><th>"State"</th><th>"Rule"</th><th>"Labels"</th><th>"Reason"</th><th>"Since"</th></tr></thead>
            <tbody>
                {active.into_iter().map(|i| {
                    let labels = i
                        .labels
                        .iter()
                        .filter(|(k, _)| k.as_str() != "alertname")
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ");
                    let since = protocol::dashboard::time::rfc3339(i.since);
                    let silenced = (!i.silenced_by.is_empty()).then(|| view! { <span class="badge">"silenced"</span> });
                    view! {
                        <tr>
                            <td><span class=state_class(i.state)>{i.state.as_str()}</span> {silenced}</td>
                            <td>{i.title}</td>
                            <td><code>{labels}</code></td>
                            <td class="muted">{i.reason}</td>
                            <td class="muted">{since}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
    .into_any()
}
