//! The authorizer: who holds an API key, whether a caller may do an op on a resolved target,
//! and the audit record of every decision (denials included), completed later with the outcome.
//!
//! It owns what it decides with: principals, key hashes and grants in a [`Snapshot`] loaded at
//! start and kept fresh by [`Change`]s, so no request reads the database. Its audit records go
//! through a group-commit writer ([`audit_log`]).

pub mod audit_log;
mod decide;
pub mod impersonation;

use std::time::Duration;

use async_trait::async_trait;
use cloudops_bus::{
    BusError,
    services::{AuditReceipt, AuthorizerApi},
    slot::Slot,
};
use cloudops_schemas::v1;
use cloudops_store::{Change, LiveSnapshot, SetValue, Snapshot, Store};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tracing::warn;

pub use audit_log::AuditLog;
pub use decide::{Denial, Held, covering_scopes, decide, describe, evaluate, required_role};

pub const ROLE: &str = "authorizer";

/// Why the authorizer cannot answer: its state could not be brought up to date, so it refuses
/// rather than decide on stale grants.
#[derive(Debug, Clone, thiserror::Error)]
#[error("authorizer state unavailable: {0}")]
pub struct Degraded(pub String);

pub enum AuthorizerMessage {
    Authenticate(String, RpcReplyPort<Result<Option<v1::Principal>, Degraded>>),
    Authorize(Box<v1::AuthorizeRequest>, RpcReplyPort<Result<(v1::AuthorizeResponse, AuditReceipt), Degraded>>),
    RecordOutcome(v1::RecordOutcomeRequest),
    RecordAudit(Box<v1::RecordAuditRequest>, RpcReplyPort<AuditReceipt>),
    /// Committed writes to re-read; the reply comes once they are applied.
    Changed(Vec<Change>, RpcReplyPort<()>),
    /// Re-read everything (after a lost bus connection, and periodically).
    Reload(RpcReplyPort<()>),
}

pub struct AuthorizerArgs {
    pub store: Store,
    /// None: a writer of its own on `store`.
    pub audit: Option<AuditLog>,
    /// What waits for that writer's next batch.
    pub audit_queue: prometheus_client::metrics::gauge::Gauge,
}

pub struct AuthorizerState {
    tables: LiveSnapshot,
    audit: AuditLog,
}

pub struct Authorizer;

impl Actor for Authorizer {
    type Msg = AuthorizerMessage;
    type State = AuthorizerState;
    type Arguments = AuthorizerArgs;

    async fn pre_start(
        &self,
        _me: ActorRef<Self::Msg>,
        args: AuthorizerArgs,
    ) -> Result<Self::State, ActorProcessingErr> {
        let audit = match args.audit {
            Some(a) => a,
            None => AuditLog::start(args.store.clone(), args.audit_queue).0,
        };
        Ok(AuthorizerState { tables: LiveSnapshot::load(args.store).await?, audit })
    }

    async fn handle(
        &self,
        _me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        s: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if !s.audit.is_alive() {
            // The supervisor restarts us with a new writer.
            return Err("audit writer stopped".into());
        }
        match msg {
            AuthorizerMessage::Authenticate(hash, reply) => {
                let answer = s.tables.ready().await.map(|t| principal_of(t, &hash)).map_err(Degraded);
                let _ = reply.send(answer);
            }
            AuthorizerMessage::Authorize(req, reply) => {
                let answer = s.tables.ready().await.map(|t| evaluate(t, &req)).map_err(Degraded);
                // A recheck of an op under way is recorded only when it ends the op.
                let answer = answer.map(|e| match req.recheck && e.response.allowed {
                    true => (e.response, AuditReceipt::Committed(0)),
                    false => (e.response, s.audit.record(e.record)),
                });
                let _ = reply.send(answer);
            }
            AuthorizerMessage::RecordOutcome(req) => {
                s.audit.outcome(req.audit_id, req.result, req.latency_us as i64);
            }
            AuthorizerMessage::RecordAudit(req, reply) => {
                let req = *req;
                let caller = req.caller.unwrap_or_default();
                // No target: the request acted on its org as a whole, named as people know it.
                let target = match req.target.is_empty() {
                    true => match s.tables.ready().await {
                        Ok(t) => decide::describe(
                            t,
                            &v1::ResolvedTarget { org_id: req.org_id.clone(), ..Default::default() },
                        ),
                        Err(_) => format!("org/{}", req.org_id),
                    },
                    false => req.target.clone(),
                };
                let mut row = decide::audit_row(
                    &caller,
                    decide::mode_name(req.mode),
                    &target,
                    &req.op_name,
                    "",
                    &req.decision,
                    &req.reason,
                );
                if !req.org_id.is_empty() {
                    row.org_id = SetValue(decide::clean(&req.org_id));
                }
                let _ = reply.send(s.audit.record(row));
            }
            AuthorizerMessage::Changed(changes, reply) => {
                s.tables.apply(&changes).await;
                let _ = reply.send(());
            }
            AuthorizerMessage::Reload(reply) => {
                s.tables.reload().await;
                let _ = reply.send(());
            }
        }
        Ok(())
    }
}

