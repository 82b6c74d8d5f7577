use std::sync::Arc;

use arrow::array::{AsArray, Int64Array};
use arrow::compute::{concat_batches, sum};
use arrow::datatypes::Int64Type;

use super::*;

fn open(dir: &Path) -> Store {
    Store::open(dir, StoreConfig::default()).unwrap()
}

fn name(s: &str) -> StreamName {
    StreamName::new(s).unwrap()
}

fn offsets(snapshot: &Snapshot) -> Vec<i64> {
    let all = concat_batches(snapshot.schema(), snapshot.batches()).unwrap();
    all.column_by_name("_offset")
        .unwrap()
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

#[test]
fn append_snapshot_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let web = name("web");
    {
        let store = open(dir.path());
        let out = store
            .append_json(
                &web,
                b"{\"a\":1}\n{\"a\":\"bad\"}\n{\"a\":2,\"b\":\"x\"}\n",
                BodyFormat::Detect,
            )
            .unwrap();
        assert_eq!(out.accepted, 2);
        assert_eq!(out.rejected.len(), 1);
        assert_eq!(out.offsets, Some((Offset(0), Offset(1))));
        let out = store
            .append_json(&web, b"[{\"a\":3.5}]", BodyFormat::Detect)
            .unwrap();
        assert_eq!(out.offsets, Some((Offset(2), Offset(2))));
        assert_eq!(offsets(&store.snapshot(&web).unwrap()), vec![0, 1, 2]);
    }
    let store = open(dir.path());
    let snapshot = store.snapshot(&web).unwrap();
    assert_eq!(offsets(&snapshot), vec![0, 1, 2]);
    let names: Vec<_> = snapshot
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["_time", "_offset", "a", "b"]);
    assert_eq!(
        snapshot.schema().field(2).data_type(),
        &arrow::datatypes::DataType::Float64
    );
    let out = store
        .append_json(&web, b"{\"a\":4}", BodyFormat::Detect)
        .unwrap();
    assert_eq!(out.offsets, Some((Offset(3), Offset(3))));
}

#[test]
fn second_open_of_a_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _store = open(dir.path());
    assert!(matches!(
        Store::open(dir.path(), StoreConfig::default()),
        Err(Error::Locked { .. })
    ));
}

#[test]
fn nothing_is_created_for_a_body_of_bad_lines() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let out = store
        .append_json(&name("x"), b"nope\n", BodyFormat::Detect)
        .unwrap();
    assert_eq!((out.accepted, out.rejected.len()), (0, 1));
    assert!(store.stream_names().is_empty());
    assert!(matches!(
        store.snapshot(&name("x")),
        Err(Error::StreamNotFound { .. })
    ));
}

/// Writers append concurrently while readers snapshot: every snapshot holds a gap-free prefix of
/// offsets, never less than what was acknowledged before it was taken.
#[test]
fn concurrent_appends_and_snapshots_are_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open(dir.path()));
    let web = name("web");
    let acked = Arc::new(std::sync::atomic::AtomicU64::new(0));
    std::thread::scope(|scope| {
        for writer in 0..4 {
            let (store, web, acked) = (Arc::clone(&store), web.clone(), Arc::clone(&acked));
            scope.spawn(move || {
                for i in 0..50 {
                    let body: String = (0..7)
                        .map(|j| format!("{{\"w\":{writer},\"i\":{i},\"j\":{j}}}\n"))
                        .collect();
                    let out = store
                        .append_json(&web, body.as_bytes(), BodyFormat::Ndjson)
                        .unwrap();
                    assert_eq!(out.accepted, 7);
                    acked.fetch_add(7, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
        for _ in 0..2 {
            let (store, web, acked) = (Arc::clone(&store), web.clone(), Arc::clone(&acked));
            scope.spawn(move || {
                for _ in 0..200 {
                    let before = acked.load(std::sync::atomic::Ordering::SeqCst);
                    let Ok(snapshot) = store.snapshot(&web) else {
                        continue;
                    };
                    let got = offsets(&snapshot);
                    assert!(got.len() as u64 >= before);
                    assert_eq!(got.len() as u64, snapshot.end().0);
                    let n = got.len() as i64;
                    let expected_sum = n * (n - 1) / 2;
                    let sum = sum(&Int64Array::from(got)).unwrap_or(0);
                    assert_eq!(sum, expected_sum, "offsets must be 0..n exactly once");
                }
            });
        }
    });
    assert_eq!(store.snapshot(&web).unwrap().end(), Offset(4 * 50 * 7));
}
