//! Work that may take every core runs below ingest's CPU priority, so that appends are
//! acknowledged at full speed whatever else runs: the live engine at nice 5, the store's tiering
//! and compaction at 9 (above history queries at 10, whose load must not starve tiering until
//! appends are refused), the threads serving HTTP and ingest at 0. And the process's memory is
//! not backed by transparent huge pages, which made the kernel zero 2 MiB for each fresh page of
//! tiering's short-lived buffers.

use crate::{ingest, start, tiered};

/// One thread of a process: its name (`comm`, at most 15 bytes), niceness and CPU ticks.
#[derive(Debug)]
struct Thread {
    name: String,
    nice: i64,
    cpu_ticks: u64,
}

/// The threads of process `pid`, from `/proc/PID/task`. A thread that ends meanwhile is left out.
fn threads(pid: u32) -> Vec<Thread> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc/PID/task");
    let mut threads = Vec::new();
    for task in tasks {
        let Ok(stat) = std::fs::read_to_string(task.unwrap().path().join("stat")) else {
            continue;
        };
        // `TID (NAME) STATE ...`: fields after the name's closing parenthesis start at the 3rd;
        // utime and stime are the 14th and 15th, nice the 19th.
        let name = &stat[stat.find('(').unwrap() + 1..stat.rfind(')').unwrap()];
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
        let field = |n: usize| fields[n - 3];
        threads.push(Thread {
            name: name.to_string(),
            nice: field(19).parse().unwrap(),
            cpu_ticks: field(14).parse::<u64>().unwrap() + field(15).parse::<u64>().unwrap(),
        });
    }
    threads
}

#[tokio::test]
async fn tiering_the_engine_and_queries_run_below_ingest() {
    let weir = start("priorities", &["--tier-max-age-secs", "0.1"]).await;
    let body: String = (0..50_000)
        .map(|i| {
            format!(
                "{{\"service\":\"s{}\",\"latency_ms\":{}.5}}\n",
                i % 7,
                i % 1000
            )
        })
        .collect();
    let (status, reply) = ingest(&weir, "web", &body).await;
    assert_eq!(status, 200, "{reply}");
    tiered(&weir, "web").await;

    let threads = threads(weir.pid().expect("weir runs"));
    let maintain = at_niceness(&threads, "weir-maintain", 9);
    // Encoding 50,000 events as Parquet and committing them took its CPU there.
    assert!(
        maintain.iter().map(|t| t.cpu_ticks).sum::<u64>() > 0,
        "tiering ran elsewhere: {threads:?}"
    );
    at_niceness(&threads, "weir-engine", 5);
    at_niceness(&threads, "weir-query", 10);
    // Tokio's default thread name: the runtime serving HTTP, ingest and sockets.
    at_niceness(&threads, "tokio-rt-worker", 0);
}

/// The threads named `name`, after asserting that there are some and all run at `nice`.
fn at_niceness<'a>(threads: &'a [Thread], name: &str, nice: i64) -> Vec<&'a Thread> {
    let named: Vec<&Thread> = threads.iter().filter(|t| t.name == name).collect();
    assert!(!named.is_empty(), "no thread named {name}: {threads:?}");
    assert!(
        named.iter().all(|t| t.nice == nice),
        "{name} not at nice {nice}: {named:?}"
    );
    named
}

#[tokio::test]
async fn the_server_keeps_transparent_huge_pages_off() {
    let weir = start("no-huge-pages", &[]).await;
    let pid = weir.pid().expect("weir runs");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    // `THP_enabled: 0` once `prctl(PR_SET_THP_DISABLE)` is set (Linux 5.0 and later).
    let line = status
        .lines()
        .find(|line| line.starts_with("THP_enabled:"))
        .unwrap_or_else(|| panic!("no THP_enabled in {status}"));
    assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
}
