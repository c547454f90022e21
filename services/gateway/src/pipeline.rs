//! The path of one op: resolve → authorize → route, with an audit record for every decision.

use std::{sync::Arc, time::Instant};

use cloudops_bus::services::{AuthorizerApi, ResolverApi, RouterApi};
use cloudops_schemas::v1::{self, ErrorCode};
use cloudops_telemetry::metrics::{ControlPlaneMetrics, OpKind, OpLabels, StepLabels};
use tracing::{Instrument, info_span, warn};

/// The roles the gateway talks to: local actor handles in one process, NATS clients otherwise;
/// and what the path counts on the way.
#[derive(Clone)]
pub struct Roles {
    pub resolver: Arc<dyn ResolverApi>,
    pub authorizer: Arc<dyn AuthorizerApi>,
    pub router: Arc<dyn RouterApi>,
    pub metrics: Arc<ControlPlaneMetrics>,
}

impl Roles {
    /// Times one step of an op's path (`cloudops_op_step_seconds`).
    async fn step<T>(&self, step: &'static str, f: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = f.await;
        self.metrics.step_seconds.get_or_create(&StepLabels { step }).observe(started.elapsed().as_secs_f64());
        out
    }
}

fn unavailable(role: &str, e: impl std::fmt::Display) -> v1::Error {
    v1::Error::new(ErrorCode::Unavailable, format!("{role} unavailable: {e}"))
}

/// Roles that read Secrets, as Kubernetes' `edit` and `admin` do (a viewer is `view`).
fn secrets_readable(role: &str) -> bool {
    matches!(role, "operator" | "admin")
}

fn audit_unavailable(e: String) -> v1::Error {
    warn!(error = %e, "audit record not written; result withheld");
    // The cause stays in the log; a database that is down is said, since it is worth a retry.
    let why = if e.contains(cloudops_store::DB_UNAVAILABLE) {
        " (its database cannot be reached or written; try again shortly)"
    } else {
        ""
    };
    v1::Error::new(
        ErrorCode::Unavailable,
        format!("audit log unavailable{why}: the request was not carried out or its result is withheld"),
    )
}

pub async fn run_op(
    roles: &Roles,
    caller: v1::Caller,
    target: v1::Target,
    op: v1::Op,
    timeout_ms: u32,
) -> Result<v1::OpResult, v1::Error> {
    // A request through the Kubernetes API proxy is authorized on what its path touches.
    let kube = op.kube_scope().transpose().map_err(|e| v1::Error::new(ErrorCode::InvalidArgument, e.to_string()))?;
    run_scoped_op(roles, caller, target, op, timeout_ms, kube).await
}

/// [`run_op`] for an op that came through the Kubernetes API proxy as another op kind (exec
/// over WebSocket): `kube` is what its API path touches.
pub async fn run_scoped_op(
    roles: &Roles,
    caller: v1::Caller,
    target: v1::Target,
    op: v1::Op,
    timeout_ms: u32,
    kube: Option<v1::KubeScope>,
) -> Result<v1::OpResult, v1::Error> {
    let started = Instant::now();
    let op_name = op.name();
    let span = info_span!("op", op = op_name, principal = %caller.principal_name);
    async move {
        let verb = op.verb_class();
        let mode = if target.resource.is_empty() { "admin" } else { "developer" };
        let count = |outcome: &'static str| {
            let labels = OpLabels { op: op_name, verb: verb.label(), mode, outcome };
            roles.metrics.ops.get_or_create(&labels).inc();
        };
        let mut resolved = roles
            .step("resolver", resolve(roles, &caller, &target, &op, op_name))
            .await
            .inspect_err(|e| count(e.code().label()))?;
        let (decision, receipt) = roles
            .step(
                "authorizer",
                roles.authorizer.authorize_deferred(v1::AuthorizeRequest {
                    caller: Some(caller),
                    target: Some(resolved.clone()),
                    op_name: op_name.into(),
                    verb: verb as i32,
                    kube,
                    recheck: false,
                }),
            )
            .await
            .map_err(|e| unavailable("authorizer", e))
            .inspect_err(|e| count(e.code().label()))?;
        if !decision.allowed {
            // The denial is answered once it is on record, like everything else.
            if let Err(e) = receipt.committed().await {
                warn!(error = %e, "audit record of a denial not written");
            }
            count(ErrorCode::PermissionDenied.label());
            return Err(v1::Error::new(ErrorCode::PermissionDenied, decision.reason));
        }
        resolved.secrets_readable = secrets_readable(&decision.role);
        resolved.impersonate = decision.impersonate;
        let route = roles
            .step("router", roles.router.route(v1::RouteRequest { target: Some(resolved), op: Some(op), timeout_ms }));
        let audit = roles.step("audit", receipt.committed());
        // No audit record, no access: a read may travel while its record is written, but its
        // result is released only once the record is durable; anything that changes something
        // starts only after.
        let (routed, audit_id) = if verb == v1::VerbClass::Read {
            let (routed, audit) = tokio::join!(route, audit);
            (routed, audit.map_err(audit_unavailable).inspect_err(|e| count(e.code().label()))?)
        } else {
            let audit_id = audit.await.map_err(audit_unavailable).inspect_err(|e| count(e.code().label()))?;
            (route.await, audit_id)
        };
        let result = match routed {
            Ok(v1::RouteResponse { result: Some(v1::route_response::Result::Ok(r)) }) => Ok(r),
            Ok(v1::RouteResponse { result: Some(v1::route_response::Result::Error(e)) }) => Err(e),
            Ok(v1::RouteResponse { result: None }) => Err(unavailable("router", "empty reply")),
            Err(e) => Err(unavailable("router", e)),
        };
        let outcome = v1::RecordOutcomeRequest {
            audit_id,
            result: match &result {
                Ok(v1::OpResult { http: Some(h), .. }) => format!("http {}", h.status),
                Ok(_) => "ok".into(),
                Err(e) => e.code().as_str_name().to_ascii_lowercase(),
            },
            latency_us: started.elapsed().as_micros() as u64,
        };
        count(match &result {
            Ok(r) => r.outcome_label(),
            Err(e) => e.code().label(),
        });
        roles.metrics.op_seconds.get_or_create(&OpKind { op: op_name }).observe(started.elapsed().as_secs_f64());
        // The outcome joins the audit writer's next batch, off the request's path.
        let authorizer = roles.authorizer.clone();
        tokio::spawn(async move {
            if let Err(e) = authorizer.record_outcome(outcome).await {
                warn!(error = %e, "audit outcome not written");
            }
        });
        result
    }
    .instrument(span)
    .await
}

