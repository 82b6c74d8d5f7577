//! A stream's schema and how it evolves: made by the first events, widened by later ones.
//!
//! Rules ([`evolve`]): a new field becomes a new nullable column; an integer column that receives a
//! float becomes Float64 (integers are then stored as floats); a float column takes integers; any
//! other type conflict rejects the event. `_time` and `_offset` are always the first two columns.
//! Decoders type events by the same rules ([`ColumnType`], [`evolve`]) before they append them,
//! and [`StreamSchema::conform`] applies them again to the columns of each batch under the
//! stream's lock, so that two appends racing to type one field are told apart.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBufferBuilder, Int64Array, RecordBatch, new_null_array,
};
use arrow::compute::{cast, filter};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::{Error, OFFSET_COLUMN, Offset, RowRejection, TIME_COLUMN};

/// The types a column of events can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    Bool,
    Int,
    Float,
    Str,
}

impl ColumnType {
    /// The Arrow type of such a column.
    pub fn data_type(self) -> DataType {
        match self {
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int => DataType::Int64,
            ColumnType::Float => DataType::Float64,
            ColumnType::Str => DataType::Utf8,
        }
    }

    /// The column type of an Arrow type, if events can have it.
    pub fn of(data_type: &DataType) -> Option<ColumnType> {
        Some(match data_type {
            DataType::Boolean => ColumnType::Bool,
            DataType::Int64 => ColumnType::Int,
            DataType::Float64 => ColumnType::Float,
            DataType::Utf8 => ColumnType::Str,
            _ => return None,
        })
    }

    fn describe(self) -> &'static str {
        match self {
            ColumnType::Bool => "a boolean",
            ColumnType::Int => "an integer",
            ColumnType::Float => "a float",
            ColumnType::Str => "a string",
        }
    }
}

/// The rule of evolution: the type column `name` of type `column` has once it takes a value of
/// type `value`, or why it cannot take it.
pub fn evolve(name: &str, column: ColumnType, value: ColumnType) -> Result<ColumnType, String> {
    match (column, value) {
        _ if column == value => Ok(column),
        (ColumnType::Int, ColumnType::Float) | (ColumnType::Float, ColumnType::Int) => {
            Ok(ColumnType::Float)
        }
        _ => Err(format!(
            "field `{name}` is {}, got {}",
            column.data_type(),
            value.describe()
        )),
    }
}

/// The schema of one stream. Only grows: columns are never removed or renamed.
#[derive(Debug, Clone)]
pub(crate) struct StreamSchema {
    /// Event columns in order of first appearance (excluding `_time` and `_offset`).
    columns: Vec<(String, ColumnType)>,
    index: HashMap<String, usize, foldhash::fast::RandomState>,
    arrow: SchemaRef,
}

impl StreamSchema {
    pub(crate) fn new() -> StreamSchema {
        let mut schema = StreamSchema {
            columns: Vec::new(),
            index: HashMap::default(),
            arrow: Arc::new(Schema::empty()),
        };
        schema.rebuild_arrow();
        schema
    }

    pub(crate) fn arrow(&self) -> &SchemaRef {
        &self.arrow
    }

    #[cfg(test)]
    pub(crate) fn columns(&self) -> &[(String, ColumnType)] {
        &self.columns
    }

