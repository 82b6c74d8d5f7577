//! Provenance: where one value of a panel came from. From the panel's SQL (as run) and the
//! clicked row, the events behind that row: the stream it scans, its WHERE clause, the row's
//! group key values and, for a time bucket, the bucket's window. Explore opens on the answer.
//!
//! The analyzed plan is read, not the SQL text: `[Limit] → [Sort] → Projection → [HAVING] →
//! [Aggregate] → [WHERE] → one stream`. The WHERE clause's bounds on `_time` become the window
//! (`now()` evaluated once, as the query would), its other conjuncts SQL predicates; a group key
//! that is a plain field becomes a filter, one that is an expression `expr = value`. For a
//! clicked value column, the aggregates it is computed from narrow the events to those they
//! read: their FILTER clauses, and `field IS NOT NULL` for `count(field)`, `avg(field)`, ….

use std::sync::Arc;

use arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::logical_expr::simplify::SimplifyContext;
use datafusion::logical_expr::utils::{disjunction, split_conjunction};
use datafusion::logical_expr::{Aggregate, BinaryExpr, Expr, LogicalPlan, Operator, TableScan};
use datafusion::optimizer::simplify_expressions::ExprSimplifier;
use datafusion::sql::unparser::Unparser;
use serde_json::Value;

use protocol::explore::{Drill, FieldType, Filter, Op};
use storage::TIME_COLUMN;

use super::{Error, QueryService};
use crate::engine::plan::time_bucket;

/// The events behind row `row` of `sql`'s result, and behind its column `column` when a value
/// was clicked.
pub(crate) async fn drill(
    service: &QueryService,
    sql: &str,
    row: &[Value],
    column: Option<usize>,
) -> Result<Drill, Error> {
    let (plan, state) = service.analyze(sql).await?;
    let parts = Parts::of(&plan)?;
    if row.len() != parts.outputs.len() {
        return cannot(format!(
            "the row has {} values and the query's result {} columns",
            row.len(),
            parts.outputs.len()
        ));
    }
    let props = state.execution_props();
    let context = SimplifyContext::builder()
        .with_schema(Arc::clone(parts.input_schema()))
        .with_query_execution_start_time(props.query_execution_start_time)
        .build();
    let simplifier = ExprSimplifier::new(context);
    let mut drill = Drill {
        stream: parts.scan.table_name.table().to_owned(),
        from: None,
        to: None,
        filters: Vec::new(),
        predicates: Vec::new(),
        note: None,
    };
    let mut window = Window::default();
    for predicate in &parts.predicates {
        let predicate = simplifier.simplify(predicate.clone())?;
        if !window.narrow(&predicate) {
            drill.predicates.push(sql_of(&predicate)?);
        }
    }
    // The keys: which input expression each output column is, when it is one.
    let mut bound = vec![false; parts.keys.len()];
    for (i, output) in parts.outputs.iter().enumerate() {
        let Some(k) = parts.key_of(output) else {
            continue;
        };
        bound[k] = true;
        let (key, data_type) = &parts.keys[k];
        key_condition(key, data_type, &row[i], &mut window, &mut drill)?;
    }
    if let Some(k) = bound.iter().position(|b| !b) {
        drill.note = Some(format!(
            "the result does not show the group key `{}`: these are the events of every group \
             with the values shown",
            parts.keys[k].0.human_display()
        ));
    }
    if let (Some(column), Some(aggregate)) = (column, parts.aggregate) {
        let Some(output) = parts.outputs.get(column) else {
            return cannot(format!("the result has no column {column}"));
        };
        if let Some(read) = events_read(output, aggregate) {
            let read = simplifier.simplify(read)?;
            drill.predicates.push(sql_of(&read)?);
        }
    }
    drill.from = window.from;
    drill.to = window.to;
    Ok(drill)
}

fn cannot<T>(why: String) -> Result<T, Error> {
    Err(Error::Drill(why))
}

/// The parts of a panel's plan that say which events a row is of.
struct Parts<'a> {
    /// Each result column, as an expression over the aggregate's output (or the scan's, when
    /// there is no aggregate).
    outputs: Vec<Expr>,
    aggregate: Option<&'a Aggregate>,
    /// What identifies a row: the group keys with their types, or the scan's columns.
    keys: Vec<(Expr, DataType)>,
    scan: &'a TableScan,
    /// The WHERE clause's conjuncts.
    predicates: Vec<Expr>,
}

