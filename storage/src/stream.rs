//! One stream: its schema, write-ahead log and hot tier, and the append path with group commit.
//!
//! An append, and why in this order:
//! 1. Under the state lock: type the events against the schema, assign offsets, build the batch,
//!    write its record to the log (no fsync) and queue it as pending. Offsets are therefore
//!    assigned in log order, gap-free.
//! 2. Under the sync lock: if no one made this append durable yet, become the leader: note the
//!    last offset written, fsync the log (other appends keep writing meanwhile), then move every
//!    pending batch up to that offset into the hot tier and record it as durable. Appends that
//!    wrote before the fsync ride on it: one fsync serves them all (group commit).
//! 3. Return: the events are durable and visible.
//!
//! So a snapshot (the hot tier, under the state lock) never holds an event that is not durable,
//! and holds a gap-free prefix of the stream.
//!
//! Tiering, and why it cannot lose or double an event:
//! 1. Under the state lock: rotate the log (the closed segments hold everything written so far),
//!    and take the hot batches `[lake end, end)`.
//! 2. Without the state lock (appends and reads go on): commit those events to the lake as one
//!    Delta version whose `weir` transaction version is `end`, and fsync it.
//! 3. Under the state lock: install the new lake version and drop `[.., end)` from the hot tier in
//!    one step, so every snapshot sees each event exactly once, in the lake or in the hot tier.
//!    Then delete the log segments that hold only events below `end`.
//!
//! A crash before step 2 completes leaves the old lake version and the whole log; after it, the
//! lake's end tells recovery to skip the logged events below `end`.

use std::collections::VecDeque;
use std::path::Path;
use std::time::Instant;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::error::Result;
use crate::hot::HotTier;
use crate::lake::{LakeState, LakeTable};
use crate::rate::RateMeter;
use crate::schema::StreamSchema;
use crate::store::StreamInfo;
use crate::wal::{self, Log};
use crate::{Error, LakeCommit, Observer, Offset, RowRejection, Snapshot, StreamName, now_micros};

/// Publishes whose time is kept, to tell a reader since when it is behind.
const COMMITS_KEPT: usize = 4096;

/// How far a reader of a stream is behind its published (durable) end.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Lag {
    /// Durable events it has not applied yet.
    pub events: u64,
    /// How long ago the first of them was published (zero when none).
    pub wait: std::time::Duration,
}

/// A log segment is closed once it holds this many bytes (tiering closes it sooner).
const SEGMENT_BYTES: u64 = 64 << 20;

#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) name: StreamName,
    state: Mutex<StreamState>,
    /// End of the durable (fsync'd and published) prefix; held by the group-commit leader.
    durable: Mutex<u64>,
    /// The same end, for subscribers to wait on.
    published: watch::Sender<u64>,
    meter: Mutex<RateMeter>,
    /// When the latest publishes happened: (end, time), oldest first, for readers to tell how
    /// far behind they are.
    commits: Mutex<VecDeque<(u64, Instant)>>,
    /// The schema's Arrow form, also outside the state lock: decoders read it for every
    /// request, and must not wait behind an append for it.
    schema: Mutex<SchemaRef>,
    /// The stream's Delta table; its lock serializes tiering, compaction and retention.
    lake: tokio::sync::Mutex<LakeTable>,
    observer: std::sync::Arc<dyn Observer>,
}

#[derive(Debug)]
struct StreamState {
    schema: StreamSchema,
    /// The lake version readers see; the hot tier starts at its end.
    lake: LakeState,
    log: Log,
    hot: HotTier,
    /// Next offset to assign: one past the last event written to the log.
    next_offset: u64,
    /// Written to the log, not yet known durable: invisible to readers.
    pending: VecDeque<RecordBatch>,
    /// Set when an fsync failed: what was written may or may not be on disk, so the stream takes
    /// no more appends until a restart recovers what is.
    poisoned: Option<String>,
}

impl Stream {
    /// Opens the stream's log in `dir`, recovering the events its lake does not hold yet.
    pub(crate) fn recover(
        dir: &Path,
        name: StreamName,
        lake_table: LakeTable,
        lake: LakeState,
        observer: std::sync::Arc<dyn Observer>,
    ) -> Result<Stream> {
        let from = lake.end;
        let (mut log, recovered) = Log::open(dir, from)?;
        log.remove_below(from)?;
        let mut schema = StreamSchema::new();
        if let Some(lake_schema) = &lake.schema {
            // Columns only the lake still has (its hot events were all tiered) stay queryable.
            schema.absorb(lake_schema);
        }
        for batch in &recovered.batches {
            schema.absorb(&batch.schema());
        }
        let mut hot = HotTier::new(from, std::sync::Arc::clone(schema.arrow()));
        let mut next_offset = from;
        for batch in recovered.batches {
            next_offset += batch.num_rows() as u64;
            hot.push(batch, schema.arrow())?;
        }
        if let Some(bytes) = recovered.truncated {
            tracing::warn!(stream = %name, bytes, "recovered stream after truncating a torn log tail");
        }
        tracing::info!(stream = %name, events = next_offset, lake_files = lake.files.len(), "recovered stream");
        let arrow_schema = std::sync::Arc::clone(schema.arrow());
        Ok(Stream {
            name,
            state: Mutex::new(StreamState {
                schema,
                lake,
                log,
                hot,
                next_offset,
                pending: VecDeque::new(),
                poisoned: None,
            }),
            durable: Mutex::new(next_offset),
            published: watch::Sender::new(next_offset),
            meter: Mutex::new(RateMeter::default()),
            commits: Mutex::new(VecDeque::with_capacity(COMMITS_KEPT)),
            schema: Mutex::new(arrow_schema),
            lake: tokio::sync::Mutex::new(lake_table),
            observer,
        })
    }

