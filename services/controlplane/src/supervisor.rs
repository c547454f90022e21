//! The root actor: spawns the resolver, authorizer, router and gateway as linked children,
//! puts each instance in its handle's [`Slot`], and restarts any that fails (the new instance
//! takes the slot). Nothing is registered under a global name, so several control planes can
//! share a process.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use cloudops_authorizer::{AuditLog, Authorizer, AuthorizerArgs, AuthorizerMessage};
use cloudops_bus::{NatsClient, slot::Slot};
use cloudops_gateway::{Deps, Gateway, GatewayArgs, GatewayMessage};
use cloudops_resolver::{Resolver, ResolverMessage};
use cloudops_router::{Router, RouterArgs, RouterMessage};
use cloudops_store::Store;
use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};
use tracing::error;

/// Where each role's handle finds its current instance.
#[derive(Clone)]
pub struct Slots {
    pub resolver: Slot<ResolverMessage>,
    pub authorizer: Slot<AuthorizerMessage>,
    pub router: Slot<RouterMessage>,
    pub gateway: Slot<GatewayMessage>,
}

impl Default for Slots {
    fn default() -> Self {
        Self {
            resolver: Slot::new(cloudops_resolver::ROLE),
            authorizer: Slot::new(cloudops_authorizer::ROLE),
            router: Slot::new(cloudops_router::ROLE),
            gateway: Slot::new("gateway"),
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Child {
    Resolver,
    Authorizer,
    Router,
    Gateway,
}

const CHILDREN: [Child; 4] = [Child::Resolver, Child::Authorizer, Child::Router, Child::Gateway];

#[derive(Clone)]
pub struct RootArgs {
    pub store: Store,
    pub nats: NatsClient,
    pub deps: Deps,
    pub listener: Arc<std::net::TcpListener>,
    /// HTTPS for the gateway (None: plain HTTP).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub restarts: Arc<AtomicU64>,
    pub slots: Slots,
    /// The authorizer's audit writer (None: each authorizer instance starts its own).
    pub audit: Option<AuditLog>,
}

pub struct Root;

impl Root {
    async fn spawn_child(child: Child, me: &ActorCell, a: &RootArgs) -> Result<(), ActorProcessingErr> {
        match child {
            Child::Resolver => {
                let (r, _) = Actor::spawn_linked(None, Resolver, a.store.clone(), me.clone()).await?;
                a.slots.resolver.fill(r);
            }
            Child::Authorizer => {
                let args = AuthorizerArgs {
                    store: a.store.clone(),
                    audit: a.audit.clone(),
                    audit_queue: a.deps.roles.metrics.audit_queue.clone(),
                };
                let (r, _) = Actor::spawn_linked(None, Authorizer, args, me.clone()).await?;
                a.slots.authorizer.fill(r);
            }
            Child::Router => {
                let args = RouterArgs { nats: a.nats.clone(), store: a.store.clone() };
                let (r, _) = Actor::spawn_linked(None, Router, args, me.clone()).await?;
                a.slots.router.fill(r);
            }
            Child::Gateway => {
                let args = GatewayArgs { deps: a.deps.clone(), listener: a.listener.try_clone()?, tls: a.tls.clone() };
                let (r, _) = Actor::spawn_linked(None, Gateway, args, me.clone()).await?;
                a.slots.gateway.fill(r);
            }
        }
        Ok(())
    }

    fn which(cell: &ActorCell, s: &Slots) -> Option<Child> {
        if s.resolver.holds(cell) {
            Some(Child::Resolver)
        } else if s.authorizer.holds(cell) {
            Some(Child::Authorizer)
        } else if s.router.holds(cell) {
            Some(Child::Router)
        } else if s.gateway.holds(cell) {
            Some(Child::Gateway)
        } else {
            None
        }
    }
}

impl Actor for Root {
    type Msg = ();
    type State = RootArgs;
    type Arguments = RootArgs;

    async fn pre_start(&self, me: ActorRef<()>, args: RootArgs) -> Result<RootArgs, ActorProcessingErr> {
        for child in CHILDREN {
            Self::spawn_child(child, &me.get_cell(), &args).await?;
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
        let Some(child) = Self::which(&cell, &state.slots) else { return Ok(()) };
        let n = state.restarts.fetch_add(1, Ordering::Relaxed) + 1;
        error!(actor = ?child, reason = %why, restarts_total = n, "actor stopped; restarting");
        Self::spawn_child(child, &me.get_cell(), state).await
    }
}
