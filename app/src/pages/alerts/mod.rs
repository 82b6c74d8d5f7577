//! The alerts pages: the rules with their instances by state, the instances that are not Normal
//! (silenced in one click), the silences ([`AlertsPage`], one tab each); one rule with its
//! instances and their history ([`rule`]); the rule editor with a live preview and a backtest
//! ([`editor`]).

pub(crate) mod editor;
mod preview;
pub(crate) mod rule;
mod silences;

use crate::session::IfRole;
use protocol::auth::Role;
use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};

use protocol::alert::{Instance, MatchOp, Matcher, RuleSummary, Silence, State};
use protocol::live::Mode;

use super::ErrorMessage;
use super::dashboard::now_micros;
use super::dashboards::encode;
use crate::api::{create_silence, list_alert_instances, list_alert_rules};
use crate::viz;

/// How often the alerts pages read the states again.
const REFRESH_MS: u64 = 2_000;

/// A counter that goes up every [`REFRESH_MS`] in the browser: resources that read it refresh.
pub(crate) fn ticker() -> ReadSignal<u64> {
    let (tick, set_tick) = signal(0u64);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || set_tick.update(|t| *t += 1),
            std::time::Duration::from_millis(REFRESH_MS),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    tick
}

#[component]
pub(crate) fn AlertsPage() -> impl IntoView {
    let query = use_query_map();
    let tab = Memo::new(move |_| query.read().get("view").unwrap_or_else(|| "rules".into()));
    let search = Memo::new(move |_| query.read().get("search").unwrap_or_default());
    let state = Memo::new(move |_| query.read().get("state").and_then(|s| State::parse(&s)));
    let tick = ticker();
    let hydrated = RwSignal::new(false);
    Effect::new(move |_| hydrated.set(true));
    let rules = Resource::new(move || tick.get(), |_| list_alert_rules());
    let instances = Resource::new(move || tick.get(), |_| list_alert_instances(None));
    let navigate = use_navigate();
    // The URL keeps the tab and the filters: a reload or a shared link shows the same list.
    let go = move |tab: String, search: String, state: Option<State>| {
        let mut url = format!("/alerts?view={tab}");
        if !search.is_empty() {
            url += &format!("&search={}", encode(&search));
        }
        if let Some(state) = state {
            url += &format!("&state={state}");
        }
        navigate(&url, Default::default());
    };
    let go_search = go.clone();
    let go_state = go.clone();
    let tab_link = move |name: &'static str, label: &'static str| {
        view! {
            <a href=format!("/alerts?view={name}") class="tab" class:active=move || tab.get() == name
                data-test=format!("tab-{name}")>{label}</a>
        }
    };
    view! {
        <Title text="Alerts · Weir"/>
        <section class="page" data-test="alerts" data-hydrated=move || hydrated.get().to_string()>
            <div class="page-head">
                <h1>"Alerts"</h1>
                <div class="actions">
                    <input class="search" type="search" placeholder="Search rules and labels"
                        data-test="alert-search" prop:value=move || search.get()
                        on:change=move |ev| go_search(tab.get_untracked(), event_target_value(&ev), state.get_untracked())/>
                    <select data-test="alert-state" prop:value=move || state.get().map(|s| s.to_string()).unwrap_or_default()
                        on:change=move |ev| go_state(tab.get_untracked(), search.get_untracked(), State::parse(&event_target_value(&ev)))>
                        <option value="">"Any state"</option>
                        {State::ALL.map(|s| view! { <option value=s.as_str()>{s.as_str()}</option> }).collect_view()}
                    </select>
                    <IfRole role=Role::Editor>
                        <a class="button primary" href="/alerts/new" data-test="new-rule">"New alert rule"</a>
                    </IfRole>
                </div>
            </div>
            <nav class="tabs">
                {tab_link("rules", "Rules")}
                {tab_link("instances", "Instances")}
                {tab_link("silences", "Silences")}
            </nav>
            {move || match tab.get().as_str() {
                "silences" => view! { <silences::Silences/> }.into_any(),
                "instances" => view! {
                    <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                        {move || Suspend::new(async move {
                            match instances.await {
                                Err(error) => view! { <ErrorMessage error=error.0/> }.into_any(),
                                Ok(list) => {
                                    let list = filter_instances(list, &search.get(), state.get());
                                    view! { <Instances instances=list show_rule=true refresh=move || instances.refetch()/> }.into_any()
                                }
                            }
                        })}
                    </Transition>
                }.into_any(),
                _ => view! {
                    <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                        {move || Suspend::new(async move {
                            match rules.await {
                                Err(error) => view! { <ErrorMessage error=error.0/> }.into_any(),
                                Ok(list) => {
                                    let filtered = !search.get().is_empty() || state.get().is_some();
                                    let list = filter_rules(list, &search.get(), state.get());
                                    view! { <Rules rules=list filtered/> }.into_any()
                                }
                            }
                        })}
                    </Transition>
                }.into_any(),
            }}
        </section>
    }
}

