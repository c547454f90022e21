//! Which runner serves a connection: the connection's own → the org's default → the platform
//! default, and what the platform default refuses to do for a tenant. One rule for the resolver
//! (per op, over its snapshot) and the gateway (a runner's lookup of a connection's secrets,
//! over the database).

use crate::{connection, runner, secrets::secret_refs};

#[derive(Debug, PartialEq, Eq)]
pub enum RunnerChoiceError {
    /// Neither the connection, nor its org, nor the platform names a runner.
    NoRunner,
    /// The runner that would serve it is revoked.
    Revoked { runner: String },
    /// The platform default would serve it, but the connection chooses what only a platform
    /// operator may choose on a platform runner: a kubeconfig context, a cloud profile, or a
    /// role to assume (from a secret).
    PlatformDefaultRefuses { runner: String, chosen: String },
}

/// The runner that serves `conn`, from the connection's own runner (when it still exists), the
/// org's default and the platform default.
pub fn choose_runner<'a>(
    conn: &connection::Model,
    own: Option<&'a runner::Model>,
    org_default: impl FnOnce() -> Option<&'a runner::Model>,
    platform_default: impl FnOnce() -> Option<&'a runner::Model>,
) -> Result<&'a runner::Model, RunnerChoiceError> {
    let (runner, via_platform_default) = match own.or_else(org_default) {
        Some(r) => (r, false),
        None => (platform_default().ok_or(RunnerChoiceError::NoRunner)?, true),
    };
    if runner.revoked {
        return Err(RunnerChoiceError::Revoked { runner: runner.name.clone() });
    }
    // The platform default serves tenants as the platform operator configured it: a tenant's
    // connection cannot pick another context, profile or role on it (those reach whatever else
    // that runner's identity can). Naming a platform runner on a connection, or making one an
    // org's default, is a platform operator's act, and so is what it then serves.
    if via_platform_default && let Some(chosen) = platform_only_choice(conn) {
        return Err(RunnerChoiceError::PlatformDefaultRefuses { runner: runner.name.clone(), chosen });
    }
    Ok(runner)
}

/// What `conn` chooses that only a platform operator may choose on a platform runner.
fn platform_only_choice(conn: &connection::Model) -> Option<String> {
    if let Some(c) = &conn.kube_context {
        return Some(format!("context {c:?}"));
    }
    let settings: std::collections::BTreeMap<String, String> = serde_json::from_str(&conn.settings).unwrap_or_default();
    if let Some(p) = settings.get("profile") {
        return Some(format!("profile {p:?}"));
    }
    secret_refs(conn).into_iter().next().map(|(key, secret)| format!("{key} from secret {secret:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(context: Option<&str>, settings: &str, refs: &str) -> connection::Model {
        connection::Model {
            id: "conn-1".into(),
            org_id: "org-1".into(),
            name: "c".into(),
            provider: "aws".into(),
            runner_id: None,
            kube_context: context.map(String::from),
            settings: settings.into(),
            secret_refs: refs.into(),
            created_at: chrono::Utc::now(),
        }
    }

    fn runner(name: &str, revoked: bool) -> runner::Model {
        runner::Model {
            id: format!("rnr-{name}"),
            org_id: None,
            name: name.into(),
            generation: 1,
            cert_fingerprint: None,
            service_account_id: "sa".into(),
            revoked,
            last_seen_at: None,
            version: None,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn own_then_org_default_then_platform_default_which_refuses_tenant_choices() {
        let (own, org, platform) = (runner("own", false), runner("org", false), runner("platform", false));
        let plain = conn(None, "{}", "{}");
        assert_eq!(choose_runner(&plain, Some(&own), || Some(&org), || Some(&platform)).unwrap().name, "own");
        assert_eq!(choose_runner(&plain, None, || Some(&org), || Some(&platform)).unwrap().name, "org");
        assert_eq!(choose_runner(&plain, None, || None, || Some(&platform)).unwrap().name, "platform");
        assert_eq!(choose_runner(&plain, None, || None, || None), Err(RunnerChoiceError::NoRunner));
        let revoked = runner("gone", true);
        assert!(matches!(
            choose_runner(&plain, Some(&revoked), || None, || None),
            Err(RunnerChoiceError::Revoked { .. })
        ));
        for (c, chosen) in [
            (conn(Some("prod"), "{}", "{}"), "context \"prod\""),
            (conn(None, r#"{"profile":"other"}"#, "{}"), "profile \"other\""),
            (conn(None, "{}", r#"{"role_arn":"their-role"}"#), "role_arn from secret \"their-role\""),
        ] {
            match choose_runner(&c, None, || None, || Some(&platform)) {
                Err(RunnerChoiceError::PlatformDefaultRefuses { chosen: got, .. }) => assert_eq!(got, chosen),
                other => panic!("{chosen}: {other:?}"),
            }
            // The same choices on the org's own default (or a runner named by an operator) stand.
            assert!(choose_runner(&c, None, || Some(&org), || Some(&platform)).is_ok());
        }
    }
}
