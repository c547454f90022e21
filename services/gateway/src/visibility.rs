//! What a caller may see of an org's tenancy objects: exactly what one of their grants covers,
//! the way `kubectl get` shows what RBAC allows and nothing else. A principal without any grant
//! (a runner's service account, say) sees nothing. Every listing is one read decision, audited.

use std::collections::HashSet;

use cloudops_schemas::v1;
use cloudops_store::{cloud_resource, connection};

use crate::{ApiError, Deps, routes::Authenticated};

#[derive(Default)]
pub struct Visibility {
    /// A grant on the org (or a platform operator): everything.
    all: bool,
    envs: HashSet<String>,
    connections: HashSet<String>,
    resources: HashSet<String>,
    /// Envs and connections that a visible catalog entry lives in / points at.
    resource_envs: HashSet<String>,
    resource_connections: HashSet<String>,
}

impl Visibility {
    pub async fn of(deps: &Deps, who: &Authenticated, org_id: &str) -> Result<Self, ApiError> {
        let mut v = Self { all: who.principal.platform_operator, ..Default::default() };
        for g in deps.store.grants_of(&who.principal.id).await? {
            match g.scope_kind.as_str() {
                "org" if g.scope_id == org_id => v.all = true,
                "env" => {
                    v.envs.insert(g.scope_id);
                }
                "connection" => {
                    v.connections.insert(g.scope_id);
                }
                "resource" => {
                    if let Some(r) = deps.store.resource_by_id(&g.scope_id).await? {
                        v.resource_envs.insert(r.env_id.clone());
                        v.resource_connections.insert(r.connection_id.clone());
                    }
                    v.resources.insert(g.scope_id);
                }
                _ => {}
            }
        }
        Ok(v)
    }

    pub fn everything(&self) -> bool {
        self.all
    }

    pub fn env(&self, env_id: &str) -> bool {
        self.all || self.envs.contains(env_id) || self.resource_envs.contains(env_id)
    }

    pub fn resource(&self, r: &cloud_resource::Model) -> bool {
        self.all || self.envs.contains(&r.env_id) || self.resources.contains(&r.id)
    }

    /// `defaulting_envs`: the envs whose default this connection is (their grants cover it).
    pub fn connection(&self, c: &connection::Model, defaulting_envs: &[String]) -> bool {
        self.all
            || self.connections.contains(&c.id)
            || self.resource_connections.contains(&c.id)
            || defaulting_envs.iter().any(|e| self.envs.contains(e))
    }

    /// The envs whose grants count for `c`, looked up only when they can matter.
    pub async fn connection_in_store(&self, deps: &Deps, c: &connection::Model) -> Result<bool, ApiError> {
        if self.all || self.connections.contains(&c.id) || self.resource_connections.contains(&c.id) {
            return Ok(true);
        }
        if self.envs.is_empty() {
            return Ok(false);
        }
        Ok(self.connection(c, &deps.store.envs_defaulting_to(&c.id).await?))
    }
}

/// Audits one listing or read of tenancy objects (`reason` says what was visible). No record,
/// no answer: the caller gets an error instead of the listing.
pub async fn audit_read(
    deps: &Deps,
    who: &Authenticated,
    org_id: &str,
    op_name: &str,
    reason: String,
) -> Result<(), ApiError> {
    audit(deps, who, org_id, op_name, "allowed", reason).await
}

/// Audits a refusal (`reason` says why); the caller's error waits for the record.
pub async fn audit_denied(
    deps: &Deps,
    who: &Authenticated,
    org_id: &str,
    op_name: &str,
    reason: String,
) -> Result<(), ApiError> {
    audit(deps, who, org_id, op_name, "denied", reason).await
}

async fn audit(
    deps: &Deps,
    who: &Authenticated,
    org_id: &str,
    op_name: &str,
    decision: &str,
    reason: String,
) -> Result<(), ApiError> {
    let req = v1::RecordAuditRequest {
        caller: Some(who.caller()),
        mode: v1::AccessMode::AdminMode as i32,
        // The authorizer names the org (`org/NAME`) in the record.
        target: String::new(),
        op_name: op_name.into(),
        decision: decision.into(),
        reason,
        org_id: org_id.into(),
    };
    deps.roles.authorizer.record_audit(req).await.map_err(|e| {
        tracing::warn!(error = %e, op = op_name, "audit of a read not written; answer withheld");
        ApiError::unavailable(format!("audit log unavailable: {e}"))
    })
}

/// One connection read: allowed when a grant covers it; a hidden one looks missing.
pub async fn authorize_connection_read(
    deps: &Deps,
    who: &Authenticated,
    org_id: &str,
    c: &connection::Model,
    op_name: &str,
) -> Result<(), ApiError> {
    let v = Visibility::of(deps, who, org_id).await?;
    if v.connection_in_store(deps, c).await? {
        audit_read(deps, who, org_id, op_name, format!("connection/{}", c.name)).await
    } else {
        let reason = format!("{} has no access to connection/{}", who.principal.name, c.name);
        audit(deps, who, org_id, op_name, "denied", reason).await?;
        Err(ApiError::new(v1::ErrorCode::NotFound, format!("connection {:?} not found", c.name)))
    }
}
