//! The store: streams by name, each with its schema, write-ahead log and hot tier.
//!
//! Data directory layout:
//! ```text
//! <data-dir>/LOCK                               held (flock) while a process uses the directory
//! <data-dir>/wal/<stream>/<first offset>.wal    the stream's log segments (see `wal`)
//! <data-dir>/lake/<stream>/                     the stream's Delta Lake table (see `lake`)
//! ```
//!
//! Events come decoded (the server decodes each protocol without any lock: the costly part),
//! then are appended by their stream (`stream.rs` says in which order, and why).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::SchemaProvider;
use parking_lot::RwLock;
use serde::Serialize;
use tokio::sync::watch;

use crate::error::Result;
use crate::lake::{LakeState, LakeTable, hour_partition};
use crate::observe::{NoObserver, Observer};
use crate::snapshot::StoreSchema;
use crate::stream::Stream;
use crate::{Error, Offset, Snapshot, StreamName, Subscription, now_micros};
use crate::{schema, wal};

/// Limits the store enforces.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Most columns a stream may have; an event that would add more is rejected.
    pub max_columns: usize,
    /// A stream's hot tier is moved to the lake when it holds this many bytes...
    pub tier_bytes: usize,
    /// ... or when its oldest event has been there this long.
    pub tier_age: Duration,
    /// A stream whose hot tier holds this many bytes takes no appends ([`Error::Behind`]) until
    /// tiering catches up: memory stays bounded when ingest outruns the lake.
    pub max_hot_bytes: usize,
    /// Compaction merges an hour's small lake files into files of about this size.
    pub compact_target_bytes: u64,
    /// How often compaction, retention and vacuum run.
    pub compact_every: Duration,
    /// Files that compaction or retention replaced are deleted this long after.
    pub vacuum_grace: Duration,
    /// Events older than this (by `_time`, whole hours) are removed from the lake; `None` keeps
    /// everything. Per-stream values in `stream_retention` take precedence.
    pub retention: Option<Duration>,
    pub stream_retention: BTreeMap<StreamName, Duration>,
    /// Told of every fsync, append and lake commit (the server's metrics).
    pub observer: Arc<dyn Observer>,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            max_columns: 1000,
            tier_bytes: 64 << 20,
            tier_age: Duration::from_secs(30),
            max_hot_bytes: 256 << 20,
            compact_target_bytes: 256 << 20,
            compact_every: Duration::from_secs(60),
            vacuum_grace: Duration::from_secs(3600),
            retention: None,
            stream_retention: BTreeMap::new(),
            observer: Arc::new(NoObserver),
        }
    }
}

/// What an append did: the offsets of the events kept, and the events left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Appended {
    /// First and last offset given, when any event was kept.
    pub offsets: Option<(Offset, Offset)>,
    /// The events left out, by row, in row order.
    pub rejected: Vec<RowRejection>,
}

impl Appended {
    /// How many events were kept.
    pub fn accepted(&self) -> usize {
        self.offsets
            .map_or(0, |(first, last)| (last.0 - first.0 + 1) as usize)
    }
}

/// An event the stream could not take, and why: "field `status` is Int64, got a string".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowRejection {
    /// Its row in the appended batch.
    pub row: usize,
    pub error: String,
}

/// What the store can tell about a stream.
#[derive(Debug, Clone, Serialize)]
pub struct StreamInfo {
    pub name: String,
    /// Events ever appended (the next offset).
    pub events: u64,
    /// Arrival rate over the last few whole seconds.
    pub events_per_sec: f64,
    pub hot_rows: u64,
    pub hot_bytes: u64,
    /// How long the oldest event not yet in the lake has waited: the tiering lag.
    pub hot_age_secs: f64,
    pub wal_bytes: u64,
    pub lake_bytes: u64,
    pub lake_files: u64,
    /// The Delta table version queries read; `None` before the first tiering.
    pub lake_version: Option<u64>,
    pub schema: Vec<protocol::Column>,
}

/// The streamhouse store. Cheap to share behind an `Arc`; every method is safe to call from many
/// threads. Appends block on fsync: call them from a blocking-friendly context.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    config: StoreConfig,
    streams: RwLock<BTreeMap<StreamName, Arc<Stream>>>,
    /// Bumped after every append, so watchers know when to look again.
    changes: watch::Sender<u64>,
    _lock: File,
}

