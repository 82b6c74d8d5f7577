//! The active files of one lake version, with the statistics from the Delta log, as DataFusion
//! pruning statistics: filters drop files before any Parquet footer is read.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Int64Type, TimeUnit, UInt64Type};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::{Column, ScalarValue};

use crate::TIME_COLUMN;

/// Delta writes timestamp statistics in milliseconds, truncated: a file's true maximum can be up
/// to this much above its recorded one, so maxima are widened by it before pruning.
const TIMESTAMP_STAT_SLACK_US: i64 = 999;

/// One row per active file: `path`, `size_bytes`, `num_records`, `min.<col>`, `max.<col>`,
/// `null_count.<col>`, `partition.<col>` (delta-rs's flattened add-actions table).
#[derive(Debug, Clone)]
pub(crate) struct DataFiles {
    root: PathBuf,
    actions: Option<RecordBatch>,
}

/// An hour partition's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Partition {
    pub(crate) hour: String,
    pub(crate) files: usize,
    pub(crate) bytes: u64,
}

/// A file to scan: its absolute path, size, rows, and the bounds of its `_time` from the Delta
/// log (the maximum widened by the log's truncation), when the log has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DataFile {
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    pub(crate) rows: Option<u64>,
    pub(crate) time: Option<(i64, i64)>,
}

impl Default for DataFiles {
    fn default() -> DataFiles {
        DataFiles {
            root: PathBuf::new(),
            actions: None,
        }
    }
}

impl DataFiles {
    pub(crate) fn new(root: &Path, actions: RecordBatch) -> DataFiles {
        DataFiles {
            root: root.to_owned(),
            actions: Some(actions),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.actions.as_ref().map_or(0, RecordBatch::num_rows)
    }

    /// The files whose row in `keep` is true (all of them when `keep` is `None`).
    pub(crate) fn files(&self, keep: Option<&[bool]>) -> Vec<DataFile> {
        let Some(actions) = &self.actions else {
            return Vec::new();
        };
        let (Some(paths), Some(sizes)) = (
            actions.column_by_name("path"),
            actions.column_by_name("size_bytes"),
        ) else {
            return Vec::new();
        };
        let paths = cast(paths, &DataType::Utf8).expect("paths are strings");
        let sizes = cast(sizes, &DataType::Int64).expect("sizes are integers");
        let (paths, sizes) = (
            paths.as_string::<i32>(),
            sizes.as_primitive::<arrow::datatypes::Int64Type>(),
        );
        let rows = self.row_counts();
        let rows = rows.as_ref().map(|r| r.as_primitive::<UInt64Type>());
        let time = Column::new_unqualified(TIME_COLUMN);
        let bounds = |array: Option<ArrayRef>| array.and_then(|a| cast(&a, &DataType::Int64).ok());
        let (min, max) = (
            bounds(self.min_values(&time)),
            bounds(self.max_values(&time)),
        );
        let (min, max) = (
            min.as_ref().map(|a| a.as_primitive::<Int64Type>()),
            max.as_ref().map(|a| a.as_primitive::<Int64Type>()),
        );
        (0..actions.num_rows())
            .filter(|&i| keep.is_none_or(|keep| keep[i]))
            .map(|i| DataFile {
                path: self.root.join(percent_decode(paths.value(i))),
                size: sizes.value(i) as u64,
                rows: rows.and_then(|r| r.is_valid(i).then(|| r.value(i))),
                time: match (min, max) {
                    (Some(min), Some(max)) if min.is_valid(i) && max.is_valid(i) => {
                        Some((min.value(i), max.value(i)))
                    }
                    _ => None,
                },
            })
            .collect()
    }

    /// Per hour partition: how many files and bytes are below `bytes`-sized "small" files.
    pub(crate) fn partitions(&self) -> Vec<Partition> {
        let Some(actions) = &self.actions else {
            return Vec::new();
        };
        let Some(hours) = actions
            .column_by_name(&format!("partition.{}", super::HOUR_COLUMN))
            .and_then(|c| cast(c, &DataType::Utf8).ok())
        else {
            return Vec::new();
        };
        let hours = hours.as_string::<i32>();
        let files = self.files(None);
        let mut partitions: std::collections::BTreeMap<String, Partition> = Default::default();
        for (idx, file) in files.iter().enumerate() {
            let hour = hours.value(idx).to_owned();
            let partition = partitions.entry(hour.clone()).or_insert_with(|| Partition {
                hour,
                files: 0,
                bytes: 0,
            });
            partition.files += 1;
            partition.bytes += file.size;
        }
        partitions.into_values().collect()
    }

    /// Bytes in all active files.
    pub(crate) fn total_bytes(&self) -> u64 {
        self.files(None).iter().map(|f| f.size).sum()
    }

    fn stat(&self, prefix: &str, column: &Column) -> Option<ArrayRef> {
        let actions = self.actions.as_ref()?;
        let array = actions.column_by_name(&format!("{prefix}.{}", column.name))?;
        Some(Arc::clone(array))
    }
}

impl PruningStatistics for DataFiles {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.stat("min", column)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        let max = self.stat("max", column)?;
        match max.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, tz) => {
                let tz = tz.clone();
                let widened: arrow::array::TimestampMicrosecondArray = max
                    .as_primitive::<arrow::datatypes::TimestampMicrosecondType>()
                    .iter()
                    .map(|v| v.map(|v| v.saturating_add(TIMESTAMP_STAT_SLACK_US)))
                    .collect();
                Some(Arc::new(widened.with_timezone_opt(tz)))
            }
            _ => Some(max),
        }
    }

    fn num_containers(&self) -> usize {
        self.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        let counts = self.stat("null_count", column)?;
        cast(&counts, &DataType::UInt64).ok()
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        let actions = self.actions.as_ref()?;
        let rows = actions.column_by_name("num_records")?;
        cast(rows, &DataType::UInt64).ok()
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

/// Delta paths are URL-encoded relative paths (`_hour=2026-01-05T10/part-….parquet`).
pub(super) fn percent_decode(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}
