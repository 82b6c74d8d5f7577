//! What the rule editor shows of a rule before it is saved: each instance's value now, kept live
//! on the live socket, against the threshold ([`Preview`]); and the transitions the rule would
//! have made over past hours as a timeline per instance ([`Backtesting`]).

use std::collections::BTreeMap;

use leptos::prelude::*;

use protocol::QueryResult;
use protocol::alert::{Backtest, Condition, Rule, State, Transition};

use super::{common_labels, distinct, label_chips, value_text};
use crate::api::backtest_alert_rule;
use crate::pages::dashboard::browser_offset;
use crate::pages::{ErrorMessage, live_query};
use crate::viz::{self, draw};

const GREEN: &str = "#73bf69";
const RED: &str = "#f2495c";

/// The instances of `result`: a name from its text columns and the value of the condition's
/// column (else the last numeric one).
fn instances(
    result: &QueryResult,
    condition: Option<&Condition>,
) -> Result<Vec<(String, f64)>, String> {
    if result.rows.is_empty() {
        return Ok(Vec::new());
    }
    let numeric = |i: usize| {
        result
            .rows
            .iter()
            .all(|r| r[i].is_null() || viz::number(&r[i]).is_some())
    };
    let value = match condition {
        Some(c) if !c.column.is_empty() => result.column(&c.column).ok_or_else(|| {
            let names: Vec<&str> = result.columns.iter().map(|c| c.name.as_str()).collect();
            format!(
                "no column `{}` in the result: it has {}",
                c.column,
                names.join(", ")
            )
        })?,
        _ => (0..result.columns.len())
            .rev()
            .find(|&i| numeric(i))
            .ok_or("the result has no numeric column")?,
    };
    Ok(result
        .rows
        .iter()
        .map(|row| {
            let name: Vec<String> = row
                .iter()
                .enumerate()
                .filter(|(i, v)| *i != value && v.is_string())
                .map(|(i, v)| format!("{}={}", result.columns[i].name, viz::text(v)))
                .collect();
            let name = if name.is_empty() {
                "(the rule)".to_owned()
            } else {
                name.join(", ")
            };
            (name, viz::number(&row[value]).unwrap_or(f64::NAN))
        })
        .collect())
}

/// The rule's query kept live: one bar per instance, red where the condition holds, and the
/// threshold as a line.
#[component]
pub(crate) fn Preview(sql: String, condition: Signal<Option<Condition>>) -> impl IntoView {
    let live = live_query(sql);
    view! {
        <div class="rule-preview" data-test="rule-preview">
            <Suspense fallback=|| view! { <p class="muted">"Running…"</p> }>
                {move || live.result.get().map(|result| match result {
                    Err(error) => view! { <ErrorMessage error/> }.into_any(),
                    Ok(result) => condition.with(|condition| match instances(&result, condition.as_ref()) {
                        Err(message) => view! { <p class="error" data-test="preview-error">{message}</p> }.into_any(),
                        Ok(bars) if bars.is_empty() => view! {
                            <p class="muted" data-test="preview-empty">"The query returns no rows now: no instance (NoData, with a condition)."</p>
                        }.into_any(),
                        Ok(bars) => {
                            let holds = |v: f64| condition.as_ref().is_none_or(|c| c.holds(v));
                            let alerting = bars.iter().filter(|b| holds(b.1)).count();
                            let height = (bars.len().min(12) as u32 * 30 + 10).max(60);
                            let threshold = condition.as_ref().map(|c| c.threshold);
                            let format = value_text;
                            let color_of = |v: f64| if holds(v) { RED.to_owned() } else { GREEN.to_owned() };
                            let bars: Vec<(String, f64)> = bars.into_iter().take(12).collect();
                            let svg = draw::svg(520, height, |root| {
                                draw::bar_chart(root, &bars, &format, &color_of, threshold).map_err(|e| e.to_string())
                            });
                            view! {
                                <p class="small" data-test="preview-summary">
                                    {match result.rows.len() { 1 => "1 instance, ".to_owned(), n => format!("{n} instances, ") }}
                                    <strong class={if alerting > 0 { "alerting" } else { "" }} data-test="preview-alerting">{alerting}</strong>
                                    " alerting now"
                                </p>
                                <div class="chart" inner_html=svg></div>
                            }.into_any()
                        }
                    }),
                })}
            </Suspense>
            <p class="small muted">{move || live.mode.get().map(|m| match m {
                protocol::live::Mode::Incremental => "Kept live, event by event: the rule runs the same way.".to_owned(),
                protocol::live::Mode::Requery { interval_ms, .. } => format!("Re-queried every {} s: the rule is too.", interval_ms / 1000),
            })}</p>
        </div>
    }
}

