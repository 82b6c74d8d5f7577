//! A live rule's task: it subscribes to the rule's query on the engine (shared with any viewer of
//! the same SQL), feeds each change to the rule's instances as it is published, wakes at the
//! instances' next deadline for `for` and `keep_firing_for`, and records each transition: the
//! state in the metadata database first, then the history stream, then the notifier.

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) use protocol::alert::RuleStatus as Status;
use protocol::alert::Transition;
use storage::now_micros;
use tokio_util::sync::CancellationToken;

use super::Inner;
use super::eval::{RuleEval, annotations};
use super::notify::Alert;
use crate::engine::Update;
use crate::error::ApiError;
use crate::meta::InstanceRecord;

/// How soon a rule whose query failed subscribes again, at first and at most.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(30);

pub(crate) async fn run(
    inner: Arc<Inner>,
    eval: Arc<Mutex<RuleEval>>,
    status: Arc<Mutex<Status>>,
    stop: CancellationToken,
) {
    let sql = lock(&eval).rule().sql.clone();
    let mut retry = RETRY_FIRST;
    loop {
        let joined = match inner.engine.subscribe(&sql, &inner.queries).await {
            Ok(shared) => shared
                .join()
                .map(|(start, updates)| (shared, start, updates)),
            Err(err) => Err(ApiError::from(err).into_inner()),
        };
        let (shared, start, mut updates) = match joined {
            Ok(joined) => joined,
            Err(error) => {
                let moved = lock(&eval).error(&error.message, now_micros());
                {
                    let mut s = lock(&status);
                    s.error = Some(error.message);
                    s.mode = None;
                }
                record(&inner, &eval, moved).await;
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(retry) => {}
                }
                retry = (retry * 2).min(RETRY_MAX);
                continue;
            }
        };
        retry = RETRY_FIRST;
        let moved = {
            let mut e = lock(&eval);
            e.set_shape(&shared.shape);
            e.replace(&start.rows, &shared.shape, now_micros())
        };
        {
            let mut s = lock(&status);
            s.mode = Some(start.mode.clone());
            s.error = None;
            s.evaluations += 1;
            inner.history.evaluated();
            s.last_evaluation = now_micros();
        }
        record(&inner, &eval, moved).await;
        loop {
            let deadline = lock(&eval).deadline();
            let wait = deadline.map_or(Duration::from_secs(3600), |at| {
                Duration::from_micros((at - now_micros()).max(0) as u64)
            });
            let moved = tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => lock(&eval).tick(now_micros()),
                update = updates.recv() => {
                    let now = now_micros();
                    // Behind the channel (or the query's task gone): join again, from a fresh
                    // snapshot.
                    let Ok(update) = update else { break };
                    if let Update::Failed { error } = &*update {
                        lock(&status).error = Some(error.message.clone());
                        let moved = lock(&eval).error(&error.message, now);
                        record(&inner, &eval, moved).await;
                        break;
                    }
                    let moved = {
                        let mut e = lock(&eval);
                        match &*update {
                            Update::Delta { change, .. } => {
                                e.apply_delta(change.upserts(), change.deletes(), &shared.shape, now)
                            }
                            Update::Result { rows, .. } => e.replace(rows, &shared.shape, now),
                            Update::Failed { .. } => Vec::new(),
                        }
                    };
                    let mut s = lock(&status);
                    s.evaluations += 1;
                    s.last_evaluation = now;
                    inner.history.evaluated();
                    moved
                }
            };
            record(&inner, &eval, moved).await;
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Records transitions: saved (on disk when this returns), then history, then notifications.
pub(crate) async fn record(inner: &Inner, eval: &Mutex<RuleEval>, moved: Vec<Transition>) {
    if moved.is_empty() {
        return;
    }
    let rule = Arc::clone(lock(eval).rule());
    let records: Vec<InstanceRecord> = moved
        .iter()
        .map(|t| InstanceRecord {
            rule_uid: t.rule_uid.clone(),
            fingerprint: t.fingerprint.clone(),
            labels: t.labels.clone(),
            state: t.to.as_str().to_owned(),
            reason: t.reason.clone(),
            since: t.time,
            fired_at: t.fired_at,
            value: t.value,
        })
        .collect();
    if let Err(err) = inner.meta.save_instances(records).await {
        tracing::warn!(rule = %rule.uid, %err, "alert states not saved");
    }
    for t in &moved {
        inner.history.transition(t);
        if let Some(alert) = alert_of(&rule, t) {
            inner.notifier.alert(alert);
        }
    }
}

/// The alert a transition tells the notifier of: firing when it enters an active state,
/// resolved when it leaves one.
pub(crate) fn alert_of(rule: &protocol::alert::Rule, t: &Transition) -> Option<Alert> {
    let ends_at = match (t.from.is_active(), t.to.is_active()) {
        (_, true) => None,
        (true, false) => Some(t.time),
        (false, false) => return None,
    };
    let mut annotations = annotations(rule, &t.labels, t.value);
    if matches!(
        t.to,
        protocol::alert::State::NoData | protocol::alert::State::Error
    ) {
        annotations.insert("weir_state".to_owned(), t.to.as_str().to_owned());
        annotations.insert("weir_reason".to_owned(), t.reason.clone());
    }
    Some(Alert {
        fingerprint: t.fingerprint.clone(),
        rule_uid: rule.uid.clone(),
        labels: t.labels.clone(),
        annotations,
        starts_at: t.fired_at.unwrap_or(t.time),
        ends_at,
        contact_points: rule.contact_points.clone(),
        panel: rule.panel.clone(),
    })
}
