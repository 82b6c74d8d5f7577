//! What a panel draws, from its query's result: series over time, labelled values, heatmap cells,
//! one figure; how values are written (units, decimals) and coloured (thresholds). The drawing
//! itself ([`draw`]) is generic over plotters' backends: SVG in pages, PNG on the server.

pub mod draw;
pub mod gauge;
pub mod picture;
#[cfg(feature = "png")]
pub mod png;

use chrono::DateTime;
use protocol::QueryResult;
use protocol::dashboard::{PanelOptions, Threshold};
use serde_json::Value;

/// Series colours, in order (Grafana's classic palette, readable on the dark background).
pub const PALETTE: [&str; 10] = [
    "#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a",
    "#ff9830", "#96d98d",
];

/// `#rrggbb` (or a few names) as RGB.
pub fn rgb(color: &str) -> (u8, u8, u8) {
    let named = match color {
        "green" => "#73bf69",
        "red" => "#f2495c",
        "yellow" => "#fade2a",
        "orange" => "#ff9830",
        "blue" => "#5794f2",
        "purple" => "#b877d9",
        "white" => "#ffffff",
        "gray" | "grey" => "#8e93a4",
        other => other,
    };
    let hex = named.trim_start_matches('#');
    let channel = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .unwrap_or(0x8e)
    };
    (channel(0), channel(2), channel(4))
}

/// A colour as CSS writes it: `#rrggbb` (names mapped as [`rgb`] maps them).
pub fn css_color(color: &str) -> String {
    let (r, g, b) = rgb(color);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// One line of a time series: x in seconds since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub color: String,
    pub points: Vec<(f64, f64)>,
}

/// A value as a number: numbers, numeric strings; anything else is none.
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// A value as text, for labels and tables.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A time value in seconds since the epoch: RFC 3339 text (timestamps), or a number of seconds
/// (`to_unixtime(…)`) or of milliseconds (past the year 33658 as seconds).
pub fn seconds(value: &Value) -> Option<f64> {
    match value {
        Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp_micros() as f64 / 1e6),
        Value::Number(n) => n.as_f64().map(|x| if x > 1e12 { x / 1e3 } else { x }),
        _ => None,
    }
}

fn is_numeric_type(data_type: &str) -> bool {
    ["Int", "UInt", "Float", "Decimal"]
        .iter()
        .any(|p| data_type.starts_with(p))
}

/// The result's time column: the first timestamp or date column, else a numeric one named like
/// time (`t`, `time`, `ts`, `_time`, `bucket`).
pub fn time_column(result: &QueryResult) -> Option<usize> {
    result
        .columns
        .iter()
        .position(|c| c.data_type.starts_with("Timestamp") || c.data_type.starts_with("Date"))
        .or_else(|| {
            result.columns.iter().position(|c| {
                is_numeric_type(&c.data_type)
                    && ["t", "time", "ts", "_time", "bucket"].contains(&c.name.as_str())
            })
        })
}

/// The numeric columns a chart draws (not time, not the series column).
pub fn value_columns(result: &QueryResult, skip: &[usize]) -> Vec<usize> {
    result
        .columns
        .iter()
        .enumerate()
        .filter(|(i, c)| !skip.contains(i) && is_numeric_type(&c.data_type))
        .map(|(i, _)| i)
        .collect()
}

