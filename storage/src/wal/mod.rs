//! The write-ahead log of one stream: a directory of segment files, each named by the offset of
//! its first event (`00000000000000000000.wal`), appended to in offset order.
//!
//! Appends are written without fsync; [`Log::sync_handle`] gives the file to fsync, so that
//! concurrent appends can share one fsync (group commit, in `stream.rs`). Segments are rotated
//! when they grow past a bound or when the stream is tiered, and removed once the lake holds all
//! of their events.

mod segment;

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, Int64Array};
use arrow::record_batch::RecordBatch;

pub(crate) use segment::sync_dir;

/// The largest record buffer a log keeps between appends.
const MAX_KEPT_RECORD: usize = 16 << 20;

use crate::error::Result;
use crate::{Error, OFFSET_COLUMN};

#[derive(Debug)]
struct Segment {
    first_offset: u64,
    path: PathBuf,
    len: u64,
}

/// An open log, positioned at the end of its last segment.
#[derive(Debug)]
pub(crate) struct Log {
    dir: PathBuf,
    closed: Vec<Segment>,
    current: Segment,
    file: Arc<File>,
    /// The last record written, kept for its capacity (see [`Log::append`]).
    record: Vec<u8>,
}

/// What recovery found.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// Batches at or past the `from` offset given to [`Log::open`], in offset order.
    pub(crate) batches: Vec<RecordBatch>,
    /// Bytes cut off a torn tail, if any.
    pub(crate) truncated: Option<u64>,
}

