//! Shaping results for charts, units, thresholds.

use protocol::dashboard::{PanelOptions, Threshold};
use protocol::{Column, QueryResult};
use serde_json::json;

use super::*;

fn result(columns: &[(&str, &str)], rows: Vec<Vec<Value>>) -> QueryResult {
    QueryResult {
        columns: columns
            .iter()
            .map(|(name, t)| Column {
                name: name.to_string(),
                data_type: t.to_string(),
            })
            .collect(),
        rows,
        truncated: false,
        now: 0,
    }
}

const TS: &str = "Timestamp(µs, \"UTC\")";

#[test]
fn long_results_give_a_series_per_value_of_the_text_column() {
    let r = result(
        &[("t", TS), ("service", "Utf8"), ("n", "Int64")],
        vec![
            vec![json!("2026-01-05T10:00:10Z"), json!("web"), json!(3)],
            vec![json!("2026-01-05T10:00:00Z"), json!("api"), json!(1)],
            vec![json!("2026-01-05T10:00:00Z"), json!("web"), json!(2)],
        ],
    );
    let series = time_series(&r, &PanelOptions::default());
    assert_eq!(series.len(), 2);
    assert_eq!(series[0].name, "api");
    let t0 = 1_767_607_200.0;
    assert_eq!(series[1].points, [(t0, 2.0), (t0 + 10.0, 3.0)]);
    // A click nearest the first bucket points at both of its cells, larger first, each in the
    // color of its series.
    let hits = hits_at(&r, &PanelOptions::default(), t0 + 4.0);
    let cells: Vec<(&str, usize, usize, &str)> = hits
        .iter()
        .map(|h| (h.name.as_str(), h.row, h.column, h.color.as_str()))
        .collect();
    assert_eq!(
        cells,
        [("web", 2, 2, PALETTE[1]), ("api", 1, 2, PALETTE[0])]
    );
    assert_eq!(hits_at(&r, &PanelOptions::default(), t0 + 6.0)[0].row, 0);
    let (value, spark) = figure(&r, &PanelOptions::default());
    assert_eq!(value, Some(3.0));
    assert_eq!(spark, [(t0, 3.0), (t0 + 10.0, 3.0)]);
    // Three buckets or more: the newest is still filling, the one before it is shown.
    let mut r = r;
    r.rows
        .push(vec![json!("2026-01-05T10:00:20Z"), json!("web"), json!(1)]);
    assert_eq!(figure(&r, &PanelOptions::default()).0, Some(3.0));
}

#[test]
fn wide_results_give_a_series_per_numeric_column() {
    let r = result(
        &[("t", "Float64"), ("p50", "Float64"), ("p99", "Float64")],
        vec![vec![json!(1_000.0), json!(5.0), json!(90.0)]],
    );
    let series = time_series(&r, &PanelOptions::default());
    assert_eq!(
        series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["p50", "p99"]
    );
    assert_eq!(series[0].color, PALETTE[0]);
}

#[test]
fn heatmap_buckets_sort_as_numbers() {
    let r = result(
        &[("t", TS), ("le", "Int64"), ("n", "Int64")],
        vec![
            vec![json!("2026-01-05T10:00:00Z"), json!(100), json!(5)],
            vec![json!("2026-01-05T10:00:00Z"), json!(20), json!(1)],
            vec![json!("2026-01-05T10:01:00Z"), json!(100), json!(2)],
        ],
    );
    let (cells, buckets, step) = heat_cells(&r, &PanelOptions::default());
    assert_eq!(buckets, ["20", "100"]);
    assert_eq!(cells.len(), 3);
    assert_eq!(step, 60.0);
}

