//! `cloudops serve` configuration: one typed value, parsed from flags and environment.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use clap::Args;
use cloudops_bus::natsd::LeafCompression;

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Where the database, CA and hub state live [default: $PLANTON_HOME/control-plane]
    #[arg(long, env = "CLOUDOPS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Gateway (HTTPS) listen address.
    #[arg(long, env = "CLOUDOPS_LISTEN", default_value = "127.0.0.1:7480")]
    pub listen: SocketAddr,
    /// The gateway's TLS certificate chain (PEM) [default: one issued by the control plane's
    /// CA for localhost, 127.0.0.1 and --public-host]
    #[arg(long, env = "CLOUDOPS_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The key of --tls-cert (PEM).
    #[arg(long, env = "CLOUDOPS_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP: only behind a proxy that terminates TLS, or on loopback for
    /// development (the CLI sends API keys over plain HTTP to loopback only).
    #[arg(long, env = "CLOUDOPS_PLAIN_HTTP", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub plain_http: bool,
    /// The URL clients and runners use to reach the gateway [default: https://<listen>]
    #[arg(long, env = "CLOUDOPS_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Leafnode (runner tunnel) listen address of the hub this process starts.
    #[arg(long, env = "CLOUDOPS_LEAF_LISTEN", default_value = "0.0.0.0:7422")]
    pub leaf_listen: SocketAddr,
    /// Host name runners dial for the tunnel; goes into the hub certificate and credentials.
    #[arg(long, env = "CLOUDOPS_PUBLIC_HOST", default_value = "127.0.0.1")]
    pub public_host: String,
    /// How the hub compresses runners' tunnels: off keeps a hub node's memory per runner at
    /// about half (idle) to a fifth (after traffic) of s2's; s2_auto (nats-server's default)
    /// and the other s2 levels save bandwidth on slow links.
    #[arg(long, env = "CLOUDOPS_LEAF_COMPRESSION", default_value = "off", value_parser = leaf_compression())]
    pub leaf_compression: LeafCompression,
    /// Nodes of the hub this process starts and supervises on this machine: 1, or a cluster
    /// of 3 or 5 (routes on loopback, node i's leafnode listener on --leaf-listen's port + i,
    /// sessions kept on 3 nodes), so that a node may die without losing a runner or a line.
    #[arg(long, env = "CLOUDOPS_CLUSTER_SIZE", default_value_t = 1, conflicts_with = "nats_url")]
    pub cluster_size: usize,
    /// Join this NATS instead of starting a hub: one URL, or a cluster's nodes separated by
    /// commas (nats-server >= 2.14). With --hub-keys-file this replica also answers the auth
    /// callout and registers and cuts runners; without it, that NATS must.
    #[arg(long, env = "CLOUDOPS_NATS_URL")]
    pub nats_url: Option<String>,
    /// With --nats-url: the leafnode URLs runners dial (tls://host:port), comma-separated.
    #[arg(long, env = "CLOUDOPS_LEAF_URL", requires = "nats_url")]
    pub leaf_url: Option<String>,
    /// With --nats-url: the hub's key secret (hub/hub-keys.secret in the data dir of the
    /// control plane that started the hub). Every replica that has it works the hub's
    /// accounts; replicas must also share --ca-dir.
    #[arg(long, env = "CLOUDOPS_HUB_KEYS_FILE", value_name = "FILE", requires = "nats_url")]
    pub hub_keys_file: Option<PathBuf>,
    /// The control plane's CA (ca.pem and its key): replicas must share it, since it signs
    /// runner and hub certificates [default: DATA_DIR/pki]
    #[arg(long, env = "CLOUDOPS_CA_DIR", value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
    /// Database URL [default: sqlite in the data dir]; postgres://… for HA.
    #[arg(long, env = "CLOUDOPS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Name of the org created on first start.
    #[arg(long, default_value = "default")]
    pub org: String,
    /// Also register, start and connect a runner, and a connection named `local` bound to it
    /// (your current kubeconfig context, else a sandbox cluster).
    #[arg(long)]
    pub with_local_runner: bool,
    /// Deadline for one op at the runner, in seconds.
    #[arg(long, default_value_t = 15)]
    pub op_timeout_secs: u64,
    /// Bytes of input and output kept in each exec session's recording (the rest is counted).
    #[arg(long, default_value_t = cloudops_gateway::DEFAULT_EXEC_RECORD_CAP)]
    pub exec_record_max_bytes: usize,
    /// Bytes of session data (logs, exec, watches, recordings) the hub keeps per runner; a
    /// runner that fills its share evicts only its own oldest data.
    #[arg(long, default_value_t = DEFAULT_RUNNER_STREAM_MAX_BYTES)]
    pub runner_stream_max_bytes: i64,
    /// Runners one org may register: each costs the hub an account on every node (about
    /// 30 KiB each), built at registration and again when a node restarts. Platform runners
    /// are not counted.
    #[arg(long, env = "CLOUDOPS_MAX_RUNNERS_PER_ORG", default_value_t = DEFAULT_MAX_RUNNERS_PER_ORG,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_runners_per_org: u64,
    /// Runner releases to offer to `planton runner install`, besides the planton-runner next to
    /// cloudops: DIR/VERSION/planton-runner-OS-ARCH, with the release's DIR/VERSION/SHA256SUMS.
    #[arg(long, env = "CLOUDOPS_RUNNER_BUILDS", value_name = "DIR")]
    pub runner_builds: Option<PathBuf>,
    /// The key the org secrets (`planton secret set`) are sealed with: base64 of 32 bytes,
    /// created on first start when missing. Keep it out of the database's backups; give every
    /// replica the same file [default: DATA_DIR/secrets.key]
    #[arg(long, env = "CLOUDOPS_SECRETS_KEY_FILE", value_name = "FILE")]
    pub secrets_key_file: Option<PathBuf>,
    /// Serve Prometheus metrics (`GET /metrics`, OpenMetrics text, no credentials) on this
    /// address, e.g. 127.0.0.1:9464 [default: not served]
    #[arg(long, env = "CLOUDOPS_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    #[command(flatten)]
    pub oidc: crate::oidc_config::OidcArgs,
}

