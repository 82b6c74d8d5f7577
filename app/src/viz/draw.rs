//! Charts drawn with plotters on any backend: SVG text in pages (updated in place by replacing
//! it), a bitmap for PNG rendering on the server.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{PALETTE, Series, clock, rgb};

pub const BACKGROUND: RGBColor = RGBColor(0x18, 0x1b, 0x1f);
const GRID: RGBColor = RGBColor(0x2a, 0x2e, 0x35);
const AXIS: RGBColor = RGBColor(0x4a, 0x50, 0x5a);
const TEXT: RGBColor = RGBColor(0xa8, 0xad, 0xbd);

/// Space around a time series' plot area, in pixels: where a drag across the chart maps to time.
pub const MARGIN: u32 = 8;
pub const MARGIN_RIGHT: u32 = 16;
pub const Y_LABELS: u32 = 60;
pub const X_LABELS: u32 = 22;

fn color(hex: &str) -> RGBColor {
    let (r, g, b) = rgb(hex);
    RGBColor(r, g, b)
}

/// A marker or region drawn on every time series (annotations): seconds since the epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Mark {
    pub start: f64,
    pub end: Option<f64>,
    pub text: String,
    pub color: String,
}

/// The marks of `range` a chart `width` pixels wide draws: at most one per 6 pixels (the first of
/// those closer together), so that a long range of frequent annotations stays readable.
pub fn visible_marks(marks: &[Mark], range: (f64, f64), width: u32) -> Vec<Mark> {
    let plot = f64::from(
        width
            .saturating_sub(MARGIN + MARGIN_RIGHT + Y_LABELS)
            .max(1),
    );
    let gap = (range.1 - range.0) * 6.0 / plot;
    let mut shown: Vec<Mark> = marks
        .iter()
        .filter(|m| m.end.unwrap_or(m.start) >= range.0 && m.start <= range.1)
        .cloned()
        .collect();
    shown.sort_by(|a, b| a.start.total_cmp(&b.start));
    let mut last = f64::MIN;
    shown.retain(|m| {
        let keep = m.start - last >= gap;
        if keep {
            last = m.start;
        }
        keep
    });
    shown
}

/// How a time series is drawn.
pub struct TimeChart<'a> {
    pub series: &'a [Series],
    /// Seconds since the epoch.
    pub x_range: (f64, f64),
    pub y_min: Option<f64>,
    pub y_max: Option<f64>,
    pub stack: bool,
    pub bars: bool,
    pub format: &'a dyn Fn(f64) -> String,
    /// Seconds east of UTC for the axis labels.
    pub offset: i32,
    pub marks: &'a [Mark],
}