    /// Moves every durable event of the hot tier into the lake (see the module docs). Returns
    /// the new lake end, or `None` when there was nothing to move.
    pub(crate) async fn tier(&self) -> Result<Option<u64>> {
        let mut lake_table = self.lake.lock().await;
        let started = Instant::now();
        let (batches, schema, end, current) = {
            let mut state = self.state.lock();
            let state = &mut *state;
            if state.hot.n_rows() == 0 {
                return Ok(None);
            }
            state.log.rotate(state.next_offset)?;
            let (batches, end) = state.hot.take_for_tiering()?;
            let schema = std::sync::Arc::clone(state.hot.schema());
            (batches, schema, end, state.lake.clone())
        };
        lake_table
            .widen_if_needed(&current, &self.name, &schema)
            .await?;
        let lake = lake_table.append(&batches, &schema, end).await?;
        let mut state = self.state.lock();
        state.lake = lake;
        state.hot.drop_below(end);
        state.log.remove_below(end)?;
        drop(state);
        self.observer
            .lake_commit(&self.name, LakeCommit::Tiering, started.elapsed());
        Ok(Some(end))
    }

    /// Compacts the lake's hours that have gathered small files (see `lake::hours_to_compact`).
    /// Returns how many hours were compacted.
    pub(crate) async fn compact(
        &self,
        target_bytes: u64,
        now_hour: &str,
        max_hours: usize,
    ) -> Result<usize> {
        let mut lake_table = self.lake.lock().await;
        let current = self.state.lock().lake.clone();
        let mut hours = crate::lake::hours_to_compact(&current, target_bytes, now_hour);
        hours.truncate(max_hours);
        for hour in &hours {
            let started = Instant::now();
            let lake = lake_table.compact(hour, target_bytes).await?;
            self.observer
                .lake_commit(&self.name, LakeCommit::Compaction, started.elapsed());
            // Same events, other files: readers switch to the new version at once.
            self.state.lock().lake = lake;
        }
        Ok(hours.len())
    }

    /// Removes the lake's hours before `first_kept`; returns whether any were removed.
    pub(crate) async fn expire_before(&self, first_kept: &str) -> Result<bool> {
        let mut lake_table = self.lake.lock().await;
        let current = self.state.lock().lake.clone();
        let expired = current
            .files
            .partitions()
            .iter()
            .any(|p| p.hour.as_str() < first_kept);
        if expired {
            let started = Instant::now();
            let lake = lake_table.expire_before(first_kept).await?;
            self.observer
                .lake_commit(&self.name, LakeCommit::Retention, started.elapsed());
            self.state.lock().lake = lake;
        }
        Ok(expired)
    }

    /// Deletes lake files that no version since `grace` ago needs; returns how many.
    pub(crate) async fn vacuum(&self, grace: std::time::Duration) -> Result<usize> {
        self.lake.lock().await.vacuum(grace).await
    }

    /// Bytes in the hot tier, waiting to be tiered.
    pub(crate) fn hot_bytes(&self) -> usize {
        self.state.lock().hot.n_bytes()
    }

    /// Whether the hot tier has outgrown `max_bytes` or holds events older than `max_age`.
    pub(crate) fn needs_tiering(&self, max_bytes: usize, max_age: std::time::Duration) -> bool {
        let state = self.state.lock();
        state.hot.n_rows() > 0 && (state.hot.n_bytes() >= max_bytes || state.hot.age() >= max_age)
    }