/// A range to replay and the timeline of what the rule would have done.
#[component]
pub(crate) fn Backtesting(rule: Signal<Result<Rule, protocol::Error>>) -> impl IntoView {
    let range = RwSignal::new("now-6h".to_owned());
    let outcome = RwSignal::new(None::<Result<Backtest, protocol::Error>>);
    let running = RwSignal::new(false);
    let run = move |_| {
        let rule = match rule.get_untracked() {
            Ok(rule) => rule,
            Err(error) => return outcome.set(Some(Err(error))),
        };
        running.set(true);
        let from = range.get_untracked();
        leptos::task::spawn_local(async move {
            let result = backtest_alert_rule(rule, from, "now".into()).await;
            outcome.set(Some(result.map_err(|e| e.0)));
            running.set(false);
        });
    };
    view! {
        <h2>"Backtest"
            <select bind:value=range class="small">
                <option value="now-1h">"last hour"</option>
                <option value="now-6h">"last 6 hours"</option>
                <option value="now-24h">"last 24 hours"</option>
                <option value="now-7d">"last 7 days"</option>
            </select>
            <button class="button small" on:click=run disabled=move || running.get() data-test="backtest">
                {move || if running.get() { "Replaying…" } else { "Replay" }}
            </button>
        </h2>
        <p class="small muted">"The rule as written, replayed over its stream's history by the same engine and states."</p>
        {move || outcome.get().map(|o| match o {
            Err(error) => view! { <ErrorMessage error/> }.into_any(),
            Ok(backtest) => view! { <Timeline backtest/> }.into_any(),
        })}
    }
}

/// The segments of one instance's states over `[from, to]`, from its transitions in time order.
fn segments(transitions: &[&Transition], from: i64, to: i64) -> Vec<(i64, i64, State)> {
    let mut out = Vec::new();
    let (mut at, mut state) = (from, transitions.first().map_or(State::Normal, |t| t.from));
    for t in transitions {
        if t.time > at {
            out.push((at, t.time, state));
        }
        at = t.time.max(at);
        state = t.to;
    }
    if to > at {
        out.push((at, to, state));
    }
    out
}

