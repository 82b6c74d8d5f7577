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
use datafusion::common::DFSchema;
use datafusion::datasource::source_as_provider;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::execution_props::ExecutionProps;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{Expr, Filter, LogicalPlan, Projection, SortExpr, TableScan};
use datafusion::physical_expr::aggregate::{AggregateFunctionExpr, LoweredAggregateBuilder};
use datafusion::physical_expr::{PhysicalExpr, create_physical_expr};

use protocol::live::{Direction, Order, Shape};
use storage::TIME_COLUMN;

use self::time::uses_now;
use crate::query::format;

mod time;

#[cfg(test)]
pub(crate) use time::sliding_pane;
pub(crate) use time::time_bucket;

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
    /// The result's columns; which of them identify a row (those computed from group-by columns
    /// alone; `None` when they do not cover every group-by column, and results are then sent
    /// whole); and ORDER BY, for clients to order rows.
    pub(crate) shape: Shape,
}

/// One aggregate function of the query.
pub(crate) struct Aggregate {
    pub(crate) function: Arc<AggregateFunctionExpr>,
    /// Its FILTER (WHERE …) clause.
    pub(crate) filter: Option<Arc<dyn PhysicalExpr>>,
}

/// Compiles an analyzed logical plan, clause by clause.
pub(crate) fn compile(
    plan: &LogicalPlan,
    state: &SessionState,
) -> Result<ContinuousPlan, Unsupported> {
    let top = above_aggregate(plan)?;
    let aggregate = top.aggregate;
    let (scan, predicates) = below_aggregate(&aggregate.input)?;
    let table_name = &scan.table_name;
    if table_name.schema().is_some_and(|s| s != "public") {
        return unsupported(format!(
            "{table_name} is not a stream: only streams are kept live"
        ));
    }
    let table = source_as_provider(&scan.source)
        .map_err(|e| Unsupported(format!("table {table_name}: {e}")))?;
    let input_schema: SchemaRef = table.schema();
    let lower = Lower {
        props: state.execution_props(),
    };
    let input_df = aggregate.input.schema();
    if input_df.fields().len() != input_schema.fields().len() {
        return unsupported("a projection below the aggregation is not kept live");
    }
    let (range, filter) = where_clause(predicates)?;
    let physical_filter = filter
        .as_ref()
        .map(|f| lower.expr(f, input_df))
        .transpose()?;
    let (group_exprs, bucket) = group_by(aggregate, &lower)?;
    let aggregates = aggregates(aggregate, &input_schema, &lower)?;
    let aggregate_df = aggregate.schema.as_ref();
    let aggregate_schema: SchemaRef = Arc::new(aggregate_df.as_arrow().clone());
    let having = match top.having {
        Some(f) => {
            if uses_now(&f.predicate) {
                return unsupported("now() in HAVING is not kept live");
            }
            Some(lower.expr(&f.predicate, aggregate_df)?)
        }
        None => None,
    };
    let select = select_list(top.projection, aggregate, &lower)?;
    let order = order_by(&top.sorts, &select);
    let output_schema: SchemaRef = Arc::new(select.schema.as_arrow().clone());
    let window = window(bucket, range, &input_schema, &table_name.to_string())?;
    let columns = columns_read(filter.as_ref(), aggregate, &input_schema);
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
        projection: select.physical,
        shape: Shape {
            columns: format::columns(&output_schema),
            key: select.key,
            order,
        },
        output_schema,
    })
}

/// Lowers logical expressions to physical ones, in the session's context.
struct Lower<'a> {
    props: &'a ExecutionProps,
}

impl Lower<'_> {
    fn expr(&self, expr: &Expr, schema: &DFSchema) -> Result<Arc<dyn PhysicalExpr>, Unsupported> {
        create_physical_expr(
            expr,
            schema,
            self.props,
            &PhysicalPlanningContext::default(),
        )
        .map_err(|e| Unsupported(format!("cannot compile {expr}: {e}")))
    }
}

/// The nodes above the aggregate: ORDER BY, the SELECT list, HAVING.
struct Top<'a> {
    /// Each Sort met walking down, and whether it is above the projection.
    sorts: Vec<(Vec<SortExpr>, bool)>,
    projection: Option<&'a Projection>,
    having: Option<&'a Filter>,
    aggregate: &'a datafusion::logical_expr::Aggregate,
}

/// `[Sort] → [Projection] → [Filter: HAVING] → Aggregate`, or what else is there.
fn above_aggregate(plan: &LogicalPlan) -> Result<Top<'_>, Unsupported> {
    let mut node = plan;
    let mut sorts = Vec::new();
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
    Ok(Top {
        sorts,
        projection,
        having,
        aggregate,
    })
}

/// `[Filter: WHERE] → one stream's scan`: the scan and the WHERE clause's conjuncts.
fn below_aggregate(input: &LogicalPlan) -> Result<(&TableScan, Vec<Expr>), Unsupported> {
    let mut node = input;
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
    Ok((scan, predicates))
}

/// WHERE: the moving range (µs), and the rest.
fn where_clause(predicates: Vec<Expr>) -> Result<(Option<i64>, Option<Expr>), Unsupported> {
    let mut range = None;
    let mut statics = Vec::new();
    for predicate in predicates {
        if !uses_now(&predicate) {
            statics.push(predicate);
        } else if let Some(r) = time::moving_range(&predicate) {
            range = Some(range.map_or(r, |old: i64| old.min(r)));
        } else {
            return unsupported(format!(
                "now() is kept live only in `{TIME_COLUMN} >= now() - INTERVAL '…'` (found: {predicate})"
            ));
        }
    }
    Ok((range, conjunction(statics)))
}

