//! `weir-live`: live-query benchmarks against a running Weir, as real WebSocket clients.
//!
//! ```text
//! weir-live latency URL STREAM [--probes N] [--every-ms MS]
//!     Posts one stamped probe event every MS into STREAM while subscribed to a panel of STREAM,
//!     and reports how long each probe took from POST to the delta that counts it (p50/p99/max).
//! weir-live viewers URL SQL [--clients N] [--secs S]
//!     Opens N sockets subscribed to the same SQL and reads their frames for S seconds.
//! weir-live queries URL STREAM [--queries N] [--secs S] [--dashboard]
//!     Subscribes N distinct continuous queries over STREAM and reads their frames for S seconds:
//!     thresholds apart by default; with --dashboard, six kinds of panel (time series by service,
//!     error rates, top routes, latency by region, a stat, a table) whose WHERE literals (a
//!     service, a region, a status) and group keys vary as dashboard variables make them.
//! weir-live herd URL SQL [--clients N]
//!     Opens N sockets, then subscribes them all at once to SQL (which no one runs yet), and
//!     reports how long until the last has its snapshot.
//! weir-live dashboard URL UID [--clients N] [--secs S]
//!     Opens dashboard UID as N browsers would: each resolves its variables (All) and subscribes
//!     every panel's SQL, substituted for its default range and width, on a socket of its own.
//! ```
//!
//! Each prints one JSON line. `viewers` and `queries` are meant to run beside `weir-load`, whose
//! rate is then compared with a run without them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::{SinkExt, StreamExt};
use protocol::live::{ClientMessage, Mode, ServerMessage};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let positional: Vec<&str> = args
        .iter()
        .take_while(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let option = |name: &str, default: u64| -> Result<u64> {
        match args.iter().position(|a| a == name) {
            Some(i) => args
                .get(i + 1)
                .context("a value")?
                .parse()
                .context(name.to_owned()),
            None => Ok(default),
        }
    };
    match positional[..] {
        ["latency", url, stream] => {
            latency(
                url,
                stream,
                option("--probes", 500)?,
                option("--every-ms", 20)?,
            )
            .await
        }
        ["viewers", url, sql] => {
            viewers(url, sql, option("--clients", 1000)?, option("--secs", 20)?).await
        }
        ["queries", url, stream] => {
            let dashboard = args.iter().any(|a| a == "--dashboard");
            queries(
                url,
                stream,
                option("--queries", 100)?,
                option("--secs", 20)?,
                dashboard,
            )
            .await
        }
        ["herd", url, sql] => herd(url, sql, option("--clients", 1000)?).await,
        ["dashboard", url, uid] => {
            dashboard(url, uid, option("--clients", 1)?, option("--secs", 20)?).await
        }
        _ => bail!(
            "usage: weir-live latency URL STREAM [--probes N] [--every-ms MS]\n       \
             weir-live dashboard URL UID [--clients N] [--secs S]\n       \
             weir-live viewers URL SQL [--clients N] [--secs S]\n       \
             weir-live queries URL STREAM [--queries N] [--secs S] [--dashboard]\n       \
             weir-live herd URL SQL [--clients N]"
        ),
    }
}

async fn connect(url: &str) -> Result<Socket> {
    let ws = url.replacen("http://", "ws://", 1) + "/api/v1/live";
    let (socket, _) = tokio_tungstenite::connect_async(ws).await?;
    Ok(socket)
}

async fn subscribe(socket: &mut Socket, id: &str, sql: &str) -> Result<()> {
    let message = ClientMessage::Subscribe {
        id: id.to_owned(),
        sql: sql.to_owned(),
    };
    socket.send(Message::Text(message.to_text().into())).await?;
    Ok(())
}

/// The next snapshot or delta (an error frame is an error).
async fn next_frame(socket: &mut Socket) -> Result<ServerMessage> {
    loop {
        match socket.next().await.context("socket closed")?? {
            Message::Text(text) => match ServerMessage::parse(&text)? {
                ServerMessage::Error(error) => bail!("error frame: {}", error.message),
                ServerMessage::Other => {}
                frame => return Ok(frame),
            },
            Message::Close(_) => bail!("socket closed"),
            _ => {}
        }
    }
}

