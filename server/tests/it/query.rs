//! `POST /api/v1/query`: results, errors and exports.

use serde_json::json;

use crate::{ingest, post, query, start};

#[tokio::test]
async fn results_and_clear_errors() {
    let weir = start("query_results_and_errors", &[]).await;
    ingest(
        &weir,
        "web",
        "{\"_time\":\"2026-01-05T10:00:00Z\",\"route\":\"/a\",\"ms\":10}\n\
                         {\"_time\":\"2026-01-05T10:00:01Z\",\"route\":\"/a\",\"ms\":30}\n\
                         {\"_time\":\"2026-01-05T10:00:02Z\",\"route\":\"/b\",\"ms\":5}\n",
    )
    .await;
    let (status, reply) = query(&weir, "SELECT route, count(*) AS n, avg(ms) AS mean, max(_time) AS last FROM web GROUP BY route ORDER BY route").await;
    assert_eq!(status, 200, "{reply}");
    assert_eq!(
        reply["columns"][0],
        json!({"name": "route", "type": "Utf8"})
    );
    assert_eq!(
        reply["rows"],
        json!([
            ["/a", 2, 20.0, "2026-01-05T10:00:01.000000Z"],
            ["/b", 1, 5.0, "2026-01-05T10:00:02.000000Z"]
        ])
    );
    assert_eq!(reply["truncated"], false);

    let (status, reply) = query(&weir, "SELECT route\nFROM web WHER route = 'a'").await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(
        reply["error"],
        "SQL error: Expected: end of statement, found: route at Line: 2, Column: 15"
    );
    let (status, reply) = query(&weir, "SELECT route FROM web WHERE").await;
    assert_eq!(status, 400, "{reply}");
    assert_eq!(
        reply["error"],
        "SQL error: Expected: an expression, found: EOF"
    );

    let (status, reply) = query(&weir, "SELECT nope FROM web").await;
    assert_eq!(status, 400);
    assert!(reply["error"].as_str().unwrap().contains("nope"), "{reply}");

    let (status, reply) = query(&weir, "SELECT * FROM missing_stream").await;
    assert_eq!(status, 400);
    assert!(
        reply["error"].as_str().unwrap().contains("missing_stream"),
        "{reply}"
    );

    for sql in [
        "DROP TABLE web",
        "CREATE TABLE t AS SELECT 1",
        "COPY web TO '/tmp/web.csv'",
    ] {
        let (status, reply) = query(&weir, sql).await;
        assert_eq!(status, 400, "{sql}: {reply}");
    }
    let (status, _) = post(&weir, "/api/v1/query", "application/json", "{\"query\":1}").await;
    assert_eq!(status, 422, "a body without `sql` is refused");
}

#[tokio::test]
async fn exports() {
    let weir = start("query_exports", &[]).await;
    ingest(
        &weir,
        "web",
        "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n",
    )
    .await;
    let sql = json!({"sql": "SELECT a, b FROM web ORDER BY a"}).to_string();
    let http = reqwest::Client::new();
    let get = |format: &str| {
        http.post(weir.url(&format!("/api/v1/query?format={format}")))
            .header("content-type", "application/json")
            .body(sql.clone())
            .send()
    };
    let csv = get("csv").await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert_eq!(csv.text().await.unwrap(), "a,b\n1,x\n2,y\n");
    let ndjson = get("ndjson").await.unwrap().text().await.unwrap();
    assert_eq!(ndjson, "{\"a\":1,\"b\":\"x\"}\n{\"a\":2,\"b\":\"y\"}\n");
    let parquet = get("parquet").await.unwrap().bytes().await.unwrap();
    assert!(parquet.starts_with(b"PAR1") && parquet.ends_with(b"PAR1"));
    let arrow = get("arrow").await.unwrap().bytes().await.unwrap();
    assert!(arrow.len() > 100);
    assert_eq!(get("xml").await.unwrap().status(), 400);

    // A link asks the same with GET: the file comes as an attachment.
    let link = http
        .get(weir.url("/api/v1/query"))
        .query(&[
            ("sql", "SELECT a, b FROM web ORDER BY a"),
            ("format", "csv"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        link.headers()["content-disposition"],
        "attachment; filename=\"query.csv\""
    );
    assert_eq!(link.text().await.unwrap(), "a,b\n1,x\n2,y\n");
    let without = http.get(weir.url("/api/v1/query?format=csv")).send();
    assert_eq!(without.await.unwrap().status(), 400, "a link without `sql`");
}

#[tokio::test]
async fn health() {
    let weir = start("healthz", &[]).await;
    let (status, body) = weir.get("/healthz").await.unwrap();
    assert_eq!((status, body.as_str()), (200, "{\"status\":\"ok\"}"));
}
