//! Every handler, one file per resource: `/api/v1`, `/healthz`, `/metrics`, the OTLP receivers
//! (`/v1/…`), the Elasticsearch bulk API (`/api/v1/es`), logins and tokens, the live socket and
//! the web app's server side. `router/mod.rs` says which path goes where and who may use it.

pub(crate) mod alerts;
pub(crate) mod auth;
pub(crate) mod dashboards;
pub(crate) mod engine;
pub(crate) mod es;
pub(crate) mod health;
pub(crate) mod ingest;
pub(crate) mod live;
pub(crate) mod metrics;
pub(crate) mod otlp;
pub(crate) mod query;
pub(crate) mod remote_write;
pub(crate) mod render;
pub(crate) mod streams;
pub(crate) mod web;
