//! A query's result: columns, and rows of JSON values.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One result row: a JSON value per column. Integers and floats are numbers (NaN and infinities
/// null), timestamps RFC 3339 strings in UTC, other types as Arrow displays them.
pub type Row = Vec<Value>;

/// A result column: its name and its Arrow type, as Arrow writes it (`Int64`, `Utf8`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub data_type: String,
}

/// A query's result as `POST /api/v1/query` replies it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryResult {
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// Whether rows past the reply's limit were left out.
    #[serde(default)]
    pub truncated: bool,
    /// The server's clock when the result was computed, µs since the epoch: it holds every event
    /// acknowledged before then. (Not an event-time watermark.)
    #[serde(default)]
    pub now: i64,
}

/// How far a query running under an id has got (`GET /api/v1/query/{id}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub elapsed_ms: u64,
    /// Whether it is planned yet (the counts are zero before).
    pub planned: bool,
    /// Lake files its plan reads, and those opened so far.
    pub files_total: u64,
    pub files_scanned: u64,
    /// Their bytes, and the bytes read so far.
    pub bytes_total: u64,
    pub bytes_scanned: u64,
}

impl QueryResult {
    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// How result values are ordered, on the server and in every client alike: numbers by value,
/// then strings, then booleans, then nulls (the largest, as in DataFusion's default order: last
/// ascending, first descending).
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    fn rank(value: &Value) -> u8 {
        match value {
            Value::Number(_) => 0,
            Value::String(_) => 1,
            Value::Bool(_) => 2,
            Value::Array(_) | Value::Object(_) => 3,
            Value::Null => 4,
        }
    }
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        _ if rank(a) != rank(b) => rank(a).cmp(&rank(b)),
        _ => a.to_string().cmp(&b.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn values_order_numbers_strings_booleans_then_nulls() {
        let mut values = vec![
            json!(null),
            json!(true),
            json!("b"),
            json!(10),
            json!("a"),
            json!(2.5),
            json!(false),
        ];
        values.sort_by(compare_values);
        assert_eq!(
            values,
            vec![
                json!(2.5),
                json!(10),
                json!("a"),
                json!("b"),
                json!(false),
                json!(true),
                json!(null)
            ]
        );
    }

    #[test]
    fn a_result_keeps_its_wire_form() {
        let text =
            r#"{"columns":[{"name":"n","type":"Int64"}],"rows":[[1]],"truncated":false,"now":7}"#;
        let result: QueryResult = serde_json::from_str(text).unwrap();
        assert_eq!(result.column("n"), Some(0));
        assert_eq!(serde_json::to_string(&result).unwrap(), text);
        // Older replies without `now` still read.
        let old: QueryResult =
            serde_json::from_str(r#"{"columns":[],"rows":[],"truncated":true}"#).unwrap();
        assert!(old.truncated);
    }
}
