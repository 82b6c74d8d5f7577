//! Metric data points → events of `otel_metrics`, one per point: `_time` the point's time, then
//! `metric`, `type` (`gauge`, `sum`, `histogram`, `exponential_histogram`, `summary`), `unit`,
//! `description`, `temporality` (`delta`, `cumulative`), `monotonic`, `start_time_unix_nano`;
//! `value` for gauges and sums; `count`, `sum`, `min`, `max`, `bucket_bounds` and
//! `bucket_counts` for histograms; `quantiles` for summaries; the point's attributes, and its
//! scope's and resource's columns.
//!
//! Buckets are two JSON arrays of the explicit form: `bucket_counts[i]` events fell in
//! `(bucket_bounds[i-1], bucket_bounds[i]]`, the last bucket above the last bound. Exponential
//! histograms are converted to that form (their `scale` kept); the SQL function
//! `histogram_quantile` reads it. Exemplars are dropped.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::exponential_histogram_data_point::Buckets;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use opentelemetry_proto::tonic::metrics::v1::{ExponentialHistogramDataPoint, Metric};

use super::{DecodeError, Field, Out, Scalar, context, count, flatten, made, name, shared, text};

/// The columns of each scope of the request, in order.
pub(super) fn contexts(request: &ExportMetricsServiceRequest) -> Vec<Vec<Field<'_>>> {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| {
            r.scope_metrics
                .iter()
                .map(|s| context(r.resource.as_ref(), s.scope.as_ref()))
        })
        .collect()
}

pub(super) fn decode<'a>(
    request: &'a ExportMetricsServiceRequest,
    contexts: &'a [Vec<Field<'a>>],
    out: &mut Out<'a>,
) -> Result<(), DecodeError> {
    let scopes = request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics);
    for (scope_metrics, context) in scopes.zip(contexts) {
        for metric in &scope_metrics.metrics {
            points(metric, context, out)?;
        }
    }
    Ok(())
}

/// One point being built: the metric's columns first, then the point's, then its attributes.
struct Point<'a> {
    metric: &'a Metric,
    shared: &'a [Field<'a>],
}

impl<'a> Point<'a> {
    fn start(&self, kind: &'static str, temporality: Option<i32>, start_ns: u64) -> Vec<Field<'a>> {
        let mut fields = Vec::with_capacity(16 + self.shared.len());
        let mut push = |column: &'static str, value: Scalar<_>| fields.push((name(column), value));
        push("metric", text(&self.metric.name));
        push("type", text(kind));
        if !self.metric.unit.is_empty() {
            push("unit", text(&self.metric.unit));
        }
        if !self.metric.description.is_empty() {
            push("description", text(&self.metric.description));
        }
        if let Some(t) = temporality {
            let word = match t {
                1 => "delta",
                2 => "cumulative",
                _ => "unspecified",
            };
            push("temporality", text(word));
        }
        if start_ns != 0 {
            push("start_time_unix_nano", count(start_ns));
        }
        fields
    }

    fn finish(&self, mut fields: Vec<Field<'a>>, attributes: &'a [KeyValue]) -> Vec<Field<'a>> {
        flatten(attributes, "", &mut fields);
        shared(self.shared, &mut fields);
        fields
    }
}

