//! Alerting: rules kept live by the incremental engine, their instances' states, and
//! notifications (docs/alerts.md).
//!
//! Each rule that is not paused runs as a task ([`rule`]) subscribed to its query on the
//! engine: a change of the result moves the instances it touches ([`eval`], [`machine`]) within
//! the engine's flush, with no polling; the clock moves them only for `for` and
//! `keep_firing_for`. Transitions are saved in the metadata database, appended to the stream
//! `_alerts` ([`history`]) and handed to the notifier ([`notify`]), which groups, silences,
//! deduplicates and sends. Documents are checked by [`check`].

mod backtest;
pub(crate) mod check;
pub(crate) mod eval;
pub(crate) mod history;
pub(crate) mod machine;
mod matchers;
pub(crate) mod notify;
pub(crate) mod provision;
mod rule;
mod settings;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

pub(crate) use protocol::alert::RuleSummary;
use protocol::alert::{ContactPoint, Instance, Policy, Problem, Rule, Silence, State};
use serde::Serialize;
use serde_json::Value;
use storage::{Store, now_micros};
use tokio_util::sync::CancellationToken;

use self::eval::RuleEval;
use self::machine::Machine;
use self::notify::{Notifier, Retry, Routing, Sender};
use self::rule::{Status, lock, record};
pub(crate) use self::settings::redact;
use self::settings::silence_times;
use crate::engine::Engine;
use crate::meta::{self, Kind, Meta};
use crate::query::QueryService;

/// Resolved instances are kept this long after they resolve (their notification sent, or given
/// up on), then forgotten.
const KEEP_RESOLVED_MICROS: i64 = 3_600_000_000;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("invalid {what}{}: {}", at(&.problem.pointer), .problem.message)]
    Invalid {
        what: &'static str,
        problem: Problem,
    },
    /// Deleting it would leave something pointing at nothing.
    #[error("{0}")]
    InUse(String),
    #[error("`{key}` is provisioned from {file}: change the file instead")]
    Provisioned { key: String, file: String },
    #[error(transparent)]
    Meta(#[from] meta::Error),
}

fn at(pointer: &str) -> String {
    if pointer.is_empty() {
        String::new()
    } else {
        format!(" at {pointer}")
    }
}

fn invalid(what: &'static str) -> impl Fn(Problem) -> Error {
    move |problem| Error::Invalid { what, problem }
}

/// What a test notification came to, per contact point.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TestOutcome {
    pub(crate) contact_point: String,
    pub(crate) delivered: bool,
}

struct Running {
    eval: Arc<Mutex<RuleEval>>,
    status: Arc<Mutex<Status>>,
    stop: Option<(CancellationToken, tokio::task::JoinHandle<()>)>,
}

pub(crate) struct Inner {
    pub(crate) meta: Meta,
    pub(crate) engine: Engine,
    queries: QueryService,
    pub(crate) notifier: Notifier,
    pub(crate) history: history::History,
    rules: Mutex<BTreeMap<String, Running>>,
    /// Changes of documents one at a time: a rule's task is stopped and started in order.
    edits: tokio::sync::Mutex<()>,
    external_url: String,
    stopping: CancellationToken,
}

/// Alerting, as handlers share it.
#[derive(Clone)]
pub(crate) struct Alerts {
    inner: Arc<Inner>,
}

