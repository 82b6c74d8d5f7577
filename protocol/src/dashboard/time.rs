//! Time ranges as dashboards and URLs write them: `now`, `now-15m`, RFC 3339
//! (`2026-11-30T05:00:00Z`) or milliseconds since the epoch (`1796014800000`, as Grafana's URLs).
//!
//! A range that ends at `now` and starts relative to it is *live*: its panels are continuous
//! queries over a sliding range. Any other range is a fixed piece of history, queried once.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};

use super::TimeSpec;

const MICROS_PER_MILLI: i64 = 1_000;
const MICROS_PER_SECOND: i64 = 1_000_000;

/// Units of a duration, largest first: suffix, µs, SQL name.
const UNITS: [(&str, i64, &str); 6] = [
    ("w", 7 * 86_400 * MICROS_PER_SECOND, "week"),
    ("d", 86_400 * MICROS_PER_SECOND, "day"),
    ("h", 3_600 * MICROS_PER_SECOND, "hour"),
    ("m", 60 * MICROS_PER_SECOND, "minute"),
    ("s", MICROS_PER_SECOND, "second"),
    ("ms", MICROS_PER_MILLI, "millisecond"),
];

/// Why a time expression does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError(String);

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TimeError {}

/// A duration as written: a whole number and a unit, `250ms`, `10s`, `5m`, `1h`, `7d`, `2w`. In µs.
pub fn parse_duration(text: &str) -> Result<i64, TimeError> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let bad = || {
        TimeError(format!(
            "`{text}` is not a duration: write a whole number and one of ms, s, m, h, d, w (e.g. 15m)"
        ))
    };
    let number: i64 = number.parse().map_err(|_| bad())?;
    let (_, micros, _) = UNITS.iter().find(|(u, ..)| *u == unit).ok_or_else(bad)?;
    number
        .checked_mul(*micros)
        .filter(|m| *m > 0)
        .ok_or_else(bad)
}

/// A duration (µs) the shortest way [`parse_duration`] reads it back: `15m`, `90s`, `250ms`.
pub fn format_duration(micros: i64) -> String {
    for (suffix, unit, _) in UNITS {
        if micros >= unit && micros % unit == 0 {
            return format!("{}{suffix}", micros / unit);
        }
    }
    format!("{}ms", (micros / MICROS_PER_MILLI).max(1))
}

/// A duration (µs) as an SQL interval literal: `INTERVAL '15 minutes'`.
pub fn interval_sql(micros: i64) -> String {
    let micros = micros.max(MICROS_PER_MILLI);
    for (_, unit, name) in UNITS {
        if micros % unit == 0 {
            let n = micros / unit;
            let plural = if n == 1 { "" } else { "s" };
            return format!("INTERVAL '{n} {name}{plural}'");
        }
    }
    format!("INTERVAL '{} milliseconds'", micros / MICROS_PER_MILLI)
}

/// One end of a time range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instant {
    /// The server's clock at the time of evaluation, plus `offset` µs (≤ 0 for the past).
    Now { offset: i64 },
    /// A fixed point, µs since the epoch.
    At(i64),
}

impl Instant {
    /// µs since the epoch, with `now` the clock.
    pub fn resolve(self, now: i64) -> i64 {
        match self {
            Instant::Now { offset } => now.saturating_add(offset),
            Instant::At(micros) => micros,
        }
    }

    /// The instant as an SQL expression of type timestamp: `now()`, `now() - INTERVAL '15
    /// minutes'` or `to_timestamp_micros(…)` (UTC).
    pub fn sql(self) -> String {
        match self {
            Instant::Now { offset: 0 } => "now()".into(),
            Instant::Now { offset } if offset < 0 => {
                format!("now() - {}", interval_sql(-offset))
            }
            Instant::Now { offset } => format!("now() + {}", interval_sql(offset)),
            Instant::At(micros) => format!("to_timestamp_micros({micros})"),
        }
    }
}

impl FromStr for Instant {
    type Err = TimeError;

