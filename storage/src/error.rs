//! The storage error type, ordered by what the caller can do about it.

use std::path::PathBuf;

/// Everything that can go wrong in the store. Per-event problems are not errors: they come back as
/// [`crate::RowRejection`]s next to the events that were stored.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // The caller can fix the input.
    #[error("invalid stream name `{name}`: use {}", protocol::STREAM_NAME_RULE)]
    InvalidStreamName { name: String },
    #[error("events not in the form appends take: {reason}")]
    InvalidEvents { reason: String },
    #[error("stream `{stream}` not found")]
    StreamNotFound { stream: String },
    #[error("stream `{stream}`: offset {offset} is no longer retained (the first is {first})")]
    OffsetNotRetained {
        stream: String,
        offset: u64,
        first: u64,
    },

    // The caller can retry later, or an operator must act (disk full, permissions).
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("lake table {path}: {reason}")]
    Lake { path: PathBuf, reason: String },
    #[error("data directory {path} is in use by another process")]
    Locked { path: PathBuf },
    #[error("stream `{stream}` takes no appends until a restart: {reason}")]
    Poisoned { stream: String, reason: String },
    #[error(
        "stream `{stream}` is behind: {hot_bytes} bytes of events wait to be written to the lake; retry shortly"
    )]
    Behind { stream: String, hot_bytes: usize },

    // The data on disk is damaged: starting would lose data silently, so we refuse.
    #[error("{path}: write-ahead log damaged at byte {position}, before its tail: {reason}")]
    CorruptWal {
        path: PathBuf,
        position: u64,
        reason: String,
    },

    // A bug: Arrow refused something we built.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// True when the error means the disk has no room left (the client should retry later).
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.raw_os_error() == Some(28))
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;