/// The result as series over time: one per numeric column (wide results), or with
/// `options.series`, one per distinct value of that column (long results: `t, service, n`). A
/// result without a second text column in long form is wide.
pub fn time_series(result: &QueryResult, options: &PanelOptions) -> Vec<Series> {
    let mut out: Vec<Series> = Vec::new();
    for point in time_points(result, options) {
        match out.iter_mut().find(|s| s.name == point.name) {
            Some(series) => series.points.push((point.x, point.y)),
            None => out.push(Series {
                name: point.name,
                color: String::new(),
                points: vec![(point.x, point.y)],
            }),
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    for (i, series) in out.iter_mut().enumerate() {
        series.points.sort_by(|a, b| a.0.total_cmp(&b.0));
        series.color = PALETTE[i % PALETTE.len()].to_string();
    }
    out
}

/// One value of a time series, with where it is in the result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The series's name and color, as [`time_series`] gives them.
    pub name: String,
    pub color: String,
    /// Seconds since the epoch.
    pub x: f64,
    pub y: f64,
    pub row: usize,
    pub column: usize,
}

/// The values at the time nearest `time` (seconds) that any series has a value at: what a
/// click on a chart at `time` points at.
pub fn hits_at(result: &QueryResult, options: &PanelOptions, time: f64) -> Vec<Hit> {
    let points = time_points(result, options);
    let Some(nearest) = points
        .iter()
        .map(|p| p.x)
        .min_by(|a, b| (a - time).abs().total_cmp(&(b - time).abs()))
    else {
        return Vec::new();
    };
    let mut names: Vec<&str> = points.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let mut hits: Vec<Hit> = points
        .iter()
        .filter(|p| p.x == nearest)
        .map(|p| {
            let i = names.binary_search(&p.name.as_str()).unwrap_or(0);
            Hit {
                name: p.name.clone(),
                color: PALETTE[i % PALETTE.len()].to_string(),
                x: p.x,
                y: p.y,
                row: p.row,
                column: p.column,
            }
        })
        .collect();
    hits.sort_by(|a, b| b.y.total_cmp(&a.y));
    hits
}

/// A point of a time series and the cell it is read from.
struct TimePoint {
    name: String,
    x: f64,
    y: f64,
    row: usize,
    column: usize,
}

/// Every point of [`time_series`], unsorted.
fn time_points(result: &QueryResult, options: &PanelOptions) -> Vec<TimePoint> {
    let Some(time) = time_column(result) else {
        return Vec::new();
    };
    let series_column = options
        .series
        .as_deref()
        .and_then(|name| result.column(name))
        .or_else(|| {
            // Long form without saying so: one text column beside time and the values.
            let texts: Vec<usize> = result
                .columns
                .iter()
                .enumerate()
                .filter(|(i, c)| *i != time && c.data_type.contains("Utf8"))
                .map(|(i, _)| i)
                .collect();
            (texts.len() == 1).then(|| texts[0])
        });
    let skip: Vec<usize> = std::iter::once(time).chain(series_column).collect();
    let values = value_columns(result, &skip);
    let mut out = Vec::new();
    for (r, row) in result.rows.iter().enumerate() {
        let Some(x) = seconds(&row[time]) else {
            continue;
        };
        for &v in &values {
            let Some(y) = number(&row[v]) else {
                continue;
            };
            let name = match series_column {
                Some(s) if values.len() == 1 => text(&row[s]),
                Some(s) => format!("{} {}", text(&row[s]), result.columns[v].name),
                None => result.columns[v].name.clone(),
            };
            out.push(TimePoint {
                name,
                x,
                y,
                row: r,
                column: v,
            });
        }
    }
    out
}

/// Labelled values for a bar chart without time: the first text column labels, the first numeric
/// column's values.
pub fn labelled(result: &QueryResult) -> Vec<(String, f64)> {
    labelled_bars(result)
        .into_iter()
        .map(|bar| (bar.label, bar.value))
        .collect()
}

/// One bar of [`labelled`], with the row and column of its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub row: usize,
    pub column: usize,
}

/// [`labelled`]'s bars with where their values are in the result.
pub fn labelled_bars(result: &QueryResult) -> Vec<Bar> {
    let label = result
        .columns
        .iter()
        .position(|c| !is_numeric_type(&c.data_type));
    let Some(&column) = value_columns(result, &label.into_iter().collect::<Vec<_>>()).first()
    else {
        return Vec::new();
    };
    result
        .rows
        .iter()
        .enumerate()
        .filter_map(|(row, values)| {
            Some(Bar {
                label: label.map_or_else(String::new, |l| text(&values[l])),
                value: number(&values[column])?,
                row,
                column,
            })
        })
        .collect()
}

/// The figure a stat or gauge shows: the newest complete value (by time when there is a time
/// column: with three buckets or more, the newest one is still filling and the one before it is
/// shown), and the series it is the end of.
pub fn figure(result: &QueryResult, options: &PanelOptions) -> (Option<f64>, Vec<(f64, f64)>) {
    let series = time_series(result, options);
    if let Some(first) = series.first() {
        // Several series (long form): the figure is their sum.
        if series.len() > 1 {
            let mut summed: std::collections::BTreeMap<i64, f64> = Default::default();
            for s in &series {
                for &(x, y) in &s.points {
                    *summed.entry((x * 1000.0) as i64).or_default() += y;
                }
            }
            let points: Vec<(f64, f64)> = summed
                .into_iter()
                .map(|(x, y)| (x as f64 / 1000.0, y))
                .collect();
            return (complete(&points), points);
        }
        return (complete(&first.points), first.points.clone());
    }
    let value = value_columns(result, &[])
        .first()
        .and_then(|&v| result.rows.last().and_then(|row| number(&row[v])));
    (value, Vec::new())
}

