//! Log records → events of `otel_logs`: `_time` the record's time (else its observed time, else
//! arrival), then `observed_time_unix_nano`, `severity_number`, `severity_text`, `body` (text;
//! a structured body as JSON), `trace_id`, `span_id`, `flags`, `event_name`, the record's
//! attributes, and its scope's and resource's columns (`service_name`).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

use super::{
    DecodeError, Field, Out, Scalar, context, count, flatten, hex_id, json, made, name, shared,
    text,
};

/// The columns of each scope of the request, in order.
pub(super) fn contexts(request: &ExportLogsServiceRequest) -> Vec<Vec<Field<'_>>> {
    request
        .resource_logs
        .iter()
        .flat_map(|r| {
            r.scope_logs
                .iter()
                .map(|s| context(r.resource.as_ref(), s.scope.as_ref()))
        })
        .collect()
}

pub(super) fn decode<'a>(
    request: &'a ExportLogsServiceRequest,
    contexts: &'a [Vec<Field<'a>>],
    out: &mut Out<'a>,
) -> Result<(), DecodeError> {
    let scopes = request.resource_logs.iter().flat_map(|r| &r.scope_logs);
    for (scope_logs, context) in scopes.zip(contexts) {
        for record in &scope_logs.log_records {
            let mut fields = Vec::with_capacity(10 + record.attributes.len() + context.len());
            if record.observed_time_unix_nano != 0 {
                fields.push((
                    name("observed_time_unix_nano"),
                    count(record.observed_time_unix_nano),
                ));
            }
            if record.severity_number != 0 {
                fields.push((
                    name("severity_number"),
                    Scalar::Int(i64::from(record.severity_number)),
                ));
            }
            if !record.severity_text.is_empty() {
                fields.push((name("severity_text"), text(&record.severity_text)));
            }
            if let Some(body) = record.body.as_ref().and_then(|b| b.value.as_ref()) {
                // Always text, so that records with bodies of different kinds share a column.
                let body = match body {
                    Value::StringValue(s) => text(s),
                    other => made(json(other).to_string()),
                };
                fields.push((name("body"), body));
            }
            if let Some(id) = hex_id(&record.trace_id) {
                fields.push((name("trace_id"), id));
            }
            if let Some(id) = hex_id(&record.span_id) {
                fields.push((name("span_id"), id));
            }
            if record.flags != 0 {
                fields.push((name("flags"), Scalar::Int(i64::from(record.flags))));
            }
            if !record.event_name.is_empty() {
                fields.push((name("event_name"), text(&record.event_name)));
            }
            flatten(&record.attributes, "", &mut fields);
            shared(context, &mut fields);
            let time = if record.time_unix_nano != 0 {
                record.time_unix_nano
            } else {
                record.observed_time_unix_nano
            };
            out.push(time, fields)?;
        }
    }
    Ok(())
}
