//! The hot tier: a stream's durable batches in memory, in offset order, all in the stream's
//! current schema.
//!
//! Small appends are concatenated into sealed batches of at least [`SEAL_ROWS`] rows, so a scan
//! touches a few large batches rather than thousands of tiny ones. Tiering drops batches from the
//! front once the lake holds them.

use std::sync::Arc;

use arrow::array::{ArrayRef, new_null_array};
use arrow::compute::{cast, concat_batches};
use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;

const SEAL_ROWS: usize = 8192;

#[derive(Debug)]
pub(crate) struct HotTier {
    /// The schema of every batch held: the stream's schema as of the last durable batch (the
    /// stream's own schema can be ahead of it, by batches not yet durable).
    schema: SchemaRef,
    /// Offset of the first event held (everything before it is in the lake).
    start: u64,
    sealed: Vec<RecordBatch>,
    open: Vec<RecordBatch>,
    open_rows: usize,
    n_rows: usize,
    n_bytes: usize,
    /// When the oldest batch held arrived, for the tiering age bound.
    oldest_arrival: Option<std::time::Instant>,
}

impl HotTier {
    pub(crate) fn new(start: u64, schema: SchemaRef) -> HotTier {
        HotTier {
            schema,
            start,
            sealed: Vec::new(),
            open: Vec::new(),
            open_rows: 0,
            n_rows: 0,
            n_bytes: 0,
            oldest_arrival: None,
        }
    }

    pub(crate) fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Adds a batch written in `schema`, the stream's schema after that batch. If the schema grew,
    /// the batches already here are re-shaped once, so every batch always has the same schema.
    pub(crate) fn push(
        &mut self,
        batch: RecordBatch,
        schema: &SchemaRef,
    ) -> Result<(), ArrowError> {
        if self.schema != *schema {
            for old in self.sealed.iter_mut().chain(self.open.iter_mut()) {
                *old = align(old, schema)?;
            }
            self.schema = Arc::clone(schema);
            self.n_bytes = self
                .batches()
                .iter()
                .map(RecordBatch::get_array_memory_size)
                .sum();
        }
        let batch = if batch.schema() == *schema {
            batch
        } else {
            align(&batch, schema)?
        };
        self.oldest_arrival
            .get_or_insert_with(std::time::Instant::now);
        self.n_rows += batch.num_rows();
        self.n_bytes += batch.get_array_memory_size();
        self.open_rows += batch.num_rows();
        self.open.push(batch);
        if self.open_rows >= SEAL_ROWS {
            self.seal()?;
        }
        Ok(())
    }

    fn seal(&mut self) -> Result<(), ArrowError> {
        if self.open.is_empty() {
            return Ok(());
        }
        let sealed = concat_batches(&self.schema, &self.open)?;
        self.n_bytes = self.n_bytes + sealed.get_array_memory_size()
            - self
                .open
                .iter()
                .map(RecordBatch::get_array_memory_size)
                .sum::<usize>();
        self.sealed.push(sealed);
        self.open.clear();
        self.open_rows = 0;
        Ok(())
    }

    /// Every batch held, oldest first.
    pub(crate) fn batches(&self) -> Vec<RecordBatch> {
        self.sealed.iter().chain(&self.open).cloned().collect()
    }

    /// Events with offsets from `from` on, oldest first (`from` must not be below [`Self::start`]).
    pub(crate) fn batches_from(&self, from: u64) -> Vec<RecordBatch> {
        let mut first = self.start;
        let mut out = Vec::new();
        for batch in self.sealed.iter().chain(&self.open) {
            let end = first + batch.num_rows() as u64;
            if end > from {
                let skip = from.saturating_sub(first) as usize;
                out.push(batch.slice(skip, batch.num_rows() - skip));
            }
            first = end;
        }
        out
    }

    /// Seals what is open and returns every batch held and the offset one past them: what a
    /// tiering takes. Batches pushed afterwards start a new open batch, so the taken ones can later
    /// be dropped whole.
    pub(crate) fn take_for_tiering(&mut self) -> Result<(Vec<RecordBatch>, u64), ArrowError> {
        self.seal()?;
        Ok((self.sealed.clone(), self.start + self.n_rows as u64))
    }

    /// Drops the sealed batches that end at or below `offset` (the lake has them now).
    pub(crate) fn drop_below(&mut self, offset: u64) {
        while let Some(batch) = self.sealed.first() {
            let end = self.start + batch.num_rows() as u64;
            if end > offset {
                break;
            }
            self.n_rows -= batch.num_rows();
            self.n_bytes -= batch.get_array_memory_size();
            self.start = end;
            self.sealed.remove(0);
        }
        self.oldest_arrival = (self.n_rows > 0).then(std::time::Instant::now);
    }

    pub(crate) fn start(&self) -> u64 {
        self.start
    }

    pub(crate) fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub(crate) fn n_bytes(&self) -> usize {
        self.n_bytes
    }

    /// How long the oldest event not yet tiered has been here.
    pub(crate) fn age(&self) -> std::time::Duration {
        self.oldest_arrival.map(|t| t.elapsed()).unwrap_or_default()
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
