//! Who a runner acts as in a cluster whose connection asks for impersonation.
//!
//! A Kubernetes connection with the setting `impersonate=true` makes the runner send
//! `Impersonate-User` and `Impersonate-Group` on every call, so that the cluster's own RBAC
//! decides and its audit log names the person. The identity comes from the authorizer's state
//! (the principal and its home org), never from the client, and is namespaced under
//! `cloudops:` so that no name an org admin picks can become a cluster identity such as
//! `system:admin` or the group `system:masters`. Org names are DNS labels (no `:`), and a
//! principal's name is unique in its org (a person signed in through the identity provider is
//! named by an email or a subject, which may hold `:`, but only after `cloudops:<org>:`).

use cloudops_schemas::v1;
use cloudops_store::Snapshot;

/// Whether the resolved target's connection asks for impersonation.
pub fn wanted(target: &v1::ResolvedTarget) -> bool {
    target.provider == v1::Provider::Kubernetes as i32
        && target.settings.as_ref().is_some_and(v1::ConnectionSettings::impersonates)
}

/// The identity for an allowed request: `cloudops:<home org>:<principal>`, in the groups
/// `cloudops:<org acted in>:<role>` (the caller's best role on the target, so that a cluster
/// reached from several orgs binds each org's roles apart) and `cloudops:org:<home org>`.
/// `None` when the principal or an org is unknown (the caller of this then refuses: no
/// identity, no call).
pub fn identity(
    state: &Snapshot,
    caller: &v1::Caller,
    target: &v1::ResolvedTarget,
    role: &str,
) -> Option<v1::Impersonation> {
    let principal = state.principal(&caller.principal_id)?;
    let home = state.org(&principal.org_id)?;
    let acted_in = state.org(&target.org_id)?;
    Some(of(&home.name, &principal.name, &acted_in.name, role))
}

fn of(home: &str, principal: &str, acted_in: &str, role: &str) -> v1::Impersonation {
    v1::Impersonation {
        user: format!("cloudops:{home}:{principal}"),
        groups: vec![format!("cloudops:{acted_in}:{role}"), format!("cloudops:org:{home}")],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(provider: v1::Provider, setting: Option<&str>) -> v1::ResolvedTarget {
        let mut settings = v1::ConnectionSettings::default();
        if let Some(v) = setting {
            settings.values.insert(v1::ConnectionSettings::IMPERSONATE.into(), v.into());
        }
        v1::ResolvedTarget { provider: provider as i32, settings: Some(settings), ..Default::default() }
    }

    #[test]
    fn only_kubernetes_connections_that_say_true_impersonate() {
        assert!(wanted(&target(v1::Provider::Kubernetes, Some("true"))));
        assert!(!wanted(&target(v1::Provider::Kubernetes, Some("false"))));
        assert!(!wanted(&target(v1::Provider::Kubernetes, Some("yes"))));
        assert!(!wanted(&target(v1::Provider::Kubernetes, None)));
        assert!(!wanted(&target(v1::Provider::Aws, Some("true"))));
    }

    #[test]
    fn the_identity_is_namespaced_under_cloudops() {
        let i = of("acme", "alice", "acme", "operator");
        assert_eq!(i.user, "cloudops:acme:alice");
        assert_eq!(i.groups, ["cloudops:acme:operator", "cloudops:org:acme"]);
        // A platform operator at work in another org: its role there, its own home.
        let i = of("platform", "ops", "acme", "admin");
        assert_eq!((i.user.as_str(), i.groups[0].as_str()), ("cloudops:platform:ops", "cloudops:acme:admin"));
    }
}
