//! OTLP/HTTP export requests (logs, traces, metrics; protobuf or JSON) into events: one per log
//! record, span or metric data point, with the resource's, scope's and item's attributes
//! flattened into columns. The mapping is documented, with a row of each, in docs/otlp.md.
//!
//! The protobuf types and their JSON form (hex ids, 64-bit integers as strings, camelCase) come
//! from `opentelemetry-proto`; prost bounds message nesting and serde_json bounds JSON nesting,
//! so a hostile body is an error, never a stack overflow.

mod logs;
mod metrics;
mod traces;

use std::collections::HashSet;

use base64::Engine as _;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde::de::DeserializeOwned;
use storage::{HOUR_COLUMN, OFFSET_COLUMN, TIME_COLUMN};

use super::Rejection;
use super::events::{Event, Scalar};

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Logs,
    Traces,
    Metrics,
}

impl Signal {
    /// The stream a signal goes to unless the request names another.
    pub(crate) fn default_stream(self) -> &'static str {
        match self {
            Signal::Logs => "otel_logs",
            Signal::Traces => "otel_traces",
            Signal::Metrics => "otel_metrics",
        }
    }

    /// What one event of the signal is, in messages.
    pub(crate) fn item(self) -> &'static str {
        match self {
            Signal::Logs => "log record",
            Signal::Traces => "span",
            Signal::Metrics => "data point",
        }
    }
}

/// How the body is encoded (`Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Protobuf,
    Json,
}

/// Why a body could not be decoded at all.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("the body is not a protobuf OTLP {signal:?} export request: {reason}")]
    Protobuf { signal: Signal, reason: String },
    #[error("the body is not an OTLP/JSON {signal:?} export request: {reason}")]
    Json { signal: Signal, reason: String },
    /// A small body that expands to very many fields (one resource's attributes repeated on
    /// each of many tiny records): refused before it takes the memory.
    #[error("the request expands to more than {budget} fields: send it in smaller requests")]
    TooManyFields { budget: usize },
}

/// A request's events and the items refused while decoding, by their position in the request.
#[derive(Debug, Default)]
pub(crate) struct Decoded {
    pub(crate) events: Vec<Event>,
    pub(crate) rejected: Vec<Rejection>,
}

/// Fields one request may expand to: at least 1M, else as many as its bytes. A protobuf field
/// takes 2 bytes or more, so only repetition (a resource's attributes on every record) comes near.
fn field_budget(body_len: usize) -> usize {
    body_len.max(1 << 20)
}

/// Decodes an export request of `signal`. `arrival_us` times items that carry no time.
pub(crate) fn decode(
    signal: Signal,
    encoding: Encoding,
    body: &[u8],
    arrival_us: i64,
) -> Result<Decoded, DecodeError> {
    let mut out = Out {
        decoded: Decoded::default(),
        budget: field_budget(body.len()),
        limit: field_budget(body.len()),
        arrival_us,
    };
    match signal {
        Signal::Logs => logs::decode(parse(signal, encoding, body)?, &mut out)?,
        Signal::Traces => traces::decode(parse(signal, encoding, body)?, &mut out)?,
        Signal::Metrics => metrics::decode(parse(signal, encoding, body)?, &mut out)?,
    }
    Ok(out.decoded)
}

fn parse<T: Message + Default + DeserializeOwned>(
    signal: Signal,
    encoding: Encoding,
    body: &[u8],
) -> Result<T, DecodeError> {
    match encoding {
        Encoding::Protobuf => T::decode(body).map_err(|e| DecodeError::Protobuf {
            signal,
            reason: e.to_string(),
        }),
        Encoding::Json => serde_json::from_slice(body).map_err(|e| DecodeError::Json {
            signal,
            reason: e.to_string(),
        }),
    }
}

/// Events being decoded, and what is left of the field budget.
struct Out {
    decoded: Decoded,
    budget: usize,
    /// The request's whole budget, for the error.
    limit: usize,
    arrival_us: i64,
}

impl Out {
    /// Adds one item's event; its line is its 1-based position in the request.
    /// A name that occurs twice (an attribute named like a column, or on both the record and
    /// its resource) keeps its first value: the item's own columns, then its attributes, then
    /// the scope's and the resource's.
    fn push(&mut self, time_ns: u64, mut fields: Vec<(String, Scalar)>) -> Result<(), DecodeError> {
        dedup_names(&mut fields);
        if fields.len() > self.budget {
            return Err(DecodeError::TooManyFields { budget: self.limit });
        }
        self.budget -= fields.len();
        let line = self.decoded.events.len() + self.decoded.rejected.len() + 1;
        let time_us = if time_ns == 0 {
            self.arrival_us
        } else {
            // u64 nanoseconds / 1000 always fits an i64.
            (time_ns / 1000) as i64
        };
        self.decoded.events.push(Event {
            line,
            time_us,
            fields,
        });
        Ok(())
    }
}

/// Drops each field whose name an earlier field has. Items have a few dozen fields: comparing
/// pairs costs less than hashing every name, and allocates nothing.
fn dedup_names(fields: &mut Vec<(String, Scalar)>) {
    if fields.len() > 64 {
        let mut seen: HashSet<String, foldhash::fast::RandomState> = HashSet::default();
        fields.retain(|(name, _)| seen.insert(name.clone()));
        return;
    }
    let mut i = 1;
    while i < fields.len() {
        if fields[..i].iter().any(|(name, _)| *name == fields[i].0) {
            fields.remove(i);
        } else {
            i += 1;
        }
    }
}

