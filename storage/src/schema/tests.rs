//! The rules of evolution, and batches of events fitted to a stream's schema by them.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type};
use proptest::prelude::*;

use super::*;
use crate::testing::events;

fn conform(
    schema: &mut StreamSchema,
    ndjson: &str,
    max_columns: usize,
) -> (Option<RecordBatch>, Vec<RowRejection>) {
    let mut rejected = Vec::new();
    let conformed = schema
        .conform(&events(ndjson), Offset(10), max_columns, &mut rejected)
        .unwrap();
    (install(schema, conformed), rejected)
}

/// The batch, with the evolved schema installed as the stream does.
fn install(schema: &mut StreamSchema, conformed: Option<Conformed>) -> Option<RecordBatch> {
    let conformed = conformed?;
    if let Some(evolved) = conformed.evolved {
        *schema = evolved;
    }
    Some(conformed.batch)
}

fn names(schema: &StreamSchema) -> Vec<&str> {
    schema.columns().iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn the_rules() {
    use ColumnType::*;
    assert_eq!(evolve("a", Int, Int), Ok(Int));
    assert_eq!(evolve("a", Int, Float), Ok(Float));
    assert_eq!(evolve("a", Float, Int), Ok(Float));
    assert_eq!(
        evolve("b", Str, Int),
        Err("field `b` is Utf8, got an integer".into())
    );
    assert_eq!(
        evolve("c", Bool, Str),
        Err("field `c` is Boolean, got a string".into())
    );
}

#[test]
fn columns_are_added_widened_and_conflicts_rejected_by_row() {
    let mut schema = StreamSchema::new();
    let (batch, rejected) = conform(&mut schema, "{\"a\":1,\"b\":\"x\"}\n{\"a\":2}\n", 10);
    assert!(rejected.is_empty());
    let batch = batch.unwrap();
    assert_eq!(names(&schema), ["a", "b"]);
    let offsets = batch.column(1).as_primitive::<Int64Type>();
    assert_eq!(offsets.values(), &[10, 11]);

    // A float widens `a`; the integers already stored stay readable as floats.
    let (batch, rejected) = conform(&mut schema, "{\"a\":2.5}\n", 10);
    assert!(rejected.is_empty());
    assert_eq!(schema.columns()[0].1, ColumnType::Float);
    let a = batch.unwrap();
    assert_eq!(
        a.column_by_name("a")
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(0),
        2.5
    );

    // `b` is a string column: an event with an integer `b` is left out, alone; a new column
    // only it used is not added.
    let (batch, rejected) = conform(
        &mut schema,
        "{\"b\":1,\"c\":true}\n{\"a\":3}\n{\"b\":2}\n",
        10,
    );
    assert_eq!(
        rejected,
        vec![
            RowRejection {
                row: 0,
                error: "field `b` is Utf8, got an integer".into()
            },
            RowRejection {
                row: 2,
                error: "field `b` is Utf8, got an integer".into()
            }
        ]
    );
    assert_eq!(
        names(&schema),
        ["a", "b"],
        "`c` came only with a rejected event"
    );
    let batch = batch.unwrap();
    assert_eq!(batch.num_rows(), 1);
    assert_eq!(
        batch
            .column_by_name("a")
            .unwrap()
            .as_primitive::<Float64Type>()
            .value(0),
        3.0,
        "an integer in a float column"
    );

    // Past the column limit, events that need another column are left out.
    let (batch, rejected) = conform(&mut schema, "{\"d\":1}\n{\"a\":1}\n", 2);
    assert_eq!(rejected.len(), 1);
    assert_eq!(
        rejected[0].error,
        "the stream would have more than 2 columns"
    );
    assert_eq!(batch.unwrap().num_rows(), 1);
    assert_eq!(names(&schema), ["a", "b"]);
}

#[test]
fn batches_that_are_not_events_are_refused() {
    let good = events("{\"a\":1}");
    assert!(check_events(&good).is_ok());
    let without_time = good.project(&[1]).unwrap();
    assert!(matches!(
        check_events(&without_time),
        Err(Error::InvalidEvents { .. })
    ));
    let offset = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new(TIME_COLUMN, time_type(), false),
            Field::new(OFFSET_COLUMN, DataType::Int64, true),
        ])),
        vec![Arc::clone(good.column(0)), Arc::clone(good.column(1))],
    )
    .unwrap();
    let Err(Error::InvalidEvents { reason }) = check_events(&offset) else {
        panic!("`_offset` is the store's");
    };
    assert!(reason.contains("_offset"), "{reason}");
}

