//! A stream's schema and how it evolves: inferred on first write, widened by later ones.
//!
//! Rules: a new field becomes a new nullable column; an integer column that receives a float
//! becomes Float64 (integers are then stored as floats); any other type conflict rejects the
//! event. `_time` and `_offset` are always the first two columns.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::{OFFSET_COLUMN, TIME_COLUMN};

/// The type of a JSON value as stored in a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ColumnType {
    Bool,
    Int,
    Float,
    Str,
}

impl ColumnType {
    pub(crate) fn data_type(self) -> DataType {
        match self {
            ColumnType::Bool => DataType::Boolean,
            ColumnType::Int => DataType::Int64,
            ColumnType::Float => DataType::Float64,
            ColumnType::Str => DataType::Utf8,
        }
    }

    fn from_data_type(data_type: &DataType) -> Option<ColumnType> {
        Some(match data_type {
            DataType::Boolean => ColumnType::Bool,
            DataType::Int64 => ColumnType::Int,
            DataType::Float64 => ColumnType::Float,
            DataType::Utf8 => ColumnType::Str,
            _ => return None,
        })
    }

    fn describe(self) -> &'static str {
        match self {
            ColumnType::Bool => "a boolean",
            ColumnType::Int => "an integer",
            ColumnType::Float => "a float",
            ColumnType::Str => "a string",
        }
    }
}

/// The schema of one stream. Only grows: columns are never removed or renamed.
#[derive(Debug, Clone)]
pub(crate) struct StreamSchema {
    /// User columns in order of first appearance (excluding `_time` and `_offset`).
    columns: Vec<(String, ColumnType)>,
    index: HashMap<String, usize, foldhash::fast::RandomState>,
    arrow: SchemaRef,
}

/// A value whose column type is known: what [`StreamSchema::admit`] checks.
pub(crate) trait Typed {
    fn column_type(&self) -> ColumnType;
}

impl Typed for ColumnType {
    fn column_type(&self) -> ColumnType {
        *self
    }
}

/// What admitting one event to the schema would change.
pub(crate) enum Admission {
    /// The column index of each field, in the event's field order.
    Fits(Vec<usize>),
    Conflict(String),
}

impl StreamSchema {
    pub(crate) fn new() -> StreamSchema {
        let mut schema = StreamSchema {
            columns: Vec::new(),
            index: HashMap::default(),
            arrow: Arc::new(Schema::empty()),
        };
        schema.rebuild_arrow();
        schema
    }

    pub(crate) fn arrow(&self) -> &SchemaRef {
        &self.arrow
    }

    pub(crate) fn columns(&self) -> &[(String, ColumnType)] {
        &self.columns
    }

    /// Checks an event's fields against the schema and, if they fit, evolves the schema so they do
    /// (new columns, int widened to float). A conflicting event changes nothing.
    pub(crate) fn admit<T: Typed>(
        &mut self,
        fields: &[(String, T)],
        max_columns: usize,
    ) -> Admission {
        let mut n_new = 0;
        for (name, value) in fields {
            let value_type = &value.column_type();
            match self.index.get(name) {
                Some(&idx) => {
                    let column_type = self.columns[idx].1;
                    if !compatible(column_type, *value_type) {
                        return Admission::Conflict(format!(
                            "field `{name}` is {}, got {}",
                            column_type.data_type(),
                            value_type.describe()
                        ));
                    }
                }
                None => n_new += 1,
            }
        }
        if self.columns.len() + n_new > max_columns {
            return Admission::Conflict(format!(
                "the stream would have more than {max_columns} columns"
            ));
        }
        let mut changed = false;
        let mut indices = Vec::with_capacity(fields.len());
        for (name, value) in fields {
            let value_type = &value.column_type();
            let idx = match self.index.get(name) {
                Some(&idx) => {
                    if self.columns[idx].1 == ColumnType::Int && *value_type == ColumnType::Float {
                        self.columns[idx].1 = ColumnType::Float;
                        changed = true;
                    }
                    idx
                }
                None => {
                    self.columns.push((name.clone(), *value_type));
                    self.index.insert(name.clone(), self.columns.len() - 1);
                    changed = true;
                    self.columns.len() - 1
                }
            };
            indices.push(idx);
        }
        if changed {
            self.rebuild_arrow();
        }
        Admission::Fits(indices)
    }

    /// Whether a value of `value_type` goes into column `idx` without changing the schema.
    pub(crate) fn fits_as_is(&self, idx: usize, value_type: ColumnType) -> bool {
        let column_type = self.columns[idx].1;
        column_type == value_type
            || (column_type == ColumnType::Float && value_type == ColumnType::Int)
    }

    /// Widens the schema to cover a batch written earlier (used when replaying the log).
    pub(crate) fn absorb(&mut self, schema: &Schema) {
        let mut changed = false;
        for field in schema.fields() {
            if [TIME_COLUMN, OFFSET_COLUMN, crate::lake::HOUR_COLUMN]
                .contains(&field.name().as_str())
            {
                continue;
            }
            let Some(value_type) = ColumnType::from_data_type(field.data_type()) else {
                continue;
            };
            match self.index.get(field.name()) {
                Some(&idx) => {
                    if self.columns[idx].1 == ColumnType::Int && value_type == ColumnType::Float {
                        self.columns[idx].1 = ColumnType::Float;
                        changed = true;
                    }
                }
                None => {
                    self.columns.push((field.name().clone(), value_type));
                    self.index
                        .insert(field.name().clone(), self.columns.len() - 1);
                    changed = true;
                }
            }
        }
        if changed {
            self.rebuild_arrow();
        }
    }

    fn rebuild_arrow(&mut self) {
        let mut fields = vec![
            Field::new(
                TIME_COLUMN,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new(OFFSET_COLUMN, DataType::Int64, false),
        ];
        fields.extend(
            self.columns
                .iter()
                .map(|(name, column_type)| Field::new(name, column_type.data_type(), true)),
        );
        self.arrow = Arc::new(Schema::new(fields));
    }
}

fn compatible(column: ColumnType, value: ColumnType) -> bool {
    column == value
        || matches!(
            (column, value),
            (ColumnType::Int, ColumnType::Float) | (ColumnType::Float, ColumnType::Int)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(list: &[(&str, ColumnType)]) -> Vec<(String, ColumnType)> {
        list.iter().map(|(n, t)| (n.to_string(), *t)).collect()
    }

    #[test]
    fn evolves_and_rejects_conflicts() {
        use ColumnType::*;
        let mut schema = StreamSchema::new();
        let Admission::Fits(idx) = schema.admit(&fields(&[("a", Int), ("b", Str)]), 10) else {
            panic!("first event must fit");
        };
        assert_eq!(idx, vec![0, 1]);
        assert!(matches!(
            schema.admit(&fields(&[("a", Float)]), 10),
            Admission::Fits(_)
        ));
        assert_eq!(schema.columns()[0].1, Float);
        // Ints still fit a float column.
        assert!(matches!(
            schema.admit(&fields(&[("a", Int)]), 10),
            Admission::Fits(_)
        ));
        let Admission::Conflict(reason) = schema.admit(&fields(&[("c", Bool), ("b", Int)]), 10)
        else {
            panic!("string column must refuse an int");
        };
        assert_eq!(reason, "field `b` is Utf8, got an integer");
        // The conflicting event added nothing.
        assert_eq!(schema.columns().len(), 2);
        assert_eq!(schema.arrow().fields().len(), 4);
        assert!(matches!(
            schema.admit(&fields(&[("c", Bool)]), 2),
            Admission::Conflict(_)
        ));
    }
}