pub type DrawResult<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// Lines (or stacked areas, or bars) over time.
pub fn time_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &TimeChart<'_>,
) -> DrawResult<DB> {
    root.fill(&BACKGROUND)?;
    let (x_start, mut x_end) = chart.x_range;
    if x_end <= x_start {
        x_end = x_start + 1.0;
    }
    // Stacking adds each series onto the ones before it, at the same x.
    let stacked: Vec<Vec<(f64, f64)>> = if chart.stack {
        let mut base: std::collections::BTreeMap<i64, f64> = Default::default();
        chart
            .series
            .iter()
            .map(|s| {
                s.points
                    .iter()
                    .map(|&(x, y)| {
                        let key = (x * 1000.0) as i64;
                        let total = base.entry(key).or_default();
                        *total += y;
                        (x, *total)
                    })
                    .collect()
            })
            .collect()
    } else {
        chart.series.iter().map(|s| s.points.clone()).collect()
    };
    let visible = |p: &&(f64, f64)| p.0 >= x_start && p.0 <= x_end;
    let data_max = stacked
        .iter()
        .flat_map(|s| s.iter().filter(visible).map(|p| p.1))
        .fold(f64::MIN, f64::max);
    let data_min = stacked
        .iter()
        .flat_map(|s| s.iter().filter(visible).map(|p| p.1))
        .fold(f64::MAX, f64::min);
    let y_min = chart
        .y_min
        .unwrap_or(if data_min < 0.0 { data_min * 1.1 } else { 0.0 });
    let mut y_max = chart
        .y_max
        .unwrap_or(if data_max > 0.0 { data_max * 1.15 } else { 1.0 });
    if y_max <= y_min {
        y_max = y_min + 1.0;
    }
    let span = x_end - x_start;
    let label_style = ("sans-serif", 12).into_font().color(&TEXT);
    let mut ctx = ChartBuilder::on(root)
        .margin(MARGIN)
        .margin_right(MARGIN_RIGHT)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS)
        .build_cartesian_2d(x_start..x_end, y_min..y_max)?;
    ctx.configure_mesh()
        .disable_x_mesh()
        .bold_line_style(GRID)
        .light_line_style(BACKGROUND)
        .axis_style(AXIS)
        .label_style(label_style)
        .x_labels(7)
        .y_labels(5)
        .x_label_formatter(&|x| clock(*x, span, chart.offset))
        .y_label_formatter(&|y| (chart.format)(*y))
        .draw()?;
    // Regions and markers under the data.
    let (width, _) = root.dim_in_pixel();
    for mark in &visible_marks(chart.marks, (x_start, x_end), width) {
        let c = color(&mark.color);
        match mark.end {
            Some(end) if end > mark.start => {
                ctx.draw_series(std::iter::once(Rectangle::new(
                    [(mark.start.max(x_start), y_min), (end.min(x_end), y_max)],
                    c.mix(0.07).filled(),
                )))?;
            }
            _ => {}
        }
        if mark.start >= x_start && mark.start <= x_end {
            ctx.draw_series(std::iter::once(PathElement::new(
                vec![(mark.start, y_min), (mark.start, y_max)],
                c.mix(0.45).stroke_width(1),
            )))?;
        }
    }
    let bar_width = if chart.bars {
        let mut xs: Vec<f64> = stacked.iter().flat_map(|s| s.iter().map(|p| p.0)).collect();
        xs.sort_by(f64::total_cmp);
        xs.dedup();
        let step = xs.windows(2).map(|w| w[1] - w[0]).fold(f64::MAX, f64::min);
        if step.is_finite() && step < f64::MAX {
            step * 0.8
        } else {
            span / 50.0
        }
    } else {
        0.0
    };
    // Stacked series are drawn top first, so each lower one covers the one above's base.
    let order: Vec<usize> = if chart.stack {
        (0..stacked.len()).rev().collect()
    } else {
        (0..stacked.len()).collect()
    };
    for i in order {
        let points = &stacked[i];
        let c = color(&chart.series[i].color);
        if chart.bars {
            let n = chart.series.len().max(1) as f64;
            let (w, shift) = if chart.stack {
                (bar_width, 0.0)
            } else {
                (bar_width / n, bar_width / n * i as f64)
            };
            ctx.draw_series(points.iter().map(|&(x, y)| {
                let left = x - bar_width / 2.0 + shift;
                Rectangle::new(
                    [(left, y_min.max(0.0)), (left + w, y)],
                    c.mix(0.85).filled(),
                )
            }))?;
        } else if chart.stack || chart.series.len() == 1 {
            let fill = if chart.stack { 0.35 } else { 0.18 };
            ctx.draw_series(
                AreaSeries::new(points.iter().copied(), y_min.max(0.0), c.mix(fill))
                    .border_style(c.stroke_width(2)),
            )?;
        } else {
            ctx.draw_series(LineSeries::new(points.iter().copied(), c.stroke_width(2)))?;
        }
        // A line needs two points: a lone one (a new series, one bucket so far) is a dot.
        if !chart.bars && points.len() < 3 {
            ctx.draw_series(points.iter().map(|&p| Circle::new(p, 3, c.filled())))?;
        }
    }
    root.present()?;
    Ok(())
}

/// The bar of [`bar_chart`]'s `n` bars, `height` pixels tall, at `y` pixels from its top.
pub fn bar_at(n: usize, height: u32, y: f64) -> Option<usize> {
    let row = (f64::from(height) / n.max(1) as f64).min(36.0);
    let i = (y / row).floor();
    (i >= 0.0 && (i as usize) < n).then_some(i as usize)
}

/// Where a point of [`heatmap`]'s plot is, `width` × `height` pixels over `x_range` with `n`
/// buckets: its time (seconds) and bucket; none outside the plot.
pub fn heatmap_at(
    (width, height): (u32, u32),
    x_range: (f64, f64),
    n: usize,
    (x, y): (f64, f64),
) -> Option<(f64, usize)> {
    let left = f64::from(MARGIN + Y_LABELS + 30);
    let right = f64::from(width.saturating_sub(MARGIN_RIGHT));
    let top = f64::from(MARGIN);
    let bottom = f64::from(height.saturating_sub(MARGIN + X_LABELS));
    if !(left..right).contains(&x) || !(top..bottom).contains(&y) || n == 0 {
        return None;
    }
    let (start, end) = (x_range.0, x_range.1.max(x_range.0 + 1.0));
    let time = start + (x - left) / (right - left) * (end - start);
    let bucket = ((bottom - y) / (bottom - top) * n as f64).floor() as usize;
    Some((time, bucket.min(n - 1)))
}