impl Log {
    /// Opens the log in `dir` (creating it), recovering the batches with offsets from `from` on;
    /// earlier ones are already in the lake. A new log starts its first segment at `from`.
    pub(crate) fn open(dir: &Path, from: u64) -> Result<(Log, Recovered)> {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut segments = list_segments(dir)?;
        let mut batches = Vec::new();
        let mut truncated = None;
        let mut expected: Option<u64> = None;
        let n_segments = segments.len();
        for (idx, segment) in segments.iter_mut().enumerate() {
            let is_last = idx + 1 == n_segments;
            let mut bytes = Vec::new();
            File::open(&segment.path)
                .and_then(|mut f| f.read_to_end(&mut bytes))
                .map_err(|e| Error::io(&segment.path, e))?;
            let (found, good_len) = segment::read_records(&segment.path, &bytes, is_last)?;
            if good_len < bytes.len() as u64 {
                truncated = Some(bytes.len() as u64 - good_len);
                let file = OpenOptions::new()
                    .write(true)
                    .open(&segment.path)
                    .map_err(|e| Error::io(&segment.path, e))?;
                file.set_len(good_len)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| Error::io(&segment.path, e))?;
            }
            segment.len = good_len;
            for batch in found {
                let first = first_offset(&batch).ok_or_else(|| Error::CorruptWal {
                    path: segment.path.clone(),
                    position: 0,
                    reason: "a record without offsets".into(),
                })?;
                if let Some(expected) = expected.filter(|&e| e != first) {
                    return Err(Error::CorruptWal {
                        path: segment.path.clone(),
                        position: 0,
                        reason: format!("expected offset {expected}, found {first}"),
                    });
                }
                let end = first + batch.num_rows() as u64;
                expected = Some(end);
                if end <= from {
                    continue;
                }
                // A record that straddles `from` keeps only its events not yet in the lake.
                let skip = from.saturating_sub(first) as usize;
                batches.push(batch.slice(skip, batch.num_rows() - skip));
            }
        }
        if segments.is_empty() {
            segments.push(Segment {
                first_offset: from,
                path: segment_path(dir, from),
                len: 0,
            });
        }
        let current = segments.pop().expect("at least one segment");
        let file = open_for_append(&current.path)?;
        let log = Log {
            dir: dir.to_owned(),
            closed: segments,
            current,
            file: Arc::new(file),
            record: Vec::new(),
        };
        Ok((log, Recovered { batches, truncated }))
    }

    /// Appends `batch` as one record at the end of the current segment, without fsync. The record
    /// is encoded into a buffer the log keeps, so appends write into pages already touched.
    pub(crate) fn append(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut record = std::mem::take(&mut self.record);
        let written = segment::encode_record(batch, &mut record).and_then(|()| self.write(&record));
        // A rare huge batch is not kept for the life of the stream.
        if record.capacity() <= MAX_KEPT_RECORD {
            self.record = record;
        }
        written
    }

    /// Writes a record at the end of the current segment, without fsync. On failure the segment
    /// is cut back to where it was, so a failed write never leaves a partial record.
    fn write(&mut self, record: &[u8]) -> Result<()> {
        match (&*self.file).write_all(record) {
            Ok(()) => {
                self.current.len += record.len() as u64;
                Ok(())
            }
            Err(err) => {
                let _ = self.file.set_len(self.current.len);
                let _ = (&*self.file).seek(SeekFrom::Start(self.current.len));
                Err(Error::io(&self.current.path, err))
            }
        }
    }

    /// The file that [`Log::write`] wrote to: fsync it to make those writes durable.
    pub(crate) fn sync_handle(&self) -> (Arc<File>, PathBuf) {
        (Arc::clone(&self.file), self.current.path.clone())
    }

    /// Makes everything written durable, closes the current segment and starts a new one whose
    /// first event will have offset `next_offset`.
    pub(crate) fn rotate(&mut self, next_offset: u64) -> Result<()> {
        if self.current.len == 0 {
            return Ok(());
        }
        self.file
            .sync_data()
            .map_err(|e| Error::io(&self.current.path, e))?;
        let path = segment_path(&self.dir, next_offset);
        let file = open_for_append(&path)?;
        let new = Segment {
            first_offset: next_offset,
            path,
            len: 0,
        };
        self.closed.push(std::mem::replace(&mut self.current, new));
        self.file = Arc::new(file);
        Ok(())
    }

    /// Deletes the closed segments whose events all have offsets below `offset`.
    pub(crate) fn remove_below(&mut self, offset: u64) -> Result<()> {
        let mut removed = false;
        while !self.closed.is_empty() {
            let next_first = self
                .closed
                .get(1)
                .map_or(self.current.first_offset, |s| s.first_offset);
            if next_first > offset {
                break;
            }
            let segment = self.closed.remove(0);
            fs::remove_file(&segment.path).map_err(|e| Error::io(&segment.path, e))?;
            removed = true;
        }
        if removed {
            sync_dir(&self.dir)?;
        }
        Ok(())
    }

    /// Bytes in all segments.
    pub(crate) fn len(&self) -> u64 {
        self.closed.iter().map(|s| s.len).sum::<u64>() + self.current.len
    }

    /// Bytes in the current segment.
    pub(crate) fn current_len(&self) -> u64 {
        self.current.len
    }
}

fn segment_path(dir: &Path, first_offset: u64) -> PathBuf {
    dir.join(format!("{first_offset:020}.wal"))
}

fn open_for_append(path: &Path) -> Result<File> {
    let existed = path.exists();
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io(path, e))?;
    file.seek(SeekFrom::End(0))
        .map_err(|e| Error::io(path, e))?;
    if let (false, Some(dir)) = (existed, path.parent()) {
        sync_dir(dir)?;
    }
    Ok(file)
}

fn list_segments(dir: &Path) -> Result<Vec<Segment>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(first_offset) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse().ok())
        else {
            continue;
        };
        segments.push(Segment {
            first_offset,
            path: entry.path(),
            len: 0,
        });
    }
    segments.sort_by_key(|s| s.first_offset);
    Ok(segments)
}

pub(crate) fn first_offset(batch: &RecordBatch) -> Option<u64> {
    let offsets = batch
        .column_by_name(OFFSET_COLUMN)?
        .as_any()
        .downcast_ref::<Int64Array>()?;
    (!offsets.is_empty()).then(|| offsets.value(0) as u64)
}

#[cfg(test)]
mod tests;

pub(crate) fn last_offset(batch: &RecordBatch) -> Option<u64> {
    let offsets = batch
        .column_by_name(OFFSET_COLUMN)?
        .as_any()
        .downcast_ref::<Int64Array>()?;
    (!offsets.is_empty()).then(|| offsets.value(offsets.len() - 1) as u64)
}
