//! The OTLP mapping on requests of each signal in both encodings, the JSON form of the
//! specification's examples, and arbitrary bytes (an error, never a panic).

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, InstrumentationScope, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, exponential_histogram_data_point,
    metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};
use proptest::prelude::*;
use prost::Message;

use super::{DecodeError, Encoding, Signal, with_decoded};
use crate::ingest::events::{Event, Scalar};

const ARRIVAL: i64 = 1_700_000_000_000_000;

/// A request's events, their text copied out of the request.
#[derive(Debug)]
struct Decoded {
    events: Vec<Event>,
}

fn decode(
    signal: Signal,
    encoding: Encoding,
    body: &[u8],
    arrival_us: i64,
) -> Result<Decoded, DecodeError> {
    with_decoded(signal, encoding, body, arrival_us, |decoded| Decoded {
        events: decoded
            .events
            .into_iter()
            .map(|e| Event {
                line: e.line,
                time_us: e.time_us,
                fields: e
                    .fields
                    .into_iter()
                    .map(|(name, value)| {
                        let value = match value {
                            Scalar::Str(s) => Scalar::Str(s.into_owned()),
                            Scalar::Bool(b) => Scalar::Bool(b),
                            Scalar::Int(i) => Scalar::Int(i),
                            Scalar::Float(f) => Scalar::Float(f),
                        };
                        (name.into_owned(), value)
                    })
                    .collect(),
            })
            .collect(),
    })
}

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.to_owned())
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![
            kv("service.name", s("checkout")),
            kv("host.name", s("web-1")),
        ],
        ..Default::default()
    })
}

fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "shop.cart".to_owned(),
        version: "1.2.0".to_owned(),
        ..Default::default()
    })
}

/// The fields of the `i`th event, by name.
fn field<'a>(decoded: &'a Decoded, i: usize, name: &str) -> Option<&'a Scalar> {
    decoded.events[i]
        .fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

fn str_of(decoded: &Decoded, i: usize, name: &str) -> String {
    match field(decoded, i, name) {
        Some(Scalar::Str(s)) => s.clone(),
        other => panic!("{name}: {other:?}"),
    }
}

/// Decodes `request` as protobuf and as its JSON form, checks both give the same events, and
/// returns them.
fn both<T: Message + serde::Serialize>(signal: Signal, request: &T) -> Decoded {
    let from_protobuf = decode(
        signal,
        Encoding::Protobuf,
        &request.encode_to_vec(),
        ARRIVAL,
    )
    .expect("protobuf decodes");
    let json = serde_json::to_vec(request).expect("request as JSON");
    let from_json = decode(signal, Encoding::Json, &json, ARRIVAL).expect("JSON decodes");
    assert_eq!(
        format!("{:?}", from_protobuf.events),
        format!("{:?}", from_json.events),
        "protobuf and JSON map alike"
    );
    from_protobuf
}

