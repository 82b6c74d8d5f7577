//! Streaming reads: every event of a stream from an offset on, first those already stored, then
//! each as it becomes durable.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use tokio::sync::watch;

use crate::Offset;
use crate::error::Result;
use crate::stream::Stream;

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

    /// The offset of the next event [`Subscription::next`] will hand out.
    pub fn position(&self) -> Offset {
        Offset(self.position)
    }

    /// The next events in offset order (at least one), waiting until some are durable.
    pub async fn next(&mut self) -> Result<Vec<RecordBatch>> {
        loop {
            self.published.borrow_and_update();
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
