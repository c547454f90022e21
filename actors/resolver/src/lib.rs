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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_paths() {
        assert_eq!(
            parse_resource_path("a/prod/KubernetesDeployment/api").unwrap(),
            ("a", "prod", "KubernetesDeployment", "api")
        );
        for bad in ["a/prod/Kind", "a/prod/Kind/n/x", "a//K/n", "a/p/K/n\n", "a/p/K/../x", "a/p/K/n x", ""] {
            assert!(parse_resource_path(bad).is_err(), "{bad:?}");
        }
    }
}

/// `org/env/Kind/name`, each part checked.
pub fn parse_resource_path(path: &str) -> Result<(&str, &str, &str, &str), v1::Error> {
    let parts: Vec<&str> = path.split('/').collect();
    let bad = || {
        err(
            ErrorCode::InvalidArgument,
            format!(
                "invalid cloud resource {path:?}: expected org/env/Kind/name, e.g. my-org/prod/KubernetesDeployment/payments-api"
            ),
        )
    };
    let [org, env, kind, name] = parts.as_slice() else { return Err(bad()) };
    let ok = |s: &str| !s.is_empty() && s.len() <= 63 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ![org, env, kind, name].iter().all(|p| ok(p)) {
        return Err(bad());
    }
    Ok((org, env, kind, name))
}

