//! Starting and stopping a runner: its leaf nats-server (the tunnel to the hub, over mTLS), the
//! NATS client on that leaf, the op loop, heartbeats, idle-session reaping, and health.

use std::{path::PathBuf, sync::Arc, time::Duration};

use cloudops_bus::{
    NatsClient,
    connect::{ConnectSpec, connect},
    natsd::{self, LeafConfig, NatsServer},
    runner_link,
    tunnel_backoff::TunnelBackoff,
};
use cloudops_schemas::{RunnerCredentials, RunnerId, v1};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::{Executor, SESSION_IDLE, Sessions, VERSION, health, random_hex, tunnel};

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub credentials: RunnerCredentials,
    /// Kubeconfig to use instead of `KUBECONFIG` / in-cluster config.
    pub kubeconfig: Option<PathBuf>,
    /// Refuse every Kubernetes op that does not name the person (see `kube/impersonate.rs`).
    pub require_impersonation: bool,
    pub heartbeat: Duration,
    /// Where to serve `/healthz`, `/readyz` and `/metrics` (`health.rs`); none by default.
    pub health_addr: Option<std::net::SocketAddr>,
    /// How long the leaf dials a hub that does not take the tunnel before it pauses.
    pub tunnel_backoff: TunnelBackoff,
}

impl RunnerConfig {
    pub fn new(credentials: RunnerCredentials) -> Self {
        Self {
            credentials,
            kubeconfig: None,
            require_impersonation: false,
            heartbeat: Duration::from_secs(10),
            health_addr: None,
            tunnel_backoff: TunnelBackoff::DEFAULT,
        }
    }
}

