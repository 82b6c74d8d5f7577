//! A whole panel drawn on any plotters backend: a box with its title, then its body as its type
//! says. Pages draw a panel as HTML around [`draw`]'s charts; this draws the same charts and writes
//! as text what HTML shows otherwise (a stat's figure, a table, log lines), for PNG rendering of a
//! panel or a whole dashboard on the server.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use protocol::QueryResult;
use protocol::dashboard::{Legend, Panel, PanelKind};

use super::draw::{self, BACKGROUND, DrawResult, Mark};
use super::{PALETTE, cell, clock, css_color, gauge, rgb, threshold_color};

/// The page behind the panels of a dashboard.
pub const PAGE: RGBColor = RGBColor(0x11, 0x12, 0x17);
const BORDER: RGBColor = RGBColor(0x2a, 0x2e, 0x35);
const TITLE: RGBColor = RGBColor(0xd8, 0xd9, 0xda);
const MUTED: RGBColor = RGBColor(0x8e, 0x92, 0x9d);
const TEXT: RGBColor = RGBColor(0xc7, 0xd0, 0xd9);
const ERROR: RGBColor = RGBColor(0xf2, 0x49, 0x5c);
const WARN: RGBColor = RGBColor(0xff, 0x98, 0x30);
/// A panel's title row and padding, in pixels (as the page's panels).
pub const HEADER: u32 = 34;
pub const PADDING: u32 = 12;
/// Roughly how wide a character of 12-pixel text is, to cut text that would not fit.
const CHAR_WIDTH: f64 = 7.0;

/// Where a panel's charts put time and its annotations: seconds since the epoch, the zone's
/// offset east of UTC in seconds.
pub struct Frame<'a> {
    pub x_range: (f64, f64),
    pub offset: i32,
    pub marks: &'a [Mark],
}

fn color(hex: &str) -> RGBColor {
    let (r, g, b) = rgb(hex);
    RGBColor(r, g, b)
}

/// `text` cut to `width` pixels of `size`-pixel text, with an ellipsis when cut.
fn fit(text: &str, width: i32, size: f64) -> String {
    let room = ((f64::from(width) / (CHAR_WIDTH * size / 12.0)) as usize).max(1);
    if text.chars().count() <= room {
        text.to_string()
    } else {
        text.chars()
            .take(room.saturating_sub(1))
            .collect::<String>()
            + "…"
    }
}

fn write<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    at: (i32, i32),
    size: f64,
    fill: RGBColor,
    (h, v): (HPos, VPos),
) -> DrawResult<DB> {
    let style = ("sans-serif", size)
        .into_font()
        .color(&fill)
        .pos(Pos::new(h, v));
    area.draw(&Text::new(text.to_string(), at, style))
}

const LEFT: (HPos, VPos) = (HPos::Left, VPos::Center);
const CENTER: (HPos, VPos) = (HPos::Center, VPos::Center);

/// The panel with its title; `result` is its query's result or what went wrong.
pub fn panel<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    panel: &Panel,
    result: Result<&QueryResult, &str>,
    frame: &Frame<'_>,
) -> DrawResult<DB> {
    root.fill(&BACKGROUND)?;
    let (width, height) = root.dim_in_pixel();
    let (width, height) = (width as i32, height as i32);
    root.draw(&Rectangle::new([(0, 0), (width - 1, height - 1)], BORDER))?;
    let title = fit(&panel.title, width - 2 * PADDING as i32, 14.0);
    write(
        root,
        &title,
        (PADDING as i32, HEADER as i32 / 2),
        14.0,
        TITLE,
        LEFT,
    )?;
    let body = root.margin(HEADER, PADDING, PADDING, PADDING);
    match result {
        Err(message) => message_at_top(&body, message, ERROR),
        Ok(result) => self::body(&body, panel, result, frame),
    }
}