async fn post(http: &reqwest::Client, url: &str, stream: &str, body: String) -> Result<()> {
    let response = http
        .post(format!("{url}/api/v1/streams/{stream}/events"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await?;
    if !response.status().is_success() {
        bail!("{}: {}", response.status(), response.text().await?);
    }
    Ok(())
}

async fn latency(url: &str, stream: &str, probes: u64, every_ms: u64) -> Result<()> {
    let http = reqwest::Client::new();
    // The probe column must exist before the panel is compiled.
    post(&http, url, stream, "{\"probe\":0}\n".into()).await?;
    let sql = format!(
        "SELECT date_bin(INTERVAL '1 second', _time) AS t, count(*) AS n, max(probe) AS probe \
         FROM {stream} WHERE _time >= now() - INTERVAL '5 minutes' GROUP BY 1"
    );
    let mut socket = connect(url).await?;
    subscribe(&mut socket, "panel", &sql).await?;
    match next_frame(&mut socket).await? {
        ServerMessage::Snapshot(snapshot) if snapshot.mode == Mode::Incremental => {}
        other => bail!("the panel is not incremental: {other:?}"),
    }
    let (sent_tx, mut sent_rx) = tokio::sync::mpsc::unbounded_channel::<(u64, Instant)>();
    let sender = {
        let (http, url, stream) = (http.clone(), url.to_owned(), stream.to_owned());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(every_ms));
            // How long each probe's POST took to be acknowledged (durable).
            let mut acks = Vec::with_capacity(probes as usize);
            for probe in 1..=probes {
                tick.tick().await;
                let posted = Instant::now();
                let _ = sent_tx.send((probe, posted));
                post(&http, &url, &stream, format!("{{\"probe\":{probe}}}\n")).await?;
                acks.push(posted.elapsed());
            }
            anyhow::Ok(acks)
        })
    };
    let mut sent: HashMap<u64, Instant> = HashMap::new();
    let mut seen = 0u64;
    let mut latencies = Vec::with_capacity(probes as usize);
    let deadline =
        Instant::now() + Duration::from_millis(probes * every_ms) + Duration::from_secs(30);
    while seen < probes {
        let frame = tokio::time::timeout_at(deadline.into(), next_frame(&mut socket))
            .await
            .context("probes did not all arrive")??;
        let received = Instant::now();
        while let Ok((probe, at)) = sent_rx.try_recv() {
            sent.insert(probe, at);
        }
        let rows = match &frame {
            ServerMessage::Snapshot(snapshot) => &snapshot.rows[..],
            ServerMessage::Delta(delta) => delta.change.upserts(),
            _ => &[],
        };
        let top = rows
            .iter()
            .filter_map(|row| row.get(2)?.as_u64())
            .max()
            .unwrap_or(0);
        while seen < top {
            seen += 1;
            if let Some(at) = sent.remove(&seen) {
                latencies.push(received - at);
            }
        }
    }
    let mut acks = sender.await??;
    latencies.sort();
    acks.sort();
    let pct = |values: &[Duration], p: f64| {
        let i = ((values.len() as f64 * p).ceil() as usize).clamp(1, values.len()) - 1;
        values[i].as_secs_f64() * 1e3
    };
    println!(
        "{{\"probes\":{},\"p50_ms\":{:.1},\"p90_ms\":{:.1},\"p99_ms\":{:.1},\"max_ms\":{:.1},\"ack_p50_ms\":{:.1},\"ack_p99_ms\":{:.1}}}",
        latencies.len(),
        pct(&latencies, 0.5),
        pct(&latencies, 0.9),
        pct(&latencies, 0.99),
        pct(&latencies, 1.0),
        pct(&acks, 0.5),
        pct(&acks, 0.99)
    );
    Ok(())
}

async fn viewers(url: &str, sql: &str, clients: u64, secs: u64) -> Result<()> {
    let mut tasks = Vec::new();
    let started = Instant::now();
    let until = started + Duration::from_secs(secs);
    for i in 0..clients {
        let mut socket = connect(url).await.with_context(|| format!("socket {i}"))?;
        subscribe(&mut socket, "panel", sql).await?;
        next_frame(&mut socket).await?;
        tasks.push(tokio::spawn(async move {
            // Frames are counted, not parsed: this client shares the server's CPU, and a
            // thousand browsers would not.
            let mut frames = 0u64;
            let mut snapshots = 0u64;
            while let Ok(Some(Ok(message))) =
                tokio::time::timeout_at(until.into(), socket.next()).await
            {
                if let Message::Text(text) = message {
                    frames += 1;
                    snapshots += u64::from(text.starts_with("{\"type\":\"snapshot\""));
                }
            }
            (frames, snapshots)
        }));
    }
    let connected = started.elapsed();
    eprintln!("ready: {clients} viewers");
    let (mut frames, mut snapshots) = (0, 0);
    for task in tasks {
        let (f, s) = task.await?;
        frames += f;
        snapshots += s;
    }
    println!(
        "{{\"clients\":{clients},\"connect_secs\":{:.2},\"frames\":{frames},\"snapshots\":{snapshots},\"frames_per_client_per_sec\":{:.1}}}",
        connected.as_secs_f64(),
        frames as f64 / clients as f64 / secs as f64
    );
    Ok(())
}

