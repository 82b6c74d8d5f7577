//! Notifications, as Alertmanager makes them: each alert is routed (the policy's tree, or the
//! rule's own contact points) into groups by `group_by` labels; a group is flushed `group_wait`
//! after its first alert and every `group_interval` after; a flush sends its receiver the
//! group's alerts when they changed since the last notification, or `repeat_interval` passed
//! (the notification log says what was sent, and is saved: a restart does not notify twice).
//! Silences and mute time windows hold notifications back. Each send runs on its own task, so
//! a slow receiver delays nobody else.

mod deliver;
pub(crate) mod payload;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{Datelike, Timelike};
use protocol::alert::{ContactPoint, PanelRef, Policy, Route, Target, parse_duration};
use storage::now_micros;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(crate) use deliver::{Retry, Sender};
use payload::Notification;

use super::matchers::{self, Active, Compiled};
use crate::meta::{LogEntry, Meta};

/// An alert as notifications tell it: one instance that fires or fired.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Alert {
    pub(crate) fingerprint: String,
    pub(crate) rule_uid: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) annotations: BTreeMap<String, String>,
    pub(crate) starts_at: i64,
    /// When it resolved; `None` while it fires.
    pub(crate) ends_at: Option<i64>,
    /// The rule's own contact points (empty: the policy routes it).
    pub(crate) contact_points: Vec<String>,
    pub(crate) panel: Option<PanelRef>,
}

/// What notifications are configured with: the policy, contact points, silences.
#[derive(Debug, Default)]
pub(crate) struct Routing {
    pub(crate) policy: Policy,
    pub(crate) contact_points: BTreeMap<String, ContactPoint>,
    pub(crate) silences: Vec<Active>,
    routes: Vec<CompiledRoute>,
    root: Options,
}

/// A route's settings, its parent's filled in.
#[derive(Debug, Clone, Default, PartialEq)]
struct Options {
    receiver: Option<String>,
    group_by: Vec<String>,
    group_wait: i64,
    group_interval: i64,
    repeat_interval: i64,
    mute: Vec<String>,
}

#[derive(Debug)]
struct CompiledRoute {
    matchers: Vec<Compiled>,
    options: Options,
    continue_matching: bool,
    routes: Vec<CompiledRoute>,
}

fn micros(text: &str) -> i64 {
    parse_duration(text).unwrap_or(0)
}

fn compile_routes(routes: &[Route], parent: &Options) -> Result<Vec<CompiledRoute>, String> {
    routes
        .iter()
        .map(|r| {
            let options = Options {
                receiver: r.receiver.clone().or_else(|| parent.receiver.clone()),
                group_by: r
                    .group_by
                    .clone()
                    .unwrap_or_else(|| parent.group_by.clone()),
                group_wait: r.group_wait.as_deref().map_or(parent.group_wait, micros),
                group_interval: r
                    .group_interval
                    .as_deref()
                    .map_or(parent.group_interval, micros),
                repeat_interval: r
                    .repeat_interval
                    .as_deref()
                    .map_or(parent.repeat_interval, micros),
                mute: r.mute_time_intervals.clone(),
            };
            Ok(CompiledRoute {
                matchers: matchers::compile(&r.matchers).map_err(|(_, e)| e)?,
                routes: compile_routes(&r.routes, &options)?,
                options,
                continue_matching: r.continue_matching,
            })
        })
        .collect()
}

impl Routing {
    pub(crate) fn new(
        policy: Policy,
        contact_points: BTreeMap<String, ContactPoint>,
        silences: Vec<Active>,
    ) -> Result<Routing, String> {
        let root = Options {
            receiver: policy.receiver.clone(),
            group_by: policy.group_by.clone(),
            group_wait: micros(&policy.group_wait),
            group_interval: micros(&policy.group_interval),
            repeat_interval: micros(&policy.repeat_interval),
            mute: Vec::new(),
        };
        Ok(Routing {
            routes: compile_routes(&policy.routes, &root)?,
            root,
            policy,
            contact_points,
            silences,
        })
    }

