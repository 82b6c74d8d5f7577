//! Elasticsearch's bulk API, as log shippers send it: NDJSON pairs of an action line
//! (`{"index": {"_index": "app-logs"}}` or `create`) and a document, each document an event of the
//! stream its index names. Documents are read as JSON events are (`ndjson.rs`), with
//! `@timestamp` as their time when none of `_time`, `timestamp`, `time` is there.
//!
//! An index name becomes a stream name by lowercasing it and replacing every character other
//! than `a-z`, `0-9`, `_` by `_` (`logs-app.2026` → `logs_app_2026`), cut to 64 characters.
//! `delete` and `update` are refused per item (streams are append-only); a malformed action line
//! fails the whole request, as in Elasticsearch, since the lines after it cannot be paired.

use serde::Serialize;
use serde_json::{Map, Value};
use storage::StreamName;

use super::events::{Event, Scalar};
use super::ndjson;

/// Why a bulk body could not be read at all.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("line {line}: {reason}")]
    Action { line: usize, reason: String },
}

/// One item of the request: what it asked, and, once known, what became of it.
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) action: &'static str,
    /// The index as the request named it.
    pub(crate) index: String,
    pub(crate) id: Option<String>,
    pub(crate) result: ItemResult,
}

#[derive(Debug)]
pub(crate) enum ItemResult {
    /// Waiting for its stream's append: the stream's position in `Bulk::streams`.
    Pending(usize),
    Created {
        id: String,
    },
    Failed(ItemError),
}

/// An item's error, in Elasticsearch's shape.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ItemError {
    #[serde(skip)]
    pub(crate) status: u16,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) reason: String,
}

impl ItemError {
    pub(crate) fn new(status: u16, kind: &'static str, reason: impl Into<String>) -> ItemError {
        ItemError {
            status,
            kind,
            reason: reason.into(),
        }
    }
}

/// A decoded bulk request: its items in order, and the events of each stream it writes to
/// (an event's `line` is its item's 1-based position).
#[derive(Debug, Default)]
pub(crate) struct Bulk {
    pub(crate) items: Vec<Item>,
    pub(crate) streams: Vec<(StreamName, Vec<Event>)>,
}

/// The stream an index name goes to.
pub(crate) fn stream_of(index: &str) -> Option<StreamName> {
    let name: String = index
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    StreamName::new(&name).ok()
}

/// Decodes a bulk body; `default_index` is the `{index}` of `/{index}/_bulk`.
pub(crate) fn decode(
    body: &[u8],
    default_index: Option<&str>,
    arrival_us: i64,
) -> Result<Bulk, DecodeError> {
    let mut bulk = Bulk::default();
    let mut lines = body
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace));
    // Shippers repeat one action line (`{"index":{"_index":"logs"}}`) before every document:
    // the last one read, and the last index's stream, are kept rather than parsed again.
    let mut previous: Option<(&[u8], &'static str, String, Option<String>)> = None;
    let mut previous_stream: Option<(String, Option<StreamName>)> = None;
    while let Some((n, line)) = lines.next() {
        let (action, index, id) = match &previous {
            Some((bytes, action, index, id)) if *bytes == line => {
                (*action, index.clone(), id.clone())
            }
            _ => {
                let (action, meta) = action(line).map_err(|reason| DecodeError::Action {
                    line: n + 1,
                    reason,
                })?;
                let index = meta
                    .get("_index")
                    .and_then(Value::as_str)
                    .or(default_index)
                    .unwrap_or_default()
                    .to_owned();
                let id = meta.get("_id").map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                });
                previous = Some((line, action, index.clone(), id.clone()));
                (action, index, id)
            }
        };
        let position = bulk.items.len() + 1;
        let source = match action {
            "index" | "create" | "update" => lines.next().map(|(_, l)| l),
            _ => None,
        };
        let result = match (action, source) {
            ("index" | "create", Some(source)) => match document(source, arrival_us) {
                Err(reason) => {
                    ItemResult::Failed(ItemError::new(400, "document_parsing_exception", reason))
                }
                Ok((time_us, fields)) => match stream_cached(&mut previous_stream, &index) {
                    None => ItemResult::Failed(ItemError::new(
                        400,
                        "invalid_index_name_exception",
                        format!("index `{index}` names no stream (missing, or no letter or digit)"),
                    )),
                    Some(stream) => {
                        let at = match bulk.streams.iter().position(|(s, _)| *s == stream) {
                            Some(at) => at,
                            None => {
                                bulk.streams.push((stream, Vec::new()));
                                bulk.streams.len() - 1
                            }
                        };
                        bulk.streams[at].1.push(Event {
                            line: position,
                            time_us,
                            fields,
                        });
                        ItemResult::Pending(at)
                    }
                },
            },
            ("index" | "create", None) => {
                return Err(DecodeError::Action {
                    line: n + 1,
                    reason: format!("`{action}` is not followed by a document"),
                });
            }
            _ => ItemResult::Failed(ItemError::new(
                400,
                "illegal_argument_exception",
                format!("`{action}` is not supported: Weir's streams are append-only"),
            )),
        };
        bulk.items.push(Item {
            action,
            index,
            id,
            result,
        });
    }
    Ok(bulk)
}

