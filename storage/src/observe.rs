//! What the store reports as it works, for the server's metrics: each fsync, each acknowledged
//! append (its wait for the group commit included) and each new lake version. The store calls
//! an [`Observer`] on its own threads, inside the append path: implementations must be cheap and
//! never block (counters and histograms of atomics).

use std::time::Duration;

use crate::StreamName;

/// Why a stream's lake table got a new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LakeCommit {
    /// Hot events moved into the lake.
    Tiering,
    /// Small files of an hour merged.
    Compaction,
    /// Hours past retention removed.
    Retention,
}

impl LakeCommit {
    pub fn as_str(self) -> &'static str {
        match self {
            LakeCommit::Tiering => "tiering",
            LakeCommit::Compaction => "compaction",
            LakeCommit::Retention => "retention",
        }
    }
}

/// Receives the store's measurements. Every method does nothing unless implemented.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// One fsync of `stream`'s log, which made `events` events durable (a group commit).
    fn fsync(&self, _stream: &StreamName, _events: u64, _took: Duration) {}
    /// One append of `events` events acknowledged: from taking the stream's lock until its
    /// events were durable, waiting for another append's fsync included.
    fn append(&self, _stream: &StreamName, _events: u64, _took: Duration) {}
    /// A new version of `stream`'s lake table.
    fn lake_commit(&self, _stream: &StreamName, _kind: LakeCommit, _took: Duration) {}
}

/// An observer that keeps nothing: the default.
#[derive(Debug, Default)]
pub struct NoObserver;

impl Observer for NoObserver {}
