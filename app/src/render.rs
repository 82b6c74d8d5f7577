//! Dashboards and panels as PNG pictures, for links in chat and for alert notifications: the same
//! view a URL gives the page (time range and variables from the query), fetched as the page
//! fetches it (the same context of variables, annotations and first results), drawn with
//! [`crate::viz::picture`] on plotters' bitmap backend, in UTC.

use std::collections::BTreeMap;

use leptos_router::params::ParamsMap;
use protocol::dashboard::{Dashboard, Panel};
use protocol::{Error, ErrorKind, QueryResult};

use crate::pages::dashboard::{GAP, ROW_HEIGHT, ViewState, context, describe, panel_sql, values};
use crate::viz::{draw::Mark, picture, png};

/// The width of a dashboard's picture unless asked otherwise: the page's at 1440 pixels.
pub const DASHBOARD_WIDTH: u32 = 1440;
/// The largest picture drawn, either way, in pixels.
pub const MAX_SIDE: u32 = 4096;
const MIN_SIDE: u32 = 64;
/// Space around the grid, and the dashboard's title row above it.
const MARGIN: u32 = 16;
const TITLE: u32 = 44;

/// What to draw: one panel or the whole dashboard, as the URL's query asks.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub panel: Option<u32>,
    /// `from`, `to` and `var-NAME` (repeated for several values), as in the page's URL.
    pub query: Vec<(String, String)>,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// A panel's box in the picture: x, y, width, height in pixels.
type Place = (i32, i32, u32, u32);

/// Everything a picture is drawn from; drawing it is CPU work, which a server may move off its
/// async threads.
#[derive(Debug)]
pub struct Scene {
    title: String,
    range: String,
    width: u32,
    height: u32,
    /// Each panel drawn: where (x, y, width, height), and its result or what went wrong.
    panels: Vec<(Panel, Place, Result<QueryResult, String>)>,
    x_range: (f64, f64),
    marks: Vec<Mark>,
    /// One panel, filling the picture: no page around it.
    single: bool,
}

/// Each panel's box on a page `width` pixels wide (grid below `top`), and the page's height.
fn layout(panels: &[Panel], width: u32, top: u32) -> (Vec<Place>, u32) {
    let column = f64::from(width - 2 * MARGIN + GAP) / 24.0;
    let mut bottom = top;
    let boxes = panels
        .iter()
        .map(|p| {
            let g = p.grid;
            let x = MARGIN as i32 + (column * f64::from(g.x)) as i32;
            let w = ((column * f64::from(g.w)) as u32)
                .saturating_sub(GAP)
                .max(1);
            let y = top + g.y * (ROW_HEIGHT + GAP);
            let h = g.h * ROW_HEIGHT + g.h.saturating_sub(1) * GAP;
            bottom = bottom.max(y + h);
            (x, y as i32, w, h)
        })
        .collect();
    (boxes, bottom + MARGIN)
}

fn side(name: &str, value: Option<u32>, default: u32) -> Result<u32, Error> {
    let value = value.unwrap_or(default);
    if (MIN_SIDE..=MAX_SIDE).contains(&value) {
        Ok(value)
    } else {
        Err(Error::new(
            ErrorKind::BadRequest,
            format!("{name} must be between {MIN_SIDE} and {MAX_SIDE} pixels, not {value}"),
        ))
    }
}