    /// Fits a batch of events (checked by [`check_events`]) to the schema: the batch in the
    /// schema (evolved if its events need it) with offsets from `first`. Rows whose values a
    /// column cannot take (its type conflicts, or it would be a column past `max_columns`) are
    /// left out and told in `rejected`; the schema grows only by what the kept rows use. `None`
    /// when no row is kept. The schema itself is not changed: the caller installs the evolved one
    /// once the batch is written (most batches evolve nothing, and then nothing is copied).
    pub(crate) fn conform(
        &self,
        events: &RecordBatch,
        first: Offset,
        max_columns: usize,
        rejected: &mut Vec<RowRejection>,
    ) -> Result<Option<Conformed>, Error> {
        let n_rows = events.num_rows();
        let mut kept = Kept::all(n_rows);
        // Each event column's column in the schema (`None` for new ones) and type after it.
        let mut targets: Vec<(usize, Option<usize>, ColumnType)> = Vec::new();
        let mut new_columns = Vec::new();
        for (i, field) in events.schema().fields().iter().enumerate() {
            if field.name() == TIME_COLUMN {
                continue;
            }
            let value = ColumnType::of(field.data_type()).expect("checked by check_events");
            match self.index.get(field.name()) {
                Some(&idx) => match evolve(field.name(), self.columns[idx].1, value) {
                    Ok(after) => targets.push((i, Some(idx), after)),
                    Err(reason) => kept.reject_values(events.column(i), &reason, rejected),
                },
                None => new_columns.push(i),
            }
        }
        let mut n_columns = self.columns.len();
        for i in new_columns {
            if !kept.any_value(events.column(i)) {
                continue;
            }
            let field = events.schema().field(i).clone();
            if n_columns >= max_columns {
                let reason = format!("the stream would have more than {max_columns} columns");
                kept.reject_values(events.column(i), &reason, rejected);
                continue;
            }
            n_columns += 1;
            let value = ColumnType::of(field.data_type()).expect("checked by check_events");
            targets.push((i, None, value));
        }
        rejected.sort_by_key(|r| r.row);
        let mask = kept.mask();
        if mask.as_ref().is_some_and(|m| m.true_count() == 0) || n_rows == 0 {
            return Ok(None);
        }
        // Evolve: widen and add the columns that kept rows use.
        let widens = |i: usize, idx: usize, after: ColumnType| {
            self.columns[idx].1 != after && kept.any_value(events.column(i))
        };
        let evolves = targets.iter().any(|&(i, idx, after)| match idx {
            Some(idx) => widens(i, idx, after),
            None => true,
        });
        let mut evolved = evolves.then(|| self.clone());
        let mut sources: Vec<Option<usize>> = vec![None; self.columns.len()];
        for &(i, idx, after) in &targets {
            let idx = match idx {
                Some(idx) => {
                    if widens(i, idx, after) {
                        let next = evolved.as_mut().expect("a widening evolves the schema");
                        next.columns[idx].1 = after;
                    }
                    idx
                }
                None => {
                    let next = evolved.as_mut().expect("a new column evolves the schema");
                    let name = events.schema().field(i).name().clone();
                    next.columns.push((name.clone(), after));
                    next.index.insert(name, next.columns.len() - 1);
                    sources.push(None);
                    next.columns.len() - 1
                }
            };
            sources[idx] = Some(i);
        }
        if let Some(next) = &mut evolved {
            next.rebuild_arrow();
        }
        let schema = evolved.as_ref().unwrap_or(self);
        let kept_rows = |array: &ArrayRef| -> Result<ArrayRef, Error> {
            Ok(match &mask {
                Some(mask) => filter(array, mask)?,
                None => Arc::clone(array),
            })
        };
        let time = events
            .column_by_name(TIME_COLUMN)
            .expect("checked by check_events");
        let time = kept_rows(time)?;
        let n_kept = time.len();
        let first = first.0 as i64;
        let mut arrays: Vec<ArrayRef> = vec![
            time,
            Arc::new(Int64Array::from_iter_values(first..first + n_kept as i64)),
        ];
        for ((_, column_type), source) in schema.columns.iter().zip(&sources) {
            let data_type = column_type.data_type();
            arrays.push(match source {
                Some(i) => {
                    let array = kept_rows(events.column(*i))?;
                    if array.data_type() == &data_type {
                        array
                    } else {
                        cast(&array, &data_type)?
                    }
                }
                None => new_null_array(&data_type, n_kept),
            });
        }
        let batch = RecordBatch::try_new(Arc::clone(&schema.arrow), arrays)?;
        Ok(Some(Conformed { batch, evolved }))
    }

    /// Widens the schema to cover a batch written earlier (used when replaying the log).
    pub(crate) fn absorb(&mut self, schema: &Schema) {
        let mut changed = false;
        for field in schema.fields() {
            if [TIME_COLUMN, OFFSET_COLUMN, crate::lake::HOUR_COLUMN]
                .contains(&field.name().as_str())
            {
                continue;
            }
            let Some(value) = ColumnType::of(field.data_type()) else {
                continue;
            };
            match self.index.get(field.name()) {
                Some(&idx) => {
                    if self.columns[idx].1 == ColumnType::Int && value == ColumnType::Float {
                        self.columns[idx].1 = ColumnType::Float;
                        changed = true;
                    }
                }
                None => {
                    self.columns.push((field.name().clone(), value));
                    self.index
                        .insert(field.name().clone(), self.columns.len() - 1);
                    changed = true;
                }
            }
        }
        if changed {
            self.rebuild_arrow();
        }
    }

