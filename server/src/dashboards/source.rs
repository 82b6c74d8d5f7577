//! A dashboard file (`*.json`, `*.yaml`, `*.yml`) read into a JSON value, keeping where each part
//! of it was written, so that a problem found later (by the schema, by the dashboard's own rules)
//! is reported at a line and column of the file.

use std::collections::HashMap;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Number, Value};

/// Where something is in a file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Position {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// A file's document, and where each of its parts starts.
#[derive(Debug)]
pub(crate) struct Source {
    pub(crate) value: Value,
    positions: HashMap<String, Position>,
}

impl Source {
    /// Where the part at `pointer` was written: its own position, or its nearest enclosing
    /// part's (for a property that is missing, the object that lacks it).
    pub(crate) fn position(&self, pointer: &str) -> Position {
        let mut pointer = pointer;
        loop {
            if let Some(position) = self.positions.get(pointer) {
                return *position;
            }
            match pointer.rfind('/') {
                Some(i) => pointer = &pointer[..i],
                None => return Position { line: 1, column: 1 },
            }
        }
    }
}

/// Why a file does not read as a document.
#[derive(Debug)]
pub(crate) struct SyntaxError {
    pub(crate) position: Position,
    pub(crate) message: String,
}

/// Reads `text`: JSON when `json`, YAML otherwise.
pub(crate) fn read(text: &str, json: bool) -> Result<Source, SyntaxError> {
    if json {
        let value: Value = serde_json::from_str(text).map_err(|err| SyntaxError {
            position: Position {
                line: err.line(),
                column: err.column(),
            },
            message: format!("not JSON: {err}"),
        })?;
        // JSON is YAML too: its positions come from the YAML reader (none if it disagrees).
        let positions = yaml(text).map(|(_, p)| p).unwrap_or_default();
        return Ok(Source { value, positions });
    }
    let (value, positions) = yaml(text)?;
    Ok(Source { value, positions })
}

fn yaml(text: &str) -> Result<(Value, HashMap<String, Position>), SyntaxError> {
    let documents = MarkedYaml::load_from_str(text).map_err(|err| SyntaxError {
        position: Position {
            line: err.marker().line(),
            column: err.marker().col() + 1,
        },
        message: format!("not YAML: {}", err.info()),
    })?;
    let mut positions = HashMap::new();
    let value = match documents.as_slice() {
        [] => Value::Null,
        [document] => convert(document, String::new(), &mut positions)?,
        [_, second, ..] => {
            return Err(SyntaxError {
                position: start(second),
                message: "a file holds one dashboard: found a second YAML document".into(),
            });
        }
    };
    Ok((value, positions))
}

fn start(node: &MarkedYaml<'_>) -> Position {
    Position {
        line: node.span.start.line(),
        column: node.span.start.col() + 1,
    }
}

/// Escapes a key as a JSON pointer segment.
fn segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn convert(
    node: &MarkedYaml<'_>,
    pointer: String,
    positions: &mut HashMap<String, Position>,
) -> Result<Value, SyntaxError> {
    positions.insert(pointer.clone(), start(node));
    let value = match &node.data {
        YamlData::Value(scalar) => scalar_value(scalar),
        YamlData::Representation(text, ..) => Value::String(text.to_string()),
        YamlData::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| convert(item, format!("{pointer}/{i}"), positions))
                .collect::<Result<_, _>>()?,
        ),
        YamlData::Mapping(entries) => {
            let mut object = Map::new();
            for (key, value) in entries {
                let key_text = match convert(key, String::new(), &mut HashMap::new())? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                let child = format!("{pointer}/{}", segment(&key_text));
                // A missing or wrong value is reported at its key, where the eye looks.
                positions.insert(child.clone(), start(key));
                let value = convert(value, child.clone(), positions)?;
                positions.insert(child, start(key));
                object.insert(key_text, value);
            }
            Value::Object(object)
        }
        YamlData::Tagged(_, inner) => convert(inner, pointer, positions)?,
        YamlData::Alias(_) | YamlData::BadValue => {
            return Err(SyntaxError {
                position: start(node),
                message: "YAML aliases and ill-typed tagged values are not supported here".into(),
            });
        }
    };
    Ok(value)
}

fn scalar_value(scalar: &Scalar<'_>) -> Value {
    match scalar {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        Scalar::FloatingPoint(f) => {
            Number::from_f64(f.into_inner()).map_or(Value::Null, Value::Number)
        }
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_and_json_read_alike_with_positions() {
        let yaml =
            "uid: web\ntitle: Web\npanels:\n  - id: 1\n    grid: {x: 0, y: 0, w: 30, h: 8}\n";
        let json = r#"{"uid": "web", "title": "Web", "panels": [{"id": 1, "grid": {"x": 0, "y": 0, "w": 30, "h": 8}}]}"#;
        let y = read(yaml, false).unwrap();
        let j = read(json, true).unwrap();
        assert_eq!(y.value, j.value);
        assert_eq!(
            y.position("/panels/0/grid/w"),
            Position {
                line: 5,
                column: 24
            }
        );
        assert_eq!(
            y.position("/panels/0/title"),
            Position { line: 4, column: 5 }
        );
        assert_eq!(j.position("/panels/0/grid/w").line, 1);
    }

    #[test]
    fn syntax_errors_say_where() {
        let err = read("uid: web\ntitle: [unclosed\n", false).unwrap_err();
        assert!(err.position.line >= 2, "{err:?}");
        let err = read("{\n  \"uid\": \"web\",\n  \"title\" \"x\"\n}", true).unwrap_err();
        assert_eq!(
            err.position,
            Position {
                line: 3,
                column: 11
            }
        );
        assert!(err.message.starts_with("not JSON"), "{}", err.message);
    }
}
