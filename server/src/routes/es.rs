//! The Elasticsearch API subset log shippers use, under `/api/v1/es`: `POST|PUT /_bulk` and
//! `/{index}/_bulk` (documents into the streams their indices name), and the probes they make
//! before sending (`GET /`, `/_license`, `/_xpack`, `/_cluster/health`). Every reply carries
//! `X-Elastic-Product: Elasticsearch`, which Elastic's clients check.
//!
//! The bulk reply has Elasticsearch's shape: `took`, `errors`, and per item `status` (201, or
//! the error's) with `error.type` and `error.reason`. Shippers retry the items answered 429 or
//! 503 and drop the others.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use protocol::ErrorKind;
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::json;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::ingest::es_bulk::{self, ItemError, ItemResult};
use crate::ingest::{self, append_events};
use crate::metrics::Protocol;
use crate::state::AppState;

/// The Elasticsearch version Weir answers as: shippers pick their API by its major.
const VERSION: &str = "8.17.0";

fn product(mut response: Response) -> Response {
    response.headers_mut().insert(
        HeaderName::from_static("x-elastic-product"),
        HeaderValue::from_static("Elasticsearch"),
    );
    response
}

/// `GET /api/v1/es/`: who answers, and as which version.
pub(crate) async fn info() -> Response {
    product(
        Json(json!({
            "name": "weir",
            "cluster_name": "weir",
            "cluster_uuid": "weir",
            "version": {
                "number": VERSION,
                "build_flavor": "default",
                "build_type": "weir",
                "lucene_version": "9.12.0",
                "minimum_wire_compatibility_version": "7.17.0",
                "minimum_index_compatibility_version": "7.0.0"
            },
            "tagline": "You Know, for Search"
        }))
        .into_response(),
    )
}

/// `GET /api/v1/es/_license`: Beats check that a licence is active.
pub(crate) async fn license() -> Response {
    product(
        Json(json!({
            "license": {"status": "active", "uid": "weir", "type": "basic", "mode": "basic"}
        }))
        .into_response(),
    )
}

/// `GET /api/v1/es/_xpack`: no X-Pack features.
pub(crate) async fn xpack() -> Response {
    product(
        Json(json!({
            "build": {},
            "license": {"status": "active", "uid": "weir", "type": "basic", "mode": "basic"},
            "features": {}
        }))
        .into_response(),
    )
}

/// `GET /api/v1/es/_cluster/health`: Vector's health check.
pub(crate) async fn health() -> Response {
    product(
        Json(json!({"cluster_name": "weir", "status": "green", "timed_out": false}))
            .into_response(),
    )
}

pub(crate) async fn bulk(
    state: State<AppState>,
    caller: Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(state, caller, None, body).await
}

pub(crate) async fn bulk_into(
    state: State<AppState>,
    caller: Extension<Caller>,
    Path(index): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    run(state, caller, Some(index), body).await
}

async fn run(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    index: Option<String>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let response = product(reply(append(&state, caller, index, body).await, started));
    state
        .metrics
        .request(Protocol::EsBulk, response.status().as_u16());
    response
}

fn reply(appended: Result<Vec<es_bulk::Item>, ApiError>, started: Instant) -> Response {
    match appended {
        Ok(items) => Json(Reply {
            took: started.elapsed().as_millis() as u64,
            errors: items
                .iter()
                .any(|item| matches!(item.result, ItemResult::Failed(_))),
            items: items.iter().map(ItemReply).collect(),
        })
        .into_response(),
        Err(err) => {
            // Elasticsearch's error shape, with Weir's message.
            let status = err.status();
            let retry = status == StatusCode::TOO_MANY_REQUESTS
                || status == StatusCode::SERVICE_UNAVAILABLE;
            let message = err.into_inner().message;
            let mut response = (
                status,
                Json(json!({
                    "error": {"type": error_type(status), "reason": message},
                    "status": status.as_u16(),
                })),
            )
                .into_response();
            if retry {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from_static("1"));
            }
            response
        }
    }
}

fn error_type(status: StatusCode) -> &'static str {
    match status {
        StatusCode::TOO_MANY_REQUESTS => "es_rejected_execution_exception",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable_shards_exception",
        StatusCode::PAYLOAD_TOO_LARGE => "content_too_long_exception",
        s if s.is_server_error() => "exception",
        _ => "illegal_argument_exception",
    }
}