fn log_request() -> ExportLogsServiceRequest {
    let record = LogRecord {
        time_unix_nano: 1_700_000_000_123_456_789,
        observed_time_unix_nano: 1_700_000_001_000_000_000,
        severity_number: 17,
        severity_text: "ERROR".to_owned(),
        body: Some(AnyValue {
            value: Some(s("payment declined")),
        }),
        attributes: vec![
            kv("http.status_code", Value::IntValue(402)),
            kv("retry", Value::BoolValue(false)),
            kv("ratio", Value::DoubleValue(0.25)),
            kv(
                "user",
                Value::KvlistValue(KeyValueList {
                    values: vec![kv("id", s("u-7")), kv("tier", s("gold"))],
                }),
            ),
            kv(
                "tags",
                Value::ArrayValue(ArrayValue {
                    values: vec![AnyValue {
                        value: Some(s("a")),
                    }],
                }),
            ),
            kv("_time", s("dropped: reserved")),
            kv(
                "service.name",
                s("an attribute loses to nothing, wins over the resource"),
            ),
        ],
        trace_id: vec![0x5b; 16],
        span_id: vec![0xee; 8],
        ..Default::default()
    };
    let untimed = LogRecord {
        body: Some(AnyValue {
            value: Some(Value::KvlistValue(KeyValueList {
                values: vec![kv("k", Value::IntValue(1))],
            })),
        }),
        ..Default::default()
    };
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                scope: scope(),
                log_records: vec![record, untimed],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[test]
fn a_log_record_is_a_row_with_its_attributes_scope_and_resource_flattened() {
    let decoded = both(Signal::Logs, &log_request());
    assert_eq!(decoded.events.len(), 2);
    let first = &decoded.events[0];
    assert_eq!((first.line, first.time_us), (1, 1_700_000_000_123_456));
    assert_eq!(
        field(&decoded, 0, "severity_number"),
        Some(&Scalar::Int(17))
    );
    assert_eq!(str_of(&decoded, 0, "severity_text"), "ERROR");
    assert_eq!(str_of(&decoded, 0, "body"), "payment declined");
    assert_eq!(str_of(&decoded, 0, "trace_id"), "5b".repeat(16));
    assert_eq!(str_of(&decoded, 0, "span_id"), "ee".repeat(8));
    assert_eq!(
        field(&decoded, 0, "http_status_code"),
        Some(&Scalar::Int(402))
    );
    assert_eq!(field(&decoded, 0, "retry"), Some(&Scalar::Bool(false)));
    assert_eq!(field(&decoded, 0, "ratio"), Some(&Scalar::Float(0.25)));
    assert_eq!(str_of(&decoded, 0, "user_id"), "u-7");
    assert_eq!(str_of(&decoded, 0, "user_tier"), "gold");
    assert_eq!(str_of(&decoded, 0, "tags"), r#"["a"]"#);
    assert_eq!(str_of(&decoded, 0, "scope_name"), "shop.cart");
    assert_eq!(str_of(&decoded, 0, "host_name"), "web-1");
    assert!(
        str_of(&decoded, 0, "service_name").starts_with("an attribute"),
        "the record's attribute comes first and wins"
    );
    let names: Vec<&str> = first.fields.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        !names.contains(&"_time"),
        "reserved names are dropped: {names:?}"
    );
    let mut unique = names.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "each name once: {names:?}");
    // No time at all: arrival; a structured body is JSON text.
    assert_eq!(decoded.events[1].time_us, ARRIVAL);
    assert_eq!(str_of(&decoded, 1, "body"), r#"{"k":1}"#);
    assert_eq!(str_of(&decoded, 1, "service_name"), "checkout");
}

#[test]
fn a_span_is_a_row_with_its_duration_status_events_and_links() {
    let child = Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        parent_span_id: vec![3; 8],
        name: "SELECT orders".to_owned(),
        kind: 3,
        start_time_unix_nano: 1_700_000_000_000_000_000,
        end_time_unix_nano: 1_700_000_000_250_000_000,
        attributes: vec![kv("db.system", s("postgresql"))],
        events: vec![span::Event {
            time_unix_nano: 1_700_000_000_100_000_000,
            name: "retry".to_owned(),
            attributes: vec![kv("attempt", Value::IntValue(2))],
            ..Default::default()
        }],
        links: vec![span::Link {
            trace_id: vec![9; 16],
            span_id: vec![8; 8],
            ..Default::default()
        }],
        status: Some(Status {
            message: "timeout".to_owned(),
            code: 2,
        }),
        ..Default::default()
    };
    let root = Span {
        trace_id: vec![1; 16],
        span_id: vec![3; 8],
        name: "GET /cart".to_owned(),
        kind: 2,
        start_time_unix_nano: 1_699_999_999_900_000_000,
        end_time_unix_nano: 1_700_000_000_300_000_000,
        ..Default::default()
    };
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource(),
            scope_spans: vec![ScopeSpans {
                scope: scope(),
                spans: vec![child, root],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let decoded = both(Signal::Traces, &request);
    assert_eq!(decoded.events.len(), 2);
    assert_eq!(decoded.events[0].time_us, 1_700_000_000_000_000);
    assert_eq!(str_of(&decoded, 0, "parent_span_id"), "03".repeat(8));
    assert_eq!(str_of(&decoded, 0, "kind"), "client");
    assert_eq!(
        field(&decoded, 0, "duration_ns"),
        Some(&Scalar::Int(250_000_000))
    );
    assert_eq!(str_of(&decoded, 0, "status_code"), "error");
    assert_eq!(str_of(&decoded, 0, "status_message"), "timeout");
    assert_eq!(str_of(&decoded, 0, "db_system"), "postgresql");
    assert_eq!(str_of(&decoded, 0, "service_name"), "checkout");
    let events: serde_json::Value = serde_json::from_str(&str_of(&decoded, 0, "events")).unwrap();
    assert_eq!(events[0]["name"], "retry");
    assert_eq!(events[0]["attributes"]["attempt"], 2);
    let links: serde_json::Value = serde_json::from_str(&str_of(&decoded, 0, "links")).unwrap();
    assert_eq!(links[0]["trace_id"], "09".repeat(16));
    assert!(
        field(&decoded, 1, "parent_span_id").is_none(),
        "a root has none"
    );
    assert_eq!(str_of(&decoded, 1, "kind"), "server");
    assert_eq!(str_of(&decoded, 1, "status_code"), "unset");
}

fn metric(name: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.to_owned(),
        unit: "ms".to_owned(),
        data: Some(data),
        ..Default::default()
    }
}

#[test]
fn each_data_point_is_a_row_and_histograms_keep_their_buckets() {
    let t = 1_700_000_000_000_000_000;
    let gauge = metric(
        "queue.depth",
        metric::Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                time_unix_nano: t,
                value: Some(number_data_point::Value::AsInt(7)),
                attributes: vec![kv("queue", s("mail"))],
                ..Default::default()
            }],
        }),
    );
    let histogram = metric(
        "http.server.duration",
        metric::Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                time_unix_nano: t,
                count: 6,
                sum: Some(330.0),
                bucket_counts: vec![1, 2, 3],
                explicit_bounds: vec![10.0, 100.0],
                min: Some(3.0),
                max: Some(120.0),
                ..Default::default()
            }],
            aggregation_temporality: 2,
        }),
    );
    let exponential = metric(
        "rpc.duration",
        metric::Data::ExponentialHistogram(ExponentialHistogram {
            data_points: vec![ExponentialHistogramDataPoint {
                time_unix_nano: t,
                count: 4,
                scale: 0,
                zero_count: 1,
                positive: Some(exponential_histogram_data_point::Buckets {
                    offset: 1,
                    bucket_counts: vec![2, 1],
                }),
                ..Default::default()
            }],
            aggregation_temporality: 1,
        }),
    );
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(),
                metrics: vec![gauge, histogram, exponential],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let decoded = both(Signal::Metrics, &request);
    assert_eq!(decoded.events.len(), 3);
    assert_eq!(str_of(&decoded, 0, "metric"), "queue.depth");
    assert_eq!(str_of(&decoded, 0, "type"), "gauge");
    assert_eq!(field(&decoded, 0, "value"), Some(&Scalar::Float(7.0)));
    assert_eq!(str_of(&decoded, 0, "queue"), "mail");
    assert_eq!(str_of(&decoded, 1, "temporality"), "cumulative");
    assert_eq!(field(&decoded, 1, "count"), Some(&Scalar::Int(6)));
    assert_eq!(field(&decoded, 1, "max"), Some(&Scalar::Float(120.0)));
    assert_eq!(str_of(&decoded, 1, "bucket_bounds"), "[10.0,100.0]");
    assert_eq!(str_of(&decoded, 1, "bucket_counts"), "[1,2,3]");
    // Scale 0: base 2; the zero bucket up to 0, then (2, 4] and (4, 8].
    assert_eq!(str_of(&decoded, 2, "type"), "exponential_histogram");
    assert_eq!(str_of(&decoded, 2, "temporality"), "delta");
    assert_eq!(str_of(&decoded, 2, "bucket_bounds"), "[0.0,4.0]");
    assert_eq!(str_of(&decoded, 2, "bucket_counts"), "[1,2,1]");
}

