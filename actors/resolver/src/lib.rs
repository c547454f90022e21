//! The resolver: decides the access mode and fills in the target (connection, runner, namespace)
//! on the server.
//!
//! It owns what it resolves with: orgs, environments, connections, defaults, the catalog and
//! runner bindings in a [`Snapshot`] loaded at start and kept fresh by [`Change`]s; each
//! resolution runs in the handler, on memory only ([`resolve`]).

mod resolve;

use std::time::Duration;

use async_trait::async_trait;
use cloudops_bus::{BusError, services::ResolverApi, slot::Slot};
use cloudops_schemas::v1::{self, ErrorCode};
use cloudops_store::{Change, LiveSnapshot, Store};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

pub use resolve::{parse_resource_path, resolve};

pub const ROLE: &str = "resolver";

pub enum ResolverMessage {
    Resolve(Box<v1::ResolveRequest>, RpcReplyPort<v1::ResolveResponse>),
    /// Committed writes to re-read; the reply comes once they are applied.
    Changed(Vec<Change>, RpcReplyPort<()>),
    /// Re-read everything (after a lost bus connection, and periodically).
    Reload(RpcReplyPort<()>),
}

pub struct Resolver;

impl Actor for Resolver {
    type Msg = ResolverMessage;
    type State = LiveSnapshot;
    type Arguments = Store;

    async fn pre_start(&self, _me: ActorRef<Self::Msg>, store: Store) -> Result<Self::State, ActorProcessingErr> {
        Ok(LiveSnapshot::load(store).await?)
    }

    async fn handle(
        &self,
        _me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        s: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ResolverMessage::Resolve(req, reply) => {
                let result = match s.ready().await {
                    Err(why) => v1::resolve_response::Result::Error(v1::Error::new(
                        ErrorCode::Unavailable,
                        format!("resolver state unavailable: {why}"),
                    )),
                    Ok(tables) => match resolve(tables, *req) {
                        Ok(t) => v1::resolve_response::Result::Target(t),
                        Err(e) => v1::resolve_response::Result::Error(e),
                    },
                };
                let _ = reply.send(v1::ResolveResponse { result: Some(result) });
            }
            ResolverMessage::Changed(changes, reply) => {
                s.apply(&changes).await;
                let _ = reply.send(());
            }
            ResolverMessage::Reload(reply) => {
                s.reload().await;
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

/// The typed handle of one resolver instance.
#[derive(Clone)]
pub struct ResolverHandle {
    pub slot: Slot<ResolverMessage>,
    pub timeout: Duration,
}

impl ResolverHandle {
    pub fn new(slot: Slot<ResolverMessage>) -> Self {
        Self { slot, timeout: Duration::from_secs(10) }
    }

    /// Applies committed writes to this instance; returns once they are.
    pub async fn changed(&self, changes: Vec<Change>) -> Result<(), BusError> {
        ractor::call_t!(self.slot.get()?, ResolverMessage::Changed, self.ms(), changes).map_err(unavailable)
    }

    pub async fn reload(&self) -> Result<(), BusError> {
        ractor::call_t!(self.slot.get()?, ResolverMessage::Reload, self.ms()).map_err(unavailable)
    }

    fn ms(&self) -> u64 {
        self.timeout.as_millis() as u64
    }
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::ActorUnavailable(format!("{ROLE}: {e}"))
}

#[async_trait]
impl ResolverApi for ResolverHandle {
    async fn resolve(&self, req: v1::ResolveRequest) -> Result<v1::ResolveResponse, BusError> {
        ractor::call_t!(self.slot.get()?, ResolverMessage::Resolve, self.ms(), Box::new(req)).map_err(unavailable)
    }
}
