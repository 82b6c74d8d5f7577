//! Tests of bloom filter pruning: on files written with the lake's own encoding, a row group
//! that holds a value is always kept, and one that does not is mostly skipped.

use std::sync::Arc;

use arrow::array::{Int64Array, StringArray};
use arrow::datatypes::Field;
use arrow::record_batch::RecordBatch;
use datafusion::logical_expr::{col, lit};
use deltalake::parquet::arrow::ArrowWriter;
use proptest::prelude::*;

use super::*;
use crate::lake::encoding::writer_properties;

const GROUPS: usize = 3;
const PER_GROUP: usize = 2_000;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("trace_id", DataType::Utf8, true),
        Field::new("n", DataType::Int64, true),
    ]))
}

/// A file of three row groups; row group `g` holds the trace ids `t{g}-{k}`.
fn file(dir: &Path) -> PathBuf {
    let path = dir.join("part.parquet");
    let schema = schema();
    let mut writer = ArrowWriter::try_new(
        File::create(&path).unwrap(),
        Arc::clone(&schema),
        Some(writer_properties(&schema, &Default::default())),
    )
    .unwrap();
    for group in 0..GROUPS {
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from_iter_values(
                    (0..PER_GROUP).map(|k| format!("t{group}-{k}")),
                )),
                Arc::new(Int64Array::from_iter_values(0..PER_GROUP as i64)),
            ],
        )
        .unwrap();
        writer.write(&batch).unwrap();
        writer.flush().unwrap();
    }
    writer.close().unwrap();
    path
}

fn needle(values: &[&str]) -> Vec<Needle> {
    vec![Needle {
        column: "trace_id".into(),
        values: values.iter().map(|v| v.to_string()).collect(),
    }]
}

#[test]
fn a_row_group_holding_the_value_is_kept_and_the_others_mostly_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path());
    let index = BloomIndex::default();
    let mut others_kept = 0;
    for group in 0..GROUPS {
        for k in (0..PER_GROUP).step_by(7) {
            let value = format!("t{group}-{k}");
            let keep = index
                .row_groups(&path, &needle(&[&value]))
                .unwrap_or(vec![true; GROUPS]);
            assert_eq!(keep.len(), GROUPS);
            assert!(keep[group], "{value} is in row group {group}: {keep:?}");
            others_kept += keep.iter().filter(|k| **k).count() - 1;
        }
    }
    // 5% false positives, by the filters' size; allow twice that.
    let probes = GROUPS * PER_GROUP.div_ceil(7) * (GROUPS - 1);
    assert!(others_kept * 10 <= probes, "{others_kept} of {probes} kept");
    // A value in no row group: the file is skipped whole (almost always).
    let absent = (0..100)
        .filter(|k| {
            index.row_groups(&path, &needle(&[&format!("absent-{k}")])) != Some(vec![false; GROUPS])
        })
        .count();
    assert!(
        absent <= 15,
        "{absent} of 100 absent values kept a row group"
    );
}

#[test]
fn a_list_keeps_the_row_groups_of_each_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path());
    let keep = BloomIndex::default()
        .row_groups(&path, &needle(&["t0-5", "t2-9"]))
        .unwrap_or(vec![true; GROUPS]);
    assert!(keep[0] && keep[2], "{keep:?}");
}

#[test]
fn columns_without_filters_and_unreadable_files_keep_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(dir.path());
    let index = BloomIndex::default();
    let other = vec![Needle {
        column: "n".into(),
        values: vec!["5".into()],
    }];
    assert_eq!(index.row_groups(&path, &other), None);
    assert_eq!(
        index.row_groups(&dir.path().join("gone.parquet"), &needle(&["t0-1"])),
        None
    );
    std::fs::write(dir.path().join("bad.parquet"), b"not parquet").unwrap();
    assert_eq!(
        index.row_groups(&dir.path().join("bad.parquet"), &needle(&["t0-1"])),
        None
    );
}