/// `--leaf-compression`'s parser: the modes listed in `--help`, parsed into the bus's type.
pub fn leaf_compression() -> impl clap::builder::TypedValueParser<Value = LeafCompression> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(LeafCompression::NAMES)
        .map(|s| s.parse::<LeafCompression>().expect("one of the names listed"))
}

pub const DEFAULT_RUNNER_STREAM_MAX_BYTES: i64 = 256 << 20;
pub const DEFAULT_MAX_RUNNERS_PER_ORG: u64 = 1000;
/// The per-runner quota of [`ServeConfig::for_test`].
pub const TEST_RUNNER_STREAM_MAX_BYTES: i64 = 32 << 20;

/// How the gateway speaks to clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayTls {
    /// HTTPS with a certificate from the control plane's CA (kept in the data dir).
    Generated,
    /// HTTPS with the operator's certificate chain and key (PEM files).
    Files { cert: PathBuf, key: PathBuf },
    /// Plain HTTP (behind a TLS-terminating proxy, or loopback development and tests).
    Off,
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub planton_home: PathBuf,
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    pub tls: GatewayTls,
    pub public_url: Option<String>,
    pub leaf_listen: SocketAddr,
    pub public_host: String,
    pub leaf_compression: LeafCompression,
    /// Join this NATS instead of starting a hub (`--nats-url`, or a full spec in code: another
    /// replica's hub with its credentials).
    pub nats: Option<cloudops_bus::connect::ConnectSpec>,
    /// With `nats`: the leafnode URLs runners dial.
    pub leaf_urls: Vec<String>,
    /// With `nats`: the hub's keys, to work its accounts (see [`ServeArgs::hub_keys_file`]).
    pub hub_keys_file: Option<PathBuf>,
    /// None: `data_dir/pki`.
    pub ca_dir: Option<PathBuf>,
    /// Nodes of the hub this process starts (1, 3 or 5).
    pub cluster_size: usize,
    pub database_url: Option<String>,
    pub org: String,
    pub with_local_runner: bool,
    pub op_timeout: Duration,
    pub exec_record_max_bytes: usize,
    pub runner_stream_max_bytes: i64,
    /// See [`ServeArgs::max_runners_per_org`].
    pub max_runners_per_org: u64,
    /// See [`ServeArgs::runner_builds`].
    pub runner_builds: Option<PathBuf>,
    /// See [`ServeArgs::secrets_key_file`]; None: `data_dir/secrets.key`.
    pub secrets_key_file: Option<PathBuf>,
    /// See [`ServeArgs::metrics_listen`].
    pub metrics_listen: Option<SocketAddr>,
    /// Sign-in through the company's identity provider (`--oidc-issuer`, …).
    pub oidc: Option<cloudops_gateway::oidc::OidcSettings>,
    /// Write the CLI config into `planton_home` on first start.
    pub write_cli_config: bool,
    /// `bench-audit` only: decisions are not recorded, to measure what recording costs. No
    /// flag or variable sets it.
    pub audit_discarded_for_benchmarks: bool,
}

