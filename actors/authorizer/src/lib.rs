//! The authorizer: checks the caller's grants against the verb class of the op, and writes an
//! audit record for every decision (denials included), completed later with the outcome.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use cloudops_bus::{BusError, services::AuthorizerApi};
use cloudops_schemas::v1;
use cloudops_store::{Role, Store, audit};
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tracing::warn;

pub const NAME: &str = "authorizer";

pub enum AuthorizerMessage {
    Authorize(Box<v1::AuthorizeRequest>, RpcReplyPort<v1::AuthorizeResponse>),
    RecordOutcome(v1::RecordOutcomeRequest, RpcReplyPort<()>),
    RecordAudit(v1::RecordAuditRequest, RpcReplyPort<()>),
}

pub struct Authorizer;

impl Actor for Authorizer {
    type Msg = AuthorizerMessage;
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
        let store = store.clone();
        tokio::spawn(async move {
            match msg {
                AuthorizerMessage::Authorize(req, reply) => {
                    let _ = reply.send(authorize(&store, *req).await);
                }
                AuthorizerMessage::RecordOutcome(req, reply) => {
                    if let Err(e) = store.audit_outcome(req.audit_id, &req.result, req.latency_us as i64).await {
                        warn!(error = %e, audit_id = req.audit_id, "audit outcome not recorded");
                    }
                    let _ = reply.send(());
                }
                AuthorizerMessage::RecordAudit(req, reply) => {
                    let caller = req.caller.unwrap_or_default();
                    let mut row =
                        row(&caller, mode_name(req.mode), &req.target, &req.op_name, "", &req.decision, &req.reason);
                    if !req.org_id.is_empty() {
                        row.org_id = sea_orm_set::Set(req.org_id);
                    }
                    if let Err(e) = store.audit_insert(row).await {
                        warn!(error = %e, "audit record not written");
                    }
                    let _ = reply.send(());
                }
            }
        });
        Ok(())
    }
}

pub fn required_role(verb: v1::VerbClass) -> Role {
    match verb {
        v1::VerbClass::Read => Role::Viewer,
        v1::VerbClass::Operate => Role::Operator,
        v1::VerbClass::Admin | v1::VerbClass::Unspecified => Role::Admin,
    }
}

fn mode_name(mode: i32) -> &'static str {
    match v1::AccessMode::try_from(mode) {
        Ok(v1::AccessMode::DeveloperMode) => "developer",
        Ok(v1::AccessMode::AdminMode) => "admin",
        _ => "-",
    }
}

fn verb_name(verb: v1::VerbClass) -> &'static str {
    match verb {
        v1::VerbClass::Read => "read",
        v1::VerbClass::Operate => "operate",
        v1::VerbClass::Admin => "admin",
        v1::VerbClass::Unspecified => "-",
    }
}

fn row(
    caller: &v1::Caller,
    mode: &str,
    target: &str,
    op: &str,
    verb: &str,
    decision: &str,
    reason: &str,
) -> audit::ActiveModel {
    use sea_orm_set::Set;
    audit::ActiveModel {
        id: Default::default(),
        at: Set(chrono_now()),
        principal_id: Set(caller.principal_id.clone()),
        principal_name: Set(caller.principal_name.clone()),
        org_id: Set(caller.org_id.clone()),
        mode: Set(mode.into()),
        target: Set(target.into()),
        op: Set(op.into()),
        verb: Set(verb.into()),
        decision: Set(decision.into()),
        reason: Set(reason.into()),
        result: Set(None),
        latency_us: Set(None),
    }
}

mod sea_orm_set {
    pub use cloudops_store::SetValue as Set;
}

fn chrono_now() -> cloudops_store::DateTimeUtc {
    cloudops_store::now()
}

/// One grant as the decision sees it: (scope kind, scope id, role).
pub type Held<'a> = (&'a str, &'a str, &'a str);