    /// The routes an alert takes: `(route id, options)`. A rule's own contact points take it
    /// with the root's timings; else the deepest matching routes of the tree (siblings after a
    /// match only with `continue`), or the root.
    fn route(&self, alert: &Alert) -> Vec<(String, Options)> {
        if !alert.contact_points.is_empty() {
            return alert
                .contact_points
                .iter()
                .map(|cp| {
                    let options = Options {
                        receiver: Some(cp.clone()),
                        ..self.root.clone()
                    };
                    (format!("rule:{}", alert.rule_uid), options)
                })
                .collect();
        }
        let mut found = Vec::new();
        walk(&self.routes, "", &alert.labels, &mut found);
        if found.is_empty() {
            found.push(("root".to_owned(), self.root.clone()));
        }
        found
    }

    /// The contact points an alert goes to.
    pub(crate) fn receivers(&self, alert: &Alert) -> Vec<String> {
        let mut list: Vec<String> = self
            .route(alert)
            .into_iter()
            .filter_map(|(_, o)| o.receiver)
            .collect();
        list.dedup();
        list
    }

    /// The ids of the silences muting `labels` at `now`.
    pub(crate) fn silenced_by(&self, labels: &BTreeMap<String, String>, now: i64) -> Vec<String> {
        self.silences
            .iter()
            .filter(|s| s.mutes(labels, now))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Whether one of `names` (time intervals) holds at `now`.
    fn muted(&self, names: &[String], now: i64) -> bool {
        if names.is_empty() {
            return false;
        }
        let Some(time) = chrono::DateTime::from_timestamp_micros(now) else {
            return false;
        };
        let weekday = time.weekday().num_days_from_monday();
        let minute = time.hour() * 60 + time.minute();
        self.policy
            .time_intervals
            .iter()
            .filter(|t| names.contains(&t.name))
            .any(|t| t.contains(weekday, minute))
    }
}

fn walk(
    routes: &[CompiledRoute],
    path: &str,
    labels: &BTreeMap<String, String>,
    found: &mut Vec<(String, Options)>,
) {
    for (i, route) in routes.iter().enumerate() {
        if !matchers::all_match(&route.matchers, labels) {
            continue;
        }
        let id = format!("{path}/{i}");
        let before = found.len();
        walk(&route.routes, &id, labels, found);
        if found.len() == before {
            found.push((id, route.options.clone()));
        }
        if !route.continue_matching {
            return;
        }
    }
}

/// The labels `group_by` picks (`...`: all of them).
fn group_labels(
    group_by: &[String],
    labels: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    if group_by.iter().any(|g| g == "...") {
        return labels.clone();
    }
    group_by
        .iter()
        .filter_map(|g| labels.get(g).map(|v| (g.clone(), v.clone())))
        .collect()
}

/// The shared, swappable routing.
pub(crate) type SharedRouting = Arc<RwLock<Arc<Routing>>>;

pub(crate) fn current(routing: &SharedRouting) -> Arc<Routing> {
    Arc::clone(&routing.read().unwrap_or_else(|p| p.into_inner()))
}

enum Input {
    Alert(Alert),
    /// A send finished.
    Sent {
        group_key: String,
        receiver: String,
        entry: LogEntry,
        delivered: bool,
    },
}

/// The handle the rules use.
#[derive(Clone)]
pub(crate) struct Notifier {
    input: mpsc::UnboundedSender<Input>,
    routing: SharedRouting,
    sender: Sender,
}

struct Group {
    receiver: String,
    options: Options,
    labels: BTreeMap<String, String>,
    alerts: BTreeSet<String>,
    next_flush: i64,
}

struct Dispatcher {
    routing: SharedRouting,
    alerts: HashMap<String, Alert>,
    groups: BTreeMap<String, Group>,
    log: BTreeMap<(String, String), LogEntry>,
    sending: HashSet<String>,
    meta: Meta,
    sender: Sender,
    external_url: String,
    input: mpsc::UnboundedSender<Input>,
}

impl Notifier {
    /// Starts the dispatcher, with the notification log saved in `meta`.
    pub(crate) async fn start(
        meta: Meta,
        routing: SharedRouting,
        sender: Sender,
        external_url: String,
        stop: CancellationToken,
    ) -> Result<Notifier, crate::meta::Error> {
        let log = meta.notification_log().await?;
        let (input, output) = mpsc::unbounded_channel();
        let dispatcher = Dispatcher {
            routing: Arc::clone(&routing),
            alerts: HashMap::new(),
            groups: BTreeMap::new(),
            log,
            sending: HashSet::new(),
            meta,
            sender: sender.clone(),
            external_url,
            input: input.clone(),
        };
        tokio::spawn(dispatcher.run(output, stop));
        Ok(Notifier {
            input,
            routing,
            sender,
        })
    }

