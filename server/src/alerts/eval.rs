//! One rule's instances, kept from its query's result as it changes: each row is an instance
//! (its group-by columns are its labels), held to the condition, and moved by its [`Machine`].
//! Live rules feed it the engine's changes at the wall clock; backtests feed it a replay of
//! history at the events' clock. Nothing here does I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use protocol::Row;
use protocol::alert::{Instance, Rule, State, Transition, fingerprint, template};
use protocol::live::Shape;
use serde_json::Value;

use super::machine::{Machine, Observation, Step, Timing};

/// The label every instance has: the rule's title, as Prometheus and Grafana name it.
pub(crate) const ALERTNAME: &str = "alertname";

/// An instance as tracked.
#[derive(Debug, Clone)]
pub(crate) struct Tracked {
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) machine: Machine,
    pub(crate) value: Option<f64>,
    /// Whether the current result has a row for it.
    present: bool,
}

/// The instances of one rule.
pub(crate) struct RuleEval {
    rule: Arc<Rule>,
    timing: Timing,
    /// The result's columns, by name; which are labels; which is the value.
    columns: Vec<String>,
    label_columns: Vec<usize>,
    value_column: Option<usize>,
    keyed: bool,
    /// Rows of a keyed result: key text → fingerprint.
    keys: HashMap<String, String>,
    pub(crate) instances: HashMap<String, Tracked>,
    /// The labels every instance has (the rule's, `alertname`, `severity`): the rule-level
    /// instance's, for no data and errors.
    base: BTreeMap<String, String>,
}

impl RuleEval {
    pub(crate) fn new(rule: Arc<Rule>) -> RuleEval {
        let mut base = BTreeMap::new();
        base.insert(ALERTNAME.to_owned(), rule.title.clone());
        if let Some(severity) = &rule.severity {
            base.insert("severity".to_owned(), severity.clone());
        }
        base.extend(rule.labels.clone());
        RuleEval {
            timing: timing(&rule),
            rule,
            columns: Vec::new(),
            label_columns: Vec::new(),
            value_column: None,
            keyed: false,
            keys: HashMap::new(),
            instances: HashMap::new(),
            base,
        }
    }

    pub(crate) fn rule(&self) -> &Arc<Rule> {
        &self.rule
    }

    /// Takes back instances saved before a restart.
    pub(crate) fn restore(
        &mut self,
        labels: BTreeMap<String, String>,
        machine: Machine,
        value: Option<f64>,
    ) {
        self.instances.insert(
            fingerprint(&labels),
            Tracked {
                labels,
                machine,
                value,
                present: false,
            },
        );
    }

    /// The result's shape (on each subscription: a recompiled query may have another). Its key
    /// columns are the labels; without a key, every column but the value is.
    pub(crate) fn set_shape(&mut self, shape: &Shape) {
        self.columns = shape.columns.iter().map(|c| c.name.clone()).collect();
        self.value_column = match &self.rule.condition {
            Some(condition) => self.columns.iter().position(|c| *c == condition.column),
            None => None,
        };
        self.keyed = shape.key.is_some();
        self.label_columns = match &shape.key {
            Some(key) => key.clone(),
            None => (0..self.columns.len())
                .filter(|i| Some(*i) != self.value_column)
                .collect(),
        };
        if self.value_column.is_none() && self.rule.condition.is_none() {
            // Without a condition, the value shown is the first numeric column not a label.
            self.value_column =
                shape.columns.iter().enumerate().position(|(i, c)| {
                    !self.label_columns.contains(&i) && is_numeric(&c.data_type)
                });
        }
        self.keys.clear();
    }

