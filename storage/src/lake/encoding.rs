//! How lake files are encoded. Measured on the shared bench workload (docs/benchmarks.md):
//! - `_time` and `_offset` are sorted (or nearly) integers: delta encoding stores their gaps, about
//!   2 bytes and 0.01 byte per event, where dictionary or plain pages cost 2.8 and 1.5.
//! - Strings keep a dictionary while it fits (services, routes, users). A string column whose
//!   distinct values in a row group would overflow the dictionary page (random ids: trace ids)
//!   is written without one, as DELTA_LENGTH_BYTE_ARRAY, which keeps the lengths apart from the
//!   bytes, so the ids compress to close to their entropy. Left to itself the writer would fill
//!   a 1 MiB dictionary page first and fall back after it: 0.7 byte more per event, and a reader
//!   of any row of the group decompresses and decodes that page (a needle's `SELECT *` did so
//!   for every row group it touched).
//! - zstd level 3, but level 1 for strings: dictionary pages compress as well at level 1, and
//!   random ids better (level 3 spends bits on matches that random text does not have), while
//!   numbers such as latencies gain about 10% at level 3.
//! - Strings carry a bloom filter per row group, so a needle (one trace id, one user) skips the row
//!   groups that cannot hold it without decoding the column. The filter is sized for a row group's
//!   rows and folded down to its distinct values at a 5% false-positive rate: 6.2 bits per
//!   distinct value rounded up to a power of two of bytes, so random ids pay 0.8 to 1.6 bytes per
//!   event and a column of a few services almost nothing.

use std::collections::{BTreeSet, HashSet};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Schema};
use arrow::record_batch::RecordBatch;
use deltalake::parquet::basic::{Compression, Encoding, Type as PhysicalType, ZstdLevel};
use deltalake::parquet::file::metadata::ParquetMetaData;
use deltalake::parquet::file::properties::{DEFAULT_DICTIONARY_PAGE_SIZE_LIMIT, WriterProperties};
use deltalake::parquet::schema::types::ColumnPath;

use crate::{OFFSET_COLUMN, TIME_COLUMN};

/// Row groups hold at most this many rows: a few per hour of a busy stream, so a query for the
/// newest events (read newest row group first) or a needle (bloom filters) skips most of an
/// hour's rows. Smaller groups repeat dictionaries (users'), +0.3 byte per event at this size
/// against one group per hour, +0.7 at 65,536.
const ROW_GROUP_ROWS: usize = 1 << 17;

/// Data pages hold at most this many rows (the writer's default is 20,000): a needle's
/// `SELECT *` decodes, for each column, the page that holds each matching row, so smaller pages
/// decode fewer rows per match (a page of random ids is 64 KiB here, not 320). About 0.25 byte
/// more per event (page headers, index entries, less for zstd to work with).
const PAGE_ROWS: usize = 4096;

/// The false-positive rate of strings' bloom filters: with one row group an hour, a needle over a
/// week reads the column of about 8 row groups that do not hold it.
const BLOOM_FPP: f64 = 0.05;

/// The string columns of `batch` whose distinct values in its first row group would not fit a
/// dictionary page (each value costs its bytes and a 4-byte length there).
pub(crate) fn overflowing_strings(batch: &RecordBatch) -> BTreeSet<String> {
    let rows = batch.num_rows().min(ROW_GROUP_ROWS);
    let mut out = BTreeSet::new();
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let values: Box<dyn Iterator<Item = Option<&str>>> = match column.data_type() {
            DataType::Utf8 => Box::new(column.as_string::<i32>().iter()),
            DataType::LargeUtf8 => Box::new(column.as_string::<i64>().iter()),
            DataType::Utf8View => Box::new(column.as_string_view().iter()),
            _ => continue,
        };
        let mut seen: HashSet<&str, foldhash::fast::RandomState> = HashSet::default();
        let mut bytes = 0;
        for value in values.take(rows).flatten() {
            if seen.insert(value) {
                bytes += value.len() + 4;
                if bytes > DEFAULT_DICTIONARY_PAGE_SIZE_LIMIT {
                    out.insert(field.name().clone());
                    break;
                }
            }
        }
    }
    out
}

/// The string columns of a lake file written without a dictionary, or whose dictionary
/// overflowed (their pages fell back to DELTA_LENGTH_BYTE_ARRAY): compaction keeps them so.
pub(crate) fn strings_without_dictionary(metadata: &ParquetMetaData) -> BTreeSet<String> {
    metadata
        .row_groups()
        .iter()
        .flat_map(|row_group| row_group.columns())
        .filter(|chunk| {
            chunk.column_type() == PhysicalType::BYTE_ARRAY
                && chunk
                    .encodings()
                    .any(|encoding| encoding == Encoding::DELTA_LENGTH_BYTE_ARRAY)
        })
        .map(|chunk| chunk.column_path().string())
        .collect()
}

