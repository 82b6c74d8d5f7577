//! The write-ahead log of one stream: appended batches, each fsync'd before it is acknowledged.
//!
//! Record format (little endian): `[magic "WEIR"][len: u32][crc32c(len ++ payload): u32][payload]`,
//! where the payload is one Arrow IPC stream (schema + one batch) and is never empty.
//!
//! Recovery reads records until the end. A record that is cut short or fails its checksum is
//! damage. If no whole record follows it, it is the tail (a crash mid-write, or a damaged last
//! record) and is truncated away with a warning. If a whole record follows, the damage is before
//! the tail and recovery stops with an error, because dropping it silently would lose events that
//! were acknowledged. The magic number is what lets recovery look for a following record.

use std::fs::{File, OpenOptions};
use std::io::{Cursor, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use crate::Error;
use crate::error::Result;

const MAGIC: [u8; 4] = *b"WEIR";
const HEADER: usize = 12;

/// An open log file, positioned at its end.
#[derive(Debug)]
pub(crate) struct Wal {
    path: PathBuf,
    file: File,
    len: u64,
}

/// What recovery found in a log.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) batches: Vec<RecordBatch>,
    /// Bytes cut off a torn tail, if any.
    pub(crate) truncated: Option<u64>,
}

impl Wal {
    /// Opens (or creates) the log at `path`, recovering its records.
    pub(crate) fn open(path: &Path) -> Result<(Wal, Recovered)> {
        let existed = path.exists();
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        if !existed {
            sync_parent(path)?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::io(path, e))?;
        let (batches, good_len) = read_records(path, &bytes)?;
        let truncated = (good_len < bytes.len() as u64).then(|| bytes.len() as u64 - good_len);
        if truncated.is_some() {
            file.set_len(good_len).map_err(|e| Error::io(path, e))?;
            file.sync_all().map_err(|e| Error::io(path, e))?;
        }
        file.seek(SeekFrom::Start(good_len))
            .map_err(|e| Error::io(path, e))?;
        let wal = Wal {
            path: path.to_owned(),
            file,
            len: good_len,
        };
        Ok((wal, Recovered { batches, truncated }))
    }

    /// Appends one batch and fsyncs. On failure the file is cut back to where it was, so a failed
    /// append never leaves a partial record in front of later ones.
    pub(crate) fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        let record = encode_record(batch)?;
        let result = self
            .file
            .write_all(&record)
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => {
                self.len += record.len() as u64;
                Ok(())
            }
            Err(err) => {
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(SeekFrom::Start(self.len));
                Err(Error::io(&self.path, err))
            }
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.len
    }
}

pub(crate) fn encode_record(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut record = vec![0u8; HEADER];
    {
        let mut writer = StreamWriter::try_new(&mut record, &batch.schema())?;
        writer.write(batch)?;
        writer.finish()?;
    }
    let payload_len = (record.len() - HEADER) as u32;
    record[0..4].copy_from_slice(&MAGIC);
    record[4..8].copy_from_slice(&payload_len.to_le_bytes());
    let crc = checksum(&record[4..8], &record[HEADER..]);
    record[8..12].copy_from_slice(&crc.to_le_bytes());
    Ok(record)
}

/// Decodes records from the start of `bytes`; returns the batches and the length of the good prefix.
fn read_records(path: &Path, bytes: &[u8]) -> Result<(Vec<RecordBatch>, u64)> {
    let mut batches = Vec::new();
    let mut pos = 0usize;
    while pos < bytes.len() {
        match read_record(&bytes[pos..]) {
            Ok((batch, record_len)) => {
                batches.push(batch);
                pos += record_len;
            }
            Err(reason) => {
                if let Some(next) = next_whole_record(bytes, pos + 1) {
                    return Err(Error::CorruptWal {
                        path: path.to_owned(),
                        position: pos as u64,
                        reason: format!("{reason} (a whole record follows at byte {next})"),
                    });
                }
                tracing::warn!(
                    path = %path.display(),
                    position = pos,
                    bytes = bytes.len() - pos,
                    %reason,
                    "truncating the damaged tail of a write-ahead log"
                );
                return Ok((batches, pos as u64));
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
pub(crate) fn sync_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(|e| Error::io(parent, e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
