//! One NDJSON line to an event, streamed: the JSON is read once, straight into flattened fields,
//! without building a `serde_json::Value` tree (which costs a map, a hash and allocations per
//! field; see docs/benchmarks.md).

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use storage::{HOUR_COLUMN, OFFSET_COLUMN};

use super::{Fields, Scalar, TIME_KEYS, borrowed, flatten_value, json_error, kind, parse_time};

/// Parses one line into (event time, flattened fields), or says why it is rejected. Names and
/// text borrow from `line` unless they hold escapes (or are prefixed names of nested objects).
pub(super) fn parse_line(line: &[u8], arrival_us: i64) -> Result<(i64, Fields<'_>), String> {
    if line.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        // Not an object: the slow path says what it is.
        let value = serde_json::from_slice::<Value>(line).map_err(json_error)?;
        return Err(format!("expected a JSON object, got {}", kind(&value)));
    }
    let mut fields = Vec::with_capacity(16);
    let mut times: Vec<(usize, usize, Value)> = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(line);
    let object = Object {
        prefix: "",
        fields: &mut fields,
        times: Some(&mut times),
    };
    de.deserialize_map(object).map_err(json_error)?;
    de.end().map_err(json_error)?;
    // The first of `_time`, `timestamp`, `time` gives the event time; the others stay fields, in
    // their place (inserted back to front, so earlier positions stay right).
    let mut time_us = arrival_us;
    if let Some(chosen) = (0..times.len()).min_by_key(|&i| times[i].1) {
        let (_, priority, value) = times.remove(chosen);
        time_us = parse_time(TIME_KEYS[priority], &value)?;
    }
    for (position, priority, value) in times.into_iter().rev() {
        let mut flat = Vec::new();
        flatten_value(TIME_KEYS[priority].to_owned(), value, &mut flat)?;
        fields.splice(position..position, borrowed(flat));
    }
    Ok((time_us, fields))
}

/// Flattens the members of one JSON object into `fields`, naming them `prefix_key`.
struct Object<'a, 'de> {
    prefix: &'a str,
    fields: &'a mut Fields<'de>,
    /// At the top level only: where the time keys were found, their priority and value.
    times: Option<&'a mut Vec<(usize, usize, Value)>>,
}

impl<'de> Visitor<'de> for Object<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(Text)? {
            if let Some(times) = self.times.as_deref_mut() {
                if let Some(priority) = TIME_KEYS.iter().position(|k| *k == key) {
                    times.push((self.fields.len(), priority, map.next_value()?));
                    continue;
                }
                if key == OFFSET_COLUMN || key == HOUR_COLUMN {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            }
            if key.is_empty() {
                return Err(serde::de::Error::custom("a field name is empty"));
            }
            let name = if self.prefix.is_empty() {
                key
            } else {
                Cow::Owned(format!("{}_{key}", self.prefix))
            };
            map.next_value_seed(Member {
                name,
                fields: self.fields,
            })?;
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Object<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

/// One member's value: a scalar field, a nested object (flattened), or an array (its JSON text).
struct Member<'a, 'de> {
    name: Cow<'de, str>,
    fields: &'a mut Fields<'de>,
}

impl<'de> DeserializeSeed<'de> for Member<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Member<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.fields.push((self.name, Scalar::Bool(v)));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.fields.push((self.name, Scalar::Int(v)));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        let scalar = i64::try_from(v).map_or(Scalar::Float(v as f64), Scalar::Int);
        self.fields.push((self.name, scalar));
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.fields.push((self.name, Scalar::Float(v)));
        Ok(())
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<(), E> {
        self.fields.push((self.name, Scalar::Str(Cow::Borrowed(v))));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.fields
            .push((self.name, Scalar::Str(Cow::Owned(v.to_owned()))));
        Ok(())
    }

    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.fields.push((self.name, Scalar::Str(Cow::Owned(v))));
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        Object {
            prefix: &self.name,
            fields: self.fields,
            times: None,
        }
        .visit_map(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        self.fields.push((
            self.name,
            Scalar::Str(Cow::Owned(Value::Array(items).to_string())),
        ));
        Ok(())
    }
}

/// A key or string, borrowed from the input when it has no escapes.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}
