//! The `weir` command line: `weir serve`.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use weir::{Config, DemoConfig};

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
    Serve(ServeArgs),
}

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
    /// Mean events per second of the demo generator.
    #[arg(long, default_value_t = 300, requires = "demo")]
    demo_rate: u32,
    /// Directory of the built web app (holds pkg/weir.js). Defaults to target/site next to the
    /// binary's build directory, or ./target/site.
    #[arg(long, env = "WEIR_SITE_ROOT")]
    site_root: Option<PathBuf>,
    /// Largest request body accepted, in bytes, after decompression.
    #[arg(long, default_value_t = 64 << 20)]
    max_body_bytes: usize,
    /// Move a stream's hot tier to its lake table once it holds this many bytes...
    #[arg(long, default_value_t = 64 << 20)]
    tier_max_bytes: usize,
    /// ... or once its oldest event has been there this many seconds.
    #[arg(long, default_value_t = 30.0)]
    tier_max_age_secs: f64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let site_root = args.site_root.unwrap_or_else(default_site_root);
    if !site_root.join("pkg").join("weir.js").exists() {
        tracing::warn!(site_root = %site_root.display(),
            "the web app is not built there: pages render but will not hydrate (run `cargo xtask build`)");
    }
    let mut config = Config::new(args.data_dir, site_root);
    config.max_body_bytes = args.max_body_bytes;
    config.store.tier_bytes = args.tier_max_bytes;
    config.store.tier_age = std::time::Duration::from_secs_f64(args.tier_max_age_secs.max(0.0));
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
