//! A full disk: the client gets 503 with nothing of that request acknowledged, and everything
//! acknowledged before is intact, also after a restart. The data directory is a 4 MiB tmpfs (the
//! test mounts it, so it runs as root, as CI does).

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::{WeirProcess, test_dir};

use crate::{ingest, scalar};

/// A tmpfs mounted for the test's lifetime.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .expect("running mount");
        assert!(
            status.success(),
            "mounting a tmpfs needs root (CI runs as root)"
        );
        Tmpfs(dir.to_owned())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_full_disk_is_a_503_and_loses_nothing_acknowledged() {
    let dir = test_dir(Path::new(env!("CARGO_TARGET_TMPDIR")), "disk_full");
    let tmpfs = Tmpfs::mount(&dir.join("data"), "4m");
    let mut weir = WeirProcess::start(Path::new(env!("CARGO_BIN_EXE_weir")), &tmpfs.0, &[])
        .await
        .unwrap();
    let body: String = (0..200)
        .map(|i| format!("{{\"i\":{i},\"pad\":\"{}\"}}\n", "x".repeat(150)))
        .collect();
    let mut acked = 0u64;
    let mut refusal = None;
    for _ in 0..1_000 {
        let (status, reply) = ingest(&weir, "full", &body).await;
        match status {
            200 => acked += reply["accepted"].as_u64().unwrap(),
            503 => {
                refusal = Some(reply);
                break;
            }
            other => panic!("unexpected {other}: {reply}\n{}", weir.log_tail()),
        }
    }
    let refusal = refusal.expect("the disk filled up");
    assert!(acked > 0);
    let message = refusal["error"].as_str().unwrap();
    assert!(message.contains("No space left on device"), "{message}");
    assert_eq!(
        scalar(&weir, "SELECT count(*) FROM full").await,
        acked,
        "nothing of the refused request is stored"
    );
    weir.kill_9().await.unwrap();
    weir.restart().await.unwrap();
    assert_eq!(
        scalar(&weir, "SELECT count(*) FROM full").await,
        acked,
        "the log is intact after a restart"
    );
    weir.kill_9().await.unwrap();
}
