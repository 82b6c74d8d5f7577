//! Compiling SQL into a continuous query: DataFusion plans it, and this module checks that the
//! plan has the one shape the engine keeps up to date event by event, then lowers each part to
//! DataFusion's physical pieces:
//!
//! ```text
//!   [Sort] → [Projection] → [Filter: HAVING] → Aggregate → [Filter: WHERE] → scan of one stream
//! ```
//!
//! The WHERE clause is split in two: a moving time range (`_time >= now() - INTERVAL '…'`),
//! which the engine slides with the clock, and the rest, a physical expression evaluated on each
//! batch. A `date_bin(INTERVAL '…', _time)` group key makes the query windowed by that bucket;
//! a moving range without one makes it a sliding aggregate kept as per-pane partial states.
//! Anything else is [`Unsupported`], with the part named.

use std::collections::BTreeSet;
use std::sync::Arc;

use arrow::datatypes::{DataType, SchemaRef, TimeUnit};
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{BinaryExpr, Expr, LogicalPlan, Operator as BinOp, SortExpr};
use datafusion::physical_expr::aggregate::{AggregateFunctionExpr, LoweredAggregateBuilder};
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};

use storage::TIME_COLUMN;

/// Aggregate functions the engine keeps incrementally: each has a bounded partial state that
/// merges (none keeps raw rows).
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "approx_distinct",
    "approx_percentile_cont",
];

/// Why a query cannot be kept incrementally; it is then re-queried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct Unsupported(pub(crate) String);

fn unsupported<T>(message: impl Into<String>) -> Result<T, Unsupported> {
    Err(Unsupported(message.into()))
}

/// How a continuous query's groups are split in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Window {
    /// No time window: each group holds every matching event.
    None,
    /// Grouped by a time bucket `date_bin(width, _time, origin)`: a pane is a bucket.
    Bucket { width: i64, origin: i64 },
    /// A moving range without a bucket: each group keeps one partial state per pane of `width`,
    /// and its result merges the panes in range.
    Sliding { width: i64 },
}

impl Window {
    /// The pane width and origin, in µs, when windowed.
    pub(crate) fn pane(self) -> Option<(i64, i64)> {
        match self {
            Window::None => None,
            Window::Bucket { width, origin } => Some((width, origin)),
            Window::Sliding { width } => Some((width, 0)),
        }
    }
}

/// A continuous query, compiled.
pub(crate) struct ContinuousPlan {
    /// The stream's table as planned (a snapshot, when planned against the store).
    pub(crate) table: Arc<dyn TableProvider>,
    /// The name of the stream.
    pub(crate) stream: String,
    /// The schema batches are adapted to before evaluation.
    pub(crate) input_schema: SchemaRef,
    /// The stream's columns the query reads (the rest are never looked at).
    pub(crate) columns: Vec<String>,
    /// The WHERE clause without the moving range, logical (for the backfill scan) and physical.
    pub(crate) filter: Option<Expr>,
    pub(crate) physical_filter: Option<Arc<dyn PhysicalExpr>>,
    /// `_time >= now() - range`, in µs.
    pub(crate) range: Option<i64>,
    pub(crate) window: Window,
    /// Group-by expressions, over the input schema.
    pub(crate) group_exprs: Vec<(Arc<dyn PhysicalExpr>, String)>,
    pub(crate) aggregates: Vec<Aggregate>,
    /// The aggregate's output: group columns, then one column per aggregate.
    pub(crate) aggregate_schema: SchemaRef,
    pub(crate) having: Option<Arc<dyn PhysicalExpr>>,
    /// The result's columns, over the aggregate's output.
    pub(crate) projection: Vec<Arc<dyn PhysicalExpr>>,
    pub(crate) output_schema: SchemaRef,
    /// The result columns that identify a row (computed from group-by columns alone); `None` when
    /// they do not cover every group-by column, and results are then sent whole.
    pub(crate) key: Option<Vec<usize>>,
    /// ORDER BY, as (result column, descending), for clients to order rows.
    pub(crate) order: Vec<(usize, bool)>,
}

/// One aggregate function of the query.
pub(crate) struct Aggregate {
    pub(crate) function: Arc<AggregateFunctionExpr>,
    /// Its FILTER (WHERE …) clause.
    pub(crate) filter: Option<Arc<dyn PhysicalExpr>>,
}

