//! A live tail over `/api/v1/live`: a stream's new events that pass a filter arrive newest
//! first; when more arrive than a frame holds, the frames count every one they leave out.

use serde_json::{Value, json};

use crate::live::{connect, next_frame, send};
use crate::{ingest, start};

/// Frames of tail `id` (others skipped) until `enough` says the events so far suffice: the rows
/// in the order they arrived, and the events the frames said they skipped.
async fn gather(
    socket: &mut crate::live::Socket,
    id: &str,
    enough: impl Fn(usize, u64) -> bool,
) -> (Vec<Value>, u64) {
    let (mut rows, mut skipped) = (Vec::new(), 0);
    while !enough(rows.len(), skipped) {
        let frame = next_frame(socket).await;
        if frame["id"] != id {
            continue;
        }
        assert_eq!(frame["type"], "events", "{frame}");
        let got = frame["rows"].as_array().unwrap();
        assert!(got.len() <= 50, "a frame holds at most 50 events");
        let status = frame["columns"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c["name"] == "status");
        rows.extend(got.iter().map(|row| row[status.unwrap()].clone()));
        skipped += frame["skipped"].as_u64().unwrap();
    }
    (rows, skipped)
}

#[tokio::test]
async fn new_events_that_pass_the_filter_arrive_newest_first_and_none_silently_dropped() {
    let weir = start("live_tail", &[]).await;
    // A stream named with an SQL keyword, with events before the tail starts.
    ingest(&weir, "order", "{\"status\":500,\"i\":-1}\n").await;
    let mut socket = connect(&weir).await;
    send(
        &mut socket,
        json!({"type": "tail", "id": "t1", "stream": "order", "filter": "status >= 500"}),
    )
    .await;
    let first = next_frame(&mut socket).await;
    assert_eq!(
        (&first["type"], &first["seq"], &first["rows"]),
        (&json!("events"), &json!(1), &json!([])),
        "{first}"
    );
    // Only the new events that pass, newest first.
    ingest(
        &weir,
        "order",
        "{\"status\":200,\"i\":0}\n{\"status\":500,\"i\":1}\n{\"status\":503,\"i\":2}\n",
    )
    .await;
    let (rows, skipped) = gather(&mut socket, "t1", |n, _| n >= 2).await;
    assert_eq!((rows, skipped), (vec![json!(503), json!(500)], 0));
    // 120 at once: at most 50 a frame, and the rest counted as skipped.
    let burst: String = (0..120)
        .map(|i| format!("{{\"status\":500,\"i\":{i}}}\n"))
        .collect();
    ingest(&weir, "order", &burst).await;
    let (rows, skipped) = gather(&mut socket, "t1", |n, s| n as u64 + s >= 120).await;
    assert!(skipped >= 70, "{} shown, {skipped} skipped", rows.len());
    assert_eq!(rows.len() as u64 + skipped, 120);
    // A filter that is not one expression, and a stream that is not there, are refused.
    for (id, stream, filter) in [("t2", "order", "1) OR (1"), ("t3", "nowhere", "status = 1")] {
        send(
            &mut socket,
            json!({"type": "tail", "id": id, "stream": stream, "filter": filter}),
        )
        .await;
        let error = loop {
            let frame = next_frame(&mut socket).await;
            if frame["id"] == id {
                break frame;
            }
        };
        assert_eq!(
            (&error["type"], &error["kind"]),
            (&json!("error"), &json!("bad_request")),
            "{error}"
        );
    }
}