impl Alerts {
    /// Loads the documents and saved states, and starts every rule that is not paused.
    pub(crate) async fn start(
        meta: Meta,
        engine: Engine,
        queries: QueryService,
        store: Arc<Store>,
        external_url: String,
        stopping: CancellationToken,
    ) -> Result<(Alerts, tokio::task::JoinHandle<()>), meta::Error> {
        let (history, history_task) = history::History::start(store, stopping.clone());
        let routing = Arc::new(std::sync::RwLock::new(Arc::new(Routing::default())));
        let sender = Sender::new(Retry::default(), history.clone());
        let notifier = Notifier::start(
            meta.clone(),
            routing,
            sender,
            external_url.clone(),
            stopping.clone(),
        )
        .await?;
        let alerts = Alerts {
            inner: Arc::new(Inner {
                meta: meta.clone(),
                engine,
                queries,
                notifier,
                history,
                rules: Mutex::new(BTreeMap::new()),
                edits: tokio::sync::Mutex::new(()),
                external_url,
                stopping: stopping.clone(),
            }),
        };
        alerts.reload_routing().await?;
        meta.forget_instances(now_micros() - KEEP_RESOLVED_MICROS)
            .await?;
        let mut saved: HashMap<String, Vec<meta::InstanceRecord>> = HashMap::new();
        for record in meta.instances().await? {
            saved
                .entry(record.rule_uid.clone())
                .or_default()
                .push(record);
        }
        for stored in meta.documents::<Rule>(Kind::Rule).await? {
            let rule = Arc::new(stored.document);
            let mut eval = RuleEval::new(Arc::clone(&rule));
            for record in saved.remove(&rule.uid).unwrap_or_default() {
                let Some(state) = State::parse(&record.state) else {
                    continue;
                };
                let machine = Machine {
                    state,
                    since: record.since,
                    fired_at: record.fired_at.filter(|_| state.is_active()),
                    reason: record.reason.clone(),
                };
                // Resolved ones the notifier may still owe a "resolved" for.
                let alert = protocol::alert::Transition {
                    rule_uid: rule.uid.clone(),
                    title: rule.title.clone(),
                    fingerprint: record.fingerprint.clone(),
                    labels: record.labels.clone(),
                    from: if state.is_active() {
                        State::Normal
                    } else {
                        State::Firing
                    },
                    to: state,
                    value: record.value,
                    reason: record.reason.clone(),
                    time: record.since,
                    fired_at: record.fired_at,
                };
                if let Some(alert) = rule::alert_of(&rule, &alert)
                    && record.fired_at.is_some()
                {
                    alerts.inner.notifier.alert(alert);
                }
                if state != State::Normal {
                    eval.restore(record.labels, machine, record.value);
                }
            }
            alerts.run(rule, eval);
        }
        tokio::spawn(forget_resolved(meta, stopping));
        Ok((alerts, history_task))
    }

    /// Starts (or, paused, only lists) a rule.
    fn run(&self, rule: Arc<Rule>, eval: RuleEval) {
        let eval = Arc::new(Mutex::new(eval));
        let status = Arc::new(Mutex::new(Status::default()));
        let stop = (!rule.paused).then(|| {
            let token = self.inner.stopping.child_token();
            let task = tokio::spawn(rule::run(
                Arc::clone(&self.inner),
                Arc::clone(&eval),
                Arc::clone(&status),
                token.clone(),
            ));
            (token, task)
        });
        lock(&self.inner.rules).insert(rule.uid.clone(), Running { eval, status, stop });
    }

    /// Stops a rule's task; its instances resolve with `reason` when `resolve`. Returns them.
    async fn halt(&self, uid: &str, resolve: Option<&str>) -> Option<Arc<Mutex<RuleEval>>> {
        let running = lock(&self.inner.rules).remove(uid)?;
        if let Some((token, task)) = running.stop {
            token.cancel();
            let _ = task.await;
        }
        if let Some(reason) = resolve {
            let moved = lock(&running.eval).resolve_all(reason, now_micros());
            record(&self.inner, &running.eval, moved).await;
        }
        Some(running.eval)
    }

    async fn reload_routing(&self) -> Result<(), meta::Error> {
        let meta = &self.inner.meta;
        let policy = match meta
            .document::<Policy>(Kind::Policy, settings::POLICY)
            .await
        {
            Ok(stored) => stored.document,
            Err(meta::Error::NotFound { .. }) => Policy::default(),
            Err(err) => return Err(err),
        };
        let points: BTreeMap<String, ContactPoint> = meta
            .documents::<ContactPoint>(Kind::ContactPoint)
            .await?
            .into_iter()
            .map(|s| (s.document.uid.clone(), s.document))
            .collect();
        let mut silences = Vec::new();
        for stored in meta.documents::<Silence>(Kind::Silence).await? {
            let (start, end) = silence_times(&stored.document).unwrap_or((0, 0));
            match matchers::Active::new(&stored.document, start, end) {
                Ok(active) => silences.push(active),
                Err(err) => tracing::warn!(id = %stored.document.id, %err, "a silence is skipped"),
            }
        }
        match Routing::new(policy, points, silences) {
            Ok(routing) => self.inner.notifier.set_routing(routing),
            Err(err) => tracing::warn!(%err, "the notification policy does not compile"),
        }
        Ok(())
    }

    // Rules.

    pub(crate) async fn rules(&self) -> Result<Vec<RuleSummary>, Error> {
        let stored = self.inner.meta.documents::<Rule>(Kind::Rule).await?;
        let rules = lock(&self.inner.rules);
        Ok(stored
            .into_iter()
            .map(|s| {
                let (status, counts) = status_of(rules.get(&s.document.uid));
                RuleSummary {
                    rule: s.document,
                    status,
                    counts,
                    updated_at: s.updated_at,
                    provisioned: (!s.source.is_empty()).then_some(s.source),
                }
            })
            .collect())
    }

