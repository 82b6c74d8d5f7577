//! Spans → events of `otel_traces`, one per span: `_time` its start, then `trace_id`, `span_id`,
//! `parent_span_id`, `trace_state`, `name`, `kind`, `start_time_unix_nano`,
//! `end_time_unix_nano`, `duration_ns`, `status_code`, `status_message`, `events` and `links`
//! (JSON text), the span's attributes, and its scope's and resource's columns (`service_name`).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use serde_json::json as j;

use super::{
    DecodeError, Field, Out, Scalar, context, count, flatten, hex_id, json_map, made, name, shared,
    text,
};

/// The columns of each scope of the request, in order.
pub(super) fn contexts(request: &ExportTraceServiceRequest) -> Vec<Vec<Field<'_>>> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| {
            r.scope_spans
                .iter()
                .map(|s| context(r.resource.as_ref(), s.scope.as_ref()))
        })
        .collect()
}

pub(super) fn decode<'a>(
    request: &'a ExportTraceServiceRequest,
    contexts: &'a [Vec<Field<'a>>],
    out: &mut Out<'a>,
) -> Result<(), DecodeError> {
    let scopes = request.resource_spans.iter().flat_map(|r| &r.scope_spans);
    for (scope_spans, context) in scopes.zip(contexts) {
        for span in &scope_spans.spans {
            let mut fields = Vec::with_capacity(16 + span.attributes.len() + context.len());
            columns(span, &mut fields);
            flatten(&span.attributes, "", &mut fields);
            shared(context, &mut fields);
            out.push(span.start_time_unix_nano, fields)?;
        }
    }
    Ok(())
}

/// The span's own columns.
fn columns<'a>(span: &'a Span, fields: &mut Vec<Field<'a>>) {
    let mut push = |column: &'static str, value: Scalar<_>| fields.push((name(column), value));
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
        push("trace_state", text(&span.trace_state));
    }
    push("name", text(&span.name));
    push("kind", text(kind(span.kind)));
    push("start_time_unix_nano", count(span.start_time_unix_nano));
    push("end_time_unix_nano", count(span.end_time_unix_nano));
    let duration = span
        .end_time_unix_nano
        .saturating_sub(span.start_time_unix_nano);
    push("duration_ns", count(duration));
    let status = span.status.as_ref();
    push(
        "status_code",
        text(status_code(status.map_or(0, |s| s.code))),
    );
    if let Some(message) = status.map(|s| &s.message).filter(|m| !m.is_empty()) {
        push("status_message", text(message));
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
        push("events", made(serde_json::Value::from(events).to_string()));
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
        push("links", made(serde_json::Value::from(links).to_string()));
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