#[test]
fn units_and_thresholds() {
    let with = |unit: &str| PanelOptions {
        unit: Some(unit.into()),
        ..PanelOptions::default()
    };
    assert_eq!(format_value(1234.0, &PanelOptions::default()), "1.2K");
    assert_eq!(format_value(12.0, &PanelOptions::default()), "12");
    assert_eq!(format_value(0.0123, &with("percentunit")), "1.2%");
    assert_eq!(format_value(250.0, &with("ms")), "250 ms");
    assert_eq!(format_value(1500.0, &with("ms")), "1.50 s");
    assert_eq!(format_value(1536.0, &with("bytes")), "1.5 KiB");
    assert_eq!(format_value(3.0, &with("reqps")), "3 req/s");
    let decimals = PanelOptions {
        decimals: Some(3),
        ..with("percent")
    };
    assert_eq!(format_value(2.0, &decimals), "2.000%");
    let steps = [
        Threshold {
            value: None,
            color: "green".into(),
        },
        Threshold {
            value: Some(80.0),
            color: "red".into(),
        },
    ];
    assert_eq!(threshold_color(&steps, 10.0, "x"), "green");
    assert_eq!(threshold_color(&steps, 80.0, "x"), "red");
    assert_eq!(threshold_color(&[], 80.0, "x"), "x");
    assert_eq!(rgb("#ff8000"), (255, 128, 0));
}

#[test]
fn charts_draw_as_svg() {
    let series = [Series {
        name: "n".into(),
        color: PALETTE[0].into(),
        points: (0..100)
            .map(|i| (1000.0 + f64::from(i), f64::from(i % 7)))
            .collect(),
    }];
    let format = |v: f64| format!("{v:.0}");
    let out = draw::svg(600, 200, |root| {
        draw::time_chart(
            root,
            &draw::TimeChart {
                series: &series,
                x_range: (1000.0, 1100.0),
                y_min: None,
                y_max: None,
                stack: true,
                bars: false,
                format: &format,
                offset: 0,
                marks: &[draw::Mark {
                    start: 1050.0,
                    end: Some(1060.0),
                    text: "deploy".into(),
                    color: "#f2cc0c".into(),
                }],
            },
        )
        .map_err(|e| e.to_string())
    });
    assert!(out.starts_with("<svg"), "{out:.200}");
    let gauge = gauge::svg(42.0, 0.0, 100.0, "#73bf69", "42%", &[(0.0, "green".into())]);
    assert!(gauge.contains("42%"));
}

#[test]
fn a_whole_panel_writes_its_title_and_what_html_would_show() {
    let panel = |kind: &str| {
        serde_json::from_value::<protocol::dashboard::Panel>(json!({
            "id": 1, "title": "Top routes", "type": kind, "sql": "SELECT 1",
            "grid": {"x": 0, "y": 0, "w": 12, "h": 8}
        }))
        .unwrap()
    };
    let rows = result(
        &[("route", "Utf8"), ("n", "Int64")],
        vec![
            vec![json!("/checkout"), json!(42)],
            vec![json!("/cart"), json!(7)],
        ],
    );
    let frame = picture::Frame {
        x_range: (0.0, 60.0),
        offset: 0,
        marks: &[],
    };
    let draw = |kind: &str, result: Result<&QueryResult, &str>| {
        draw::svg(600, 300, |root| {
            picture::panel(root, &panel(kind), result, &frame).map_err(|e| e.to_string())
        })
    };
    let table = draw("table", Ok(&rows));
    for text in ["Top routes", "route", "/checkout", "42", "/cart"] {
        assert!(table.contains(text), "{text} missing: {table:.400}");
    }
    let failed = draw("timeseries", Err("No field named nope"));
    assert!(failed.contains("No field named nope"), "{failed:.400}");
    let empty = draw("stat", Ok(&result(&[("n", "Int64")], vec![])));
    assert!(empty.contains("No data"), "{empty:.400}");
    let stat = draw(
        "stat",
        Ok(&result(&[("n", "Int64")], vec![vec![json!(1234)]])),
    );
    assert!(stat.contains("1.2K"), "{stat:.400}");
}

#[test]
fn results_download_as_csv() {
    let r = result(
        &[("route", "Utf8"), ("n", "Int64")],
        vec![
            vec![json!("/a,b"), json!(1)],
            vec![json!("say \"hi\"\nthen"), Value::Null],
        ],
    );
    assert_eq!(
        csv(&r),
        "route,n\r\n\"/a,b\",1\r\n\"say \"\"hi\"\"\nthen\",\r\n"
    );
    assert_eq!(percent_encode("a b,%\n"), "a%20b%2C%25%0A");
}

