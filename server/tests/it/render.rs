//! PNG rendering on the real binary: every panel type and a whole dashboard come back as PNG
//! pictures of the size asked, drawn from the data; bad requests get 400/404 with a reason.

use serde_json::{Value, json};

use crate::{ingest, post, start};

/// Decodes a PNG: its size and its pixels as RGB.
fn decode(bytes: &[u8]) -> (u32, u32, Vec<[u8; 3]>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG header");
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buffer).expect("a PNG image");
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let pixels = buffer[..info.buffer_size()]
        .chunks(3)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    (info.width, info.height, pixels)
}

/// How many pixels are near `color` (antialiasing blends edges).
fn near(pixels: &[[u8; 3]], color: [u8; 3]) -> usize {
    pixels
        .iter()
        .filter(|p| (0..3).all(|i| p[i].abs_diff(color[i]) <= 12))
        .count()
}

async fn png(weir: &e2e::WeirProcess, path: &str) -> (u16, Option<String>, Vec<u8>) {
    let response = reqwest::get(weir.url(path)).await.expect("request");
    let status = response.status().as_u16();
    let kind = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap_or_default().to_string());
    (status, kind, response.bytes().await.expect("body").to_vec())
}

fn dashboard() -> Value {
    let panel = |id: u32, kind: &str, sql: &str, x: u32, y: u32| {
        json!({"id": id, "title": format!("{kind} panel"), "type": kind, "sql": sql,
               "grid": {"x": x, "y": y, "w": 12, "h": 8},
               "options": {"thresholds": [{"value": null, "color": "green"}, {"value": 1000, "color": "red"}]}})
    };
    let over_time = "SELECT $__timeGroup(_time) AS t, count(*) AS n FROM shop WHERE $__timeFilter(_time) AND region = $region GROUP BY 1";
    json!({
        "uid": "shop", "title": "Shop",
        "time": {"from": "now-1h", "to": "now"},
        "variables": [{"name": "region", "type": "custom", "options": ["eu", "us"]}],
        "panels": [
            panel(1, "timeseries", over_time, 0, 0),
            panel(2, "stat", over_time, 12, 0),
            panel(3, "gauge", "SELECT count(*) AS n FROM shop", 0, 8),
            panel(4, "table", "SELECT region, count(*) AS n FROM shop GROUP BY 1", 12, 8),
            panel(5, "logs", "SELECT _time, region, status FROM shop ORDER BY _time DESC LIMIT 50", 0, 16),
            panel(6, "heatmap", "SELECT $__timeGroup(_time) AS t, region, count(*) AS n FROM shop WHERE $__timeFilter(_time) GROUP BY 1, 2", 12, 16),
            panel(7, "bar", "SELECT region, count(*) AS n FROM shop GROUP BY 1", 0, 24),
            panel(8, "timeseries", "SELECT nope FROM shop", 12, 24),
        ]
    })
}

