//! Orgs, environments, principals, API keys and grants. Nobody acts for a principal with more
//! privilege than their own (`may_manage`).

use super::*;

// ---------------------------------------------------------------------- orgs, envs, principals

#[utoipa::path(post, path = "/v1/orgs", tag = "tenancy", request_body = api::NameBody, responses((status = 201, body = api::Org)))]
pub async fn create_org(
    State(s): State<AppState>,
    who: Authenticated,
    Body(b): Body<api::NameBody>,
) -> Result<Response, ApiError> {
    platform_only(&who, "creating an org")?;
    let o = s.deps.store.create_org(&b.name, &who.principal.id).await?;
    Ok(created(org_out(o)))
}

fn org_out(o: cloudops_store::org::Model) -> api::Org {
    api::Org { id: o.id, name: o.name, created_at: o.created_at }
}

fn env_out(e: cloudops_store::environment::Model, org: &str) -> api::Env {
    api::Env { id: e.id, name: e.name, org: org.to_string(), created_at: e.created_at }
}

#[utoipa::path(get, path = "/v1/orgs", tag = "tenancy", responses((status = 200, body = api::Items<api::Org>)))]
pub async fn list_orgs(State(s): State<AppState>, who: Authenticated) -> Result<Json<api::Items<api::Org>>, ApiError> {
    let orgs = s.deps.store.orgs_for(&who.principal.id, &who.principal.org_id, who.principal.platform_operator).await?;
    Ok(items(orgs.into_iter().map(org_out).collect()))
}

#[utoipa::path(post, path = "/v1/orgs/{org}/envs", tag = "tenancy", request_body = api::NameBody, responses((status = 201, body = api::Env)))]
pub async fn create_env(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Body(b): Body<api::NameBody>,
) -> Result<Response, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "env.create").await?;
    let e = s.deps.store.create_env(&org.id, &b.name).await?;
    Ok(created(env_out(e, &org.name)))
}

#[utoipa::path(get, path = "/v1/orgs/{org}/envs", tag = "tenancy", responses((status = 200, body = api::Items<api::Env>)))]
pub async fn list_envs(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
) -> Result<Json<api::Items<api::Env>>, ApiError> {
    let visible = Visibility::of(&s.deps, &who, &org.id).await?;
    let envs: Vec<api::Env> = s
        .deps
        .store
        .list_envs(&org.id)
        .await?
        .into_iter()
        .filter(|e| visible.env(&e.id))
        .map(|e| env_out(e, &org.name))
        .collect();
    audit_read(&s.deps, &who, &org.id, "env.list", format!("{} visible", envs.len())).await?;
    Ok(items(envs))
}

#[utoipa::path(post, path = "/v1/orgs/{org}/principals", tag = "tenancy", request_body = api::PrincipalBody, responses((status = 201, body = api::PrincipalCreated)))]
pub async fn create_principal(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Body(b): Body<api::PrincipalBody>,
) -> Result<Response, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "principal.create").await?;
    let p = s.deps.store.create_principal(&org.id, &b.name, &b.kind.replace('-', "_")).await?;
    Ok(created(api::PrincipalCreated { id: p.id, name: p.name, kind: p.kind, created_at: p.created_at }))
}

#[utoipa::path(get, path = "/v1/orgs/{org}/principals", tag = "tenancy", responses((status = 200, body = api::Items<api::Principal>)))]
pub async fn list_principals(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
) -> Result<Json<api::Items<api::Principal>>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "principal.list").await?;
    let ps = s.deps.store.list_principals(&org.id).await?;
    Ok(items(
        ps.into_iter()
            .map(|p| api::Principal {
                id: p.id,
                name: p.name,
                kind: p.kind,
                platform_operator: p.platform_operator,
                created_at: p.created_at,
            })
            .collect(),
    ))
}

// ---------------------------------------------------------------------- api keys

/// The principals whose keys the caller may manage: its own, or (admins) a named one.
async fn key_owners(
    s: &AppState,
    who: &Authenticated,
    org_id: &str,
    principal: Option<&str>,
    op: &str,
) -> Result<Vec<String>, ApiError> {
    match principal {
        None => Ok(vec![who.principal.id.clone()]),
        Some(name) if name == who.principal.name && org_id == who.principal.org_id => {
            Ok(vec![who.principal.id.clone()])
        }
        Some(name) => {
            authorize_admin(&s.deps, who, org_id, op).await?;
            let target = s.deps.store.principal_by_name(org_id, name).await?;
            may_manage(who, &target, op)?;
            Ok(vec![target.id])
        }
    }
}

