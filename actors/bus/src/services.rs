//! Typed clients for the control-plane roles. Each trait is served by a local actor handle
//! (in the actor's crate) or by NATS request/reply ([`NatsResolver`] etc.), and either side
//! can be put on NATS in a queue group with `serve_*`, so every role scales out by replicas.

use std::{sync::Arc, time::Duration};

use async_nats::Client;
use async_trait::async_trait;
use cloudops_schemas::v1;
use tokio::task::JoinHandle;

use crate::{BusError, rpc, subjects};

#[async_trait]
pub trait ResolverApi: Send + Sync + 'static {
    async fn resolve(&self, req: v1::ResolveRequest) -> Result<v1::ResolveResponse, BusError>;
}

/// The audit record of a decision: committed, or on its way to the database.
pub enum AuditReceipt {
    Committed(i64),
    Pending(tokio::sync::oneshot::Receiver<Result<i64, String>>),
}

impl AuditReceipt {
    /// The record's id once it is durable, or why it is not.
    pub async fn committed(self) -> Result<i64, String> {
        match self {
            Self::Committed(id) => Ok(id),
            Self::Pending(rx) => rx.await.unwrap_or_else(|_| Err("audit writer stopped".into())),
        }
    }
}

#[async_trait]
pub trait AuthorizerApi: Send + Sync + 'static {
    /// Who holds the key with this hash (the raw key stays in the gateway).
    async fn authenticate(&self, req: v1::AuthenticateRequest) -> Result<v1::AuthenticateResponse, BusError>;
    /// The decision, once its audit record is durable.
    async fn authorize(&self, req: v1::AuthorizeRequest) -> Result<v1::AuthorizeResponse, BusError>;
    /// The decision at once, and the receipt of its audit record: the caller releases nothing
    /// (no result, no side effect) before the receipt says the record is durable. Its
    /// `audit_id` is 0 until then.
    async fn authorize_deferred(
        &self,
        req: v1::AuthorizeRequest,
    ) -> Result<(v1::AuthorizeResponse, AuditReceipt), BusError> {
        let d = self.authorize(req).await?;
        let id = d.audit_id;
        Ok((d, AuditReceipt::Committed(id)))
    }
    async fn record_outcome(&self, req: v1::RecordOutcomeRequest) -> Result<(), BusError>;
    async fn record_audit(&self, req: v1::RecordAuditRequest) -> Result<(), BusError>;
}

#[async_trait]
pub trait RouterApi: Send + Sync + 'static {
    async fn route(&self, req: v1::RouteRequest) -> Result<v1::RouteResponse, BusError>;
}

/// A role reached over NATS.
#[derive(Clone)]
pub struct Remote {
    nc: Client,
    timeout: Duration,
}

impl Remote {
    pub fn new(nc: Client, timeout: Duration) -> Self {
        Self { nc, timeout }
    }
}

#[async_trait]
impl ResolverApi for Remote {
    async fn resolve(&self, req: v1::ResolveRequest) -> Result<v1::ResolveResponse, BusError> {
        rpc::request(&self.nc, subjects::RESOLVER_RESOLVE, &req, self.timeout).await
    }
}

#[async_trait]
impl AuthorizerApi for Remote {
    async fn authenticate(&self, req: v1::AuthenticateRequest) -> Result<v1::AuthenticateResponse, BusError> {
        let r: v1::AuthenticateResponse =
            rpc::request(&self.nc, subjects::AUTHORIZER_AUTHENTICATE, &req, self.timeout).await?;
        if r.error.is_empty() { Ok(r) } else { Err(BusError::ActorUnavailable(r.error)) }
    }
    async fn authorize(&self, req: v1::AuthorizeRequest) -> Result<v1::AuthorizeResponse, BusError> {
        rpc::request(&self.nc, subjects::AUTHORIZER_AUTHORIZE, &req, self.timeout).await
    }
    async fn record_outcome(&self, req: v1::RecordOutcomeRequest) -> Result<(), BusError> {
        acked(rpc::request(&self.nc, subjects::AUTHORIZER_RECORD_OUTCOME, &req, self.timeout).await?)
    }
    async fn record_audit(&self, req: v1::RecordAuditRequest) -> Result<(), BusError> {
        acked(rpc::request(&self.nc, subjects::AUTHORIZER_RECORD_AUDIT, &req, self.timeout).await?)
    }
}

/// An `Ack` that carries an error is a failure (an audit record not written is not a success).
fn acked(a: v1::Ack) -> Result<(), BusError> {
    if a.error.is_empty() { Ok(()) } else { Err(BusError::ActorUnavailable(a.error)) }
}

#[async_trait]
impl RouterApi for Remote {
    async fn route(&self, req: v1::RouteRequest) -> Result<v1::RouteResponse, BusError> {
        // The route deadline is the runner's; give the router's own reply a little more.
        let t = Duration::from_millis(req.timeout_ms as u64) + self.timeout;
        rpc::request(&self.nc, subjects::ROUTER_ROUTE, &req, t).await
    }
}

pub async fn serve_resolver(nc: Client, api: Arc<dyn ResolverApi>) -> Result<JoinHandle<()>, BusError> {
    rpc::serve(nc, subjects::RESOLVER_RESOLVE, subjects::QUEUE_RESOLVER, move |req| {
        let api = api.clone();
        async move { api.resolve(req).await }
    })
    .await
}

pub async fn serve_authorizer(nc: Client, api: Arc<dyn AuthorizerApi>) -> Result<Vec<JoinHandle<()>>, BusError> {
    let a = api.clone();
    let authenticate =
        rpc::serve(nc.clone(), subjects::AUTHORIZER_AUTHENTICATE, subjects::QUEUE_AUTHORIZER, move |req| {
            let api = a.clone();
            async move { api.authenticate(req).await }
        })
        .await?;
    let a = api.clone();
    let authorize = rpc::serve(nc.clone(), subjects::AUTHORIZER_AUTHORIZE, subjects::QUEUE_AUTHORIZER, move |req| {
        let api = a.clone();
        async move { api.authorize(req).await }
    })
    .await?;
    let a = api.clone();
    let outcome = rpc::serve(nc.clone(), subjects::AUTHORIZER_RECORD_OUTCOME, subjects::QUEUE_AUTHORIZER, move |req| {
        let api = a.clone();
        async move { api.record_outcome(req).await.map(|()| v1::Ack::default()) }
    })
    .await?;
    let audit = rpc::serve(nc, subjects::AUTHORIZER_RECORD_AUDIT, subjects::QUEUE_AUTHORIZER, move |req| {
        let api = api.clone();
        async move { api.record_audit(req).await.map(|()| v1::Ack::default()) }
    })
    .await?;
    Ok(vec![authenticate, authorize, outcome, audit])
}

pub async fn serve_router(nc: Client, api: Arc<dyn RouterApi>) -> Result<JoinHandle<()>, BusError> {
    rpc::serve(nc, subjects::ROUTER_ROUTE, subjects::QUEUE_ROUTER, move |req| {
        let api = api.clone();
        async move { api.route(req).await }
    })
    .await
}
