//! Partial aggregates of lake files, kept between queries.
//!
//! A lake file never changes: a later tiering or a compaction writes new files and the snapshot
//! stops naming the old ones. So the partial aggregate a query computes over one file (its
//! groups and their accumulators' states, before the final merge) is the same the next time a
//! query with the same aggregate, filters and columns reads that file. A week-long `GROUP BY`
//! then merges 168 small states per hour-file instead of reading 50M rows again.
//!
//! ```text
//!   AggregateExec Partial                  UnionExec
//!     (Filter | Projection)*       ─►        PartialsExec: per lake file, its cached states
//!       UnionExec                              (or the partial aggregate over that file alone)
//!         DataSourceExec (lake)              AggregateExec Partial
//!         DataSourceExec (hot)                 (Filter | Projection)*
//!                                                DataSourceExec (hot)
//! ```
//!
//! The key of a file's states is the display of the plan that computes them, which names the
//! file, the columns read, the scan's predicate, every filter and projection above it and the
//! aggregate (its groups, aggregates and their filters), with the table's schema. A plan with
//! a volatile expression (`random()`) or a dynamic filter (whose bound depends on other files)
//! is left as it is. A condition on `_time` that every row of a file meets (its `_time` bounds lie
//! inside the query's range) is dropped from that file's plan, so the file's states are the same
//! for every range that covers it: "the last 24 hours" asked a minute later reads only the files
//! at its ends. States larger than an eighth of the file's bytes are not kept (an exact
//! percentile keeps every value): they would cost more memory than they save reading.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use datafusion::common::ScalarValue;
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::ParquetSource;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfig, FileScanConfigBuilder};
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::Result;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, Literal, lit};
use datafusion::physical_expr::{
    DynamicFilterTracking, EquivalenceProperties, Partitioning, PhysicalExpr,
};
use datafusion::physical_expr_common::physical_expr::is_volatile;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::execution_plan::{
    Boundedness, EmissionType, replace_children_if_necessary,
};
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::metrics::{ExecutionPlanMetricsSet, MetricBuilder, MetricsSet};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, InputOrderMode, PlanProperties,
    SendableRecordBatchStream, displayable,
};
use futures::{StreamExt, TryStreamExt};

/// The partial aggregates of lake files, least recently used first out once they take more
/// than their budget of bytes.
#[derive(Debug)]
pub(crate) struct PartialCache {
    budget: usize,
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    map: HashMap<String, Entry>,
    bytes: usize,
    clock: u64,
}

#[derive(Debug)]
struct Entry {
    batches: Vec<RecordBatch>,
    bytes: usize,
    used: u64,
}

impl PartialCache {
    /// A cache that holds at most `budget` bytes of states.
    pub(crate) fn new(budget: usize) -> PartialCache {
        PartialCache {
            budget,
            entries: Mutex::default(),
        }
    }

    fn get(&self, key: &str) -> Option<Vec<RecordBatch>> {
        let mut entries = self.entries.lock().expect("poisoned");
        entries.clock += 1;
        let clock = entries.clock;
        let entry = entries.map.get_mut(key)?;
        entry.used = clock;
        Some(entry.batches.clone())
    }

    fn insert(&self, key: String, batches: Vec<RecordBatch>, bytes: usize) {
        if bytes > self.budget {
            return;
        }
        let mut entries = self.entries.lock().expect("poisoned");
        entries.clock += 1;
        let used = entries.clock;
        if let Some(old) = entries.map.insert(
            key,
            Entry {
                batches,
                bytes,
                used,
            },
        ) {
            entries.bytes -= old.bytes;
        }
        entries.bytes += bytes;
        while entries.bytes > self.budget {
            let Some(oldest) = entries
                .map
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            let gone = entries.map.remove(&oldest).expect("just found");
            entries.bytes -= gone.bytes;
        }
    }

    /// How many files' states and how many bytes the cache holds.
    #[cfg(test)]
    pub(crate) fn usage(&self) -> (usize, usize) {
        let entries = self.entries.lock().expect("poisoned");
        (entries.map.len(), entries.bytes)
    }
}