#[test]
fn ages_are_short() {
    assert_eq!(age(40_000), "40 ms");
    assert_eq!(age(2_500_000), "2.5 s");
    assert_eq!(age(42_000_000), "42 s");
    assert_eq!(age(180_000_000), "3 min");
    assert_eq!(age(7_200_000_000), "2 h");
}

#[test]
fn frequent_marks_are_thinned_to_what_the_width_shows() {
    let mark = |start: f64| draw::Mark {
        start,
        end: Some(start + 30.0),
        text: format!("at {start}"),
        color: "#f2cc0c".into(),
    };
    // One a minute for a day, on a chart 600 pixels wide: about one per 6 pixels is kept.
    let marks: Vec<draw::Mark> = (0..1440).map(|i| mark(f64::from(i) * 60.0)).collect();
    let shown = draw::visible_marks(&marks, (0.0, 86_400.0), 600);
    assert!((60..=110).contains(&shown.len()), "{}", shown.len());
    assert!(
        shown
            .windows(2)
            .all(|w| w[1].start - w[0].start >= 86_400.0 * 6.0 / 516.0)
    );
    // Over an hour, all of them, and only those in range.
    let hour = draw::visible_marks(&marks, (3_600.0, 7_200.0), 600);
    assert_eq!(hour.len(), 61);
}

/// A click at the middle of any bar or heatmap cell finds the row of that bar or cell.
#[test]
fn a_click_on_a_bar_or_cell_finds_its_row() {
    let bars = result(
        &[("route", "Utf8"), ("n", "Int64")],
        vec![
            vec![json!("/a"), json!(3)],
            vec![json!("/b"), json!(null)],
            vec![json!("/c"), json!(5)],
        ],
    );
    let found = labelled_bars(&bars);
    assert_eq!(
        found.iter().map(|b| (b.row, b.column)).collect::<Vec<_>>(),
        [(0, 1), (2, 1)],
        "a row without a value has no bar"
    );
    for (height, y, want) in [
        (300, 10.0, Some(0)),
        (300, 40.0, Some(1)),
        (300, 80.0, None),
    ] {
        assert_eq!(draw::bar_at(found.len(), height, y), want, "y {y}");
    }
    assert_eq!(
        draw::bar_at(2, 40, 30.0),
        Some(1),
        "short charts share their height"
    );

    let t0 = 1_764_583_200.0;
    let rows: Vec<Vec<Value>> = (0..6)
        .flat_map(|minute| {
            ["100", "200", "500"]
                .into_iter()
                .enumerate()
                .map(move |(i, bucket)| {
                    let time = DateTime::from_timestamp(t0 as i64 + 60 * minute, 0)
                        .unwrap()
                        .to_rfc3339();
                    vec![json!(time), json!(bucket), json!(minute * 10 + i as i64)]
                })
        })
        .collect();
    let heat = result(
        &[
            ("t", "Timestamp(µs, \"UTC\")"),
            ("le", "Utf8"),
            ("n", "Int64"),
        ],
        rows,
    );
    let options = PanelOptions::default();
    let (cells, buckets, step) = heat_cells(&heat, &options);
    let (width, height) = (600, 240);
    let x_range = (t0, t0 + 6.0 * 60.0);
    let left = f64::from(draw::MARGIN + draw::Y_LABELS + 30);
    let right = f64::from(width - draw::MARGIN_RIGHT);
    let (top, bottom) = (
        f64::from(draw::MARGIN),
        f64::from(height - draw::MARGIN - draw::X_LABELS),
    );
    for &(x, b, count) in &cells {
        let px = left + (x + step / 2.0 - x_range.0) / (x_range.1 - x_range.0) * (right - left);
        let py = bottom - (b as f64 + 0.5) * (bottom - top) / buckets.len() as f64;
        let (time, bucket) = draw::heatmap_at((width, height), x_range, buckets.len(), (px, py))
            .expect("in the plot");
        let (row, column, name) =
            heat_cell_at(&heat, &options, time, bucket).expect("a cell there");
        assert_eq!(number(&heat.rows[row][column]), Some(count));
        assert_eq!(name, buckets[b]);
    }
    assert_eq!(
        draw::heatmap_at((width, height), x_range, 3, (10.0, 100.0)),
        None,
        "on the labels"
    );
}