/// A message across the top of `area`, over as many lines as it needs and has room for.
fn message_at_top<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    message: &str,
    fill: RGBColor,
) -> DrawResult<DB> {
    let (width, height) = area.dim_in_pixel();
    let per_line = ((f64::from(width) / CHAR_WIDTH) as usize).max(8);
    // Word-wrapped: the words of every line of the message, as many as fit on each line.
    let mut lines: Vec<String> = vec![String::new()];
    for word in message.split_whitespace() {
        let last = lines.last_mut().expect("one line at least");
        if !last.is_empty() && last.chars().count() + 1 + word.chars().count() > per_line {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    for (i, line) in lines.iter().enumerate() {
        let y = 8 + i as i32 * 16;
        if y + 8 > height as i32 {
            break;
        }
        write(
            area,
            &fit(line, width as i32, 12.0),
            (0, y),
            12.0,
            fill,
            LEFT,
        )?;
    }
    Ok(())
}

fn no_data<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>) -> DrawResult<DB> {
    let (width, height) = area.dim_in_pixel();
    write(
        area,
        "No data",
        (width as i32 / 2, height as i32 / 2),
        14.0,
        MUTED,
        CENTER,
    )
}

fn body<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    result: &QueryResult,
    frame: &Frame<'_>,
) -> DrawResult<DB> {
    let options = &panel.options;
    let format = |v: f64| super::format_value(v, options);
    let (width, height) = area.dim_in_pixel();
    match panel.kind {
        PanelKind::Timeseries | PanelKind::Bar if super::time_column(result).is_some() => {
            let series = super::time_series(result, options);
            if series.is_empty() {
                return no_data(area);
            }
            let legend = !matches!(options.legend, Some(Legend::Hidden)) && series.len() > 1;
            let (chart, below) = area.split_vertically(if legend {
                height.saturating_sub(22)
            } else {
                height
            });
            draw::time_chart(
                &chart,
                &draw::TimeChart {
                    series: &series,
                    x_range: frame.x_range,
                    y_min: options.min,
                    y_max: options.max,
                    stack: options.stack,
                    bars: panel.kind == PanelKind::Bar,
                    format: &format,
                    offset: frame.offset,
                    marks: frame.marks,
                },
            )?;
            if legend {
                let mut x = 4;
                for s in &series {
                    let name = fit(&s.name, 160, 12.0);
                    let room = (name.chars().count() as f64 * CHAR_WIDTH) as i32 + 30;
                    if x + room > width as i32 {
                        break;
                    }
                    below.draw(&Rectangle::new(
                        [(x, 8), (x + 12, 12)],
                        color(&s.color).filled(),
                    ))?;
                    write(&below, &name, (x + 18, 10), 12.0, TEXT, LEFT)?;
                    x += room;
                }
            }
            Ok(())
        }
        PanelKind::Timeseries | PanelKind::Bar => {
            let bars = super::labelled(result);
            if bars.is_empty() {
                return no_data(area);
            }
            let color_of = |v: f64| threshold_color(&options.thresholds, v, PALETTE[0]).to_string();
            draw::bar_chart(area, &bars, &format, &color_of, None)
        }
        PanelKind::Stat => {
            let (value, spark) = super::figure(result, options);
            let Some(value) = value else {
                return no_data(area);
            };
            let figure_color = threshold_color(&options.thresholds, value, "#ffffff");
            let line = threshold_color(&options.thresholds, value, PALETTE[0]);
            let spark_height = (height / 3).max(20);
            let (top, bottom) = area.split_vertically(height.saturating_sub(spark_height));
            let size = (f64::from(height - spark_height) * 0.55).clamp(18.0, 72.0);
            let text = format(value);
            write(
                &top,
                &text,
                (width as i32 / 2, (height - spark_height) as i32 / 2),
                size,
                color(figure_color),
                CENTER,
            )?;
            draw::sparkline(&bottom, &spark, line)
        }
        PanelKind::Gauge => {
            let (value, _) = super::figure(result, options);
            let Some(value) = value else {
                return no_data(area);
            };
            gauge_arcs(area, panel, value)
        }
        PanelKind::Heatmap => {
            let (cells, buckets, step) = super::heat_cells(result, options);
            if cells.is_empty() {
                return no_data(area);
            }
            draw::heatmap(area, &cells, &buckets, frame.x_range, step, frame.offset)
        }
        PanelKind::Table => table(area, result),
        PanelKind::Logs => logs(area, result, frame.offset),
    }
}