/// Compiles an analyzed logical plan.
pub(crate) fn compile(
    plan: &LogicalPlan,
    state: &SessionState,
) -> Result<ContinuousPlan, Unsupported> {
    let props = state.execution_props();
    let mut node = plan;
    let mut sorts: Vec<(Vec<SortExpr>, bool)> = Vec::new();
    let mut projection = None;
    let mut having = None;
    let aggregate = loop {
        match node {
            LogicalPlan::Sort(sort) => {
                if sort.fetch.is_some() {
                    return unsupported("LIMIT is not kept live");
                }
                // Walking down: a sort met before the projection is above it.
                sorts.push((sort.expr.clone(), projection.is_none()));
                node = &sort.input;
            }
            LogicalPlan::Limit(_) => return unsupported("LIMIT and OFFSET are not kept live"),
            LogicalPlan::Projection(p) if projection.is_none() => {
                projection = Some(p);
                node = &p.input;
            }
            LogicalPlan::Filter(f) if having.is_none() => {
                having = Some(f);
                node = &f.input;
            }
            LogicalPlan::Aggregate(aggregate) => break aggregate,
            LogicalPlan::Distinct(_) => return unsupported("SELECT DISTINCT is not kept live"),
            LogicalPlan::Window(_) => return unsupported("window functions are not kept live"),
            LogicalPlan::TableScan(_) | LogicalPlan::SubqueryAlias(_) => {
                return unsupported(
                    "only aggregations (GROUP BY or aggregate functions) are kept live",
                );
            }
            other => return unsupported(format!("{} is not kept live", node_name(other))),
        }
    };
    if having.is_some_and(|f| !matches!(*f.input, LogicalPlan::Aggregate(_))) {
        return unsupported("a filter above a subquery is not kept live");
    }

    // Below the aggregate: WHERE, then one stream.
    let mut node = aggregate.input.as_ref();
    let mut predicates = Vec::new();
    let scan = loop {
        match node {
            LogicalPlan::Filter(f) => {
                predicates.extend(split_conjunction(&f.predicate).into_iter().cloned());
                node = &f.input;
            }
            LogicalPlan::SubqueryAlias(a) => node = &a.input,
            LogicalPlan::TableScan(scan) => break scan,
            LogicalPlan::Join(_) => return unsupported("joins are not kept live"),
            LogicalPlan::Union(_) => return unsupported("UNION is not kept live"),
            LogicalPlan::Aggregate(_) => {
                return unsupported("an aggregation of an aggregation is not kept live");
            }
            other => return unsupported(format!("{} is not kept live", node_name(other))),
        }
    };
    let table_name = &scan.table_name;
    if table_name.schema().is_some_and(|s| s != "public") {
        return unsupported(format!(
            "{table_name} is not a stream: only streams are kept live"
        ));
    }
    let table = source_as_provider(&scan.source)
        .map_err(|e| Unsupported(format!("table {table_name}: {e}")))?;
    let input_schema: SchemaRef = table.schema();
    let input_df = aggregate.input.schema();
    let physical = |expr: &Expr, schema: &DFSchema| {
        create_physical_expr(expr, schema, props, &PhysicalPlanningContext::default())
            .map_err(|e| Unsupported(format!("cannot compile {expr}: {e}")))
    };
    if input_df.fields().len() != input_schema.fields().len() {
        return unsupported("a projection below the aggregation is not kept live");
    }

    // WHERE: the moving range, and the rest.
    let mut range = None;
    let mut statics = Vec::new();
    for predicate in predicates {
        if !uses_now(&predicate) {
            statics.push(predicate);
        } else if let Some(r) = moving_range(&predicate) {
            range = Some(range.map_or(r, |old: i64| old.min(r)));
        } else {
            return unsupported(format!(
                "now() is kept live only in `{TIME_COLUMN} >= now() - INTERVAL '…'` (found: {predicate})"
            ));
        }
    }
    let filter = conjunction(statics);
    let physical_filter = filter.as_ref().map(|f| physical(f, input_df)).transpose()?;

    // GROUP BY, and the time bucket among it.
    let mut group_exprs = Vec::new();
    let mut bucket = None;
    for (i, expr) in aggregate.group_expr.iter().enumerate() {
        if matches!(expr, Expr::GroupingSet(_)) {
            return unsupported("GROUPING SETS, CUBE and ROLLUP are not kept live");
        }
        if uses_now(expr) {
            return unsupported("now() in GROUP BY is not kept live");
        }
        if let Some(b) = time_bucket(expr)? {
            if bucket.is_some() {
                return unsupported("at most one time bucket (date_bin) is kept live");
            }
            bucket = Some(b);
        }
        let name = aggregate.schema.field(i).name().clone();
        group_exprs.push((physical(expr, input_df)?, name));
    }

    let mut aggregates = Vec::new();
    for expr in &aggregate.aggr_expr {
        let inner = match expr {
            Expr::Alias(alias) => alias.expr.as_ref(),
            other => other,
        };
        let Expr::AggregateFunction(function) = inner else {
            return unsupported(format!("{expr} is not kept live"));
        };
        let name = function.func.name();
        if !AGGREGATES.contains(&name) {
            return unsupported(format!(
                "{name}() is not kept live (supported: {})",
                AGGREGATES.join(", ")
            ));
        }
        if function.params.distinct {
            return unsupported(format!(
                "{name}(DISTINCT …) is not kept live: use approx_distinct(…)"
            ));
        }
        if uses_now(expr) {
            return unsupported("now() in an aggregate is not kept live");
        }
        let name = match expr {
            Expr::Alias(alias) => alias.name.clone(),
            other => other.schema_name().to_string(),
        };
        let lowered = LoweredAggregateBuilder::new(
            inner,
            input_df,
            &input_schema,
            props,
            &PhysicalPlanningContext::default(),
        )
        .with_name(name)
        .with_human_display(expr.human_display().to_string())
        .build()
        .map_err(|e| Unsupported(format!("cannot compile {expr}: {e}")))?;
        aggregates.push(Aggregate {
            function: lowered.aggregate,
            filter: lowered.filter,
        });
    }
    let aggregate_df = aggregate.schema.as_ref();
    let aggregate_schema: SchemaRef = Arc::new(aggregate_df.as_arrow().clone());

    let having = match having {
        Some(f) => {
            if uses_now(&f.predicate) {
                return unsupported("now() in HAVING is not kept live");
            }
            Some(physical(&f.predicate, aggregate_df)?)
        }
        None => None,
    };

    // The result's columns, and which of them identify a row.
    let n_groups = aggregate.group_expr.len();
    let (exprs, output_df): (Vec<Expr>, &DFSchema) = match projection {
        Some(p) => (p.expr.clone(), p.schema.as_ref()),
        None => (
            aggregate_df
                .columns()
                .into_iter()
                .map(Expr::Column)
                .collect(),
            aggregate_df,
        ),
    };
    let mut projected = Vec::new();
    let mut key = Vec::new();
    let mut covered = BTreeSet::new();
    for (i, expr) in exprs.iter().enumerate() {
        if uses_now(expr) {
            return unsupported("now() in the SELECT list is not kept live");
        }
        projected.push(physical(expr, aggregate_df)?);
        let mut refs = BTreeSet::new();
        for column in expr.column_refs() {
            refs.insert(aggregate_df.index_of_column(column).unwrap_or(usize::MAX));
        }
        if !refs.is_empty() && refs.iter().all(|&r| r < n_groups) {
            key.push(i);
            covered.extend(refs);
        }
    }
    let key = (covered.len() == n_groups).then_some(key);
    let output_schema: SchemaRef = Arc::new(output_df.as_arrow().clone());

    // ORDER BY, where it names a result column.
    let mut order = Vec::new();
    for (sort_exprs, above_projection) in sorts.iter().rev() {
        for sort in sort_exprs {
            let target = strip_alias(&sort.expr);
            let index = if *above_projection {
                match target {
                    Expr::Column(c) => output_df.index_of_column(c).ok(),
                    _ => None,
                }
            } else {
                // Below the projection: the result column computed by the same expression.
                exprs.iter().position(|e| strip_alias(e) == target)
            };
            if let Some(index) = index {
                order.push((index, !sort.asc));
            }
        }
    }

    let window = match (bucket, range) {
        (Some((width, origin)), _) => Window::Bucket { width, origin },
        (None, Some(range)) => Window::Sliding {
            width: sliding_pane(range),
        },
        (None, None) => Window::None,
    };
    if !matches!(
        input_schema
            .field_with_name(TIME_COLUMN)
            .map(|f| f.data_type()),
        Ok(DataType::Timestamp(TimeUnit::Microsecond, _))
    ) && window != Window::None
    {
        return unsupported(format!("{table_name} has no {TIME_COLUMN} column"));
    }

    let mut columns = BTreeSet::from([TIME_COLUMN.to_owned()]);
    let used = filter
        .iter()
        .chain(aggregate.group_expr.iter())
        .chain(aggregate.aggr_expr.iter());
    for expr in used {
        columns.extend(expr.column_refs().into_iter().map(|c| c.name.clone()));
    }
    let columns = columns
        .into_iter()
        .filter(|c| input_schema.index_of(c).is_ok())
        .collect();

    Ok(ContinuousPlan {
        table,
        stream: table_name.table().to_owned(),
        input_schema,
        columns,
        filter,
        physical_filter,
        range,
        window,
        group_exprs,
        aggregates,
        aggregate_schema,
        having,
        projection: projected,
        output_schema,
        key,
        order,
    })
}

