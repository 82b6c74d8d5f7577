//! HTTP handlers of `/api/v1` and `/healthz`, one file per resource.

pub(crate) mod engine;
pub(crate) mod health;
pub(crate) mod ingest;
pub(crate) mod query;
pub(crate) mod streams;