impl<'a> Parts<'a> {
    fn of(plan: &'a LogicalPlan) -> Result<Parts<'a>, Error> {
        let mut node = plan;
        let mut outputs: Option<Vec<Expr>> = None;
        let mut aggregate = None;
        let mut predicates = Vec::new();
        let scan = loop {
            match node {
                LogicalPlan::Limit(l) => node = &l.input,
                LogicalPlan::Sort(s) => node = &s.input,
                LogicalPlan::SubqueryAlias(a) => node = &a.input,
                LogicalPlan::Projection(p) if aggregate.is_none() => {
                    outputs = Some(match outputs {
                        None => p.expr.iter().map(|e| unqualified(strip_alias(e))).collect(),
                        Some(above) => above.into_iter().map(|e| inline(e, p)).collect(),
                    });
                    node = &p.input;
                }
                // Above an aggregate it is HAVING: the clicked row passed it.
                LogicalPlan::Filter(f) if aggregate.is_none() && is_aggregate(&f.input) => {
                    node = &f.input
                }
                LogicalPlan::Filter(f) => {
                    predicates.extend(split_conjunction(&f.predicate).into_iter().cloned());
                    node = &f.input;
                }
                LogicalPlan::Aggregate(a) if aggregate.is_none() => {
                    aggregate = Some(a);
                    node = &a.input;
                }
                LogicalPlan::TableScan(scan) => break scan,
                other => {
                    let name = other.display().to_string();
                    let name = name.split(':').next().unwrap_or("this plan").to_owned();
                    return cannot(format!(
                        "only a query of one stream, aggregated at most once, leads to its \
                         events ({name} does not)"
                    ));
                }
            }
        };
        if scan.table_name.schema().is_some_and(|s| s != "public") {
            return cannot(format!("{} is not a stream", scan.table_name));
        }
        let keys: Vec<(Expr, DataType)> = match aggregate {
            Some(a) => a
                .group_expr
                .iter()
                .enumerate()
                .map(|(i, e)| (unqualified(e), a.schema.field(i).data_type().clone()))
                .collect(),
            None => scan
                .projected_schema
                .fields()
                .iter()
                .map(|f| {
                    (
                        Expr::Column(Column::new_unqualified(f.name())),
                        f.data_type().clone(),
                    )
                })
                .collect(),
        };
        let outputs = match outputs {
            Some(outputs) => outputs,
            None => match aggregate {
                Some(a) => a.schema.columns().into_iter().map(Expr::Column).collect(),
                None => keys.iter().map(|(k, _)| k.clone()).collect(),
            },
        };
        Ok(Parts {
            outputs,
            aggregate,
            keys,
            scan,
            predicates,
        })
    }

    /// The schema the WHERE clause is over.
    fn input_schema(&self) -> &Arc<DFSchema> {
        match self.aggregate {
            Some(a) => a.input.schema(),
            None => &self.scan.projected_schema,
        }
    }

    /// The key an output column is, if it is one (by name, past aliases and casts).
    fn key_of(&self, output: &Expr) -> Option<usize> {
        let Expr::Column(column) = strip_casts(output) else {
            return None;
        };
        match self.aggregate {
            Some(a) => {
                let i = a
                    .schema
                    .fields()
                    .iter()
                    .position(|f| *f.name() == column.name)?;
                (i < a.group_expr.len()).then_some(i)
            }
            None => self
                .keys
                .iter()
                .position(|(k, _)| matches!(k, Expr::Column(c) if c.name == column.name)),
        }
    }
}

fn is_aggregate(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Aggregate(_))
}

/// `expr` (over a projection's output) with each column replaced by the expression the
/// projection computes it with.
fn inline(expr: Expr, projection: &datafusion::logical_expr::Projection) -> Expr {
    expr.transform(|e| {
        if let Expr::Column(c) = &e
            && let Some(i) = projection
                .schema
                .fields()
                .iter()
                .position(|f| *f.name() == c.name)
        {
            return Ok(Transformed::yes(unqualified(strip_alias(
                &projection.expr[i],
            ))));
        }
        Ok(Transformed::no(e))
    })
    .expect("replacing columns cannot fail")
    .data
}

/// The condition that the key `key` has the row's value `value`: a time bucket narrows the
/// window, a plain field becomes a filter, an expression a predicate.
fn key_condition(
    key: &Expr,
    data_type: &DataType,
    value: &Value,
    window: &mut Window,
    drill: &mut Drill,
) -> Result<(), Error> {
    if let Some((width, _origin)) = time_bucket(key).ok().flatten() {
        let start = micros(value)
            .ok_or_else(|| Error::Drill(format!("`{value}` is not the start of a time bucket")))?;
        window.at_least(start);
        window.at_most(start.saturating_add(width - 1));
        return Ok(());
    }
    if let Expr::Column(c) = key
        && c.name == TIME_COLUMN
        && let Some(at) = micros(value)
    {
        window.at_least(at);
        window.at_most(at);
        return Ok(());
    }
    if let Expr::Column(c) = key {
        let kind = FieldType::of(&data_type.to_string());
        if matches!(
            kind,
            FieldType::Number | FieldType::Text | FieldType::Boolean
        ) && !matches!(value, Value::Object(_) | Value::Array(_))
        {
            drill.filters.push(match value {
                Value::Null => Filter::new(&c.name, Op::IsNull, ""),
                Value::String(s) => Filter::new(&c.name, Op::Eq, s),
                other => Filter::new(&c.name, Op::Eq, other.to_string()),
            });
            return Ok(());
        }
    }
    let condition = match value {
        Value::Null => key.clone().is_null(),
        value => {
            let text = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let literal = ScalarValue::try_from_string(text, data_type)?;
            key.clone().eq(Expr::Literal(literal, None))
        }
    };
    drill.predicates.push(sql_of(&condition)?);
    Ok(())
}

