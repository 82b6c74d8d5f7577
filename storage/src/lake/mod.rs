//! The lake tier: a stream's history as a Delta Lake table at `<data-dir>/lake/<stream>/`, written
//! with delta-rs, so Spark, Trino, DuckDB, polars or the `deltalake` Python package read it without
//! Weir.
//!
//! Layout: Parquet files (zstd, sorted by `_time`, page index) partitioned by the hour of `_time`
//! (`_hour=2026-01-05T10/part-….parquet`), each commit's add actions carrying row counts and
//! min/max/null counts. Every tiering commit records the stream's lake end (one past the
//! highest offset in the lake) as the version of the Delta application transaction `weir`, so a
//! restart knows which WAL events the lake already holds.

mod blooms;
mod encoding;
mod files;
mod maintain;
mod write;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use deltalake::DeltaTable;

pub use blooms::DICTIONARY_COLUMNS;
pub(crate) use blooms::{BloomIndex, needles};
pub(crate) use files::{DataFile, DataFiles};
pub(crate) use maintain::hours_to_compact;

use crate::Error;
use crate::error::Result;

/// The application id under which tiering commits record the lake end.
pub(crate) const APP_ID: &str = "weir";
/// The partition column of lake tables: the hour of `_time`, as `YYYY-MM-DDTHH` (UTC).
pub const HOUR_COLUMN: &str = "_hour";
/// How an hour partition is named (`2026-01-05T10`), as chrono and DataFusion's `to_char` take it.
/// Hours so named sort as text in time order.
pub(crate) const HOUR_FORMAT: &str = "%Y-%m-%dT%H";

/// The hour partition of a moment (µs since the epoch).
pub(crate) fn hour_partition(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros)
        .unwrap_or_default()
        .format(HOUR_FORMAT)
        .to_string()
}

/// One version of a lake table, as readers need it. Immutable: a new commit makes a new one.
#[derive(Debug, Clone, Default)]
pub(crate) struct LakeState {
    /// Delta table version; `None` before the first commit.
    pub(crate) version: Option<u64>,
    /// One past the highest offset the lake holds.
    pub(crate) end: u64,
    /// The table's active files with their statistics.
    pub(crate) files: Arc<DataFiles>,
    /// The table's schema (with the `_hour` partition column); `None` before the first commit.
    pub(crate) schema: Option<SchemaRef>,
    /// Where the files' bloom filters are (shared by every version of the table).
    pub(crate) blooms: Arc<BloomIndex>,
}

/// A stream's Delta table, open for writing. One writer at a time (the store serializes them).
pub(crate) struct LakeTable {
    path: PathBuf,
    /// `None` until the table exists (its first commit creates it).
    table: Option<DeltaTable>,
    blooms: Arc<BloomIndex>,
}

impl std::fmt::Debug for LakeTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LakeTable")
            .field("path", &self.path)
            .finish()
    }
}

impl LakeTable {
    /// A table at `path` that does not exist yet.
    pub(crate) fn new(path: &Path) -> LakeTable {
        LakeTable {
            path: path.to_owned(),
            table: None,
            blooms: Arc::default(),
        }
    }

    /// Opens the table at `path`, if there is one.
    pub(crate) async fn open(path: &Path) -> Result<LakeTable> {
        if !path.join("_delta_log").exists() {
            return Ok(LakeTable::new(path));
        }
        let table = DeltaTable::try_from_url(table_url(path)?)
            .await
            .map_err(|e| lake_error(path, e))?;
        Ok(LakeTable {
            path: path.to_owned(),
            table: Some(table),
            blooms: Arc::default(),
        })
    }

    /// What readers need of the current version.
    pub(crate) async fn state(&self) -> Result<LakeState> {
        let Some(table) = &self.table else {
            return Ok(self.empty_state());
        };
        let Some(version) = table.version() else {
            return Ok(self.empty_state());
        };
        let snapshot = table.snapshot().map_err(|e| lake_error(&self.path, e))?;
        let end = snapshot
            .transaction_version(table.log_store().as_ref(), APP_ID)
            .await
            .map_err(|e| lake_error(&self.path, e))?
            .unwrap_or(0) as u64;
        let actions = snapshot
            .add_actions_table(true)
            .map_err(|e| lake_error(&self.path, e))?;
        Ok(LakeState {
            version: Some(version),
            end,
            files: Arc::new(DataFiles::new(&self.path, actions)),
            schema: Some(snapshot.snapshot().arrow_schema()),
            blooms: Arc::clone(&self.blooms),
        })
    }

    fn empty_state(&self) -> LakeState {
        LakeState {
            blooms: Arc::clone(&self.blooms),
            ..LakeState::default()
        }
    }

    /// Commits `batches` (events `[.., end)`, in the stream schema `schema`) as one Delta version
    /// that records `end` as the lake end, and makes it durable.
    pub(crate) async fn append(
        &mut self,
        batches: &[RecordBatch],
        schema: &SchemaRef,
        end: u64,
    ) -> Result<LakeState> {
        write::append(self, batches, schema, end).await?;
        self.state().await
    }

    /// Rewrites the table first if `schema` widened one of its integer columns to float.
    pub(crate) async fn widen_if_needed(
        &mut self,
        current: &LakeState,
        stream: &crate::StreamName,
        schema: &SchemaRef,
    ) -> Result<()> {
        if write::needs_widening(&current.schema, schema) {
            write::widen(self, current, stream, schema).await?;
        }
        Ok(())
    }

    /// The table to run an operation on, creating the handle on first use.
    async fn table(&mut self) -> Result<DeltaTable> {
        if let Some(table) = &self.table {
            return Ok(table.clone());
        }
        std::fs::create_dir_all(&self.path).map_err(|e| Error::io(&self.path, e))?;
        // Not loaded: there is nothing to load yet; the first commit creates the table.
        let table = deltalake::DeltaTableBuilder::from_url(table_url(&self.path)?)
            .and_then(|builder| builder.build())
            .map_err(|e| lake_error(&self.path, e))?;
        self.table = Some(table.clone());
        Ok(table)
    }
}

fn table_url(path: &Path) -> Result<url::Url> {
    url::Url::from_directory_path(path).map_err(|()| lake_error(path, "not an absolute path"))
}

pub(crate) fn lake_error(path: &Path, err: impl std::fmt::Display) -> Error {
    Error::Lake {
        path: path.to_owned(),
        reason: err.to_string(),
    }
}