/// Horizontal bars with labels, for results without time; a threshold (an alert rule's) as a
/// vertical line across them.
pub fn bar_chart<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    bars: &[(String, f64)],
    format: &dyn Fn(f64) -> String,
    color_of: &dyn Fn(f64) -> String,
    threshold: Option<f64>,
) -> DrawResult<DB> {
    root.fill(&BACKGROUND)?;
    let (width, height) = root.dim_in_pixel();
    let n = bars.len().max(1);
    let threshold = threshold.filter(|t| t.is_finite());
    let max = bars
        .iter()
        .map(|b| b.1)
        .chain(threshold.map(|t| t * 1.1))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let label_width = (width as f64 * 0.3) as i32;
    let value_width = 70;
    let row = (height as f64 / n as f64).min(36.0);
    let font = ("sans-serif", 12).into_font().color(&TEXT);
    for (i, (label, value)) in bars.iter().enumerate() {
        let top = (i as f64 * row) as i32 + 2;
        let bottom = ((i + 1) as f64 * row) as i32 - 2;
        let middle = (top + bottom) / 2;
        let mut label = label.clone();
        if label.chars().count() > 28 {
            label = label.chars().take(27).collect::<String>() + "…";
        }
        root.draw(&Text::new(
            label,
            (label_width - 8, middle),
            font.pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
        let bar_space = width as i32 - label_width - value_width;
        let len = ((value / max) * f64::from(bar_space)).max(1.0) as i32;
        root.draw(&Rectangle::new(
            [(label_width, top), (label_width + len, bottom)],
            color(&color_of(*value)).mix(0.85).filled(),
        ))?;
        root.draw(&Text::new(
            format(*value),
            (label_width + len + 6, middle),
            font.pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    if let Some(t) = threshold {
        let bar_space = width as i32 - label_width - value_width;
        let x = label_width + ((t.max(0.0) / max) * f64::from(bar_space)) as i32;
        let bottom = ((n as f64 * row) as i32).min(height as i32);
        let red = color("#f2495c");
        root.draw(&PathElement::new(
            vec![(x, 0), (x, bottom)],
            red.stroke_width(2),
        ))?;
        root.draw(&Text::new(
            format(t),
            (x + 4, bottom.min(height as i32 - 2)),
            ("sans-serif", 11)
                .into_font()
                .color(&red)
                .pos(Pos::new(HPos::Left, VPos::Bottom)),
        ))?;
    }
    root.present()?;
    Ok(())
}

/// A heatmap: time on x, buckets on y (in the order given), counts as colour.
pub fn heatmap<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    cells: &[(f64, usize, f64)],
    buckets: &[String],
    x_range: (f64, f64),
    step: f64,
    offset: i32,
) -> DrawResult<DB> {
    root.fill(&BACKGROUND)?;
    let (x_start, x_end) = (x_range.0, x_range.1.max(x_range.0 + 1.0));
    let n = buckets.len().max(1);
    let span = x_end - x_start;
    let max = cells.iter().map(|c| c.2).fold(0.0f64, f64::max).max(1e-9);
    let label_style = ("sans-serif", 12).into_font().color(&TEXT);
    // Buckets are segments: a label at each one's centre.
    let mut ctx = ChartBuilder::on(root)
        .margin(MARGIN)
        .margin_right(MARGIN_RIGHT)
        .x_label_area_size(X_LABELS)
        .y_label_area_size(Y_LABELS + 30)
        .build_cartesian_2d(x_start..x_end, (0..n as i32).into_segmented())?;
    ctx.configure_mesh()
        .disable_mesh()
        .axis_style(AXIS)
        .label_style(label_style)
        .x_labels(7)
        .y_labels(n.min(16))
        .x_label_formatter(&|x| clock(*x, span, offset))
        .y_label_formatter(&|y| match y {
            SegmentValue::CenterOf(i) => buckets.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .draw()?;
    let hot = color(PALETTE[3]);
    let cold = BACKGROUND;
    ctx.draw_series(cells.iter().map(|&(x, b, v)| {
        let t = (v / max).clamp(0.0, 1.0).sqrt();
        let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t) as u8;
        let fill = RGBColor(mix(cold.0, hot.0), mix(cold.1, hot.1), mix(cold.2, hot.2));
        Rectangle::new(
            [
                (x, SegmentValue::Exact(b as i32)),
                (x + step, SegmentValue::Exact(b as i32 + 1)),
            ],
            fill.filled(),
        )
    }))?;
    root.present()?;
    Ok(())
}

/// A sparkline: the series as an area, no axes.
pub fn sparkline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    points: &[(f64, f64)],
    line: &str,
) -> DrawResult<DB> {
    if points.len() < 2 {
        return Ok(());
    }
    let x0 = points[0].0;
    let x1 = points[points.len() - 1].0.max(x0 + 1.0);
    let max = points.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-9);
    let mut ctx = ChartBuilder::on(root).build_cartesian_2d(x0..x1, 0f64..max * 1.1)?;
    let c = color(line);
    ctx.draw_series(
        AreaSeries::new(points.iter().copied(), 0.0, c.mix(0.15)).border_style(c.stroke_width(2)),
    )?;
    root.present()?;
    Ok(())
}

/// Draws into SVG text `width`×`height`; a failure becomes an error paragraph.
pub fn svg(
    width: u32,
    height: u32,
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String>,
) -> String {
    #[cfg(feature = "png")]
    super::png::register_fonts();
    let mut out = String::new();
    let failed = {
        let root = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        draw(&root).err()
    };
    match failed {
        Some(err) => format!("<p class=\"error\">chart: {err}</p>"),
        None => out,
    }
}