/// Why a request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// No grant covers the target at all.
    NoAccess,
    /// The best covering grant is too weak.
    TooWeak { has: Role, need: Role },
}

impl Denial {
    fn explain(self, op: &str, who: &str, target: &str) -> String {
        match self {
            Denial::NoAccess => format!("{who} has no access to {target}"),
            Denial::TooWeak { has, need } => {
                format!("{op} needs the {} role on {target}; {who} has {}", need.as_str(), has.as_str())
            }
        }
    }
}

/// The decision itself, a pure function: the best role among the grants on any of the scopes
/// that cover the target, against the role the op needs. Unknown roles grant nothing.
pub fn decide(grants: &[Held<'_>], scopes: &[(&str, String)], need: Role) -> Result<Role, Denial> {
    let best = grants
        .iter()
        .filter(|(kind, id, _)| scopes.iter().any(|(k, sid)| kind == k && id == sid))
        .filter_map(|(_, _, role)| Role::parse(role))
        .max();
    match best {
        Some(r) if r >= need => Ok(r),
        Some(has) => Err(Denial::TooWeak { has, need }),
        None => Err(Denial::NoAccess),
    }
}

/// The decision, and its audit record.
pub async fn authorize(store: &Store, req: v1::AuthorizeRequest) -> v1::AuthorizeResponse {
    let caller = req.caller.unwrap_or_default();
    let target = req.target.unwrap_or_default();
    let verb = v1::VerbClass::try_from(req.verb).unwrap_or(v1::VerbClass::Unspecified);
    let need = required_role(verb);
    let decision: Result<Role, String> = async {
        let scopes = covering_scopes(store, &target).await.map_err(|e| e.to_string())?;
        let grants = store.grants_of(&caller.principal_id).await.map_err(|e| e.to_string())?;
        let held: Vec<Held<'_>> =
            grants.iter().map(|g| (g.scope_kind.as_str(), g.scope_id.as_str(), g.role.as_str())).collect();
        decide(&held, &scopes, need)
            .map_err(|denial| denial.explain(&req.op_name, &caller.principal_name, &describe(&target)))
    }
    .await;
    let (allowed, reason, role) = match decision {
        Ok(role) => (true, String::new(), role.as_str().to_string()),
        Err(r) => (false, r, String::new()),
    };
    let mut audit = row(
        &caller,
        mode_name(target.mode),
        &describe(&target),
        &req.op_name,
        verb_name(verb),
        if allowed { "allowed" } else { "denied" },
        &reason,
    );
    // The record belongs to the org acted in, so that its admins see a platform operator's
    // work there, and other orgs' admins do not.
    if !target.org_id.is_empty() {
        audit.org_id = sea_orm_set::Set(target.org_id.clone());
    }
    let audit_id = match store.audit_insert(audit).await {
        Ok(id) => id,
        Err(e) => {
            // No audit, no access.
            warn!(error = %e, "audit record not written; denying");
            return v1::AuthorizeResponse {
                allowed: false,
                reason: "audit log unavailable".into(),
                audit_id: 0,
                role: String::new(),
            };
        }
    };
    v1::AuthorizeResponse { allowed, reason, audit_id, role }
}

/// The scopes whose grants cover `target`. Grants on an org or environment apply to everything
/// below: in developer mode org → env → resource; in admin mode org → connection, plus the
/// environments whose default connection it is; for admin-class requests on an env, org → env.
pub async fn covering_scopes(
    store: &Store,
    t: &v1::ResolvedTarget,
) -> Result<Vec<(&'static str, String)>, cloudops_store::StoreError> {
    let mut scopes = vec![("org", t.org_id.clone())];
    if !t.env_id.is_empty() && (!t.resource_id.is_empty() || t.connection_id.is_empty()) {
        scopes.push(("env", t.env_id.clone()));
    }
    if !t.resource_id.is_empty() {
        scopes.push(("resource", t.resource_id.clone()));
    } else if !t.connection_id.is_empty() {
        scopes.push(("connection", t.connection_id.clone()));
        for env in store.envs_defaulting_to(&t.connection_id).await? {
            scopes.push(("env", env));
        }
    }
    Ok(scopes)
}

fn describe(t: &v1::ResolvedTarget) -> String {
    if !t.resource.is_empty() {
        t.resource.clone()
    } else if !t.connection_name.is_empty() && t.namespace.is_empty() {
        format!("connection/{}", t.connection_name)
    } else if !t.connection_name.is_empty() {
        format!("connection/{} ns/{}", t.connection_name, t.namespace)
    } else {
        format!("org/{}", t.org_id)
    }
}

#[derive(Clone)]
pub struct AuthorizerHandle {
    pub timeout: Duration,
}

impl Default for AuthorizerHandle {
    fn default() -> Self {
        Self { timeout: Duration::from_secs(10) }
    }
}

fn actor() -> Result<ActorRef<AuthorizerMessage>, BusError> {
    Ok(ractor::registry::where_is(NAME).ok_or_else(|| BusError::ActorUnavailable(NAME.into()))?.into())
}

fn unavailable(e: impl std::fmt::Display) -> BusError {
    BusError::ActorUnavailable(format!("{NAME}: {e}"))
}

#[async_trait]
impl AuthorizerApi for AuthorizerHandle {
    async fn authorize(&self, req: v1::AuthorizeRequest) -> Result<v1::AuthorizeResponse, BusError> {
        ractor::call_t!(actor()?, AuthorizerMessage::Authorize, self.timeout.as_millis() as u64, Box::new(req))
            .map_err(unavailable)
    }
    async fn record_outcome(&self, req: v1::RecordOutcomeRequest) -> Result<(), BusError> {
        ractor::call_t!(actor()?, AuthorizerMessage::RecordOutcome, self.timeout.as_millis() as u64, req)
            .map_err(unavailable)
    }
    async fn record_audit(&self, req: v1::RecordAuditRequest) -> Result<(), BusError> {
        ractor::call_t!(actor()?, AuthorizerMessage::RecordAudit, self.timeout.as_millis() as u64, req)
            .map_err(unavailable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scopes(v: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
        v.iter().map(|(k, id)| (*k, id.to_string())).collect()
    }

    #[test]
    fn the_best_covering_grant_decides() {
        let s = scopes(&[("org", "o1"), ("env", "e1"), ("resource", "r1")]);
        let grants = [("env", "e1", "viewer"), ("resource", "r1", "operator"), ("org", "o2", "admin")];
        assert_eq!(decide(&grants, &s, Role::Viewer), Ok(Role::Operator));
        assert_eq!(decide(&grants, &s, Role::Operator), Ok(Role::Operator));
        assert_eq!(decide(&grants, &s, Role::Admin), Err(Denial::TooWeak { has: Role::Operator, need: Role::Admin }));
    }

    #[test]
    fn grants_elsewhere_and_unknown_roles_give_nothing() {
        let s = scopes(&[("org", "o1"), ("connection", "c1")]);
        // Admin of another org, of an env that does not cover this connection, a mistyped role,
        // and a scope kind that only looks alike.
        let grants =
            [("org", "o2", "admin"), ("env", "e9", "admin"), ("connection", "c1", "root"), ("resource", "c1", "admin")];
        assert_eq!(decide(&grants, &s, Role::Viewer), Err(Denial::NoAccess));
        assert_eq!(decide(&[], &s, Role::Viewer), Err(Denial::NoAccess));
    }

    #[test]
    fn denials_say_which_role_is_needed() {
        let d = Denial::TooWeak { has: Role::Viewer, need: Role::Operator };
        assert_eq!(
            d.explain("kubernetes.exec", "alice", "connection/k8s"),
            "kubernetes.exec needs the operator role on connection/k8s; alice has viewer"
        );
        assert_eq!(Denial::NoAccess.explain("x", "bob", "org/o"), "bob has no access to org/o");
    }
}
