//! Resolution as a pure function over the resolver's tables: the access mode, and the
//! connection, runner and namespace of a request. Nothing the caller says about connection or
//! namespace is trusted in developer mode.

use cloudops_schemas::v1::{self, ErrorCode};
use cloudops_store::{Snapshot, connection, org, runner};

fn err(code: ErrorCode, msg: impl Into<String>) -> v1::Error {
    v1::Error::new(code, msg)
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

/// The connection's runner → the org's default → the platform default (`store::choose_runner`).
fn resolve_runner<'s>(
    state: &'s Snapshot,
    conn: &connection::Model,
    org: &org::Model,
) -> Result<&'s runner::Model, v1::Error> {
    use cloudops_store::RunnerChoiceError::*;
    let own = conn.runner_id.as_deref().and_then(|id| state.runner(id));
    cloudops_store::choose_runner(conn, own, || state.default_runner(Some(&org.id)), || state.default_runner(None))
        .map_err(|e| match e {
            NoRunner => err(
                ErrorCode::NoRunner,
                format!(
                    "no runner is available for connection {:?}: connection has none, org {:?} has no default, no platform default",
                    conn.name, org.name
                ),
            ),
            Revoked { runner } => err(ErrorCode::RunnerNotConnected, format!("runner {runner:?} is revoked")),
            PlatformDefaultRefuses { runner, chosen } => err(
                ErrorCode::PermissionDenied,
                format!(
                    "connection {:?} selects {chosen} on the platform default runner {runner:?}: only a platform operator can bind a platform runner to a context, profile or role, by naming it on the connection (or use a runner of org {:?})",
                    conn.name, org.name
                ),
            ),
        })
}

fn target_for(
    mode: v1::AccessMode,
    org: &org::Model,
    conn: &connection::Model,
    runner: &runner::Model,
    provider: v1::Provider,
    namespace: String,
) -> v1::ResolvedTarget {
    v1::ResolvedTarget {
        mode: mode as i32,
        org_id: org.id.clone(),
        connection_id: conn.id.clone(),
        connection_name: conn.name.clone(),
        provider: provider as i32,
        runner_id: runner.id.clone(),
        runner_name: runner.name.clone(),
        namespace,
        namespace_locked: mode == v1::AccessMode::DeveloperMode,
        settings: Some(v1::ConnectionSettings {
            values: serde_json::from_str(&conn.settings).unwrap_or_default(),
            kube_context: conn.kube_context.clone().unwrap_or_default(),
            connection_id: conn.id.clone(),
            secret_keys: cloudops_store::secret_refs(conn).into_keys().collect(),
        }),
        ..Default::default()
    }
}

