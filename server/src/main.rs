//! The `weir` command line: `weir serve`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use storage::StreamName;
use weir::{Config, DemoConfig};

// Ingest allocates many small, short-lived objects; mimalloc serves them about a quarter faster
// than glibc's malloc here (docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Weir: an observability server. Send it events, watch them live, drill into their history.
#[derive(Parser)]
#[command(name = "weir", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server: HTTP API, live WebSocket and web app on one address.
    Serve(Box<ServeArgs>),
    /// Copy stored dashboards to files and back.
    #[command(subcommand)]
    Dashboards(DashboardsCommand),
    /// Manage users (the first admin, recovery): on the data directory, server running or not.
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user; the password is read from standard input (its first line).
    Add {
        #[command(flatten)]
        data: DataDirArg,
        /// The user's name: letters, digits, `_`, `-`, `.`, `@`.
        #[arg(long)]
        name: String,
        /// admin, editor or viewer.
        #[arg(long)]
        role: weir::Role,
    },
    /// List the users and their roles.
    List {
        #[command(flatten)]
        data: DataDirArg,
    },
    /// Give a user a new password, read from standard input (its first line).
    SetPassword {
        #[command(flatten)]
        data: DataDirArg,
        #[arg(long)]
        name: String,
    },
    /// Remove a user.
    Remove {
        #[command(flatten)]
        data: DataDirArg,
        #[arg(long)]
        name: String,
    },
}

#[derive(clap::Args)]
struct DataDirArg {
    /// The server's data directory (its metadata database is meta.db there).
    #[arg(long, env = "WEIR_DATA_DIR", default_value = "./weir-data")]
    data_dir: PathBuf,
}

#[derive(Subcommand)]
enum DashboardsCommand {
    /// Write every stored dashboard to DIR as <uid>.json (the files --dashboards DIR serves).
    Export(TransferArgs),
    /// Save every *.json/*.yaml dashboard of DIR: new ones as version 1, changed ones as a new
    /// version. Files that do not load are reported (file:line:column) and the rest saved.
    Import(TransferArgs),
}

#[derive(clap::Args)]
struct TransferArgs {
    /// The directory of dashboard files.
    dir: PathBuf,
    /// The server's data directory (its metadata database is meta.db there).
    #[arg(long, env = "WEIR_DATA_DIR", default_value = "./weir-data")]
    data_dir: PathBuf,
}

/// Every default of `weir serve` is the library's ([`Config::new`], `StoreConfig::default`,
/// `EngineConfig::default`, `DemoConfig::default`): the flags below only read them.
static DEFAULTS: LazyLock<Config> = LazyLock::new(|| Config::new("", ""));

