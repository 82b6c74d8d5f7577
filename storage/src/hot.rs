//! The hot tier: a stream's batches in memory, all in the stream's current schema.
//!
//! Small appends are concatenated into sealed batches of at least [`SEAL_ROWS`] rows, so a scan
//! touches a few large batches rather than thousands of tiny ones.

use std::sync::Arc;

use arrow::array::{ArrayRef, new_null_array};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

const SEAL_ROWS: usize = 8192;

#[derive(Debug, Default)]
pub(crate) struct HotTier {
    sealed: Vec<RecordBatch>,
    open: Vec<RecordBatch>,
    open_rows: usize,
    n_rows: usize,
    n_bytes: usize,
}

impl HotTier {
    /// Adds a batch written in `schema`, the stream's schema after that batch. If the schema grew,
    /// the batches already here are re-shaped once, so every batch always has the same schema.
    pub(crate) fn push(
        &mut self,
        batch: RecordBatch,
        schema: &SchemaRef,
    ) -> Result<(), ArrowError> {
        let current = self
            .sealed
            .first()
            .or(self.open.first())
            .map(RecordBatch::schema);
        if current.is_some_and(|current| current != *schema) {
            for old in self.sealed.iter_mut().chain(self.open.iter_mut()) {
                *old = align(old, schema)?;
            }
        }
        let batch = if batch.schema() == *schema {
            batch
        } else {
            align(&batch, schema)?
        };
        self.n_rows += batch.num_rows();
        self.n_bytes += batch.get_array_memory_size();
        self.open_rows += batch.num_rows();
        self.open.push(batch);
        if self.open_rows >= SEAL_ROWS {
            let sealed = concat_batches(schema, &self.open)?;
            self.n_bytes = self.n_bytes + sealed.get_array_memory_size()
                - self
                    .open
                    .iter()
                    .map(RecordBatch::get_array_memory_size)
                    .sum::<usize>();
            self.sealed.push(sealed);
            self.open.clear();
            self.open_rows = 0;
        }
        Ok(())
    }

    pub(crate) fn batches(&self) -> Vec<RecordBatch> {
        self.sealed.iter().chain(&self.open).cloned().collect()
    }

    pub(crate) fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub(crate) fn n_bytes(&self) -> usize {
        self.n_bytes
    }
}

/// Re-shapes a batch into a wider schema: missing columns become nulls, ints become floats.
pub(crate) fn align(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| -> Result<ArrayRef, ArrowError> {
            match batch.column_by_name(field.name()) {
                Some(column) if column.data_type() == field.data_type() => Ok(Arc::clone(column)),
                Some(column) => cast(column, field.data_type()),
                None => Ok(new_null_array(field.data_type(), batch.num_rows())),
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
}