#[component]
fn Timeline(backtest: Backtest) -> impl IntoView {
    let Backtest {
        from,
        to,
        events,
        transitions,
    } = backtest;
    let span = (to - from).max(1);
    let mut by_instance: BTreeMap<String, (BTreeMap<String, String>, Vec<&Transition>)> =
        BTreeMap::new();
    for t in &transitions {
        by_instance
            .entry(t.fingerprint.clone())
            .or_insert_with(|| (t.labels.clone(), Vec::new()))
            .1
            .push(t);
    }
    let common = common_labels(by_instance.values().map(|(labels, _)| labels));
    let offset = browser_offset();
    let clock = move |micros: i64| viz::clock(micros as f64 / 1e6, span as f64 / 1e6, offset);
    let fired = transitions
        .iter()
        .filter(|t| t.to == State::Firing && t.from != State::Recovering)
        .count();
    let summary = format!(
        "{events} events replayed: {} transitions, fired {fired} times.",
        transitions.len()
    );
    // Sentences for the firing spans: "fired at 14:02:10 for service=checkout, resolved at 14:09:40".
    let mut sentences = Vec::new();
    for (labels, list) in by_instance.values() {
        let who: Vec<String> = distinct(labels, &common)
            .iter()
            .filter(|(k, _)| *k != "alertname")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let mut fired_at = None;
        for t in list {
            if t.to.is_active() && !t.from.is_active() {
                fired_at = Some(t.time);
            } else if !t.to.is_active() && t.from.is_active() {
                sentences.push(format!(
                    "{} at {} for {}, resolved at {}",
                    if t.from == State::Firing || t.from == State::Recovering {
                        "fired"
                    } else {
                        "was in trouble"
                    },
                    fired_at.map(clock).unwrap_or_else(|| "the start".into()),
                    who.join(", "),
                    clock(t.time)
                ));
                fired_at = None;
            }
        }
        if let Some(at) = fired_at {
            sentences.push(format!(
                "fired at {} for {}, still firing at the end",
                clock(at),
                who.join(", ")
            ));
        }
    }
    let rows = by_instance
        .values()
        .map(|(labels, list)| {
            let bars = segments(list, from, to)
                .into_iter()
                .filter(|s| s.2 != State::Normal)
                .map(|(a, b, state)| {
                    let style = format!(
                        "left: {:.3}%; width: {:.3}%",
                        (a - from) as f64 * 100.0 / span as f64,
                        ((b - a) as f64 * 100.0 / span as f64).max(0.3)
                    );
                    let title = format!("{state} {} – {}", clock(a), clock(b));
                    view! { <div class=format!("seg {}", super::state_class(state)) style=style title=title></div> }
                })
                .collect_view();
            view! {
                <div class="timeline-row">
                    <div class="timeline-name">{label_chips(&distinct(labels, &common))}</div>
                    <div class="timeline-bar">{bars}</div>
                </div>
            }
        })
        .collect_view();
    view! {
        <div class="timeline" data-test="backtest-timeline">
            <p class="small" data-test="backtest-summary">{summary}</p>
            {rows}
            <div class="timeline-axis"><span>{clock(from)}</span><span>{clock(to)}</span></div>
            <ul class="small">{sentences.into_iter().take(20).map(|s| view! { <li data-test="backtest-sentence">{s}</li> }).collect_view()}</ul>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::alert::CompareOp;

    fn result(columns: &[&str], rows: Vec<Vec<serde_json::Value>>) -> QueryResult {
        serde_json::from_value(serde_json::json!({
            "columns": columns.iter().map(|c| serde_json::json!({"name": c, "type": "Utf8"})).collect::<Vec<_>>(),
            "rows": rows,
        }))
        .unwrap()
    }

    #[test]
    fn instances_are_named_by_their_text_columns_and_valued_by_the_condition() {
        let r = result(
            &["service", "requests", "ratio"],
            vec![
                vec!["api".into(), 10.into(), 0.5.into()],
                vec!["web".into(), 4.into(), 0.0.into()],
            ],
        );
        let ratio = Condition {
            column: "ratio".into(),
            op: CompareOp::Gt,
            threshold: 0.1,
        };
        assert_eq!(
            instances(&r, Some(&ratio)).unwrap(),
            vec![
                ("service=api".to_owned(), 0.5),
                ("service=web".to_owned(), 0.0)
            ]
        );
        // Without a condition: the last numeric column.
        assert_eq!(instances(&r, None).unwrap()[0].1, 0.5);
        let missing = Condition {
            column: "errors".into(),
            ..ratio
        };
        assert_eq!(
            instances(&r, Some(&missing)).unwrap_err(),
            "no column `errors` in the result: it has service, requests, ratio"
        );
    }

    fn moved(from: State, to: State, time: i64) -> Transition {
        Transition {
            rule_uid: "r".into(),
            title: "r".into(),
            fingerprint: "f".into(),
            labels: BTreeMap::new(),
            from,
            to,
            value: None,
            reason: String::new(),
            time,
            fired_at: None,
        }
    }

    #[test]
    fn segments_cover_the_range_in_the_states_the_transitions_say() {
        let a = moved(State::Normal, State::Pending, 10);
        let b = moved(State::Pending, State::Firing, 20);
        let c = moved(State::Firing, State::Normal, 50);
        assert_eq!(
            segments(&[&a, &b, &c], 0, 100),
            vec![
                (0, 10, State::Normal),
                (10, 20, State::Pending),
                (20, 50, State::Firing),
                (50, 100, State::Normal)
            ]
        );
        // An instance firing when the range starts.
        let d = moved(State::Firing, State::Normal, 30);
        assert_eq!(
            segments(&[&d], 0, 40),
            vec![(0, 30, State::Firing), (30, 40, State::Normal)]
        );
    }
}