    /// Appends events (checked by `schema::check_events`); returns the first and last offset
    /// given, or `None` when every event was rejected (into `rejected`). On `Ok`, the events are
    /// durable and visible.
    pub(crate) fn append(
        &self,
        events: &RecordBatch,
        rejected: &mut Vec<RowRejection>,
        max_columns: usize,
    ) -> Result<Option<(Offset, Offset)>> {
        let started = Instant::now();
        let (first, end) = {
            let mut state = self.state.lock();
            let state = &mut *state;
            if let Some(reason) = &state.poisoned {
                return Err(Error::Poisoned {
                    stream: self.name.to_string(),
                    reason: reason.clone(),
                });
            }
            let first = state.next_offset;
            let Some(conformed) =
                state
                    .schema
                    .conform(events, Offset(first), max_columns, rejected)?
            else {
                return Ok(None);
            };
            let batch = conformed.batch;
            // The schema evolves only once its batch is in the log.
            state.log.append(&batch)?;
            if let Some(evolved) = conformed.evolved {
                *self.schema.lock() = std::sync::Arc::clone(evolved.arrow());
                state.schema = evolved;
            }
            state.next_offset += batch.num_rows() as u64;
            state.pending.push_back(batch);
            if state.log.current_len() >= SEGMENT_BYTES {
                state.log.rotate(state.next_offset)?;
            }
            (first, state.next_offset)
        };
        self.make_durable(end)?;
        self.observer
            .append(&self.name, end - first, started.elapsed());
        let now_secs = (now_micros() / 1_000_000) as u64;
        self.meter.lock().record(now_secs, end - first);
        Ok(Some((Offset(first), Offset(end - 1))))
    }

    /// The stream's schema now.
    pub(crate) fn schema(&self) -> SchemaRef {
        std::sync::Arc::clone(&self.schema.lock())
    }

    /// Returns once every event below `end` is fsync'd and in the hot tier.
    fn make_durable(&self, end: u64) -> Result<()> {
        let mut durable = self.durable.lock();
        if *durable >= end {
            return Ok(());
        }
        let (file, path, target) = {
            let state = self.state.lock();
            if let Some(reason) = &state.poisoned {
                return Err(Error::Poisoned {
                    stream: self.name.to_string(),
                    reason: reason.clone(),
                });
            }
            let (file, path) = state.log.sync_handle();
            (file, path, state.next_offset)
        };
        let started = Instant::now();
        if let Err(err) = file.sync_data() {
            let mut state = self.state.lock();
            state.poisoned = Some(format!("fsync of {} failed: {err}", path.display()));
            return Err(Error::io(path, err));
        }
        {
            let mut state = self.state.lock();
            let state = &mut *state;
            while let Some(batch) = state.pending.front() {
                let batch_end = wal::first_offset(batch).unwrap_or(0) + batch.num_rows() as u64;
                if batch_end > target {
                    break;
                }
                let batch = state.pending.pop_front().expect("front exists");
                state.hot.push(batch, state.schema.arrow())?;
            }
        }
        self.observer
            .fsync(&self.name, target - *durable, started.elapsed());
        *durable = target;
        {
            let mut commits = self.commits.lock();
            if commits.len() == COMMITS_KEPT {
                commits.pop_front();
            }
            commits.push_back((target, Instant::now()));
        }
        self.published.send_replace(target);
        Ok(())
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        let state = self.state.lock();
        Snapshot {
            stream: self.name.clone(),
            schema: std::sync::Arc::clone(state.hot.schema()),
            lake: state.lake.clone(),
            start: Offset(state.hot.start()),
            batches: state.hot.batches(),
            end: Offset(state.hot.start() + state.hot.n_rows() as u64),
        }
    }

    /// Durable events from offset `from` on (none yet: empty).
    pub(crate) fn read_from(&self, from: u64) -> Result<Vec<RecordBatch>> {
        let state = self.state.lock();
        if from < state.hot.start() {
            return Err(Error::OffsetNotRetained {
                stream: self.name.to_string(),
                offset: from,
                first: state.hot.start(),
            });
        }
        Ok(state.hot.batches_from(from))
    }

    /// How far a reader that has applied every event below `applied` is behind the published
    /// end: in events, and since when the first event it lacks was published.
    pub(crate) fn behind(&self, applied: u64) -> Lag {
        let end = *self.published.borrow();
        if applied >= end {
            return Lag::default();
        }
        let commits = self.commits.lock();
        // The first publish that took the end past `applied` (the oldest kept, if it is gone).
        let since = commits
            .iter()
            .find(|(end, _)| *end > applied)
            .or(commits.front())
            .map(|(_, at)| at.elapsed())
            .unwrap_or_default();
        Lag {
            events: end - applied,
            wait: since,
        }
    }

    pub(crate) fn published(&self) -> watch::Receiver<u64> {
        self.published.subscribe()
    }

    pub(crate) fn info(&self) -> StreamInfo {
        let now_secs = (now_micros() / 1_000_000) as u64;
        let events_per_sec = self.meter.lock().per_second(now_secs);
        let state = self.state.lock();
        StreamInfo {
            name: self.name.to_string(),
            events: state.hot.start() + state.hot.n_rows() as u64,
            lake_version: state.lake.version,
            events_per_sec,
            hot_rows: state.hot.n_rows() as u64,
            hot_bytes: state.hot.n_bytes() as u64,
            hot_age_secs: state.hot.age().as_secs_f64(),
            wal_bytes: state.log.len(),
            lake_bytes: state.lake.files.total_bytes(),
            lake_files: state.lake.files.len() as u64,
            schema: state
                .schema
                .arrow()
                .fields()
                .iter()
                .map(|f| protocol::Column {
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                })
                .collect(),
        }
    }
}
