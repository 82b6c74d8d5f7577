//! The store: streams by name, each with its schema, write-ahead log and hot tier.
//!
//! Data directory layout:
//! ```text
//! <data-dir>/LOCK                          held (flock) while a process uses the directory
//! <data-dir>/wal/<stream>/00000000000000000000.wal   the stream's log, named by its first offset
//! ```
//!
//! Order of an append, and why: the body is parsed without any lock (the costly part); then,
//! under the stream's lock, events are typed against the schema, given offsets, written to the log
//! and fsync'd, and only then pushed to the hot tier. So a snapshot (taken under the same lock)
//! never sees an event that is not durable, and offsets are assigned in log order, gap-free.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::catalog::SchemaProvider;
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::watch;

use crate::decode::{self, AppendOutcome, BodyFormat};
use crate::error::Result;
use crate::hot::HotTier;
use crate::rate::RateMeter;
use crate::schema::StreamSchema;
use crate::snapshot::StoreSchema;
use crate::wal::{self, Wal};
use crate::{Error, Offset, Snapshot, StreamName};

/// Limits the store enforces.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Most columns a stream may have; an event that would add more is rejected.
    pub max_columns: usize,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig { max_columns: 1000 }
    }
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
    pub wal_bytes: u64,
    pub lake_bytes: u64,
    pub schema: Vec<ColumnInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
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

#[derive(Debug)]
struct Stream {
    name: StreamName,
    state: Mutex<StreamState>,
    meter: Mutex<RateMeter>,
}

#[derive(Debug)]
struct StreamState {
    schema: StreamSchema,
    wal: Wal,
    hot: HotTier,
    next_offset: u64,
}

impl Store {
    /// Opens the data directory, creating it if needed, and recovers every stream from its log.
    pub fn open(dir: &Path, config: StoreConfig) -> Result<Store> {
        fs::create_dir_all(dir.join("wal")).map_err(|e| Error::io(dir, e))?;
        let lock_path = dir.join("LOCK");
        let lock = File::create(&lock_path).map_err(|e| Error::io(&lock_path, e))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::Locked {
                    path: dir.to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io(&lock_path, e)),
        }
        let mut streams = BTreeMap::new();
        let wal_dir = dir.join("wal");
        let entries = fs::read_dir(&wal_dir).map_err(|e| Error::io(&wal_dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&wal_dir, e))?;
            let Some(name) = entry
                .file_name()
                .to_str()
                .and_then(|n| StreamName::new(n).ok())
            else {
                tracing::warn!(path = %entry.path().display(), "ignoring unexpected entry");
                continue;
            };
            let stream = Stream::recover(&wal_dir, name.clone())?;
            streams.insert(name, Arc::new(stream));
        }
        Ok(Store {
            dir: dir.to_owned(),
            config,
            streams: RwLock::new(streams),
            changes: watch::Sender::new(0),
            _lock: lock,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Decodes a body of JSON events and appends the good ones to `stream` (created on first
    /// write). When this returns `Ok`, the accepted events are fsync'd and visible to snapshots.
    pub fn append_json(
        &self,
        stream: &StreamName,
        body: &[u8],
        format: BodyFormat,
    ) -> Result<AppendOutcome> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let (events, mut rejected) = decode::parse_body(body, format, now.as_micros() as i64)?;
        if events.is_empty() {
            return Ok(AppendOutcome {
                accepted: 0,
                rejected,
                offsets: None,
            });
        }
        let stream = self.stream_or_create(stream)?;
        let (accepted, offsets) = {
            let mut state = stream.state.lock();
            let state = &mut *state;
            let schema_before = state.schema.clone();
            let first = Offset(state.next_offset);
            let batch = decode::build_batch(
                &mut state.schema,
                events,
                first,
                self.config.max_columns,
                &mut rejected,
            )?;
            let Some(batch) = batch else {
                return Ok(AppendOutcome {
                    accepted: 0,
                    rejected,
                    offsets: None,
                });
            };
            if let Err(err) = state.wal.append(&batch) {
                state.schema = schema_before;
                return Err(err);
            }
            let n_rows = batch.num_rows() as u64;
            state.hot.push(batch, state.schema.arrow())?;
            state.next_offset += n_rows;
            (n_rows, (first, Offset(state.next_offset - 1)))
        };
        stream.meter.lock().record(now.as_secs(), accepted);
        self.changes.send_modify(|version| *version += 1);
        Ok(AppendOutcome {
            accepted: accepted as usize,
            rejected,
            offsets: Some(offsets),
        })
    }

    /// A consistent view of every event of `stream` acknowledged so far.
    pub fn snapshot(&self, stream: &StreamName) -> Result<Snapshot> {
        let stream = self.get(stream)?;
        let state = stream.state.lock();
        Ok(Snapshot {
            stream: stream.name.clone(),
            schema: std::sync::Arc::clone(state.schema.arrow()),
            batches: state.hot.batches(),
            end: Offset(state.next_offset),
        })
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
    pub fn schema_provider(self: &Arc<Self>, partitions: usize) -> Arc<dyn SchemaProvider> {
        Arc::new(StoreSchema {
            store: Arc::clone(self),
            partitions,
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
        wal::sync_parent(&stream_dir)?;
        let stream = Arc::new(Stream::recover(&wal_dir, name.clone())?);
        streams.insert(name.clone(), Arc::clone(&stream));
        tracing::info!(stream = %name, "created stream");
        Ok(stream)
    }
}

impl Stream {
    fn recover(wal_dir: &Path, name: StreamName) -> Result<Stream> {
        let path = wal_dir.join(name.as_str()).join(format!("{:020}.wal", 0));
        let (wal, recovered) = Wal::open(&path)?;
        let truncated = recovered.truncated;
        let mut schema = StreamSchema::new();
        let mut hot = HotTier::default();
        let mut next_offset = 0u64;
        for batch in recovered.batches {
            schema.absorb(&batch.schema());
            let first = batch
                .column_by_name(crate::OFFSET_COLUMN)
                .and_then(|c| c.as_any().downcast_ref::<arrow::array::Int64Array>())
                .and_then(|offsets| offsets.iter().next().flatten());
            if first != Some(next_offset as i64) {
                return Err(Error::CorruptWal {
                    path,
                    position: 0,
                    reason: format!(
                        "expected a batch starting at offset {next_offset}, found {first:?}"
                    ),
                });
            }
            next_offset += batch.num_rows() as u64;
            hot.push(batch, schema.arrow())?;
        }
        if let Some(bytes) = truncated {
            tracing::warn!(stream = %name, bytes, "recovered stream after truncating a torn log tail");
        }
        tracing::info!(stream = %name, events = next_offset, "recovered stream");
        Ok(Stream {
            name,
            state: Mutex::new(StreamState {
                schema,
                wal,
                hot,
                next_offset,
            }),
            meter: Mutex::new(RateMeter::default()),
        })
    }

    fn info(&self) -> StreamInfo {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let events_per_sec = self.meter.lock().per_second(now);
        let state = self.state.lock();
        StreamInfo {
            name: self.name.to_string(),
            events: state.next_offset,
            events_per_sec,
            hot_rows: state.hot.n_rows() as u64,
            hot_bytes: state.hot.n_bytes() as u64,
            wal_bytes: state.wal.len(),
            lake_bytes: 0,
            schema: state
                .schema
                .arrow()
                .fields()
                .iter()
                .map(|f| ColumnInfo {
                    name: f.name().clone(),
                    data_type: f.data_type().to_string(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests;