/// A gauge: a grey band from min to max, the value's part of it in the threshold's colour, the
/// thresholds as a thin band outside, the value in the middle.
fn gauge_arcs<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: &Panel,
    value: f64,
) -> DrawResult<DB> {
    let options = &panel.options;
    let (min, max) = gauge::bounds(options, value);
    let span = (max - min).max(1e-9);
    let (width, height) = area.dim_in_pixel();
    let radius = (f64::from(width) / 2.0 - 12.0)
        .min(f64::from(height) - 24.0)
        .max(20.0);
    let center = (f64::from(width) / 2.0, f64::from(height) - 12.0);
    let thickness = (radius * 0.2).max(6.0);
    // A band between two radii from one fraction of the half circle to another, as a polygon.
    let band = |from: f64, to: f64, outer: f64, inner: f64| -> Vec<(i32, i32)> {
        let steps = 48;
        let at = |f: f64, r: f64| {
            let angle = std::f64::consts::PI * (1.0 - f);
            (
                (center.0 + r * angle.cos()).round() as i32,
                (center.1 - r * angle.sin()).round() as i32,
            )
        };
        let mut points: Vec<(i32, i32)> = (0..=steps)
            .map(|i| at(from + (to - from) * f64::from(i) / f64::from(steps), outer))
            .collect();
        points.extend(
            (0..=steps)
                .rev()
                .map(|i| at(from + (to - from) * f64::from(i) / f64::from(steps), inner)),
        );
        points
    };
    area.draw(&Polygon::new(
        band(0.0, 1.0, radius, radius - thickness),
        BORDER.filled(),
    ))?;
    let steps: Vec<(f64, &str)> = options
        .thresholds
        .iter()
        .map(|t| (t.value.unwrap_or(min), t.color.as_str()))
        .collect();
    for (i, (from, step_color)) in steps.iter().enumerate() {
        let start = ((from - min) / span).clamp(0.0, 1.0);
        let end = steps
            .get(i + 1)
            .map_or(1.0, |(next, _)| ((next - min) / span).clamp(0.0, 1.0));
        if end > start {
            area.draw(&Polygon::new(
                band(start, end, radius + 8.0, radius + 4.0),
                color(step_color).filled(),
            ))?;
        }
    }
    let value_color = color(&css_color(threshold_color(
        &options.thresholds,
        value,
        PALETTE[0],
    )));
    let fraction = ((value - min) / span).clamp(0.0, 1.0);
    if fraction > 0.0 {
        area.draw(&Polygon::new(
            band(0.0, fraction.max(0.005), radius, radius - thickness),
            value_color.filled(),
        ))?;
    }
    let size = (radius * 0.35).clamp(14.0, 48.0);
    write(
        area,
        &super::format_value(value, options),
        (center.0 as i32, (center.1 - radius * 0.3) as i32),
        size,
        value_color,
        CENTER,
    )
}

/// The first rows of a table that fit, columns of equal width.
fn table<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    result: &QueryResult,
) -> DrawResult<DB> {
    if result.rows.is_empty() {
        return no_data(area);
    }
    let (width, height) = area.dim_in_pixel();
    let n = result.columns.len().max(1) as i32;
    let column = width as i32 / n;
    let row = 24;
    for (i, c) in result.columns.iter().enumerate() {
        let x = i as i32 * column;
        write(
            area,
            &fit(&c.name, column - 8, 12.0),
            (x, row / 2),
            12.0,
            MUTED,
            LEFT,
        )?;
    }
    area.draw(&PathElement::new(
        vec![(0, row), (width as i32, row)],
        BORDER,
    ))?;
    let fits = ((height as i32 - row) / row).max(0) as usize;
    for (r, values) in result.rows.iter().take(fits).enumerate() {
        let y = row * (r as i32 + 1) + row / 2;
        for (i, value) in values.iter().enumerate() {
            let x = i as i32 * column;
            write(
                area,
                &fit(&cell(value), column - 8, 12.0),
                (x, y),
                12.0,
                TEXT,
                LEFT,
            )?;
        }
    }
    Ok(())
}

/// The newest events that fit, a line each: the time, then `column=value` for the rest, in red
/// for a 5xx `status` and orange for a 4xx.
fn logs<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    result: &QueryResult,
    offset: i32,
) -> DrawResult<DB> {
    if result.rows.is_empty() {
        return no_data(area);
    }
    let (width, height) = area.dim_in_pixel();
    let time = super::time_column(result);
    let status = result.column("status");
    let mut rows: Vec<&Vec<serde_json::Value>> = result.rows.iter().collect();
    if let Some(t) = time {
        let at = |row: &[serde_json::Value]| super::seconds(&row[t]).unwrap_or(0.0);
        rows.sort_by(|a, b| at(b).total_cmp(&at(a)));
    }
    let line = 18;
    let fits = (height as i32 / line).max(0) as usize;
    for (r, row) in rows.into_iter().take(fits).enumerate() {
        let when = time
            .and_then(|t| super::seconds(&row[t]))
            .map(|s| clock(s, 0.0, offset))
            .unwrap_or_default();
        let fields: Vec<String> = result
            .columns
            .iter()
            .enumerate()
            .filter(|(i, c)| Some(*i) != time && !c.name.starts_with('_'))
            .map(|(i, c)| format!("{}={}", c.name, super::text(&row[i])))
            .collect();
        let fill = match status.and_then(|s| super::number(&row[s])) {
            Some(s) if s >= 500.0 => ERROR,
            Some(s) if s >= 400.0 => WARN,
            _ => TEXT,
        };
        let y = r as i32 * line + line / 2;
        write(area, &when, (0, y), 12.0, MUTED, LEFT)?;
        let text = fit(&fields.join("  "), width as i32 - 70, 12.0);
        write(area, &text, (70, y), 12.0, fill, LEFT)?;
    }
    Ok(())
}
