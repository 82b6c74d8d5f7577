//! Keeping a lake table healthy: compaction (small files of an hour merged into one, sorted by
//! `_time`, as a commit that changes no data), vacuum (files no version needs, after a grace
//! period), and retention (whole expired hours removed).

use std::collections::BTreeSet;
use std::num::NonZeroU64;
use std::time::Duration;

use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::optimize::OptimizeType;
use deltalake::parquet::file::metadata::ParquetMetaDataReader;
use deltalake::{FilterOp, FilterValue};

use datafusion::common::Column;
use datafusion::logical_expr::{Expr, lit};

use super::{HOUR_COLUMN, LakeState, LakeTable, lake_error};
use crate::error::Result;

/// Hours to compact: those with several files, once the hour is over (no more tiering into it,
/// short of late events) or once it has many files.
pub(crate) fn hours_to_compact(
    state: &LakeState,
    target_bytes: u64,
    now_hour: &str,
) -> Vec<String> {
    state
        .files
        .partitions()
        .into_iter()
        .filter(|p| p.files >= 2 && (p.hour.as_str() < now_hour || p.files >= 8))
        // Hours already made of large files are left alone (no endless rewriting).
        .filter(|p| p.bytes / (p.files as u64) < target_bytes / 2)
        .map(|p| p.hour)
        .collect()
}

impl LakeTable {
    /// The string columns that the files of `hour` hold without a dictionary (or whose
    /// dictionary overflowed): the compacted files keep them so (see `encoding`). A file whose
    /// footer cannot be read says nothing (compaction itself will report it).
    async fn strings_without_dictionary(&self, hour: &str) -> Result<BTreeSet<String>> {
        let partition = format!("{HOUR_COLUMN}={hour}");
        let files: Vec<_> = self
            .state()
            .await?
            .files
            .files(None)
            .into_iter()
            .map(|file| file.path)
            .filter(|path| path.iter().any(|part| part == partition.as_str()))
            .collect();
        let read = move || {
            let mut plain = BTreeSet::new();
            for path in files {
                let metadata = std::fs::File::open(&path)
                    .ok()
                    .and_then(|file| ParquetMetaDataReader::new().parse_and_finish(&file).ok());
                if let Some(metadata) = metadata {
                    plain.extend(super::encoding::strings_without_dictionary(&metadata));
                }
            }
            plain
        };
        tokio::task::spawn_blocking(read)
            .await
            .map_err(|e| lake_error(&self.path, e))
    }

    /// Rewrites the files of `hour` as files of up to `target_bytes`, sorted by `_time`, in one
    /// commit with `dataChange=false`. Readers of older versions keep their files until vacuum.
    pub(crate) async fn compact(&mut self, hour: &str, target_bytes: u64) -> Result<LakeState> {
        let table = self.table().await?;
        let filters = [(HOUR_COLUMN, FilterOp::Eq, FilterValue::Scalar(hour))];
        let schema = table
            .snapshot()
            .map_err(|e| lake_error(&self.path, e))?
            .snapshot()
            .arrow_schema();
        let plain = self.strings_without_dictionary(hour).await?;
        let properties = super::encoding::writer_properties(&schema, &plain);
        let (table, metrics) = table
            .optimize()
            .with_type(OptimizeType::ZOrder(vec![crate::TIME_COLUMN.to_owned()]))
            .with_filters(&filters)
            .with_target_size(NonZeroU64::new(target_bytes.max(1)).expect("at least 1"))
            .with_writer_properties(properties)
            .with_commit_properties(CommitProperties::default())
            .await
            .map_err(|e| lake_error(&self.path, e))?;
        tracing::info!(
            table = %self.path.display(),
            hour,
            files_added = metrics.num_files_added,
            files_removed = metrics.num_files_removed,
            "compacted"
        );
        if let Some(version) = table.version() {
            super::write::sync_commit(&self.path, version)?;
        }
        self.table = Some(table);
        self.state().await
    }

    /// Deletes the files that no version since `grace` ago needs (compacted or expired ones).
    /// Returns how many files were deleted.
    pub(crate) async fn vacuum(&mut self, grace: Duration) -> Result<usize> {
        if self.table.is_none() {
            return Ok(0);
        }
        let table = self.table().await?;
        let retention = chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::hours(1));
        let (table, metrics) = table
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .await
            .map_err(|e| lake_error(&self.path, e))?;
        self.table = Some(table);
        Ok(metrics.files_deleted.len())
    }

    /// Removes every hour before `first_kept` (`YYYY-MM-DDTHH`), as one commit.
    pub(crate) async fn expire_before(&mut self, first_kept: &str) -> Result<LakeState> {
        let table = self.table().await?;
        let hour = Expr::Column(Column::new_unqualified(HOUR_COLUMN));
        let predicate = hour.lt(lit(first_kept));
        let (table, metrics) = table
            .delete()
            .with_predicate(predicate)
            .await
            .map_err(|e| lake_error(&self.path, e))?;
        tracing::info!(
            table = %self.path.display(),
            first_kept,
            files_removed = metrics.num_removed_files,
            "expired old hours"
        );
        if let Some(version) = table.version() {
            super::write::sync_commit(&self.path, version)?;
        }
        self.table = Some(table);
        self.state().await
    }
}
