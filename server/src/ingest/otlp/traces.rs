//! Spans → events of `otel_traces`, one per span: `_time` its start, then `trace_id`, `span_id`,
//! `parent_span_id`, `trace_state`, `name`, `kind`, `start_time_unix_nano`,
//! `end_time_unix_nano`, `duration_ns`, `status_code`, `status_message`, `events` and `links`
//! (JSON text), the span's attributes, and its scope's and resource's columns (`service_name`).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::json as j;

use super::{DecodeError, Out, Scalar, context, flatten_owned, hex_id, json_map};

pub(super) fn decode(request: ExportTraceServiceRequest, out: &mut Out) -> Result<(), DecodeError> {
    // The request is consumed: its strings move into the events.
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource;
        for scope_spans in resource_spans.scope_spans {
            let shared = context(resource.as_ref(), scope_spans.scope.as_ref());
            for mut span in scope_spans.spans {
                let mut fields = Vec::with_capacity(16 + span.attributes.len() + shared.len());
                columns(&mut span, &mut fields);
                flatten_owned(std::mem::take(&mut span.attributes), &mut fields);
                fields.extend(shared.iter().cloned());
                out.push(span.start_time_unix_nano, fields)?;
            }
        }
    }
    Ok(())
}

/// The span's own columns (its strings moved out).
fn columns(span: &mut Span, fields: &mut Vec<(String, Scalar)>) {
    let mut push = |name: &str, value: Scalar| fields.push((name.to_owned(), value));
    if let Some(id) = hex_id(&span.trace_id) {
        push("trace_id", id);
    }
    if let Some(id) = hex_id(&span.span_id) {
        push("span_id", id);
    }
    if let Some(id) = hex_id(&span.parent_span_id) {
        push("parent_span_id", id);
    }
    if !span.trace_state.is_empty() {
        push("trace_state", Scalar::Str(std::mem::take(&mut span.trace_state)));
    }
    push("name", Scalar::Str(std::mem::take(&mut span.name)));
    push("kind", Scalar::Str(kind(span.kind).to_owned()));
    push(
        "start_time_unix_nano",
        super::count(span.start_time_unix_nano),
    );
    push("end_time_unix_nano", super::count(span.end_time_unix_nano));
    let duration = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano);
    push("duration_ns", super::count(duration));
    let status = span.status.as_ref();
    push(
        "status_code",
        Scalar::Str(status_code(status.map_or(0, |s| s.code)).to_owned()),
    );
    if let Some(message) = status.map(|s| &s.message).filter(|m| !m.is_empty()) {
        push("status_message", Scalar::Str(message.clone()));
    }
    if !span.events.is_empty() {
        let events: Vec<_> = span
            .events
            .iter()
            .map(|e| {
                j!({
                    "time_unix_nano": e.time_unix_nano,
                    "name": e.name,
                    "attributes": json_map(&e.attributes),
                })
            })
            .collect();
        push(
            "events",
            Scalar::Str(serde_json::Value::from(events).to_string()),
        );
    }
    if !span.links.is_empty() {
        let links: Vec<_> = span
            .links
            .iter()
            .map(|l| {
                j!({
                    "trace_id": hex::encode(&l.trace_id),
                    "span_id": hex::encode(&l.span_id),
                    "trace_state": l.trace_state,
                    "attributes": json_map(&l.attributes),
                })
            })
            .collect();
        push(
            "links",
            Scalar::Str(serde_json::Value::from(links).to_string()),
        );
    }
}

/// The span kind as a word, as OpenTelemetry's APIs name it.
fn kind(kind: i32) -> &'static str {
    match kind {
        1 => "internal",
        2 => "server",
        3 => "client",
        4 => "producer",
        5 => "consumer",
        _ => "unspecified",
    }
}

fn status_code(code: i32) -> &'static str {
    match code {
        1 => "ok",
        2 => "error",
        _ => "unset",
    }
}