/// Whether an op under way (an open stream, exec or tunnel) would still be allowed: resolved
/// and decided again on the current state. Only a refusal is recorded (it ends the op).
pub async fn still_allowed(
    roles: &Roles,
    caller: v1::Caller,
    target: v1::Target,
    op: v1::Op,
    kube: Option<v1::KubeScope>,
) -> Result<(), v1::Error> {
    let op_name = op.name();
    // Decided on the same scope as when it opened (run_op reads a proxied request's from its op).
    let kube = match kube {
        Some(k) => Some(k),
        None => op.kube_scope().transpose().map_err(|e| v1::Error::new(ErrorCode::InvalidArgument, e.to_string()))?,
    };
    let resolved = resolve(roles, &caller, &target, &op, op_name).await?;
    let (decision, receipt) = roles
        .authorizer
        .authorize_deferred(v1::AuthorizeRequest {
            caller: Some(caller),
            target: Some(resolved),
            op_name: op_name.into(),
            verb: op.verb_class() as i32,
            kube,
            recheck: true,
        })
        .await
        .map_err(|e| unavailable("authorizer", e))?;
    if decision.allowed {
        return Ok(());
    }
    if let Err(e) = receipt.committed().await {
        warn!(error = %e, "audit record of a lost access not written");
    }
    Err(v1::Error::new(ErrorCode::PermissionDenied, decision.reason))
}

/// The audited name of a what-if question.
const REVIEW: &str = "kubernetes.proxy.review";

/// A what-if question through the Kubernetes API proxy (`kubectl auth can-i`): resolved and
/// decided as the request it asks about would be, and recorded in the audit log as a review;
/// nothing is carried out.
pub async fn review(
    roles: &Roles,
    caller: v1::Caller,
    target: v1::Target,
    op: v1::Op,
    kube: v1::KubeScope,
) -> Result<v1::AuthorizeResponse, v1::Error> {
    let resolved = resolve(roles, &caller, &target, &op, REVIEW).await?;
    let (decision, receipt) = roles
        .authorizer
        .authorize_deferred(v1::AuthorizeRequest {
            caller: Some(caller),
            target: Some(resolved),
            op_name: REVIEW.into(),
            verb: cloudops_schemas::kube_api::verb_class(&kube) as i32,
            kube: Some(kube),
            recheck: false,
        })
        .await
        .map_err(|e| unavailable("authorizer", e))?;
    receipt.committed().await.map_err(audit_unavailable)?;
    Ok(decision)
}

/// Resolves the op's target; a request that cannot even be resolved is audited as denied.
async fn resolve(
    roles: &Roles,
    caller: &v1::Caller,
    target: &v1::Target,
    op: &v1::Op,
    op_name: &str,
) -> Result<v1::ResolvedTarget, v1::Error> {
    match roles
        .resolver
        .resolve(v1::ResolveRequest {
            caller: Some(caller.clone()),
            target: Some(target.clone()),
            op: Some(op.clone()),
        })
        .await
    {
        Ok(v1::ResolveResponse { result: Some(v1::resolve_response::Result::Target(t)) }) => Ok(t),
        Ok(v1::ResolveResponse { result: Some(v1::resolve_response::Result::Error(e)) }) => {
            let mode =
                if target.resource.is_empty() { v1::AccessMode::AdminMode } else { v1::AccessMode::DeveloperMode };
            let desc = if target.resource.is_empty() {
                format!("connection/{} ns/{}", target.connection, target.namespace)
            } else {
                target.resource.clone()
            };
            let audit = v1::RecordAuditRequest {
                caller: Some(caller.clone()),
                mode: mode as i32,
                target: desc,
                op_name: op_name.into(),
                decision: "denied".into(),
                reason: e.message.clone(),
                // Not resolved: the caller's own org keeps the record.
                org_id: String::new(),
            };
            if let Err(err) = roles.authorizer.record_audit(audit).await {
                warn!(error = %err, "audit of a resolution failure not written");
            }
            Err(e)
        }
        Ok(v1::ResolveResponse { result: None }) => Err(unavailable("resolver", "empty reply")),
        Err(e) => Err(unavailable("resolver", e)),
    }
}