/// Resolves `req` over `state`: a pure function of the request and the resolver's tables.
pub fn resolve(state: &Snapshot, req: v1::ResolveRequest) -> Result<v1::ResolvedTarget, v1::Error> {
    let caller = req.caller.unwrap_or_default();
    let target = req.target.unwrap_or_default();
    // Every name a caller gives is a DNS label (as orgs, environments, connections and
    // Kubernetes namespaces are): anything else is refused before it is looked up or logged.
    for (what, value) in [
        ("org", &target.org),
        ("environment", &target.env),
        ("connection", &target.connection),
        ("namespace", &target.namespace),
    ] {
        if !value.is_empty()
            && let Err(e) = cloudops_store::validate_name(what, value)
        {
            return Err(err(ErrorCode::InvalidArgument, e.to_string()));
        }
    }
    let op = req.op.unwrap_or_default();
    let provider = op.provider();
    let pname = provider_name(provider);

    if !target.resource.is_empty() {
        // Developer mode: everything comes from the catalog, nothing from the caller.
        if !target.connection.is_empty() || !target.namespace.is_empty() {
            return Err(err(
                ErrorCode::InvalidArgument,
                "developer mode (a resource) derives the connection and namespace on the server: give no connection or namespace with it",
            ));
        }
        let (org_name, env_name, kind, name) = parse_resource_path(&target.resource)?;
        if !target.org.is_empty() && target.org != org_name {
            return Err(err(
                ErrorCode::InvalidArgument,
                format!("org {:?} does not match the resource's org {org_name:?}", target.org),
            ));
        }
        if provider != v1::Provider::Kubernetes {
            return Err(err(
                ErrorCode::InvalidArgument,
                format!("developer mode is not supported yet for {pname}: name a connection instead"),
            ));
        }
        let missing = || err(ErrorCode::NotFound, format!("cloud resource {:?} not found", target.resource));
        let org = state.org_named(org_name).ok_or_else(missing)?;
        let env = state.env_named(&org.id, env_name).ok_or_else(missing)?;
        let res = state.resource(&org.id, &env.id, kind, name).ok_or_else(missing)?;
        let conn = state.connection(&res.connection_id).ok_or_else(|| {
            err(ErrorCode::Internal, format!("cloud resource {:?} points at a missing connection", target.resource))
        })?;
        let runner = resolve_runner(state, conn, org)?;
        let mut t = target_for(v1::AccessMode::DeveloperMode, org, conn, runner, provider, res.namespace.clone());
        t.env_id = env.id.clone();
        t.resource_id = res.id.clone();
        t.resource = target.resource.clone();
        if let Some(k) = res.kind.strip_prefix("Kubernetes").filter(|k| *k != "Namespace") {
            t.owner_kind = k.to_string();
            t.owner_name = res.name.clone();
        }
        return Ok(t);
    }

    // Admin mode: explicit connection → the environment's default → the org's default.
    let org = if target.org.is_empty() {
        state
            .org(&caller.org_id)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("org {:?} not found", caller.org_id)))?
    } else {
        state
            .org_named(&target.org)
            .ok_or_else(|| err(ErrorCode::NotFound, format!("org {:?} not found", target.org)))?
    };
    let env = if target.env.is_empty() {
        None
    } else {
        Some(
            state
                .env_named(&org.id, &target.env)
                .ok_or_else(|| err(ErrorCode::NotFound, format!("environment {:?} not found", target.env)))?,
        )
    };
    let conn = if !target.connection.is_empty() {
        state.connection_named(&org.id, &target.connection).ok_or_else(|| {
            err(ErrorCode::NotFound, format!("connection {:?} not found in org {:?}", target.connection, org.name))
        })?
    } else {
        let from_env = env.and_then(|e| state.default_connection(&org.id, &e.id, pname));
        match from_env {
            Some(c) => c,
            None => state.default_connection(&org.id, "", pname).ok_or_else(|| {
                let env_part = match &env {
                    Some(e) => format!(", environment {:?} has no default {pname} connection", e.name),
                    None => String::new(),
                };
                err(
                    ErrorCode::NotFound,
                    format!("no {pname} connection: none was named{env_part}, and org {:?} has no default {pname} connection", org.name),
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
    let runner = resolve_runner(state, conn, org)?;
    let namespace = if target.namespace.is_empty() { "default".to_string() } else { target.namespace };
    let mut t = target_for(v1::AccessMode::AdminMode, org, conn, runner, provider, namespace);
    if let Some(e) = env {
        t.env_id = e.id.clone();
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_caller_gives_are_dns_labels() {
        let state = Snapshot::default();
        for (org, env, connection, namespace) in
            [("a\u{0}", "", "", ""), ("", "Prod", "", ""), ("", "", "x y", ""), ("", "", "", "kube-system\n")]
        {
            let req = v1::ResolveRequest {
                target: Some(v1::Target {
                    org: org.into(),
                    env: env.into(),
                    connection: connection.into(),
                    namespace: namespace.into(),
                    resource: String::new(),
                }),
                ..Default::default()
            };
            let e = resolve(&state, req).unwrap_err();
            assert_eq!(e.code(), ErrorCode::InvalidArgument, "{e:?}");
            assert!(e.message.contains("invalid"), "{}", e.message);
        }
    }

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