/// The stream of `index`, from `cache` when it holds the same index.
fn stream_cached(
    cache: &mut Option<(String, Option<StreamName>)>,
    index: &str,
) -> Option<StreamName> {
    match cache {
        Some((name, stream)) if name == index => stream.clone(),
        _ => {
            let stream = stream_of(index);
            *cache = Some((index.to_owned(), stream.clone()));
            stream
        }
    }
}

/// An action line: its one key (the action) and its metadata object.
fn action(line: &[u8]) -> Result<(&'static str, Map<String, Value>), String> {
    let value: Value =
        serde_json::from_slice(line).map_err(|e| format!("malformed action line: {e}"))?;
    let Value::Object(object) = value else {
        return Err("an action line must be a JSON object".to_owned());
    };
    let mut entries = object.into_iter();
    match (entries.next(), entries.next()) {
        (Some((action, Value::Object(meta))), None) => match action.as_str() {
            "index" => Ok(("index", meta)),
            "create" => Ok(("create", meta)),
            "update" => Ok(("update", meta)),
            "delete" => Ok(("delete", meta)),
            _ => Err(format!("unknown action `{action}`")),
        },
        _ => Err("an action line must have exactly one action, with an object".to_owned()),
    }
}

/// A document as an event's time and fields: `@timestamp` is its time when it has no other.
fn document(line: &[u8], arrival_us: i64) -> Result<(i64, Vec<(String, Scalar)>), String> {
    let (time, fields) = ndjson::parse_object(line)?;
    let mut fields = ndjson::owned(fields);
    if let Some(time) = time {
        return Ok((time, fields));
    }
    let Some(at) = fields.iter().position(|(name, _)| name == "@timestamp") else {
        return Ok((arrival_us, fields));
    };
    let value = match &fields[at].1 {
        Scalar::Str(s) => Value::String(s.clone()),
        Scalar::Int(i) => Value::from(*i),
        Scalar::Float(f) => Value::from(*f),
        Scalar::Bool(_) => return Err("field `@timestamp` must be a time".to_owned()),
    };
    let time = ndjson::time_value("@timestamp", &value)?;
    fields.remove(at);
    Ok((time, fields))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const ARRIVAL: i64 = 1_700_000_000_000_000;

    #[test]
    fn pairs_become_events_of_their_index_and_other_actions_are_refused_per_item() {
        let body = br#"{"index":{"_index":"App-Logs.2026","_id":"a1"}}
{"@timestamp":"2026-12-01T10:00:00Z","message":"hi","http":{"status":200}}
{"create":{}}
{"message":"to the path's index","time":1700000000}
{"delete":{"_index":"app","_id":"1"}}
{"update":{"_index":"app","_id":"1"}}
{"doc":{"a":1}}
{"index":{"_index":"app"}}
not json
"#;
        let bulk = decode(body, Some("default"), ARRIVAL).unwrap();
        assert_eq!(bulk.items.len(), 5);
        let names: Vec<&str> = bulk.streams.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(names, ["app_logs_2026", "default"]);
        let first = &bulk.streams[0].1[0];
        assert_eq!((first.line, first.time_us), (1, 1_796_119_200_000_000));
        assert_eq!(
            first.fields,
            vec![
                ("message".to_owned(), Scalar::Str("hi".to_owned())),
                ("http_status".to_owned(), Scalar::Int(200)),
            ]
        );
        assert_eq!(bulk.items[0].id.as_deref(), Some("a1"));
        assert_eq!(bulk.streams[1].1[0].time_us, 1_700_000_000_000_000);
        for (i, kind) in [
            (2, "illegal_argument_exception"),
            (3, "illegal_argument_exception"),
            (4, "document_parsing_exception"),
        ] {
            match &bulk.items[i].result {
                ItemResult::Failed(e) => assert_eq!((e.status, e.kind), (400, kind)),
                other => panic!("item {i}: {other:?}"),
            }
        }
    }

    #[test]
    fn repeated_action_lines_each_pair_with_their_own_document() {
        let body = br#"{"index":{"_index":"a"}}
{"n":1}
{"index":{"_index":"a"}}
{"n":2}
{"create":{"_index":"b","_id":"x"}}
{"n":3}
{"index":{"_index":"a"}}
{"n":4}
{"index":{"_index":"a"}}
not json
"#;
        let bulk = decode(body, None, ARRIVAL).unwrap();
        let items: Vec<(&str, &str, Option<&str>)> = bulk
            .items
            .iter()
            .map(|i| (i.action, i.index.as_str(), i.id.as_deref()))
            .collect();
        assert_eq!(
            items,
            [
                ("index", "a", None),
                ("index", "a", None),
                ("create", "b", Some("x")),
                ("index", "a", None),
                ("index", "a", None),
            ]
        );
        assert!(matches!(bulk.items[4].result, ItemResult::Failed(_)));
        let counts: Vec<(&str, Vec<usize>)> = bulk
            .streams
            .iter()
            .map(|(s, events)| (s.as_str(), events.iter().map(|e| e.line).collect()))
            .collect();
        assert_eq!(counts, [("a", vec![1, 2, 4]), ("b", vec![3])]);
    }

    #[test]
    fn a_malformed_action_fails_the_request_with_its_line() {
        let err = decode(
            b"{\"index\":{}}\n{}\n{\"frobnicate\":{}}\n{}\n",
            None,
            ARRIVAL,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "line 3: unknown action `frobnicate`");
        let err = decode(b"{\"index\":{}}\n", None, ARRIVAL).unwrap_err();
        assert!(
            err.to_string().contains("not followed by a document"),
            "{err}"
        );
    }

    #[test]
    fn index_names_become_stream_names() {
        assert_eq!(
            stream_of("filebeat-8.11.0").unwrap().as_str(),
            "filebeat_8_11_0"
        );
        assert_eq!(stream_of("Logs").unwrap().as_str(), "logs");
        assert!(stream_of("").is_none());
        assert_eq!(stream_of(&"x".repeat(100)).unwrap().as_str().len(), 64);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any bytes: items or an error, never a panic; every item is accounted for.
        #[test]
        fn arbitrary_bodies_never_panic(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("{\"index\":{\"_index\":\"a\"}}".to_owned()),
                    Just("{\"create\":{}}".to_owned()),
                    Just("{\"delete\":{}}".to_owned()),
                    Just("{\"x\":1}".to_owned()),
                    ".{0,20}",
                ],
                0..12,
            )
        ) {
            if let Ok(bulk) = decode(lines.join("\n").as_bytes(), Some("d"), ARRIVAL) {
                let events: usize = bulk.streams.iter().map(|(_, e)| e.len()).sum();
                let pending = bulk
                    .items
                    .iter()
                    .filter(|i| matches!(i.result, ItemResult::Pending(_)))
                    .count();
                prop_assert_eq!(events, pending);
            }
        }
    }
}
