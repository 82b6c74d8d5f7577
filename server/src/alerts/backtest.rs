//! Backtests: a rule replayed over its stream's history through the same operator and state
//! machine a live rule runs, with the clock following event time.
//!
//! The events of `[from − range, to]` are read in event-time order. Those before `from` only warm
//! the operator's windows; from `from` on, each second of events is applied at the time of its
//! last event and the changed rows go to the rule's instances, as the engine's flush would send
//! them. Between events the clock steps through pane boundaries (windows leaving the range) and
//! the instances' deadlines (`for`, `keep_firing_for`), so a quiet stream still resolves.

use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use futures::StreamExt;
use protocol::alert::{Backtest, Problem, Rule, Transition};
use storage::TIME_COLUMN;

use super::Error;
use super::eval::RuleEval;
use crate::engine::operator::{Operator, Settings};
use crate::engine::plan::{ContinuousPlan, compile};
use crate::error::ApiError;
use crate::query::QueryService;

/// Events applied together: those within one second of event time.
const RESOLUTION: i64 = 1_000_000;
/// The clock steps at least this often between events.
const MAX_STEP: i64 = 60_000_000;
/// The longest range a backtest replays, and the most events.
pub(crate) const MAX_RANGE: i64 = 31 * 86_400_000_000;
const MAX_EVENTS: u64 = 20_000_000;

fn problem(pointer: &str, message: String) -> Error {
    Error::Invalid {
        what: "backtest",
        problem: Problem {
            pointer: pointer.to_owned(),
            message,
        },
    }
}

/// Replays `rule` over `[from, to]` (µs).
pub(crate) async fn run(
    rule: Arc<Rule>,
    from: i64,
    to: i64,
    queries: &QueryService,
    settings: Settings,
) -> Result<Backtest, Error> {
    if to <= from || to - from > MAX_RANGE {
        return Err(problem(
            "/to",
            "a backtest replays a range that ends after it starts, of at most 31 days".to_owned(),
        ));
    }
    let (logical, state) = queries
        .analyze(&rule.sql)
        .await
        .map_err(|e| problem("/rule/sql", ApiError::from(e).into_inner().message))?;
    let plan = compile(&logical, &state).map_err(|unsupported| {
        problem(
            "/rule/sql",
            format!(
                "a backtest replays rules the engine keeps live event by event, and this one is \
                 re-queried: {unsupported}"
            ),
        )
    })?;
    let plan = Arc::new(plan);
    let warm_up = plan.range.unwrap_or(0);
    let step = plan
        .window
        .pane()
        .map_or(RESOLUTION, |(width, _)| width)
        .clamp(RESOLUTION, MAX_STEP);
    let engine_error =
        |e: crate::engine::Error| problem("/rule/sql", ApiError::from(e).into_inner().message);
    let mut operator =
        Operator::new(Arc::clone(&plan), settings, 0, from - warm_up).map_err(engine_error)?;
    let mut replay = Replay {
        eval: RuleEval::new(rule),
        plan: Arc::clone(&plan),
        clock: from - warm_up,
        from,
        step,
        started: false,
        transitions: Vec::new(),
    };
    replay.eval.set_shape(&plan.shape);
    let mut history = operator
        .history(&state, from - warm_up, to)
        .await
        .map_err(engine_error)?;
    let mut events = 0u64;
    while let Some(batch) = history.next().await {
        let batch =
            batch.map_err(|e| problem("/rule/sql", ApiError::from(e).into_inner().message))?;
        events += batch.num_rows() as u64;
        if events > MAX_EVENTS {
            return Err(problem(
                "/from",
                format!("the range holds more than {MAX_EVENTS} events: replay a shorter one"),
            ));
        }
        for (start, chunk) in seconds(&batch) {
            replay.advance(&mut operator, start).map_err(engine_error)?;
            let last = chunk_end(&chunk);
            operator.replay(&chunk, last).map_err(engine_error)?;
            replay.clock = replay.clock.max(last);
            if replay.clock >= from {
                replay
                    .evaluate(&mut operator, replay.clock)
                    .map_err(engine_error)?;
            }
        }
    }
    replay.advance(&mut operator, to).map_err(engine_error)?;
    Ok(Backtest {
        from,
        to,
        events,
        transitions: replay.transitions,
    })
}

struct Replay {
    eval: RuleEval,
    plan: Arc<ContinuousPlan>,
    clock: i64,
    from: i64,
    step: i64,
    started: bool,
    transitions: Vec<Transition>,
}

impl Replay {
    /// Moves the clock to `target` through pane boundaries and deadlines.
    fn advance(
        &mut self,
        operator: &mut Operator,
        target: i64,
    ) -> Result<(), crate::engine::Error> {
        while self.clock < target {
            let mut next = ((self.clock.div_euclid(self.step)) + 1) * self.step;
            if self.started
                && let Some(deadline) = self.eval.deadline()
            {
                next = next.min(deadline.max(self.clock + 1));
            }
            if !self.started {
                next = next.min(self.from.max(self.clock + 1));
            }
            self.clock = next.min(target);
            if self.clock >= self.from {
                self.evaluate(operator, self.clock)?;
            }
        }
        Ok(())
    }

    /// Flushes the operator at `now` and hands its change to the instances, then the clock.
    fn evaluate(&mut self, operator: &mut Operator, now: i64) -> Result<(), crate::engine::Error> {
        let change = operator.flush(now)?;
        let moved = if !self.started || self.plan.shape.key.is_none() {
            self.started = true;
            self.eval.replace(&operator.rows(), &self.plan.shape, now)
        } else if change.is_empty() {
            Vec::new()
        } else {
            self.eval
                .apply_delta(change.upserts(), change.deletes(), &self.plan.shape, now)
        };
        self.transitions.extend(moved);
        self.transitions.extend(self.eval.tick(now));
        Ok(())
    }
}

/// The batch cut into runs of events within one second (`RESOLUTION`) of event time, each with
/// the start of its second.
fn seconds(batch: &RecordBatch) -> Vec<(i64, RecordBatch)> {
    let Some(times) = batch.column_by_name(TIME_COLUMN) else {
        return Vec::new();
    };
    let times = times.as_primitive::<TimestampMicrosecondType>();
    let mut chunks = Vec::new();
    let mut start = 0;
    for i in 1..=times.len() {
        let bucket = |j: usize| times.value(j).div_euclid(RESOLUTION);
        if i == times.len() || bucket(i) != bucket(start) {
            chunks.push((bucket(start) * RESOLUTION, batch.slice(start, i - start)));
            start = i;
        }
    }
    chunks
}

fn chunk_end(chunk: &RecordBatch) -> i64 {
    chunk
        .column_by_name(TIME_COLUMN)
        .map(|t| t.as_primitive::<TimestampMicrosecondType>())
        .and_then(|t| (!t.is_empty()).then(|| t.value(t.len() - 1)))
        .unwrap_or(0)
}