/// Query `i` of the threshold mix: WHERE constants apart, so none is shared.
fn threshold_query(stream: &str, i: u64) -> String {
    let sql = format!(
        "SELECT service, count(*) AS n, avg(latency_ms) AS latency FROM {stream} \
         WHERE latency_ms >= {} GROUP BY service",
        i % 50
    );
    if i >= 50 {
        format!("{sql} HAVING count(*) >= {}", i / 50)
    } else {
        sql
    }
}

/// Query `i` of the dashboard mix: six kinds of panel, each with the literals a dashboard's
/// variables put in (a service, a region, a status class) and its own buckets and group keys.
fn dashboard_query(stream: &str, i: u64) -> String {
    // The services and regions of shared/bench/gen_events.py.
    const SERVICES: [&str; 12] = [
        "frontend",
        "api-gateway",
        "catalog",
        "search",
        "auth",
        "users",
        "cart",
        "inventory",
        "checkout",
        "payments",
        "shipping",
        "notifications",
    ];
    const REGIONS: [&str; 6] = [
        "us-east-1",
        "us-west-2",
        "eu-west-1",
        "eu-central-1",
        "ap-southeast-1",
        "ap-northeast-1",
    ];
    let service = SERVICES[(i / 6 % 12) as usize];
    let region = REGIONS[(i / 72 % 6) as usize];
    // Past 432 (6 kinds × 12 services × 6 regions), the range tells queries apart.
    let minutes = 5 + i / 432;
    let range = format!("_time >= now() - INTERVAL '{minutes} minutes'");
    match i % 6 {
        0 => format!(
            "SELECT date_bin(INTERVAL '10 seconds', _time) AS t, count(*) AS requests \
             FROM {stream} WHERE service = '{service}' AND region = '{region}' AND {range} \
             GROUP BY 1"
        ),
        1 => format!(
            "SELECT date_bin(INTERVAL '30 seconds', _time) AS t, \
             sum(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS errors, count(*) AS requests \
             FROM {stream} WHERE service = '{service}' AND {range} GROUP BY 1"
        ),
        2 => format!(
            "SELECT route, count(*) AS n FROM {stream} WHERE service = '{service}' \
             AND region = '{region}' AND {range} GROUP BY route"
        ),
        3 => format!(
            "SELECT region, avg(latency_ms) AS mean, max(latency_ms) AS worst FROM {stream} \
             WHERE service = '{service}' AND status >= {} AND {range} GROUP BY region",
            [200, 400, 500][(i / 6 % 3) as usize]
        ),
        4 => format!(
            "SELECT count(*) AS n, avg(latency_ms) AS mean FROM {stream} \
             WHERE region = '{region}' AND service = '{service}' AND {range}"
        ),
        _ => format!(
            "SELECT service, status, count(*) AS n FROM {stream} WHERE region = '{region}' \
             AND latency_ms >= {} AND {range} GROUP BY service, status",
            i / 6 % 12 * 10
        ),
    }
}

async fn queries(url: &str, stream: &str, n: u64, secs: u64, dashboard: bool) -> Result<()> {
    // Distinct queries, so none is shared whole; 64 per socket at most.
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    let mut started = 0;
    while started < n {
        let mut socket = connect(url).await?;
        let batch = (n - started).min(64);
        for i in started..started + batch {
            let sql = if dashboard {
                dashboard_query(stream, i)
            } else {
                threshold_query(stream, i)
            };
            subscribe(&mut socket, &format!("q{i}"), &sql).await?;
        }
        for _ in 0..batch {
            next_frame(&mut socket).await?;
        }
        started += batch;
        tasks.push(tokio::spawn(async move {
            let mut frames = 0u64;
            while let Ok(Ok(_)) =
                tokio::time::timeout_at(until.into(), next_frame(&mut socket)).await
            {
                frames += 1;
            }
            frames
        }));
    }
    eprintln!("ready: {n} queries");
    let mut frames = 0;
    for task in tasks {
        frames += task.await?;
    }
    println!("{{\"queries\":{n},\"frames\":{frames}}}");
    Ok(())
}

