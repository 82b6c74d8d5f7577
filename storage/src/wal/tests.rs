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

fn write_log(path: &Path, batches: &[RecordBatch]) -> Vec<u64> {
    let (mut wal, recovered) = Wal::open(path).unwrap();
    assert!(recovered.batches.is_empty());
    let mut ends = Vec::new();
    for b in batches {
        wal.append(b).unwrap();
        ends.push(wal.len());
    }
    ends
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.log");
    let batches: Vec<_> = (0..5).map(|i| batch(i * 3, 3)).collect();
    write_log(&path, &batches);
    let (_, recovered) = Wal::open(&path).unwrap();
    assert_eq!(recovered.batches, batches);
    assert_eq!(recovered.truncated, None);
}

#[test]
fn damage_before_the_tail_stops_recovery() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("wal.log");
    let ends = write_log(&path, &[batch(0, 3), batch(3, 3), batch(6, 3)]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[ends[0] as usize + 20] ^= 0xff; // inside the second record
    std::fs::write(&path, &bytes).unwrap();
    let err = Wal::open(&path).unwrap_err();
    assert!(
        matches!(err, Error::CorruptWal { position, .. } if position == ends[0]),
        "{err}"
    );
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
        let path = dir.path().join("wal.log");
        let mut first = 0;
        let batches: Vec<_> = sizes.iter().map(|&n| { let b = batch(first, n); first += n as i64; b }).collect();
        let ends = write_log(&path, &batches);
        let mut bytes = std::fs::read(&path).unwrap();
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
        std::fs::write(&path, &bytes).unwrap();
        let (mut wal, recovered) = Wal::open(&path).unwrap();
        prop_assert_eq!(&recovered.batches[..], &batches[..whole]);
        wal.append(&batch(1000, 2)).unwrap();
        drop(wal);
        let (_, again) = Wal::open(&path).unwrap();
        prop_assert_eq!(again.batches.len(), whole + 1);
        prop_assert_eq!(again.truncated, None);
    }
}
