//! Time in continuous queries: `now()`, the moving range `_time >= now() - INTERVAL '…'`, the
//! time bucket `date_bin(INTERVAL '…', _time)`, and the panes of a sliding aggregate.

use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, ScalarValue};
use datafusion::logical_expr::{BinaryExpr, Expr, Operator as BinOp};
use storage::TIME_COLUMN;

use super::{Unsupported, strip_casts, unsupported};

pub(super) fn is_now(expr: &Expr) -> bool {
    matches!(strip_casts(expr), Expr::ScalarFunction(f) if f.func.name() == "now")
}

pub(super) fn uses_now(expr: &Expr) -> bool {
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
pub(super) fn moving_range(expr: &Expr) -> Option<i64> {
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
pub(crate) fn time_bucket(expr: &Expr) -> Result<Option<(i64, i64)>, Unsupported> {
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