/// Runs what `request` asks to draw of `dashboard`: its variables, annotations and panels' queries.
pub async fn scene(dashboard: Dashboard, request: Request) -> Result<Scene, Error> {
    let mut params = ParamsMap::new();
    for (key, value) in request.query {
        params.insert(key, value);
    }
    let view = ViewState::from_query(&params, &dashboard);
    let range = view.range().map_err(|(_, message)| {
        Error::new(ErrorKind::BadRequest, format!("time range: {message}"))
    })?;
    let label = describe(&view.from, &view.to);
    let title = dashboard.title.clone();
    let dashboard_width = request.width.unwrap_or(DASHBOARD_WIDTH);
    let (single, panels, width, height) = match request.panel {
        Some(id) => {
            let Some(panel) = dashboard.panels.iter().find(|p| p.id == id).cloned() else {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("dashboard {} has no panel {id}", dashboard.uid),
                ));
            };
            // As big as on the page unless asked otherwise.
            let (boxes, _) = layout(std::slice::from_ref(&panel), DASHBOARD_WIDTH, 0);
            let width = side("width", request.width, boxes[0].2.max(MIN_SIDE))?;
            let height = side("height", request.height, boxes[0].3.max(MIN_SIDE))?;
            (true, vec![(panel, (0, 0, width, height))], width, height)
        }
        None => {
            let width = side("width", Some(dashboard_width), DASHBOARD_WIDTH)?;
            let (boxes, fit) = layout(&dashboard.panels, width, TITLE);
            let height = side("height", request.height, fit.clamp(MIN_SIDE, MAX_SIDE))?;
            let panels = dashboard.panels.iter().cloned().zip(boxes).collect();
            (false, panels, width, height)
        }
    };
    // Each panel's body: its box less the title and the padding.
    let sizes: BTreeMap<u32, (u32, u32)> = panels
        .iter()
        .map(|(p, b)| {
            (
                p.id,
                (
                    b.2.saturating_sub(2 * picture::PADDING),
                    b.3.saturating_sub(picture::HEADER + picture::PADDING),
                ),
            )
        })
        .collect();
    let context = context(dashboard, view, range, |p| {
        sizes.get(&p.id).copied().unwrap_or((DASHBOARD_WIDTH, 300))
    })
    .await;
    let now = context
        .results
        .values()
        .find_map(|(_, r)| r.as_ref().ok().map(|r| r.now))
        .filter(|now| *now > 0)
        .unwrap_or_else(crate::pages::dashboard::now_micros);
    let (from, to) = range.resolve(now);
    let vars = values(&context.variables);
    let mut results = context.results;
    let panels = panels
        .into_iter()
        .map(|(panel, at)| {
            let result = match results.remove(&panel.id) {
                Some((_, result)) => result.map_err(|e| e.message).map(|mut result| {
                    // A table's or a log's first page holds one row more (is there a next?).
                    let height = sizes.get(&panel.id).map_or(0, |s| s.1);
                    if let Some(rows) = panel.kind.page_rows(height) {
                        result.rows.truncate(rows);
                    }
                    result
                }),
                // Not run: its SQL did not substitute; say why as the page does.
                None => Err(panel_sql(&panel, &vars, range, (at.2, at.3), 0)
                    .err()
                    .map_or_else(|| "not run".to_string(), |e| e.to_string())),
            };
            (panel, at, result)
        })
        .collect();
    Ok(Scene {
        title,
        range: label,
        width,
        height,
        panels,
        x_range: (from as f64 / 1e6, to as f64 / 1e6),
        marks: context.marks,
        single,
    })
}

impl Scene {
    /// The picture as PNG.
    pub fn png(&self) -> Result<Vec<u8>, Error> {
        png::render(self.width, self.height, |root| {
            use plotters::prelude::*;
            use plotters::style::text_anchor::{HPos, Pos, VPos};
            let failed = |e: plotters::drawing::DrawingAreaErrorKind<_>| e.to_string();
            let frame = picture::Frame {
                x_range: self.x_range,
                offset: 0,
                marks: &self.marks,
            };
            if !self.single {
                root.fill(&picture::PAGE).map_err(failed)?;
                let style = |size: f64, color: RGBColor, h: HPos| {
                    ("sans-serif", size)
                        .into_font()
                        .color(&color)
                        .pos(Pos::new(h, VPos::Center))
                };
                let y = (MARGIN + TITLE / 2) as i32 - 8;
                root.draw(&Text::new(
                    self.title.clone(),
                    (MARGIN as i32, y),
                    style(18.0, RGBColor(0xd8, 0xd9, 0xda), HPos::Left),
                ))
                .map_err(failed)?;
                root.draw(&Text::new(
                    format!("{} · UTC", self.range),
                    (self.width as i32 - MARGIN as i32, y),
                    style(13.0, RGBColor(0x8e, 0x92, 0x9d), HPos::Right),
                ))
                .map_err(failed)?;
            }
            for (panel, (x, y, w, h), result) in &self.panels {
                let (x, y) = (*x, *y + if self.single { 0 } else { MARGIN as i32 });
                if y >= self.height as i32 || *w == 0 || *h == 0 {
                    continue;
                }
                let area = root.clone().shrink((x, y), (*w, *h));
                picture::panel(
                    &area,
                    panel,
                    result.as_ref().map_err(String::as_str),
                    &frame,
                )
                .map_err(|e| e.to_string())?;
            }
            Ok(())
        })
        .map_err(|message| Error::new(ErrorKind::Internal, format!("drawing: {message}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_follows_the_page_grid() {
        let panel = |x, y, w, h| {
            serde_json::from_value::<Panel>(serde_json::json!({
                "id": 1, "title": "p", "type": "stat", "sql": "SELECT 1",
                "grid": {"x": x, "y": y, "w": w, "h": h}
            }))
            .unwrap()
        };
        let (boxes, height) = layout(&[panel(0, 0, 12, 8), panel(12, 0, 12, 8)], 1440, 0);
        // Two halves side by side, a gap between them, both inside the margins.
        assert_eq!(boxes[0].0, MARGIN as i32);
        assert_eq!(boxes[0].3, 8 * ROW_HEIGHT + 7 * GAP);
        assert_eq!(boxes[1].0 as u32, boxes[0].0 as u32 + boxes[0].2 + GAP);
        assert!(boxes[1].0 as u32 + boxes[1].2 <= 1440 - MARGIN + 1);
        assert_eq!(height, 8 * ROW_HEIGHT + 7 * GAP + MARGIN);
    }
}