/// The rules whose title, uid, SQL or labels contain `search`, with an instance in `state`.
fn filter_rules(rules: Vec<RuleSummary>, search: &str, state: Option<State>) -> Vec<RuleSummary> {
    let search = search.to_lowercase();
    rules
        .into_iter()
        .filter(|r| {
            let rule = &r.rule;
            search.is_empty()
                || [&rule.title, &rule.uid, &rule.sql]
                    .into_iter()
                    .chain(rule.labels.values())
                    .any(|t| t.to_lowercase().contains(&search))
        })
        .filter(|r| state.is_none_or(|s| r.counts.get(&s).is_some_and(|n| *n > 0)))
        .collect()
}

/// The instances in `state` (not Normal, without one) whose rule or labels contain `search`.
fn filter_instances(list: Vec<Instance>, search: &str, state: Option<State>) -> Vec<Instance> {
    let search = search.to_lowercase();
    list.into_iter()
        .filter(|i| match state {
            Some(s) => i.state == s,
            None => i.state != State::Normal,
        })
        .filter(|i| {
            search.is_empty()
                || i.title.to_lowercase().contains(&search)
                || i.labels
                    .iter()
                    .any(|(k, v)| format!("{k}={v}").to_lowercase().contains(&search))
        })
        .collect()
}

/// The CSS class of a state's badge.
pub(crate) fn state_class(state: State) -> &'static str {
    match state {
        State::Normal => "state normal",
        State::Pending => "state pending",
        State::Firing | State::Recovering => "state firing",
        State::NoData | State::Error => "state trouble",
    }
}

/// An instance's labels as `name=value` chips (its rule's name left out: the page says it).
pub(crate) fn label_chips(labels: &BTreeMap<String, String>) -> impl IntoView + use<> {
    labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| view! { <span class="label">{format!("{k}={v}")}</span> })
        .collect_view()
}

/// The labels every one of `sets` has with the same value (none for fewer than two sets): a
/// list says them once above, not on every row.
pub(crate) fn common_labels<'a>(
    mut sets: impl Iterator<Item = &'a BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let Some(first) = sets.next() else {
        return BTreeMap::new();
    };
    let mut common = first.clone();
    let mut more = false;
    for set in sets {
        more = true;
        common.retain(|k, v| set.get(k) == Some(v));
    }
    if more { common } else { BTreeMap::new() }
}

