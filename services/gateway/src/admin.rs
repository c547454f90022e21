//! Tenancy, catalog, runner lifecycle and audit endpoints. Every mutating request is an
//! admin-class decision of the authorizer, so it is authorized and audited like an op.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use cloudops_schemas::{RunnerCredentials, RunnerId, TunnelCredentials, v1};
use cloudops_store::{Role, cloud_resource, connection, principal, runner};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{
    ApiError,
    routes::{
        AppState, Authenticated, Body, InOrg, authorize_admin, authorize_admin_in_env, authorize_admin_on_connection,
    },
    visibility::{Visibility, audit_read},
};

fn items(v: Vec<Value>) -> Json<Value> {
    Json(json!({ "items": v }))
}

fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

fn platform_only(who: &Authenticated, what: &str) -> Result<(), ApiError> {
    if who.principal.platform_operator {
        Ok(())
    } else {
        Err(ApiError::new(v1::ErrorCode::PermissionDenied, format!("{what} needs a platform operator")))
    }
}

// ---------------------------------------------------------------------- orgs, envs, principals

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameBody {
    name: String,
}

pub async fn create_org(
    State(s): State<AppState>,
    who: Authenticated,
    Body(b): Body<NameBody>,
) -> Result<Response, ApiError> {
    platform_only(&who, "creating an org")?;
    let o = s.deps.store.create_org(&b.name, &who.principal.id).await?;
    Ok(created(json!({"id": o.id, "name": o.name, "created_at": o.created_at})))
}

pub async fn list_orgs(State(s): State<AppState>, who: Authenticated) -> Result<Json<Value>, ApiError> {
    let orgs = s.deps.store.orgs_for(&who.principal).await?;
    Ok(items(orgs.into_iter().map(|o| json!({"id": o.id, "name": o.name, "created_at": o.created_at})).collect()))
}

pub async fn create_env(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Body(b): Body<NameBody>,
) -> Result<Response, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "env.create").await?;
    let e = s.deps.store.create_env(&org.id, &b.name).await?;
    Ok(created(json!({"id": e.id, "name": e.name, "org": org.name, "created_at": e.created_at})))
}

pub async fn list_envs(State(s): State<AppState>, InOrg { who, org }: InOrg) -> Result<Json<Value>, ApiError> {
    let visible = Visibility::of(&s.deps, &who, &org.id).await?;
    let envs: Vec<Value> = s
        .deps
        .store
        .list_envs(&org.id)
        .await?
        .into_iter()
        .filter(|e| visible.env(&e.id))
        .map(|e| json!({"id": e.id, "name": e.name, "org": org.name, "created_at": e.created_at}))
        .collect();
    audit_read(&s.deps, &who, &org.id, "env.list", format!("{} visible", envs.len())).await;
    Ok(items(envs))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrincipalBody {
    name: String,
    #[serde(default = "user")]
    kind: String,
}

fn user() -> String {
    "user".into()
}

pub async fn create_principal(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Body(b): Body<PrincipalBody>,
) -> Result<Response, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "principal.create").await?;
    let p = s.deps.store.create_principal(&org.id, &b.name, &b.kind.replace('-', "_")).await?;
    Ok(created(json!({"id": p.id, "name": p.name, "kind": p.kind, "created_at": p.created_at})))
}

pub async fn list_principals(State(s): State<AppState>, InOrg { who, org }: InOrg) -> Result<Json<Value>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "principal.list").await?;
    let ps = s.deps.store.list_principals(&org.id).await?;
    Ok(items(ps.into_iter().map(|p| json!({"id": p.id, "name": p.name, "kind": p.kind, "platform_operator": p.platform_operator, "created_at": p.created_at})).collect()))
}

// ---------------------------------------------------------------------- api keys

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct KeyBody {
    #[serde(default)]
    principal: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct PrincipalQuery {
    #[serde(default)]
    principal: Option<String>,
}

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

pub async fn create_key(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Body(b): Body<KeyBody>,
) -> Result<Response, ApiError> {
    let owner = key_owners(&s, &who, &org.id, b.principal.as_deref(), "apikey.create").await?;
    let k = s.deps.store.mint_key(&owner[0]).await?;
    Ok((
        StatusCode::CREATED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"id": k.row.id, "key": k.raw, "prefix": k.row.prefix, "created_at": k.row.created_at})),
    )
        .into_response())
}

