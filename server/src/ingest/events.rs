//! Decoded events (rows of flattened, typed fields) into one Arrow batch for
//! [`storage::Store::append`], typed as the stream would type them one by one.
//!
//! A field's column takes the stream's type for it (from the stream's schema when decoding
//! began) or, for a field new to the stream, the type of its first value; by the store's rules
//! ([`storage::evolve`]) an integer column that takes a float becomes float, and any other
//! conflict rejects its event, alone, with its line. The store checks the columns once more
//! under its lock (another append may have typed a field meanwhile). Building the batch here,
//! before the stream is locked, keeps the lock for what must be serialized: offsets and the log.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch,
    StringBuilder, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::error::ArrowError;
use storage::{ColumnType, OFFSET_COLUMN, TIME_COLUMN, evolve};

use super::Rejection;

/// A field's value, flattened. Its text is owned (`String`) or, for a decoder that borrows from
/// the request (OTLP), a `Cow` into it: the batch copies the bytes either way.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<S = String> {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(S),
}

impl<S> Scalar<S> {
    /// The same value, its text as `f` makes it.
    pub(crate) fn map_str<T>(self, f: impl FnOnce(S) -> T) -> Scalar<T> {
        match self {
            Scalar::Bool(b) => Scalar::Bool(b),
            Scalar::Int(i) => Scalar::Int(i),
            Scalar::Float(x) => Scalar::Float(x),
            Scalar::Str(s) => Scalar::Str(f(s)),
        }
    }

    fn column_type(&self) -> ColumnType {
        match self {
            Scalar::Bool(_) => ColumnType::Bool,
            Scalar::Int(_) => ColumnType::Int,
            Scalar::Float(_) => ColumnType::Float,
            Scalar::Str(_) => ColumnType::Str,
        }
    }
}

/// One decoded event: where it came from (a line, or a position in an array), its event time,
/// and its flattened fields (names and text owned, or borrowed as [`Scalar`] says).
#[derive(Debug)]
pub(crate) struct Event<N = String, S = String> {
    pub(crate) line: usize,
    pub(crate) time_us: i64,
    pub(crate) fields: Vec<(N, Scalar<S>)>,
}

/// Events as one batch: `_time`, then a column per field in order of first appearance; and the
/// line of each row.
#[derive(Debug)]
pub(crate) struct Batch {
    pub(crate) events: RecordBatch,
    pub(crate) lines: Vec<usize>,
}

/// Types `events` against `stream` (the stream's schema, `None` for a new stream), rejecting
/// into `rejected` those the stream would reject, and builds the batch of the others.
pub(crate) fn build<N: AsRef<str>, S: AsRef<str>>(
    events: Vec<Event<N, S>>,
    stream: Option<&Schema>,
    max_columns: usize,
    rejected: &mut Vec<Rejection>,
) -> Result<Batch, ArrowError> {
    let mut columns = Columns::new(stream, max_columns);
    let mut admitted: Vec<(Event<N, S>, Vec<usize>)> = Vec::with_capacity(events.len());
    for event in events {
        // Events mostly share one shape: reuse the previous event's columns when the names
        // match and the values fit as they are (no hashing, no change of type).
        if let Some(indices) = admitted
            .last()
            .and_then(|(previous, indices)| columns.same_shape(previous, indices, &event))
        {
            admitted.push((event, indices));
            continue;
        }
        match columns.admit(&event.fields) {
            Ok(indices) => admitted.push((event, indices)),
            Err(error) => rejected.push(Rejection {
                line: event.line,
                error,
            }),
        }
    }
    rejected.sort_by_key(|r| r.line);

    let n_rows = admitted.len();
    let mut builders: Vec<ColumnBuilder> = columns
        .columns
        .iter()
        .map(|(_, column_type)| ColumnBuilder::new(*column_type, n_rows))
        .collect();
    let mut times = Vec::with_capacity(n_rows);
    let mut lines = Vec::with_capacity(n_rows);
    for (row_idx, (event, indices)) in admitted.into_iter().enumerate() {
        times.push(event.time_us);
        lines.push(event.line);
        for ((_, value), column) in event.fields.into_iter().zip(indices) {
            let builder = &mut builders[column];
            // A name can occur twice after flattening (`a_b` and `a.b`): the first one wins.
            if builder.len() > row_idx {
                continue;
            }
            builder.pad_to(row_idx);
            builder.append(value);
        }
    }
    let time_type = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields = vec![Field::new(TIME_COLUMN, time_type, false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(
        TimestampMicrosecondArray::from(times).with_timezone("UTC"),
    )];
    for ((name, column_type), mut builder) in columns.columns.into_iter().zip(builders) {
        builder.pad_to(n_rows);
        fields.push(Field::new(name, column_type.data_type(), true));
        arrays.push(builder.finish());
    }
    let events = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?;
    Ok(Batch { events, lines })
}

/// The columns of a batch being typed.
struct Columns<'a> {
    /// In order of first appearance, with their types so far.
    columns: Vec<(String, ColumnType)>,
    index: HashMap<String, usize, foldhash::fast::RandomState>,
    /// The stream's event columns and their types.
    stream: HashMap<&'a str, ColumnType, foldhash::fast::RandomState>,
    /// Columns of this batch the stream does not have yet.
    n_new: usize,
    max_columns: usize,
}