/// The example of the OTLP specification's repository (examples/logs.json), as a client sends
/// it: uppercase hex ids, 64-bit integers as strings.
#[test]
fn the_specifications_json_example_decodes() {
    let body = r#"{"resourceLogs":[{"resource":{"attributes":[{"key":"service.name",
        "value":{"stringValue":"my.service"}}]},"scopeLogs":[{"scope":{"name":"my.library",
        "version":"1.0.0","attributes":[{"key":"my.scope.attribute","value":{"stringValue":
        "some scope attribute"}}]},"logRecords":[{"timeUnixNano":"1544712660300000000",
        "observedTimeUnixNano":"1544712660300000000","severityNumber":10,"severityText":
        "Information","traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
        "body":{"stringValue":"Example log record"},"attributes":[{"key":"string.attribute",
        "value":{"stringValue":"some string"}},{"key":"int.attribute","value":{"intValue":"10"}},
        {"key":"double.attribute","value":{"doubleValue":637.704}},{"key":"array.attribute",
        "value":{"arrayValue":{"values":[{"stringValue":"many"},{"stringValue":"values"}]}}},
        {"key":"map.attribute","value":{"kvlistValue":{"values":[{"key":"some.map.key",
        "value":{"stringValue":"some value"}}]}}}]}]}]}]}"#;
    let decoded = decode(Signal::Logs, Encoding::Json, body.as_bytes(), ARRIVAL).unwrap();
    assert_eq!(decoded.events.len(), 1);
    assert_eq!(decoded.events[0].time_us, 1_544_712_660_300_000);
    assert_eq!(
        str_of(&decoded, 0, "trace_id"),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(field(&decoded, 0, "int_attribute"), Some(&Scalar::Int(10)));
    assert_eq!(
        str_of(&decoded, 0, "map_attribute_some_map_key"),
        "some value"
    );
    assert_eq!(
        str_of(&decoded, 0, "array_attribute"),
        r#"["many","values"]"#
    );
    assert_eq!(
        str_of(&decoded, 0, "my_scope_attribute"),
        "some scope attribute"
    );
    assert_eq!(str_of(&decoded, 0, "service_name"), "my.service");
}