pub async fn list_keys(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Query(q): Query<PrincipalQuery>,
) -> Result<Json<Value>, ApiError> {
    let owners = key_owners(&s, &who, &org.id, q.principal.as_deref(), "apikey.list").await?;
    let keys = s.deps.store.list_keys(&owners).await?;
    Ok(items(
        keys.into_iter()
            .map(|k| json!({"id": k.id, "prefix": k.prefix, "created_at": k.created_at, "revoked_at": k.revoked_at}))
            .collect(),
    ))
}

pub async fn revoke_key(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<PrincipalQuery>,
) -> Result<Json<Value>, ApiError> {
    let owners = key_owners(&s, &who, &org.id, q.principal.as_deref(), "apikey.revoke").await?;
    let k = s.deps.store.revoke_key(&owners, &id).await?;
    Ok(Json(json!({"id": k.id, "prefix": k.prefix, "revoked_at": k.revoked_at})))
}

// ---------------------------------------------------------------------- grants

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantBody {
    principal: String,
    scope: String,
    /// env name, resource path or connection name; empty for the org.
    #[serde(default)]
    target: String,
    role: String,
}

/// Resolves a grant's scope to (kind, id, display).
async fn scope_id(
    s: &AppState,
    org: &cloudops_store::org::Model,
    scope: &str,
    target: &str,
) -> Result<(String, String), ApiError> {
    let need = |what: &str| ApiError::bad_request(format!("--scope {scope} needs {what}"));
    Ok(match scope {
        "org" => (org.id.clone(), format!("org/{}", org.name)),
        "env" => {
            if target.is_empty() {
                return Err(need("--env ENV"));
            }
            (s.deps.store.env_by_name(&org.id, target).await?.id, format!("env/{target}"))
        }
        "connection" => {
            if target.is_empty() {
                return Err(need("--connection NAME"));
            }
            (s.deps.store.connection_by_name(&org.id, target).await?.id, format!("connection/{target}"))
        }
        "resource" => {
            if target.is_empty() {
                return Err(need("--resource org/env/Kind/name"));
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

pub async fn create_grant(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Body(b): Body<GrantBody>,
) -> Result<Response, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "grant.create").await?;
    let role = Role::parse(&b.role)
        .ok_or_else(|| ApiError::bad_request(format!("unknown role {:?}: use viewer, operator or admin", b.role)))?;
    let p = s.deps.store.principal_by_name(&org.id, &b.principal).await?;
    may_manage(&who, &p, "grant.create")?;
    let (id, display) = scope_id(&s, &org, &b.scope, &b.target).await?;
    let g = s.deps.store.put_grant(&p.id, &b.scope, &id, role).await?;
    Ok(created(json!({"id": g.id, "principal": p.name, "scope": display, "role": g.role})))
}

pub async fn list_grants(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Query(q): Query<PrincipalQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "grant.list").await?;
    let principals = s.deps.store.list_principals(&org.id).await?;
    let ids: Vec<String> =
        principals.iter().filter(|p| q.principal.as_ref().is_none_or(|n| &p.name == n)).map(|p| p.id.clone()).collect();
    let grants = s.deps.store.grants_of_many(&ids).await?;
    let mut out = Vec::new();
    for g in grants {
        let who = principals.iter().find(|p| p.id == g.principal_id).map(|p| p.name.clone()).unwrap_or_default();
        let target = grant_target(&s.deps, &g).await;
        out.push(json!({"id": g.id, "principal": who, "scope": g.scope_kind, "target": target, "role": g.role, "created_at": g.created_at}));
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

// ---------------------------------------------------------------------- connections

pub fn connection_json(c: &connection::Model, runner_name: Option<&str>) -> Value {
    let settings: Value = serde_json::from_str(&c.settings).unwrap_or_else(|_| json!({}));
    json!({"id": c.id, "name": c.name, "provider": c.provider, "runner": runner_name, "context": c.kube_context,
           "settings": settings, "created_at": c.created_at})
}

async fn runner_name(s: &AppState, c: &connection::Model) -> Option<String> {
    match &c.runner_id {
        Some(id) => s.deps.store.runner_by_id(id).await.ok().flatten().map(|r| r.name),
        None => None,
    }
}

pub async fn get_connection(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let c = s.deps.store.connection_by_name(&org.id, &name).await?;
    crate::visibility::authorize_connection_read(&s.deps, &who, &org.id, &c, "connection.get").await?;
    let rn = runner_name(&s, &c).await;
    Ok(Json(connection_json(&c, rn.as_deref())))
}

pub async fn delete_connection(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "connection.delete").await?;
    s.deps.store.delete_connection(&org.id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EnvBody {
    #[serde(default)]
    env: Option<String>,
}

pub async fn set_default_connection(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
    Body(b): Body<EnvBody>,
) -> Result<Json<Value>, ApiError> {
    let env = match b.env.as_deref().filter(|e| !e.is_empty()) {
        Some(e) => Some(s.deps.store.env_by_name(&org.id, e).await?),
        None => None,
    };
    match &env {
        Some(e) => authorize_admin_in_env(&s.deps, &who, &org.id, &e.id, "connection.set-default").await?,
        None => authorize_admin(&s.deps, &who, &org.id, "connection.set-default").await?,
    }
    let c = s.deps.store.connection_by_name(&org.id, &name).await?;
    // Binding a connection widens what the env's grants cover: it needs admin on the
    // connection itself (or the org), not only on the env.
    authorize_admin_on_connection(&s.deps, &who, &org.id, &c, "connection.set-default").await?;
    s.deps.store.set_default_connection(&org.id, env.as_ref().map_or("", |e| e.id.as_str()), &c).await?;
    Ok(Json(
        json!({"connection": c.name, "provider": c.provider, "scope": env.map_or_else(|| format!("org/{}", org.name), |e| format!("env/{}", e.name))}),
    ))
}

#[derive(Deserialize)]
pub struct DefaultConnectionQuery {
    provider: String,
    #[serde(default)]
    env: Option<String>,
}

/// The effective default, with the resolution shown: env → org.
pub async fn get_default_connection(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Query(q): Query<DefaultConnectionQuery>,
) -> Result<Json<Value>, ApiError> {
    if !cloudops_store::PROVIDERS.contains(&q.provider.as_str()) {
        return Err(ApiError::bad_request(format!(
            "unknown provider {:?}: use one of {}",
            q.provider,
            cloudops_store::PROVIDERS.join(", ")
        )));
    }
    let visible = Visibility::of(&s.deps, &who, &org.id).await?;
    let mut chain = Vec::new();
    let mut effective = None;
    if let Some(e) = q.env.as_deref().filter(|e| !e.is_empty()) {
        let env = s.deps.store.env_by_name(&org.id, e).await?;
        if !visible.env(&env.id) {
            return Err(ApiError::new(v1::ErrorCode::NotFound, format!("env {e:?} not found")));
        }
        let c = s.deps.store.default_connection(&org.id, &env.id, &q.provider).await?;
        chain.push(json!({"level": format!("env/{e}"), "connection": c.as_ref().map(|c| c.name.clone())}));
        effective = c.map(|c| (c, format!("env/{e}")));
    }
    if !visible.everything() && effective.is_none() {
        return Err(ApiError::new(
            v1::ErrorCode::PermissionDenied,
            format!(
                "the org's default connection needs a grant on org {:?}; name an env you have access to with --env",
                org.name
            ),
        ));
    }
    let c = s.deps.store.default_connection(&org.id, "", &q.provider).await?;
    chain.push(json!({"level": format!("org/{}", org.name), "connection": c.as_ref().map(|c| c.name.clone())}));
    if effective.is_none() {
        effective = c.map(|c| (c, format!("org/{}", org.name)));
    }
    Ok(Json(json!({
        "provider": q.provider,
        "connection": effective.as_ref().map(|(c, _)| c.name.clone()),
        "from": effective.map(|(_, l)| l),
        "chain": chain,
    })))
}

// ---------------------------------------------------------------------- catalog

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    kind: String,
    metadata: ManifestMetadata,
    spec: ManifestSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestMetadata {
    #[serde(default)]
    org: Option<String>,
    env: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestSpec {
    connection: String,
    namespace: String,
}

fn resource_json(r: &cloud_resource::Model, org: &str, env: &str, conn: &str) -> Value {
    json!({
        "path": format!("{org}/{env}/{}/{}", r.kind, r.name),
        "kind": r.kind,
        "metadata": {"org": org, "env": env, "name": r.name},
        "spec": {"connection": conn, "namespace": r.namespace},
        "created_at": r.created_at,
        "updated_at": r.updated_at,
    })
}

#[derive(Deserialize, Default)]
pub struct DryRunQuery {
    #[serde(default)]
    dry_run: bool,
}

pub async fn apply_resource(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Query(q): Query<DryRunQuery>,
    Body(m): Body<Manifest>,
) -> Result<Response, ApiError> {
    if let Some(o) = m.metadata.org.as_deref().filter(|o| *o != org.name) {
        return Err(ApiError::bad_request(format!("manifest metadata.org {o:?} does not match org {:?}", org.name)));
    }
    let env = s.deps.store.env_by_name(&org.id, &m.metadata.env).await?;
    authorize_admin_in_env(&s.deps, &who, &org.id, &env.id, "resource.apply").await?;
    let conn = s.deps.store.connection_by_name(&org.id, &m.spec.connection).await?;
    // A catalog entry opens its connection to the env's grants: admin on the connection too.
    authorize_admin_on_connection(&s.deps, &who, &org.id, &conn, "resource.apply").await?;
    if conn.provider != "kubernetes" {
        return Err(ApiError::bad_request(format!(
            "{} needs a kubernetes connection; {:?} is {}",
            m.kind, conn.name, conn.provider
        )));
    }
    if q.dry_run {
        cloudops_store::check_resource(&m.kind, &m.metadata.name, &m.spec.namespace)?;
        let path = format!("{}/{}/{}/{}", org.name, env.name, m.kind, m.metadata.name);
        return Ok(Json(json!({"path": path, "result": "valid (dry run)"})).into_response());
    }
    let (r, was_created) =
        s.deps.store.apply_resource(&org.id, &env.id, &m.kind, &m.metadata.name, &conn.id, &m.spec.namespace).await?;
    let mut v = resource_json(&r, &org.name, &env.name, &conn.name);
    v["result"] = json!(if was_created { "created" } else { "configured" });
    Ok((if was_created { StatusCode::CREATED } else { StatusCode::OK }, Json(v)).into_response())
}

#[derive(Deserialize, Default)]
pub struct EnvQuery {
    #[serde(default)]
    env: Option<String>,
}

pub async fn list_resources(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Query(q): Query<EnvQuery>,
) -> Result<Json<Value>, ApiError> {
    let visible = Visibility::of(&s.deps, &who, &org.id).await?;
    let env = match q.env.as_deref().filter(|e| !e.is_empty()) {
        Some(e) => Some(s.deps.store.env_by_name(&org.id, e).await?),
        None => None,
    };
    let envs = s.deps.store.list_envs(&org.id).await?;
    let conns = s.deps.store.list_connections(&org.id).await?;
    let mut rs = s.deps.store.list_resources(&org.id, env.as_ref().map(|e| e.id.as_str())).await?;
    rs.retain(|r| visible.resource(r));
    audit_read(&s.deps, &who, &org.id, "resource.list", format!("{} visible", rs.len())).await;
    Ok(items(
        rs.iter()
            .map(|r| {
                let en = envs.iter().find(|e| e.id == r.env_id).map_or("", |e| e.name.as_str());
                let cn = conns.iter().find(|c| c.id == r.connection_id).map_or("", |c| c.name.as_str());
                resource_json(r, &org.name, en, cn)
            })
            .collect(),
    ))
}

async fn find_resource(
    s: &AppState,
    org: &cloudops_store::org::Model,
    env: &str,
    kind: &str,
    name: &str,
) -> Result<(cloud_resource::Model, String), ApiError> {
    let e = s.deps.store.env_by_name(&org.id, env).await?;
    let r = s.deps.store.find_resource(&org.id, &e.id, kind, name).await?.ok_or_else(|| {
        ApiError::new(v1::ErrorCode::NotFound, format!("cloud resource \"{}/{env}/{kind}/{name}\" not found", org.name))
    })?;
    Ok((r, e.id))
}

pub async fn get_resource(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, env, kind, name)): Path<(String, String, String, String)>,
) -> Result<Json<Value>, ApiError> {
    let (r, _) = find_resource(&s, &org, &env, &kind, &name).await?;
    let path = format!("{}/{env}/{kind}/{name}", org.name);
    if !Visibility::of(&s.deps, &who, &org.id).await?.resource(&r) {
        // Hidden looks missing: no probing of the catalog.
        return Err(ApiError::new(v1::ErrorCode::NotFound, format!("cloud resource {path:?} not found")));
    }
    audit_read(&s.deps, &who, &org.id, "resource.get", path).await;
    let c = s.deps.store.connection_by_id(&r.connection_id).await?.map(|c| c.name).unwrap_or_default();
    Ok(Json(resource_json(&r, &org.name, &env, &c)))
}

pub async fn delete_resource(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, env, kind, name)): Path<(String, String, String, String)>,
) -> Result<StatusCode, ApiError> {
    let (r, env_id) = find_resource(&s, &org, &env, &kind, &name).await?;
    authorize_admin_in_env(&s.deps, &who, &org.id, &env_id, "resource.delete").await?;
    s.deps.store.delete_resource(r).await?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------- runners

#[derive(Deserialize, Default)]
pub struct RunnerQuery {
    /// org (default), all, or platform
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    platform: bool,
}

pub fn runner_json(r: &runner::Model, org_name: Option<&str>) -> Value {
    let connected = r.last_seen_at.is_some_and(|t| cloudops_store::now() - t < chrono::Duration::seconds(30));
    json!({"id": r.id, "name": r.name, "org": org_name, "platform": r.org_id.is_none(), "generation": r.generation,
           "revoked": r.revoked, "connected": connected, "last_seen_at": r.last_seen_at, "version": r.version,
           "cert_fingerprint": r.cert_fingerprint, "created_at": r.created_at})
}

pub async fn list_runners(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Query(q): Query<RunnerQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "runner.list").await?;
    let scope = q.scope.as_deref().unwrap_or("org");
    let mut out = Vec::new();
    if matches!(scope, "org" | "all") {
        out.extend(s.deps.store.list_runners(&org.id).await?.iter().map(|r| runner_json(r, Some(&org.name))));
    }
    if matches!(scope, "platform" | "all") {
        out.extend(s.deps.store.list_platform_runners().await?.iter().map(|r| runner_json(r, None)));
    }
    if !matches!(scope, "org" | "all" | "platform") {
        return Err(ApiError::bad_request(format!("unknown scope {scope:?}: use org, all or platform")));
    }
    Ok(items(out))
}

async fn runner_in(
    s: &AppState,
    org: &cloudops_store::org::Model,
    name: &str,
    platform: bool,
) -> Result<runner::Model, ApiError> {
    let r = if platform {
        s.deps.store.find_platform_runner(name).await?
    } else {
        s.deps.store.find_runner(&org.id, name).await?
    };
    r.ok_or_else(|| {
        ApiError::new(
            v1::ErrorCode::NotFound,
            if platform {
                format!("platform runner {name:?} not found")
            } else {
                format!("runner {name:?} not found in org {:?}", org.name)
            },
        )
    })
}

pub async fn get_runner(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
    Query(q): Query<RunnerQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "runner.get").await?;
    let r = runner_in(&s, &org, &name, q.platform).await?;
    Ok(Json(runner_json(&r, (!q.platform).then_some(org.name.as_str()))))
}

async fn authorize_runner_admin(
    s: &AppState,
    who: &Authenticated,
    org_id: &str,
    platform: bool,
    op: &str,
) -> Result<(), ApiError> {
    if platform {
        platform_only(who, op)?;
    }
    authorize_admin(&s.deps, who, org_id, op).await
}

/// Mints credentials for the runner (registering it when new); `regenerate` first bumps the
/// generation, revoking earlier keys and cutting live tunnels.
pub async fn issue_credentials(
    s: &AppState,
    who: &Authenticated,
    org: &cloudops_store::org::Model,
    name: &str,
    platform: bool,
    regenerate: bool,
) -> Result<Response, ApiError> {
    let op = if regenerate { "runner.regenerate-credentials" } else { "runner.generate-credentials" };
    authorize_runner_admin(s, who, &org.id, platform, op).await?;
    let mut runner = if regenerate {
        runner_in(s, org, name, platform).await?
    } else {
        s.deps.store.ensure_runner((!platform).then_some(org.id.as_str()), &org.id, name).await?
    };
    let id = RunnerId::parse(runner.id.clone()).map_err(|e| ApiError::new(v1::ErrorCode::Internal, e.to_string()))?;
    if regenerate {
        runner = s.deps.store.regenerate_runner(&runner.id).await?;
        s.deps.tunnels.cut(&id).await;
    }
    // Its account on the hub, and its stream, before it can connect.
    s.deps.tunnels.prepare(&id).await.map_err(ApiError::unavailable)?;
    let generation = runner.generation as u32;
    let cert = s.deps.issuer.issue_runner(&id, generation).map_err(|e| ApiError::new(v1::ErrorCode::Internal, e))?;
    let key = s.deps.store.record_runner_credentials(&runner.id, &cert.fingerprint).await?;
    let creds = RunnerCredentials {
        version: cloudops_schemas::CREDENTIALS_VERSION,
        org_id: org.id.clone(),
        org: org.name.clone(),
        runner_id: runner.id,
        runner_name: runner.name,
        generation,
        control_plane_endpoint: s.deps.config.public_endpoint.clone(),
        api_key: key.raw,
        tunnel: TunnelCredentials {
            leaf_url: s.deps.config.leaf_url.clone(),
            ca_cert_pem: cert.ca_pem,
            cert_pem: cert.cert_pem,
            key_pem: cert.key_pem,
        },
    };
    Ok((StatusCode::CREATED, [(header::CACHE_CONTROL, "no-store")], Json(creds)).into_response())
}

pub async fn generate_credentials(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
    Query(q): Query<RunnerQuery>,
) -> Result<Response, ApiError> {
    issue_credentials(&s, &who, &org, &name, q.platform, false).await
}

pub async fn regenerate_credentials(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
    Query(q): Query<RunnerQuery>,
) -> Result<Response, ApiError> {
    issue_credentials(&s, &who, &org, &name, q.platform, true).await
}

pub async fn delete_runner(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
    Query(q): Query<RunnerQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize_runner_admin(&s, &who, &org.id, q.platform, "runner.delete").await?;
    let r = runner_in(&s, &org, &name, q.platform).await?;
    let r = s.deps.store.delete_runner(&r.id).await?;
    let cut = match RunnerId::parse(r.id.clone()) {
        Ok(id) => {
            let cut = s.deps.tunnels.cut(&id).await;
            s.deps.tunnels.removed(&id).await;
            cut
        }
        Err(_) => 0,
    };
    Ok(Json(json!({"deleted": r.name, "tunnels_cut": cut})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultRunnerBody {
    runner: String,
    #[serde(default)]
    platform: bool,
}

pub async fn set_default_runner(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Body(b): Body<DefaultRunnerBody>,
) -> Result<Json<Value>, ApiError> {
    authorize_runner_admin(&s, &who, &org.id, b.platform, "runner.set-default").await?;
    let r = if b.platform {
        runner_in(&s, &org, &b.runner, true).await?
    } else {
        s.deps.store.runner_visible(&org.id, &b.runner).await?
    };
    // Putting an org on a platform runner is the platform operator's call.
    if !b.platform && r.org_id.is_none() {
        platform_only(&who, &format!("making platform runner {:?} an org's default", r.name))?;
    }
    s.deps.store.set_default_runner((!b.platform).then_some(org.id.as_str()), &r.id).await?;
    Ok(Json(
        json!({"runner": r.name, "scope": if b.platform { "platform".to_string() } else { format!("org/{}", org.name) }}),
    ))
}

pub async fn get_default_runner(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Query(q): Query<RunnerQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "runner.get-default").await?;
    let platform = s.deps.store.default_runner(None).await?;
    if q.platform {
        return Ok(Json(json!({"runner": platform.map(|r| r.name), "from": "platform", "chain": []})));
    }
    let org_default = s.deps.store.default_runner(Some(&org.id)).await?;
    let chain = json!([
        {"level": format!("org/{}", org.name), "runner": org_default.as_ref().map(|r| r.name.clone())},
        {"level": "platform", "runner": platform.as_ref().map(|r| r.name.clone())},
    ]);
    let (runner, from) = match (org_default, platform) {
        (Some(r), _) => (Some(r.name), Some(format!("org/{}", org.name))),
        (None, Some(p)) => (Some(p.name), Some("platform".into())),
        (None, None) => (None, None),
    };
    Ok(Json(json!({"runner": runner, "from": from, "chain": chain})))
}

pub async fn unset_default_runner(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Query(q): Query<RunnerQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize_runner_admin(&s, &who, &org.id, q.platform, "runner.unset-default").await?;
    let removed = s.deps.store.unset_default_runner((!q.platform).then_some(org.id.as_str())).await?;
    Ok(Json(json!({"removed": removed})))
}

// ---------------------------------------------------------------------- audit

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    principal: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
}

/// `10m`, `2h`, `1d`, or an RFC 3339 time.
pub fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let bad =
        || ApiError::bad_request(format!("invalid --since {s:?}: use a duration like 10m, 2h, 1d or an RFC 3339 time"));
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = n.parse().map_err(|_| bad())?;
    // Checked: a huge number is refused, never a panic.
    let d = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => return Err(bad()),
    }
    .ok_or_else(bad)?;
    chrono::Utc::now().checked_sub_signed(d).ok_or_else(bad)
}