/// Nobody acts for a principal with more privilege than their own: a platform operator is
/// managed by platform operators only (never from inside a tenant org), and a runner's service
/// account only through the runner's lifecycle (its keys come with its credentials).
pub(crate) fn may_manage(who: &Authenticated, target: &principal::Model, op: &str) -> Result<(), ApiError> {
    if target.platform_operator && !who.principal.platform_operator {
        return Err(ApiError::new(
            v1::ErrorCode::PermissionDenied,
            format!("{op} for {:?} needs a platform operator: {:?} is one", target.name, target.name),
        ));
    }
    if target.runner_id.is_some() {
        return Err(ApiError::new(
            v1::ErrorCode::PermissionDenied,
            format!(
                "{op}: {:?} is a runner's service account; its keys come with `planton runner generate-credentials` and it takes no grants",
                target.name
            ),
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/orgs/{org}/apikeys", tag = "tenancy", request_body = api::KeyBody, responses((status = 201, body = api::ApiKeyCreated)))]
pub async fn create_key(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Body(b): Body<api::KeyBody>,
) -> Result<Response, ApiError> {
    let owner = key_owners(&s, &who, &org.id, b.principal.as_deref(), "apikey.create").await?;
    // A key that never expires would keep the grants of the groups the provider listed at the
    // last sign-in for good: people who sign in there get keys only by signing in.
    if let Some(p) = s.deps.store.principal_by_id(&owner[0]).await?
        && p.oidc_subject.is_some()
    {
        return Err(ApiError::new(
            v1::ErrorCode::PermissionDenied,
            format!(
                "{:?} signs in through the identity provider: their keys come from signing in and expire, so that their groups' grants follow the provider; use a service account for automation",
                p.name
            ),
        ));
    }
    let k = s.deps.store.mint_key(&owner[0]).await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(api::ApiKeyCreated { id: k.row.id, key: k.raw, prefix: k.row.prefix, created_at: k.row.created_at }),
    )
        .into_response())
}

#[utoipa::path(get, path = "/v1/orgs/{org}/apikeys", tag = "tenancy", params(api::PrincipalQuery), responses((status = 200, body = api::Items<api::ApiKey>)))]
pub async fn list_keys(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Params(q): Params<api::PrincipalQuery>,
) -> Result<Json<api::Items<api::ApiKey>>, ApiError> {
    let owners = key_owners(&s, &who, &org.id, q.principal.as_deref(), "apikey.list").await?;
    let keys = s.deps.store.list_keys(&owners).await?;
    Ok(items(
        keys.into_iter()
            .map(|k| api::ApiKey { id: k.id, prefix: k.prefix, created_at: k.created_at, revoked_at: k.revoked_at })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/v1/orgs/{org}/apikeys/{id}", tag = "tenancy", params(("id" = String, Path, description = "The key's id or prefix"), api::PrincipalQuery), responses((status = 200, body = api::ApiKeyRevoked)))]
pub async fn revoke_key(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, id)): Path<(String, String)>,
    Params(q): Params<api::PrincipalQuery>,
) -> Result<Json<api::ApiKeyRevoked>, ApiError> {
    let owners = key_owners(&s, &who, &org.id, q.principal.as_deref(), "apikey.revoke").await?;
    let k = s.deps.store.revoke_key(&owners, &id).await?;
    Ok(Json(api::ApiKeyRevoked { id: k.id, prefix: k.prefix, revoked_at: k.revoked_at }))
}

// ---------------------------------------------------------------------- grants

/// Resolves a grant's scope to (kind, id, display).
async fn scope_id(
    s: &AppState,
    org: &cloudops_store::org::Model,
    scope: &str,
    target: &str,
) -> Result<(String, String), ApiError> {
    let need = |what: &str| ApiError::bad_request(format!("a grant on scope {scope:?} needs {what}"));
    Ok(match scope {
        "org" => (org.id.clone(), format!("org/{}", org.name)),
        "env" => {
            if target.is_empty() {
                return Err(need("an environment"));
            }
            (s.deps.store.env_by_name(&org.id, target).await?.id, format!("env/{target}"))
        }
        "connection" => {
            if target.is_empty() {
                return Err(need("a connection"));
            }
            (s.deps.store.connection_by_name(&org.id, target).await?.id, format!("connection/{target}"))
        }
        "resource" => {
            if target.is_empty() {
                return Err(need("a resource (org/env/Kind/name)"));
            }
            let (o, e, k, n) = cloudops_resolver_path(target)?;
            if o != org.name {
                return Err(ApiError::bad_request(format!("resource {target:?} is not in org {:?}", org.name)));
            }
            let env = s.deps.store.env_by_name(&org.id, e).await?;
            let r = s.deps.store.find_resource(&org.id, &env.id, k, n).await?.ok_or_else(|| {
                ApiError::new(v1::ErrorCode::NotFound, format!("cloud resource {target:?} not found"))
            })?;
            (r.id, format!("resource/{target}"))
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown scope {other:?}: use org, env, resource or connection"
            )));
        }
    })
}

/// `org/env/Kind/name`.
pub fn cloudops_resolver_path(path: &str) -> Result<(&str, &str, &str, &str), ApiError> {
    let parts: Vec<&str> = path.split('/').collect();
    let ok = |p: &&str| !p.is_empty() && p.len() <= 63 && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    match parts.as_slice() {
        [o, e, k, n] if [o, e, k, n].iter().all(|p| ok(p)) => Ok((o, e, k, n)),
        _ => Err(ApiError::bad_request(format!("invalid cloud resource {path:?}: expected org/env/Kind/name"))),
    }
}

