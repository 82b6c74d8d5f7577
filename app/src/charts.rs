//! Charts drawn with plotters into SVG text: the same code renders on the server and in the
//! browser, and a chart updates by replacing its SVG.

use plotters::prelude::*;

const BACKGROUND: RGBColor = RGBColor(0x18, 0x1b, 0x1f);
const GRID: RGBColor = RGBColor(0x2a, 0x2e, 0x35);
const AXIS: RGBColor = RGBColor(0x4a, 0x50, 0x5a);
const TEXT: RGBColor = RGBColor(0xa8, 0xad, 0xbd);
pub(crate) const GREEN: RGBColor = RGBColor(0x73, 0xbf, 0x69);
pub(crate) const RED: RGBColor = RGBColor(0xf2, 0x49, 0x5c);

const WIDTH: u32 = 720;
const HEIGHT: u32 = 220;

/// A time series: x in seconds since the epoch, y in the series' unit.
pub(crate) struct TimeSeries<'a> {
    pub(crate) points: &'a [(f64, f64)],
    pub(crate) color: RGBColor,
    pub(crate) y_format: fn(f64) -> String,
}

/// Draws `series` over `x_range` (seconds since the epoch, UTC) as an area chart.
pub(crate) fn time_series_svg(series: &TimeSeries<'_>, x_range: (f64, f64)) -> String {
    let mut svg = String::new();
    if let Err(err) = draw(&mut svg, series, x_range) {
        return format!("<p class=\"error\">chart: {err}</p>");
    }
    svg
}

fn draw<'s>(
    svg: &'s mut String,
    series: &TimeSeries<'_>,
    (x_start, x_end): (f64, f64),
) -> Result<(), Box<dyn std::error::Error + 's>> {
    let y_max = series.points.iter().map(|&(_, y)| y).fold(0.0f64, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.15 } else { 1.0 };
    let x_end = if x_end > x_start {
        x_end
    } else {
        x_start + 1.0
    };
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&BACKGROUND)?;
    let label_style = ("sans-serif", 12).into_font().color(&TEXT);
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .margin_right(16)
        .x_label_area_size(24)
        .y_label_area_size(52)
        .build_cartesian_2d(x_start..x_end, 0f64..y_max)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(GRID)
        .light_line_style(BACKGROUND)
        .axis_style(AXIS)
        .label_style(label_style)
        .x_labels(6)
        .y_labels(5)
        .x_label_formatter(&|x| clock(*x))
        .y_label_formatter(&|y| (series.y_format)(*y))
        .draw()?;
    chart.draw_series(
        AreaSeries::new(series.points.iter().copied(), 0.0, series.color.mix(0.18))
            .border_style(series.color.stroke_width(2)),
    )?;
    root.present()?;
    Ok(())
}

/// `HH:MM:SS` (UTC) of seconds since the epoch.
fn clock(secs: f64) -> String {
    let day_secs = (secs.max(0.0) as u64) % 86_400;
    format!(
        "{:02}:{:02}:{:02}",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_an_svg_with_labels() {
        let points: Vec<(f64, f64)> = (0..300)
            .map(|i| (1_000.0 + i as f64, (i % 7) as f64))
            .collect();
        let series = TimeSeries {
            points: &points,
            color: GREEN,
            y_format: |y| format!("{y:.0}"),
        };
        let svg = time_series_svg(&series, (1_000.0, 1_300.0));
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("viewBox=\"0 0 720 220\""));
        assert!(svg.contains("00:16:40"), "x labels are UTC clock times");
        assert_eq!(clock(86_400.0 + 3_723.0), "01:02:03");
    }
}