fn strip_alias(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(alias) => strip_alias(&alias.expr),
        other => other,
    }
}

fn strip_casts(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast(c) => strip_casts(&c.expr),
        Expr::TryCast(c) => strip_casts(&c.expr),
        other => other,
    }
}

fn node_name(plan: &LogicalPlan) -> String {
    let text = plan.display().to_string();
    text.split(':').next().unwrap_or("this plan").to_owned()
}

fn is_now(expr: &Expr) -> bool {
    matches!(strip_casts(expr), Expr::ScalarFunction(f) if f.func.name() == "now")
}

fn uses_now(expr: &Expr) -> bool {
    let mut found = false;
    let _ = expr.apply(|e| {
        if is_now(e) {
            found = true;
            return Ok(TreeNodeRecursion::Stop);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    found
}

fn is_time_column(expr: &Expr) -> bool {
    matches!(strip_casts(expr), Expr::Column(Column { name, .. }) if name == TIME_COLUMN)
}

/// `_time >= now() - range` (or `>`, or mirrored), as the range in µs.
fn moving_range(expr: &Expr) -> Option<i64> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return None;
    };
    let (time, bound) = match op {
        BinOp::GtEq | BinOp::Gt => (left, right),
        BinOp::LtEq | BinOp::Lt => (right, left),
        _ => return None,
    };
    if !is_time_column(time) {
        return None;
    }
    match strip_casts(bound) {
        e if is_now(e) => Some(0),
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: BinOp::Minus,
            right,
        }) if is_now(left) => interval_micros(right).filter(|r| *r >= 0),
        _ => None,
    }
}

