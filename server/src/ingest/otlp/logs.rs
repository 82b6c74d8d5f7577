//! Log records → events of `otel_logs`: `_time` the record's time (else its observed time, else
//! arrival), then `observed_time_unix_nano`, `severity_number`, `severity_text`, `body` (text;
//! a structured body as JSON), `trace_id`, `span_id`, `flags`, `event_name`, the record's
//! attributes, and its scope's and resource's columns (`service_name`).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;

use super::{DecodeError, Out, Scalar, context, flatten_owned, hex_id, json};

pub(super) fn decode(request: ExportLogsServiceRequest, out: &mut Out) -> Result<(), DecodeError> {
    // The request is consumed: its strings move into the events.
    for resource_logs in request.resource_logs {
        let resource = resource_logs.resource;
        for scope_logs in resource_logs.scope_logs {
            let shared = context(resource.as_ref(), scope_logs.scope.as_ref());
            for record in scope_logs.log_records {
                let mut fields = Vec::with_capacity(10 + record.attributes.len() + shared.len());
                if record.observed_time_unix_nano != 0 {
                    fields.push((
                        "observed_time_unix_nano".to_owned(),
                        super::count(record.observed_time_unix_nano),
                    ));
                }
                if record.severity_number != 0 {
                    fields.push((
                        "severity_number".to_owned(),
                        Scalar::Int(i64::from(record.severity_number)),
                    ));
                }
                if !record.severity_text.is_empty() {
                    fields.push((
                        "severity_text".to_owned(),
                        Scalar::Str(record.severity_text),
                    ));
                }
                if let Some(body) = record.body.and_then(|b| b.value) {
                    // Always text, so that records with bodies of different kinds share a column.
                    let text = match body {
                        Value::StringValue(s) => s,
                        other => json(&other).to_string(),
                    };
                    fields.push(("body".to_owned(), Scalar::Str(text)));
                }
                if let Some(id) = hex_id(&record.trace_id) {
                    fields.push(("trace_id".to_owned(), id));
                }
                if let Some(id) = hex_id(&record.span_id) {
                    fields.push(("span_id".to_owned(), id));
                }
                if record.flags != 0 {
                    fields.push(("flags".to_owned(), Scalar::Int(i64::from(record.flags))));
                }
                if !record.event_name.is_empty() {
                    fields.push(("event_name".to_owned(), Scalar::Str(record.event_name)));
                }
                flatten_owned(record.attributes, &mut fields);
                fields.extend(shared.iter().cloned());
                let time = if record.time_unix_nano != 0 {
                    record.time_unix_nano
                } else {
                    record.observed_time_unix_nano
                };
                out.push(time, fields)?;
            }
        }
    }
    Ok(())
}
