//! One WAL segment file: the record format, and reading records back with torn-tail detection.
//!
//! Record format (little endian): `[magic "WEIR"][len: u32][crc32c(len ++ payload): u32][payload]`,
//! where the payload is one Arrow IPC stream (schema + one batch) and is never empty.
//!
//! Reading stops at the first record that is cut short or fails its checksum. In the last segment,
//! if no whole record follows it, that is the tail (a crash mid-write, or a damaged last record)
//! and is truncated away with a warning. If a whole record follows, or the segment is not the last,
//! the damage is before the tail and recovery stops with an error, because dropping it silently
//! would lose events that were acknowledged. The magic number lets recovery look for a following
//! record.

use std::fs::File;
use std::io::Cursor;
use std::path::Path;

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamEncoder;
use arrow::record_batch::RecordBatch;

use crate::Error;
use crate::error::Result;

const MAGIC: [u8; 4] = *b"WEIR";
const HEADER: usize = 12;

/// Encodes `batch` as one record into `record`, which is cleared first: the log keeps one buffer
/// and reuses its pages, where a fresh, doubling buffer per record was the largest source of
/// ingest's page faults.
pub(crate) fn encode_record(batch: &RecordBatch, record: &mut Vec<u8>) -> Result<()> {
    record.clear();
    record.extend_from_slice(&[0u8; HEADER]);
    // The encoder hands out the batch's own buffers, so the body is copied once, into `record`.
    let mut encoder = StreamEncoder::try_new(&batch.schema())?;
    for buffer in encoder.encode(batch)?.into_iter().chain(encoder.finish()?) {
        record.extend_from_slice(buffer.as_slice());
    }
    let payload_len = (record.len() - HEADER) as u32;
    record[0..4].copy_from_slice(&MAGIC);
    record[4..8].copy_from_slice(&payload_len.to_le_bytes());
    let crc = checksum(&record[4..8], &record[HEADER..]);
    record[8..12].copy_from_slice(&crc.to_le_bytes());
    Ok(())
}

/// Decodes the records of one segment; returns the batches and the length of the good prefix.
/// Damage is only forgiven at the tail of the last segment.
pub(crate) fn read_records(
    path: &Path,
    bytes: &[u8],
    is_last: bool,
) -> Result<(Vec<RecordBatch>, u64)> {
    let mut batches = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        match read_record(&bytes[pos..]) {
            Ok((batch, record_len)) => {
                batches.push(batch);
                pos += record_len;
            }
            Err(reason) => {
                let next = next_whole_record(bytes, pos + 1);
                if let (true, None) = (is_last, next) {
                    tracing::warn!(
                        path = %path.display(),
                        position = pos,
                        bytes = bytes.len() - pos,
                        %reason,
                        "truncating the damaged tail of a write-ahead log"
                    );
                    return Ok((batches, pos as u64));
                }
                let reason = match next {
                    Some(next) => format!("{reason} (a whole record follows at byte {next})"),
                    None => format!("{reason} (in a segment that later segments follow)"),
                };
                return Err(Error::CorruptWal {
                    path: path.to_owned(),
                    position: pos as u64,
                    reason,
                });
            }
        }
    }
    Ok((batches, pos as u64))
}

fn next_whole_record(bytes: &[u8], from: usize) -> Option<usize> {
    (from..bytes.len().saturating_sub(HEADER))
        .filter(|&pos| bytes[pos..pos + 4] == MAGIC)
        .find(|&pos| read_record(&bytes[pos..]).is_ok())
}

fn read_record(bytes: &[u8]) -> Result<(RecordBatch, usize), String> {
    if bytes.len() < HEADER {
        return Err(format!("record header cut short ({} bytes)", bytes.len()));
    }
    if bytes[0..4] != MAGIC {
        return Err("no record starts here".into());
    }
    let len = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
    let crc = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
    let Some(payload) = bytes.get(HEADER..HEADER + len) else {
        return Err(format!(
            "record of {len} bytes cut short at {}",
            bytes.len() - HEADER
        ));
    };
    if len == 0 || checksum(&bytes[4..8], payload) != crc {
        return Err("checksum mismatch".into());
    }
    let mut reader =
        StreamReader::try_new(Cursor::new(payload), None).map_err(|e| e.to_string())?;
    let batch = reader
        .next()
        .ok_or("record holds no batch")?
        .map_err(|e| e.to_string())?;
    Ok((batch, HEADER + len))
}

fn checksum(len: &[u8], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(len), payload)
}

/// Makes a new directory entry durable: without this a crash can forget a freshly created file.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| Error::io(dir, e))
}
