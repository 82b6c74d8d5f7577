//! One task per stream: every incremental query of a stream applies the stream's new events in
//! that one task, which reads each batch once and hands it to all of them as one [`Scan`] (so
//! that what they compute alike is computed once), then publishes each query's changes at the
//! query's own pace.
//!
//! The tasks run on the engine's runtime, whose threads are niced below ingest's: when queries
//! cost more than the CPU left to them, they fall behind instead of slowing acknowledgements,
//! read larger batches (everything published since they last read, coalesced), and say how far
//! behind they are (`lag` in `/api/v1/engine`).
//!
//! **Invariants:** a query joins its stream's task at the position its backfill ended; one that is
//! behind the task catches up on a subscription of its own first, one that is ahead skips what it
//! has seen ([`Operator::apply_scan`]), so each event is applied to each query exactly once. A task
//! leaves the map of tasks under the map's lock and only with no query and no join pending, so a
//! query that joins never joins a task that has stopped.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow::array::RecordBatch;
use storage::{Offset, Progress, Store, StreamName, now_micros};
use tokio::sync::{broadcast, mpsc};
use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::Error;
use super::operator::Operator;
use super::registry::{Current, Update, fail, publish_change, stop_with};
use super::scan::Scan;
use crate::error::ApiError;

/// A changed result is published at most every 10 ms, so bursts coalesce, and less often the
/// more viewers it has, so that sending it stays under a tenth of a core: a frame costs the
/// server ~20 µs per socket (its write, the TCP stack; docs/benchmarks.md, "Fewer frames for a
/// crowd"), so 250 µs per viewer, up to once a second (4 frames a second for 1,000 viewers) ...
const FLUSH_GAP: Duration = Duration::from_millis(10);
const FLUSH_GAP_PER_VIEWER: Duration = Duration::from_micros(250);
const MAX_FLUSH_GAP: Duration = Duration::from_secs(1);
/// ... and less often the longer a flush takes (this many times its time).
const FLUSH_COST_RATIO: u32 = 10;
/// ... and the clock moves windows at least this often.
const TICK: Duration = Duration::from_millis(100);
/// Batches smaller than this are joined with their neighbours before queries read them: each
/// query has a cost per batch (its accumulators, its expressions), paid once per coalesced one.
const SMALL_BATCH: usize = 16_384;
/// A query due to publish within this much is published with the others due now.
const FLUSH_SLACK: Duration = Duration::from_millis(5);
/// Rows of a coalesced batch, at most.
const COALESCED_ROWS: usize = 65_536;

/// One incremental query in its stream's task.
pub(crate) struct Member {
    operator: Operator,
    current: Arc<Mutex<Current>>,
    updates: broadcast::Sender<Arc<Update>>,
    stop: CancellationToken,
    last_flush: Instant,
    gap: Duration,
    dirty: bool,
    last_watermark_sent: Instant,
    last_sizing: Instant,
}

impl Member {
    pub(crate) fn new(
        operator: Operator,
        current: Arc<Mutex<Current>>,
        updates: broadcast::Sender<Arc<Update>>,
        stop: CancellationToken,
    ) -> Member {
        Member {
            operator,
            current,
            updates,
            stop,
            last_flush: Instant::now() - FLUSH_GAP,
            gap: FLUSH_GAP,
            dirty: true,
            last_watermark_sent: Instant::now(),
            last_sizing: Instant::now(),
        }
    }

    /// When this query publishes next: soon after a change, at least every tick.
    fn deadline(&self) -> Instant {
        self.last_flush + if self.dirty { self.gap } else { TICK }
    }

    /// Publishes what changed since the last flush; an error stops the query.
    fn flush(&mut self, lag: storage::Lag) -> Result<(), Error> {
        self.last_flush = Instant::now();
        self.dirty = false;
        let change = self.operator.flush(now_micros())?;
        // A flush that changes many groups costs its subscribers as much again: the next one
        // waits ten times as long as this one took, so that publishing stays about a tenth of
        // a core however many groups change.
        self.gap = (FLUSH_GAP_PER_VIEWER * self.updates.receiver_count() as u32)
            .max(self.last_flush.elapsed() * FLUSH_COST_RATIO)
            .clamp(FLUSH_GAP, MAX_FLUSH_GAP);
        let mut current = self.current.lock().expect("poisoned");
        current.lag = lag;
        if self.last_sizing.elapsed() >= Duration::from_secs(5) {
            current.state_bytes = self.operator.state_bytes();
            self.last_sizing = Instant::now();
        }
        if publish_change(
            &mut current,
            &self.operator,
            change,
            &self.updates,
            self.last_watermark_sent,
        ) {
            self.last_watermark_sent = Instant::now();
        }
        Ok(())
    }