    /// An alert fires, changed, or resolved.
    pub(crate) fn alert(&self, alert: Alert) {
        let _ = self.input.send(Input::Alert(alert));
    }

    pub(crate) fn routing(&self) -> Arc<Routing> {
        current(&self.routing)
    }

    pub(crate) fn set_routing(&self, routing: Routing) {
        *self.routing.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(routing);
    }

    /// Sends `alerts` to `point` now, outside any group (a test notification).
    pub(crate) async fn send_now(
        &self,
        point: &ContactPoint,
        alerts: Vec<Alert>,
        external_url: &str,
    ) -> bool {
        let notification = Notification {
            group_key: "test".to_owned(),
            receiver: point.uid.clone(),
            group_labels: BTreeMap::new(),
            alerts,
            external_url: external_url.to_owned(),
        };
        self.sender.send(point, &notification).await
    }
}

impl Dispatcher {
    async fn run(mut self, mut input: mpsc::UnboundedReceiver<Input>, stop: CancellationToken) {
        loop {
            let next = self.groups.values().map(|g| g.next_flush).min();
            let wait = next.map_or(Duration::from_secs(3600), |at| {
                Duration::from_micros((at - now_micros()).max(0) as u64)
            });
            tokio::select! {
                () = stop.cancelled() => return,
                message = input.recv() => match message {
                    Some(Input::Alert(alert)) => self.take(alert),
                    Some(Input::Sent { group_key, receiver, entry, delivered }) => {
                        self.sent(group_key, receiver, entry, delivered).await;
                    }
                    None => return,
                },
                () = tokio::time::sleep(wait) => {}
            }
            let now = now_micros();
            let due: Vec<String> = self
                .groups
                .iter()
                .filter(|(_, g)| g.next_flush <= now)
                .map(|(k, _)| k.clone())
                .collect();
            for key in due {
                self.flush(&key, now);
            }
        }
    }

    fn take(&mut self, alert: Alert) {
        let routing = current(&self.routing);
        let now = now_micros();
        for (route, options) in routing.route(&alert) {
            let Some(receiver) = options.receiver.clone() else {
                continue;
            };
            let labels = group_labels(&options.group_by, &alert.labels);
            let key = format!("{route}:{receiver}:{}", label_text(&labels));
            let immediate = routing
                .contact_points
                .get(&receiver)
                .is_some_and(|cp| matches!(cp.target, Target::Alertmanager { .. }));
            let mut options = options;
            if immediate {
                // Resent as Prometheus resends, well within the time each send is valid for.
                options.group_interval = deliver::ALERTMANAGER_RESEND;
            }
            let group = self.groups.entry(key).or_insert_with(|| Group {
                receiver,
                next_flush: now + options.group_wait,
                options,
                labels,
                alerts: BTreeSet::new(),
            });
            group.alerts.insert(alert.fingerprint.clone());
            if immediate {
                // An Alertmanager groups on its own: it hears of every change at once.
                group.next_flush = now;
            }
        }
        self.alerts.insert(alert.fingerprint.clone(), alert);
    }