/// The newest complete value of a series: the last but one of three or more.
fn complete(points: &[(f64, f64)]) -> Option<f64> {
    match points.len() {
        0 => None,
        1 | 2 => points.last().map(|p| p.1),
        n => Some(points[n - 2].1),
    }
}

/// Heatmap cells from a result of `time, bucket, count` (the bucket column may be named by
/// `options.series`): `(x, bucket index, count)`, the buckets in order (numerically when they
/// are numbers), and the width of a time step.
pub fn heat_cells(
    result: &QueryResult,
    options: &PanelOptions,
) -> (Vec<(f64, usize, f64)>, Vec<String>, f64) {
    let Some(time) = time_column(result) else {
        return (Vec::new(), Vec::new(), 1.0);
    };
    let bucket = options
        .series
        .as_deref()
        .and_then(|name| result.column(name))
        .or_else(|| (0..result.columns.len()).find(|i| *i != time));
    let Some(bucket) = bucket else {
        return (Vec::new(), Vec::new(), 1.0);
    };
    let Some(&count) = value_columns(result, &[time, bucket]).first() else {
        return (Vec::new(), Vec::new(), 1.0);
    };
    let mut names: Vec<(Option<f64>, String)> = result
        .rows
        .iter()
        .map(|row| (number(&row[bucket]), text(&row[bucket])))
        .collect();
    names.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.1.cmp(&b.1),
    });
    names.dedup_by(|a, b| a.1 == b.1);
    let buckets: Vec<String> = names.into_iter().map(|(_, name)| name).collect();
    let mut xs: Vec<f64> = Vec::new();
    let cells: Vec<(f64, usize, f64)> = result
        .rows
        .iter()
        .filter_map(|row| {
            let x = seconds(&row[time])?;
            let b = buckets
                .iter()
                .position(|name| *name == text(&row[bucket]))?;
            xs.push(x);
            Some((x, b, number(&row[count])?))
        })
        .collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let step = xs.windows(2).map(|w| w[1] - w[0]).fold(f64::MAX, f64::min);
    let step = if step.is_finite() && step < f64::MAX {
        step
    } else {
        1.0
    };
    (cells, buckets, step)
}

/// The row of [`heat_cells`]' cell that holds time `time` (seconds) in bucket `bucket`, the
/// column of its count and the bucket's name.
pub fn heat_cell_at(
    result: &QueryResult,
    options: &PanelOptions,
    time: f64,
    bucket: usize,
) -> Option<(usize, usize, String)> {
    let (cells, names, step) = heat_cells(result, options);
    let (x, b, _) = *cells
        .iter()
        .find(|&&(x, b, _)| b == bucket && x <= time && time < x + step)?;
    let time_column = time_column(result)?;
    let bucket_column = options
        .series
        .as_deref()
        .and_then(|name| result.column(name))
        .or_else(|| (0..result.columns.len()).find(|c| *c != time_column))?;
    let count = *value_columns(result, &[time_column, bucket_column]).first()?;
    let row = result.rows.iter().position(|row| {
        seconds(&row[time_column]) == Some(x) && text(&row[bucket_column]) == names[b]
    })?;
    Some((row, count, names[b].clone()))
}

/// The colour of `value` by `thresholds` (the last step it reaches), or `fallback`.
pub fn threshold_color<'a>(thresholds: &'a [Threshold], value: f64, fallback: &'a str) -> &'a str {
    let mut color = fallback;
    for step in thresholds {
        match step.value {
            None => color = &step.color,
            Some(from) if value >= from => color = &step.color,
            Some(_) => {}
        }
    }
    color
}