#[derive(clap::Args)]
struct ServeArgs {
    /// Directory where streams are stored (created if missing).
    #[arg(long, env = "WEIR_DATA_DIR", default_value = "./weir-data")]
    data_dir: PathBuf,
    /// Address to listen on. Port 0 picks a free port (the log says which).
    #[arg(long, env = "WEIR_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Generate realistic web-service traffic into the stream `demo_http`.
    #[arg(long)]
    demo: bool,
    /// Serve the dashboards in this directory's *.json/*.yaml files (read-only in the UI;
    /// reloaded when the files change; a bad file is reported and the others kept).
    #[arg(long, env = "WEIR_DASHBOARDS")]
    dashboards: Option<PathBuf>,
    /// Apply the alerting files of this directory (*.yaml/*.json: contact_points, rules,
    /// silences, policy), read-only in the API, and again whenever they change.
    #[arg(long, env = "WEIR_ALERTS")]
    alerts: Option<PathBuf>,
    /// The URL users reach this server at, for links in notifications (default: http:// and the
    /// listening address).
    #[arg(long, env = "WEIR_EXTERNAL_URL")]
    external_url: Option<String>,
    /// Run without users on an address other than loopback (anyone who can reach it may do
    /// anything). Without it, such a server does not start until a user or token exists. Once
    /// users exist they log in, with or without it.
    #[arg(long)]
    insecure_no_auth: bool,
    /// Serve HTTPS (HTTP/1.1 and HTTP/2) with this PEM certificate chain; needs --tls-key.
    #[arg(long, env = "WEIR_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "WEIR_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Mean events per second of the demo generator.
    #[arg(long, default_value_t = DemoConfig::default().events_per_sec, requires = "demo")]
    demo_rate: u32,
    /// Directory of the built web app (holds pkg/weir.js). Defaults to target/site next to the
    /// binary's build directory, or ./target/site.
    #[arg(long, env = "WEIR_SITE_ROOT")]
    site_root: Option<PathBuf>,
    /// Largest request body accepted, in bytes, after decompression.
    #[arg(long, default_value_t = DEFAULTS.max_body_bytes)]
    max_body_bytes: usize,
    /// Ingest requests (any protocol) processed at once; more get 429 with Retry-After. 0
    /// refuses all ingest.
    #[arg(long, default_value_t = DEFAULTS.max_concurrent_ingest)]
    max_concurrent_ingest: usize,
    /// Scrape Weir's own metrics (those of GET /metrics) into the stream `_weir_metrics` every
    /// this many seconds, for the "Weir" dashboard; 0 turns it off.
    #[arg(long, default_value_t = DEFAULTS.self_metrics_every.map_or(0.0, |d| d.as_secs_f64()))]
    self_metrics_every_secs: f64,
    /// Move a stream's hot tier to its lake table once it holds this many bytes...
    #[arg(long, default_value_t = DEFAULTS.store.tier_bytes)]
    tier_max_bytes: usize,
    /// ... or once its oldest event has been there this many seconds.
    #[arg(long, default_value_t = DEFAULTS.store.tier_age.as_secs_f64())]
    tier_max_age_secs: f64,
    /// Seconds between rounds of lake compaction, retention and vacuum.
    #[arg(long, default_value_t = DEFAULTS.store.compact_every.as_secs_f64())]
    compact_every_secs: f64,
    /// Seconds after which lake files replaced by compaction or retention are deleted.
    #[arg(long, default_value_t = DEFAULTS.store.vacuum_grace.as_secs_f64())]
    vacuum_grace_secs: f64,
    /// Remove events older than this many days (whole hours of `_time`) from every stream's lake.
    #[arg(long, value_parser = parse_days)]
    retention_days: Option<f64>,
    /// Per-stream retention in days, as STREAM=DAYS (repeatable); overrides --retention-days.
    /// STREAM is a stream's exact name (patterns are not supported).
    #[arg(long, value_parser = parse_stream_days)]
    stream_retention: Vec<(StreamName, f64)>,
    /// Seconds an event may lag behind its stream's latest event time and still update its
    /// window in live results (later ones are counted as late, and stored all the same).
    #[arg(long, default_value_t = DEFAULTS.engine.allowed_lateness.as_secs_f64())]
    allowed_lateness_secs: f64,
    /// Groups one live query holds at most; events of further groups are left out of its
    /// live result, which says so.
    #[arg(long, default_value_t = DEFAULTS.engine.max_groups)]
    max_groups: usize,
    /// Memory all live queries' state may take, in bytes; a query past it is refused.
    #[arg(long, default_value_t = DEFAULTS.engine.state_budget_bytes)]
    live_state_budget_bytes: usize,
    /// Changed rows a slow live subscriber may have pending before it is sent a fresh snapshot
    /// instead.
    #[arg(long, default_value_t = DEFAULTS.engine.backlog_rows)]
    live_backlog_rows: usize,
    /// Threads that apply new events to live queries (at a lower CPU priority than ingest).
    #[arg(long, default_value_t = DEFAULTS.engine.threads)]
    live_threads: usize,
    /// Seconds a query run once (SQL, panels, exports) may take, waiting for its turn
    /// included; past it the query is stopped and answered 422.
    #[arg(long, default_value_t = DEFAULTS.queries.timeout.as_secs_f64())]
    query_timeout_secs: f64,
    /// Memory one query may hold, in bytes; past it sorts, aggregations and joins spill to disk
    /// (under the data directory), and what cannot spill is stopped with 422.
    #[arg(long, default_value_t = DEFAULTS.queries.memory_per_query)]
    query_memory_bytes: usize,
    /// Memory all running queries together may hold, in bytes.
    #[arg(long, default_value_t = DEFAULTS.queries.memory_total)]
    query_memory_total_bytes: usize,
    /// Queries run once that run at the same time; more wait for a turn, then get 429.
    #[arg(long, default_value_t = DEFAULTS.queries.max_concurrent)]
    max_concurrent_queries: usize,
    /// Seconds a query waits for a turn before it gets 429.
    #[arg(long, default_value_t = DEFAULTS.queries.queue_wait.as_secs_f64())]
    query_queue_secs: f64,
    /// Bytes of lake files' partial aggregates (per file, before the final merge) kept between
    /// queries, so a repeated aggregation reads only files it has not seen; 0 keeps none.
    #[arg(long, default_value_t = DEFAULTS.queries.partial_cache_bytes)]
    query_cache_bytes: usize,
}

fn parse_days(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(days) if days.is_finite() && days > 0.0 => Ok(days),
        Ok(_) => Err(format!("`{text}`: days must be a positive number")),
        Err(err) => Err(format!("`{text}`: {err}")),
    }
}

/// `STREAM=DAYS`: a valid stream name and a positive number of days.
fn parse_stream_days(text: &str) -> Result<(StreamName, f64), String> {
    let (stream, days) = text
        .split_once('=')
        .ok_or_else(|| format!("expected STREAM=DAYS, got `{text}`"))?;
    let stream = StreamName::new(stream).map_err(|e| e.to_string())?;
    Ok((stream, parse_days(days)?))
}

fn seconds(secs: f64) -> Duration {
    Duration::from_secs_f64(secs.max(0.0))
}

