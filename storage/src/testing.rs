//! Events for the store's tests, written as JSON lines: `{"_time": 1767600000, "a": 1}` (epoch
//! seconds; without `_time`, a fixed arrival time). A field's column takes the type of its
//! first value; integers go into a float column as floats; any other mix is a test's mistake.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int64Builder, RecordBatch, StringBuilder,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{Field, Schema};
use serde_json::Value;

use crate::schema::time_type;
use crate::{ColumnType, TIME_COLUMN};

/// The arrival time of events without `_time`.
pub(crate) const ARRIVAL: i64 = 1_700_000_000_000_000;

/// One batch of the events of `ndjson`, columns in order of first appearance.
pub(crate) fn events(ndjson: impl AsRef<str>) -> RecordBatch {
    let rows: Vec<serde_json::Map<String, Value>> = ndjson
        .as_ref()
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| serde_json::from_str(line).expect("a JSON object per line"))
        .collect();
    let mut order: Vec<String> = Vec::new();
    let mut types: BTreeMap<String, ColumnType> = BTreeMap::new();
    for row in &rows {
        for (name, value) in row {
            let value_type = match value {
                Value::Bool(_) => ColumnType::Bool,
                Value::Number(n) if n.is_i64() => ColumnType::Int,
                Value::Number(_) => ColumnType::Float,
                Value::String(_) => ColumnType::Str,
                _ => continue,
            };
            if name == TIME_COLUMN {
                continue;
            }
            match types.get(name) {
                None => {
                    order.push(name.clone());
                    types.insert(name.clone(), value_type);
                }
                Some(ColumnType::Int) if value_type == ColumnType::Float => {
                    types.insert(name.clone(), ColumnType::Float);
                }
                Some(_) => {}
            }
        }
    }
    let times: TimestampMicrosecondArray = rows
        .iter()
        .map(|row| {
            Some(match row.get(TIME_COLUMN) {
                Some(Value::Number(n)) => (n.as_f64().unwrap() * 1e6) as i64,
                _ => ARRIVAL,
            })
        })
        .collect::<TimestampMicrosecondArray>()
        .with_timezone("UTC");
    let mut fields = vec![Field::new(TIME_COLUMN, time_type(), false)];
    let mut arrays: Vec<ArrayRef> = vec![Arc::new(times)];
    for name in &order {
        let column_type = types[name];
        let values = rows
            .iter()
            .map(|row| row.get(name).filter(|v| !v.is_null()));
        let array: ArrayRef = match column_type {
            ColumnType::Bool => {
                let mut b = BooleanBuilder::new();
                values.for_each(|v| b.append_option(v.map(|v| v.as_bool().unwrap())));
                Arc::new(b.finish())
            }
            ColumnType::Int => {
                let mut b = Int64Builder::new();
                values.for_each(|v| b.append_option(v.map(|v| v.as_i64().unwrap())));
                Arc::new(b.finish())
            }
            ColumnType::Float => {
                let mut b = Float64Builder::new();
                values.for_each(|v| b.append_option(v.map(|v| v.as_f64().unwrap())));
                Arc::new(b.finish())
            }
            ColumnType::Str => {
                let mut b = StringBuilder::new();
                values.for_each(|v| b.append_option(v.map(|v| v.as_str().unwrap())));
                Arc::new(b.finish())
            }
        };
        fields.push(Field::new(name, column_type.data_type(), true));
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}