#[tokio::test]
async fn panels_and_dashboards_render_as_png() {
    let weir = start("render_png", &[]).await;
    let now = chrono::Utc::now();
    let mut events = String::new();
    for i in 0..600 {
        let at = now - chrono::Duration::seconds(i * 5);
        let region = if i % 3 == 0 { "us" } else { "eu" };
        let status = if i % 10 == 0 { 500 } else { 200 };
        events.push_str(&format!(
            "{{\"_time\":\"{}\",\"region\":\"{region}\",\"status\":{status}}}\n",
            at.to_rfc3339()
        ));
    }
    let (status, reply) = ingest(&weir, "shop", &events).await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = post(
        &weir,
        "/api/v1/dashboards",
        "application/json",
        dashboard().to_string(),
    )
    .await;
    assert_eq!(status, 201, "{reply}");

    let background = [0x18, 0x1b, 0x1f];
    let green = [0x73, 0xbf, 0x69];
    for id in 1..=8 {
        let path = format!(
            "/api/v1/dashboards/shop/panels/{id}/render.png?width=600&height=300&var-region=eu"
        );
        let (status, kind, body) = png(&weir, &path).await;
        assert_eq!(
            status,
            200,
            "panel {id}: {}",
            String::from_utf8_lossy(&body)
        );
        assert_eq!(kind.as_deref(), Some("image/png"));
        // Kept next to the data for a person to look at when a check fails.
        std::fs::write(weir.data_dir().join(format!("panel-{id}.png")), &body).expect("write");
        let (width, height, pixels) = decode(&body);
        assert_eq!((width, height), (600, 300), "panel {id}");
        // Drawn on the panel's background, with something on it.
        assert!(near(&pixels, background) > pixels.len() / 3, "panel {id}");
        let drawn = pixels.len() - near(&pixels, background);
        assert!(drawn > 2_000, "panel {id}: only {drawn} pixels drawn");
        match id {
            // The series and the gauge's and the stat's colours (green, under 1000).
            1..=3 => assert!(near(&pixels, green) > 300, "panel {id} has no green"),
            // The failing query's message is drawn in red text.
            8 => {
                let red = near(&pixels, [0xf2, 0x49, 0x5c]);
                assert!(red > 30, "{red} pixels of error text");
            }
            _ => {}
        }
    }
    // The variable reaches the SQL: no region matches, so the stat has no data (no green).
    let (_, _, body) = png(
        &weir,
        "/api/v1/dashboards/shop/panels/2/render.png?width=600&height=300&var-region=mars",
    )
    .await;
    let (_, _, pixels) = decode(&body);
    assert_eq!(near(&pixels, green), 0, "a stat of nothing drew a figure");

    // The whole dashboard: the page's width, as tall as its four rows of panels.
    let (status, kind, body) = png(
        &weir,
        "/api/v1/dashboards/shop/render.png?from=now-30m&to=now",
    )
    .await;
    assert_eq!((status, kind.as_deref()), (200, Some("image/png")));
    let (width, height, pixels) = decode(&body);
    assert_eq!(width, 1440);
    assert!((1100..1400).contains(&height), "height {height}");
    assert!(near(&pixels, green) > 1_000);

    // Bad requests say what is wrong.
    for (path, want) in [
        ("/api/v1/dashboards/nope/render.png", 404),
        ("/api/v1/dashboards/shop/panels/99/render.png", 404),
        ("/api/v1/dashboards/shop/render.png?width=100000", 400),
        ("/api/v1/dashboards/shop/render.png?width=wide", 400),
        (
            "/api/v1/dashboards/shop/panels/1/render.png?from=yesterday",
            400,
        ),
    ] {
        let (status, _, body) = png(&weir, path).await;
        let reply: Value = serde_json::from_slice(&body).expect("a JSON error");
        assert_eq!(status, want, "{path}: {reply}");
        assert!(
            reply["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{reply}"
        );
    }
}

/// More pictures at once than the server draws at once: the rest are refused with 429 (retry
/// shortly), none fails, and the server draws again once they are done.
#[tokio::test]
async fn pictures_past_the_limit_are_refused_not_queued() {
    let weir = start("render_limit", &[]).await;
    let (status, reply) = ingest(&weir, "shop", "{\"region\":\"eu\",\"status\":200}\n").await;
    assert_eq!(status, 200, "{reply}");
    let (status, reply) = post(
        &weir,
        "/api/v1/dashboards",
        "application/json",
        dashboard().to_string(),
    )
    .await;
    assert_eq!(status, 201, "{reply}");
    let path = "/api/v1/dashboards/shop/render.png?width=4096&height=4096";
    let statuses: Vec<u16> = futures::future::join_all((0..12).map(|_| png(&weir, path)))
        .await
        .into_iter()
        .map(|(status, _, _)| status)
        .collect();
    let drawn = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(drawn + refused, 12, "only 200 or 429: {statuses:?}");
    assert!(drawn >= 2 && refused >= 1, "{statuses:?}");
    let (status, _, _) = png(&weir, path).await;
    assert_eq!(status, 200, "drawing again afterwards");
}
