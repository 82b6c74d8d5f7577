//! SQL functions Weir adds to DataFusion's: `histogram_quantile(q, bucket_bounds,
//! bucket_counts)`, the quantile of one histogram data point as OTLP metrics are stored
//! (docs/otlp.md), estimated as Prometheus's function of that name does.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, Float64Builder};
use arrow::datatypes::DataType;
use datafusion::common::types::{NativeType, logical_float64, logical_string};
use datafusion::common::utils::take_function_args;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{
    Coercion, ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    TypeSignatureClass, Volatility,
};

/// Every function this module defines.
pub(crate) fn all() -> Vec<ScalarUDF> {
    vec![ScalarUDF::from(HistogramQuantile::new())]
}

/// `histogram_quantile(q, bucket_bounds, bucket_counts)`: `bucket_bounds` and `bucket_counts`
/// are JSON arrays in OTLP's explicit form (`bucket_counts[i]` values in
/// `(bucket_bounds[i-1], bucket_bounds[i]]`, the last bucket open above). The quantile is
/// interpolated linearly within its bucket; in the first bucket from 0 when its bound is
/// positive; in the last, open bucket it is the last bound. NULL when a histogram is NULL or
/// empty, or `q` is outside [0, 1].
#[derive(Debug, PartialEq, Eq, Hash)]
struct HistogramQuantile {
    signature: Signature,
}

impl HistogramQuantile {
    fn new() -> HistogramQuantile {
        let float = Coercion::new_implicit(
            TypeSignatureClass::Native(logical_float64()),
            vec![TypeSignatureClass::Numeric],
            NativeType::Float64,
        );
        let text = Coercion::new_exact(TypeSignatureClass::Native(logical_string()));
        HistogramQuantile {
            signature: Signature::coercible(vec![float, text.clone(), text], Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for HistogramQuantile {
    fn name(&self) -> &str {
        "histogram_quantile"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [q, bounds, counts] = take_function_args(self.name(), args.args)?;
        let n = args.number_rows;
        let q = q.into_array(n)?;
        let q = arrow::compute::cast(&q, &DataType::Float64)?;
        let q: &Float64Array = q.as_primitive();
        let bounds = arrow::compute::cast(&bounds.into_array(n)?, &DataType::Utf8)?;
        let counts = arrow::compute::cast(&counts.into_array(n)?, &DataType::Utf8)?;
        let (bounds, counts) = (bounds.as_string::<i32>(), counts.as_string::<i32>());
        let mut out = Float64Builder::with_capacity(n);
        for row in 0..n {
            if q.is_null(row) || bounds.is_null(row) || counts.is_null(row) {
                out.append_null();
                continue;
            }
            let parse = |what: &str, text: &str| -> Result<Vec<f64>> {
                serde_json::from_str(text).map_err(|e| {
                    DataFusionError::Execution(format!(
                        "histogram_quantile: {what} of row {} is not a JSON array of numbers \
                         ({e}): {text:.80}",
                        row + 1
                    ))
                })
            };
            let b = parse("bucket_bounds", bounds.value(row))?;
            let c = parse("bucket_counts", counts.value(row))?;
            out.append_option(quantile(q.value(row), &b, &c));
        }
        Ok(ColumnarValue::Array(Arc::new(out.finish()) as ArrayRef))
    }
}

/// The `q` quantile of a histogram in the explicit form.
fn quantile(q: f64, bounds: &[f64], counts: &[f64]) -> Option<f64> {
    if !(0.0..=1.0).contains(&q) || counts.is_empty() {
        return None;
    }
    let total: f64 = counts.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut below = 0.0;
    for (i, &count) in counts.iter().enumerate() {
        if below + count >= rank && count > 0.0 {
            let Some(&upper) = bounds.get(i) else {
                // The open bucket above the last bound: all that is known is the bound.
                return bounds.last().copied();
            };
            let lower = match i {
                0 if upper > 0.0 => 0.0,
                0 => return Some(upper),
                _ => bounds[i - 1],
            };
            return Some(lower + (upper - lower) * (rank - below) / count);
        }
        below += count;
    }
    bounds.last().copied()
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_interpolate_within_their_bucket_as_prometheus_does() {
        // 1 value in (0, 10], 2 in (10, 100], 3 above 100.
        let (bounds, counts) = ([10.0, 100.0], [1.0, 2.0, 1.0]);
        assert_eq!(quantile(0.0, &bounds, &counts), Some(0.0));
        assert_eq!(quantile(0.25, &bounds, &counts), Some(10.0));
        assert_eq!(quantile(0.5, &bounds, &counts), Some(55.0));
        assert_eq!(
            quantile(0.99, &bounds, &counts),
            Some(100.0),
            "the open bucket"
        );
        assert_eq!(quantile(1.5, &bounds, &counts), None);
        assert_eq!(quantile(0.5, &bounds, &[0.0, 0.0, 0.0]), None);
        // A negative first bound has no known lower edge.
        assert_eq!(quantile(0.1, &[-5.0, 5.0], &[1.0, 1.0, 0.0]), Some(-5.0));
        assert_eq!(quantile(0.75, &[-5.0, 5.0], &[1.0, 1.0, 0.0]), Some(0.0));
    }
}