    fn row_labels(&self, row: &Row) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        for &i in &self.label_columns {
            let value = match row.get(i) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            labels.insert(self.columns[i].clone(), value);
        }
        // The rule's own labels win, as in Prometheus.
        labels.extend(self.base.clone());
        labels
    }

    fn row_value(&self, row: &Row) -> Option<f64> {
        row.get(self.value_column?)?.as_f64()
    }

    fn observation(&self, value: Option<f64>) -> Observation {
        match (&self.rule.condition, value) {
            (None, _) => Observation::Alerting,
            (Some(_), None) => Observation::NoData,
            (Some(c), Some(v)) if c.holds(v) => Observation::Alerting,
            (Some(_), Some(_)) => Observation::Normal,
        }
    }

    /// Rows changed (a keyed result's delta): upserted rows and the keys of removed ones.
    pub(crate) fn apply_delta(
        &mut self,
        upserts: &[Row],
        deletes: &[Row],
        shape: &Shape,
        now: i64,
    ) -> Vec<Transition> {
        let mut out = Vec::new();
        for key in deletes {
            if let Some(fp) = self.keys.remove(&Shape::key_text(key)) {
                self.gone(&fp, now, &mut out);
            }
        }
        for row in upserts {
            self.upsert(row, Some(key_text(shape, row)), now, &mut out);
        }
        self.after_result(now, &mut out);
        out
    }

    /// The whole result.
    pub(crate) fn replace(&mut self, rows: &[Row], shape: &Shape, now: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        let mut present = std::collections::HashSet::new();
        self.keys.clear();
        for row in rows {
            let key = self.keyed.then(|| key_text(shape, row));
            present.insert(self.upsert(row, key, now, &mut out));
        }
        let gone: Vec<String> = self
            .instances
            .iter()
            .filter(|(fp, t)| t.present && !present.contains(*fp))
            .map(|(fp, _)| fp.clone())
            .collect();
        for fp in gone {
            self.gone(&fp, now, &mut out);
        }
        // Instances restored from disk that the result does not have are gone too.
        let stale: Vec<String> = self
            .instances
            .iter()
            .filter(|(fp, t)| {
                !t.present && !present.contains(*fp) && **fp != self.base_fingerprint()
            })
            .map(|(fp, _)| fp.clone())
            .collect();
        for fp in stale {
            self.gone(&fp, now, &mut out);
        }
        self.after_result(now, &mut out);
        out
    }

    /// The query failed: the rule-level instance takes the error (as the rule's policy says).
    pub(crate) fn error(&mut self, reason: &str, now: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        let fp = self.base_fingerprint();
        let labels = self.base.clone();
        let reason = format!("the query failed: {reason}");
        self.observe(
            &fp,
            Some(labels),
            None,
            Observation::Error(reason.clone()),
            Why::Text(&reason),
            now,
            &mut out,
        );
        self.forget_if_done(&fp);
        out
    }

    /// Moves instances whose deadline has come.
    pub(crate) fn tick(&mut self, now: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        let timing = self.timing;
        let mut fps = Vec::new();
        for (fp, tracked) in &mut self.instances {
            if let Some(step) = tracked.machine.tick(now, &timing) {
                out.push(transition(&self.rule, fp, tracked, step));
                fps.push(fp.clone());
            }
        }
        for fp in fps {
            self.forget_if_done(&fp);
        }
        // The same ticks give the same order, whatever the map's.
        out.sort_by(|a, b| (a.time, &a.fingerprint).cmp(&(b.time, &b.fingerprint)));
        out
    }

    /// Every instance back to Normal at once (the rule is paused or deleted).
    pub(crate) fn resolve_all(&mut self, reason: &str, now: i64) -> Vec<Transition> {
        let mut out = Vec::new();
        for (fp, tracked) in &mut self.instances {
            if tracked.machine.state != State::Normal {
                let step = tracked.machine.force(State::Normal, now, reason);
                out.push(transition(&self.rule, fp, tracked, step));
            }
        }
        self.instances.clear();
        out
    }

    /// The labels every instance has.
    pub(crate) fn base_labels(&self) -> &BTreeMap<String, String> {
        &self.base
    }

    /// The next time the clock alone moves an instance.
    pub(crate) fn deadline(&self) -> Option<i64> {
        self.instances
            .values()
            .filter_map(|t| t.machine.deadline(&self.timing))
            .min()
    }

    fn base_fingerprint(&self) -> String {
        fingerprint(&self.base)
    }

    /// A row of the result: its instance observed (found by the row's key when it has one,
    /// without building its labels again). Returns the instance's fingerprint.
    fn upsert(
        &mut self,
        row: &Row,
        key: Option<String>,
        now: i64,
        out: &mut Vec<Transition>,
    ) -> String {
        let known = key
            .as_ref()
            .and_then(|k| self.keys.get(k))
            .filter(|fp| self.instances.contains_key(*fp))
            .cloned();
        let was_known = known.is_some();
        let (fp, labels) = match known {
            Some(fp) => (fp, None),
            None => {
                let labels = self.row_labels(row);
                (fingerprint(&labels), Some(labels))
            }
        };
        let value = self.row_value(row);
        let observation = self.observation(value);
        self.observe(
            &fp,
            labels,
            value,
            observation,
            Why::Condition(value),
            now,
            out,
        );
        if let Some(t) = self.instances.get_mut(&fp) {
            t.present = true;
        }
        if let Some(key) = key
            && !was_known
        {
            self.keys.insert(key, fp.clone());
        }
        fp
    }

    fn gone(&mut self, fp: &str, now: i64, out: &mut Vec<Transition>) {
        let Some(tracked) = self.instances.get_mut(fp) else {
            return;
        };
        tracked.present = false;
        let value = tracked.value;
        let why = Why::Text("its row left the result");
        self.observe(fp, None, value, Observation::Normal, why, now, out);
        self.forget_if_done(fp);
    }

    /// After a result: without rows (and with a condition), the rule has no data; with rows, a
    /// rule-level instance that is no row's is back to normal.
    fn after_result(&mut self, now: i64, out: &mut Vec<Transition>) {
        let fp = self.base_fingerprint();
        let base = self.instances.get(&fp);
        if base.is_some_and(|t| t.present) {
            return;
        }
        let troubled =
            base.is_some_and(|t| matches!(t.machine.state, State::NoData | State::Error));
        if self.rule.condition.is_none() && !troubled {
            return;
        }
        let any_row = self.instances.values().any(|t| t.present);
        if !any_row && self.rule.condition.is_some() {
            let labels = Some(self.base.clone());
            let why = Why::Text("the query returned no rows");
            self.observe(&fp, labels, None, Observation::NoData, why, now, out);
        } else if troubled {
            let why = Why::Text("the query returns rows again");
            self.observe(&fp, None, None, Observation::Normal, why, now, out);
        }
        self.forget_if_done(&fp);
    }

    /// Observes instance `fp` (made with `labels` if new).
    #[allow(clippy::too_many_arguments)]
    fn observe(
        &mut self,
        fp: &str,
        labels: Option<BTreeMap<String, String>>,
        value: Option<f64>,
        observation: Observation,
        why: Why<'_>,
        now: i64,
        out: &mut Vec<Transition>,
    ) {
        let timing = self.timing;
        let rule = &self.rule;
        let tracked = match self.instances.get_mut(fp) {
            Some(tracked) => tracked,
            None => self
                .instances
                .entry(fp.to_owned())
                .or_insert_with(|| Tracked {
                    labels: labels.unwrap_or_default(),
                    machine: Machine::new(now),
                    value,
                    present: false,
                }),
        };
        tracked.value = value;
        // The reason is written only when the instance moves.
        let reason = || match why {
            Why::Text(text) => text.to_owned(),
            Why::Condition(value) => condition_reason(rule, value),
        };
        let steps = tracked.machine.observe(observation, &reason, now, &timing);
        if steps.is_empty() && tracked.machine.reason.is_empty() {
            // A new Normal instance says why it is Normal, once.
            tracked.machine.reason = reason();
        }
        for step in steps {
            out.push(transition(rule, fp, tracked, step));
        }
    }

    /// A Normal instance without a row is not worth keeping.
    fn forget_if_done(&mut self, fp: &str) {
        if self
            .instances
            .get(fp)
            .is_some_and(|t| !t.present && t.machine.state == State::Normal)
        {
            self.instances.remove(fp);
        }
    }

    /// Every instance, as the API lists them.
    #[cfg(test)]
    pub(crate) fn list(&self) -> Vec<Instance> {
        let (rule, instances) = self.snapshot();
        render(&rule, instances)
    }

    /// The rule and a copy of its instances: cheap under the rule's lock, rendered after.
    pub(crate) fn snapshot(&self) -> (Arc<Rule>, Vec<(String, Tracked)>) {
        let instances = self
            .instances
            .iter()
            .map(|(fp, t)| (fp.clone(), t.clone()))
            .collect();
        (Arc::clone(&self.rule), instances)
    }
}