async fn herd(url: &str, sql: &str, clients: u64) -> Result<()> {
    let mut sockets = Vec::with_capacity(clients as usize);
    for i in 0..clients {
        sockets.push(connect(url).await.with_context(|| format!("socket {i}"))?);
    }
    eprintln!("ready: {clients} sockets");
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(sockets.len());
    for mut socket in sockets {
        let sql = sql.to_owned();
        tasks.push(tokio::spawn(async move {
            subscribe(&mut socket, "panel", &sql).await?;
            next_frame(&mut socket).await?;
            anyhow::Ok(started.elapsed())
        }));
    }
    let mut times = Vec::with_capacity(tasks.len());
    for task in tasks {
        times.push(task.await??);
    }
    times.sort();
    let at = |p: f64| {
        let i = ((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1;
        times[i].as_secs_f64()
    };
    println!(
        "{{\"clients\":{clients},\"first_secs\":{:.2},\"p50_secs\":{:.2},\"last_secs\":{:.2}}}",
        at(0.0),
        at(0.5),
        at(1.0)
    );
    Ok(())
}

/// Each panel's SQL as the dashboard page subscribes it: every variable at All (its query's
/// values), the dashboard's default range, `$__interval` from the panel's width on a 1440-pixel
/// page, a table's or a log's first page.
async fn panel_queries(url: &str, uid: &str) -> Result<Vec<(String, String)>> {
    use protocol::dashboard::{Found, Scope, TimeRange, VariableValue as Value, substitute};
    let http = reqwest::Client::new();
    let found: Found = http
        .get(format!("{url}/api/v1/dashboards/{uid}"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let dashboard = found.dashboard;
    let range = TimeRange::parse(&dashboard.time.from, &dashboard.time.to)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as i64;
    let mut variables = std::collections::BTreeMap::new();
    for variable in &dashboard.variables {
        let values = match &variable.query {
            Some(sql) => {
                let scope = Scope {
                    variables: &variables,
                    range,
                    interval: range.interval(now, 1400),
                };
                let sql = substitute(sql, &scope)?;
                let reply: serde_json::Value = http
                    .post(format!("{url}/api/v1/query"))
                    .json(&serde_json::json!({ "sql": sql }))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                reply["rows"]
                    .as_array()
                    .context("rows")?
                    .iter()
                    .filter_map(|row| row[0].as_str().map(str::to_owned))
                    .collect()
            }
            None => variable.options.clone(),
        };
        variables.insert(variable.name.clone(), Value::List(values));
    }
    let column = (1400.0 + 8.0) / 24.0;
    dashboard
        .panels
        .iter()
        .map(|panel| {
            let width = (column * f64::from(panel.grid.w) - 8.0 - 24.0).max(60.0) as u32;
            let height = (panel.grid.h * 30 + panel.grid.h.saturating_sub(1) * 8)
                .saturating_sub(44)
                .max(40);
            let scope = Scope {
                variables: &variables,
                range,
                interval: range.interval(now, width),
            };
            let sql = substitute(&panel.sql, &scope)?;
            // A table or logs panel subscribes its first page, as the page does.
            let sql = match panel.kind.page_rows(height) {
                Some(rows) => protocol::dashboard::page(&sql, rows + 1, 0),
                None => sql,
            };
            Ok((format!("p{}", panel.id), sql))
        })
        .collect()
}

async fn dashboard(url: &str, uid: &str, clients: u64, secs: u64) -> Result<()> {
    let panels = panel_queries(url, uid).await?;
    let until = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    let mut modes = HashMap::new();
    for i in 0..clients {
        let mut socket = connect(url).await.with_context(|| format!("socket {i}"))?;
        for (id, sql) in &panels {
            subscribe(&mut socket, id, sql).await?;
        }
        for _ in &panels {
            if let ServerMessage::Snapshot(snapshot) = next_frame(&mut socket).await? {
                let mode = match snapshot.mode {
                    Mode::Incremental => "incremental",
                    Mode::Requery { .. } => "requery",
                };
                modes.insert(snapshot.id, mode);
            }
        }
        tasks.push(tokio::spawn(async move {
            let mut frames = 0u64;
            while let Ok(Ok(_)) =
                tokio::time::timeout_at(until.into(), next_frame(&mut socket)).await
            {
                frames += 1;
            }
            frames
        }));
    }
    let incremental = modes.values().filter(|m| **m == "incremental").count();
    eprintln!(
        "ready: {clients} clients of {} panels ({incremental} incremental, the rest re-queried)",
        panels.len()
    );
    let mut frames = 0;
    for task in tasks {
        frames += task.await?;
    }
    println!(
        "{{\"clients\":{clients},\"panels\":{},\"incremental\":{incremental},\"frames\":{frames}}}",
        panels.len()
    );
    Ok(())
}