/// The events the aggregates behind `output` read: each one's FILTER clause and, when it reads
/// one field, that the field has a value. `None` when that is every event.
fn events_read(output: &Expr, aggregate: &Aggregate) -> Option<Expr> {
    let n_groups = aggregate.group_expr.len();
    let mut conditions = Vec::new();
    for column in output.column_refs() {
        let Some(i) = aggregate
            .schema
            .fields()
            .iter()
            .position(|f| *f.name() == column.name)
            .filter(|i| *i >= n_groups)
        else {
            continue;
        };
        let function = match strip_alias(&aggregate.aggr_expr[i - n_groups]) {
            Expr::AggregateFunction(f) => f,
            _ => return None,
        };
        let mut condition = Vec::new();
        if let Some(filter) = &function.params.filter {
            condition.push(unqualified(filter));
        }
        if let [Expr::Column(c), ..] = function.params.args.as_slice() {
            condition.push(Expr::Column(Column::new_unqualified(&c.name)).is_not_null());
        }
        // One aggregate reading every event: the value is of every event.
        let condition = datafusion::logical_expr::utils::conjunction(condition)?;
        conditions.push(condition);
    }
    disjunction(conditions)
}

/// The time bounds met so far, µs, both ends included.
#[derive(Default)]
struct Window {
    from: Option<i64>,
    to: Option<i64>,
}

impl Window {
    fn at_least(&mut self, t: i64) {
        self.from = Some(self.from.map_or(t, |f| f.max(t)));
    }

    fn at_most(&mut self, t: i64) {
        self.to = Some(self.to.map_or(t, |f| f.min(t)));
    }

    /// Takes `predicate` into the window if it bounds `_time` by a constant; says whether it
    /// did.
    fn narrow(&mut self, predicate: &Expr) -> bool {
        let Expr::BinaryExpr(BinaryExpr { left, op, right }) = predicate else {
            return false;
        };
        let (op, value) = match (strip_casts(left), strip_casts(right)) {
            (Expr::Column(c), Expr::Literal(v, _)) if c.name == TIME_COLUMN => (*op, v),
            (Expr::Literal(v, _), Expr::Column(c)) if c.name == TIME_COLUMN => {
                let Some(op) = op.swap() else {
                    return false;
                };
                (op, v)
            }
            _ => return false,
        };
        let Some(t) = timestamp_micros(value) else {
            return false;
        };
        match op {
            Operator::GtEq => self.at_least(t),
            Operator::Gt => self.at_least(t.saturating_add(1)),
            Operator::LtEq => self.at_most(t),
            Operator::Lt => self.at_most(t.saturating_sub(1)),
            _ => return false,
        }
        true
    }
}

/// A timestamp literal in µs (a finer one rounded towards the earlier µs).
fn timestamp_micros(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(v.div_euclid(1_000)),
        ScalarValue::TimestampMillisecond(Some(v), _) => v.checked_mul(1_000),
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1_000_000),
        _ => None,
    }
}

/// A result's time value (RFC 3339, as results write them) in µs.
fn micros(value: &Value) -> Option<i64> {
    let text = value.as_str()?;
    let utc = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    match ScalarValue::try_from_string(text.to_owned(), &utc).ok()? {
        ScalarValue::TimestampMicrosecond(v, _) => v,
        _ => None,
    }
}

/// `expr` as SQL that Explore can put in a WHERE clause of the stream: names unqualified and
/// quoted where they are keywords (`"status"`, `"user"`), no parentheses but those it needs.
fn sql_of(expr: &Expr) -> Result<String, Error> {
    let unparser = Unparser::default().with_pretty(true);
    Ok(unparser.expr_to_sql(&unqualified(expr))?.to_string())
}

/// `expr` with its columns unqualified (the stream may have been aliased).
fn unqualified(expr: &Expr) -> Expr {
    expr.clone()
        .transform(|e| match e {
            Expr::Column(c) if c.relation.is_some() => Ok(Transformed::yes(Expr::Column(
                Column::new_unqualified(c.name),
            ))),
            e => Ok(Transformed::no(e)),
        })
        .expect("unqualifying columns cannot fail")
        .data
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
        Expr::Alias(a) => strip_casts(&a.expr),
        other => other,
    }
}

#[cfg(test)]
mod tests;