    fn rebuild_arrow(&mut self) {
        let mut fields = vec![
            Field::new(TIME_COLUMN, time_type(), false),
            Field::new(OFFSET_COLUMN, DataType::Int64, false),
        ];
        fields.extend(
            self.columns
                .iter()
                .map(|(name, column_type)| Field::new(name, column_type.data_type(), true)),
        );
        self.arrow = Arc::new(Schema::new(fields));
    }
}

/// A batch fitted to a stream's schema.
pub(crate) struct Conformed {
    /// The kept events in the schema, with their offsets.
    pub(crate) batch: RecordBatch,
    /// The schema the batch is in, when its events evolved the stream's.
    pub(crate) evolved: Option<StreamSchema>,
}

/// The type of `_time`: µs since the epoch, UTC.
pub(crate) fn time_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// Checks that a batch holds events as [`crate::Store::append`] takes them: a `_time` column
/// without nulls, other columns of a [`ColumnType`], no store column, no name twice.
pub(crate) fn check_events(events: &RecordBatch) -> Result<(), Error> {
    let invalid = |reason: String| Err(Error::InvalidEvents { reason });
    let schema = events.schema();
    let mut names = std::collections::HashSet::new();
    for (field, column) in schema.fields().iter().zip(events.columns()) {
        let name = field.name().as_str();
        if !names.insert(name) {
            return invalid(format!("column `{name}` appears twice"));
        }
        if name == TIME_COLUMN {
            if field.data_type() != &time_type() || column.null_count() > 0 {
                return invalid(format!(
                    "`{TIME_COLUMN}` must be {} without nulls",
                    time_type()
                ));
            }
        } else if name.is_empty() || name == OFFSET_COLUMN || name == crate::lake::HOUR_COLUMN {
            return invalid(format!("`{name}` cannot be an event column"));
        } else if ColumnType::of(field.data_type()).is_none() {
            return invalid(format!(
                "column `{name}` is {}: events hold Boolean, Int64, Float64 or Utf8",
                field.data_type()
            ));
        }
    }
    if !names.contains(TIME_COLUMN) {
        return invalid(format!("events need a `{TIME_COLUMN}` column"));
    }
    Ok(())
}

/// Which rows of a batch are still kept; allocated on the first rejection.
struct Kept {
    n_rows: usize,
    kept: Option<Vec<bool>>,
}

impl Kept {
    fn all(n_rows: usize) -> Kept {
        Kept { n_rows, kept: None }
    }

    fn is_kept(&self, row: usize) -> bool {
        self.kept.as_ref().is_none_or(|k| k[row])
    }

    /// Whether a kept row has a value in `column`.
    fn any_value(&self, column: &ArrayRef) -> bool {
        match &self.kept {
            None => column.null_count() < column.len(),
            Some(kept) => (0..self.n_rows).any(|row| kept[row] && column.is_valid(row)),
        }
    }

    /// Rejects the kept rows that have a value in `column`, for `reason`.
    fn reject_values(&mut self, column: &ArrayRef, reason: &str, rejected: &mut Vec<RowRejection>) {
        for row in 0..self.n_rows {
            if column.is_valid(row) && self.is_kept(row) {
                self.kept.get_or_insert_with(|| vec![true; self.n_rows])[row] = false;
                rejected.push(RowRejection {
                    row,
                    error: reason.to_owned(),
                });
            }
        }
    }

    /// The filter of kept rows, if any row was rejected.
    fn mask(&self) -> Option<BooleanArray> {
        let kept = self.kept.as_ref()?;
        let mut builder = BooleanBufferBuilder::new(self.n_rows);
        for &k in kept {
            builder.append(k);
        }
        Some(BooleanArray::new(builder.finish(), None))
    }
}

#[cfg(test)]
mod tests;