/// Decodes the body and appends each stream's documents; the items, settled, in order.
async fn append(
    state: &AppState,
    caller: Caller,
    index: Option<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Vec<es_bulk::Item>, ApiError> {
    let body = body?;
    let bytes = body.len();
    let (items, appended) = super::ingest::blocking(state, move |store| {
        let mut bulk = es_bulk::decode(&body, index.as_deref(), storage::now_micros())
            .map_err(|e| ApiError::new(ErrorKind::BadRequest, e.to_string()))?;
        let n_items = bulk.items.len().max(1);
        let mut appended = Vec::new();
        for (at, (stream, events)) in std::mem::take(&mut bulk.streams).into_iter().enumerate() {
            let lines: Vec<usize> = events.iter().map(|e| e.line).collect();
            if let Err(reason) = caller.may_write(stream.as_str()) {
                for &line in &lines {
                    bulk.items[line - 1].result =
                        ItemResult::Failed(ItemError::new(403, "security_exception", &reason));
                }
                continue;
            }
            // The body's bytes, shared among its streams by their documents.
            let share = bytes * lines.len() / n_items;
            let outcome = append_events(store, &stream, events, Vec::new());
            if let Ok(outcome) = &outcome {
                appended.push((stream.clone(), share, outcome.clone()));
            }
            resolve(&mut bulk.items, at, &stream, &lines, outcome);
        }
        Ok::<_, ApiError>((bulk.items, appended))
    })
    .await?;
    for (stream, share, outcome) in &appended {
        state
            .metrics
            .ingested(Protocol::EsBulk, stream, *share, outcome);
    }
    Ok(items)
}

/// Settles the items of one stream's append: created (with the offset as id when the request
/// gave none), refused with the store's reason, or failed with the append's error.
fn resolve(
    items: &mut [es_bulk::Item],
    at: usize,
    stream: &storage::StreamName,
    lines: &[usize],
    outcome: Result<ingest::Outcome, ingest::Error>,
) {
    match outcome {
        Ok(outcome) => {
            let mut rejected = outcome.rejected.iter().peekable();
            let mut offset = outcome.offsets.map(|(first, _)| first.0);
            for &line in lines {
                let item = &mut items[line - 1];
                debug_assert!(matches!(item.result, ItemResult::Pending(p) if p == at));
                if rejected.peek().is_some_and(|r| r.line == line) {
                    let reason = rejected.next().map(|r| r.error.clone()).unwrap_or_default();
                    item.result = ItemResult::Failed(ItemError::new(
                        400,
                        "document_parsing_exception",
                        reason,
                    ));
                    continue;
                }
                let id = item.id.clone().unwrap_or_else(|| match offset {
                    Some(o) => format!("{stream}-{o}"),
                    None => stream.to_string(),
                });
                offset = offset.map(|o| o + 1);
                item.result = ItemResult::Created { id };
            }
        }
        Err(err) => {
            let err = ApiError::from(err);
            let status = err.status();
            let reason = err.into_inner().message;
            for &line in lines {
                items[line - 1].result = ItemResult::Failed(ItemError::new(
                    status.as_u16(),
                    error_type(status),
                    &reason,
                ));
            }
        }
    }
}

/// The bulk reply. Typed rather than built as `serde_json::Value`s: a reply has an entry per
/// document, and building a map for each cost more than the documents' decoding.
#[derive(Serialize)]
struct Reply<'a> {
    took: u64,
    errors: bool,
    items: Vec<ItemReply<'a>>,
}

/// One item's entry in the reply: `{"index": {"_index", "_id", "status", …}}`.
struct ItemReply<'a>(&'a es_bulk::Item);

#[derive(Serialize)]
struct ItemBody<'a> {
    _index: &'a str,
    _id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    _version: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    _shards: Option<Shards>,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ItemError>,
}

#[derive(Serialize)]
struct Shards {
    total: u32,
    successful: u32,
    failed: u32,
}

/// Every stream's append settles its items: a pending one is not reached.
static NOT_WRITTEN: std::sync::LazyLock<ItemError> =
    std::sync::LazyLock::new(|| ItemError::new(500, "exception", "not written"));

impl<'a> Serialize for ItemReply<'a> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let item = self.0;
        let failed = |error: &'a ItemError| ItemBody {
            _index: &item.index,
            _id: item.id.as_deref(),
            _version: None,
            result: None,
            _shards: None,
            status: error.status,
            error: Some(error),
        };
        let body = match &item.result {
            ItemResult::Created { id } => ItemBody {
                _index: &item.index,
                _id: Some(id),
                _version: Some(1),
                result: Some("created"),
                _shards: Some(Shards {
                    total: 1,
                    successful: 1,
                    failed: 0,
                }),
                status: 201,
                error: None,
            },
            ItemResult::Failed(error) => failed(error),
            ItemResult::Pending(_) => failed(&NOT_WRITTEN),
        };
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(item.action, &body)?;
        map.end()
    }
}