    fn fail(&self, err: Error) {
        fail(&self.current, &self.updates, err);
    }
}

/// A stream's task, as the map of tasks holds it.
struct Task {
    joins: mpsc::UnboundedSender<Member>,
    /// The offset of the next event the task reads.
    position: Arc<AtomicU64>,
}

/// The running task of each stream that has incremental queries.
#[derive(Clone)]
pub(crate) struct StreamTasks {
    store: Arc<Store>,
    runtime: tokio::runtime::Handle,
    tasks: Arc<Mutex<HashMap<StreamName, Task>>>,
}

impl StreamTasks {
    pub(crate) fn new(store: Arc<Store>, runtime: tokio::runtime::Handle) -> StreamTasks {
        StreamTasks {
            store,
            runtime,
            tasks: Arc::default(),
        }
    }

    /// Runs `member` in the task of `stream` (started if none runs), from the position its
    /// backfill ended at; a member behind the task catches up first.
    pub(crate) fn join(&self, stream: &StreamName, mut member: Member) -> Result<(), Error> {
        let mut tasks = self.tasks.lock().expect("poisoned");
        if let Some(task) = tasks.get(stream) {
            if member.operator.position() < task.position.load(Ordering::Acquire) {
                drop(tasks);
                self.catch_up(stream.clone(), member);
                return Ok(());
            }
            match task.joins.send(member) {
                Ok(()) => return Ok(()),
                // The task failed and left: start another.
                Err(mpsc::error::SendError(back)) => member = back,
            }
        }
        let subscription = self
            .store
            .subscribe(stream, Offset(member.operator.position()))?;
        let (joins, joined) = mpsc::unbounded_channel();
        let position = Arc::new(AtomicU64::new(subscription.position().0));
        tasks.insert(
            stream.clone(),
            Task {
                joins,
                position: Arc::clone(&position),
            },
        );
        self.runtime.spawn(run(
            self.clone(),
            stream.clone(),
            subscription,
            position,
            member,
            joined,
        ));
        Ok(())
    }

    /// Applies what `member` lacks of what its stream's task has read, on a subscription of its
    /// own, then joins the task.
    fn catch_up(&self, stream: StreamName, mut member: Member) {
        let tasks = self.clone();
        self.runtime.spawn(async move {
            let position = Offset(member.operator.position());
            let mut subscription = match tasks.store.subscribe(&stream, position) {
                Ok(subscription) => subscription,
                Err(err) => return member.fail(err.into()),
            };
            loop {
                let target = tasks.position(&stream);
                if target.is_none_or(|t| member.operator.position() >= t) {
                    if let Err(err) = tasks.join(&stream, member) {
                        tracing::warn!(%err, "a continuous query could not join its stream");
                    }
                    return;
                }
                let batches = tokio::select! {
                    () = member.stop.cancelled() => return,
                    batches = subscription.next() => batches,
                };
                let applied = batches.map_err(Error::from).and_then(|batches| {
                    let now = now_micros();
                    batches
                        .iter()
                        .try_for_each(|b| member.operator.apply(b, now))
                });
                if let Err(err) = applied {
                    return member.fail(err);
                }
                member.dirty = true;
            }
        });
    }

    /// Where the task of `stream` reads next, if one runs.
    fn position(&self, stream: &StreamName) -> Option<u64> {
        let tasks = self.tasks.lock().expect("poisoned");
        tasks
            .get(stream)
            .map(|t| t.position.load(Ordering::Acquire))
    }

    /// Removes the task of `stream` unless a query joined it meanwhile: then that query.
    fn leave(
        &self,
        stream: &StreamName,
        joined: &mut mpsc::UnboundedReceiver<Member>,
    ) -> Option<Member> {
        let mut tasks = self.tasks.lock().expect("poisoned");
        if let Ok(member) = joined.try_recv() {
            return Some(member);
        }
        joined.close();
        tasks.remove(stream);
        None
    }

