//! The incremental engine: continuous SQL kept up to date event by event.
//!
//! [`plan`] compiles a query into DataFusion's physical pieces, or says which part it cannot keep
//! live; [`operator`] holds one query's state and applies batches of the stream to it; [`scan`]
//! holds the work on one batch that a stream's queries share; one task per stream applies each
//! batch to all its queries, on the engine's runtime below ingest's priority; the registry runs
//! each distinct query once for all its viewers and publishes its changes.

pub(crate) mod operator;
pub(crate) mod plan;
mod registry;
pub(crate) mod scan;
mod stream;

pub use registry::EngineConfig;
pub(crate) use registry::{Engine, EngineInfo, Shared, Start, Update};

use arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// Why a continuous query could not start or stopped, by what its subscriber can do.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The SQL is wrong, or a stream it names is not there (DataFusion says which).
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    /// A re-queried query failed, or met a limit of queries.
    #[error("{0}")]
    Query(#[from] crate::query::Error),
    /// A column the running query reads changed type: the query must be compiled again.
    #[error(
        "column {column} changed type from {from} to {to}: subscribe again to recompile the query"
    )]
    SchemaChanged {
        column: String,
        from: String,
        to: String,
    },
    /// The engine runs as many distinct queries as it may.
    #[error("{max} continuous queries are running, the most this server runs")]
    TooManyQueries { max: usize },
    /// The query's state would pass the engine's budget.
    #[error(
        "this query needs {} KiB of state and the engine holds {} KiB of its {} KiB budget",
        needed >> 10,
        used >> 10,
        budget >> 10
    )]
    OverBudget {
        needed: usize,
        used: usize,
        budget: usize,
    },
    #[error("{0}")]
    Store(#[from] storage::Error),
    /// The query's start, which other subscribers waited for too, failed: why, as it was told
    /// to the subscriber that started it.
    #[error("{}", .0.message)]
    Start(protocol::Error),
    /// A bug: a batch lacks a column every stream has.
    #[error("internal error: a batch without `{0}`")]
    MissingColumn(&'static str),
    /// A bug: Arrow refused what the engine built.
    #[error("{0}")]
    Arrow(#[from] ArrowError),
}

#[cfg(test)]
mod tests;
