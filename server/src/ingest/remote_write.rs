//! Prometheus remote write 1.0: a snappy-compressed protobuf `WriteRequest` into events of
//! `prom_metrics`, one per sample: `_time` the sample's time, `metric` (the `__name__` label),
//! `value`, then a column per label. Exemplars, metadata, native histograms and staleness
//! markers are dropped (docs/otlp.md says so).
//!
//! The messages are Prometheus's `prompb` (types.proto, remote.proto), declared here with
//! prost's derive for the fields remote write 1.0 sends; prost skips the others.

use prost::Message;
use storage::{HOUR_COLUMN, OFFSET_COLUMN, TIME_COLUMN};

use super::events::{Event, Scalar};

/// `prometheus.WriteRequest`.
#[derive(Clone, PartialEq, Message)]
pub(crate) struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub(crate) timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries` (without native histograms, tag 4).
#[derive(Clone, PartialEq, Message)]
pub(crate) struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub(crate) labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub(crate) samples: Vec<Sample>,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct Label {
    #[prost(string, tag = "1")]
    pub(crate) name: String,
    #[prost(string, tag = "2")]
    pub(crate) value: String,
}

#[derive(Clone, PartialEq, Message)]
pub(crate) struct Sample {
    #[prost(double, tag = "1")]
    pub(crate) value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub(crate) timestamp: i64,
}

/// Why a remote-write body could not be decoded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    #[error("the body is not snappy-compressed (block format): {0}")]
    Snappy(String),
    /// The decompressed size, read from the snappy header before inflating.
    #[error("the body decompresses to {size} bytes, more than the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("the body is not a protobuf remote-write WriteRequest: {0}")]
    Protobuf(String),
}

/// The bit pattern Prometheus writes as a staleness marker (a NaN no other value has).
const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Decodes a snappy-compressed `WriteRequest` of at most `limit` bytes decompressed into one
/// event per sample; the event's line is the sample's 1-based position in the request.
pub(crate) fn decode(body: &[u8], limit: usize) -> Result<Vec<Event>, DecodeError> {
    let size = snap::raw::decompress_len(body).map_err(|e| DecodeError::Snappy(e.to_string()))?;
    if size > limit {
        return Err(DecodeError::TooLarge { size, limit });
    }
    let raw = snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(|e| DecodeError::Snappy(e.to_string()))?;
    let request =
        WriteRequest::decode(raw.as_slice()).map_err(|e| DecodeError::Protobuf(e.to_string()))?;
    Ok(events(&request))
}

/// The samples of `request` as events.
pub(crate) fn events(request: &WriteRequest) -> Vec<Event> {
    let n = request.timeseries.iter().map(|s| s.samples.len()).sum();
    let mut events = Vec::with_capacity(n);
    let mut line = 0;
    for series in &request.timeseries {
        let mut labels: Vec<(String, Scalar)> = Vec::with_capacity(series.labels.len() + 1);
        let mut name = None;
        for label in &series.labels {
            match label.name.as_str() {
                "__name__" => name = Some(label.value.clone()),
                n if n == TIME_COLUMN || n == OFFSET_COLUMN || n == HOUR_COLUMN => {}
                // `metric` and `value` are the sample's own columns.
                "metric" | "value" => {}
                _ => labels.push((label.name.clone(), Scalar::Str(label.value.clone()))),
            }
        }
        for sample in &series.samples {
            line += 1;
            if sample.value.to_bits() == STALE_NAN {
                continue;
            }
            let mut fields = Vec::with_capacity(labels.len() + 2);
            if let Some(name) = &name {
                fields.push(("metric".to_owned(), Scalar::Str(name.clone())));
            }
            fields.push(("value".to_owned(), Scalar::Float(sample.value)));
            fields.extend(labels.iter().cloned());
            events.push(Event {
                line,
                time_us: sample.timestamp.saturating_mul(1000),
                fields,
            });
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn label(name: &str, value: &str) -> Label {
        Label {
            name: name.to_owned(),
            value: value.to_owned(),
        }
    }

    fn compressed(request: &WriteRequest) -> Vec<u8> {
        snap::raw::Encoder::new()
            .compress_vec(&request.encode_to_vec())
            .unwrap()
    }

    #[test]
    fn each_sample_is_a_row_with_its_labels() {
        let request = WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![
                    label("__name__", "http_requests_total"),
                    label("job", "api"),
                    label("value", "dropped: the sample's column"),
                    label("_time", "dropped: reserved"),
                ],
                samples: vec![
                    Sample {
                        value: 5.0,
                        timestamp: 1_700_000_000_123,
                    },
                    Sample {
                        value: f64::from_bits(STALE_NAN),
                        timestamp: 1_700_000_015_123,
                    },
                    Sample {
                        value: 7.5,
                        timestamp: 1_700_000_030_123,
                    },
                ],
            }],
        };
        let events = decode(&compressed(&request), 1 << 20).unwrap();
        assert_eq!(events.len(), 2, "the staleness marker is dropped");
        assert_eq!((events[0].line, events[1].line), (1, 3));
        assert_eq!(events[0].time_us, 1_700_000_000_123_000);
        assert_eq!(
            events[1].fields,
            vec![
                (
                    "metric".to_owned(),
                    Scalar::Str("http_requests_total".to_owned())
                ),
                ("value".to_owned(), Scalar::Float(7.5)),
                ("job".to_owned(), Scalar::Str("api".to_owned())),
            ]
        );
    }

    #[test]
    fn a_body_that_would_inflate_past_the_limit_is_refused_before_inflating() {
        let big = snap::raw::Encoder::new()
            .compress_vec(&vec![0u8; 10 << 20])
            .unwrap();
        assert!(big.len() < 1 << 20);
        let err = decode(&big, 1 << 20).unwrap_err();
        assert!(matches!(err, DecodeError::TooLarge { .. }), "{err}");
        let err = decode(b"not snappy at all", 1 << 20).unwrap_err();
        assert!(
            matches!(err, DecodeError::Snappy(_) | DecodeError::Protobuf(_)),
            "{err}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any bytes, raw or snappy-compressed: samples or an error, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes, 1 << 20);
            let packed = snap::raw::Encoder::new().compress_vec(&bytes).unwrap();
            let _ = decode(&packed, 1 << 20);
        }
    }
}
