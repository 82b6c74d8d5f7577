//! JSON events to Arrow: parse a request body, flatten each event, find its `_time`.
//!
//! Parsing happens before the stream is locked (it is the expensive part); typing against the
//! stream's schema and building the batch happen under the lock, in [`build_batch`].
//!
//! Naming: nested objects are flattened with `_` (`{"http":{"status":200}}` becomes `http_status`);
//! arrays are stored as their JSON text; `null` is a missing value. `_time` is taken from the first
//! of `_time`, `timestamp`, `time` (that field is consumed), as an RFC 3339 string or an epoch number
//! in seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude); without one, the
//! arrival time is used. Fields named `_offset` and `_hour` are ignored: the store assigns offsets,
//! and `_hour` is the lake's partition column.

use std::sync::Arc;

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int64Array, Int64Builder,
    StringBuilder, TimestampMicrosecondArray,
};
use arrow::record_batch::RecordBatch;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::schema::{Admission, ColumnType, StreamSchema, Typed};
use crate::{Error, OFFSET_COLUMN, Offset};

/// How a request body holds its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// One JSON object per line; blank lines are skipped.
    Ndjson,
    /// A JSON array of objects.
    JsonArray,
    /// A JSON array if the body starts with `[`, NDJSON otherwise.
    Detect,
}

/// An event that was not stored, and why. `line` is 1-based: the line of an NDJSON body, or the
/// position in a JSON array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub line: usize,
    pub error: String,
}

/// What an append did: how many events were stored, under which offsets, and which were not.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AppendOutcome {
    pub accepted: usize,
    pub rejected: Vec<Rejection>,
    /// First and last offset assigned, when any event was accepted.
    pub offsets: Option<(Offset, Offset)>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Typed for Scalar {
    fn column_type(&self) -> ColumnType {
        match self {
            Scalar::Bool(_) => ColumnType::Bool,
            Scalar::Int(_) => ColumnType::Int,
            Scalar::Float(_) => ColumnType::Float,
            Scalar::Str(_) => ColumnType::Str,
        }
    }
}

/// One parsed event: its line, its event time, and its flattened fields.
#[derive(Debug)]
pub(crate) struct Event {
    pub(crate) line: usize,
    pub(crate) time_us: i64,
    pub(crate) fields: Vec<(String, Scalar)>,
}

/// Parses a body into events and per-line rejections. Only a JSON array that is itself malformed
/// fails as a whole (there are no lines to keep).
pub(crate) fn parse_body(
    body: &[u8],
    format: BodyFormat,
    arrival_us: i64,
) -> Result<(Vec<Event>, Vec<Rejection>), Error> {
    let format = match format {
        BodyFormat::Detect => match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => BodyFormat::JsonArray,
            _ => BodyFormat::Ndjson,
        },
        other => other,
    };
    let mut events = Vec::new();
    let mut rejected = Vec::new();
    let mut take = |line: usize, value: Result<Value, String>| match value
        .and_then(|value| parse_event(value, arrival_us))
    {
        Ok((time_us, fields)) => events.push(Event {
            line,
            time_us,
            fields,
        }),
        Err(error) => rejected.push(Rejection { line, error }),
    };
    match format {
        BodyFormat::JsonArray => {
            let values: Vec<Value> =
                serde_json::from_slice(body).map_err(|e| Error::BodyNotJson {
                    reason: e.to_string(),
                })?;
            for (idx, value) in values.into_iter().enumerate() {
                take(idx + 1, Ok(value));
            }
        }
        BodyFormat::Ndjson | BodyFormat::Detect => {
            for (idx, line) in body.split(|&b| b == b'\n').enumerate() {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match line::parse_line(line, arrival_us) {
                    Ok((time_us, fields)) => events.push(Event {
                        line: idx + 1,
                        time_us,
                        fields,
                    }),
                    Err(error) => rejected.push(Rejection {
                        line: idx + 1,
                        error,
                    }),
                }
            }
        }
    }
    Ok((events, rejected))
}

/// serde_json says "… at line 1 column 7"; inside one NDJSON line only the column matters.
fn json_error(err: serde_json::Error) -> String {
    let text = err.to_string();
    let reason = text.split(" at line ").next().unwrap_or(&text);
    format!("invalid JSON at column {}: {reason}", err.column())
}

/// The keys an event's time is taken from, by priority.
const TIME_KEYS: [&str; 3] = ["_time", "timestamp", "time"];

/// One event of a JSON-array body (NDJSON lines go through `line::parse_line`, which gives the
/// same result without building a `Value` tree).
fn parse_event(value: Value, arrival_us: i64) -> Result<(i64, Vec<(String, Scalar)>), String> {
    let Value::Object(mut object) = value else {
        return Err(format!("expected a JSON object, got {}", kind(&value)));
    };
    let mut time_us = arrival_us;
    for key in TIME_KEYS {
        if let Some(value) = object.shift_remove(key) {
            time_us = parse_time(key, &value)?;
            break;
        }
    }
    object.shift_remove(OFFSET_COLUMN);
    object.shift_remove(crate::lake::HOUR_COLUMN);
    let mut fields = Vec::with_capacity(object.len());
    flatten(String::new(), object, &mut fields)?;
    Ok((time_us, fields))
}

fn flatten(
    prefix: String,
    object: Map<String, Value>,
    out: &mut Vec<(String, Scalar)>,
) -> Result<(), String> {
    for (key, value) in object {
        if key.is_empty() {
            return Err("a field name is empty".into());
        }
        let name = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}_{key}")
        };
        flatten_value(name, value, out)?;
    }
    Ok(())
}

