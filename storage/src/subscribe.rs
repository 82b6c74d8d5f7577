//! Streaming reads: every event of a stream from an offset on, first those already stored, then
//! each as it becomes durable.

use std::sync::Arc;

use arrow::array::Array;
use arrow::record_batch::RecordBatch;
use tokio::sync::watch;

use datafusion::common::Column;
use datafusion::error::DataFusionError;
use datafusion::functions_aggregate::expr_fn::min;
use datafusion::logical_expr::{Expr, lit};
use datafusion::prelude::SessionContext;

use crate::error::Result;
use crate::stream::{Lag, Stream};
use crate::{Error, OFFSET_COLUMN, Offset, Snapshot};

/// Offsets read from the lake per call of [`Subscription::next`].
pub const LAKE_CHUNK: u64 = 65_536;

/// A position in a stream that moves forward as [`Subscription::next`] hands out events.
#[derive(Debug)]
pub struct Subscription {
    stream: Arc<Stream>,
    position: u64,
    published: watch::Receiver<u64>,
}

impl Subscription {
    pub(crate) fn new(stream: Arc<Stream>, from: Offset) -> Subscription {
        let published = stream.published();
        Subscription {
            stream,
            position: from.0,
            published,
        }
    }

    /// A handle that tells how far a reader is behind the stream, apart from the subscription
    /// (which its reader may be waiting on).
    pub fn progress(&self) -> Progress {
        Progress(Arc::clone(&self.stream))
    }

    /// The offset of the next event [`Subscription::next`] will hand out.
    pub fn position(&self) -> Offset {
        Offset(self.position)
    }

    /// The next events in offset order (at least one), waiting until some are durable. Events
    /// already tiered are read from the lake, [`LAKE_CHUNK`] offsets at a time; events removed by
    /// retention are skipped.
    pub async fn next(&mut self) -> Result<Vec<RecordBatch>> {
        loop {
            self.published.borrow_and_update();
            let snapshot = self.stream.snapshot();
            if self.position < snapshot.start().0 {
                let to = snapshot.start().0.min(self.position + LAKE_CHUNK);
                let (batches, next) = read_lake(snapshot, self.position, to).await?;
                self.position = next;
                if !batches.is_empty() {
                    return Ok(batches);
                }
                continue;
            }
            let batches = self.stream.read_from(self.position)?;
            if !batches.is_empty() {
                self.position += batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
                return Ok(batches);
            }
            // The sender lives as long as the stream, which this subscription keeps alive.
            let _ = self.published.changed().await;
        }
    }
}

/// Tells how far a reader of a stream is behind: see [`Subscription::progress`].
#[derive(Debug, Clone)]
pub struct Progress(Arc<Stream>);

impl Progress {
    /// How far a reader that has applied every event below `applied` is behind the stream's
    /// durable end.
    pub fn lag(&self, applied: Offset) -> Lag {
        self.0.behind(applied.0)
    }
}

/// Events `[from, to)` of the snapshot's lake, in offset order, and the position after them (past
/// any offsets retention removed).
async fn read_lake(mut snapshot: Snapshot, from: u64, to: u64) -> Result<(Vec<RecordBatch>, u64)> {
    snapshot.batches.clear();
    let hot_start = snapshot.start.0;
    let stream = snapshot.stream.clone();
    let query_error = |e: DataFusionError| Error::Lake {
        path: stream.as_str().into(),
        reason: e.to_string(),
    };
    let offset = || Expr::Column(Column::new_unqualified(OFFSET_COLUMN));
    let lake = SessionContext::new()
        .read_table(snapshot.into_table())
        .map_err(query_error)?;
    let batches = lake
        .clone()
        .filter(
            offset()
                .gt_eq(lit(from as i64))
                .and(offset().lt(lit(to as i64))),
        )
        .and_then(|frame| frame.sort(vec![offset().sort(true, false)]))
        .map_err(query_error)?
        .collect()
        .await
        .map_err(query_error)?;
    let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
    if !batches.is_empty() {
        let last = batches
            .last()
            .and_then(crate::wal::last_offset)
            .unwrap_or(to - 1);
        return Ok((batches, last + 1));
    }
    // Nothing in [from, to): retention removed it; go on from the next event still stored.
    let next = lake
        .filter(offset().gt_eq(lit(to as i64)))
        .and_then(|frame| frame.aggregate(vec![], vec![min(offset())]))
        .map_err(query_error)?
        .collect()
        .await
        .map_err(query_error)?;
    let next = next
        .first()
        .and_then(|b| {
            b.column(0)
                .as_any()
                .downcast_ref::<arrow::array::Int64Array>()
                .cloned()
        })
        .and_then(|a| (!a.is_null(0)).then(|| a.value(0) as u64))
        .unwrap_or(hot_start);
    Ok((Vec::new(), next.min(hot_start)))
}
