//! The decision, as pure functions over the authorizer's state: which scopes cover a target,
//! the best role the caller holds on them, and the audit record that goes with it.

use cloudops_schemas::{kube_api, v1};
use cloudops_store::{Role, SetValue as Set, Snapshot, audit};

use crate::impersonation;

pub fn required_role(verb: v1::VerbClass) -> Role {
    match verb {
        v1::VerbClass::Read => Role::Viewer,
        v1::VerbClass::Operate => Role::Operator,
        v1::VerbClass::Admin | v1::VerbClass::Unspecified => Role::Admin,
    }
}

pub fn mode_name(mode: i32) -> &'static str {
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

/// Text as the audit log keeps it: no NUL or other control characters (PostgreSQL refuses NUL
/// in text, and a caller must not be able to forge lines in a listing), at most 1024 characters.
pub fn clean(text: &str) -> String {
    let mut out: String = text.chars().take(1024).map(|c| if c.is_control() { '\u{fffd}' } else { c }).collect();
    if text.chars().nth(1024).is_some() {
        out.push('…');
    }
    out
}

/// An audit record, before its outcome is known. Every text field is [`clean`]ed.
pub fn audit_row(
    caller: &v1::Caller,
    mode: &str,
    target: &str,
    op: &str,
    verb: &str,
    decision: &str,
    reason: &str,
) -> audit::ActiveModel {
    audit::ActiveModel {
        id: Default::default(),
        at: Set(cloudops_store::now()),
        principal_id: Set(clean(&caller.principal_id)),
        principal_name: Set(clean(&caller.principal_name)),
        org_id: Set(clean(&caller.org_id)),
        mode: Set(clean(mode)),
        target: Set(clean(target)),
        op: Set(clean(op)),
        verb: Set(clean(verb)),
        decision: Set(clean(decision)),
        reason: Set(clean(reason)),
        result: Set(None),
        latency_us: Set(None),
    }
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
    pub fn explain(self, op: &str, who: &str, target: &str) -> String {
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

/// The scopes whose grants cover `target`. Grants on an org or environment apply to everything
/// below: in developer mode org → env → resource; in admin mode org → connection, plus the
/// environments whose default connection it is; for admin-class requests on an env, org → env.
pub fn covering_scopes(state: &Snapshot, t: &v1::ResolvedTarget) -> Vec<(&'static str, String)> {
    let mut scopes = vec![("org", t.org_id.clone())];
    if !t.env_id.is_empty() && (!t.resource_id.is_empty() || t.connection_id.is_empty()) {
        scopes.push(("env", t.env_id.clone()));
    }
    if !t.resource_id.is_empty() {
        scopes.push(("resource", t.resource_id.clone()));
    } else if !t.connection_id.is_empty() {
        scopes.push(("connection", t.connection_id.clone()));
        for env in state.envs_defaulting_to(&t.connection_id) {
            scopes.push(("env", env));
        }
    }
    scopes
}

/// What a request acts on, in the words of the audit log and of denials: the resource path, the
/// connection (and namespace), or the org by its name (its id when the org is unknown).
pub fn describe(state: &Snapshot, t: &v1::ResolvedTarget) -> String {
    if !t.resource.is_empty() {
        t.resource.clone()
    } else if !t.connection_name.is_empty() && t.namespace.is_empty() {
        format!("connection/{}", t.connection_name)
    } else if !t.connection_name.is_empty() {
        format!("connection/{} ns/{}", t.connection_name, t.namespace)
    } else {
        format!("org/{}", state.org(&t.org_id).map_or(t.org_id.as_str(), |o| o.name.as_str()))
    }
}

/// What a request through the Kubernetes API proxy adds to the decision: the role it needs
/// (Secrets are read by the roles that read them in Kubernetes, `edit` and `admin`: operator
/// and admin here) and, in developer mode, why it leaves the namespace the caller is locked to.
pub fn kube_rules(kube: &v1::KubeScope, target: &v1::ResolvedTarget, need: Role) -> (Role, Option<String>) {
    let need = if kube_api::reads_secrets(kube) { need.max(Role::Operator) } else { need };
    let outside = if target.namespace_locked {
        kube_api::outside_namespace(kube, &target.namespace)
            .or_else(|| kube_api::outside_workload(kube, &target.owner_kind, &target.owner_name))
    } else {
        None
    };
    (need, outside)
}

/// A decision and the audit record to write for it.
pub struct Evaluation {
    pub response: v1::AuthorizeResponse,
    pub record: audit::ActiveModel,
}

/// Decides `req` over `state`. The grants are read from the state, never from the request.
pub fn evaluate(state: &Snapshot, req: &v1::AuthorizeRequest) -> Evaluation {
    let caller = req.caller.clone().unwrap_or_default();
    let target = req.target.clone().unwrap_or_default();
    let verb = v1::VerbClass::try_from(req.verb).unwrap_or(v1::VerbClass::Unspecified);
    let scopes = covering_scopes(state, &target);
    let held: Vec<Held<'_>> = state
        .grants_of(&caller.principal_id)
        .into_iter()
        .map(|g| (g.scope_kind.as_str(), g.scope_id.as_str(), g.role.as_str()))
        .collect();
    let mut what = describe(state, &target);
    let (need, scope_denial) = match &req.kube {
        Some(kube) => {
            let query = if kube.query.is_empty() { String::new() } else { format!("?{}", kube.query) };
            what = format!("{what} {} {}{query}", kube.method, kube.path);
            kube_rules(kube, &target, required_role(verb))
        }
        None => (required_role(verb), None),
    };
    let decision = decide(&held, &scopes, need);
    let (allowed, reason, role) = match (decision, scope_denial) {
        (Err(denial), _) => {
            let mut reason = denial.explain(&req.op_name, &caller.principal_name, &what);
            if matches!(denial, Denial::TooWeak { .. }) && req.kube.as_ref().is_some_and(kube_api::reads_secrets) {
                reason.push_str(" (reading Secrets needs operator)");
            }
            (false, reason, String::new())
        }
        (Ok(_), Some(outside)) => (false, outside, String::new()),
        (Ok(role), None) => (true, String::new(), role.as_str().to_string()),
    };
    // A connection that asks for impersonation gets the person's identity with the decision;
    // without one (a principal gone since authentication) the request is refused here.
    let mut impersonate = None;
    let (allowed, reason) = if allowed && impersonation::wanted(&target) {
        impersonate = impersonation::identity(state, &caller, &target, &role);
        match impersonate {
            Some(_) => (true, reason),
            None => (false, format!("principal {:?} is unknown: no identity to impersonate", caller.principal_name)),
        }
    } else {
        (allowed, reason)
    };
    // The record names who the cluster saw.
    if let Some(i) = &impersonate {
        what = format!("{what} as {}", i.user);
    }
    let mut record = audit_row(
        &caller,
        mode_name(target.mode),
        &what,
        &req.op_name,
        verb_name(verb),
        if allowed { "allowed" } else { "denied" },
        &reason,
    );
    // The record belongs to the org acted in, so that its admins see a platform operator's
    // work there, and other orgs' admins do not.
    if !target.org_id.is_empty() {
        record.org_id = Set(clean(&target.org_id));
    }
    Evaluation { response: v1::AuthorizeResponse { allowed, reason, audit_id: 0, role, impersonate }, record }
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

    #[test]
    fn audit_text_keeps_no_control_characters() {
        assert_eq!(clean("ns/a\u{0}b\nc"), "ns/a\u{fffd}b\u{fffd}c");
        assert_eq!(clean("plain"), "plain");
        let long = "x".repeat(2000);
        assert_eq!(clean(&long).chars().count(), 1025);
    }

    #[test]
    fn proxied_requests_need_operator_for_secrets_and_stay_in_a_locked_namespace() {
        let scope = |m: &str, p: &str| kube_api::scope(m, p, "").unwrap();
        let admin_mode = v1::ResolvedTarget { namespace: "default".into(), ..Default::default() };
        let dev = v1::ResolvedTarget { namespace: "payments".into(), namespace_locked: true, ..Default::default() };
        assert_eq!(
            kube_rules(&scope("GET", "/api/v1/namespaces/payments/pods"), &dev, Role::Viewer),
            (Role::Viewer, None)
        );
        assert_eq!(
            kube_rules(&scope("GET", "/api/v1/namespaces/payments/secrets/db"), &dev, Role::Viewer),
            (Role::Operator, None)
        );
        // Admin mode reaches every namespace and the cluster-scoped kinds.
        assert_eq!(kube_rules(&scope("GET", "/api/v1/nodes"), &admin_mode, Role::Viewer), (Role::Viewer, None));
        let (_, outside) = kube_rules(&scope("DELETE", "/api/v1/namespaces/kube-system/pods/x"), &dev, Role::Operator);
        assert!(outside.unwrap().contains("namespace kube-system is outside it"));
        let (_, outside) = kube_rules(&scope("GET", "/api/v1/nodes"), &dev, Role::Viewer);
        assert!(outside.unwrap().contains("limited to namespace payments"));
        assert_eq!(kube_rules(&scope("GET", "/apis"), &dev, Role::Viewer), (Role::Viewer, None));
        // On a workload: not all of the namespace's pods at once, no bindings.
        let on_workload = v1::ResolvedTarget { owner_kind: "Deployment".into(), owner_name: "api".into(), ..dev };
        let (_, outside) =
            kube_rules(&scope("DELETE", "/api/v1/namespaces/payments/pods"), &on_workload, Role::Operator);
        assert!(outside.unwrap().contains("delete its pods by name"));
        let (_, outside) =
            kube_rules(&scope("POST", "/api/v1/namespaces/payments/bindings"), &on_workload, Role::Operator);
        assert!(outside.unwrap().contains("binding pods"));
        let pod = scope("DELETE", "/api/v1/namespaces/payments/pods/api-1");
        assert_eq!(kube_rules(&pod, &on_workload, Role::Operator), (Role::Operator, None));
    }

    #[test]
    fn an_empty_state_denies_and_still_writes_a_record() {
        let req = v1::AuthorizeRequest {
            caller: Some(v1::Caller {
                principal_id: "usr-1".into(),
                principal_name: "eve".into(),
                ..Default::default()
            }),
            target: Some(v1::ResolvedTarget { org_id: "org-1".into(), ..Default::default() }),
            op_name: "kubernetes.get".into(),
            verb: v1::VerbClass::Read as i32,
            kube: None,
            recheck: false,
        };
        let e = evaluate(&Snapshot::default(), &req);
        assert!(!e.response.allowed);
        assert_eq!(e.response.reason, "eve has no access to org/org-1");
        assert_eq!(e.record.decision, Set("denied".to_string()));
        assert_eq!(e.record.org_id, Set("org-1".to_string()));
    }
}
