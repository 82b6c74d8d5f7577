//! One heap for a query's top k rows (`ORDER BY … LIMIT k`).
//!
//! DataFusion sorts each partition into its own top k and merges them: every partition must find
//! k rows of its own before its threshold (the dynamic filter the scan skips files and rows by)
//! tightens. A needle newest first (`WHERE user_id = … ORDER BY _time DESC LIMIT 100`), with the
//! lake's files dealt newest first to two partitions, then reads the files of twice the hours
//! that hold its 100 rows, and decodes the columns of twice the rows. With one heap fed by every
//! partition (each still scanned on its own task), the threshold tightens as soon as k rows have
//! arrived from any of them.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::config::ConfigOptions;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
use datafusion::physical_plan::{ExecutionPlan, replace_children_if_necessary};

/// Rewrites `SortPreservingMerge(fetch k) ← [projections ←] Sort(top k, per partition)` into
/// `[projections ←] Sort(top k) ← CoalescePartitions`. The sort keeps its dynamic filter, which
/// the optimizer has already pushed into the scans.
#[derive(Debug)]
pub(crate) struct OneHeapTopK;

impl PhysicalOptimizerRule for OneHeapTopK {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| {
            let Some(merge) = node.downcast_ref::<SortPreservingMergeExec>() else {
                return Ok(Transformed::no(node));
            };
            // Projections may sit between the merge and the sorts (the columns the query keeps).
            let mut projections = Vec::new();
            let mut below = merge.input();
            while let Some(projection) = below.downcast_ref::<ProjectionExec>() {
                projections.push(Arc::clone(below));
                below = projection.input();
            }
            let Some(sort) = below.downcast_ref::<SortExec>() else {
                return Ok(Transformed::no(node));
            };
            if sort.fetch().is_none()
                || merge.fetch() != sort.fetch()
                || !sort.preserve_partitioning()
            {
                return Ok(Transformed::no(node));
            }
            let input = Arc::clone(sort.input());
            let one = sort.clone().with_preserve_partitioning(false);
            let mut plan = replace_children_if_necessary(
                Arc::new(one),
                vec![Arc::new(CoalescePartitionsExec::new(input))],
            )?;
            for projection in projections.into_iter().rev() {
                plan = replace_children_if_necessary(projection, vec![plan])?;
            }
            Ok(Transformed::yes(plan))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "one_heap_top_k"
    }

    fn schema_check(&self) -> bool {
        true
    }
}