pub async fn list_audit(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "audit.list").await?;
    let decision = match q.outcome.as_deref() {
        None | Some("") => None,
        Some(d @ ("allowed" | "denied")) => Some(d.to_string()),
        Some(other) => return Err(ApiError::bad_request(format!("unknown outcome {other:?}: use allowed or denied"))),
    };
    let f = cloudops_store::AuditFilter {
        since: q.since.as_deref().map(parse_since).transpose()?,
        principal: q.principal,
        decision,
        limit: q.limit.unwrap_or(100).min(10_000),
    };
    let rows = s.deps.store.audit_list(&org.id, &f).await?;
    Ok(items(
        rows.into_iter()
            .map(|r| json!({"id": r.id, "at": r.at, "principal": r.principal_name, "mode": r.mode, "target": r.target, "op": r.op,
                            "verb": r.verb, "decision": r.decision, "reason": r.reason, "result": r.result, "latency_us": r.latency_us}))
            .collect(),
    ))
}

// ---------------------------------------------------------------------- exec sessions

#[derive(Deserialize, Default)]
pub struct SessionsQuery {
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    principal: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
}

fn session_json(r: &cloudops_store::exec_session::Model) -> Value {
    let command: Value = serde_json::from_str(&r.command).unwrap_or(Value::Null);
    json!({"id": r.id, "principal": r.principal_name, "target": r.target, "namespace": r.namespace, "pod": r.pod,
           "container": r.container, "command": command, "tty": r.tty, "started_at": r.started_at,
           "ended_at": r.ended_at, "end": r.end, "exit_code": r.exit_code, "total_bytes": r.total_bytes,
           "recorded_bytes": r.recorded_bytes, "truncated": r.truncated})
}

