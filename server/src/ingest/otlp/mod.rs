//! OTLP/HTTP export requests (logs, traces, metrics; protobuf or JSON) into events: one per log
//! record, span or metric data point, with the resource's, scope's and item's attributes
//! flattened into columns. The mapping is documented, with a row of each, in docs/otlp.md.
//!
//! The protobuf types and their JSON form (hex ids, 64-bit integers as strings, camelCase) come
//! from `opentelemetry-proto`; prost bounds message nesting and serde_json bounds JSON nesting,
//! so a hostile body is an error, never a stack overflow.
//!
//! Events borrow from the parsed request: a column name that is an attribute key as it is, and
//! every string value, point into it rather than being copied (at a few dozen fields per item,
//! copies were most of what decoding cost); the batch then copies each once, into its column.

mod logs;
mod metrics;
mod traces;

use std::borrow::Cow;
use std::collections::HashSet;

use base64::Engine as _;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
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

/// Text of an event: borrowed from the request where it is there as it is, else made.
pub(crate) type Text<'a> = Cow<'a, str>;

/// One column of an item's event.
type Field<'a> = (Text<'a>, Scalar<Text<'a>>);

/// A request's events (borrowing from it) and the items refused while decoding, by their
/// position in the request.
#[derive(Debug, Default)]
pub(crate) struct Decoded<'a> {
    pub(crate) events: Vec<Event<Text<'a>, Text<'a>>>,
    pub(crate) rejected: Vec<Rejection>,
}

/// Fields one request may expand to: at least 1M, else as many as its bytes. A protobuf field
/// takes 2 bytes or more, so only repetition (a resource's attributes on every record) comes near.
fn field_budget(body_len: usize) -> usize {
    body_len.max(1 << 20)
}