    pub(crate) async fn rule(&self, uid: &str) -> Result<RuleSummary, Error> {
        let stored = self.inner.meta.document::<Rule>(Kind::Rule, uid).await?;
        let rules = lock(&self.inner.rules);
        let (status, counts) = status_of(rules.get(uid));
        Ok(RuleSummary {
            rule: stored.document,
            status,
            counts,
            updated_at: stored.updated_at,
            provisioned: (!stored.source.is_empty()).then_some(stored.source),
        })
    }

    /// A rule as a document says it, checked: schema, model, SQL, contact points.
    pub(crate) async fn check_rule(&self, document: &Value) -> Result<Rule, Error> {
        let rule = check::rule_document(document).map_err(invalid("alert rule"))?;
        check::rule_sql(&rule, &self.inner.queries)
            .await
            .map_err(invalid("alert rule"))?;
        let points = self
            .inner
            .meta
            .documents::<ContactPoint>(Kind::ContactPoint)
            .await?;
        for (i, uid) in rule.contact_points.iter().enumerate() {
            if !points.iter().any(|p| p.document.uid == *uid) {
                return Err(Error::Invalid {
                    what: "alert rule",
                    problem: Problem {
                        pointer: format!("/contact_points/{i}"),
                        message: format!("no contact point `{uid}`"),
                    },
                });
            }
        }
        Ok(rule)
    }

    pub(crate) async fn create_rule(&self, document: &Value) -> Result<Rule, Error> {
        let _edit = self.inner.edits.lock().await;
        let rule = self.check_rule(document).await?;
        self.put_rule(rule, 0, String::new()).await
    }

    /// Saves a new version over `rule.version`; the rule restarts with its instances' states.
    pub(crate) async fn update_rule(&self, uid: &str, document: &Value) -> Result<Rule, Error> {
        let _edit = self.inner.edits.lock().await;
        let rule = self.check_rule(document).await?;
        if rule.uid != uid {
            return Err(Error::Invalid {
                what: "alert rule",
                problem: Problem {
                    pointer: "/uid".to_owned(),
                    message: format!(
                        "the document's uid `{}` is not the path's `{uid}`",
                        rule.uid
                    ),
                },
            });
        }
        self.not_provisioned::<Rule>(Kind::Rule, uid).await?;
        let expected = rule.version;
        self.put_rule(rule, expected, String::new()).await
    }

    /// Saves a checked rule (new when `expected` is 0) and (re)starts it, its instances kept.
    async fn put_rule(&self, mut rule: Rule, expected: u64, source: String) -> Result<Rule, Error> {
        let uid = rule.uid.clone();
        let version = self
            .inner
            .meta
            .save_document(
                Kind::Rule,
                &uid,
                expected,
                (rule.clone(), source),
                stamp_rule,
            )
            .await?;
        rule.version = version;
        let rule = Arc::new(rule);
        let resolve = rule.paused.then_some("the rule is paused");
        let old = self.halt(&uid, resolve).await;
        let mut eval = RuleEval::new(Arc::clone(&rule));
        if let Some(old) = old {
            for t in lock(&old).instances.values() {
                eval.restore(t.labels.clone(), t.machine.clone(), t.value);
            }
        }
        self.run(Arc::clone(&rule), eval);
        Ok((*rule).clone())
    }

    /// Deletes a rule; its firing instances resolve (and are notified so).
    pub(crate) async fn delete_rule(&self, uid: &str) -> Result<(), Error> {
        let _edit = self.inner.edits.lock().await;
        self.not_provisioned::<Rule>(Kind::Rule, uid).await?;
        self.remove_rule(uid).await
    }

    async fn remove_rule(&self, uid: &str) -> Result<(), Error> {
        self.halt(uid, Some("the rule was deleted")).await;
        self.inner.meta.delete_document(Kind::Rule, uid).await?;
        Ok(())
    }

