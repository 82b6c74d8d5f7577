//! Query results written out: JSON rows for the API and the live protocol, and the export formats
//! (`csv`, `ndjson`, `arrow` IPC stream, `parquet`).

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, UInt64Type};
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use protocol::{Column, QueryResult, Row};
use serde_json::Value;

use super::QueryOutput;

/// An export format, chosen with `?format=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Export {
    Csv,
    Ndjson,
    Arrow,
    Parquet,
}

impl Export {
    pub(crate) fn parse(name: &str) -> Option<Export> {
        Some(match name {
            "csv" => Export::Csv,
            "ndjson" => Export::Ndjson,
            "arrow" => Export::Arrow,
            "parquet" => Export::Parquet,
            _ => return None,
        })
    }

    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Export::Csv => "text/csv; charset=utf-8",
            Export::Ndjson => "application/x-ndjson",
            Export::Arrow => "application/vnd.apache.arrow.stream",
            Export::Parquet => "application/vnd.apache.parquet",
        }
    }

    /// The file name extension of an export.
    pub(crate) fn extension(self) -> &'static str {
        match self {
            Export::Csv => "csv",
            Export::Ndjson => "ndjson",
            Export::Arrow => "arrow",
            Export::Parquet => "parquet",
        }
    }

    pub(crate) fn write(self, output: &QueryOutput) -> Result<Vec<u8>, ArrowError> {
        let mut out = Vec::new();
        match self {
            Export::Csv => {
                let mut writer = arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                for batch in &output.batches {
                    writer.write(batch)?;
                }
            }
            Export::Ndjson => {
                let mut writer = arrow::json::LineDelimitedWriter::new(&mut out);
                for batch in &output.batches {
                    writer.write(batch)?;
                }
                writer.finish()?;
            }
            Export::Arrow => {
                let mut writer =
                    arrow::ipc::writer::StreamWriter::try_new(&mut out, &output.schema)?;
                for batch in &output.batches {
                    writer.write(batch)?;
                }
                writer.finish()?;
            }
            Export::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::ZSTD(ZstdLevel::default()))
                    .build();
                let mut writer =
                    ArrowWriter::try_new(&mut out, Arc::clone(&output.schema), Some(props))
                        .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
                for batch in &output.batches {
                    writer
                        .write(batch)
                        .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
                }
                writer
                    .close()
                    .map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
            }
        }
        Ok(out)
    }
}

/// The columns of a schema, as results describe them.
pub(crate) fn columns(schema: &arrow::datatypes::Schema) -> Vec<Column> {
    schema
        .fields()
        .iter()
        .map(|f| Column {
            name: f.name().clone(),
            data_type: f.data_type().to_string(),
        })
        .collect()
}

/// A result as the JSON API replies it, with the server's clock `now` (µs).
pub(crate) fn result(output: &QueryOutput, now: i64) -> Result<QueryResult, ArrowError> {
    Ok(QueryResult {
        columns: columns(&output.schema),
        rows: rows(output)?,
        truncated: output.truncated,
        now,
    })
}

/// One batch's rows as JSON arrays, as [`rows`] writes them.
pub(crate) fn batch_rows(batch: &RecordBatch) -> Result<Vec<Row>, ArrowError> {
    let mut rows: Vec<Row> = (0..batch.num_rows())
        .map(|_| Vec::with_capacity(batch.num_columns()))
        .collect();
    for column in batch.columns() {
        for (row, value) in rows.iter_mut().zip(column_values(column)?) {
            row.push(value);
        }
    }
    Ok(rows)
}

/// Rows as JSON arrays. Integers and floats are numbers (NaN and infinities become null),
/// timestamps are RFC 3339 strings in UTC, other types are written as Arrow displays them.
pub(crate) fn rows(output: &QueryOutput) -> Result<Vec<Row>, ArrowError> {
    let n_rows = output.batches.iter().map(RecordBatch::num_rows).sum();
    let mut rows: Vec<Row> = Vec::with_capacity(n_rows);
    for batch in &output.batches {
        rows.extend(batch_rows(batch)?);
    }
    Ok(rows)
}

fn column_values(column: &ArrayRef) -> Result<Vec<Value>, ArrowError> {
    let n = column.len();
    let nullable = |i: usize, value: Value| {
        if column.is_null(i) {
            Value::Null
        } else {
            value
        }
    };
    Ok(match column.data_type() {
        DataType::Null => vec![Value::Null; n],
        DataType::Boolean => {
            let array = column.as_boolean();
            (0..n)
                .map(|i| nullable(i, Value::Bool(array.value(i))))
                .collect()
        }
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => {
            let array = cast(column, &DataType::Int64)?;
            let array = array.as_primitive::<Int64Type>();
            (0..n).map(|i| nullable(i, array.value(i).into())).collect()
        }
        DataType::UInt64 => {
            let array = column.as_primitive::<UInt64Type>();
            (0..n).map(|i| nullable(i, array.value(i).into())).collect()
        }
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let array = cast(column, &DataType::Float64)?;
            let array = array.as_primitive::<Float64Type>();
            (0..n)
                .map(|i| {
                    let number = serde_json::Number::from_f64(array.value(i));
                    nullable(i, number.map_or(Value::Null, Value::Number))
                })
                .collect()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let array = cast(column, &DataType::Utf8)?;
            let array = array.as_string::<i32>();
            (0..n).map(|i| nullable(i, array.value(i).into())).collect()
        }
        DataType::Timestamp(..) => {
            let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
            let array = cast(column, &utc)?;
            let array = array.as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
            (0..n)
                .map(|i| {
                    let text = chrono::DateTime::from_timestamp_micros(array.value(i))
                        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string());
                    nullable(i, text.map_or(Value::Null, Value::String))
                })
                .collect()
        }
        _ => {
            let formatter = ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())?;
            (0..n)
                .map(|i| nullable(i, Value::String(formatter.value(i).to_string())))
                .collect()
        }
    })
}
