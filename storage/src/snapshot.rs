//! A snapshot: an immutable view of one stream, and the DataFusion table that scans it.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::datasource::MemTable;
use datafusion::error::{DataFusionError, Result as DfResult};

use crate::{Offset, Store, StreamName};

/// Every event of a stream with an offset below `end`, in the stream's schema at that moment.
/// Later appends never change a snapshot.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(crate) stream: StreamName,
    pub(crate) schema: SchemaRef,
    pub(crate) batches: Vec<RecordBatch>,
    pub(crate) end: Offset,
}

impl Snapshot {
    pub fn stream(&self) -> &StreamName {
        &self.stream
    }

    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// One past the last offset the snapshot holds.
    pub fn end(&self) -> Offset {
        self.end
    }

    pub fn batches(&self) -> &[RecordBatch] {
        &self.batches
    }

    /// A DataFusion table over this snapshot, split into `partitions` for parallel scans.
    pub fn into_table(self, partitions: usize) -> DfResult<Arc<dyn TableProvider>> {
        let partitions = partitions.max(1);
        let per_partition = self.batches.len().div_ceil(partitions).max(1);
        let chunks: Vec<Vec<RecordBatch>> = self
            .batches
            .chunks(per_partition)
            .map(<[RecordBatch]>::to_vec)
            .collect();
        let chunks = if chunks.is_empty() {
            vec![vec![]]
        } else {
            chunks
        };
        Ok(Arc::new(MemTable::try_new(self.schema, chunks)?))
    }
}

/// The store as a DataFusion schema: every stream is a table, snapshotted when a query names it.
#[derive(Debug)]
pub(crate) struct StoreSchema {
    pub(crate) store: Arc<Store>,
    pub(crate) partitions: usize,
}

#[async_trait::async_trait]
impl SchemaProvider for StoreSchema {
    fn table_names(&self) -> Vec<String> {
        self.store
            .stream_names()
            .into_iter()
            .map(|name| name.as_str().to_owned())
            .collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let Ok(stream) = StreamName::new(name) else {
            return Ok(None);
        };
        match self.store.snapshot(&stream) {
            Ok(snapshot) => snapshot.into_table(self.partitions).map(Some),
            Err(crate::Error::StreamNotFound { .. }) => Ok(None),
            Err(err) => Err(DataFusionError::External(Box::new(err))),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        StreamName::new(name).is_ok_and(|stream| self.store.has_stream(&stream))
    }
}
