//! The live protocol's frames on the wire, and the rules of applying them.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::{Column, ErrorKind, Row};

fn shape(n_keys: usize, n_columns: usize, order: Vec<Order>) -> Shape {
    Shape {
        columns: (0..n_columns)
            .map(|i| Column {
                name: format!("c{i}"),
                data_type: "Int64".into(),
            })
            .collect(),
        key: Some((0..n_keys).collect()),
        order,
    }
}

fn snapshot(id: &str, seq: u64, shape: &Shape, rows: Vec<Row>) -> Snapshot {
    Snapshot {
        id: id.into(),
        seq,
        shape: shape.clone(),
        rows,
        watermark: 5,
        now: 6,
        newest: 5,
        mode: Mode::Incremental,
        overflow: false,
    }
}

#[test]
fn client_messages_read_and_say_what_is_wrong() {
    let subscribe = ClientMessage::parse(r#"{"type":"subscribe","id":"p1","sql":"SELECT 1"}"#);
    assert_eq!(
        subscribe,
        Ok(ClientMessage::Subscribe {
            id: "p1".into(),
            sql: "SELECT 1".into()
        })
    );
    let message = ClientMessage::Unsubscribe { id: "p1".into() };
    assert_eq!(ClientMessage::parse(&message.to_text()), Ok(message));
    let bad = ClientMessage::parse(r#"{"type":"watch","id":"x"}"#).unwrap_err();
    assert_eq!(bad.id.as_deref(), Some("x"));
    assert!(bad.message.starts_with("bad message: "), "{}", bad.message);
    let long = format!(
        r#"{{"type":"subscribe","id":"{}","sql":"SELECT 1"}}"#,
        "x".repeat(MAX_ID_LEN + 1)
    );
    let bad = ClientMessage::parse(&long).unwrap_err();
    assert_eq!(bad.id, None);
    assert!(
        bad.message.contains("1 to 128 characters"),
        "{}",
        bad.message
    );
    assert!(ClientMessage::parse("not json").unwrap_err().id.is_none());
}

#[test]
fn server_frames_keep_the_documented_wire_form() {
    // The examples of docs/live-protocol.md.
    let text = r#"{"type": "snapshot", "id": "p1", "seq": 1, "columns": [{"name": "service", "type": "Utf8"}, {"name": "n", "type": "Int64"}],
 "key": [0], "order": [[1, "desc"]], "rows": [["api", 1204], ["web", 981]],
 "watermark": 1764035112345678, "now": 1764035142399021, "newest": 1764035142391024, "mode": "incremental", "overflow": false}"#;
    let ServerMessage::Snapshot(snapshot) = ServerMessage::parse(text).unwrap() else {
        panic!("a snapshot");
    };
    assert_eq!(snapshot.shape.key, Some(vec![0]));
    assert_eq!(
        snapshot.shape.order,
        vec![Order {
            column: 1,
            direction: Direction::Desc
        }]
    );
    let again = ServerMessage::Snapshot(snapshot.clone());
    assert_eq!(
        serde_json::from_str::<Value>(&again.to_text()).unwrap(),
        serde_json::from_str::<Value>(text).unwrap()
    );

    let requery = ServerMessage::Snapshot(Snapshot {
        mode: Mode::Requery {
            reason: "LIMIT is not kept live".into(),
            interval_ms: 1000,
        },
        ..snapshot
    });
    let value: Value = serde_json::from_str(&requery.to_text()).unwrap();
    assert_eq!(value["mode"], "requery");
    assert_eq!(value["reason"], "LIMIT is not kept live");
    assert_eq!(value["interval_ms"], 1000);
    assert_eq!(ServerMessage::parse(&requery.to_text()).unwrap(), requery);

    let error = ServerMessage::Error(ErrorFrame {
        id: Some("p1".into()),
        kind: ErrorKind::BadRequest,
        message: "SQL error: Expected: an expression, found: EOF".into(),
    });
    let value: Value = serde_json::from_str(&error.to_text()).unwrap();
    assert_eq!(value["type"], "error");
    assert_eq!(value["kind"], "bad_request");
    assert_eq!(ServerMessage::parse(&error.to_text()).unwrap(), error);

    assert_eq!(
        ServerMessage::parse(r#"{"type":"heartbeat","id":"x"}"#).unwrap(),
        ServerMessage::Other
    );
}

#[test]
fn a_shared_delta_frame_is_the_typed_delta() {
    let change = Change::new(vec![vec![json!("api"), json!(1206)]], vec![], 7, 8).with_newest(6);
    for (id, seq) in [("p1", 2), ("a \"quoted\" id", 99)] {
        let text = change.frame(id, seq);
        let expected = ServerMessage::Delta(Delta {
            id: id.into(),
            seq,
            change: change.clone(),
        });
        assert_eq!(ServerMessage::parse(&text).unwrap(), expected);
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            serde_json::from_str::<Value>(&expected.to_text()).unwrap()
        );
    }
}

#[test]
fn rows_keep_order_by_then_key_order() {
    let shape = shape(
        1,
        2,
        vec![Order {
            column: 1,
            direction: Direction::Desc,
        }],
    );
    let mut result = LiveResult::new(snapshot(
        "p",
        1,
        &shape,
        vec![vec![json!("b"), json!(1)], vec![json!("a"), json!(1)]],
    ));
    assert_eq!(result.rows()[0][0], "a", "ties go by key");
    let delta = |seq, change| Delta {
        id: "p".into(),
        seq,
        change,
    };
    let change = Change::new(
        vec![vec![json!("c"), json!(5)], vec![json!("a"), json!(null)]],
        vec![vec![json!("b")]],
        9,
        10,
    );
    result.apply(&delta(2, change)).unwrap();
    // Nulls sort as the largest value: first in descending order, as DataFusion's default.
    assert_eq!(
        result.rows(),
        &[vec![json!("a"), json!(null)], vec![json!("c"), json!(5)]]
    );
    assert_eq!((result.watermark, result.now), (9, 10));
    let gap = result.apply(&delta(4, Change::default()));
    assert_eq!(
        gap,
        Err(Violation::Gap {
            expected: 3,
            got: 4
        })
    );
}

/// One step of a query's result: the keys it upserts (with a value) or deletes.
type Step = BTreeMap<(usize, usize), Option<i64>>;

fn step() -> impl Strategy<Value = Step> {
    prop::collection::btree_map((0usize..4, 0usize..3), prop::option::of(-3i64..3), 0..6)
}

fn key_value(i: usize) -> Value {
    [json!(1), json!("a"), json!(null), json!(2.5)][i].clone()
}

proptest! {
    /// Replaying a subscription's frames (each sent at once, or merged while the client was
    /// busy) from its snapshot gives the rows of a snapshot taken afterwards, in the same order.
    #[test]
    fn replaying_frames_from_a_snapshot_equals_the_next_snapshot(
        n_keys in 0usize..3,
        order in prop::collection::vec((0usize..3, any::<bool>()), 0..3),
        initial in step(),
        steps in prop::collection::vec((step(), any::<bool>()), 0..12),
    ) {
        let order = order
            .into_iter()
            .map(|(column, desc)| Order {
                column,
                direction: if desc { Direction::Desc } else { Direction::Asc },
            })
            .collect();
        let shape = shape(n_keys, 3, order);
        // The server's result: rows by key text. A row is [k0, k1, value]; its key the first
        // `n_keys` columns.
        let row = |(a, b): (usize, usize), v: i64| vec![key_value(a), key_value(b), json!(v)];
        let mut server: BTreeMap<String, Row> = BTreeMap::new();
        let apply = |server: &mut BTreeMap<String, Row>, step: &Step| {
            let mut upserts = Vec::new();
            let mut deletes = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            for (&key, &value) in step {
                let full = row(key, value.unwrap_or(0));
                let key = shape.key_of(&full);
                let text = Shape::key_text(&key);
                // A key appears at most once per change.
                if !seen.insert(text.clone()) {
                    continue;
                }
                match value {
                    Some(_) => {
                        server.insert(text, full.clone());
                        upserts.push(full);
                    }
                    None => {
                        server.remove(&text);
                        deletes.push(key);
                    }
                }
            }
            Change::new(upserts, deletes, 1, 2)
        };
        apply(&mut server, &initial);
        let first = snapshot("p", 1, &shape, server.values().cloned().collect());
        let ServerMessage::Snapshot(first) =
            ServerMessage::parse(&ServerMessage::Snapshot(first).to_text()).unwrap()
        else {
            panic!("a snapshot");
        };
        let mut client = LiveResult::new(first);
        let mut seq = 1;
        let mut pending = PendingChange::default();
        let mut send = |client: &mut LiveResult, change: Change| {
            seq += 1;
            let ServerMessage::Delta(delta) = ServerMessage::parse(&change.frame("p", seq)).unwrap()
            else {
                panic!("a delta");
            };
            client.apply(&delta).unwrap();
        };
        for (step, busy) in &steps {
            let change = apply(&mut server, step);
            if *busy || !pending.is_empty() {
                pending.add(&shape, &change);
            } else {
                send(&mut client, change);
            }
            if !*busy && !pending.is_empty() {
                send(&mut client, pending.take());
            }
        }
        if !pending.is_empty() {
            send(&mut client, pending.take());
        }
        let next = LiveResult::new(snapshot("p", 1, &shape, server.values().cloned().collect()));
        prop_assert_eq!(client.rows(), next.rows());
    }
}