    /// Removes the task of `stream`, which cannot go on; returns the queries that were joining
    /// it.
    fn abandon(
        &self,
        stream: &StreamName,
        joined: &mut mpsc::UnboundedReceiver<Member>,
    ) -> Vec<Member> {
        let mut tasks = self.tasks.lock().expect("poisoned");
        joined.close();
        tasks.remove(stream);
        drop(tasks);
        std::iter::from_fn(|| joined.try_recv().ok()).collect()
    }
}

/// The task of one stream: reads its events as they become durable, applies each batch to
/// every query, and publishes their changes.
async fn run(
    tasks: StreamTasks,
    stream: StreamName,
    mut subscription: storage::Subscription,
    position: Arc<AtomicU64>,
    first: Member,
    mut joined: mpsc::UnboundedReceiver<Member>,
) {
    let progress: Progress = subscription.progress();
    // Reading runs in its own task: a read from the lake is not abandoned half-way when the
    // clock ticks.
    let reading = CancellationToken::new();
    let _stop_reading = reading.clone().drop_guard();
    let (batches_in, mut batches_out) = mpsc::channel(4);
    tokio::spawn(async move {
        loop {
            let batches = tokio::select! {
                () = reading.cancelled() => return,
                batches = subscription.next() => batches,
            };
            let failed = batches.is_err();
            if batches_in.send(batches).await.is_err() || failed {
                return;
            }
        }
    });
    let mut members = vec![first];
    // Batches read and not applied yet, applied at most `COALESCED_ROWS` at a time so that
    // flushes and joins go on while the task catches up.
    let mut pending: VecDeque<RecordBatch> = VecDeque::new();
    loop {
        let read = if pending.is_empty() {
            let deadline = members
                .iter()
                .map(Member::deadline)
                .min()
                .unwrap_or_else(|| Instant::now() + TICK);
            tokio::select! {
                member = joined.recv() => {
                    if let Some(member) = member {
                        admit(&tasks, &stream, &position, &mut members, member);
                    }
                    None
                }
                batches = batches_out.recv() => Some(batches),
                () = sleep_until(deadline) => None,
            }
        } else {
            while let Ok(member) = joined.try_recv() {
                admit(&tasks, &stream, &position, &mut members, member);
            }
            tokio::task::yield_now().await;
            None
        };
        // Whatever else was read meanwhile is applied with it: a task that is behind applies
        // larger batches.
        let mut read = read.map(|first| vec![first]).unwrap_or_default();
        if !read.is_empty() || !pending.is_empty() {
            let mut rows: usize = pending.iter().map(RecordBatch::num_rows).sum();
            while rows < COALESCED_ROWS
                && let Ok(more) = batches_out.try_recv()
            {
                rows += more
                    .as_ref()
                    .map_or(0, |b| b.iter().map(RecordBatch::num_rows).sum());
                read.push(Some(more));
            }
        }
        for batches in read {
            match batches {
                Some(Ok(batches)) => pending.extend(batches),
                failed => {
                    // The stream cannot be read on (it was deleted, its lake is unreadable): its
                    // queries stop, and those joining start a task of their own.
                    let error = match failed {
                        Some(Err(err)) => ApiError::from(Error::from(err)).into_inner(),
                        _ => protocol::Error::new(
                            protocol::ErrorKind::Internal,
                            "the stream's reader stopped",
                        ),
                    };
                    for member in &members {
                        stop_with(&member.current, &member.updates, error.clone());
                    }
                    for member in tasks.abandon(&stream, &mut joined) {
                        if let Err(err) = tasks.join(&stream, member) {
                            tracing::warn!(%err, "a continuous query could not join its stream");
                        }
                    }
                    return;
                }
            }
        }
        if !pending.is_empty() {
            let mut chunk = Vec::new();
            let mut rows = 0;
            while rows < COALESCED_ROWS
                && let Some(batch) = pending.pop_front()
            {
                rows += batch.num_rows();
                chunk.push(batch);
            }
            apply(&mut members, chunk, &position);
        }
        let lag = progress.lag(Offset(position.load(Ordering::Acquire)));
        // Members due within the slack are flushed together, so that a thousand queries wake
        // the task a few times per tick, not a thousand.
        let now = Instant::now() + FLUSH_SLACK;
        for member in &mut members {
            let due = member.deadline() <= now;
            if due
                && !member.stop.is_cancelled()
                && let Err(err) = member.flush(lag)
            {
                member.fail(err);
                member.stop.cancel();
            }
        }
        members.retain(|m| !m.stop.is_cancelled());
        if members.is_empty() {
            match tasks.leave(&stream, &mut joined) {
                Some(member) => admit(&tasks, &stream, &position, &mut members, member),
                None => return,
            }
        }
    }
}

