//! A chart across time that zooms to the range dragged across it and says where a click fell:
//! a dashboard's time series and Explore's histogram; and a chart that only says where a click
//! fell (bars without time, heatmaps).

use leptos::prelude::*;

use crate::viz::draw;

/// A click on a chart: the time under it, and where it was in the window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Click {
    /// Seconds since the epoch.
    pub(crate) time: f64,
    /// Client (window) pixels.
    pub(crate) x: i32,
    pub(crate) y: i32,
}

/// `svg` (a time chart `width` × `height` over `x_range` seconds) that calls `on_zoom` with the
/// range in seconds dragged across it, and `on_click` with a click.
#[component]
pub(crate) fn ZoomChart(
    svg: String,
    x_range: (f64, f64),
    width: u32,
    height: u32,
    #[prop(optional)] marks: Vec<draw::Mark>,
    on_zoom: Callback<(f64, f64)>,
    #[prop(optional)] on_click: Option<Callback<Click>>,
    /// A range of seconds shown shaded (what is selected); nothing when empty.
    #[prop(optional)]
    band: (f64, f64),
    /// What it says on hover.
    #[prop(into)]
    title: String,
) -> impl IntoView {
    // Each mark's place across the chart, for its text on hover.
    let left = f64::from(draw::MARGIN + draw::Y_LABELS);
    let right = f64::from(width - draw::MARGIN_RIGHT);
    let span = (x_range.1 - x_range.0).max(1e-9);
    let hints: Vec<(String, String)> = draw::visible_marks(&marks, x_range, width)
        .iter()
        .filter(|m| m.start >= x_range.0 && m.start <= x_range.1)
        .map(|m| {
            let x = left + (m.start - x_range.0) / span * (right - left);
            (
                format!("left: {:.2}%", x / f64::from(width) * 100.0),
                m.text.clone(),
            )
        })
        .collect();
    // As a share of the chart's width, like the marks.
    let band = (band.1 > band.0).then(|| {
        let (start, end) = band;
        let at = |t: f64| {
            (left + (t.clamp(x_range.0, x_range.1) - x_range.0) / span * (right - left))
                / f64::from(width)
                * 100.0
        };
        format!(
            "left: {:.2}%; width: {:.2}%",
            at(start),
            (at(end) - at(start)).max(0.2)
        )
    });
    // The drag in the element's pixels: where it started, where it is.
    let drag = RwSignal::new(None::<(f64, f64)>);
    let element = NodeRef::<leptos::html::Div>::new();
    // Element pixels to seconds, through the SVG's scaling ("meet": centred, aspect kept).
    let to_time = move |x: f64| -> Option<f64> {
        let (el_width, el_height) = element_size(element)?;
        let scale = (el_width / f64::from(width)).min(el_height / f64::from(height));
        let pad = (el_width - f64::from(width) * scale) / 2.0;
        let svg_x = (x - pad) / scale;
        let fraction = ((svg_x - left) / (right - left)).clamp(0.0, 1.0);
        Some(x_range.0 + fraction * (x_range.1 - x_range.0))
    };
    let on_down = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        let x = f64::from(ev.offset_x());
        drag.set(Some((x, x)));
    };
    let on_move = move |ev: leptos::ev::MouseEvent| {
        if drag.with_untracked(Option::is_some) {
            let x = f64::from(ev.offset_x());
            drag.update(|d| {
                if let Some(d) = d {
                    d.1 = x;
                }
            });
        }
    };
    let on_up = move |ev: leptos::ev::MouseEvent| {
        let Some((a, b)) = drag.get_untracked() else {
            return;
        };
        drag.set(None);
        if (a - b).abs() < 5.0 {
            if let (Some(on_click), Some(time)) = (on_click, to_time(b)) {
                on_click.run(Click {
                    time,
                    x: ev.client_x(),
                    y: ev.client_y(),
                });
            }
            return;
        }
        if let (Some(t0), Some(t1)) = (to_time(a.min(b)), to_time(a.max(b))) {
            on_zoom.run((t0, t1));
        }
    };
    let selection = move || {
        drag.get()
            .filter(|(a, b)| (a - b).abs() >= 2.0)
            .map(|(a, b)| format!("left: {}px; width: {}px", a.min(b), (a - b).abs()))
    };
    view! {
        <div class="chart zoomable" node_ref=element data-test="chart" data-from=x_range.0 data-to=x_range.1
            title=title
            on:mousedown=on_down on:mousemove=on_move on:mouseup=on_up on:mouseleave=move |_| drag.set(None)>
            <div class="chart-svg" inner_html=svg></div>
            {band.map(|style| view! { <div class="chart-band" style=style data-test="chart-band"></div> })}
            {hints.into_iter().map(|(style, text)| view! {
                <div class="mark" style=style title=text data-test="annotation"></div>
            }).collect_view()}
            {move || selection().map(|style| view! { <div class="zoom-selection" style=style></div> })}
        </div>
    }
}

/// A click on a chart that does not zoom: where it fell in the SVG's own pixels, and in the
/// window's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Point {
    pub(crate) svg: (f64, f64),
    pub(crate) x: i32,
    pub(crate) y: i32,
}

/// `svg` (`width` × `height`) that calls `on_click` with where a click fell: bars without time
/// and heatmaps, whose drawing says what is there.
#[component]
pub(crate) fn ClickChart(
    svg: String,
    width: u32,
    height: u32,
    on_click: Callback<Point>,
    #[prop(into)] title: String,
) -> impl IntoView {
    let element = NodeRef::<leptos::html::Div>::new();
    let on_click = move |ev: leptos::ev::MouseEvent| {
        let Some((el_width, el_height)) = element_size(element) else {
            return;
        };
        // Through the SVG's scaling ("meet": centred, aspect kept).
        let scale = (el_width / f64::from(width)).min(el_height / f64::from(height));
        let pad_x = (el_width - f64::from(width) * scale) / 2.0;
        let pad_y = (el_height - f64::from(height) * scale) / 2.0;
        on_click.run(Point {
            svg: (
                (f64::from(ev.offset_x()) - pad_x) / scale,
                (f64::from(ev.offset_y()) - pad_y) / scale,
            ),
            x: ev.client_x(),
            y: ev.client_y(),
        });
    };
    view! {
        <div class="chart clickable" node_ref=element data-test="chart" title=title on:click=on_click>
            <div class="chart-svg" inner_html=svg></div>
        </div>
    }
}

/// An element's size in CSS pixels, in the browser.
fn element_size(element: NodeRef<leptos::html::Div>) -> Option<(f64, f64)> {
    #[cfg(feature = "hydrate")]
    {
        let el = element.get_untracked()?;
        let rect = el.get_bounding_client_rect();
        Some((rect.width(), rect.height()))
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = element;
        None
    }
}