/// Decodes an export request of `signal` and hands its events, which borrow from the parsed
/// request, to `then`. `arrival_us` times items that carry no time.
pub(crate) fn with_decoded<R>(
    signal: Signal,
    encoding: Encoding,
    body: &[u8],
    arrival_us: i64,
    then: impl FnOnce(Decoded<'_>) -> R,
) -> Result<R, DecodeError> {
    // The request outlives the events that borrow from it.
    let out = || Out {
        decoded: Decoded::default(),
        budget: field_budget(body.len()),
        limit: field_budget(body.len()),
        arrival_us,
    };
    match signal {
        Signal::Logs => {
            let request: ExportLogsServiceRequest = parse(signal, encoding, body)?;
            let contexts = logs::contexts(&request);
            let mut out = out();
            logs::decode(&request, &contexts, &mut out)?;
            Ok(then(out.decoded))
        }
        Signal::Traces => {
            let request: ExportTraceServiceRequest = parse(signal, encoding, body)?;
            let contexts = traces::contexts(&request);
            let mut out = out();
            traces::decode(&request, &contexts, &mut out)?;
            Ok(then(out.decoded))
        }
        Signal::Metrics => {
            let request: ExportMetricsServiceRequest = parse(signal, encoding, body)?;
            let contexts = metrics::contexts(&request);
            let mut out = out();
            metrics::decode(&request, &contexts, &mut out)?;
            Ok(then(out.decoded))
        }
    }
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
struct Out<'a> {
    decoded: Decoded<'a>,
    budget: usize,
    /// The request's whole budget, for the error.
    limit: usize,
    arrival_us: i64,
}

impl<'a> Out<'a> {
    /// Adds one item's event; its line is its 1-based position in the request.
    /// A name that occurs twice (an attribute named like a column, or on both the record and
    /// its resource) keeps its first value: the item's own columns, then its attributes, then
    /// the scope's and the resource's.
    fn push(&mut self, time_ns: u64, mut fields: Vec<Field<'a>>) -> Result<(), DecodeError> {
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
fn dedup_names<N: AsRef<str>, S>(fields: &mut Vec<(N, Scalar<S>)>) {
    if fields.len() > 64 {
        let mut seen: HashSet<&str, foldhash::fast::RandomState> = HashSet::default();
        let keep: Vec<bool> = fields
            .iter()
            .map(|(n, _)| seen.insert(n.as_ref()))
            .collect();
        let mut keep = keep.into_iter();
        fields.retain(|_| keep.next().unwrap_or(true));
        return;
    }
    let mut i = 1;
    while i < fields.len() {
        if fields[..i]
            .iter()
            .any(|(name, _)| name.as_ref() == fields[i].0.as_ref())
        {
            fields.remove(i);
        } else {
            i += 1;
        }
    }
}

/// A column name for an attribute key: `service.name` → `service_name` (any character other
/// than a letter, digit or `_` becomes `_`), so SQL names it without quotes. Borrowed when the
/// key is one already.
fn column_name(key: &str) -> Text<'_> {
    if key.chars().all(|c| c.is_alphanumeric() || c == '_') {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(
            key.chars()
                .map(|c| if c.is_alphanumeric() { c } else { '_' })
                .collect(),
        )
    }
}

/// The names Weir keeps for itself: an attribute of such a name is dropped.
fn reserved(name: &str) -> bool {
    name == TIME_COLUMN || name == OFFSET_COLUMN || name == HOUR_COLUMN
}

/// Flattens attributes into `fields`: scalars as they are, nested key-value lists as
/// `outer_inner`, arrays and bytes as text (JSON, base64).
fn flatten<'a>(attributes: &'a [KeyValue], prefix: &str, fields: &mut Vec<Field<'a>>) {
    for kv in attributes {
        let name = if prefix.is_empty() {
            column_name(&kv.key)
        } else {
            Cow::Owned(format!("{prefix}_{}", column_name(&kv.key)))
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
fn scalar(value: &Value) -> Option<Scalar<Text<'_>>> {
    Some(match value {
        Value::StringValue(s) => Scalar::Str(Cow::Borrowed(s)),
        Value::BoolValue(b) => Scalar::Bool(*b),
        Value::IntValue(i) => Scalar::Int(*i),
        Value::DoubleValue(f) => Scalar::Float(*f),
        Value::BytesValue(b) => Scalar::Str(Cow::Owned(
            base64::engine::general_purpose::STANDARD.encode(b),
        )),
        Value::ArrayValue(_) | Value::KvlistValue(_) => {
            Scalar::Str(Cow::Owned(json(value).to_string()))
        }
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
/// scope's attributes, then the resource's (`service_name` among them). Computed once per scope
/// and borrowed by each item ([`shared`]).
fn context<'a>(
    resource: Option<&'a Resource>,
    scope: Option<&'a InstrumentationScope>,
) -> Vec<Field<'a>> {
    let mut fields = Vec::new();
    if let Some(scope) = scope {
        if !scope.name.is_empty() {
            fields.push((
                Cow::Borrowed("scope_name"),
                Scalar::Str(Cow::Borrowed(scope.name.as_str())),
            ));
        }
        if !scope.version.is_empty() {
            fields.push((
                Cow::Borrowed("scope_version"),
                Scalar::Str(Cow::Borrowed(scope.version.as_str())),
            ));
        }
        flatten(&scope.attributes, "", &mut fields);
    }
    if let Some(resource) = resource {
        flatten(&resource.attributes, "", &mut fields);
    }
    fields
}

/// Appends a scope's columns to an item's, borrowing them (no copy of a name or value).
fn shared<'a>(context: &'a [Field<'_>], fields: &mut Vec<Field<'a>>) {
    fields.extend(context.iter().map(|(name, value)| {
        let value = match value {
            Scalar::Str(s) => Scalar::Str(Cow::Borrowed(s.as_ref())),
            Scalar::Bool(b) => Scalar::Bool(*b),
            Scalar::Int(i) => Scalar::Int(*i),
            Scalar::Float(f) => Scalar::Float(*f),
        };
        (Cow::Borrowed(name.as_ref()), value)
    }));
}

/// A constant column name.
fn name(name: &'static str) -> Text<'static> {
    Cow::Borrowed(name)
}

/// Text made while decoding (an id in hex, JSON).
fn made<'a>(text: String) -> Scalar<Text<'a>> {
    Scalar::Str(Cow::Owned(text))
}

/// Text as it is in the request.
fn text(text: &str) -> Scalar<Text<'_>> {
    Scalar::Str(Cow::Borrowed(text))
}

/// An id (trace, span) as lowercase hex, or `None` when empty.
fn hex_id<'a>(id: &[u8]) -> Option<Scalar<Text<'a>>> {
    (!id.is_empty()).then(|| made(hex::encode(id)))
}

/// A u64 count as a column integer (saturating: no count comes near 2^63).
fn count<'a>(n: u64) -> Scalar<Text<'a>> {
    Scalar::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests;
