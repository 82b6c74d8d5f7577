//! The write-ahead log: records written and read back, torn and damaged tails, cuts and bit flips.

use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use proptest::prelude::*;

use super::*;

fn batch(first: i64, n: usize) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("_offset", DataType::Int64, false),
        Field::new("s", DataType::Utf8, true),
    ]));
    let offsets = Int64Array::from_iter_values(first..first + n as i64);
    let strings = StringArray::from_iter_values((0..n).map(|i| format!("v{}", first + i as i64)));
    RecordBatch::try_new(schema, vec![Arc::new(offsets), Arc::new(strings)]).unwrap()
}

/// Writes batches of the given sizes and fsyncs; returns them and the segment length after each.
fn write_log(dir: &Path, sizes: &[usize]) -> (Vec<RecordBatch>, Vec<u64>) {
    let (mut log, recovered) = Log::open(dir, 0).unwrap();
    assert!(recovered.batches.is_empty());
    let mut first = 0;
    let mut batches = Vec::new();
    let mut ends = Vec::new();
    for &n in sizes {
        let b = batch(first, n);
        first += n as i64;
        log.append(&b).unwrap();
        ends.push(log.current_len());
        batches.push(b);
    }
    log.sync_handle().0.sync_data().unwrap();
    (batches, ends)
}

fn only_segment(dir: &Path) -> PathBuf {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1);
    files.pop().unwrap()
}

#[test]
fn round_trip_across_rotations_and_removal() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), 0).unwrap();
    let batches: Vec<_> = (0..6).map(|i| batch(i * 3, 3)).collect();
    for (idx, b) in batches.iter().enumerate() {
        log.append(b).unwrap();
        if idx % 2 == 1 {
            log.rotate((idx as u64 + 1) * 3).unwrap();
        }
    }
    drop(log);
    let (mut log, recovered) = Log::open(dir.path(), 0).unwrap();
    assert_eq!(recovered.batches, batches);
    // Recovery from offset 4 skips what the lake holds and slices the straddling record.
    let (_, from_4) = Log::open(dir.path(), 4).unwrap();
    assert_eq!(from_4.batches[0], batches[1].slice(1, 2));
    assert_eq!(from_4.batches.len(), 5);
    // Segments [0, 6) and [6, 12) are wholly below 12: removed; [12, 18) stays.
    log.remove_below(12).unwrap();
    let names: Vec<String> = {
        let mut n: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names,
        ["00000000000000000012.wal", "00000000000000000018.wal"]
    );
    let (_, recovered) = Log::open(dir.path(), 12).unwrap();
    assert_eq!(recovered.batches, batches[4..]);
}

#[test]
fn damage_before_the_tail_stops_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let (_, ends) = write_log(dir.path(), &[3, 3, 3]);
    let path = only_segment(dir.path());
    let mut bytes = fs::read(&path).unwrap();
    bytes[ends[0] as usize + 20] ^= 0xff; // inside the second record
    fs::write(&path, &bytes).unwrap();
    let err = Log::open(dir.path(), 0).unwrap_err();
    assert!(
        matches!(err, Error::CorruptWal { position, .. } if position == ends[0]),
        "{err}"
    );
}

#[test]
fn damage_in_an_earlier_segment_stops_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, _) = Log::open(dir.path(), 0).unwrap();
    log.append(&batch(0, 3)).unwrap();
    log.rotate(3).unwrap();
    log.append(&batch(3, 3)).unwrap();
    drop(log);
    let first = dir.path().join("00000000000000000000.wal");
    let bytes = fs::read(&first).unwrap();
    fs::write(&first, &bytes[..bytes.len() - 5]).unwrap();
    assert!(matches!(
        Log::open(dir.path(), 0),
        Err(Error::CorruptWal { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Cutting the log anywhere, or flipping a byte of its last record, or appending zeros (a
    /// crash mid-write), recovers exactly the records that were whole, and appends work after.
    #[test]
    fn torn_tails_recover_the_whole_prefix(
        sizes in prop::collection::vec(1usize..20, 1..6),
        cut in any::<prop::sample::Index>(),
        damage in 0u8..3,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (batches, ends) = write_log(dir.path(), &sizes);
        let path = only_segment(dir.path());
        let mut bytes = fs::read(&path).unwrap();
        let last_start = if ends.len() > 1 { ends[ends.len() - 2] as usize } else { 0 };
        let whole = match damage {
            0 => { // cut short anywhere
                let at = cut.index(bytes.len());
                bytes.truncate(at);
                ends.iter().filter(|&&e| e as usize <= at).count()
            }
            1 => { // flip a byte in the last record
                let at = last_start + cut.index(bytes.len() - last_start);
                bytes[at] ^= 0x5a;
                batches.len() - 1
            }
            _ => { // zeros after the end, as a crash can leave
                bytes.extend(std::iter::repeat_n(0u8, 1 + cut.index(4096)));
                batches.len()
            }
        };
        fs::write(&path, &bytes).unwrap();
        let (mut log, recovered) = Log::open(dir.path(), 0).unwrap();
        prop_assert_eq!(&recovered.batches[..], &batches[..whole]);
        let next: usize = sizes[..whole].iter().sum();
        log.append(&batch(next as i64, 2)).unwrap();
        drop(log);
        let (_, again) = Log::open(dir.path(), 0).unwrap();
        prop_assert_eq!(again.batches.len(), whole + 1);
        prop_assert_eq!(again.truncated, None);
    }
}