/// The connection's runner → the org's default → the platform default.
async fn resolve_runner(
    store: &Store,
    conn: &cloudops_store::connection::Model,
    org: &cloudops_store::org::Model,
) -> Result<cloudops_store::runner::Model, v1::Error> {
    let runner = match &conn.runner_id {
        Some(id) => store.runner_by_id(id).await.map_err(store_err)?,
        None => None,
    };
    let mut via_platform_default = false;
    let runner = match runner {
        Some(r) => Some(r),
        None => match store.default_runner(Some(&org.id)).await.map_err(store_err)? {
            Some(r) => Some(r),
            None => {
                via_platform_default = true;
                store.default_runner(None).await.map_err(store_err)?
            }
        },
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
    // The platform default serves tenants as the platform operator configured it: a tenant's
    // connection cannot pick another kubeconfig context or cloud profile on it (those reach
    // whatever else that runner can). Naming a platform runner, or making one an org's default,
    // is a platform operator's act, and so is what it then serves.
    if via_platform_default {
        let profile = serde_json::from_str::<serde_json::Value>(&conn.settings)
            .ok()
            .and_then(|v| v.get("profile").and_then(|p| p.as_str()).map(String::from));
        if let Some(chosen) =
            conn.kube_context.clone().map(|c| format!("context {c:?}")).or(profile.map(|p| format!("profile {p:?}")))
        {
            return Err(err(
                ErrorCode::PermissionDenied,
                format!(
                    "connection {:?} selects {chosen} on the platform default runner {:?}: only a platform operator can bind a platform runner to a context or profile, by naming it on the connection (or use a runner of org {:?})",
                    conn.name, runner.name, org.name
                ),
            ));
        }
    }
    Ok(runner)
}

fn target_for(
    mode: v1::AccessMode,
    org: &cloudops_store::org::Model,
    conn: cloudops_store::connection::Model,
    runner: cloudops_store::runner::Model,
    provider: v1::Provider,
    namespace: String,
) -> v1::ResolvedTarget {
    v1::ResolvedTarget {
        mode: mode as i32,
        org_id: org.id.clone(),
        connection_id: conn.id,
        connection_name: conn.name,
        provider: provider as i32,
        runner_id: runner.id,
        runner_name: runner.name,
        namespace,
        namespace_locked: mode == v1::AccessMode::DeveloperMode,
        settings: Some(v1::ConnectionSettings {
            values: serde_json::from_str(&conn.settings).unwrap_or_default(),
            kube_context: conn.kube_context.unwrap_or_default(),
        }),
        ..Default::default()
    }
}

pub async fn resolve(store: &Store, req: v1::ResolveRequest) -> Result<v1::ResolvedTarget, v1::Error> {
    let caller = req.caller.unwrap_or_default();
    let target = req.target.unwrap_or_default();
    let op = req.op.unwrap_or_default();
    let provider = op.provider();
    let pname = provider_name(provider);

    if !target.resource.is_empty() {
        // Developer mode: everything comes from the catalog, nothing from the caller.
        if !target.connection.is_empty() || !target.namespace.is_empty() {
            return Err(err(
                ErrorCode::InvalidArgument,
                "developer mode (-r/--resource) derives the connection and namespace on the server: do not pass --connection or --namespace with it",
            ));
        }
        let (org_name, env_name, kind, name) = parse_resource_path(&target.resource)?;
        if !target.org.is_empty() && target.org != org_name {
            return Err(err(
                ErrorCode::InvalidArgument,
                format!("--org {:?} does not match the resource's org {org_name:?}", target.org),
            ));
        }
        if provider != v1::Provider::Kubernetes {
            return Err(err(
                ErrorCode::InvalidArgument,
                format!("developer mode is not supported yet for {pname}: use --connection"),
            ));
        }
        let missing = || err(ErrorCode::NotFound, format!("cloud resource {:?} not found", target.resource));
        let org = store.org_by_name(org_name).await.map_err(|_| missing())?;
        let env = store.find_env(&org.id, env_name).await.map_err(store_err)?.ok_or_else(missing)?;
        let res = store.find_resource(&org.id, &env.id, kind, name).await.map_err(store_err)?.ok_or_else(missing)?;
        let conn = store.connection_by_id(&res.connection_id).await.map_err(store_err)?.ok_or_else(|| {
            err(ErrorCode::Internal, format!("cloud resource {:?} points at a missing connection", target.resource))
        })?;
        let runner = resolve_runner(store, &conn, &org).await?;
        let mut t = target_for(v1::AccessMode::DeveloperMode, &org, conn, runner, provider, res.namespace.clone());
        t.env_id = env.id;
        t.resource_id = res.id;
        t.resource = target.resource.clone();
        if let Some(k) = res.kind.strip_prefix("Kubernetes").filter(|k| *k != "Namespace") {
            t.owner_kind = k.to_string();
            t.owner_name = res.name.clone();
        }
        return Ok(t);
    }

    // Admin mode: explicit connection → the environment's default → the org's default.
    let org = if target.org.is_empty() {
        store.org_by_id(&caller.org_id).await.map_err(store_err)?
    } else {
        store.org_by_name(&target.org).await.map_err(store_err)?
    };
    let env = if target.env.is_empty() {
        None
    } else {
        Some(store.env_by_name(&org.id, &target.env).await.map_err(store_err)?)
    };
    let conn = if !target.connection.is_empty() {
        store.find_connection(&org.id, &target.connection).await.map_err(store_err)?.ok_or_else(|| {
            err(ErrorCode::NotFound, format!("connection {:?} not found in org {:?}", target.connection, org.name))
        })?
    } else {
        let from_env = match &env {
            Some(e) => store.default_connection(&org.id, &e.id, pname).await.map_err(store_err)?,
            None => None,
        };
        match from_env {
            Some(c) => c,
            None => store.default_connection(&org.id, "", pname).await.map_err(store_err)?.ok_or_else(|| {
                let env_part = match &env {
                    Some(e) => format!(", environment {:?} has no default {pname} connection", e.name),
                    None => String::new(),
                };
                err(
                    ErrorCode::NotFound,
                    format!("no {pname} connection: none given with --connection{env_part}, and org {:?} has no default {pname} connection", org.name),
                )
            })?,
        }
    };
    if conn.provider != pname {
        return Err(err(
            ErrorCode::InvalidArgument,
            format!("connection {:?} is a {} connection, not {pname}", conn.name, conn.provider),
        ));
    }
    let runner = resolve_runner(store, &conn, &org).await?;
    let namespace = if target.namespace.is_empty() { "default".to_string() } else { target.namespace };
    let mut t = target_for(v1::AccessMode::AdminMode, &org, conn, runner, provider, namespace);
    if let Some(e) = env {
        t.env_id = e.id;
    }
    Ok(t)
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