/// The physical optimizer rule that reads lake files' partial aggregates through a
/// [`PartialCache`]. It runs last, on the plan every other rule has shaped.
#[derive(Debug)]
pub(crate) struct CachePartials {
    pub(crate) cache: Arc<PartialCache>,
}

impl PhysicalOptimizerRule for CachePartials {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_down(|node| match self.rewrite(&node)? {
            Some(new) => Ok(Transformed::new(new, true, TreeNodeRecursion::Jump)),
            None => Ok(Transformed::no(node)),
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "cache_partials"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

impl CachePartials {
    /// The plan that reads `agg`'s lake files through the cache, if `agg` is a partial
    /// aggregate over a stream's scan whose states can be kept.
    fn rewrite(&self, node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(agg) = node.downcast_ref::<AggregateExec>() else {
            return Ok(None);
        };
        if *agg.mode() != AggregateMode::Partial
            || *agg.input_order_mode() != InputOrderMode::Linear
            || !node.dynamic_expressions_produced().is_empty()
            || matches!(
                agg.properties().output_partitioning(),
                Partitioning::Hash(..)
            )
            || !cacheable(node.as_ref())?
        {
            return Ok(None);
        }
        // The stateless operators between the aggregate and the scans' union, top down.
        let mut chain: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        let mut below = Arc::clone(agg.input());
        while below.downcast_ref::<UnionExec>().is_none() {
            let stateless = below.downcast_ref::<FilterExec>().is_some()
                || below.downcast_ref::<ProjectionExec>().is_some()
                || below.downcast_ref::<RepartitionExec>().is_some_and(|r| {
                    matches!(r.partitioning(), Partitioning::RoundRobinBatch(_))
                        && !r.preserve_order()
                });
            if !stateless || below.children().len() != 1 || !cacheable(below.as_ref())? {
                return Ok(None);
            }
            chain.push(Arc::clone(&below));
            below = Arc::clone(below.children()[0]);
        }
        // The chain over one file's scan, its filters' conditions that the file's `_time`
        // bounds meet dropped (those below any projection, where `_time` is the column).
        let over_chain = |input: Arc<dyn ExecutionPlan>,
                          bounds: Option<(i64, i64)>|
         -> Result<Arc<dyn ExecutionPlan>> {
            let mut plan = input;
            let mut projected = false;
            for node in chain.iter().rev() {
                projected |= node.downcast_ref::<ProjectionExec>().is_some();
                plan = match (node.downcast_ref::<FilterExec>(), bounds) {
                    (Some(filter), Some(bounds)) if !projected => Arc::new(
                        FilterExecBuilder::from(filter)
                            .with_predicate(within(filter.predicate(), bounds))
                            .with_input(plan)
                            .build()?,
                    ),
                    _ => replace_children_if_necessary(Arc::clone(node), vec![plan])?,
                };
            }
            Ok(plan)
        };
        let over = |input: Arc<dyn ExecutionPlan>,
                    bounds: Option<(i64, i64)>|
         -> Result<Arc<dyn ExecutionPlan>> {
            replace_children_if_necessary(Arc::clone(node), vec![over_chain(input, bounds)?])
        };
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        let mut cached_any = false;
        for child in below.children() {
            match lake_scan(child)? {
                Some(config) => {
                    let schema = format!("{:?}", config.file_schema());
                    let mut files = Vec::new();
                    for file in config.file_groups.iter().flat_map(|g| g.files()) {
                        let bounds = time_bounds(file, &config);
                        let mut scan = FileScanConfigBuilder::from(config.clone())
                            .with_file_groups(vec![FileGroup::new(vec![file.clone()])]);
                        let source = config.file_source().downcast_ref::<ParquetSource>();
                        if let (Some(source), Some(predicate), Some(bounds)) =
                            (source, config.file_source().filter(), bounds)
                        {
                            let narrowed = source.with_predicate(within(&predicate, bounds));
                            scan = scan.with_source(Arc::new(narrowed));
                        }
                        let scan = scan.build();
                        let mut plan =
                            over(DataSourceExec::from_data_source(scan.clone()), bounds)?;
                        // The key names the plan that gives these states, however computed.
                        let key = format!("{}\n{schema}", displayable(plan.as_ref()).indent(true));
                        let predicate = scan.file_source().filter();
                        if let Some(column) = keyed::key_column(agg, &chain, predicate.as_ref())
                            && let Some(keys) = keyed::dictionary_scan(&scan, file, &column)?
                            && let Some(keyed) = keyed::KeyedPartialExec::new(
                                Arc::clone(node),
                                over_chain(keys, bounds)?,
                                &column,
                            )
                        {
                            plan = Arc::new(keyed);
                        }
                        files.push(FilePartial {
                            key,
                            plan,
                            bytes: file.object_meta.size,
                        });
                    }
                    let partitions = config.file_groups.len().max(1);
                    inputs.push(Arc::new(PartialsExec::new(
                        agg.schema(),
                        files,
                        partitions,
                        Arc::clone(&self.cache),
                    )));
                    cached_any = true;
                }
                None => inputs.push(over(Arc::clone(child), None)?),
            }
        }
        if !cached_any {
            return Ok(None);
        }
        if inputs.len() == 1 {
            return Ok(inputs.pop());
        }
        UnionExec::try_new(inputs).map(Some)
    }
}

/// Whether `plan`'s own expressions give the same result every time over the same rows.
fn cacheable(plan: &dyn ExecutionPlan) -> Result<bool> {
    let mut ok = true;
    plan.apply_expressions(&mut |expr: &Arc<dyn PhysicalExpr>| {
        if is_volatile(expr) || DynamicFilterTracking::classify(expr).contains_dynamic_filter() {
            ok = false;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(ok)
}

/// The configuration of `plan` if it scans lake files, with no limit and fixed expressions.
fn lake_scan(plan: &Arc<dyn ExecutionPlan>) -> Result<Option<FileScanConfig>> {
    let Some(scan) = plan.downcast_ref::<DataSourceExec>() else {
        return Ok(None);
    };
    let Some(config) = scan.data_source().downcast_ref::<FileScanConfig>() else {
        return Ok(None);
    };
    if config.limit.is_some() || !cacheable(plan.as_ref())? {
        return Ok(None);
    }
    Ok(Some(config.clone()))
}

/// The `_time` bounds of a lake file, µs, from the statistics the snapshot gives it.
fn time_bounds(file: &PartitionedFile, config: &FileScanConfig) -> Option<(i64, i64)> {
    let idx = config.file_schema().index_of(storage::TIME_COLUMN).ok()?;
    let column = file.statistics.as_ref()?.column_statistics.get(idx)?;
    let micros = |bound: &Precision<ScalarValue>| match bound {
        Precision::Exact(ScalarValue::TimestampMicrosecond(Some(v), _)) => Some(*v),
        _ => None,
    };
    Some((micros(&column.min_value)?, micros(&column.max_value)?))
}

/// `predicate` without the conditions on `_time` that every instant of `[min, max]` meets
/// (`true` if none is left). `_time` has no nulls.
fn within(predicate: &Arc<dyn PhysicalExpr>, bounds: (i64, i64)) -> Arc<dyn PhysicalExpr> {
    let Some(binary) = predicate.downcast_ref::<BinaryExpr>() else {
        return Arc::clone(predicate);
    };
    if *binary.op() == Operator::And {
        let (left, right) = (
            within(binary.left(), bounds),
            within(binary.right(), bounds),
        );
        let always = |e: &Arc<dyn PhysicalExpr>| {
            e.downcast_ref::<Literal>()
                .is_some_and(|l| l.value() == &ScalarValue::Boolean(Some(true)))
        };
        return match (always(&left), always(&right)) {
            (true, _) => right,
            (_, true) => left,
            _ if Arc::ptr_eq(&left, binary.left()) && Arc::ptr_eq(&right, binary.right()) => {
                Arc::clone(predicate)
            }
            _ => Arc::new(BinaryExpr::new(left, Operator::And, right)),
        };
    }
    let time = |e: &Arc<dyn PhysicalExpr>| {
        e.downcast_ref::<Column>()
            .is_some_and(|c| c.name() == storage::TIME_COLUMN)
    };
    let instant = |e: &Arc<dyn PhysicalExpr>| match e.downcast_ref::<Literal>()?.value() {
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(*v),
        _ => None,
    };
    let (op, value) = if time(binary.left()) {
        (Some(*binary.op()), instant(binary.right()))
    } else if time(binary.right()) {
        (binary.op().swap(), instant(binary.left()))
    } else {
        (None, None)
    };
    let (min, max) = bounds;
    let holds = match (op, value) {
        (Some(Operator::Gt), Some(v)) => min > v,
        (Some(Operator::GtEq), Some(v)) => min >= v,
        (Some(Operator::Lt), Some(v)) => max < v,
        (Some(Operator::LtEq), Some(v)) => max <= v,
        _ => false,
    };
    if holds {
        lit(true)
    } else {
        Arc::clone(predicate)
    }
}

/// One lake file's partial aggregate: the key of its states and the plan computing them.
#[derive(Debug, Clone)]
struct FilePartial {
    key: String,
    plan: Arc<dyn ExecutionPlan>,
    bytes: u64,
}

/// The partial aggregates of a set of lake files, from the cache where it has them; each
/// partition goes through its share of the files one after another.
#[derive(Debug)]
pub(crate) struct PartialsExec {
    schema: SchemaRef,
    partitions: Vec<Vec<FilePartial>>,
    cache: Arc<PartialCache>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl PartialsExec {
    fn new(
        schema: SchemaRef,
        files: Vec<FilePartial>,
        partitions: usize,
        cache: Arc<PartialCache>,
    ) -> PartialsExec {
        let mut shares = vec![Vec::new(); partitions];
        for (idx, file) in files.into_iter().enumerate() {
            shares[idx % partitions].push(file);
        }
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&schema)),
            Partitioning::UnknownPartitioning(partitions),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        PartialsExec {
            schema,
            partitions: shares,
            cache,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }

    /// The plans that compute each file's states (those found in the cache are not run).
    pub(crate) fn file_plans(&self) -> impl Iterator<Item = &Arc<dyn ExecutionPlan>> {
        self.partitions.iter().flatten().map(|f| &f.plan)
    }
}

impl DisplayAs for PartialsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let files: usize = self.partitions.iter().map(Vec::len).sum();
        write!(f, "PartialsExec: files={files}")?;
        if let Some(first) = self.partitions.iter().flatten().next() {
            // The per-file plan's aggregate line says what is computed.
            let plan = displayable(first.plan.as_ref()).one_line().to_string();
            write!(f, ", each={}", plan.trim())?;
        }
        Ok(())
    }
}

impl ExecutionPlan for PartialsExec {
    fn name(&self) -> &str {
        "PartialsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        Vec::new()
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let files = self.partitions.get(partition).cloned().unwrap_or_default();
        let cache = Arc::clone(&self.cache);
        let hits = MetricBuilder::new(&self.metrics).counter("cached_files", partition);
        let misses = MetricBuilder::new(&self.metrics).counter("computed_files", partition);
        let stream = futures::stream::iter(files)
            .then(move |file| {
                let (cache, context) = (Arc::clone(&cache), Arc::clone(&context));
                let (hits, misses) = (hits.clone(), misses.clone());
                async move {
                    if let Some(batches) = cache.get(&file.key) {
                        hits.add(1);
                        return Ok::<_, datafusion::error::DataFusionError>(batches);
                    }
                    misses.add(1);
                    let batches = datafusion::physical_plan::collect(file.plan, context).await?;
                    let bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
                    if bytes as u64 <= (file.bytes / 8).max(64 << 10) {
                        cache.insert(file.key, batches.clone(), bytes);
                    }
                    Ok(batches)
                }
            })
            .map_ok(|batches| futures::stream::iter(batches.into_iter().map(Ok)))
            .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            stream.boxed(),
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }
}

mod keyed;
#[cfg(test)]
mod tests;