/// The writer properties of a lake file of a table with `schema`, with the string columns
/// `plain` written without a dictionary.
pub(crate) fn writer_properties(schema: &Schema, plain: &BTreeSet<String>) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("level 3 is valid"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_data_page_row_count_limit(PAGE_ROWS);
    for field in schema.fields() {
        let column = ColumnPath::from(field.name().as_str());
        if field.name() == TIME_COLUMN || field.name() == OFFSET_COLUMN {
            builder = builder
                .set_column_dictionary_enabled(column.clone(), false)
                .set_column_encoding(column, Encoding::DELTA_BINARY_PACKED);
        } else if matches!(field.data_type(), DataType::Utf8 | DataType::LargeUtf8) {
            if plain.contains(field.name()) {
                builder = builder.set_column_dictionary_enabled(column.clone(), false);
            }
            // With the dictionary on, this is the encoding used once the dictionary is full.
            builder = builder
                .set_column_encoding(column.clone(), Encoding::DELTA_LENGTH_BYTE_ARRAY)
                .set_column_bloom_filter_fpp(column.clone(), BLOOM_FPP)
                .set_column_compression(
                    column,
                    Compression::ZSTD(ZstdLevel::try_new(1).expect("level 1 is valid")),
                );
        }
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Int64Array, StringArray, TimestampMicrosecondArray};
    use arrow::datatypes::{Field, TimeUnit};
    use arrow::record_batch::RecordBatch;
    use deltalake::parquet::arrow::ArrowWriter;
    use deltalake::parquet::file::reader::{FileReader, SerializedFileReader};

    use super::*;

    /// A splitmix64 step: random-looking ids without a dependency.
    fn mix(mut x: u64) -> u64 {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }

    #[test]
    fn sorted_integers_are_delta_encoded_and_random_ids_near_their_entropy() {
        let rows = ROW_GROUP_ROWS as u64;
        let schema = Arc::new(Schema::new(vec![
            Field::new(
                TIME_COLUMN,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new(OFFSET_COLUMN, DataType::Int64, false),
            Field::new("service", DataType::Utf8, true),
            Field::new("trace_id", DataType::Utf8, true),
        ]));
        let time: Vec<i64> = (0..rows)
            .scan(1_700_000_000_000_000i64, |t, i| {
                *t += (mix(i) % 20_000) as i64;
                Some(*t)
            })
            .collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(TimestampMicrosecondArray::from(time).with_timezone("UTC")),
                Arc::new(Int64Array::from_iter_values(0..rows as i64)),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| ["api", "web", "db"][(mix(i) % 3) as usize]),
                )),
                Arc::new(StringArray::from_iter_values((0..rows).map(|i| {
                    format!("{:016x}{:016x}", mix(i << 1), mix(i << 1 | 1))
                }))),
            ],
        )
        .unwrap();
        let file = tempfile::tempfile().unwrap();
        let mut writer = ArrowWriter::try_new(
            file.try_clone().unwrap(),
            schema,
            Some(writer_properties(
                &batch.schema(),
                &overflowing_strings(&batch),
            )),
        )
        .unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();

        let reader = SerializedFileReader::new(file).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 1);
        let group = reader.metadata().row_group(0);
        let column = |name: &str| {
            (0..group.num_columns())
                .map(|i| group.column(i))
                .find(|c| c.column_path().string() == name)
                .unwrap()
        };
        let bytes_per_row = |name: &str| column(name).compressed_size() as f64 / rows as f64;
        for name in [TIME_COLUMN, OFFSET_COLUMN] {
            let encodings: Vec<Encoding> = column(name).encodings().collect();
            assert!(
                encodings.contains(&Encoding::DELTA_BINARY_PACKED),
                "{name}: {encodings:?}"
            );
            assert!(
                !encodings.contains(&Encoding::RLE_DICTIONARY),
                "{name}: {encodings:?}"
            );
        }
        let ids: Vec<Encoding> = column("trace_id").encodings().collect();
        assert!(ids.contains(&Encoding::DELTA_LENGTH_BYTE_ARRAY), "{ids:?}");
        assert!(!ids.contains(&Encoding::RLE_DICTIONARY), "{ids:?}");
        assert!(column("trace_id").dictionary_page_offset().is_none());
        let services: Vec<Encoding> = column("service").encodings().collect();
        assert!(services.contains(&Encoding::RLE_DICTIONARY), "{services:?}");
        // Compaction keeps the ids without a dictionary, the services with one.
        assert_eq!(
            strings_without_dictionary(reader.metadata()),
            BTreeSet::from(["trace_id".to_owned()])
        );
        // 128 random bits are 16 bytes (a dictionary tried first, until it is full, cost about
        // 0.7 more per row in a group of 131,072); gaps below 2^15 µs need about 2 bytes; offsets
        // almost none.
        assert!(
            bytes_per_row("trace_id") < 16.3,
            "{}",
            bytes_per_row("trace_id")
        );
        assert!(
            bytes_per_row(TIME_COLUMN) < 2.2,
            "{}",
            bytes_per_row(TIME_COLUMN)
        );
        assert!(
            bytes_per_row(OFFSET_COLUMN) < 0.1,
            "{}",
            bytes_per_row(OFFSET_COLUMN)
        );
        // Bloom filters: 6.2 bits per random id, rounded up to a power of two of bytes (here 128
        // KiB for 131,072 ids, 8 bits each), and a few bytes for three services.
        let bloom = |name: &str| column(name).bloom_filter_length().unwrap_or(0) as f64;
        assert!(
            bloom("trace_id") / rows as f64 > 0.7 && bloom("trace_id") / rows as f64 <= 1.35,
            "{}",
            bloom("trace_id") / rows as f64
        );
        assert!(
            bloom("service") > 0.0 && bloom("service") <= 1024.0,
            "{}",
            bloom("service")
        );
        assert_eq!(bloom(TIME_COLUMN), 0.0);
    }
}