    fn from_str(text: &str) -> Result<Instant, TimeError> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("now") {
            if rest.is_empty() {
                return Ok(Instant::Now { offset: 0 });
            }
            let (sign, duration) = match rest.split_at(1) {
                ("-", d) => (-1, d),
                ("+", d) => (1, d),
                _ => {
                    return Err(TimeError(format!(
                        "`{text}`: after `now` comes `-` or `+` and a duration (now-15m)"
                    )));
                }
            };
            return Ok(Instant::Now {
                offset: sign * parse_duration(duration)?,
            });
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let millis: i64 = text
                .parse()
                .map_err(|_| TimeError(format!("`{text}` is out of range")))?;
            return millis
                .checked_mul(MICROS_PER_MILLI)
                .map(Instant::At)
                .ok_or_else(|| TimeError(format!("`{text}` is out of range")));
        }
        DateTime::parse_from_rfc3339(text)
            .map(|t| Instant::At(t.timestamp_micros()))
            .map_err(|_| {
                TimeError(format!(
                    "`{text}` is not a time: write now, now-15m, an RFC 3339 time \
                     (2026-11-30T05:00:00Z) or milliseconds since the epoch"
                ))
            })
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Instant::Now { offset: 0 } => f.write_str("now"),
            Instant::Now { offset } if offset < 0 => write!(f, "now-{}", format_duration(-offset)),
            Instant::Now { offset } => write!(f, "now+{}", format_duration(offset)),
            Instant::At(micros) => f.write_str(&rfc3339(micros)),
        }
    }
}

/// µs since the epoch as RFC 3339 in UTC, to the second when whole.
pub fn rfc3339(micros: i64) -> String {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| micros.to_string())
}

/// An RFC 3339 time as µs since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

/// A range of time to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub from: Instant,
    pub to: Instant,
}

impl TimeRange {
    /// The last `micros` µs up to now: a live range.
    pub fn last(micros: i64) -> TimeRange {
        TimeRange {
            from: Instant::Now { offset: -micros },
            to: Instant::Now { offset: 0 },
        }
    }

    pub fn parse(from: &str, to: &str) -> Result<TimeRange, TimeError> {
        Ok(TimeRange {
            from: from.parse()?,
            to: to.parse()?,
        })
    }

    pub fn from_spec(spec: &TimeSpec) -> Result<TimeRange, TimeError> {
        TimeRange::parse(&spec.from, &spec.to)
    }

    /// Whether the range slides with the clock up to now: its panels are kept live.
    pub fn is_live(self) -> bool {
        matches!(
            (self.from, self.to),
            (Instant::Now { offset }, Instant::Now { offset: 0 }) if offset < 0
        )
    }

    /// `(from, to)` in µs since the epoch, with `now` the clock.
    pub fn resolve(self, now: i64) -> (i64, i64) {
        (self.from.resolve(now), self.to.resolve(now))
    }

    /// The length of the range in µs (at least 1 ms).
    pub fn span(self, now: i64) -> i64 {
        let (from, to) = self.resolve(now);
        (to - from).max(MICROS_PER_MILLI)
    }

    /// The SQL condition that keeps `column` in the range. A live range has no upper bound
    /// (nothing is later than now), so it is the moving range the engine keeps live.
    pub fn filter_sql(self, column: &str) -> String {
        if self.is_live() {
            format!("{column} >= {}", self.from.sql())
        } else {
            format!(
                "{column} >= {} AND {column} <= {}",
                self.from.sql(),
                self.to.sql()
            )
        }
    }

    /// The bucket width for a chart `pixels` wide: about one point per 4 pixels, rounded up to a
    /// step people read (1s, 5s, 10s, 30s, 1m, …), never below 1 s. Grafana's `$__interval`.
    pub fn interval(self, now: i64, pixels: u32) -> i64 {
        const STEPS: [i64; 17] = [
            1,
            2,
            5,
            10,
            15,
            30,
            60,
            2 * 60,
            5 * 60,
            10 * 60,
            15 * 60,
            30 * 60,
            3_600,
            3 * 3_600,
            6 * 3_600,
            12 * 3_600,
            86_400,
        ];
        let points = i64::from((pixels / 4).max(1));
        let raw = self.span(now) / points;
        STEPS
            .iter()
            .map(|s| s * MICROS_PER_SECOND)
            .find(|s| *s >= raw)
            .unwrap_or_else(|| {
                let day = 86_400 * MICROS_PER_SECOND;
                (raw + day - 1) / day * day
            })
    }
}

impl fmt::Display for TimeRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} to {}", self.from, self.to)
    }
}