/// A column name for an attribute key: `service.name` → `service_name` (any character other
/// than a letter, digit or `_` becomes `_`), so SQL names it without quotes.
fn column_name(key: &str) -> String {
    key.chars()
        .map(|c| if c.is_alphanumeric() { c } else { '_' })
        .collect()
}

/// [`column_name`] of an owned key: the key itself when it is one already (no allocation).
fn column_name_owned(key: String) -> String {
    if key.chars().all(|c| c.is_alphanumeric() || c == '_') {
        key
    } else {
        column_name(&key)
    }
}

/// [`flatten`], consuming the attributes: names and string values move into `fields` rather
/// than being copied (an item's own attributes are most of what a request allocates).
fn flatten_owned(attributes: Vec<KeyValue>, fields: &mut Vec<(String, Scalar)>) {
    for kv in attributes {
        let name = column_name_owned(kv.key);
        if reserved(&name) {
            continue;
        }
        let Some(value) = kv.value.and_then(|v| v.value) else {
            continue;
        };
        match value {
            Value::StringValue(s) => fields.push((name, Scalar::Str(s))),
            Value::KvlistValue(list) => flatten(&list.values, &name, fields),
            other => {
                if let Some(scalar) = scalar(&other) {
                    fields.push((name, scalar));
                }
            }
        }
    }
}

/// The names Weir keeps for itself: an attribute of such a name is dropped.
fn reserved(name: &str) -> bool {
    name == TIME_COLUMN || name == OFFSET_COLUMN || name == HOUR_COLUMN
}

/// Flattens attributes into `fields`: scalars as they are, nested key-value lists as
/// `outer_inner`, arrays and bytes as text (JSON, base64).
fn flatten(attributes: &[KeyValue], prefix: &str, fields: &mut Vec<(String, Scalar)>) {
    for kv in attributes {
        let name = if prefix.is_empty() {
            column_name(&kv.key)
        } else {
            format!("{prefix}_{}", column_name(&kv.key))
        };
        if reserved(&name) {
            continue;
        }
        let Some(value) = kv.value.as_ref().and_then(|v| v.value.as_ref()) else {
            continue;
        };
        match value {
            Value::KvlistValue(list) => flatten(&list.values, &name, fields),
            other => {
                if let Some(scalar) = scalar(other) {
                    fields.push((name, scalar));
                }
            }
        }
    }
}

/// One attribute value as a column value (key-value lists are flattened by the caller).
fn scalar(value: &Value) -> Option<Scalar> {
    Some(match value {
        Value::StringValue(s) => Scalar::Str(s.clone()),
        Value::BoolValue(b) => Scalar::Bool(*b),
        Value::IntValue(i) => Scalar::Int(*i),
        Value::DoubleValue(f) => Scalar::Float(*f),
        Value::BytesValue(b) => Scalar::Str(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::ArrayValue(_) | Value::KvlistValue(_) => Scalar::Str(json(value).to_string()),
        // A profiles-only reference: ignored for other signals, as the specification says.
        Value::StringValueStrindex(_) => return None,
    })
}

/// A value as JSON (for arrays, maps and log bodies kept as text).
fn json(value: &Value) -> serde_json::Value {
    use serde_json::Value as J;
    match value {
        Value::StringValue(s) => J::String(s.clone()),
        Value::BoolValue(b) => J::Bool(*b),
        Value::IntValue(i) => J::from(*i),
        Value::DoubleValue(f) => J::from(*f),
        Value::BytesValue(b) => J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        Value::ArrayValue(a) => J::Array(a.values.iter().map(any_json).collect()),
        Value::KvlistValue(l) => J::Object(json_map(&l.values)),
        Value::StringValueStrindex(_) => J::Null,
    }
}

fn any_json(value: &AnyValue) -> serde_json::Value {
    value.value.as_ref().map_or(serde_json::Value::Null, json)
}

/// Attributes as one JSON object (for span events and links, kept as text).
fn json_map(attributes: &[KeyValue]) -> serde_json::Map<String, serde_json::Value> {
    attributes
        .iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map_or(serde_json::Value::Null, any_json),
            )
        })
        .collect()
}

/// A resource's and a scope's columns, shared by their items: `scope_name`, `scope_version`, the
/// scope's attributes, then the resource's (`service_name` among them).
fn context(
    resource: Option<&Resource>,
    scope: Option<&InstrumentationScope>,
) -> Vec<(String, Scalar)> {
    let mut fields = Vec::new();
    if let Some(scope) = scope {
        if !scope.name.is_empty() {
            fields.push(("scope_name".to_owned(), Scalar::Str(scope.name.clone())));
        }
        if !scope.version.is_empty() {
            fields.push((
                "scope_version".to_owned(),
                Scalar::Str(scope.version.clone()),
            ));
        }
        flatten(&scope.attributes, "", &mut fields);
    }
    if let Some(resource) = resource {
        flatten(&resource.attributes, "", &mut fields);
    }
    fields
}

/// An id (trace, span) as lowercase hex, or `None` when empty.
fn hex_id(id: &[u8]) -> Option<Scalar> {
    (!id.is_empty()).then(|| Scalar::Str(hex::encode(id)))
}

/// A u64 count as a column integer (saturating: no count comes near 2^63).
fn count(n: u64) -> Scalar {
    Scalar::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