impl ServeArgs {
    /// Checks everything and reports every problem at once.
    pub fn into_config(self) -> Result<ServeConfig, String> {
        let mut problems = Vec::new();
        if let Some(u) = &self.nats_url
            && split_urls(self.leaf_url.as_deref()).is_empty()
        {
            problems
                .push(format!("--nats-url {u}: also pass --leaf-url, the leafnode URL runners dial (tls://host:port)"));
        }
        let leaf_urls = split_urls(self.leaf_url.as_deref());
        for l in &leaf_urls {
            if !l.starts_with("tls://") {
                problems.push(format!("--leaf-url {l:?}: must be a tls:// URL"));
            }
        }
        if self.leaf_listen.port() != 0 && usize::from(self.leaf_listen.port()) + self.cluster_size > 65536 {
            problems.push(format!(
                "--leaf-listen {}: a cluster of {} needs {} ports from there",
                self.leaf_listen, self.cluster_size, self.cluster_size
            ));
        }
        if ![1, 3, 5].contains(&self.cluster_size) {
            problems.push(format!(
                "--cluster-size {}: must be 1, 3 or 5 (a cluster needs a majority of its nodes alive)",
                self.cluster_size
            ));
        }
        if let Some(u) = &self.public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            problems.push(format!("--public-url {u:?}: must be an http(s):// URL"));
        }
        if self.op_timeout_secs == 0 || self.op_timeout_secs > 600 {
            problems.push(format!("--op-timeout-secs {}: must be between 1 and 600", self.op_timeout_secs));
        }
        if self.runner_stream_max_bytes < 1 << 20 {
            problems.push(format!(
                "--runner-stream-max-bytes {}: must be at least 1048576 (1 MiB)",
                self.runner_stream_max_bytes
            ));
        }
        if let Err(e) = cloudops_store::validate_name("org", &self.org) {
            problems.push(format!("--org: {e}"));
        }
        for (flag, path) in [("--tls-cert", &self.tls_cert), ("--tls-key", &self.tls_key)] {
            if let Some(p) = path
                && !p.is_file()
            {
                problems.push(format!("{flag} {}: no such file", p.display()));
            }
        }
        if let Some(u) = &self.public_url
            && u.starts_with("http://")
            && !self.plain_http
        {
            problems.push(format!("--public-url {u:?}: the gateway serves HTTPS; use https://, or pass --plain-http behind a proxy that terminates TLS"));
        }
        let oidc = self.oidc.settings(&self.org, &mut problems);
        if !problems.is_empty() {
            return Err(problems.join("\n"));
        }
        let planton_home = cloudops_schemas::local_store::planton_home();
        Ok(ServeConfig {
            data_dir: self.data_dir.unwrap_or_else(|| planton_home.join("control-plane")),
            planton_home,
            listen: self.listen,
            tls: match (self.plain_http, self.tls_cert, self.tls_key) {
                (true, _, _) => GatewayTls::Off,
                (false, Some(cert), Some(key)) => GatewayTls::Files { cert, key },
                _ => GatewayTls::Generated,
            },
            public_url: self.public_url,
            leaf_listen: self.leaf_listen,
            public_host: self.public_host,
            leaf_compression: self.leaf_compression,
            nats: self.nats_url.map(|url| cloudops_bus::connect::ConnectSpec {
                url,
                name: "cloudops-control-plane".into(),
                ..Default::default()
            }),
            leaf_urls,
            hub_keys_file: self.hub_keys_file,
            ca_dir: self.ca_dir,
            cluster_size: self.cluster_size,
            database_url: self.database_url,
            org: self.org,
            with_local_runner: self.with_local_runner,
            op_timeout: Duration::from_secs(self.op_timeout_secs),
            exec_record_max_bytes: self.exec_record_max_bytes,
            runner_stream_max_bytes: self.runner_stream_max_bytes,
            max_runners_per_org: self.max_runners_per_org,
            runner_builds: self.runner_builds,
            secrets_key_file: self.secrets_key_file,
            metrics_listen: self.metrics_listen,
            oidc,
            write_cli_config: true,
            audit_discarded_for_benchmarks: false,
        })
    }
}

/// `a,b , c` → `[a, b, c]`.
pub fn split_urls(urls: Option<&str>) -> Vec<String> {
    urls.unwrap_or_default().split(',').map(str::trim).filter(|u| !u.is_empty()).map(String::from).collect()
}

impl ServeConfig {
    /// Everything on loopback and free ports under `dir`; no CLI config written.
    pub fn for_test(dir: PathBuf) -> Self {
        Self {
            planton_home: dir.join("home"),
            data_dir: dir.join("control-plane"),
            listen: "127.0.0.1:0".parse().expect("addr"),
            // In-process tests talk plain HTTP on loopback; the shipped binary's HTTPS default is
            // tested through `cloudops serve` itself (services/sandbox/tests/binaries.rs).
            tls: GatewayTls::Off,
            public_url: None,
            leaf_listen: "127.0.0.1:0".parse().expect("addr"),
            public_host: "127.0.0.1".into(),
            leaf_compression: LeafCompression::Off,
            nats: None,
            leaf_urls: Vec::new(),
            hub_keys_file: None,
            ca_dir: None,
            cluster_size: 1,
            database_url: None,
            org: "default".into(),
            with_local_runner: false,
            op_timeout: Duration::from_secs(5),
            exec_record_max_bytes: cloudops_gateway::DEFAULT_EXEC_RECORD_CAP,
            // Small, so that a test can fill one runner's share quickly.
            runner_stream_max_bytes: TEST_RUNNER_STREAM_MAX_BYTES,
            max_runners_per_org: DEFAULT_MAX_RUNNERS_PER_ORG,
            runner_builds: None,
            secrets_key_file: None,
            metrics_listen: None,
            oidc: None,
            write_cli_config: false,
            audit_discarded_for_benchmarks: false,
        }
    }
}
