//! What `weir serve` is configured with.

use std::path::PathBuf;

pub use crate::engine::EngineConfig;
pub use crate::query::QueryLimits;
pub use storage::StoreConfig;

/// Settings of one server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where streams are stored.
    pub data_dir: PathBuf,
    /// The built web app (`pkg/weir.js`, `pkg/weir_bg.wasm`, `pkg/weir.css`).
    pub site_root: PathBuf,
    /// Run the demo traffic generator.
    pub demo: Option<DemoConfig>,
    /// A directory of dashboard files (`*.json`, `*.yaml`) to serve read-only, reloaded when
    /// they change.
    pub dashboards_dir: Option<PathBuf>,
    /// A directory of alerting files (`*.yaml`, `*.json`: contact points, rules, silences, the
    /// policy), applied at start and whenever they change.
    pub alerts_dir: Option<PathBuf>,
    /// The URL users reach this server at, for links in notifications (default: the listening
    /// address).
    pub external_url: Option<String>,
    /// Serve HTTPS with this certificate and key.
    pub tls: Option<TlsConfig>,
    /// Serve without users on an address beyond this machine (with users, they still log in).
    pub insecure_no_auth: bool,
    /// Largest request body accepted, after decompression.
    pub max_body_bytes: usize,
    /// Ingest requests processed at once; more get 429.
    pub max_concurrent_ingest: usize,
    /// Rows a JSON query reply holds at most (the reply says when it was cut).
    pub max_result_rows: usize,
    /// Limits and tiering bounds of the store.
    pub store: StoreConfig,
    /// Lateness and limits of continuous queries.
    pub engine: EngineConfig,
    /// Limits of queries run once.
    pub queries: QueryLimits,
    /// How often Weir scrapes its own metrics into the stream `_weir_metrics` (and provisions
    /// the "Weir" dashboard that draws them); `None` does neither.
    pub self_metrics_every: Option<std::time::Duration>,
}

impl Config {
    /// A server storing into `data_dir` and serving the web app built in `site_root`, with every
    /// other setting at its default (the defaults of `weir serve`'s flags are these).
    pub fn new(data_dir: impl Into<PathBuf>, site_root: impl Into<PathBuf>) -> Config {
        Config {
            data_dir: data_dir.into(),
            site_root: site_root.into(),
            demo: None,
            dashboards_dir: None,
            external_url: None,
            alerts_dir: None,
            insecure_no_auth: false,
            tls: None,
            max_body_bytes: 64 << 20,
            max_concurrent_ingest: 64,
            max_result_rows: 100_000,
            store: StoreConfig::default(),
            engine: EngineConfig::default(),
            queries: QueryLimits::default(),
            self_metrics_every: Some(std::time::Duration::from_secs(15)),
        }
    }
}

/// HTTPS: PEM files of the certificate chain and its private key.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Settings of the demo generator.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// Mean events per second written to `demo_http`.
    pub events_per_sec: u32,
}

impl Default for DemoConfig {
    fn default() -> DemoConfig {
        DemoConfig {
            events_per_sec: 300,
        }
    }
}
