//! The `system` schema: tables that describe the store, built fresh whenever a query names them,
//! of the streams the session's reader may read.
//!
//! - `system.streams`: `name, events, events_per_sec, hot_rows, hot_bytes, wal_bytes, lake_bytes, columns`
//! - `system.columns`: `stream, position, name, type`

use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::Result;
use storage::{Store, StreamInfo};

use super::Reader;

const TABLES: [&str; 2] = ["streams", "columns"];

#[derive(Debug)]
pub(crate) struct SystemSchema {
    store: Arc<Store>,
    reader: Reader,
}

impl SystemSchema {
    pub(crate) fn new(store: Arc<Store>, reader: Reader) -> SystemSchema {
        SystemSchema { store, reader }
    }
}

#[async_trait::async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        TABLES.iter().map(|t| t.to_string()).collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let mut streams = self.store.streams();
        streams.retain(|s| self.reader.may_read(&s.name));
        let batch = match name {
            "streams" => streams_batch(&streams)?,
            "columns" => columns_batch(&streams)?,
            _ => return Ok(None),
        };
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]])?;
        Ok(Some(Arc::new(table)))
    }

    fn table_exist(&self, name: &str) -> bool {
        TABLES.contains(&name)
    }
}

fn streams_batch(streams: &[StreamInfo]) -> Result<RecordBatch> {
    let int = |f: fn(&StreamInfo) -> u64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(
            streams.iter().map(|s| f(s) as i64),
        ))
    };
    let schema = Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("events", DataType::Int64, false),
        Field::new("events_per_sec", DataType::Float64, false),
        Field::new("hot_rows", DataType::Int64, false),
        Field::new("hot_bytes", DataType::Int64, false),
        Field::new("wal_bytes", DataType::Int64, false),
        Field::new("lake_bytes", DataType::Int64, false),
        Field::new("columns", DataType::Int64, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            streams.iter().map(|s| &s.name),
        )),
        int(|s| s.events),
        Arc::new(Float64Array::from_iter_values(
            streams.iter().map(|s| s.events_per_sec),
        )),
        int(|s| s.hot_rows),
        int(|s| s.hot_bytes),
        int(|s| s.wal_bytes),
        int(|s| s.lake_bytes),
        int(|s| s.schema.len() as u64),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}

fn columns_batch(streams: &[StreamInfo]) -> Result<RecordBatch> {
    let rows: Vec<(&str, i64, &str, &str)> = streams
        .iter()
        .flat_map(|s| {
            s.schema.iter().enumerate().map(|(position, column)| {
                (
                    s.name.as_str(),
                    position as i64,
                    column.name.as_str(),
                    column.data_type.as_str(),
                )
            })
        })
        .collect();
    let schema = Schema::new(vec![
        Field::new("stream", DataType::Utf8, false),
        Field::new("position", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
    ]);
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.3))),
    ];
    Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
}
