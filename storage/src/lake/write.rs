//! Tiering's write: events sorted by `_time`, split by hour, committed as one Delta version that
//! carries the lake end, then fsync'd (files, commit, directories).

use std::collections::BTreeSet;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, StringArray};
use arrow::compute::{concat_batches, sort_to_indices, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimestampMicrosecondType};
use arrow::record_batch::RecordBatch;
use datafusion::common::Column;
use datafusion::functions::expr_fn::to_char;
use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::SessionContext;
use deltalake::kernel::Transaction;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::operations::write::SchemaMode;
use deltalake::protocol::SaveMode;

use super::{APP_ID, HOUR_COLUMN, HOUR_FORMAT, LakeTable, hour_partition, lake_error};
use crate::error::Result;
use crate::wal::sync_dir;
use crate::{Error, TIME_COLUMN};

/// Table properties set when the first tiering creates the table: a checkpoint every 25 commits
/// keeps the log quick to load (a tiering every 30 s makes 120 commits an hour).
const TABLE_PROPERTIES: [(&str, Option<&str>); 1] = [("delta.checkpointInterval", Some("25"))];

pub(super) async fn append(
    lake: &mut LakeTable,
    batches: &[RecordBatch],
    schema: &SchemaRef,
    end: u64,
) -> Result<()> {
    let batch = with_hour(&sorted_by_time(schema, batches)?)?;
    let plain = super::encoding::overflowing_strings(&batch);
    let properties = super::encoding::writer_properties(schema, &plain);
    let commit = CommitProperties::default()
        .with_application_transaction(Transaction::new(APP_ID, end as i64));
    let table = lake
        .table()
        .await?
        .write(vec![batch])
        .with_save_mode(SaveMode::Append)
        .with_schema_mode(SchemaMode::Merge)
        .with_partition_columns([HOUR_COLUMN])
        .with_writer_properties(properties)
        .with_commit_properties(commit)
        .with_configuration(TABLE_PROPERTIES)
        .await
        .map_err(|e| lake_error(&lake.path, e))?;
    let version = table
        .version()
        .ok_or_else(|| lake_error(&lake.path, "no version after commit"))?;
    lake.table = Some(table);
    sync_commit(&lake.path, version)
}

fn sorted_by_time(schema: &SchemaRef, batches: &[RecordBatch]) -> Result<RecordBatch> {
    let all = concat_batches(schema, batches)?;
    let time = all
        .column_by_name(TIME_COLUMN)
        .ok_or_else(|| Error::Arrow(arrow::error::ArrowError::SchemaError("no _time".into())))?;
    let order = sort_to_indices(time, None, None)?;
    Ok(take_record_batch(&all, &order)?)
}

const HOUR_MICROS: i64 = 3_600_000_000;

/// Adds the partition column: the hour of `_time`.
fn with_hour(batch: &RecordBatch) -> Result<RecordBatch> {
    let time = batch
        .column_by_name(TIME_COLUMN)
        .expect("sorted_by_time checked _time")
        .as_primitive::<TimestampMicrosecondType>();
    // Rows are sorted by time: format each hour once, not once per row.
    let mut last: Option<(i64, String)> = None;
    let hours: StringArray = time
        .iter()
        .map(|t| {
            let hour = t?.div_euclid(HOUR_MICROS);
            if last.as_ref().is_none_or(|(h, _)| *h != hour) {
                last = Some((hour, hour_partition(hour * HOUR_MICROS)));
            }
            last.as_ref().map(|(_, text)| text.clone())
        })
        .collect();
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(HOUR_COLUMN, DataType::Utf8, true));
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    columns.push(Arc::new(hours));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Fsyncs what commit `version` added: its data files, their directories, the commit file and
/// the log directory. Only after this may the WAL segments it covers go.
pub(super) fn sync_commit(root: &Path, version: u64) -> Result<()> {
    let log_dir = root.join("_delta_log");
    let commit = log_dir.join(format!("{version:020}.json"));
    let text = std::fs::read_to_string(&commit).map_err(|e| Error::io(&commit, e))?;
    let mut dirs = BTreeSet::new();
    for line in text.lines() {
        let action: serde_json::Value =
            serde_json::from_str(line).map_err(|e| lake_error(&commit, e))?;
        if let Some(path) = action["add"]["path"].as_str() {
            let path = root.join(super::files::percent_decode(path));
            sync_file(&path)?;
            if let Some(dir) = path.parent() {
                dirs.insert(dir.to_owned());
            }
        }
    }
    for dir in &dirs {
        sync_dir(dir)?;
    }
    sync_dir(root)?;
    sync_file(&commit)?;
    sync_dir(&log_dir)
}

fn sync_file(path: &Path) -> Result<()> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| Error::io(path, e))
}

/// Whether `schema` (the stream's) widened a column the lake holds as Int64 to Float64: Delta
/// cannot change a column's type in place, so the lake must be rewritten first ([`widen`]).
pub(super) fn needs_widening(lake: &Option<SchemaRef>, schema: &SchemaRef) -> bool {
    let Some(lake) = lake else { return false };
    lake.fields().iter().any(|field| {
        field.data_type() == &DataType::Int64
            && schema
                .field_with_name(field.name())
                .is_ok_and(|f| f.data_type() == &DataType::Float64)
    })
}

/// Rewrites every lake file with the stream's (wider) schema, as one overwrite commit that keeps
/// the lake end. Rare: only when an integer column that is already tiered receives a float.
pub(super) async fn widen(
    lake: &mut LakeTable,
    current: &super::LakeState,
    stream: &crate::StreamName,
    schema: &SchemaRef,
) -> Result<()> {
    let snapshot = crate::Snapshot {
        stream: stream.clone(),
        schema: Arc::clone(schema),
        lake: current.clone(),
        start: crate::Offset(current.end),
        batches: Vec::new(),
        end: crate::Offset(current.end),
    };
    let fail = |e: datafusion::error::DataFusionError| lake_error(&lake.path, e);
    // Every column, plus the hour partition of `_time`, in time order.
    let column = |name: &str| Expr::Column(Column::new_unqualified(name));
    let mut columns: Vec<Expr> = schema.fields().iter().map(|f| column(f.name())).collect();
    columns.push(to_char(column(TIME_COLUMN), lit(HOUR_FORMAT)).alias(HOUR_COLUMN));
    let plan = SessionContext::new()
        .read_table(snapshot.into_table())
        .and_then(|frame| frame.select(columns))
        .and_then(|frame| frame.sort(vec![column(TIME_COLUMN).sort(true, false)]))
        .map_err(fail)?
        .into_unoptimized_plan();
    let commit = CommitProperties::default()
        .with_application_transaction(Transaction::new(APP_ID, current.end as i64));
    let table = lake
        .table()
        .await?
        .write(Vec::new())
        .with_input_plan(plan)
        .with_save_mode(SaveMode::Overwrite)
        .with_schema_mode(SchemaMode::Overwrite)
        .with_partition_columns([HOUR_COLUMN])
        .with_writer_properties(super::encoding::writer_properties(
            schema,
            &Default::default(),
        ))
        .with_commit_properties(commit)
        .await
        .map_err(|e| lake_error(&lake.path, e))?;
    tracing::info!(table = %lake.path.display(), "rewrote the lake table to widen integer columns to float");
    let version = table
        .version()
        .ok_or_else(|| lake_error(&lake.path, "no version after commit"))?;
    lake.table = Some(table);
    sync_commit(&lake.path, version)
}