/// `value` as the panel's unit and decimals say: `1.2K`, `3.4%`, `250 ms`, `1.5 s`, `2.0 MiB`.
pub fn format_value(value: f64, options: &PanelOptions) -> String {
    let decimals = options.decimals.map(usize::from);
    let fixed = |v: f64, default: usize| format!("{v:.*}", decimals.unwrap_or(default));
    let auto = |v: f64| {
        let default = if (v == v.trunc() && v.abs() < 1e15) || v.abs() >= 100.0 {
            0
        } else if v.abs() >= 10.0 {
            1
        } else {
            2
        };
        fixed(v, default)
    };
    let short = |v: f64| {
        let a = v.abs();
        let (scaled, suffix) = if a >= 1e12 {
            (v / 1e12, "T")
        } else if a >= 1e9 {
            (v / 1e9, "B")
        } else if a >= 1e6 {
            (v / 1e6, "M")
        } else if a >= 1e3 {
            (v / 1e3, "K")
        } else {
            (v, "")
        };
        if suffix.is_empty() {
            auto(scaled)
        } else {
            format!("{}{suffix}", fixed(scaled, 1))
        }
    };
    match options.unit.as_deref().unwrap_or("short") {
        "none" => auto(value),
        "percent" => format!("{}%", fixed(value, 1)),
        "percentunit" => format!("{}%", fixed(value * 100.0, 1)),
        "ms" if value.abs() >= 1000.0 => format!("{} s", fixed(value / 1000.0, 2)),
        "ms" => format!("{} ms", auto(value)),
        "s" if value.abs() >= 3600.0 => format!("{} h", fixed(value / 3600.0, 1)),
        "s" if value.abs() >= 60.0 => format!("{} min", fixed(value / 60.0, 1)),
        "s" => format!("{} s", auto(value)),
        "bytes" => {
            const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
            let mut v = value;
            let mut unit = 0;
            while v.abs() >= 1024.0 && unit < UNITS.len() - 1 {
                v /= 1024.0;
                unit += 1;
            }
            if unit == 0 {
                format!("{} B", fixed(v, 0))
            } else {
                format!("{} {}", fixed(v, 1), UNITS[unit])
            }
        }
        "reqps" => format!("{} req/s", short(value)),
        _ => short(value),
    }
}

/// A duration in µs as a short age: `40 ms`, `2.5 s`, `3 min`, `2 h`.
pub fn age(micros: i64) -> String {
    let ms = micros as f64 / 1000.0;
    if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 10_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else if ms < 60_000.0 {
        format!("{:.0} s", ms / 1000.0)
    } else if ms < 3_600_000.0 {
        format!("{:.0} min", ms / 60_000.0)
    } else {
        format!("{:.0} h", ms / 3_600_000.0)
    }
}

/// The trace view's address for a value of a column named `trace_id` that is a trace id.
pub fn trace_link(column: &str, value: &Value) -> Option<String> {
    let id = value.as_str()?;
    (column == "trace_id" && protocol::trace::is_trace_id(id)).then(|| format!("/trace/{id}"))
}

/// A table cell: floats to at most three decimals, everything else as it is.
pub fn cell(value: &Value) -> String {
    match value.as_f64() {
        Some(x) if value.is_f64() => {
            let text = format!("{x:.3}");
            text.trim_end_matches('0').trim_end_matches('.').to_string()
        }
        _ => text(value),
    }
}

/// The result as CSV (RFC 4180): a header of column names, then the rows; a field with a comma,
/// a quote or a line break is quoted, its quotes doubled.
pub fn csv(result: &QueryResult) -> String {
    let field = |text: String| {
        if text.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text
        }
    };
    let mut out = String::new();
    let line = |fields: Vec<String>, out: &mut String| {
        out.push_str(&fields.join(","));
        out.push_str("\r\n");
    };
    line(
        result
            .columns
            .iter()
            .map(|c| field(c.name.clone()))
            .collect(),
        &mut out,
    );
    for row in &result.rows {
        line(row.iter().map(|v| field(text(v))).collect(), &mut out);
    }
    out
}

/// `text` with every byte but letters, digits and `-_.~` as `%XX`: safe in a URL (a `data:` link).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// A time (seconds since the epoch) as the clock shows it, `offset` seconds east of UTC:
/// `HH:MM:SS` within a day's span, with the date when the span is longer.
pub fn clock(secs: f64, span: f64, offset: i32) -> String {
    let Some(t) = DateTime::from_timestamp((secs as i64) + i64::from(offset), 0) else {
        return String::new();
    };
    if span > 2.0 * 86_400.0 {
        t.format("%m-%d %H:%M").to_string()
    } else if span > 3_600.0 {
        t.format("%H:%M").to_string()
    } else {
        t.format("%H:%M:%S").to_string()
    }
}

#[cfg(test)]
mod tests;