/// A group-by expression, lowered, with its output name.
type GroupExpr = (Arc<dyn PhysicalExpr>, String);

/// A time bucket: its width and origin, in µs.
type Bucket = (i64, i64);

/// GROUP BY, lowered, and the time bucket among it.
fn group_by(
    aggregate: &datafusion::logical_expr::Aggregate,
    lower: &Lower,
) -> Result<(Vec<GroupExpr>, Option<Bucket>), Unsupported> {
    let input_df = aggregate.input.schema();
    let mut group_exprs = Vec::new();
    let mut bucket = None;
    for (i, expr) in aggregate.group_expr.iter().enumerate() {
        if matches!(expr, Expr::GroupingSet(_)) {
            return unsupported("GROUPING SETS, CUBE and ROLLUP are not kept live");
        }
        if uses_now(expr) {
            return unsupported("now() in GROUP BY is not kept live");
        }
        if let Some(b) = time::time_bucket(expr)? {
            if bucket.is_some() {
                return unsupported("at most one time bucket (date_bin) is kept live");
            }
            bucket = Some(b);
        }
        let name = aggregate.schema.field(i).name().clone();
        group_exprs.push((lower.expr(expr, input_df)?, name));
    }
    Ok((group_exprs, bucket))
}

/// The aggregate functions, lowered to DataFusion's aggregate expressions (FILTER included).
fn aggregates(
    aggregate: &datafusion::logical_expr::Aggregate,
    input_schema: &SchemaRef,
    lower: &Lower,
) -> Result<Vec<Aggregate>, Unsupported> {
    let input_df = aggregate.input.schema();
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
            input_schema,
            lower.props,
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
    Ok(aggregates)
}

/// The result's columns: their logical and physical expressions over the aggregate's output,
/// the result's schema, and which columns identify a row.
struct Select<'a> {
    exprs: Vec<Expr>,
    physical: Vec<Arc<dyn PhysicalExpr>>,
    schema: &'a DFSchema,
    key: Option<Vec<usize>>,
}

/// The SELECT list (the aggregate's own columns without one). A result column computed from
/// group-by columns alone is part of the key; the key identifies rows when it covers them all.
fn select_list<'a>(
    projection: Option<&'a Projection>,
    aggregate: &'a datafusion::logical_expr::Aggregate,
    lower: &Lower,
) -> Result<Select<'a>, Unsupported> {
    let aggregate_df = aggregate.schema.as_ref();
    let n_groups = aggregate.group_expr.len();
    let (exprs, schema): (Vec<Expr>, &DFSchema) = match projection {
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
    let mut physical = Vec::new();
    let mut key = Vec::new();
    let mut covered = BTreeSet::new();
    for (i, expr) in exprs.iter().enumerate() {
        if uses_now(expr) {
            return unsupported("now() in the SELECT list is not kept live");
        }
        physical.push(lower.expr(expr, aggregate_df)?);
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
    Ok(Select {
        exprs,
        physical,
        schema,
        key,
    })
}

/// ORDER BY, where it names a result column.
fn order_by(sorts: &[(Vec<SortExpr>, bool)], select: &Select) -> Vec<Order> {
    let mut order = Vec::new();
    for (sort_exprs, above_projection) in sorts.iter().rev() {
        for sort in sort_exprs {
            let target = strip_alias(&sort.expr);
            let index = if *above_projection {
                match target {
                    Expr::Column(c) => select.schema.index_of_column(c).ok(),
                    _ => None,
                }
            } else {
                // Below the projection: the result column computed by the same expression.
                select.exprs.iter().position(|e| strip_alias(e) == target)
            };
            if let Some(index) = index {
                let direction = if sort.asc {
                    Direction::Asc
                } else {
                    Direction::Desc
                };
                order.push(Order {
                    column: index,
                    direction,
                });
            }
        }
    }
    order
}

/// How the query is split in time: by its bucket, by panes of its moving range, or not.
fn window(
    bucket: Option<Bucket>,
    range: Option<i64>,
    input_schema: &SchemaRef,
    table_name: &str,
) -> Result<Window, Unsupported> {
    let window = match (bucket, range) {
        (Some((width, origin)), _) => Window::Bucket { width, origin },
        (None, Some(range)) => Window::Sliding {
            width: time::sliding_pane(range),
        },
        (None, None) => Window::None,
    };
    let has_time = matches!(
        input_schema
            .field_with_name(TIME_COLUMN)
            .map(|f| f.data_type()),
        Ok(DataType::Timestamp(TimeUnit::Microsecond, _))
    );
    if window != Window::None && !has_time {
        return unsupported(format!("{table_name} has no {TIME_COLUMN} column"));
    }
    Ok(window)
}

/// The stream's columns the query reads (`_time` always).
fn columns_read(
    filter: Option<&Expr>,
    aggregate: &datafusion::logical_expr::Aggregate,
    input_schema: &SchemaRef,
) -> Vec<String> {
    let mut columns = BTreeSet::from([TIME_COLUMN.to_owned()]);
    let used = filter
        .into_iter()
        .chain(aggregate.group_expr.iter())
        .chain(aggregate.aggr_expr.iter());
    for expr in used {
        columns.extend(expr.column_refs().into_iter().map(|c| c.name.clone()));
    }
    columns
        .into_iter()
        .filter(|c| input_schema.index_of(c).is_ok())
        .collect()
}

fn strip_alias(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(alias) => strip_alias(&alias.expr),
        other => other,
    }
}

pub(super) fn strip_casts(expr: &Expr) -> &Expr {
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
