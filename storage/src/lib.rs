//! Weir's streamhouse store: events in, durable, queryable at once.
//!
//! The front door is [`Store`]: [`Store::append_json`] decodes a request body of JSON events into
//! an Arrow batch, writes it to the stream's write-ahead log with fsync, and makes it visible in
//! the hot tier before it returns; [`Store::snapshot`] gives a consistent, immutable view of a
//! stream that DataFusion can scan. Streams are named by [`StreamName`]; every event gets an
//! [`Offset`] (gap-free, increasing, per stream) and a `_time`.
//!
//! The store knows nothing of HTTP, SQL text or the UI.

mod decode;
mod error;
mod hot;
mod lake;
mod name;
mod rate;
mod schema;
mod snapshot;
mod store;
mod stream;
mod subscribe;
mod wal;

pub use decode::{AppendOutcome, BodyFormat, Rejection};
pub use error::Error;
pub use name::StreamName;
pub use snapshot::Snapshot;
pub use store::{ColumnInfo, Store, StoreConfig, StreamInfo};
pub use subscribe::{LAKE_CHUNK, Subscription};

/// Position of an event in its stream: gap-free and increasing from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct Offset(pub u64);

/// Name of the event-time column every stream has: `Timestamp(µs, "UTC")`.
pub const TIME_COLUMN: &str = "_time";
/// Name of the offset column every stream has: `Int64` (Delta Lake has no unsigned types).
pub const OFFSET_COLUMN: &str = "_offset";