/// A running runner. Dropping it stops the leaf node.
pub struct Runner {
    pub runner_id: RunnerId,
    pub leaf: NatsServer,
    pub nats: NatsClient,
    monitor_port: u16,
    /// Where `/healthz`, `/readyz` and `/metrics` are served, when asked for.
    pub health_addr: Option<std::net::SocketAddr>,
    tasks: Vec<JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

impl Runner {
    pub async fn start(cfg: RunnerConfig) -> Result<Self, String> {
        // The process-wide TLS provider for clients that do not pick one (the GCP clients' reqwest).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let creds = &cfg.credentials;
        let runner_id = creds.runner_id();
        let bin = natsd::locate().await.map_err(|e| e.to_string())?;
        let dir = tempfile::Builder::new().prefix("planton-runner-").tempdir().map_err(|e| e.to_string())?;
        let p = dir.path();
        let (ca, cert, key) = (p.join("ca.pem"), p.join("runner.pem"), p.join("runner.key"));
        let w = |path: &std::path::Path, s: &str| {
            natsd::write_private(path, s.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
        };
        w(&ca, &creds.tunnel.ca_cert_pem)?;
        w(&cert, &creds.tunnel.cert_pem)?;
        w(&key, &creds.tunnel.key_pem)?;
        let password = random_hex(16);
        let log_file = p.join("leaf.log");
        // Ports picked free can be taken by another process before the leaf binds them: it
        // is started again on fresh ones (three tries).
        let mut attempt = 0;
        let (leaf, conf, conf_path) = loop {
            attempt += 1;
            let ports = natsd::free_ports(2).map_err(|e| e.to_string())?;
            let (client_port, monitor_port) = (ports[0], ports[1]);
            let conf = LeafConfig {
                server_name: format!("leaf-{}-{}", runner_id, random_hex(3)),
                client_port,
                local_user: "runner".into(),
                local_password: password.clone(),
                hub_urls: creds.tunnel.hub_urls(),
                cert: cert.clone(),
                key: key.clone(),
                ca: ca.clone(),
                log_file: log_file.clone(),
                monitor_port,
                remote_disabled: false,
            };
            let conf_path = p.join("leaf.conf");
            natsd::write_private(&conf_path, conf.render().as_bytes()).map_err(|e| e.to_string())?;
            match NatsServer::start(&bin, "leaf", conf_path.clone(), client_port, log_file.clone()).await {
                Ok(leaf) => break (leaf, conf, conf_path),
                Err(e) if attempt < 3 => {
                    tracing::warn!(attempt, error = %e, "the local leaf did not start; picking its ports again")
                }
                Err(e) => return Err(e.to_string()),
            }
        };
        let nats = connect(&ConnectSpec {
            url: leaf.client_url(false),
            name: format!("runner-{runner_id}"),
            user: Some(("runner".into(), password)),
            creds: None,
            tls: None,
            inbox_prefix: Some(format!("_INBOX.{runner_id}")),
            on_gap: None,
            // Its own leaf on loopback, restarted by this process when it dies.
            prompt_reconnect: true,
            reconnect_delay: None,
        })
        .await
        .map_err(|e| e.to_string())?;

        let sessions: Sessions = Arc::default();
        let exec = Arc::new(Executor {
            #[cfg(feature = "kubernetes")]
            kube: crate::kube::KubeExecutor::new(cfg.kubeconfig.clone(), cfg.require_impersonation),
            #[cfg(feature = "aws")]
            aws: Default::default(),
            #[cfg(feature = "gcp")]
            gcp: Default::default(),
            #[cfg(feature = "azure")]
            azure: Default::default(),
            secrets: crate::secrets::ControlPlaneSecrets::new(creds),
            nats: nats.clone(),
            runner_id: runner_id.clone(),
            sessions: sessions.clone(),
        });
        let health = Arc::new(health::Health::default());
        let answered = health.clone();
        let mut tasks = vec![
            runner_link::serve_ops(nats.clone(), runner_id.clone(), move |req| {
                let (exec, answered) = (exec.clone(), answered.clone());
                async move {
                    let (op, started) = (req.op.as_ref().map_or("unknown", v1::Op::name), std::time::Instant::now());
                    let reply = exec.run(req).await;
                    answered.op_answered(op, &reply, started.elapsed());
                    reply
                }
            })
            .await
            .map_err(|e| e.to_string())?,
        ];
        let (hb_nc, hb_id, every) = (nats.clone(), runner_id.clone(), cfg.heartbeat);
        let started =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        tasks.push(tokio::spawn(async move {
            let beat = v1::RunnerHeartbeat {
                runner_id: hb_id.to_string(),
                version: VERSION.into(),
                hostname: std::fs::read_to_string("/etc/hostname").unwrap_or_default().trim().to_string(),
                started_at_unix: started,
            };
            // Beats are fire-and-forget: the first ones may leave before the tunnel is up, so
            // the first few go out every second.
            for n in 0u32.. {
                if let Err(e) = runner_link::publish_heartbeat(&hb_nc, &hb_id, &beat).await {
                    warn!(error = %e, "heartbeat not sent");
                }
                tokio::time::sleep(if n < 5 { Duration::from_secs(1).min(every) } else { every }).await;
            }
        }));
        // Sessions nobody keeps alive (the client went away) end within a few seconds.
        let metrics = health.metrics.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let sessions = sessions.lock().expect("sessions lock");
                metrics.sessions_open.set(i64::try_from(sessions.len()).unwrap_or(i64::MAX));
                for s in sessions.values() {
                    if s.last_seen.elapsed() > SESSION_IDLE {
                        let _ = s.cancel.send(true);
                    }
                }
            }
        }));
        let name = creds.runner_name.clone();
        let monitor_port = conf.monitor_port;
        let remote = tunnel::LeafRemote { path: conf_path, config: conf, reloader: leaf.reloader() };
        tasks.push(tokio::spawn(tunnel::watch(health.clone(), monitor_port, remote, cfg.tunnel_backoff, name.clone())));
        let health_addr = match cfg.health_addr {
            Some(addr) => {
                let (bound, task) =
                    health::listen(addr, health, name).await.map_err(|e| format!("health listener on {addr}: {e}"))?;
                tasks.push(task);
                info!(addr = %bound, "serving /healthz, /readyz and /metrics");
                Some(bound)
            }
            None => None,
        };
        info!(runner_id = %runner_id, runner = %creds.runner_name, org = %creds.org, hub = %creds.tunnel.hub_urls().join(", "), "runner started");
        Ok(Self { runner_id, leaf, nats, monitor_port, health_addr, tasks, _dir: dir })
    }

    /// Whether the leaf's tunnel to the hub is up (from the leaf's own monitoring endpoint).
    pub async fn tunnel_up(&self) -> bool {
        health::leafz_up(self.monitor_port).await
    }

    /// The leafnode port of the hub node the tunnel is up to (which node of a cluster), if up.
    pub async fn hub_port(&self) -> Option<u16> {
        health::hub_port(self.monitor_port).await
    }

    /// Waits until the tunnel is up, or `timeout`.
    pub async fn wait_tunnel(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.tunnel_up().await {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    pub async fn stop(mut self) {
        for t in self.tasks.drain(..) {
            t.abort();
        }
        let _ = self.nats.flush().await;
        self.leaf.stop().await;
    }
}