/// A value of a random event: `None` is a missing field.
fn value() -> impl Strategy<Value = Option<serde_json::Value>> {
    prop_oneof![
        Just(None),
        any::<bool>().prop_map(|b| Some(b.into())),
        (-100i64..100).prop_map(|i| Some(i.into())),
        (0u8..3).prop_map(|s| Some(format!("s{s}").into())),
    ]
}

/// A batch as JSON lines: its columns `a`..`c` each hold one type (as decoders make them).
fn batch() -> impl Strategy<Value = String> {
    let column = prop_oneof![Just(0u8), Just(1), Just(2), Just(3)];
    (prop::collection::vec(column, 3), 1usize..6).prop_flat_map(|(types, n)| {
        prop::collection::vec(prop::collection::vec(value(), 3), n).prop_map(move |rows| {
            rows.into_iter()
                .map(|row| {
                    let fields: serde_json::Map<String, serde_json::Value> = row
                        .into_iter()
                        .zip(&types)
                        .zip(["a", "b", "c"])
                        .filter_map(|((v, t), name)| {
                            let v = v?;
                            // One type per column: coerce the value to the column's.
                            let v = match t {
                                0 => v.as_bool().unwrap_or(true).into(),
                                1 => v.as_i64().unwrap_or(7).into(),
                                2 => (v.as_i64().unwrap_or(7) as f64 + 0.5).into(),
                                _ => v.as_str().unwrap_or("s").into(),
                            };
                            Some((name.to_owned(), v))
                        })
                        .collect();
                    format!("{}\n", serde_json::Value::Object(fields))
                })
                .collect()
        })
    })
}

proptest! {
    /// Whatever batches come, every event is either kept with all of its values (integers in
    /// float columns as floats) under gap-free offsets, or left out for a field it has; the
    /// schema only grows; and a kept event's columns are in the schema with its value's type or
    /// a wider one.
    #[test]
    fn every_event_is_kept_whole_or_rejected_for_a_field_it_has(
        batches in prop::collection::vec(batch(), 1..6),
        max_columns in 1usize..4,
    ) {
        let mut schema = StreamSchema::new();
        let mut next = 10i64;
        for ndjson in &batches {
            let before: Vec<(String, ColumnType)> = schema.columns().to_vec();
            let input = events(ndjson);
            let mut rejected = Vec::new();
            let conformed = schema
                .conform(&input, Offset(next as u64), max_columns, &mut rejected)
                .unwrap();
            let batch = install(&mut schema, conformed);
            prop_assert!(schema.columns().len() <= max_columns.max(before.len()));
            prop_assert_eq!(&schema.columns()[..before.len()].iter().map(|c| &c.0).collect::<Vec<_>>(),
                &before.iter().map(|c| &c.0).collect::<Vec<_>>());
            let rejected_rows: Vec<usize> = rejected.iter().map(|r| r.row).collect();
            for r in &rejected {
                let has_field = input.schema().fields().iter().enumerate().any(|(i, f)| {
                    r.error.contains(&format!("`{}`", f.name())) && input.column(i).is_valid(r.row)
                }) || r.error.contains("more than");
                prop_assert!(has_field, "{:?} in\n{}", r, ndjson);
            }
            let kept: Vec<usize> = (0..input.num_rows()).filter(|r| !rejected_rows.contains(r)).collect();
            let Some(batch) = batch else {
                prop_assert!(kept.is_empty());
                continue;
            };
            prop_assert_eq!(batch.num_rows(), kept.len());
            let offsets = batch.column(1).as_primitive::<Int64Type>();
            let expected: Vec<i64> = (next..next + kept.len() as i64).collect();
            prop_assert_eq!(offsets.values().to_vec(), expected);
            next += kept.len() as i64;
            for (i, field) in input.schema().fields().iter().enumerate().skip(1) {
                let column = input.column(i);
                for (out_row, &row) in kept.iter().enumerate() {
                    if column.is_null(row) {
                        continue;
                    }
                    let stored = batch.column_by_name(field.name());
                    prop_assert!(stored.is_some(), "`{}` kept a value, so it is a column", field.name());
                    let stored = stored.unwrap();
                    let want = arrow::util::display::array_value_to_string(column, row).unwrap();
                    let got = arrow::util::display::array_value_to_string(stored, out_row).unwrap();
                    let same = want == got
                        || (stored.data_type() == &DataType::Float64
                            && want.parse::<f64>().ok() == got.parse::<f64>().ok());
                    prop_assert!(same, "`{}` row {}: {} stored as {}", field.name(), row, want, got);
                }
            }
        }
    }
}
