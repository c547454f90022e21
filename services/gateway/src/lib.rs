//! The gateway: the only crate that knows HTTP. It authenticates API keys, turns requests into
//! ops (protobuf, from `schemas/`) and drives them through the roles; JSON for the CLI, SSE and
//! the embedded web console (`console.rs`) for the browser.
//!
//! The [`Gateway`] actor owns the HTTP server: it starts serving in `pre_start` and stops in
//! `post_stop`. Each request runs on its own task and reaches the resolver, authorizer and
//! router through their handles (no extra mailbox hop).

mod admin;
mod charts;
mod console;
mod error;
mod exec_recording;
mod holds;
mod kube_exec;
mod kube_proxy;
mod kube_review;
mod kube_tunnel;
pub mod metrics_endpoint;
pub mod oidc;
mod openapi;
mod ops;
mod pipeline;
mod routes;
pub mod runner_builds;
mod sessions;
pub mod tls;
mod visibility;

use std::{sync::Arc, time::Duration};

use cloudops_schemas::RunnerId;
use cloudops_store::Store;
use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::{sync::oneshot, task::JoinHandle};
use tracing::info;

pub use cloudops_telemetry::metrics::ControlPlaneMetrics;
pub use error::ApiError;
pub use pipeline::{Roles, run_op};

pub const NAME: &str = "gateway";

/// A certificate for a runner, signed by the control plane's CA.
pub struct IssuedCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
    pub fingerprint: String,
}

/// Signs runner certificates. The CA lives in the control plane; the gateway only asks.
pub trait CertIssuer: Send + Sync + 'static {
    fn issue_runner(&self, runner: &RunnerId, generation: u32) -> Result<IssuedCert, String>;
}

/// The hub's side of the runner lifecycle. The control plane implements it with its hub: each
/// runner's NATS account and session stream, and the system account's KICK.
#[async_trait::async_trait]
pub trait RunnerTunnels: Send + Sync + 'static {
    /// Makes the hub ready for a registered runner (its account and its stream). Idempotent.
    async fn prepare(&self, runner: &RunnerId) -> Result<(), String>;
    /// Cuts the runner's live tunnels; returns how many connections were cut.
    async fn cut(&self, runner: &RunnerId) -> usize;
    /// Forgets a deleted runner (its stream goes with it).
    async fn removed(&self, runner: &RunnerId);
}

#[derive(Clone)]
pub struct GatewayConfig {
    /// The URL clients and runners use to reach this gateway.
    pub public_endpoint: String,
    /// The hub's leafnode URLs handed to runners (one per node).
    pub leaf_urls: Vec<String>,
    /// Default deadline for an op at the runner.
    pub op_timeout: Duration,
    /// Bytes of input and output an exec session's recording keeps.
    pub exec_record_cap: usize,
    /// Runners one org may register.
    pub max_runners_per_org: u64,
    /// What `planton runner install` may download (`runner_builds.rs`).
    pub runner_builds: runner_builds::RunnerBuilds,
    /// Sign-in through the company's identity provider, when configured (`oidc/`).
    pub oidc: Option<Arc<oidc::Provider>>,
}

/// 1 MiB: hours of typing, the last screens of most sessions.
pub const DEFAULT_EXEC_RECORD_CAP: usize = 1 << 20;

/// Everything the HTTP handlers need.
#[derive(Clone)]
pub struct Deps {
    pub store: Store,
    /// For streamed sessions (JetStream) only; ops go through the roles.
    pub nats: cloudops_bus::NatsClient,
    pub roles: Roles,
    pub issuer: Arc<dyn CertIssuer>,
    /// The key the org secrets are sealed with (`admin/secrets.rs`).
    pub secrets: Arc<cloudops_store::SecretsKey>,
    pub tunnels: Arc<dyn RunnerTunnels>,
    pub config: GatewayConfig,
}

/// The gateway actor takes no messages: it owns the HTTP server, which runs each request on
/// its own task straight through the roles' handles.
pub type GatewayMessage = ();

pub struct GatewayArgs {
    pub deps: Deps,
    /// Already bound, so that callers know the address before the actor starts (port 0 in
    /// tests). A restart serves a clone of the same socket.
    pub listener: std::net::TcpListener,
    /// HTTPS (the default of `cloudops serve`); None serves plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

pub struct GatewayState {
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

pub struct Gateway;

impl Actor for Gateway {
    type Msg = GatewayMessage;
    type State = GatewayState;
    type Arguments = GatewayArgs;

    async fn pre_start(&self, _me: ActorRef<Self::Msg>, args: GatewayArgs) -> Result<GatewayState, ActorProcessingErr> {
        let listener = args.listener.try_clone()?;
        listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let addr = listener.local_addr()?;
        let app = routes::router(routes::AppState {
            deps: args.deps.clone(),
            sessions: Default::default(),
            input_auth: Default::default(),
            refusals: Default::default(),
        });
        let (tx, rx) = oneshot::channel::<()>();
        let stopped = async {
            let _ = rx.await;
        };
        let server = match args.tls {
            Some(config) => {
                let listener = tls::TlsListener::new(listener, config)?;
                tokio::spawn(async move {
                    let _ = axum::serve(listener, app).with_graceful_shutdown(stopped).await;
                })
            }
            None => tokio::spawn(async move {
                let _ = axum::serve(listener, app).with_graceful_shutdown(stopped).await;
            }),
        };
        info!(%addr, "gateway listening");
        Ok(GatewayState { stop: Some(tx), server: Some(server) })
    }

    async fn post_stop(&self, _me: ActorRef<Self::Msg>, state: &mut GatewayState) -> Result<(), ActorProcessingErr> {
        if let Some(tx) = state.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut server) = state.server.take() {
            // In-flight requests get a few seconds to finish; long-lived ones (SSE) are then cut,
            // and their clients resume against the next gateway.
            if tokio::time::timeout(Duration::from_secs(5), &mut server).await.is_err() {
                server.abort();
            }
        }
        Ok(())
    }
}
