//! One scan per stream: the work on a batch that the continuous queries of its stream share.
//!
//! A [`Scan`] holds one batch, and computes at most once what queries ask of it: the batch in
//! each input schema queries were compiled for, each distinct expression's value (WHERE
//! predicates, group keys, aggregate arguments: keyed by the physical expression's `Debug`
//! form, which names columns with their index and literals with their type and value), and each
//! distinct group-key encoding. Queries that differ in a literal (a dashboard variable, a
//! threshold) share every expression but the one with that literal; queries with the same
//! group keys share their encoding.
//!
//! **Invariant:** a value is shared only between queries compiled for the same input schema (the
//! key names the schema), so that equal keys mean equal arrays.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::SchemaRef;
use arrow::datatypes::TimestampMicrosecondType;
use arrow::row::{RowConverter, Rows};
use datafusion::physical_expr::PhysicalExpr;

use storage::TIME_COLUMN;

use super::Error;
use super::plan::ContinuousPlan;

/// The key under which an expression's value is shared: its `Debug` form.
pub(crate) fn key_of(expr: &Arc<dyn PhysicalExpr>) -> String {
    format!("{expr:?}")
}

/// The batch in one input schema, and the values computed over it.
struct Adapted {
    schema: SchemaRef,
    batch: RecordBatch,
    /// Values of expressions, by key.
    values: HashMap<String, ArrayRef>,
    /// Encoded group keys, by the key of the group expressions.
    rows: HashMap<String, Arc<Rows>>,
}

/// One batch of a stream and the work on it queries share.
pub(crate) struct Scan {
    batch: RecordBatch,
    /// The batch in each input schema asked for so far, with the values computed over it.
    adapted: Vec<Adapted>,
    /// The newest event time in the batch (µs), once asked.
    max_time: Option<Option<i64>>,
}

impl Scan {
    pub(crate) fn new(batch: RecordBatch) -> Scan {
        Scan {
            batch,
            adapted: Vec::new(),
            max_time: None,
        }
    }

    /// The newest event time in the batch (µs), if it has any.
    pub(crate) fn max_time(&mut self) -> Option<i64> {
        *self.max_time.get_or_insert_with(|| {
            let times = self.batch.column_by_name(TIME_COLUMN)?;
            arrow::compute::max(times.as_primitive_opt::<TimestampMicrosecondType>()?)
        })
    }

    /// The batch as it came.
    pub(crate) fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// The index of `plan`'s input schema among those asked for, and the batch in it.
    pub(crate) fn adapted(&mut self, plan: &ContinuousPlan) -> Result<(usize, RecordBatch), Error> {
        let schema = &plan.input_schema;
        if let Some(i) = self
            .adapted
            .iter()
            .position(|a| Arc::ptr_eq(&a.schema, schema) || a.schema.fields() == schema.fields())
        {
            return Ok((i, self.adapted[i].batch.clone()));
        }
        let batch = super::operator::adapt(&self.batch, plan)?;
        self.adapted.push(Adapted {
            schema: Arc::clone(schema),
            batch: batch.clone(),
            values: HashMap::new(),
            rows: HashMap::new(),
        });
        Ok((self.adapted.len() - 1, batch))
    }

    /// The value of `expr` (whose key is `key`) over the batch in input schema `schema`.
    pub(crate) fn value(
        &mut self,
        schema: usize,
        key: &str,
        expr: &Arc<dyn PhysicalExpr>,
    ) -> Result<ArrayRef, Error> {
        let adapted = &mut self.adapted[schema];
        if let Some(value) = adapted.values.get(key) {
            return Ok(Arc::clone(value));
        }
        let batch = &adapted.batch;
        let value = expr.evaluate(batch)?.into_array(batch.num_rows())?;
        adapted.values.insert(key.to_owned(), Arc::clone(&value));
        Ok(value)
    }

    /// The group keys `exprs` (whose key is `key`) of every row, encoded by `converter`.
    pub(crate) fn rows(
        &mut self,
        schema: usize,
        key: &str,
        exprs: &[(Arc<dyn PhysicalExpr>, String)],
        expr_keys: &[String],
        converter: &RowConverter,
    ) -> Result<Arc<Rows>, Error> {
        if let Some(rows) = self.adapted[schema].rows.get(key) {
            return Ok(Arc::clone(rows));
        }
        let columns = exprs
            .iter()
            .zip(expr_keys)
            .map(|((expr, _), k)| self.value(schema, k, expr))
            .collect::<Result<Vec<_>, _>>()?;
        let rows = Arc::new(converter.convert_columns(&columns)?);
        self.adapted[schema]
            .rows
            .insert(key.to_owned(), Arc::clone(&rows));
        Ok(rows)
    }
}
