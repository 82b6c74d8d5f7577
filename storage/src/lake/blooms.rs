//! Needles pruned by bloom filters before the scan opens a file.
//!
//! A query for one value of a string column (`trace_id = '…'`, `user_id IN (…)`) can skip every
//! row group whose bloom filter lacks the value. The Parquet scan can check them itself, but it
//! opens each file and reads each row group's whole filter (128 KiB for a column of random ids)
//! to test one 32-byte block of it: a trace id over a week read 59 MB of filters and opened 169
//! files to find 14 row groups. Here the filters' places come from each file's footer (read once:
//! lake files never change) and only the block that the value hashes to is read, so the scan
//! opens only the files and row groups that may hold the value.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator};
use deltalake::parquet::arrow::parquet_to_arrow_schema;
use deltalake::parquet::basic::{Encoding, PageType, Type as PhysicalType};
use deltalake::parquet::bloom_filter::Sbbf;
use deltalake::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use parking_lot::Mutex;

/// Footers kept at most: past this the cache starts again (a footer costs ~0.1 ms to re-read).
const MAX_FILES: usize = 50_000;

/// A condition a row must meet: its string column `column` holds one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Needle {
    pub(crate) column: String,
    pub(crate) values: Vec<String>,
}

/// The needles among a scan's filters (which all hold, so a row group must pass each): equality
/// with, or membership in a list of, string literals, on string columns.
pub(crate) fn needles(filters: &[Expr], schema: &Schema) -> Vec<Needle> {
    let is_string = |name: &str| {
        schema.field_with_name(name).is_ok_and(|field| {
            matches!(
                field.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        })
    };
    let string = |expr: &Expr| match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Some(s.clone()),
        _ => None,
    };
    let mut out = Vec::new();
    for expr in filters.iter().flat_map(split_conjunction) {
        let (column, values) = match expr {
            Expr::BinaryExpr(BinaryExpr {
                left,
                op: Operator::Eq,
                right,
            }) => match (left.as_ref(), right.as_ref()) {
                (Expr::Column(c), other) | (other, Expr::Column(c)) => match string(other) {
                    Some(value) => (c, vec![value]),
                    None => continue,
                },
                _ => continue,
            },
            Expr::InList(list) if !list.negated => {
                let Expr::Column(c) = list.expr.as_ref() else {
                    continue;
                };
                let Some(values) = list.list.iter().map(string).collect::<Option<Vec<_>>>() else {
                    continue;
                };
                (c, values)
            }
            _ => continue,
        };
        if is_string(&column.name) && !values.is_empty() {
            out.push(Needle {
                column: column.name.clone(),
                values,
            });
        }
    }
    out
}

/// What a file's footer tells a scan: where each row group's bloom filter of each string
/// column lies, and the types to read its columns as.
#[derive(Debug)]
struct FileBlooms {
    row_groups: usize,
    /// Per column, per row group: the filter's offset and length (header and bitset).
    columns: HashMap<String, Vec<Option<(u64, u64)>>>,
    /// The file's columns as the table types them (`None`: the footer's schema is unreadable).
    read_schema: Option<SchemaRef>,
}

impl FileBlooms {
    fn of(metadata: &ParquetMetaData) -> FileBlooms {
        let row_groups = metadata.num_row_groups();
        let mut columns: HashMap<String, Vec<Option<(u64, u64)>>> = HashMap::new();
        let mut dictionary: BTreeMap<String, bool> = BTreeMap::new();
        for (idx, row_group) in metadata.row_groups().iter().enumerate() {
            for chunk in row_group.columns() {
                // Every data page dictionary-encoded (the test parquet documents), by the
                // encodings of the data pages where the footer has them.
                let coded = chunk.dictionary_page_offset().is_some()
                    && match chunk.page_encoding_stats_mask() {
                        Some(mask) => {
                            mask.is_only(Encoding::RLE_DICTIONARY)
                                || mask.is_only(Encoding::PLAIN_DICTIONARY)
                        }
                        None => chunk.page_encoding_stats().is_some_and(|pages| {
                            pages.iter().all(|page| {
                                !matches!(
                                    page.page_type,
                                    PageType::DATA_PAGE | PageType::DATA_PAGE_V2
                                ) || matches!(
                                    page.encoding,
                                    Encoding::RLE_DICTIONARY | Encoding::PLAIN_DICTIONARY
                                )
                            })
                        }),
                    };
                *dictionary
                    .entry(chunk.column_path().string())
                    .or_insert(true) &= coded;
                let descr = chunk.column_descr();
                // Top-level byte arrays only: the filter hashes the value's bytes as stored.
                if descr.physical_type() != PhysicalType::BYTE_ARRAY
                    || descr.path().parts().len() != 1
                {
                    continue;
                }
                let place = match (chunk.bloom_filter_offset(), chunk.bloom_filter_length()) {
                    (Some(offset), Some(length)) => {
                        u64::try_from(offset).ok().zip(u64::try_from(length).ok())
                    }
                    _ => None,
                };
                columns
                    .entry(descr.name().to_owned())
                    .or_insert_with(|| vec![None; row_groups])[idx] = place;
            }
        }
        let file = metadata.file_metadata();
        let read_schema = parquet_to_arrow_schema(file.schema_descr(), file.key_value_metadata())
            .ok()
            .map(|schema| {
                let dictionary: Vec<&str> = schema
                    .fields()
                    .iter()
                    .filter(|f| dictionary.get(f.name()).copied().unwrap_or(false))
                    .filter(|f| matches!(f.data_type(), DataType::Utf8 | DataType::Utf8View))
                    .map(|f| f.name().as_str())
                    .collect();
                let fields: Vec<Field> = schema
                    .fields()
                    .iter()
                    .map(|f| match f.data_type() {
                        DataType::Utf8View => f.as_ref().clone().with_data_type(DataType::Utf8),
                        _ => f.as_ref().clone(),
                    })
                    .collect();
                let mut facts = HashMap::new();
                if !dictionary.is_empty() {
                    facts.insert(DICTIONARY_COLUMNS.to_owned(), dictionary.join(","));
                }
                Arc::new(Schema::new_with_metadata(fields, facts))
            });
        FileBlooms {
            row_groups,
            columns,
            read_schema,
        }
    }
}