/// A fixed-length interval literal, in µs (months have no fixed length).
fn interval_micros(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = strip_casts(expr) else {
        return None;
    };
    match value {
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
            Some(v.days as i64 * 86_400_000_000 + v.nanoseconds / 1_000)
        }
        ScalarValue::IntervalDayTime(Some(v)) => {
            Some(v.days as i64 * 86_400_000_000 + v.milliseconds as i64 * 1_000)
        }
        ScalarValue::DurationMicrosecond(Some(v)) => Some(*v),
        ScalarValue::DurationMillisecond(Some(v)) => Some(v * 1_000),
        ScalarValue::DurationSecond(Some(v)) => Some(v * 1_000_000),
        ScalarValue::DurationNanosecond(Some(v)) => Some(v / 1_000),
        _ => None,
    }
}

/// If `expr` is a time bucket (`date_bin(INTERVAL, _time[, origin])`, possibly inside functions
/// of it alone, such as `to_unixtime(date_bin(…))`), its width and origin in µs.
fn time_bucket(expr: &Expr) -> Result<Option<(i64, i64)>, Unsupported> {
    let mut bins = Vec::new();
    let _ = expr.apply(|e| {
        if let Expr::ScalarFunction(f) = e
            && f.func.name() == "date_bin"
        {
            bins.push(f.args.clone());
            return Ok(TreeNodeRecursion::Jump);
        }
        Ok(TreeNodeRecursion::Continue)
    });
    let Some(args) = bins.first() else {
        return Ok(None);
    };
    let only_time = expr.column_refs().iter().all(|c| c.name == TIME_COLUMN);
    if bins.len() > 1 || !only_time || args.len() < 2 || !is_time_column(&args[1]) {
        return unsupported(format!(
            "a time bucket is kept live as date_bin(INTERVAL '…', {TIME_COLUMN}) (found: {expr})"
        ));
    }
    let Some(width) = interval_micros(&args[0]).filter(|w| *w > 0) else {
        return unsupported(format!(
            "date_bin's width must be a fixed interval such as INTERVAL '10 seconds' (found: {})",
            args[0]
        ));
    };
    let origin = match args.get(2).map(strip_casts) {
        None => 0,
        Some(Expr::Literal(value, _)) => match value {
            ScalarValue::TimestampMicrosecond(Some(v), _) => *v,
            ScalarValue::TimestampNanosecond(Some(v), _) => v.div_euclid(1_000),
            ScalarValue::TimestampMillisecond(Some(v), _) => v * 1_000,
            ScalarValue::TimestampSecond(Some(v), _) => v * 1_000_000,
            _ => return unsupported("date_bin's origin must be a timestamp literal"),
        },
        Some(_) => return unsupported("date_bin's origin must be a timestamp literal"),
    };
    Ok(Some((width, origin)))
}

/// The pane of a sliding aggregate over `range`: a round width giving at most 60 panes.
pub(crate) fn sliding_pane(range: i64) -> i64 {
    const NICE: &[i64] = &[
        1_000,
        10_000,
        100_000,
        1_000_000,
        2_000_000,
        5_000_000,
        10_000_000,
        15_000_000,
        30_000_000,
        60_000_000,
        120_000_000,
        300_000_000,
        600_000_000,
        900_000_000,
        1_800_000_000,
        3_600_000_000,
        7_200_000_000,
        21_600_000_000,
        43_200_000_000,
        86_400_000_000,
    ];
    NICE.iter()
        .copied()
        .find(|&w| (range + w - 1) / w <= 60)
        .unwrap_or(86_400_000_000)
}
