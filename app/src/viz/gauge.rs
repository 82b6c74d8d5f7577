//! A gauge: an arc from `min` to `max`, coloured by thresholds, with the value in its middle.
//! Plain SVG (plotters has no arcs with thick strokes that scale well).

use std::f64::consts::PI;

use protocol::dashboard::PanelOptions;

/// The gauge as SVG text, `size` wide and about 0.7 × `size` high.
pub fn svg(
    value: f64,
    min: f64,
    max: f64,
    color: &str,
    label: &str,
    steps: &[(f64, String)],
) -> String {
    let width = 200.0;
    let height = 140.0;
    let (cx, cy, r) = (100.0, 110.0, 80.0);
    let span = (max - min).max(1e-9);
    let fraction = ((value - min) / span).clamp(0.0, 1.0);
    // From the left (180°) clockwise over the top to the right (0°).
    let point = |f: f64, radius: f64| {
        let angle = PI * (1.0 - f);
        (cx + radius * angle.cos(), cy - radius * angle.sin())
    };
    let arc = |from: f64, to: f64, radius: f64| {
        let (x0, y0) = point(from, radius);
        let (x1, y1) = point(to, radius);
        format!("M {x0:.2} {y0:.2} A {radius} {radius} 0 0 1 {x1:.2} {y1:.2}")
    };
    let mut out = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="gauge">"##
    );
    out.push_str(&format!(
        r##"<path d="{}" fill="none" stroke="#2a2e35" stroke-width="16"/>"##,
        arc(0.0, 1.0, r)
    ));
    // The thresholds as a thin outer band.
    for (i, (from, color)) in steps.iter().enumerate() {
        let start = ((from - min) / span).clamp(0.0, 1.0);
        let end = steps
            .get(i + 1)
            .map_or(1.0, |(next, _)| ((next - min) / span).clamp(0.0, 1.0));
        if end > start {
            out.push_str(&format!(
                r##"<path d="{}" fill="none" stroke="{color}" stroke-width="4"/>"##,
                arc(start, end, r + 13.0)
            ));
        }
    }
    if fraction > 0.0 {
        out.push_str(&format!(
            r##"<path d="{}" fill="none" stroke="{color}" stroke-width="16"/>"##,
            arc(0.0, fraction.max(0.005), r)
        ));
    }
    let label = label
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    out.push_str(&format!(
        r##"<text x="{cx}" y="{:.0}" text-anchor="middle" fill="{color}" font-size="30" font-weight="600" font-family="sans-serif">{label}</text>"##,
        cy - 12.0
    ));
    out.push_str("</svg>");
    out
}

/// The gauge's range: the panel's min and max, else 0 to 100 for percentages (1 for
/// `percentunit`), else to a quarter above the value.
pub fn bounds(options: &PanelOptions, value: f64) -> (f64, f64) {
    let min = options.min.unwrap_or(0.0);
    let max = options.max.unwrap_or(match options.unit.as_deref() {
        Some("percent") => 100.0,
        Some("percentunit") => 1.0,
        _ => (value * 1.25).max(min + 1.0),
    });
    (min, max)
}