/// The key of a read schema's metadata that lists the string columns whose every page is
/// dictionary-encoded (comma-separated): read as dictionaries, they group by their keys.
pub const DICTIONARY_COLUMNS: &str = "weir.dictionary_columns";

/// The bloom filters' places in a stream's lake files, by path.
#[derive(Debug, Default)]
pub(crate) struct BloomIndex {
    files: Mutex<HashMap<PathBuf, Arc<FileBlooms>>>,
}

impl BloomIndex {
    /// Which of the file's row groups may hold a row that meets every needle; `None` when all
    /// may (or the file could not be read: the scan then reads it, and reports what is wrong).
    pub(crate) fn row_groups(&self, path: &Path, needles: &[Needle]) -> Option<Vec<bool>> {
        let file = File::open(path).ok()?;
        let blooms = self.blooms(path, &file)?;
        let keep: Vec<bool> = (0..blooms.row_groups)
            .map(|row_group| {
                needles.iter().all(|needle| {
                    let Some(Some((offset, length))) = blooms
                        .columns
                        .get(&needle.column)
                        .map(|places| places[row_group])
                    else {
                        return true;
                    };
                    needle
                        .values
                        .iter()
                        .any(|value| may_contain(&file, offset, length, value).unwrap_or(true))
                })
            })
            .collect();
        (!keep.iter().all(|k| *k)).then_some(keep)
    }

    /// The types to read the file's columns as: its own columns, with strings as the table has
    /// them (`Utf8`, where files written by compaction say `Utf8View`: the scan would read views,
    /// then cast each value to the table's type), and the [`DICTIONARY_COLUMNS`] in its metadata.
    pub(crate) fn read_schema(&self, path: &Path) -> Option<SchemaRef> {
        if let Some(blooms) = self.files.lock().get(path) {
            return blooms.read_schema.clone();
        }
        let file = File::open(path).ok()?;
        self.blooms(path, &file)?.read_schema.clone()
    }

    fn blooms(&self, path: &Path, file: &File) -> Option<Arc<FileBlooms>> {
        if let Some(blooms) = self.files.lock().get(path) {
            return Some(Arc::clone(blooms));
        }
        let metadata = ParquetMetaDataReader::new().parse_and_finish(file).ok()?;
        let blooms = Arc::new(FileBlooms::of(&metadata));
        let mut files = self.files.lock();
        if files.len() >= MAX_FILES {
            files.clear();
        }
        files.insert(path.to_owned(), Arc::clone(&blooms));
        Some(blooms)
    }
}

/// Whether the split-block bloom filter at `offset` (`length` bytes with its header) may hold
/// `value`, reading its header's first bytes and the one 32-byte block the value hashes to.
fn may_contain(file: &File, offset: u64, length: u64, value: &str) -> std::io::Result<bool> {
    // The header is Thrift's compact protocol; its first field is the bitset's size: an i32
    // (field 1, type 5: byte 0x15) as a zigzag varint.
    let mut head = [0u8; 8];
    let n = head.len().min(length as usize);
    file.read_exact_at(&mut head[..n], offset)?;
    let Some(num_bytes) = bitset_bytes(&head[..n]) else {
        return Ok(true);
    };
    if num_bytes < 32 || num_bytes % 32 != 0 || num_bytes >= length {
        return Ok(true);
    }
    let bitset = offset + (length - num_bytes);
    let hash = twox_hash::XxHash64::oneshot(0, value.as_bytes());
    let block = ((hash >> 32) * (num_bytes / 32)) >> 32;
    let mut bytes = [0u8; 32];
    file.read_exact_at(&mut bytes, bitset + block * 32)?;
    // A one-block filter checks the value's bits in that block: the block a hash picks depends
    // on the filter's size, the bits within it only on the hash.
    Ok(Sbbf::new(&bytes).check(value))
}

/// The bitset size that a bloom filter header starts with, if it does start with one.
fn bitset_bytes(head: &[u8]) -> Option<u64> {
    let (&field, rest) = head.split_first()?;
    if field != 0x15 {
        return None;
    }
    let mut value: u64 = 0;
    for (i, &byte) in rest.iter().enumerate().take(5) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            // Zigzag: a size is never negative.
            return (value & 1 == 0).then_some(value >> 1);
        }
    }
    None
}

#[cfg(test)]
mod tests;
