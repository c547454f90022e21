//! The root actor: spawns the gateway, resolver, authorizer and router as linked children under
//! their registered names, and restarts any that fails. Handles reach actors by name, so they
//! survive a restart.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use cloudops_authorizer::Authorizer;
use cloudops_bus::NatsClient;
use cloudops_gateway::{Deps, Gateway, GatewayArgs};
use cloudops_resolver::Resolver;
use cloudops_router::Router;
use cloudops_store::Store;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};
use tracing::{error, warn};

#[derive(Clone)]
pub struct RootArgs {
    pub store: Store,
    pub nats: NatsClient,
    pub deps: Deps,
    pub listener: Arc<std::net::TcpListener>,
    /// HTTPS for the gateway (None: plain HTTP).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub restarts: Arc<AtomicU64>,
}

pub struct Root;

impl Root {
    async fn spawn_child(name: &str, me: &ActorCell, a: &RootArgs) -> Result<(), ActorProcessingErr> {
        let n = Some(name.to_string());
        match name {
            cloudops_resolver::NAME => {
                Actor::spawn_linked(n, Resolver, a.store.clone(), me.clone()).await?;
            }
            cloudops_authorizer::NAME => {
                Actor::spawn_linked(n, Authorizer, a.store.clone(), me.clone()).await?;
            }
            cloudops_router::NAME => {
                Actor::spawn_linked(n, Router, a.nats.clone(), me.clone()).await?;
            }
            cloudops_gateway::NAME => {
                let args = GatewayArgs { deps: a.deps.clone(), listener: a.listener.try_clone()?, tls: a.tls.clone() };
                Actor::spawn_linked(n, Gateway, args, me.clone()).await?;
            }
            other => warn!(actor = other, "unknown child"),
        }
        Ok(())
    }
}

pub const CHILDREN: [&str; 4] =
    [cloudops_resolver::NAME, cloudops_authorizer::NAME, cloudops_router::NAME, cloudops_gateway::NAME];

impl Actor for Root {
    type Msg = ();
    type State = RootArgs;
    type Arguments = RootArgs;

    async fn pre_start(&self, me: ActorRef<()>, args: RootArgs) -> Result<RootArgs, ActorProcessingErr> {
        for name in CHILDREN {
            Self::spawn_child(name, &me.get_cell(), &args).await?;
        }
        Ok(args)
    }

    async fn handle_supervisor_evt(
        &self,
        me: ActorRef<()>,
        evt: SupervisionEvent,
        state: &mut RootArgs,
    ) -> Result<(), ActorProcessingErr> {
        let (cell, why) = match evt {
            SupervisionEvent::ActorFailed(cell, e) => (cell, e.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => (cell, reason.unwrap_or_else(|| "stopped".into())),
            _ => return Ok(()),
        };
        let Some(name) = cell.get_name() else { return Ok(()) };
        let n = state.restarts.fetch_add(1, Ordering::Relaxed) + 1;
        error!(actor = %name, reason = %why, restarts_total = n, "actor stopped; restarting");
        Self::spawn_child(&name, &me.get_cell(), state).await
    }
}
