//! `cloudops serve`: the control plane in one process — store, CA, hub, auth callout, the
//! resolver / authorizer / router / gateway actors (also served on NATS queue groups so that
//! more replicas can join), and optionally a local runner.

mod changes;
mod cli_config;
pub mod config;
mod data;
mod hub;
pub mod hub_only;
mod local;
pub mod metrics;
pub mod oidc_config;
pub mod pki;
mod supervisor;
mod tunnels;

use std::{
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use cloudops_bus::{
    NatsClient, callout,
    connect::{ConnectSpec, connect},
    services, streams,
};
use cloudops_gateway::{Deps, GatewayConfig, Roles};
use cloudops_store::Store;
use ractor::{Actor, ActorRef};
use tokio::task::JoinHandle;
use tracing::{info, warn};

pub use cli_config::write_cli_config;
use cli_config::{gateway_tls, refresh_cli_config};
pub use config::{GatewayTls, ServeArgs, ServeConfig};
pub use hub::Hub;
pub use pki::Pki;
pub use supervisor::Slots;

/// How long a start waits for the hub's JetStream (see [`streams::wait_ready`]).
const JETSTREAM_READY_WITHIN: Duration = Duration::from_secs(60);

pub struct ControlPlane {
    pub gateway_url: String,
    /// The leafnode URLs runners dial: one per hub node.
    pub leaf_urls: Vec<String>,
    pub org: cloudops_store::org::Model,
    /// The bootstrap admin key, when this start created it.
    pub bootstrap_key: Option<String>,
    pub store: Store,
    pub pki: Arc<Pki>,
    /// Where the key the org secrets are sealed with is kept (replicas share it).
    pub secrets_key_file: std::path::PathBuf,
    pub hub: Option<Hub>,
    pub nats: NatsClient,
    pub restarts: Arc<AtomicU64>,
    pub local: Option<local::LocalRunner>,
    /// What this replica counts, and where `/metrics` is served (`--metrics-listen`).
    pub metrics: Arc<cloudops_telemetry::metrics::ControlPlaneMetrics>,
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// This replica's actors, for tests that stop one.
    pub actors: Slots,
    root: ActorRef<()>,
    tasks: Vec<JoinHandle<()>>,
}

impl ControlPlane {
    pub async fn start(cfg: ServeConfig) -> Result<Self, String> {
        let data::Data { store, boot, org, pki, secrets, secrets_key_file, runner_ids } = data::open(&cfg).await?;

        let mut tasks = Vec::new();
        let admissions = callout::Admissions::default();
        let connected = Arc::new(tokio::sync::Notify::new());
        let (hub, link, leaf_urls) = match &cfg.nats {
            Some(spec) => {
                let link = match &cfg.hub_keys_file {
                    Some(f) => Some(hub::HubLink::join(&spec.url, f, &pki, &cfg.data_dir.join("hub-client"))?),
                    None => None,
                };
                (None, link, cfg.leaf_urls.clone())
            }
            None => {
                let hub = Hub::start(
                    hub::HubPlan {
                        dir: &cfg.data_dir.join("hub"),
                        leaf_listen: cfg.leaf_listen,
                        public_host: &cfg.public_host,
                        runner_stream_max_bytes: cfg.runner_stream_max_bytes,
                        leaf_compression: cfg.leaf_compression,
                        nodes: cfg.cluster_size,
                        spread: None,
                        keys_file: None,
                    },
                    &pki,
                )
                .await?;
                let link = hub.link.clone();
                let leaf_urls = hub.leaf_urls(&cfg.public_host);
                (Some(hub), Some(link), leaf_urls)
            }
        };
        let joined = |e: String| {
            if hub.is_none() && link.is_some() {
                format!(
                    "{e} (a replica needs the CA of the control plane that started the hub: share its pki directory with --ca-dir)"
                )
            } else {
                e
            }
        };
        // This replica's connection: the hub's own user when it holds the keys, else what
        // --nats-url (or a test's spec) says.
        let nats_spec = match (&link, &cfg.nats) {
            (Some(l), spec) => ConnectSpec {
                name: spec.as_ref().map_or_else(|| "cloudops-control-plane".into(), |s| s.name.clone()),
                ..l.control_plane_spec()?
            },
            (None, Some(spec)) => spec.clone(),
            (None, None) => unreachable!("a hub of ours comes with its link"),
        };
        let nats = connect(&ConnectSpec { on_gap: Some(connected.clone()), ..nats_spec.clone() })
            .await
            .map_err(|e| joined(e.to_string()))?;
        if let Some(l) = &link {
            // Queue group: with several replicas, each callout request gets one answer.
            tasks.push(
                callout::serve(callout::Callout {
                    nc: l.connect_callout().await.map_err(joined)?,
                    sys: l.connect_system().await.map_err(joined)?,
                    keys: l.keys.clone(),
                    ttl: Duration::from_secs(3600),
                    dir: Arc::new(data::StoreDirectory(store.clone())),
                    admissions: admissions.clone(),
                })
                .await
                .map_err(|e| e.to_string())?,
            );
        }

        let listener = std::net::TcpListener::bind(cfg.listen)
            .map_err(|e| format!("gateway cannot listen on {}: {e}", cfg.listen))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (tls, ca_for_clients) = gateway_tls(&cfg, &pki)?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        let gateway_url = cfg.public_url.clone().unwrap_or_else(|| format!("{scheme}://{addr}"));
        let slots = Slots::default();
        let local_roles = changes::Local {
            resolver: cloudops_resolver::ResolverHandle::new(slots.resolver.clone()),
            authorizer: cloudops_authorizer::AuthorizerHandle::new(slots.authorizer.clone()),
        };
        let metrics = cloudops_telemetry::metrics::ControlPlaneMetrics::new();
        let roles = Roles {
            resolver: Arc::new(local_roles.resolver.clone()),
            authorizer: Arc::new(local_roles.authorizer.clone()),
            router: Arc::new(cloudops_router::RouterHandle::new(slots.router.clone())),
            metrics: metrics.clone(),
        };
        let hub_access = match &link {
            Some(l) => {
                let access = tunnels::HubAccess { sys: l.connect_system().await?, keys: l.keys.clone() };
                access.add_accounts(&runner_ids).await?;
                tasks.push(cloudops_bus::warmup::watch(
                    access.sys.clone(),
                    access.keys.clone(),
                    Arc::new(data::ReconnectingRunners(store.clone())),
                ));
                Some(access)
            }
            None => None,
        };
        // Streamed sessions (logs, exec) live in JetStream on the hub, a stream per runner, kept
        // on 3 nodes when there are 3 or more (the URLs this replica was given are the nodes).
        let nodes = nats_spec.url.split(',').filter(|u| !u.trim().is_empty()).count();
        let limits = streams::StreamLimits {
            max_age: Duration::from_secs(3600),
            max_bytes: cfg.runner_stream_max_bytes,
            replicas: nodes.clamp(1, 3),
        };
        // A cluster serves JetStream once its nodes have elected a leader, and places a
        // replicated stream once its peers are known: both are waited for, up to 60 s (a fresh
        // cluster's election can take several RAFT timeouts on a busy machine).
        let deadline = tokio::time::Instant::now() + JETSTREAM_READY_WITHIN;
        streams::wait_ready(&nats, JETSTREAM_READY_WITHIN).await.map_err(|e| format!("jetstream: {e}"))?;
        while let Err(e) = streams::ensure(&nats, limits).await {
            if tokio::time::Instant::now() > deadline {
                return Err(format!("jetstream: {e}"));
            }
            tracing::debug!(error = %e, "sessions bucket not ready yet");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // One runner's stream that cannot be made must not keep every tenant out.
        let failed =
            streams::ensure_runner_streams(&nats, &runner_ids, limits).await.map_err(|e| format!("jetstream: {e}"))?;
        for (id, e) in failed {
            warn!(runner_id = %id, error = %e, "runner session stream not ready; its sessions fail until it is");
        }
        let metrics_addr = match cfg.metrics_listen {
            Some(addr) => {
                let (bound, task) = cloudops_gateway::metrics_endpoint::serve(addr, metrics.clone())
                    .await
                    .map_err(|e| format!("--metrics-listen {addr}: {e}"))?;
                let sys = hub_access.as_ref().map(|h| h.sys.clone());
                tasks.extend([task, tokio::spawn(metrics::refresh(metrics.clone(), nats.clone(), sys))]);
                Some(bound)
            }
            None => None,
        };
        let tunnels = Arc::new(tunnels::HubTunnels { nats: nats.clone(), limits, hub: hub_access, admissions });
        // The runner of this very version is the one built with cloudops, beside it (not one on PATH).
        let beside = std::env::current_exe().ok().map(|e| e.with_file_name("planton-runner"));
        let runner_builds =
            cloudops_gateway::runner_builds::RunnerBuilds::discover(beside, cfg.runner_builds.as_deref())
                .map_err(|e| e.to_string())?;
        runner_builds.warm();
        let deps = Deps {
            store: store.clone(),
            nats: nats.clone(),
            roles: roles.clone(),
            issuer: pki.clone(),
            secrets,
            tunnels: tunnels.clone(),
            config: GatewayConfig {
                public_endpoint: gateway_url.clone(),
                leaf_urls: leaf_urls.clone(),
                op_timeout: cfg.op_timeout,
                exec_record_cap: cfg.exec_record_max_bytes,
                max_runners_per_org: cfg.max_runners_per_org,
                runner_builds,
                oidc: match cfg.oidc.clone() {
                    Some(o) => Some(Arc::new(
                        cloudops_gateway::oidc::Provider::new(o, &gateway_url).map_err(|e| e.to_string())?,
                    )),
                    None => None,
                },
            },
        };
        let restarts = Arc::new(AtomicU64::new(0));
        let args = supervisor::RootArgs {
            store: store.clone(),
            nats: nats.clone(),
            deps,
            listener: Arc::new(listener),
            tls,
            restarts: restarts.clone(),
            slots: slots.clone(),
            audit: cfg.audit_discarded_for_benchmarks.then(cloudops_authorizer::AuditLog::discarding_for_benchmarks),
        };
        // Every write from now on reaches this replica's actors at once and the others over
        // NATS; installed before the actors start, so that no write the gateway takes escapes.
        let feed = Arc::new(changes::ChangeFeed::new(local_roles, nats.clone(), cloudops_store::new_id("cp")));
        tasks.extend(changes::listen(nats.clone(), connected, &feed).await?);
        store.set_change_sink(feed);
        let (root, _) = Actor::spawn(None, supervisor::Root, args).await.map_err(|e| format!("actors: {e}"))?;

        // The same roles on NATS queue groups, so that replicas elsewhere can share the work.
        tasks.push(services::serve_resolver(nats.clone(), roles.resolver.clone()).await.map_err(|e| e.to_string())?);
        tasks.extend(
            services::serve_authorizer(nats.clone(), roles.authorizer.clone()).await.map_err(|e| e.to_string())?,
        );
        tasks.push(services::serve_router(nats.clone(), roles.router.clone()).await.map_err(|e| e.to_string())?);

        if cfg.write_cli_config {
            let ca = ca_for_clients.as_deref();
            match &boot {
                Some(b) => write_cli_config(&cfg.planton_home, &gateway_url, &b.api_key, &org.name, ca)?,
                None => refresh_cli_config(&cfg.planton_home, &store, &gateway_url, ca).await,
            }
        }

        let local = if cfg.with_local_runner {
            Some(
                local::start(
                    &store,
                    &pki,
                    tunnels.as_ref(),
                    &org,
                    &cfg.data_dir,
                    &cfg.planton_home,
                    &gateway_url,
                    &leaf_urls,
                )
                .await?,
            )
        } else {
            None
        };

        Ok(Self {
            gateway_url,
            leaf_urls,
            org,
            bootstrap_key: boot.map(|b| b.api_key),
            store,
            pki,
            secrets_key_file,
            hub,
            nats,
            restarts,
            local,
            metrics,
            metrics_addr,
            actors: slots,
            root,
            tasks,
        })
    }

    pub fn local_kube_description(&self) -> Option<&str> {
        self.local.as_ref().map(|l| l.kube_description.as_str())
    }

    /// Graceful stop: local runner, actors (the gateway drains), tasks, then the hub.
    pub async fn shutdown(mut self) {
        if let Some(l) = self.local.take() {
            l.stop().await;
        }
        self.root.stop(None);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
        while self.root.get_status() != ractor::ActorStatus::Stopped && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
        let _ = self.nats.flush().await;
        if let Some(hub) = self.hub.take() {
            hub.stop().await;
        }
        info!("control plane stopped");
    }
}

/// `cloudops serve` until `shutdown` resolves.
pub async fn run(cfg: ServeConfig, shutdown: impl std::future::Future<Output = ()>) -> Result<(), String> {
    let cp = ControlPlane::start(cfg.clone()).await?;
    println!("Cloud Ops control plane is up");
    println!("  gateway:     {}", cp.gateway_url);
    println!(
        "  web console: {}/ (sign in with an API key: the bootstrap key, or `planton apikey create`)",
        cp.gateway_url
    );
    if let Some(o) = &cfg.oidc {
        println!(
            "  sign-in:     also through {} (register the redirect URI {}/v1/auth/oidc/callback; planton login --oidc)",
            o.issuer, cp.gateway_url
        );
    }
    if cp.gateway_url.starts_with("https://") && matches!(cfg.tls, config::GatewayTls::Generated) {
        println!(
            "  TLS:         certificate from this control plane's CA: {} (planton trusts it; trust it in your browser)",
            cfg.ca_dir.clone().unwrap_or_else(|| cfg.data_dir.join("pki")).join("ca.pem").display()
        );
    }
    println!("  runner tunnel (leafnode, mTLS): {}", cp.leaf_urls.join(", "));
    if let Some(hub) = &cp.hub {
        println!("  hub (NATS clients, for replicas: --nats-url): {}", hub.client_urls());
    }
    println!("  data:        {}", cfg.data_dir.display());
    if let Some(key) = &cp.bootstrap_key {
        println!("  bootstrap admin API key (shown once): {key}");
        if cfg.write_cli_config {
            println!(
                "  CLI config:  {} (planton is ready to use)",
                cloudops_schemas::local_store::cli_config_path(&cfg.planton_home).display()
            );
        }
    }
    if let Some(d) = cp.local_kube_description() {
        println!("  local runner `local` → {d}");
        println!("  try:         planton kubectl get pods --connection local -n default");
    }
    shutdown.await;
    println!("shutting down…");
    cp.shutdown().await;
    Ok(())
}