/// Exec sessions, newest first: who ran what where, and how it ended.
pub async fn list_sessions(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Query(q): Query<SessionsQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "audit.sessions").await?;
    let f = cloudops_store::SessionFilter {
        since: q.since.as_deref().map(parse_since).transpose()?,
        principal: q.principal,
        limit: q.limit.unwrap_or(100).min(10_000),
    };
    let rows = s.deps.store.exec_sessions(&org.id, &f).await?;
    Ok(items(rows.iter().map(session_json).collect()))
}

/// One exec session with its recording: `frames` are `[ms since start, "i"|"o"|"e", base64]`.
pub async fn get_session(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "audit.replay").await?;
    let row = s.deps.store.exec_session(&org.id, &id).await?;
    let mut v = session_json(&row);
    let frames: Vec<Value> =
        row.recording.as_deref().unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    v["frames"] = Value::Array(frames);
    Ok(Json(v))
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Catalog manifests from request bodies: parsed, or refused with serde's message; the
        /// fields that matter are checked further by the store.
        #[test]
        fn manifests_of_any_shape_never_panic(kind in ".{0,20}", env in ".{0,20}", extra in prop::bool::ANY) {
            let mut v = serde_json::json!({"kind": kind, "metadata": {"env": env, "name": "n"}, "spec": {"connection": "c", "namespace": "ns"}});
            if extra {
                v["spec"]["unknown"] = serde_json::json!(1);
            }
            let parsed = serde_json::from_value::<Manifest>(v);
            prop_assert_eq!(parsed.is_err(), extra);
        }

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