/// One member named `name`: a field, nested fields, or nothing for `null`.
fn flatten_value(
    name: String,
    value: Value,
    out: &mut Vec<(String, Scalar)>,
) -> Result<(), String> {
    let scalar = match value {
        Value::Null => return Ok(()),
        Value::Bool(b) => Scalar::Bool(b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Scalar::Int(i),
            None => Scalar::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Scalar::Str(s),
        Value::Array(_) => Scalar::Str(value.to_string()),
        Value::Object(inner) => return flatten(name, inner, out),
    };
    out.push((name, scalar));
    Ok(())
}

/// Event time in µs since the epoch, UTC.
fn parse_time(key: &str, value: &Value) -> Result<i64, String> {
    let bad = || {
        format!("field `{key}` must be an RFC 3339 string or epoch seconds/ms/µs/ns, got {value}")
    };
    match value {
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
            .map(|t| t.timestamp_micros())
            .map_err(|e| format!("field `{key}`: `{s}` is not an RFC 3339 time: {e}")),
        Value::Number(n) => {
            let x = n.as_f64().ok_or_else(bad)?;
            let micros = match x.abs() {
                a if a < 1e11 => x * 1e6,
                a if a < 1e14 => x * 1e3,
                a if a < 1e17 => x,
                _ => x / 1e3,
            };
            if micros.is_finite() && micros.abs() < 9.2e18 {
                // Integers keep full precision; floats are rounded to the µs.
                Ok(match n.as_i64() {
                    Some(i) if x.abs() >= 1e14 && x.abs() < 1e17 => i,
                    Some(i) if x.abs() >= 1e17 => i / 1000,
                    _ => micros.round() as i64,
                })
            } else {
                Err(bad())
            }
        }
        _ => Err(bad()),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Types events against the stream schema (evolving it), assigns offsets from `first_offset`, and
/// builds one batch in the schema as it stands after these events. Conflicting events are added to
/// `rejected`. Returns `None` when no event was admitted.
pub(crate) fn build_batch(
    schema: &mut StreamSchema,
    events: Vec<Event>,
    first_offset: Offset,
    max_columns: usize,
    rejected: &mut Vec<Rejection>,
) -> Result<Option<RecordBatch>, Error> {
    let mut admitted: Vec<(Event, Vec<usize>)> = Vec::with_capacity(events.len());
    for event in events {
        // Events of a stream mostly share one shape: reuse the previous event's columns when
        // the names match and the values fit as they are (no hashing, no schema change).
        if let Some(columns) = admitted
            .last()
            .and_then(|(previous, columns)| same_shape(schema, previous, columns, &event))
        {
            admitted.push((event, columns));
            continue;
        }
        match schema.admit(&event.fields, max_columns) {
            Admission::Fits(columns) => admitted.push((event, columns)),
            Admission::Conflict(error) => rejected.push(Rejection {
                line: event.line,
                error,
            }),
        }
    }
    // Parse errors came first; the reply lists every rejection in line order.
    rejected.sort_by_key(|r| r.line);
    if admitted.is_empty() {
        return Ok(None);
    }

    let n_rows = admitted.len();
    let mut builders: Vec<ColumnBuilder> = schema
        .columns()
        .iter()
        .map(|(_, column_type)| ColumnBuilder::new(*column_type, n_rows))
        .collect();
    let mut times = Vec::with_capacity(n_rows);
    for (row_idx, (event, columns)) in admitted.into_iter().enumerate() {
        times.push(event.time_us);
        for ((_, value), column) in event.fields.into_iter().zip(columns) {
            let builder = &mut builders[column];
            // A name can occur twice after flattening (`a_b` and `a.b`): the first one wins.
            if builder.len() > row_idx {
                continue;
            }
            builder.pad_to(row_idx);
            builder.append(value);
        }
    }
    let first = first_offset.0 as i64;
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
        Arc::new(Int64Array::from_iter_values(first..first + n_rows as i64)),
    ];
    for mut builder in builders {
        builder.pad_to(n_rows);
        arrays.push(builder.finish());
    }
    Ok(Some(RecordBatch::try_new(
        Arc::clone(schema.arrow()),
        arrays,
    )?))
}

fn same_shape(
    schema: &StreamSchema,
    previous: &Event,
    columns: &[usize],
    event: &Event,
) -> Option<Vec<usize>> {
    let same = previous.fields.len() == event.fields.len()
        && previous.fields.iter().zip(&event.fields).zip(columns).all(
            |(((a, _), (b, value)), &column)| {
                a == b && schema.fits_as_is(column, value.column_type())
            },
        );
    same.then(|| columns.to_vec())
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

    /// The schema admitted the value, so its type fits the column (an int may go into a float).
    fn append(&mut self, value: Scalar) {
        match (self, value) {
            (ColumnBuilder::Bool(b), Scalar::Bool(v)) => b.append_value(v),
            (ColumnBuilder::Int(b), Scalar::Int(v)) => b.append_value(v),
            (ColumnBuilder::Float(b), Scalar::Float(v)) => b.append_value(v),
            (ColumnBuilder::Float(b), Scalar::Int(v)) => b.append_value(v as f64),
            (ColumnBuilder::Str(b), Scalar::Str(v)) => b.append_value(v),
            (builder, value) => {
                debug_assert!(false, "schema admitted {value:?} into the wrong column");
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

mod line;
#[cfg(test)]
mod tests;
