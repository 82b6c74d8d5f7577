//! JSON bodies decoded and typed into batches: lines kept and rejected, flattening, event time,
//! and the schema rules across bodies appended to a real store.

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};

use super::*;
use crate::ingest::events;

const ARRIVAL: i64 = 1_700_000_000_000_000;

/// A body decoded and typed for a new stream: the batch, the rejections, the column names.
fn decode(body: &str) -> (RecordBatch, Vec<Rejection>, Vec<String>) {
    let (events, mut rejected) = parse_body(body.as_bytes(), BodyFormat::Detect, ARRIVAL).unwrap();
    let batch = events::build(events, None, 100, &mut rejected).unwrap();
    let names = batch
        .events
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    (batch.events, rejected, names)
}

#[test]
fn ndjson_keeps_good_lines_and_reports_bad_ones() {
    let body = "{\"a\":1}\n\nnot json\n[1]\n{\"a\":\"x\"}\n{\"a\":2,\"b\":true}\n";
    let (batch, rejected, _) = decode(body);
    assert_eq!(batch.num_rows(), 2);
    let lines: Vec<usize> = rejected.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![3, 4, 5]);
    assert!(
        rejected[0].error.starts_with("invalid JSON at column 2"),
        "{:?}",
        rejected[0]
    );
    assert_eq!(rejected[1].error, "expected a JSON object, got an array");
    assert_eq!(rejected[2].error, "field `a` is Int64, got a string");
    let a = batch
        .column_by_name("a")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(a.values(), &[1, 2]);
    let b = batch.column_by_name("b").unwrap().as_boolean();
    assert!(b.is_null(0));
    assert!(b.value(1));
}

