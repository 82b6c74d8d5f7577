//! JSON events: parse a request body (NDJSON or a JSON array), flatten each event, find its
//! `_time`. [`super::events`] then types them into a batch for the store.
//!
//! Naming: nested objects are flattened with `_` (`{"http":{"status":200}}` becomes `http_status`);
//! arrays are stored as their JSON text; `null` is a missing value. `_time` is taken from the first
//! of `_time`, `timestamp`, `time` (that field is consumed), as an RFC 3339 string or an epoch number
//! in seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude); without one, the
//! arrival time is used. Fields named `_offset` and `_hour` are ignored: the store assigns offsets,
//! and `_hour` is the lake's partition column.

use std::borrow::Cow;

use serde_json::{Map, Value};
use storage::{HOUR_COLUMN, OFFSET_COLUMN};

use super::events::{Event, Scalar};
use super::{Error, Rejection};

/// How a request body holds its events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyFormat {
    /// One JSON object per line; blank lines are skipped.
    Ndjson,
    /// A JSON array of objects.
    JsonArray,
    /// A JSON array if the body starts with `[`, NDJSON otherwise.
    Detect,
}

/// An event parsed from a body: names and strings borrow from the body where JSON escapes allow.
pub(crate) type BodyEvent<'a> = Event<Cow<'a, str>, Cow<'a, str>>;

/// Parses a body into events and per-line rejections. Only a JSON array that is itself malformed
/// fails as a whole (there are no lines to keep).
pub(crate) fn parse_body(
    body: &[u8],
    format: BodyFormat,
    arrival_us: i64,
) -> Result<(Vec<BodyEvent<'_>>, Vec<Rejection>), Error> {
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
            fields: borrowed(fields),
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

/// Flattened fields whose names and text borrow from the body wherever the JSON needs no
/// unescaping (nearly always): a body of 5,000 events then takes a few allocations, not ~100,000
/// small ones whose pages were a third of ingest's page faults.
pub(crate) type Fields<'a> = Vec<(Cow<'a, str>, Scalar<Cow<'a, str>>)>;

/// Owned fields (from a `Value` tree) as [`Fields`].
fn borrowed(fields: Vec<(String, Scalar)>) -> Fields<'static> {
    fields
        .into_iter()
        .map(|(name, scalar)| (Cow::Owned(name), scalar.map_str(Cow::Owned)))
        .collect()
}

/// [`Fields`] that own their text.
pub(crate) fn owned(fields: Fields<'_>) -> Vec<(String, Scalar)> {
    fields
        .into_iter()
        .map(|(name, scalar)| (name.into_owned(), scalar.map_str(Cow::into_owned)))
        .collect()
}

/// An object's time (µs; `None` when it has none of the time keys) and flattened fields.
pub(crate) type Object<'a> = (Option<i64>, Fields<'a>);

/// One JSON object (a line of NDJSON) as an event's time and flattened fields, by the rules
/// above.
pub(crate) fn parse_object(line: &[u8]) -> Result<Object<'_>, String> {
    // i64::MIN is no time an object can give (it is out of chrono's range).
    let (time_us, fields) = line::parse_line(line, i64::MIN)?;
    Ok(((time_us != i64::MIN).then_some(time_us), fields))
}

/// A time value (RFC 3339 or an epoch number) in µs, as `_time` is read.
pub(crate) fn time_value(key: &str, value: &Value) -> Result<i64, String> {
    parse_time(key, value)
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
    object.shift_remove(HOUR_COLUMN);
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

mod line;
#[cfg(test)]
mod tests;
