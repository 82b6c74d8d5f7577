//! The incremental engine: continuous SQL kept up to date event by event.
//!
//! [`plan`] compiles a query into DataFusion's physical pieces, or says which part it cannot keep
//! live; [`operator`] holds one query's state and applies batches of the stream to it; the
//! registry runs each distinct query once for all its viewers and publishes its changes.

pub(crate) mod operator;
pub(crate) mod plan;
mod registry;

pub(crate) use operator::row_key;
pub use registry::EngineConfig;
pub(crate) use registry::{Engine, Mode, Shared, Start, Update, now_micros};

use arrow::error::ArrowError;
use datafusion::error::DataFusionError;

/// Why a continuous query failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    #[error("{0}")]
    Arrow(#[from] ArrowError),
    #[error("column {column} changed type from {from} to {to}")]
    SchemaChanged {
        column: String,
        from: String,
        to: String,
    },
    #[error("{0}")]
    Store(#[from] storage::Error),
    #[error("{0}")]
    Budget(String),
    #[error("internal error: {0}")]
    Internal(String),
}

#[cfg(test)]
mod tests;