    /// The stored document of `key`, unless it is provisioned from a file (then it changes with
    /// the file only).
    async fn not_provisioned<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        kind: Kind,
        key: &str,
    ) -> Result<meta::Stored<T>, Error> {
        let stored = self.inner.meta.document::<T>(kind, key).await?;
        if stored.source.is_empty() {
            Ok(stored)
        } else {
            Err(Error::Provisioned {
                key: key.to_owned(),
                file: stored.source,
            })
        }
    }

    /// Every instance (of one rule, when given), with the silences muting it.
    /// What alerting did since the server started.
    pub(crate) fn activity(&self) -> Arc<history::Activity> {
        Arc::clone(self.inner.history.activity())
    }

    pub(crate) fn instances(&self, rule_uid: Option<&str>) -> Vec<Instance> {
        let routing = self.inner.notifier.routing();
        let now = now_micros();
        let rules = lock(&self.inner.rules);
        let mut snapshots = Vec::new();
        let mut list = Vec::new();
        for (uid, running) in rules.iter() {
            if rule_uid.is_some_and(|r| r != uid) {
                continue;
            }
            snapshots.push(lock(&running.eval).snapshot());
        }
        drop(rules);
        // Rendered outside the rules' locks: their tasks go on meanwhile.
        for (rule, instances) in snapshots {
            for mut instance in eval::render(&rule, instances) {
                instance.silenced_by = routing.silenced_by(&instance.labels, now);
                list.push(instance);
            }
        }
        list
    }

    /// Sends a firing test alert of the rule to where its alerts go.
    pub(crate) async fn test_rule(&self, uid: &str) -> Result<Vec<TestOutcome>, Error> {
        let rule = self
            .inner
            .meta
            .document::<Rule>(Kind::Rule, uid)
            .await?
            .document;
        let eval = RuleEval::new(Arc::new(rule.clone()));
        let labels = eval.base_labels().clone();
        let now = now_micros();
        let mut annotations = eval::annotations(&rule, &labels, None);
        annotations.insert("weir_test".to_owned(), "a test notification".to_owned());
        let alert = notify::Alert {
            fingerprint: protocol::alert::fingerprint(&labels),
            rule_uid: rule.uid.clone(),
            labels,
            annotations,
            starts_at: now,
            ends_at: None,
            contact_points: rule.contact_points.clone(),
            panel: rule.panel.clone(),
        };
        let routing = self.inner.notifier.routing();
        let mut outcomes = Vec::new();
        for receiver in routing.receivers(&alert) {
            let Some(point) = routing.contact_points.get(&receiver) else {
                continue;
            };
            let delivered = self
                .inner
                .notifier
                .send_now(point, vec![alert.clone()], &self.inner.external_url)
                .await;
            outcomes.push(TestOutcome {
                contact_point: receiver,
                delivered,
            });
        }
        Ok(outcomes)
    }

    /// Replays a rule (saved or not) over `[from, to]` of its stream's history:
    /// `{"rule": {...}, "from": "now-6h", "to": "now"}`.
    pub(crate) async fn backtest(
        &self,
        request: &Value,
    ) -> Result<protocol::alert::Backtest, Error> {
        let field = |name: &str| {
            request
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
        };
        let (from, to) = (field("from"), field("to"));
        let range = protocol::dashboard::TimeRange::parse(
            if from.is_empty() { "now-6h" } else { from },
            if to.is_empty() { "now" } else { to },
        )
        .map_err(|err| Error::Invalid {
            what: "backtest",
            problem: Problem {
                pointer: "/from".to_owned(),
                message: err.to_string(),
            },
        })?;
        let (from, to) = range.resolve(now_micros());
        let mut document = request.get("rule").cloned().unwrap_or(Value::Null);
        if let Some(rule) = document.as_object_mut() {
            rule.entry("uid").or_insert_with(|| Value::from("backtest"));
        }
        let rule = self.check_rule(&document).await.map_err(|err| match err {
            Error::Invalid { problem, .. } => Error::Invalid {
                what: "backtest",
                problem: Problem {
                    pointer: format!("/rule{}", problem.pointer),
                    message: problem.message,
                },
            },
            other => other,
        })?;
        backtest::run(
            Arc::new(rule),
            from,
            to,
            &self.inner.queries,
            self.inner.engine.settings(),
        )
        .await
    }
}

/// How a rule runs and its instances by state (a rule not running: none).
fn status_of(running: Option<&Running>) -> (Status, BTreeMap<State, usize>) {
    let Some(running) = running else {
        return (Status::default(), BTreeMap::new());
    };
    let mut counts = BTreeMap::new();
    for t in lock(&running.eval).instances.values() {
        *counts.entry(t.machine.state).or_insert(0) += 1;
    }
    (lock(&running.status).clone(), counts)
}

fn stamp_rule(rule: &mut Rule, version: u64) {
    rule.version = version;
}

/// Forgets resolved instances an hour after they resolved.
async fn forget_resolved(meta: Meta, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep(std::time::Duration::from_secs(600)) => {}
        }
        if let Err(err) = meta
            .forget_instances(now_micros() - KEEP_RESOLVED_MICROS)
            .await
        {
            tracing::warn!(%err, "resolved alert instances not forgotten");
        }
    }
}