/// Takes `member` into the task, or has it catch up first if it is behind the task.
fn admit(
    tasks: &StreamTasks,
    stream: &StreamName,
    position: &AtomicU64,
    members: &mut Vec<Member>,
    member: Member,
) {
    if member.operator.position() < position.load(Ordering::Acquire) {
        tasks.catch_up(stream.clone(), member);
    } else {
        members.push(member);
    }
}

/// Applies `batches` (in offset order) to every query, each coalesced batch as one scan.
fn apply(members: &mut [Member], batches: Vec<RecordBatch>, position: &AtomicU64) {
    let Some(end) = batches.last().and_then(|b| {
        let offsets = b.column_by_name(storage::OFFSET_COLUMN)?;
        let offsets = arrow::array::AsArray::as_primitive_opt::<arrow::datatypes::Int64Type>(
            offsets.as_ref(),
        )?;
        (!offsets.is_empty()).then(|| offsets.value(offsets.len() - 1) as u64 + 1)
    }) else {
        return;
    };
    let now = now_micros();
    for batch in coalesce(batches) {
        let mut scan = Scan::new(batch);
        for member in members.iter_mut() {
            if member.stop.is_cancelled() {
                continue;
            }
            match member.operator.apply_scan(&mut scan, now) {
                Ok(()) => member.dirty = true,
                Err(err) => {
                    member.fail(err);
                    member.stop.cancel();
                }
            }
        }
    }
    position.store(end, Ordering::Release);
}

/// `batches` with runs of small ones of the same schema joined, up to [`COALESCED_ROWS`] rows.
pub(crate) fn coalesce(batches: Vec<RecordBatch>) -> Vec<RecordBatch> {
    let mut out: Vec<RecordBatch> = Vec::with_capacity(batches.len());
    let mut run: Vec<RecordBatch> = Vec::new();
    let mut rows = 0;
    let flush = |run: &mut Vec<RecordBatch>, out: &mut Vec<RecordBatch>| match run.len() {
        0 => {}
        1 => out.extend(run.pop()),
        _ => match arrow::compute::concat_batches(&run[0].schema(), run.iter()) {
            Ok(joined) => {
                out.push(joined);
                run.clear();
            }
            Err(_) => out.append(run),
        },
    };
    for batch in batches {
        let joins = batch.num_rows() < SMALL_BATCH
            && rows + batch.num_rows() <= COALESCED_ROWS
            && run.first().is_none_or(|r| r.schema() == batch.schema());
        if !joins {
            flush(&mut run, &mut out);
            rows = 0;
        }
        if batch.num_rows() < SMALL_BATCH {
            rows += batch.num_rows();
            run.push(batch);
        } else {
            out.push(batch);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, RecordBatch};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(from: i64, n: i64) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(
            storage::OFFSET_COLUMN,
            DataType::Int64,
            false,
        )]));
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(from..from + n))],
        )
        .unwrap()
    }

    #[test]
    fn small_batches_are_joined_in_order_and_large_ones_kept_whole() {
        let batches = vec![
            batch(0, 10),
            batch(10, 20),
            batch(30, 20_000),
            batch(20_030, 1),
        ];
        let out = coalesce(batches);
        let sizes: Vec<usize> = out.iter().map(RecordBatch::num_rows).collect();
        assert_eq!(sizes, vec![30, 20_000, 1]);
        let offsets: Vec<i64> = out
            .iter()
            .flat_map(|b| {
                arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(b.column(0))
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(offsets, (0..20_031).collect::<Vec<i64>>());
        // Runs stop at the row limit.
        let many: Vec<RecordBatch> = (0..40).map(|i| batch(i * 5_000, 5_000)).collect();
        let out = coalesce(many);
        assert!(out.iter().all(|b| b.num_rows() <= COALESCED_ROWS));
        assert_eq!(
            out.iter().map(RecordBatch::num_rows).sum::<usize>(),
            200_000
        );
        assert!(out.len() <= 4, "{} batches", out.len());
    }
}