#[utoipa::path(post, path = "/v1/orgs/{org}/grants", tag = "tenancy", request_body = api::GrantBody, responses((status = 201, body = api::GrantCreated)))]
pub async fn create_grant(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Body(b): Body<api::GrantBody>,
) -> Result<Response, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "grant.create").await?;
    let role = Role::parse(&b.role)
        .ok_or_else(|| ApiError::bad_request(format!("unknown role {:?}: use viewer, operator or admin", b.role)))?;
    let (id, display) = scope_id(&s, &org, &b.scope, &b.target).await?;
    let p = match (&b.principal, &b.group) {
        (Some(name), None) => s.deps.store.principal_by_name(&org.id, name).await?,
        // The group's principal is made on its first grant; its members hold the grant from
        // their next sign-in or refresh on.
        (None, Some(group)) => s.deps.store.ensure_group(&org.id, group).await?,
        _ => return Err(ApiError::bad_request("set exactly one of `principal` and `group`")),
    };
    may_manage(&who, &p, "grant.create")?;
    let g = s.deps.store.put_grant(&p.id, &b.scope, &id, role).await?;
    Ok(created(api::GrantCreated { id: g.id, principal: p.name, principal_kind: p.kind, scope: display, role: g.role }))
}

#[utoipa::path(get, path = "/v1/orgs/{org}/grants", tag = "tenancy", params(api::PrincipalQuery), responses((status = 200, body = api::Items<api::Grant>)))]
pub async fn list_grants(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Params(q): Params<api::PrincipalQuery>,
) -> Result<Json<api::Items<api::Grant>>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "grant.list").await?;
    let principals = s.deps.store.list_principals(&org.id).await?;
    let ids: Vec<String> =
        principals.iter().filter(|p| q.principal.as_ref().is_none_or(|n| &p.name == n)).map(|p| p.id.clone()).collect();
    let grants = s.deps.store.grants_of_many(&ids).await?;
    let mut out = Vec::new();
    for g in grants {
        let owner = principals.iter().find(|p| p.id == g.principal_id);
        let target = grant_target(&s.deps, &g).await;
        out.push(api::Grant {
            id: g.id,
            principal: owner.map(|p| p.name.clone()).unwrap_or_default(),
            principal_kind: owner.map(|p| p.kind.clone()).unwrap_or_default(),
            scope: g.scope_kind,
            target,
            role: g.role,
            created_at: g.created_at,
        });
    }
    Ok(items(out))
}

/// A grant's scope by name (org, env or connection name; a resource's `org/env/Kind/name`
/// path), else its id.
pub async fn grant_target(deps: &crate::Deps, g: &cloudops_store::grant::Model) -> String {
    let store = &deps.store;
    let name = match g.scope_kind.as_str() {
        "org" => store.org_by_id(&g.scope_id).await.ok().map(|o| o.name),
        "env" => store.env_by_id(&g.scope_id).await.ok().flatten().map(|e| e.name),
        "connection" => store.connection_by_id(&g.scope_id).await.ok().flatten().map(|c| c.name),
        "resource" => match store.resource_by_id(&g.scope_id).await.ok().flatten() {
            Some(r) => {
                let org = store.org_by_id(&r.org_id).await.ok().map(|o| o.name);
                let env = store.env_by_id(&r.env_id).await.ok().flatten().map(|e| e.name);
                org.zip(env).map(|(o, e)| format!("{o}/{e}/{}/{}", r.kind, r.name))
            }
            None => None,
        },
        _ => None,
    };
    name.unwrap_or_else(|| g.scope_id.clone())
}

#[utoipa::path(delete, path = "/v1/orgs/{org}/grants/{id}", tag = "tenancy", responses((status = 204, description = "Deleted")))]
pub async fn delete_grant(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "grant.delete").await?;
    let principals = s.deps.store.list_principals(&org.id).await?;
    // Only grants of principals the caller may manage (not a platform operator's, say).
    let ids: Vec<String> =
        principals.iter().filter(|p| may_manage(&who, p, "grant.delete").is_ok()).map(|p| p.id.clone()).collect();
    if let Some(p) = s.deps.store.grant_owner(&id).await?.and_then(|pid| principals.iter().find(|p| p.id == pid)) {
        may_manage(&who, p, "grant.delete")?;
    }
    s.deps.store.delete_grant(&ids, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Catalog paths from requests: four safe segments, or an error naming the path.
        #[test]
        fn resource_paths_parse_or_name_the_path(s in "[a-zA-Z0-9/._ -]{0,80}") {
            match cloudops_resolver_path(&s) {
                Ok(parts) => prop_assert_eq!(format!("{}/{}/{}/{}", parts.0, parts.1, parts.2, parts.3), s),
                Err(e) => {
                    let (msg, named) = (e.0.message.clone(), format!("{s:?}"));
                    prop_assert!(msg.contains(&named), "{}", msg);
                }
            }
        }
    }
}