#[test]
fn undecodable_bodies_say_what_they_are_not() {
    let err = decode(Signal::Traces, Encoding::Protobuf, b"\xff\xff\xff", ARRIVAL).unwrap_err();
    assert!(matches!(err, DecodeError::Protobuf { .. }), "{err}");
    let err = decode(
        Signal::Metrics,
        Encoding::Json,
        b"{\"resourceMetrics\": 3}",
        ARRIVAL,
    )
    .unwrap_err();
    assert!(err.to_string().contains("OTLP/JSON"), "{err}");
}

#[test]
fn a_small_body_that_expands_past_the_budget_is_refused() {
    // 200 resource attributes shared by 10,000 empty records: ~30 kB that would be 2M fields.
    let attributes = (0..200).map(|i| kv(&format!("a{i}"), s("v"))).collect();
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes,
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord::default(); 10_000],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let body = request.encode_to_vec();
    assert!(body.len() < 100_000, "{}", body.len());
    let err = decode(Signal::Logs, Encoding::Protobuf, &body, ARRIVAL).unwrap_err();
    assert!(matches!(err, DecodeError::TooManyFields { .. }), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Any bytes, for any signal in either encoding: events or an error, never a panic.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        for signal in [Signal::Logs, Signal::Traces, Signal::Metrics] {
            for encoding in [Encoding::Protobuf, Encoding::Json] {
                let _ = decode(signal, encoding, &bytes, ARRIVAL);
            }
        }
    }

    /// A valid request with bytes flipped and cut, in either encoding: events or an error,
    /// never a panic.
    #[test]
    fn damaged_requests_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
    ) {
        for (encoding, mut body) in [
            (Encoding::Protobuf, log_request().encode_to_vec()),
            (Encoding::Json, serde_json::to_vec(&log_request()).unwrap()),
        ] {
            for (at, byte) in &flips {
                let i = at.index(body.len());
                body[i] = *byte;
            }
            body.truncate(cut.index(body.len() + 1));
            let _ = decode(Signal::Logs, encoding, &body, ARRIVAL);
        }
    }
}

proptest! {
    /// Both ways of dropping repeated names (pairwise for few fields, hashed for many) keep
    /// the first field of each name, in order.
    #[test]
    fn dedup_names_keeps_first_of_each(names in prop::collection::vec("[a-e]{1,2}", 0..150)) {
        let mut fields: Vec<(String, Scalar)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), Scalar::Int(i as i64)))
            .collect();
        let mut expected = Vec::new();
        for (name, value) in &fields {
            if !expected.iter().any(|(n, _): &(String, Scalar)| n == name) {
                expected.push((name.clone(), value.clone()));
            }
        }
        super::dedup_names(&mut fields);
        prop_assert_eq!(fields, expected);
    }
}