#[test]
fn json_array_and_flattening() {
    let body = r#"[{"http":{"status":200,"route":"/x"},"tags":["a","b"],"n":null}, 5]"#;
    let (batch, rejected, names) = decode(body);
    assert_eq!(names, ["_time", "http_status", "http_route", "tags"]);
    assert_eq!(batch.column(3).as_string::<i32>().value(0), r#"["a","b"]"#);
    assert_eq!(
        rejected,
        vec![Rejection {
            line: 2,
            error: "expected a JSON object, got a number".into()
        }]
    );
}

#[test]
fn malformed_array_fails_whole_body() {
    assert!(matches!(
        parse_body(b"[{\"a\":1},", BodyFormat::Detect, ARRIVAL),
        Err(Error::BodyNotJson { .. })
    ));
}

#[test]
fn int_widens_to_float_within_one_request() {
    let (batch, rejected, _) = decode("{\"x\":1}\n{\"x\":2.5}\n");
    assert!(rejected.is_empty());
    let x = batch
        .column_by_name("x")
        .unwrap()
        .as_primitive::<Float64Type>()
        .clone();
    assert_eq!(x.values(), &[1.0, 2.5]);
}

#[test]
fn event_time_sources_and_units() {
    let cases = [
        (
            r#"{"_time":"2026-01-05T10:00:00.123456Z"}"#,
            1_767_607_200_123_456,
        ),
        (
            r#"{"timestamp":"2026-01-05T11:00:00+01:00"}"#,
            1_767_607_200_000_000,
        ),
        (r#"{"time":1767607200}"#, 1_767_607_200_000_000),
        (r#"{"time":1767607200.5}"#, 1_767_607_200_500_000),
        (r#"{"time":1767607200123}"#, 1_767_607_200_123_000),
        (r#"{"time":1767607200123456}"#, 1_767_607_200_123_456),
        (r#"{"time":1767607200123456789}"#, 1_767_607_200_123_456),
        (r#"{"other":1}"#, ARRIVAL),
    ];
    for (line, want) in cases {
        let (batch, rejected, _) = decode(line);
        assert!(rejected.is_empty(), "{line}: {rejected:?}");
        let t = batch
            .column(0)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0);
        assert_eq!(t, want, "{line}");
    }
    let (_, rejected, _) = decode(r#"{"_time":"yesterday"}"#);
    assert!(
        rejected[0].error.contains("not an RFC 3339 time"),
        "{rejected:?}"
    );
    let (_, rejected, _) = decode(r#"{"_time":true}"#);
    assert!(
        rejected[0].error.contains("must be an RFC 3339 string"),
        "{rejected:?}"
    );
}

#[test]
fn offset_field_is_ignored_and_time_field_consumed() {
    let (batch, _, names) = decode(r#"{"_offset":99,"_hour":"x","timestamp":1767607200,"a":1}"#);
    assert_eq!(names, ["_time", "a"]);
    assert_eq!(
        batch
            .column(0)
            .as_primitive::<TimestampMicrosecondType>()
            .value(0),
        1_767_607_200_000_000
    );
}

#[test]
fn columns_keep_the_order_of_first_appearance() {
    let (_, _, names) = decode(r#"{"_time":1767607200,"b":1,"a":2,"c":{"z":1,"y":2},"d":3}"#);
    assert_eq!(names, ["_time", "b", "a", "c_z", "c_y", "d"]);
}

mod streamed_line_matches_value_path {
    use proptest::prelude::*;
    use serde_json::{Map, Value, json};

    use super::super::{line::parse_line, owned, parse_event};

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            (-1e12f64..1e12).prop_map(Value::from),
            "[a-z \\\\\"é]{0,8}".prop_map(Value::from),
            Just(json!("2026-01-05T10:00:00.5Z")),
            (1_000_000_000i64..2_000_000_000).prop_map(Value::from),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(2, 12, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_]{1,6}",
            Just("_time".to_owned()),
            Just("timestamp".to_owned()),
            Just("time".to_owned()),
            Just("_offset".to_owned()),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn same_event(members in prop::collection::vec((key(), value()), 0..8)) {
            let mut object = Map::new();
            for (k, v) in members {
                object.entry(k).or_insert(v);
            }
            let line = Value::Object(object.clone()).to_string();
            let streamed = parse_line(line.as_bytes(), 42).map(|(t, f)| (t, owned(f)));
            let tree = parse_event(Value::Object(object), 42);
            prop_assert_eq!(streamed, tree, "{}", line);
        }
    }
}

/// Bodies of events with fields of random types, ingested one after another into one stream of
/// a real store, agree with a model of the rules in docs/events.md: the first type of a field
/// makes its column, an integer column takes a float by becoming float, any other conflict
/// rejects the event (and only it), `null` is a missing value.
mod schema_evolution_matches_a_model {
    use arrow::array::{Array, AsArray};
    use arrow::compute::concat_batches;
    use arrow::datatypes::{DataType, Float64Type, Int64Type};
    use proptest::prelude::*;
    use serde_json::{Map, Value};
    use storage::{ColumnType, Store, StoreConfig, StreamName};

    use crate::ingest::{BodyFormat, append_json};

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum V {
        Null,
        Bool(bool),
        Int(i64),
        Float(f64),
        Str(u8),
    }

    impl V {
        fn json(self) -> Value {
            match self {
                V::Null => Value::Null,
                V::Bool(b) => Value::from(b),
                V::Int(i) => Value::from(i),
                V::Float(f) => Value::from(f),
                V::Str(s) => Value::from(format!("s{s}")),
            }
        }

        fn column_type(self) -> Option<ColumnType> {
            match self {
                V::Null => None,
                V::Bool(_) => Some(ColumnType::Bool),
                V::Int(_) => Some(ColumnType::Int),
                V::Float(_) => Some(ColumnType::Float),
                V::Str(_) => Some(ColumnType::Str),
            }
        }
    }

    fn value() -> impl Strategy<Value = V> {
        prop_oneof![
            Just(V::Null),
            any::<bool>().prop_map(V::Bool),
            (-1000i64..1000).prop_map(V::Int),
            (-1000i64..1000).prop_map(|i| V::Float(i as f64 + 0.5)),
            (0u8..4).prop_map(V::Str),
        ]
    }

    /// An event: a value for some of the keys `a`..`d`; `None` is a line that is not JSON.
    fn event() -> impl Strategy<Value = Option<Vec<(String, V)>>> {
        prop_oneof![
            1 => Just(None),
            12 => prop::collection::btree_map("[a-d]", value(), 0..4)
                .prop_map(|m| Some(m.into_iter().collect())),
        ]
    }

    /// The model: columns in order of appearance with their types.
    #[derive(Default)]
    struct Model {
        columns: Vec<(String, ColumnType)>,
    }

    impl Model {
        fn find(&self, name: &str) -> Option<usize> {
            self.columns.iter().position(|(n, _)| n == name)
        }

        /// Admits an event, or returns false (and changes nothing) when one of its fields
        /// conflicts with its column.
        fn admit(&mut self, fields: &[(String, V)]) -> bool {
            for (name, v) in fields {
                if let (Some(idx), Some(t)) = (self.find(name), v.column_type()) {
                    let column = self.columns[idx].1;
                    let numbers = [ColumnType::Int, ColumnType::Float];
                    if column != t && !(numbers.contains(&column) && numbers.contains(&t)) {
                        return false;
                    }
                }
            }
            for (name, v) in fields {
                let Some(t) = v.column_type() else { continue };
                match self.find(name) {
                    None => self.columns.push((name.clone(), t)),
                    Some(idx) if t == ColumnType::Float => self.columns[idx].1 = t,
                    Some(_) => {}
                }
            }
            true
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn decode_agrees(bodies in prop::collection::vec(prop::collection::vec(event(), 1..8), 1..5)) {
            let dir = tempfile::tempdir().unwrap();
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let store = runtime
                .block_on(Store::open(dir.path(), StoreConfig::default()))
                .unwrap();
            let web = StreamName::new("web").unwrap();
            let mut model = Model::default();
            let mut next = 0u64;
            for body in bodies {
                let text: String = body
                    .iter()
                    .map(|event| match event {
                        None => "{not json\n".to_owned(),
                        Some(fields) => {
                            let object: Map<String, Value> =
                                fields.iter().map(|(k, v)| (k.clone(), v.json())).collect();
                            format!("{}\n", Value::Object(object))
                        }
                    })
                    .collect();
                let outcome = append_json(&store, &web, text.as_bytes(), BodyFormat::Ndjson).unwrap();

                let mut expected_rejected = Vec::new();
                let mut expected_rows = Vec::new();
                for (idx, event) in body.iter().enumerate() {
                    match event {
                        Some(fields) if model.admit(fields) => expected_rows.push(fields),
                        _ => expected_rejected.push(idx + 1),
                    }
                }
                let got_rejected: Vec<usize> = outcome.rejected.iter().map(|r| r.line).collect();
                prop_assert_eq!(got_rejected, expected_rejected, "{}", text);
                let columns: Vec<(String, ColumnType)> = store
                    .schema(&web)
                    .map(|schema| {
                        schema
                            .fields()
                            .iter()
                            .skip(2)
                            .map(|f| (f.name().clone(), ColumnType::of(f.data_type()).unwrap()))
                            .collect()
                    })
                    .unwrap_or_default();
                prop_assert_eq!(&columns, &model.columns, "{}", text);

                if outcome.accepted == 0 {
                    prop_assert!(expected_rows.is_empty());
                    continue;
                }
                // This body's events: the last ones of the stream.
                let snapshot = store.snapshot(&web).unwrap();
                let all = concat_batches(snapshot.schema(), snapshot.batches()).unwrap();
                let batch = all.slice(next as usize, all.num_rows() - next as usize);
                prop_assert_eq!(batch.num_rows(), expected_rows.len());
                let offsets = batch.column(1).as_primitive::<Int64Type>();
                for (row, offset) in offsets.values().iter().enumerate() {
                    prop_assert_eq!(*offset, (next + row as u64) as i64);
                }
                next += expected_rows.len() as u64;
                for (name, column_type) in &model.columns {
                    let column = batch.column_by_name(name).unwrap();
                    for (row, fields) in expected_rows.iter().enumerate() {
                        let want = fields
                            .iter()
                            .find(|(n, _)| n == name)
                            .map_or(V::Null, |(_, v)| *v);
                        let got = if column.is_null(row) {
                            V::Null
                        } else {
                            match column.data_type() {
                                DataType::Boolean => V::Bool(column.as_boolean().value(row)),
                                DataType::Int64 => {
                                    V::Int(column.as_primitive::<Int64Type>().value(row))
                                }
                                DataType::Float64 => {
                                    V::Float(column.as_primitive::<Float64Type>().value(row))
                                }
                                _ => {
                                    let s = column.as_string::<i32>().value(row);
                                    V::Str(s[1..].parse().unwrap())
                                }
                            }
                        };
                        // Integers in a float column are stored as floats.
                        let want = match (want, column_type) {
                            (V::Int(i), ColumnType::Float) => V::Float(i as f64),
                            (want, _) => want,
                        };
                        prop_assert_eq!(got, want, "column {} row {}\n{}", name, row, text);
                    }
                }
            }
        }
    }
}