fn principal_of(state: &Snapshot, key_hash: &str) -> Option<v1::Principal> {
    let p = state.principal_by_key_hash(key_hash)?;
    Some(v1::Principal {
        id: p.id.clone(),
        org_id: p.org_id.clone(),
        kind: p.kind.clone(),
        name: p.name.clone(),
        platform_operator: p.platform_operator,
        runner_id: p.runner_id.clone().unwrap_or_default(),
        org_name: state.org(&p.org_id).map(|o| o.name.clone()).unwrap_or_default(),
    })
}

/// One decision straight on the database, with its record written: for tests and tools that
/// have a store and no actors.
pub async fn authorize(store: &Store, req: v1::AuthorizeRequest) -> v1::AuthorizeResponse {
    let state = match Snapshot::load(store).await {
        Ok(s) => s,
        Err(e) => {
            return v1::AuthorizeResponse {
                allowed: false,
                reason: format!("state unavailable: {e}"),
                ..Default::default()
            };
        }
    };
    let e = evaluate(&state, &req);
    match store.audit_insert(e.record).await {
        Ok(id) => v1::AuthorizeResponse { audit_id: id, ..e.response },
        Err(_) => {
            v1::AuthorizeResponse { allowed: false, reason: "audit log unavailable".into(), ..Default::default() }
        }
    }
}

/// The typed handle of one authorizer instance.
#[derive(Clone)]
pub struct AuthorizerHandle {
    pub slot: Slot<AuthorizerMessage>,
    pub timeout: Duration,
}

impl AuthorizerHandle {
    pub fn new(slot: Slot<AuthorizerMessage>) -> Self {
        Self { slot, timeout: Duration::from_secs(10) }
    }

    /// Applies committed writes to this instance; returns once they are.
    pub async fn changed(&self, changes: Vec<Change>) -> Result<(), BusError> {
        ractor::call_t!(self.slot.get()?, AuthorizerMessage::Changed, self.ms(), changes).map_err(unavailable)
    }

    pub async fn reload(&self) -> Result<(), BusError> {
        ractor::call_t!(self.slot.get()?, AuthorizerMessage::Reload, self.ms()).map_err(unavailable)
    }

    fn ms(&self) -> u64 {
        self.timeout.as_millis() as u64
    }
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::ActorUnavailable(format!("{ROLE}: {e}"))
}

#[async_trait]
impl AuthorizerApi for AuthorizerHandle {
    async fn authenticate(&self, req: v1::AuthenticateRequest) -> Result<v1::AuthenticateResponse, BusError> {
        let principal = ractor::call_t!(self.slot.get()?, AuthorizerMessage::Authenticate, self.ms(), req.key_hash)
            .map_err(unavailable)?
            .map_err(unavailable)?;
        Ok(v1::AuthenticateResponse { principal, error: String::new() })
    }

    async fn authorize(&self, req: v1::AuthorizeRequest) -> Result<v1::AuthorizeResponse, BusError> {
        let (mut d, receipt) = self.authorize_deferred(req).await?;
        match receipt.committed().await {
            Ok(id) => d.audit_id = id,
            Err(e) => {
                // No audit, no access.
                warn!(error = %e, "audit record not written; denying");
                d = v1::AuthorizeResponse {
                    allowed: false,
                    reason: "audit log unavailable".into(),
                    ..Default::default()
                };
            }
        }
        Ok(d)
    }

    async fn authorize_deferred(
        &self,
        req: v1::AuthorizeRequest,
    ) -> Result<(v1::AuthorizeResponse, AuditReceipt), BusError> {
        ractor::call_t!(self.slot.get()?, AuthorizerMessage::Authorize, self.ms(), Box::new(req))
            .map_err(unavailable)?
            .map_err(unavailable)
    }

    async fn record_outcome(&self, req: v1::RecordOutcomeRequest) -> Result<(), BusError> {
        self.slot.get()?.cast(AuthorizerMessage::RecordOutcome(req)).map_err(unavailable)
    }

    async fn record_audit(&self, req: v1::RecordAuditRequest) -> Result<(), BusError> {
        let receipt = ractor::call_t!(self.slot.get()?, AuthorizerMessage::RecordAudit, self.ms(), Box::new(req))
            .map_err(unavailable)?;
        receipt.committed().await.map(|_| ()).map_err(unavailable)
    }
}
