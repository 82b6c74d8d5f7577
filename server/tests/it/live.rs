//! `/api/v1/live`: a real WebSocket client subscribes, gets snapshots as events arrive, and gets
//! clear errors for bad messages and bad SQL.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::{ingest, start};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_frame(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("socket open")
            .expect("frame");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("frames are JSON");
        }
    }
}

async fn send(socket: &mut Socket, frame: Value) {
    socket
        .send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

#[tokio::test]
async fn subscribe_snapshot_updates_and_errors() {
    let weir = start("live_protocol", &[]).await;
    ingest(&weir, "web", "{\"status\":200}\n{\"status\":500}\n").await;
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/v1/live", weir.addr()))
            .await
            .expect("websocket");
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "p1", "sql": "SELECT count(*) AS n FROM web"}),
    )
    .await;
    let first = next_frame(&mut socket).await;
    assert_eq!(first["type"], "snapshot", "{first}");
    assert_eq!(first["id"], "p1");
    assert_eq!(first["seq"], 1);
    assert_eq!(first["columns"][0]["name"], "n");
    assert_eq!(first["rows"], json!([[2]]));
    assert!(first["watermark"].as_i64().unwrap() > 0);

    ingest(&weir, "web", "{\"status\":200}\n").await;
    let second = next_frame(&mut socket).await;
    assert_eq!(
        (second["seq"].clone(), second["rows"].clone()),
        (json!(2), json!([[3]])),
        "{second}"
    );

    send(
        &mut socket,
        json!({"type": "subscribe", "id": "bad", "sql": "SELEC count(*) FROM web"}),
    )
    .await;
    let error = next_frame(&mut socket).await;
    assert_eq!(
        (error["type"].clone(), error["id"].clone()),
        (json!("error"), json!("bad")),
        "{error}"
    );
    assert!(
        error["message"].as_str().unwrap().contains("SQL error"),
        "{error}"
    );

    socket.send(Message::Text("not json".into())).await.unwrap();
    let error = next_frame(&mut socket).await;
    assert_eq!(error["type"], "error");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("bad message"),
        "{error}"
    );

    // After unsubscribing p1 and subscribing p2, updates come for p2 only.
    send(&mut socket, json!({"type": "unsubscribe", "id": "p1"})).await;
    send(&mut socket, json!({"type": "subscribe", "id": "p2", "sql": "SELECT count(*) AS n FROM web WHERE status >= 500"})).await;
    let frame = next_frame(&mut socket).await;
    assert_eq!(
        (frame["id"].clone(), frame["rows"].clone()),
        (json!("p2"), json!([[1]])),
        "{frame}"
    );
    ingest(&weir, "web", "{\"status\":503}\n").await;
    let frame = next_frame(&mut socket).await;
    assert_eq!(
        (frame["id"].clone(), frame["rows"].clone()),
        (json!("p2"), json!([[2]])),
        "{frame}"
    );
}

#[tokio::test]
async fn sockets_close_when_the_server_stops() {
    let mut weir = start("live_shutdown", &[]).await;
    ingest(&weir, "web", "{\"a\":1}\n").await;
    let (mut socket, _) =
        tokio_tungstenite::connect_async(format!("ws://{}/api/v1/live", weir.addr()))
            .await
            .unwrap();
    send(
        &mut socket,
        json!({"type": "subscribe", "id": "p", "sql": "SELECT count(*) FROM web"}),
    )
    .await;
    next_frame(&mut socket).await;
    let status = weir.terminate().await.unwrap();
    assert!(status.success());
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok(message)) = socket.next().await {
            if let Message::Close(frame) = message {
                return frame.map(|f| u16::from(f.code));
            }
        }
        None
    })
    .await
    .expect("the socket ends within 10 s");
    assert_eq!(closed, Some(1001), "closed with 'going away'");
}
