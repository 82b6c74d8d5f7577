//! What keeps one query from taking the server: queries run on a runtime of their own, at a lower
//! CPU priority than ingest and the live engine; each has a time limit and a memory limit of its
//! own (inside a pool all queries share, spilling to disk under the data directory); and only so
//! many history queries run at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DataFusionError, Result, resources_datafusion_err};
use datafusion::execution::memory_pool::{
    FairSpillPool, MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation,
};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::coop::CooperativeExec;

/// Limits of queries run once (history, panels, exports), as `weir serve` is configured.
#[derive(Debug, Clone)]
pub struct QueryLimits {
    /// How long a query may run, waiting for its turn included; past it the query is stopped
    /// and its caller told so (422).
    pub timeout: Duration,
    /// Memory one query may hold. Sorts, aggregations and joins that can spill go to disk past
    /// it; what cannot spill ends the query (422).
    pub memory_per_query: usize,
    /// Memory all queries together may hold (a query that finds it full gets 503).
    pub memory_total: usize,
    /// History queries that run at once; more wait for a turn, up to `queue_wait`, then get
    /// 429.
    pub max_concurrent: usize,
    /// How long a history query waits for a turn (within its time limit). Long enough that a
    /// dashboard of many panels on a busy server loads more slowly rather than in pieces.
    pub queue_wait: Duration,
    /// Bytes of lake files' partial aggregates kept between queries (0: none, and aggregates
    /// read the lake as one scan).
    pub partial_cache_bytes: usize,
}

impl Default for QueryLimits {
    fn default() -> QueryLimits {
        QueryLimits {
            timeout: Duration::from_secs(60),
            memory_per_query: 1 << 30,
            memory_total: 2 << 30,
            max_concurrent: 4,
            queue_wait: Duration::from_secs(30),
            // A few KiB per hour-file and aggregate: a week of dashboards over many streams.
            partial_cache_bytes: 256 << 20,
        }
    }
}

/// Nice value of query threads: the scheduler gives a busy ingest thread (nice 0) about nine
/// times a query thread's share of a core, and an engine thread (nice 5) about three times.
pub(crate) const QUERY_NICENESS: i32 = 10;

/// Puts every operator of `plan` under the runtime's cooperative budget, so that a query's
/// tasks yield between batches: to other queries, and to an abort. DataFusion makes only its
/// scans yield, and an operator that works from what it has buffered (a cross join) would
/// otherwise run on for hours after its query was stopped.
pub(crate) fn yielding(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        if node.is::<CooperativeExec>() {
            return Ok(Transformed::no(node));
        }
        Ok(Transformed::yes(
            Arc::new(CooperativeExec::new(node)) as Arc<dyn ExecutionPlan>
        ))
    })
    .map(|transformed| transformed.data)
}

/// One query's memory: a pool of the query's own limit, shared fairly among its operators that
/// can spill (so that one of them cannot take it all and leave another unable to go on after
/// spilling), inside the pool all queries share. It remembers when the query's own limit
/// refused, so the query's error can say which limit it met.
#[derive(Debug)]
pub(crate) struct QueryPool {
    own: FairSpillPool,
    shared: Arc<dyn MemoryPool>,
    limit: usize,
    refused: AtomicBool,
}

impl QueryPool {
    pub(crate) fn new(shared: Arc<dyn MemoryPool>, limit: usize) -> QueryPool {
        QueryPool {
            own: FairSpillPool::new(limit),
            shared,
            limit,
            refused: AtomicBool::new(false),
        }
    }

    /// Whether the query asked for more than its own limit (not merely more than was free).
    pub(crate) fn refused(&self) -> bool {
        self.refused.load(Ordering::Relaxed)
    }
}

impl std::fmt::Display for QueryPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "query pool: {} in {}", self.own, self.shared)
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "query"
    }

    fn register(&self, consumer: &MemoryConsumer) {
        self.own.register(consumer);
        self.shared.register(consumer);
    }

    fn unregister(&self, consumer: &MemoryConsumer) {
        self.own.unregister(consumer);
        self.shared.unregister(consumer);
    }

    fn grow(&self, reservation: &MemoryReservation, additional: usize) {
        self.own.grow(reservation, additional);
        self.shared.grow(reservation, additional);
    }

    fn shrink(&self, reservation: &MemoryReservation, shrink: usize) {
        self.own.shrink(reservation, shrink);
        self.shared.shrink(reservation, shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> Result<()> {
        self.own.try_grow(reservation, additional).map_err(|_| {
            self.refused.store(true, Ordering::Relaxed);
            resources_datafusion_err!(
                "{} needs {} MiB more and the query holds {} MiB of its {} MiB",
                reservation.consumer().name(),
                mib(additional),
                mib(self.own.reserved()),
                mib(self.limit)
            )
        })?;
        self.shared
            .try_grow(reservation, additional)
            .inspect_err(|_| self.own.shrink(reservation, additional))
    }

    fn reserved(&self) -> usize {
        self.own.reserved()
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit)
    }
}

/// Bytes in MiB, rounded up, for messages.
pub(crate) fn mib(bytes: usize) -> usize {
    bytes.div_ceil(1 << 20)
}

/// Whether `err` (or what caused it) is DataFusion running out of memory.
pub(crate) fn out_of_memory(err: &DataFusionError) -> bool {
    matches!(err.find_root(), DataFusionError::ResourcesExhausted(_))
}

#[cfg(test)]
mod tests {
    use datafusion::execution::memory_pool::GreedyMemoryPool;

    use super::*;

    #[test]
    fn a_query_is_held_to_its_own_limit_inside_the_shared_pool() {
        let shared: Arc<dyn MemoryPool> = Arc::new(GreedyMemoryPool::new(100));
        let first = Arc::new(QueryPool::new(Arc::clone(&shared), 60)) as Arc<dyn MemoryPool>;
        let second = Arc::new(QueryPool::new(Arc::clone(&shared), 60));
        let a = MemoryConsumer::new("a").register(&first);
        let b = MemoryConsumer::new("b").register(&(Arc::clone(&second) as _));
        a.try_grow(50).unwrap();
        // Within the query's limit, but the shared pool has only 50 left.
        let err = b.try_grow(55).unwrap_err();
        assert!(out_of_memory(&err));
        assert!(
            !second.refused(),
            "the shared pool refused, not the query's limit"
        );
        assert_eq!(second.reserved(), 0, "a refusal takes nothing");
        b.try_grow(40).unwrap();
        // Past the query's own limit.
        let err = b.try_grow(30).unwrap_err();
        assert!(second.refused());
        assert!(err.to_string().contains("of its 1 MiB"), "{err}");
        assert_eq!(shared.reserved(), 90);
        drop(a);
        assert_eq!(shared.reserved(), 40);
        b.shrink(40);
        assert_eq!((shared.reserved(), second.reserved()), (0, 0));
    }
}