fn points<'a>(
    metric: &'a Metric,
    shared: &'a [Field<'a>],
    out: &mut Out<'a>,
) -> Result<(), DecodeError> {
    let point = Point { metric, shared };
    let Some(data) = &metric.data else {
        return Ok(());
    };
    match data {
        Data::Gauge(gauge) => {
            for p in &gauge.data_points {
                let mut fields = point.start("gauge", None, p.start_time_unix_nano);
                push_value(&mut fields, p.value);
                out.push(p.time_unix_nano, point.finish(fields, &p.attributes))?;
            }
        }
        Data::Sum(sum) => {
            for p in &sum.data_points {
                let mut fields = point.start(
                    "sum",
                    Some(sum.aggregation_temporality),
                    p.start_time_unix_nano,
                );
                fields.push((name("monotonic"), Scalar::Bool(sum.is_monotonic)));
                push_value(&mut fields, p.value);
                out.push(p.time_unix_nano, point.finish(fields, &p.attributes))?;
            }
        }
        Data::Histogram(histogram) => {
            for p in &histogram.data_points {
                let mut fields = point.start(
                    "histogram",
                    Some(histogram.aggregation_temporality),
                    p.start_time_unix_nano,
                );
                summary_columns(&mut fields, p.count, p.sum, p.min, p.max);
                buckets(&mut fields, &p.explicit_bounds, &p.bucket_counts);
                out.push(p.time_unix_nano, point.finish(fields, &p.attributes))?;
            }
        }
        Data::ExponentialHistogram(histogram) => {
            for p in &histogram.data_points {
                let mut fields = point.start(
                    "exponential_histogram",
                    Some(histogram.aggregation_temporality),
                    p.start_time_unix_nano,
                );
                summary_columns(&mut fields, p.count, p.sum, p.min, p.max);
                let (bounds, counts) = explicit(p);
                buckets(&mut fields, &bounds, &counts);
                fields.push((name("scale"), Scalar::Int(i64::from(p.scale))));
                out.push(p.time_unix_nano, point.finish(fields, &p.attributes))?;
            }
        }
        Data::Summary(summary) => {
            for p in &summary.data_points {
                let mut fields = point.start("summary", None, p.start_time_unix_nano);
                summary_columns(&mut fields, p.count, Some(p.sum), None, None);
                let quantiles: Vec<_> = p
                    .quantile_values
                    .iter()
                    .map(|q| serde_json::json!({ "quantile": q.quantile, "value": q.value }))
                    .collect();
                fields.push((
                    name("quantiles"),
                    made(serde_json::Value::from(quantiles).to_string()),
                ));
                out.push(p.time_unix_nano, point.finish(fields, &p.attributes))?;
            }
        }
    }
    Ok(())
}

/// `value`, always a float, so that integer and double points of a metric share the column.
fn push_value(fields: &mut Vec<Field<'_>>, value: Option<number_data_point::Value>) {
    let value = match value {
        Some(number_data_point::Value::AsDouble(v)) => v,
        Some(number_data_point::Value::AsInt(v)) => v as f64,
        None => return,
    };
    fields.push((name("value"), Scalar::Float(value)));
}

fn summary_columns(
    fields: &mut Vec<Field<'_>>,
    n: u64,
    sum: Option<f64>,
    min: Option<f64>,
    max: Option<f64>,
) {
    fields.push((name("count"), count(n)));
    for (column, value) in [("sum", sum), ("min", min), ("max", max)] {
        if let Some(v) = value {
            fields.push((name(column), Scalar::Float(v)));
        }
    }
}

fn buckets(fields: &mut Vec<Field<'_>>, bounds: &[f64], counts: &[u64]) {
    // serde_json writes a non-finite float as null: bounds are made finite before.
    let bounds = serde_json::Value::from(bounds.to_vec()).to_string();
    let counts = serde_json::Value::from(counts.to_vec()).to_string();
    fields.push((name("bucket_bounds"), made(bounds)));
    fields.push((name("bucket_counts"), made(counts)));
}

/// An exponential histogram's buckets in the explicit form, from the most negative to the most
/// positive: bucket `i` of scale `s` holds (base^i, base^(i+1)] with base = 2^(2^-s), negative
/// buckets mirrored, and the zero bucket (up to `zero_threshold`) between them. The upper bound
/// of the last bucket is left out, as in the explicit form.
fn explicit(p: &ExponentialHistogramDataPoint) -> (Vec<f64>, Vec<u64>) {
    let base = 2f64.powf(2f64.powi(-p.scale.clamp(-10, 20)));
    let bound = |index: i64| finite(base.powf(index as f64));
    let (mut bounds, mut counts) = (Vec::new(), Vec::new());
    let empty = Buckets::default();
    let negative = p.negative.as_ref().unwrap_or(&empty);
    for (k, &n) in negative.bucket_counts.iter().enumerate().rev() {
        let index = i64::from(negative.offset) + k as i64;
        bounds.push(-bound(index));
        counts.push(n);
    }
    bounds.push(finite(p.zero_threshold));
    counts.push(p.zero_count);
    let positive = p.positive.as_ref().unwrap_or(&empty);
    for (k, &n) in positive.bucket_counts.iter().enumerate() {
        let index = i64::from(positive.offset) + k as i64;
        bounds.push(bound(index + 1));
        counts.push(n);
    }
    bounds.pop();
    (bounds, counts)
}

fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x
    } else if x > 0.0 {
        f64::MAX
    } else if x < 0.0 {
        f64::MIN
    } else {
        0.0
    }
}