fn main() -> anyhow::Result<()> {
    // No transparent huge pages for this process: mimalloc asks for them on its arenas, and then
    // every fresh 2 MiB of short-lived memory (tiering's Parquet writers, a request's buffers)
    // is zeroed whole by the kernel. Tiering 1M events took about 4x the CPU and 2.4x the peak
    // memory with them (docs/benchmarks.md, "Huge pages off").
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::thread::disable_transparent_huge_pages(true) {
        eprintln!("weir: transparent huge pages stay on: {err}");
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            // delta-rs logs every commit and log scan at info; Weir logs its own tiering instead.
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                "info,tower_http=warn,deltalake_core=warn,buoyant_kernel=warn".into()
            }),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve(args) => serve(*args),
        Command::Dashboards(command) => dashboards(command),
        Command::User(command) => user(command),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let site_root = args.site_root.unwrap_or_else(default_site_root);
    if !site_root.join("pkg").join("weir.js").exists() {
        tracing::warn!(site_root = %site_root.display(),
            "the web app is not built there: pages render but will not hydrate (run `cargo xtask build`)");
    }
    let mut config = Config::new(args.data_dir, site_root);
    config.dashboards_dir = args.dashboards;
    config.external_url = args.external_url;
    config.insecure_no_auth = args.insecure_no_auth;
    config.tls = args
        .tls_cert
        .zip(args.tls_key)
        .map(|(cert, key)| weir::TlsConfig { cert, key });
    config.alerts_dir = args.alerts;
    config.max_body_bytes = args.max_body_bytes;
    config.max_concurrent_ingest = args.max_concurrent_ingest;
    config.self_metrics_every =
        (args.self_metrics_every_secs > 0.0).then(|| seconds(args.self_metrics_every_secs));
    config.store.tier_bytes = args.tier_max_bytes;
    config.store.tier_age = seconds(args.tier_max_age_secs);
    config.store.compact_every = seconds(args.compact_every_secs);
    config.store.vacuum_grace = seconds(args.vacuum_grace_secs);
    config.store.retention = args.retention_days.map(|days| seconds(days * 86_400.0));
    config.engine.allowed_lateness = seconds(args.allowed_lateness_secs);
    config.engine.max_groups = args.max_groups;
    config.engine.state_budget_bytes = args.live_state_budget_bytes;
    config.engine.backlog_rows = args.live_backlog_rows;
    config.engine.threads = args.live_threads;
    config.queries.timeout = seconds(args.query_timeout_secs);
    config.queries.memory_per_query = args.query_memory_bytes;
    config.queries.memory_total = args.query_memory_total_bytes;
    config.queries.max_concurrent = args.max_concurrent_queries.max(1);
    config.queries.queue_wait = seconds(args.query_queue_secs);
    config.queries.partial_cache_bytes = args.query_cache_bytes;
    config.store.stream_retention = args
        .stream_retention
        .into_iter()
        .map(|(stream, days)| (stream, seconds(days * 86_400.0)))
        .collect();
    if args.demo {
        config.demo = Some(DemoConfig {
            events_per_sec: args.demo_rate,
        });
    }
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        weir::serve(listener, config, shutdown_signal())
            .await
            .context("serving")
    })
}

fn dashboards(command: DashboardsCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    match command {
        DashboardsCommand::Export(args) => {
            let count = runtime
                .block_on(weir::export_dashboards(&args.data_dir, &args.dir))
                .context("exporting dashboards")?;
            println!("exported {count} dashboards to {}", args.dir.display());
        }
        DashboardsCommand::Import(args) => {
            let imported = runtime
                .block_on(weir::import_dashboards(&args.data_dir, &args.dir))
                .context("importing dashboards")?;
            for problem in &imported.problems {
                eprintln!("{problem}");
            }
            println!(
                "imported from {}: {} created, {} updated, {} unchanged, {} not loaded",
                args.dir.display(),
                imported.created.len(),
                imported.updated.len(),
                imported.unchanged.len(),
                imported.problems.len()
            );
            if !imported.problems.is_empty() {
                std::process::exit(1);
            }
        }
    }
    Ok(())
}

fn user(command: UserCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    runtime.block_on(async {
        match command {
            UserCommand::Add { data, name, role } => {
                let password = read_password()?;
                weir::user::add(&data.data_dir, &name, role, &password).await?;
                println!("added {role} {name}");
            }
            UserCommand::List { data } => {
                for user in weir::user::list(&data.data_dir).await? {
                    println!("{}\t{}", user.name, user.role);
                }
            }
            UserCommand::SetPassword { data, name } => {
                let password = read_password()?;
                weir::user::set_password(&data.data_dir, &name, &password).await?;
                println!("set the password of {name}");
            }
            UserCommand::Remove { data, name } => {
                weir::user::remove(&data.data_dir, &name).await?;
                println!("removed {name}");
            }
        }
        Ok(())
    })
}

/// The first line of standard input, without its line ending (so that `echo pw |` works).
fn read_password() -> anyhow::Result<String> {
    if std::io::stdin().is_terminal() {
        eprintln!("password (input is shown; pipe it to hide it):");
    }
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// The built site is `target/site` for a binary in `target/<profile>/`.
fn default_site_root() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.join("site")))
        .filter(|dir| dir.exists())
        .unwrap_or_else(|| PathBuf::from("target/site"))
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