impl<'a> Columns<'a> {
    fn new(stream: Option<&'a Schema>, max_columns: usize) -> Columns<'a> {
        let stream = stream
            .into_iter()
            .flat_map(|schema| schema.fields().iter())
            .filter(|f| f.name() != TIME_COLUMN && f.name() != OFFSET_COLUMN)
            .filter_map(|f| Some((f.name().as_str(), ColumnType::of(f.data_type())?)))
            .collect();
        Columns {
            columns: Vec::new(),
            index: HashMap::default(),
            stream,
            n_new: 0,
            max_columns,
        }
    }

    /// The columns of `event` if the previous event had the same fields and its values fit
    /// their columns as they are.
    fn same_shape<N: AsRef<str>, S>(
        &self,
        previous: &Event<N, S>,
        indices: &[usize],
        event: &Event<N, S>,
    ) -> Option<Vec<usize>> {
        let same = previous.fields.len() == event.fields.len()
            && previous.fields.iter().zip(&event.fields).zip(indices).all(
                |(((a, _), (b, value)), &column)| {
                    let (column_type, value_type) = (self.columns[column].1, value.column_type());
                    a.as_ref() == b.as_ref()
                        && (column_type == value_type
                            || (column_type == ColumnType::Float && value_type == ColumnType::Int))
                },
            );
        same.then(|| indices.to_vec())
    }

    /// The column of each field of an event whose values the columns take (evolving them), or
    /// why it is rejected. A rejected event changes nothing.
    fn admit<N: AsRef<str>, S>(&mut self, fields: &[(N, Scalar<S>)]) -> Result<Vec<usize>, String> {
        let mut n_new = 0;
        for (name, value) in fields {
            let name = name.as_ref();
            let value = value.column_type();
            match self.index.get(name) {
                Some(&idx) => {
                    evolve(name, self.columns[idx].1, value)?;
                }
                None => match self.stream.get(name) {
                    Some(&column) => {
                        evolve(name, column, value)?;
                    }
                    None => n_new += 1,
                },
            }
        }
        if self.stream.len() + self.n_new + n_new > self.max_columns {
            return Err(format!(
                "the stream would have more than {} columns",
                self.max_columns
            ));
        }
        let mut indices = Vec::with_capacity(fields.len());
        for (name, value) in fields {
            let name = name.as_ref();
            let value = value.column_type();
            let idx = match self.index.get(name) {
                Some(&idx) => {
                    // (A name twice in one event: the first value wins, the second is dropped.)
                    if let Ok(after) = evolve(name, self.columns[idx].1, value) {
                        self.columns[idx].1 = after;
                    }
                    idx
                }
                None => {
                    let column = match self.stream.get(name) {
                        Some(&column) => evolve(name, column, value).unwrap_or(column),
                        None => {
                            self.n_new += 1;
                            value
                        }
                    };
                    self.columns.push((name.to_owned(), column));
                    self.index.insert(name.to_owned(), self.columns.len() - 1);
                    self.columns.len() - 1
                }
            };
            indices.push(idx);
        }
        Ok(indices)
    }
}

enum ColumnBuilder {
    Bool(BooleanBuilder),
    Int(Int64Builder),
    Float(Float64Builder),
    Str(StringBuilder),
}

impl ColumnBuilder {
    fn new(column_type: ColumnType, capacity: usize) -> ColumnBuilder {
        match column_type {
            ColumnType::Bool => ColumnBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            ColumnType::Int => ColumnBuilder::Int(Int64Builder::with_capacity(capacity)),
            ColumnType::Float => ColumnBuilder::Float(Float64Builder::with_capacity(capacity)),
            ColumnType::Str => ColumnBuilder::Str(StringBuilder::with_capacity(capacity, 0)),
        }
    }

    fn len(&self) -> usize {
        match self {
            ColumnBuilder::Bool(b) => b.len(),
            ColumnBuilder::Int(b) => b.len(),
            ColumnBuilder::Float(b) => b.len(),
            ColumnBuilder::Str(b) => b.len(),
        }
    }

    fn pad_to(&mut self, len: usize) {
        let n = len.saturating_sub(self.len());
        match self {
            ColumnBuilder::Bool(b) => b.append_nulls(n),
            ColumnBuilder::Int(b) => b.append_nulls(n),
            ColumnBuilder::Float(b) => b.append_nulls(n),
            ColumnBuilder::Str(b) => b.append_nulls(n),
        }
    }

    /// The column admitted the value, so its type fits (an integer may go into a float column).
    fn append<S: AsRef<str>>(&mut self, value: Scalar<S>) {
        match (self, value) {
            (ColumnBuilder::Bool(b), Scalar::Bool(v)) => b.append_value(v),
            (ColumnBuilder::Int(b), Scalar::Int(v)) => b.append_value(v),
            (ColumnBuilder::Float(b), Scalar::Float(v)) => b.append_value(v),
            (ColumnBuilder::Float(b), Scalar::Int(v)) => b.append_value(v as f64),
            (ColumnBuilder::Str(b), Scalar::Str(v)) => b.append_value(v.as_ref()),
            (builder, value) => {
                debug_assert!(false, "a column admitted a {:?} value", value.column_type());
                let len = builder.len();
                builder.pad_to(len + 1);
            }
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            ColumnBuilder::Bool(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Int(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Float(mut b) => Arc::new(b.finish()),
            ColumnBuilder::Str(mut b) => Arc::new(b.finish()),
        }
    }
}
