//! Data survives restarts: after a crash (SIGKILL) and after a graceful stop (SIGTERM).

use crate::{ingest, scalar, start};

#[tokio::test]
async fn acknowledged_events_survive_kill_9_and_sigterm() {
    let mut weir = start("restart_keeps_data", &[]).await;
    let body: String = (0..500).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    for _ in 0..4 {
        let (status, reply) = ingest(&weir, "durable", &body).await;
        assert_eq!(status, 200, "{reply}");
    }
    weir.kill_9().await.unwrap();
    weir.restart().await.unwrap();
    assert_eq!(scalar(&weir, "SELECT count(*) FROM durable").await, 2000);
    assert_eq!(
        scalar(&weir, "SELECT max(_offset) FROM durable").await,
        1999
    );
    let (_, reply) = ingest(&weir, "durable", "{\"i\":-1}\n").await;
    assert_eq!(
        reply["offsets"]["first"], 2000,
        "offsets continue after recovery"
    );

    let status = weir.terminate().await.unwrap();
    assert!(
        status.success(),
        "SIGTERM is a clean exit: {status}\n{}",
        weir.log_tail()
    );
    assert!(weir.log_tail().contains("stopped"), "{}", weir.log_tail());
    weir.restart().await.unwrap();
    assert_eq!(scalar(&weir, "SELECT count(*) FROM durable").await, 2001);
}

#[tokio::test]
async fn a_second_server_on_the_same_data_dir_is_refused() {
    let weir = start("data_dir_locked", &[]).await;
    let second = e2e::WeirProcess::start(
        std::path::Path::new(env!("CARGO_BIN_EXE_weir")),
        weir.data_dir(),
        &[],
    )
    .await;
    let Err(err) = second else {
        panic!("two servers on one data directory")
    };
    assert!(
        format!("{err:#}").contains("exited before listening"),
        "{err:#}"
    );
}