impl Store {
    /// Opens the data directory, creating it if needed, and recovers every stream: its lake
    /// table, then the events of its log that the lake does not hold yet.
    pub async fn open(dir: &Path, config: StoreConfig) -> Result<Store> {
        fs::create_dir_all(dir.join("wal")).map_err(|e| Error::io(dir, e))?;
        fs::create_dir_all(dir.join("lake")).map_err(|e| Error::io(dir, e))?;
        // Lake paths become file URLs, which must be absolute.
        let dir = dir.canonicalize().map_err(|e| Error::io(dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked { path: dir });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let mut names = std::collections::BTreeSet::new();
        for sub in ["wal", "lake"] {
            let parent = dir.join(sub);
            for entry in fs::read_dir(&parent).map_err(|e| Error::io(&parent, e))? {
                let entry = entry.map_err(|e| Error::io(&parent, e))?;
                match entry
                    .file_name()
                    .to_str()
                    .and_then(|n| StreamName::new(n).ok())
                {
                    Some(name) => {
                        names.insert(name);
                    }
                    None => {
                        tracing::warn!(path = %entry.path().display(), "ignoring unexpected entry")
                    }
                }
            }
        }
        let mut streams = BTreeMap::new();
        for name in names {
            let lake_table = LakeTable::open(&dir.join("lake").join(name.as_str())).await?;
            let lake = lake_table.state().await?;
            let wal_dir = dir.join("wal").join(name.as_str());
            let stream = Stream::recover(
                &wal_dir,
                name.clone(),
                lake_table,
                lake,
                Arc::clone(&config.observer),
            )?;
            streams.insert(name, Arc::new(stream));
        }
        Ok(Store {
            dir,
            config,
            streams: RwLock::new(streams),
            changes: watch::Sender::new(0),
            _lock: lock,
        })
    }

    /// Moves `stream`'s hot tier to its lake table now; returns the new lake end, or `None`
    /// if there was nothing to move.
    pub async fn tier(&self, stream: &StreamName) -> Result<Option<Offset>> {
        let end = self.get(stream)?.tier().await?;
        if end.is_some() {
            self.changes.send_modify(|version| *version += 1);
        }
        Ok(end.map(Offset))
    }

    /// Compacts `stream`'s lake hours that gathered small files; returns how many hours.
    pub async fn compact(&self, stream: &StreamName) -> Result<usize> {
        self.compact_hours(stream, usize::MAX).await
    }

    /// Compacts at most `max_hours` hours of `stream`; returns how many.
    async fn compact_hours(&self, stream: &StreamName, max_hours: usize) -> Result<usize> {
        let now_hour = hour_partition(now_micros());
        self.get(stream)?
            .compact(self.config.compact_target_bytes, &now_hour, max_hours)
            .await
    }

    /// Applies `stream`'s retention (if it has one) and vacuums its lake table.
    pub async fn expire_and_vacuum(&self, stream: &StreamName) -> Result<()> {
        let stream = self.get(stream)?;
        let retention = self
            .config
            .stream_retention
            .get(&stream.name)
            .copied()
            .or(self.config.retention);
        if let Some(retention) = retention {
            let first_kept = hour_partition(now_micros() - retention.as_micros() as i64);
            if stream.expire_before(&first_kept).await? {
                self.changes.send_modify(|version| *version += 1);
            }
        }
        let deleted = stream.vacuum(self.config.vacuum_grace).await?;
        if deleted > 0 {
            tracing::info!(stream = %stream.name, files = deleted, "vacuumed");
        }
        Ok(())
    }

    /// Runs the store's background work until `stop` completes: tiering each stream when its
    /// hot tier passes the size or age bound, and every `compact_every` compaction, retention
    /// and vacuum. A failed step is logged and retried on the next round.
    pub async fn maintain(&self, stop: impl std::future::Future<Output = ()>) {
        let mut stop = std::pin::pin!(stop);
        // Look often enough for the configured bounds (tests and demos use small ones).
        let period = Duration::from_secs(1)
            .min(self.config.tier_age / 2)
            .min(self.config.compact_every)
            .max(Duration::from_millis(10));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_compaction = tokio::time::Instant::now();
        // A compaction round does one hour per stream per turn, so that tiering, which bounds
        // the hot tier's memory, never waits for more than one hour's rewrite.
        let mut compacting = false;
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => {}
            }
            let streams: Vec<Arc<Stream>> = self.streams.read().values().cloned().collect();
            for stream in &streams {
                if !stream.needs_tiering(self.config.tier_bytes, self.config.tier_age) {
                    continue;
                }
                match stream.tier().await {
                    Ok(Some(lake_end)) => {
                        self.changes.send_modify(|version| *version += 1);
                        tracing::debug!(stream = %stream.name, lake_end, "tiered");
                    }
                    Ok(None) => {}
                    Err(err) => {
                        tracing::warn!(stream = %stream.name, %err, "tiering failed; will retry")
                    }
                }
            }
            if !compacting && last_compaction.elapsed() >= self.config.compact_every {
                last_compaction = tokio::time::Instant::now();
                compacting = true;
                for stream in &streams {
                    if let Err(err) = self.expire_and_vacuum(&stream.name).await {
                        tracing::warn!(stream = %stream.name, %err, "retention or vacuum failed; will retry");
                    }
                }
            }
            if compacting {
                compacting = false;
                for stream in &streams {
                    match self.compact_hours(&stream.name, 1).await {
                        Ok(n) => compacting |= n > 0,
                        Err(err) => {
                            tracing::warn!(stream = %stream.name, %err, "compaction failed; will retry")
                        }
                    }
                }
            }
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends events to `stream` (created on first write). `events` holds one row per event: a
    /// `_time` column (`Timestamp(µs, "UTC")`, no nulls) and the events' fields as nullable
    /// Boolean, Int64, Float64 or Utf8 columns (null: the event lacks the field). The columns
    /// join the stream's schema by its rules (`schema.rs`); rows it cannot take are left out and
    /// told, by row, in the reply. When this returns `Ok`, the other events are fsync'd and
    /// visible to snapshots, under the offsets it gives.
    pub fn append(&self, stream: &StreamName, events: &RecordBatch) -> Result<Appended> {
        schema::check_events(events)?;
        if let Ok(existing) = self.get(stream) {
            let hot_bytes = existing.hot_bytes();
            if hot_bytes >= self.config.max_hot_bytes {
                return Err(Error::Behind {
                    stream: stream.to_string(),
                    hot_bytes,
                });
            }
        }
        let mut rejected = Vec::new();
        if events.num_rows() == 0 {
            return Ok(Appended {
                offsets: None,
                rejected,
            });
        }
        let stream = self.stream_or_create(stream)?;
        let offsets = stream.append(events, &mut rejected, self.config.max_columns)?;
        if offsets.is_some() {
            self.changes.send_modify(|version| *version += 1);
        }
        Ok(Appended { offsets, rejected })
    }

    /// The schema of `stream` now (`None` before its first event): what decoders type events
    /// against, so that they reject what the stream would.
    pub fn schema(&self, stream: &StreamName) -> Option<SchemaRef> {
        self.get(stream).ok().map(|stream| stream.schema())
    }

    /// Most columns a stream may have.
    pub fn max_columns(&self) -> usize {
        self.config.max_columns
    }

    /// A consistent view of every event of `stream` acknowledged so far.
    pub fn snapshot(&self, stream: &StreamName) -> Result<Snapshot> {
        Ok(self.get(stream)?.snapshot())
    }

    /// Reads `stream` from offset `from` on: first the events already stored, then each as it
    /// becomes durable.
    pub fn subscribe(&self, stream: &StreamName, from: Offset) -> Result<Subscription> {
        Ok(Subscription::new(self.get(stream)?, from))
    }

    pub fn stream_names(&self) -> Vec<StreamName> {
        self.streams.read().keys().cloned().collect()
    }

    pub fn has_stream(&self, stream: &StreamName) -> bool {
        self.streams.read().contains_key(stream)
    }

    pub fn stream_info(&self, stream: &StreamName) -> Result<StreamInfo> {
        Ok(self.get(stream)?.info())
    }

    pub fn streams(&self) -> Vec<StreamInfo> {
        let streams: Vec<Arc<Stream>> = self.streams.read().values().cloned().collect();
        streams.iter().map(|stream| stream.info()).collect()
    }

    /// A receiver whose value changes after every append to any stream.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// The streams as a DataFusion schema provider; each query snapshots the streams it names.
    pub fn schema_provider(self: &Arc<Self>) -> Arc<dyn SchemaProvider> {
        Arc::new(StoreSchema {
            store: Arc::clone(self),
        })
    }

    fn get(&self, stream: &StreamName) -> Result<Arc<Stream>> {
        self.streams
            .read()
            .get(stream)
            .cloned()
            .ok_or_else(|| Error::StreamNotFound {
                stream: stream.to_string(),
            })
    }

    fn stream_or_create(&self, name: &StreamName) -> Result<Arc<Stream>> {
        if let Some(stream) = self.streams.read().get(name) {
            return Ok(Arc::clone(stream));
        }
        let mut streams = self.streams.write();
        if let Some(stream) = streams.get(name) {
            return Ok(Arc::clone(stream));
        }
        let wal_dir = self.dir.join("wal");
        let stream_dir = wal_dir.join(name.as_str());
        fs::create_dir_all(&stream_dir).map_err(|e| Error::io(&stream_dir, e))?;
        wal::sync_dir(&wal_dir)?;
        let lake_table = LakeTable::new(&self.dir.join("lake").join(name.as_str()));
        let stream = Arc::new(Stream::recover(
            &stream_dir,
            name.clone(),
            lake_table,
            LakeState::default(),
            Arc::clone(&self.config.observer),
        )?);
        streams.insert(name.clone(), Arc::clone(&stream));
        tracing::info!(stream = %name, "created stream");
        Ok(stream)
    }
}

#[cfg(test)]
mod tests;