/// Instances as listed (by labels), their annotations rendered, each template parsed once.
pub(crate) fn render(rule: &Rule, instances: Vec<(String, Tracked)>) -> Vec<Instance> {
    let templates: Vec<(&String, Result<template::Template, String>)> = rule
        .annotations
        .iter()
        .map(|(k, v)| {
            (
                k,
                template::Template::parse(v).map_err(|e| format!("<{e}>")),
            )
        })
        .collect();
    let mut list: Vec<Instance> = instances
        .into_iter()
        .map(|(fp, t)| {
            let data = template::Data {
                labels: &t.labels,
                value: t.value,
            };
            let annotations = templates
                .iter()
                .map(|(k, parsed)| {
                    let text = match parsed {
                        Ok(template) => template.render(data),
                        Err(error) => error.clone(),
                    };
                    ((*k).clone(), text)
                })
                .collect();
            Instance {
                rule_uid: rule.uid.clone(),
                title: rule.title.clone(),
                fingerprint: fp,
                annotations,
                state: t.machine.state,
                reason: t.machine.reason,
                since: t.machine.since,
                active_at: t.machine.fired_at,
                value: t.value,
                labels: t.labels,
                silenced_by: Vec::new(),
            }
        })
        .collect();
    list.sort_by(|a, b| a.labels.cmp(&b.labels));
    list
}

