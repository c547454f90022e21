//! The resolver: decides the access mode and fills in the target (connection, runner, namespace)
//! on the server. Nothing the caller says about connection or namespace is trusted in developer
//! mode.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use cloudops_bus::{BusError, services::ResolverApi};
use cloudops_schemas::v1::{self, ErrorCode};
use cloudops_store::{Store, StoreError};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};

pub const NAME: &str = "resolver";

pub enum ResolverMessage {
    Resolve(v1::ResolveRequest, RpcReplyPort<v1::ResolveResponse>),
}

pub struct Resolver;

impl Actor for Resolver {
    type Msg = ResolverMessage;
    type State = Arc<Store>;
    type Arguments = Store;

    async fn pre_start(&self, _me: ActorRef<Self::Msg>, store: Store) -> Result<Self::State, ActorProcessingErr> {
        Ok(Arc::new(store))
    }

    async fn handle(
        &self,
        _me: ActorRef<Self::Msg>,
        msg: Self::Msg,
        store: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ResolverMessage::Resolve(req, reply) => {
                let store = store.clone();
                // Each resolution runs on its own task: the actor never waits on the database.
                tokio::spawn(async move {
                    let result = match resolve(&store, req).await {
                        Ok(t) => v1::resolve_response::Result::Target(t),
                        Err(e) => v1::resolve_response::Result::Error(e),
                    };
                    let _ = reply.send(v1::ResolveResponse { result: Some(result) });
                });
            }
        }
        Ok(())
    }
}

fn err(code: ErrorCode, msg: impl Into<String>) -> v1::Error {
    v1::Error::new(code, msg)
}

fn store_err(e: StoreError) -> v1::Error {
    match e {
        StoreError::NotFound { .. } => err(ErrorCode::NotFound, e.to_string()),
        StoreError::Invalid(_) => err(ErrorCode::InvalidArgument, e.to_string()),
        StoreError::Conflict(_) => err(ErrorCode::Conflict, e.to_string()),
        StoreError::Db(_) => err(ErrorCode::Unavailable, e.to_string()),
    }
}

fn provider_name(p: v1::Provider) -> &'static str {
    match p {
        v1::Provider::Kubernetes => "kubernetes",
        v1::Provider::Aws => "aws",
        v1::Provider::Gcp => "gcp",
        v1::Provider::Azure => "azure",
        v1::Provider::Unspecified => "unspecified",
    }
}

pub async fn resolve(store: &Store, req: v1::ResolveRequest) -> Result<v1::ResolvedTarget, v1::Error> {
    let caller = req.caller.unwrap_or_default();
    let target = req.target.unwrap_or_default();
    let op = req.op.unwrap_or_default();
    let org = if target.org.is_empty() {
        store.org_by_id(&caller.org_id).await.map_err(store_err)?
    } else {
        store.org_by_name(&target.org).await.map_err(store_err)?
    };
    if !target.resource.is_empty() {
        if !target.connection.is_empty() || !target.namespace.is_empty() {
            return Err(err(
                ErrorCode::InvalidArgument,
                "developer mode (--resource) derives the connection and namespace on the server: do not pass --connection or --namespace with it",
            ));
        }
        return Err(err(
            ErrorCode::InvalidArgument,
            format!("cloud resource {:?} not found: the cloud-resource catalog has no entries yet", target.resource),
        ));
    }
    let provider = op.provider();
    if target.connection.is_empty() {
        return Err(err(
            ErrorCode::NotFound,
            format!(
                "no {} connection: none given with --connection, and org {:?} has no default {} connection",
                provider_name(provider),
                org.name,
                provider_name(provider)
            ),
        ));
    }
    let conn = store.find_connection(&org.id, &target.connection).await.map_err(store_err)?.ok_or_else(|| {
        err(ErrorCode::NotFound, format!("connection {:?} not found in org {:?}", target.connection, org.name))
    })?;
    if conn.provider != provider_name(provider) {
        return Err(err(
            ErrorCode::InvalidArgument,
            format!("connection {:?} is a {} connection, not {}", conn.name, conn.provider, provider_name(provider)),
        ));
    }
    let runner = match &conn.runner_id {
        Some(id) => store.runner_by_id(id).await.map_err(store_err)?,
        None => None,
    };
    let Some(runner) = runner else {
        return Err(err(
            ErrorCode::NoRunner,
            format!(
                "no runner is available for connection {:?}: connection has none, org {:?} has no default, no platform default",
                conn.name, org.name
            ),
        ));
    };
    if runner.revoked {
        return Err(err(ErrorCode::RunnerNotConnected, format!("runner {:?} is revoked", runner.name)));
    }
    Ok(v1::ResolvedTarget {
        mode: v1::AccessMode::AdminMode as i32,
        org_id: org.id,
        connection_id: conn.id,
        connection_name: conn.name,
        provider: provider as i32,
        runner_id: runner.id,
        runner_name: runner.name,
        namespace: if target.namespace.is_empty() { "default".into() } else { target.namespace },
        namespace_locked: false,
        settings: Some(v1::ConnectionSettings { kube_context: conn.kube_context.unwrap_or_default() }),
        resource: String::new(),
    })
}

/// A stable handle to the resolver actor: looked up by name on each call, so it survives a
/// supervisor restart.
#[derive(Clone)]
pub struct ResolverHandle {
    pub timeout: Duration,
}

impl Default for ResolverHandle {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(10) }
    }
}

#[async_trait]
impl ResolverApi for ResolverHandle {
    async fn resolve(&self, req: v1::ResolveRequest) -> Result<v1::ResolveResponse, BusError> {
        let actor: ActorRef<ResolverMessage> =
            ractor::registry::where_is(NAME).ok_or_else(|| BusError::ActorUnavailable(NAME.into()))?.into();
        ractor::call_t!(actor, ResolverMessage::Resolve, self.timeout.as_millis() as u64, req)
            .map_err(|e| BusError::ActorUnavailable(format!("{NAME}: {e}")))
    }
}