/// `labels` without those in `common`.
pub(crate) fn distinct(
    labels: &BTreeMap<String, String>,
    common: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    labels
        .iter()
        .filter(|(k, _)| !common.contains_key(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// A value as alert reasons write it: four significant digits.
pub(crate) fn value_text(value: f64) -> String {
    protocol::alert::template::significant(value, 4)
}

/// How long ago `micros` was, kept current.
pub(crate) fn ago(micros: i64) -> impl Fn() -> String {
    move || format!("{} ago", viz::age((now_micros() - micros).max(0)))
}

#[component]
fn Rules(rules: Vec<RuleSummary>, filtered: bool) -> impl IntoView {
    if rules.is_empty() {
        return if filtered {
            view! { <p class="empty">"No rule matches these filters."</p> }.into_any()
        } else {
            view! {
                <div class="empty">
                    <p>"No alert rules yet. Make one with " <a href="/alerts/new">"New alert rule"</a>
                    " or from a dashboard panel's " <strong>"Alert"</strong> " button, POST one to "
                    <code>"/api/v1/alerts/rules"</code> ", or keep them as files with "
                    <code>"weir serve --alerts DIR"</code> " (docs/alerts.md)."</p>
                </div>
            }
            .into_any()
        };
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
                        .map(|(s, n)| view! { <span class=state_class(s) data-test=format!("count-{s}")>{format!("{n} {s}")}</span> })
                        .collect_view();
                    let kept = kept(&r);
                    let condition = r.rule.condition.as_ref().map(|c| format!(" · {} {} {}", c.column, c.op.as_str(), c.threshold));
                    view! {
                        <tr data-test=format!("rule-{}", r.rule.uid)>
                            <td>
                                <a href=format!("/alerts/{}", r.rule.uid)><strong>{r.rule.title}</strong></a>
                                {r.rule.severity.map(|s| view! { <span class="badge">{s}</span> })}
                                {r.provisioned.map(|file| view! { <span class="badge" title=file>"provisioned"</span> })}
                                <div class="muted small">"for " {r.rule.pending_for} {condition}</div>
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

/// How the engine keeps a rule: live, re-queried every so often, paused, or failing.
pub(crate) fn kept(r: &RuleSummary) -> String {
    match (&r.rule.paused, &r.status.error, &r.status.mode) {
        (true, _, _) => "paused".to_owned(),
        (_, Some(error), _) => format!("error: {error}"),
        (_, _, Some(Mode::Requery { interval_ms, .. })) => {
            format!("re-queried every {} s", interval_ms / 1000)
        }
        (_, _, Some(Mode::Incremental)) => "live, event by event".to_owned(),
        (_, _, None) => "starting".to_owned(),
    }
}

/// A silence of exactly `labels`, from now for two hours (Grafana's default).
pub(crate) async fn silence_labels(labels: BTreeMap<String, String>) -> Result<Silence, String> {
    let silence = Silence {
        id: String::new(),
        matchers: labels
            .into_iter()
            .map(|(name, value)| Matcher {
                name,
                op: MatchOp::Equal,
                value,
            })
            .collect(),
        starts_at: None,
        ends_at: protocol::dashboard::time::rfc3339(now_micros() + 2 * 3_600_000_000),
        comment: "Silenced from the alerts page".to_owned(),
        created_by: "web".to_owned(),
    };
    create_silence(silence).await.map_err(|e| e.to_string())
}

/// Instances with their state, labels, value, reason and since when; each can be silenced.
#[component]
pub(crate) fn Instances(
    instances: Vec<Instance>,
    /// Whether to name each one's rule (the rule page does not).
    show_rule: bool,
    /// Called once a silence is made.
    refresh: impl Fn() + Clone + Send + Sync + 'static,
) -> impl IntoView {
    if instances.is_empty() {
        return view! { <p class="empty" data-test="alert-instances">"No instance is in this state."</p> }
            .into_any();
    }
    // The loudest first, the longest in their state first among equals; a page of them.
    let mut instances = instances;
    instances.sort_by_key(|i| (loudness(i.state), i.since));
    let more = instances.len().saturating_sub(MAX_ROWS);
    instances.truncate(MAX_ROWS);
    let common = common_labels(instances.iter().map(|i| &i.labels));
    let failed = RwSignal::new(None::<String>);
    let shared = (common.keys().any(|k| k != "alertname")).then(|| {
        view! {
            <p class="small muted">"Every instance has " {label_chips(&common)}</p>
        }
    });
    view! {
        {move || failed.get().map(|message| view! { <p class="error">{message}</p> })}
        {shared}
        <table class="list" data-test="alert-instances">
            <thead><tr>
                <th>"State"</th>
                {show_rule.then(|| view! { <th>"Rule"</th> })}
                <th>"Labels"</th><th class="num">"Value"</th><th>"Reason"</th><th>"Since"</th><th></th>
            </tr></thead>
            <tbody>
                {instances.into_iter().map(|i| {
                    let silenced = !i.silenced_by.is_empty();
                    let labels = i.labels.clone();
                    let refresh = refresh.clone();
                    let silence = move |_| {
                        let labels = labels.clone();
                        let refresh = refresh.clone();
                        leptos::task::spawn_local(async move {
                            match silence_labels(labels).await {
                                Ok(_) => refresh(),
                                Err(message) => failed.set(Some(message)),
                            }
                        });
                    };
                    let history = format!("/alerts/{}?instance={}", i.rule_uid, i.fingerprint);
                    let value = i.value.map(value_text).unwrap_or_default();
                    view! {
                        <tr data-test=format!("instance-{}", i.fingerprint) data-state=i.state.as_str()>
                            <td>
                                <span class=state_class(i.state)>{i.state.as_str()}</span>
                                {silenced.then(|| view! { <span class="badge" data-test="silenced">"silenced"</span> })}
                            </td>
                            {show_rule.then(|| view! { <td><a href=format!("/alerts/{}", i.rule_uid)>{i.title.clone()}</a></td> })}
                            <td>{label_chips(&distinct(&i.labels, &common))}</td>
                            <td class="num">{value}</td>
                            <td class="muted">{i.reason}</td>
                            <td class="muted" title=protocol::dashboard::time::rfc3339(i.since)>{ago(i.since)}</td>
                            <td class="row-actions">
                                <a href=history>"History"</a>
                                {(!silenced && i.state != State::Normal).then(|| view! {
                                    <button class="button small" data-test="silence" on:click=silence>"Silence"</button>
                                })}
                            </td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
        {(more > 0).then(|| view! { <p class="muted small">{format!("and {more} more: filter by state or label to see them")}</p> })}
    }
    .into_any()
}

/// The most instance rows a table shows.
const MAX_ROWS: usize = 200;

/// The order of states in a list: what needs a look first.
fn loudness(state: State) -> u8 {
    match state {
        State::Firing => 0,
        State::Recovering => 1,
        State::Error => 2,
        State::NoData => 3,
        State::Pending => 4,
        State::Normal => 5,
    }
}