    fn flush(&mut self, key: &str, now: i64) {
        let routing = current(&self.routing);
        let Some(group) = self.groups.get_mut(key) else {
            return;
        };
        group.next_flush = now + group.options.group_interval.max(1_000_000);
        if self.sending.contains(key) || routing.muted(&group.options.mute, now) {
            return;
        }
        let Some(point) = routing.contact_points.get(&group.receiver).cloned() else {
            tracing::warn!(receiver = %group.receiver, "no such contact point: alerts not sent");
            return;
        };
        let mut firing = BTreeSet::new();
        let mut resolved = BTreeSet::new();
        for fp in &group.alerts {
            let Some(alert) = self.alerts.get(fp) else {
                continue;
            };
            if !routing.silenced_by(&alert.labels, now).is_empty() {
                continue;
            }
            if alert.ends_at.is_none() {
                firing.insert(fp.clone());
            } else {
                resolved.insert(fp.clone());
            }
        }
        let log_key = (key.to_owned(), group.receiver.clone());
        let entry = self.log.get(&log_key);
        let to_alertmanager = matches!(point.target, Target::Alertmanager { .. });
        let needed = if to_alertmanager {
            !firing.is_empty() || entry.is_some_and(|e| !resolved.is_subset(&e.resolved))
        } else {
            needs_update(
                entry,
                &firing,
                &resolved,
                point.send_resolved,
                group.options.repeat_interval,
                now,
            )
        };
        if !needed {
            let done: Vec<String> = resolved.into_iter().collect();
            self.forget(key, &done);
            return;
        }
        let new_entry = LogEntry {
            firing: firing.clone(),
            resolved: resolved.clone(),
            sent_at: now,
        };
        let mut alerts: Vec<Alert> = firing
            .iter()
            .filter_map(|fp| self.alerts.get(fp).cloned())
            .collect();
        if point.send_resolved || to_alertmanager {
            alerts.extend(
                resolved
                    .iter()
                    .filter_map(|fp| self.alerts.get(fp).cloned()),
            );
        }
        if alerts.is_empty() {
            // Only resolved alerts, and the receiver does not want them: done without a send.
            let _ = self.input.send(Input::Sent {
                group_key: key.to_owned(),
                receiver: group.receiver.clone(),
                entry: new_entry,
                delivered: true,
            });
            self.sending.insert(key.to_owned());
            return;
        }
        let notification = Notification {
            group_key: key.to_owned(),
            receiver: group.receiver.clone(),
            group_labels: group.labels.clone(),
            alerts,
            external_url: self.external_url.clone(),
        };
        self.sending.insert(key.to_owned());
        let (sender, input) = (self.sender.clone(), self.input.clone());
        tokio::spawn(async move {
            let delivered = sender.send(&point, &notification).await;
            let _ = input.send(Input::Sent {
                group_key: notification.group_key,
                receiver: notification.receiver,
                entry: new_entry,
                delivered,
            });
        });
    }

    async fn sent(&mut self, key: String, receiver: String, entry: LogEntry, delivered: bool) {
        self.sending.remove(&key);
        if !delivered {
            // Tried again at the next group_interval.
            return;
        }
        if let Err(err) = self
            .meta
            .log_notification(key.clone(), receiver.clone(), entry.clone())
            .await
        {
            tracing::warn!(%err, "the notification log was not saved");
        }
        let done: Vec<String> = entry.resolved.iter().cloned().collect();
        self.log.insert((key.clone(), receiver), entry);
        self.forget(&key, &done);
    }

    /// Drops resolved alerts a group has dealt with; an empty group goes, and an alert no group
    /// holds.
    fn forget(&mut self, key: &str, resolved: &[String]) {
        let Some(group) = self.groups.get_mut(key) else {
            return;
        };
        for fp in resolved {
            if self.alerts.get(fp).is_some_and(|a| a.ends_at.is_some()) {
                group.alerts.remove(fp);
            }
        }
        if group.alerts.is_empty() {
            let receiver = group.receiver.clone();
            self.groups.remove(key);
            if self
                .log
                .remove(&(key.to_owned(), receiver.clone()))
                .is_some()
            {
                // The group is done: a later one of the same key starts afresh, after a restart
                // too.
                let (meta, key) = (self.meta.clone(), key.to_owned());
                tokio::spawn(async move {
                    let _ = meta
                        .log_notification(key, receiver, LogEntry::default())
                        .await;
                });
            }
        }
        for fp in resolved {
            if !self.groups.values().any(|g| g.alerts.contains(fp)) {
                self.alerts.remove(fp);
            }
        }
    }
}

/// Alertmanager's rule for sending: new firing alerts; everything resolved that was notified
/// firing; newly resolved ones (when the receiver wants them); or `repeat_interval` passed.
fn needs_update(
    entry: Option<&LogEntry>,
    firing: &BTreeSet<String>,
    resolved: &BTreeSet<String>,
    send_resolved: bool,
    repeat_interval: i64,
    now: i64,
) -> bool {
    let Some(entry) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&entry.firing) {
        return true;
    }
    if firing.is_empty() {
        return !entry.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&entry.resolved) {
        return true;
    }
    now - entry.sent_at >= repeat_interval
}

/// Labels as Alertmanager writes a group key: `{a="1",b="2"}`.
fn label_text(labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", pairs.join(","))
}

#[cfg(test)]
mod tests;
