//! Weir's streamhouse store: events in, durable, queryable at once.
//!
//! The front door is [`Store`]: [`Store::append`] takes events already decoded (an Arrow batch
//! of `_time` and the events' columns), fits them to the stream's schema ([`evolve`]), writes
//! them to the stream's write-ahead log with fsync, and makes them visible in the hot tier before
//! it returns; [`Store::snapshot`] gives a consistent, immutable view of a stream that
//! DataFusion can scan. Streams are named by [`StreamName`]; every event gets an [`Offset`]
//! (gap-free, increasing, per stream) and a `_time`.
//!
//! The store knows nothing of HTTP, of any wire format of events (JSON, OTLP: the server decodes
//! them), of SQL text or of the UI.

mod clock;
mod error;
mod hot;
mod lake;
mod name;
mod observe;
mod rate;
mod schema;
mod snapshot;
mod store;
mod stream;
mod subscribe;
#[cfg(test)]
mod testing;
mod wal;

pub use clock::now_micros;
pub use error::Error;
pub use lake::{DICTIONARY_COLUMNS, HOUR_COLUMN};
pub use name::StreamName;
pub use observe::{LakeCommit, NoObserver, Observer};
pub use schema::{ColumnType, evolve};
pub use snapshot::Snapshot;
pub use store::{Appended, RowRejection, Store, StoreConfig, StreamInfo};
pub use stream::Lag;
pub use subscribe::{LAKE_CHUNK, Progress, Subscription};

/// Position of an event in its stream: gap-free and increasing from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Offset(pub u64);

/// Name of the event-time column every stream has: `Timestamp(µs, "UTC")`.
pub const TIME_COLUMN: &str = "_time";
/// Name of the offset column every stream has: `Int64` (Delta Lake has no unsigned types).
pub const OFFSET_COLUMN: &str = "_offset";