#[test]
fn needles_are_string_equalities_and_lists_that_all_rows_meet() {
    let schema = schema();
    let found = needles(
        &[
            col("trace_id").eq(lit("a")),
            lit("b").eq(col("trace_id")).and(col("n").gt(lit(1))),
            col("trace_id").in_list(vec![lit("c"), lit("d")], false),
        ],
        &schema,
    );
    assert_eq!(
        found,
        vec![
            Needle {
                column: "trace_id".into(),
                values: vec!["a".into()]
            },
            Needle {
                column: "trace_id".into(),
                values: vec!["b".into()]
            },
            Needle {
                column: "trace_id".into(),
                values: vec!["c".into(), "d".into()]
            },
        ]
    );
    // Not needles: either side of an OR, a negated list, a number, a column of numbers.
    let none = needles(
        &[
            col("trace_id")
                .eq(lit("a"))
                .or(col("trace_id").eq(lit("b"))),
            col("trace_id").in_list(vec![lit("c")], true),
            col("trace_id").eq(lit(5)),
            col("n").eq(lit("5")),
            col("trace_id").not_eq(lit("a")),
        ],
        &schema,
    );
    assert_eq!(none, vec![]);
}

proptest! {
    /// The header's size field, as Thrift's compact protocol writes it, reads back.
    #[test]
    fn a_bitset_size_reads_back(size in 0u32..(i32::MAX as u32)) {
        let mut head = vec![0x15u8];
        let mut zigzag = u64::from(size) << 1;
        loop {
            let byte = (zigzag & 0x7f) as u8;
            zigzag >>= 7;
            if zigzag == 0 {
                head.push(byte);
                break;
            }
            head.push(byte | 0x80);
        }
        head.extend_from_slice(&[0x1c, 0x1c, 0, 0]);
        prop_assert_eq!(bitset_bytes(&head), Some(u64::from(size)));
    }
}

#[test]
fn a_read_schema_types_strings_as_the_table_and_names_the_dictionary_encoded_ones() {
    use arrow::array::StringViewArray;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("views.parquet");
    // As compaction writes them: strings as views; `service` of few values, `trace_id` of
    // values all distinct (written without a dictionary), `region` a few values, then a
    // row group where its dictionary overflows into other pages.
    let schema = Arc::new(Schema::new(vec![
        Field::new("service", DataType::Utf8View, true),
        Field::new("trace_id", DataType::Utf8View, true),
        Field::new("region", DataType::Utf8View, true),
        Field::new("n", DataType::Int64, true),
    ]));
    let plain = ["trace_id".to_owned()].into_iter().collect();
    let mut writer = ArrowWriter::try_new(
        File::create(&path).unwrap(),
        Arc::clone(&schema),
        Some(writer_properties(&schema, &plain)),
    )
    .unwrap();
    for group in 0..2 {
        let rows = 70_000;
        let region = (0..rows).map(|k| match group {
            0 => format!("r{}", k % 4),
            _ => format!("region-{k:020}"),
        });
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringViewArray::from_iter_values(
                    (0..rows).map(|k| format!("s{}", k % 5)),
                )),
                Arc::new(StringViewArray::from_iter_values(
                    (0..rows).map(|k| format!("{group}-{k:032}")),
                )),
                Arc::new(StringViewArray::from_iter_values(region)),
                Arc::new(Int64Array::from_iter_values(0..rows as i64)),
            ],
        )
        .unwrap();
        writer.write(&batch).unwrap();
        writer.flush().unwrap();
    }
    writer.close().unwrap();

    let read = BloomIndex::default().read_schema(&path).expect("a footer");
    let types: Vec<(&str, &DataType)> = read
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type()))
        .collect();
    assert_eq!(
        types,
        [
            ("service", &DataType::Utf8),
            ("trace_id", &DataType::Utf8),
            ("region", &DataType::Utf8),
            ("n", &DataType::Int64)
        ]
    );
    assert_eq!(
        read.metadata().get(DICTIONARY_COLUMNS).map(String::as_str),
        Some("service"),
        "trace_id has no dictionary, region's overflowed in its second row group"
    );
}