/// A row's key as [`Shape::key_text`] writes it, without copying the values.
fn key_text(shape: &Shape, row: &Row) -> String {
    let text = match &shape.key {
        Some(key) => {
            let values: Vec<&Value> = key
                .iter()
                .map(|&i| row.get(i).unwrap_or(&Value::Null))
                .collect();
            serde_json::to_string(&values)
        }
        None => serde_json::to_string(row),
    };
    text.expect("JSON values always serialize")
}

/// Why an instance is observed as it is.
#[derive(Clone, Copy)]
enum Why<'a> {
    Text(&'a str),
    /// The condition (or its absence) on this value.
    Condition(Option<f64>),
}

fn condition_reason(rule: &Rule, value: Option<f64>) -> String {
    match (&rule.condition, value) {
        (None, _) => "the query returned this row".to_owned(),
        (Some(c), None) => format!("{} has no value", c.column),
        (Some(c), Some(v)) if c.holds(v) => {
            format!(
                "{} = {} {} {}",
                c.column,
                show(v),
                c.op.as_str(),
                show(c.threshold)
            )
        }
        (Some(c), Some(v)) => format!(
            "{} = {}, not {} {}",
            c.column,
            show(v),
            c.op.as_str(),
            show(c.threshold)
        ),
    }
}

/// The rule's annotations, rendered for one instance.
pub(crate) fn annotations(
    rule: &Rule,
    labels: &BTreeMap<String, String>,
    value: Option<f64>,
) -> BTreeMap<String, String> {
    let data = template::Data { labels, value };
    rule.annotations
        .iter()
        .map(|(k, v)| (k.clone(), template::render(v, data)))
        .collect()
}

fn transition(rule: &Rule, fp: &str, tracked: &Tracked, step: Step) -> Transition {
    Transition {
        rule_uid: rule.uid.clone(),
        title: rule.title.clone(),
        fingerprint: fp.to_owned(),
        labels: tracked.labels.clone(),
        from: step.from,
        to: step.to,
        value: tracked.value,
        reason: step.reason,
        time: step.time,
        fired_at: step.fired_at,
    }
}

pub(crate) fn timing(rule: &Rule) -> Timing {
    Timing {
        pending: rule.pending_micros(),
        keep_firing: rule.keep_firing_micros(),
        no_data: rule.no_data,
        on_error: rule.on_error,
    }
}

fn is_numeric(data_type: &str) -> bool {
    data_type.starts_with("Int")
        || data_type.starts_with("UInt")
        || data_type.starts_with("Float")
        || data_type.starts_with("Decimal")
}

/// A number as a person reads it: at most 4 significant digits.
fn show(v: f64) -> String {
    template::significant(v, 4)
}

#[cfg(test)]
mod tests;
