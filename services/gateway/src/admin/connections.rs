//! Connections and their defaults. Binding one widens what grants cover, so it needs admin on it.

use super::*;

// ---------------------------------------------------------------------- connections

pub fn connection_out(c: &connection::Model, runner_name: Option<&str>) -> api::Connection {
    api::Connection {
        id: c.id.clone(),
        name: c.name.clone(),
        provider: c.provider.clone(),
        runner: runner_name.map(str::to_string),
        context: c.kube_context.clone(),
        settings: serde_json::from_str(&c.settings).unwrap_or_default(),
        secrets: cloudops_store::secret_refs(c),
        created_at: c.created_at,
    }
}

async fn runner_name(s: &AppState, c: &connection::Model) -> Option<String> {
    match &c.runner_id {
        Some(id) => s.deps.store.runner_by_id(id).await.ok().flatten().map(|r| r.name),
        None => None,
    }
}

#[utoipa::path(get, path = "/v1/orgs/{org}/connections/{name}", tag = "connections", responses((status = 200, body = api::Connection)))]
pub async fn get_connection(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
) -> Result<Json<api::Connection>, ApiError> {
    let c = s.deps.store.connection_by_name(&org.id, &name).await?;
    crate::visibility::authorize_connection_read(&s.deps, &who, &org.id, &c, "connection.get").await?;
    let rn = runner_name(&s, &c).await;
    Ok(Json(connection_out(&c, rn.as_deref())))
}

#[utoipa::path(delete, path = "/v1/orgs/{org}/connections/{name}", tag = "connections", responses((status = 204, description = "Deleted")))]
pub async fn delete_connection(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "connection.delete").await?;
    s.deps.store.delete_connection(&org.id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/orgs/{org}/connections/{name}/default", tag = "connections", request_body = api::EnvBody, responses((status = 200, body = api::DefaultConnectionSet)))]
pub async fn set_default_connection(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
    Body(b): Body<api::EnvBody>,
) -> Result<Json<api::DefaultConnectionSet>, ApiError> {
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
    Ok(Json(api::DefaultConnectionSet {
        connection: c.name,
        provider: c.provider,
        scope: env.map_or_else(|| format!("org/{}", org.name), |e| format!("env/{}", e.name)),
    }))
}

/// The effective default, with the resolution shown: env → org.
#[utoipa::path(get, path = "/v1/orgs/{org}/default-connection", tag = "connections", params(api::DefaultConnectionQuery), responses((status = 200, body = api::DefaultConnection)))]
pub async fn get_default_connection(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Params(q): Params<api::DefaultConnectionQuery>,
) -> Result<Json<api::DefaultConnection>, ApiError> {
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
        chain.push(api::DefaultConnectionLevel {
            level: format!("env/{e}"),
            connection: c.as_ref().map(|c| c.name.clone()),
        });
        effective = c.map(|c| (c, format!("env/{e}")));
    }
    if !visible.everything() && effective.is_none() {
        return Err(ApiError::new(
            v1::ErrorCode::PermissionDenied,
            format!("the org's default connection needs a grant on org {:?}; name an env you have access to", org.name),
        ));
    }
    let c = s.deps.store.default_connection(&org.id, "", &q.provider).await?;
    chain.push(api::DefaultConnectionLevel {
        level: format!("org/{}", org.name),
        connection: c.as_ref().map(|c| c.name.clone()),
    });
    if effective.is_none() {
        effective = c.map(|c| (c, format!("org/{}", org.name)));
    }
    Ok(Json(api::DefaultConnection {
        provider: q.provider,
        connection: effective.as_ref().map(|(c, _)| c.name.clone()),
        from: effective.map(|(_, l)| l),
        chain,
    }))
}

#[utoipa::path(post, path = "/v1/orgs/{org}/connections", tag = "connections", request_body = api::CreateConnection, responses((status = 201, body = api::Connection)))]
pub(crate) async fn create_connection(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Body(b): Body<api::CreateConnection>,
) -> Result<Response, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "connection.create").await?;
    let runner = match &b.runner {
        Some(name) if !name.is_empty() => Some(s.deps.store.runner_visible(&org.id, name).await?),
        _ => None,
    };
    // A platform runner serves an org only where a platform operator put it; a tenant cannot
    // point its connections at one (nor pick contexts or profiles on it).
    if runner.as_ref().is_some_and(|r| r.org_id.is_none()) && !who.principal.platform_operator {
        return Err(ApiError::new(
            v1::ErrorCode::PermissionDenied,
            format!(
                "runner {:?} is a platform runner: binding a connection to it needs a platform operator (the platform default runner serves orgs without one)",
                b.runner.as_deref().unwrap_or_default()
            ),
        ));
    }
    // Where a runner sends its cloud credentials is not a tenant's choice: endpoint overrides
    // are set by platform operators (or in the runner's own environment).
    if let Some(key) = b.settings.keys().find(|k| k.contains("endpoint"))
        && !who.principal.platform_operator
    {
        return Err(ApiError::new(
            v1::ErrorCode::PermissionDenied,
            format!(
                "setting {key}: endpoint overrides redirect the runner's cloud credentials, so only a platform operator may set them (or configure them in the runner's environment)"
            ),
        ));
    }
    if b.context.is_some() && b.provider != "kubernetes" {
        return Err(ApiError::bad_request("a context applies to kubernetes connections only"));
    }
    let c = s
        .deps
        .store
        .create_connection(
            &org.id,
            cloudops_store::NewConnection {
                name: b.name,
                provider: b.provider,
                runner_id: runner.as_ref().map(|r| r.id.clone()),
                kube_context: b.context.filter(|c| !c.is_empty()),
                settings: b.settings,
                secret_refs: b.secrets,
            },
        )
        .await?;
    Ok(super::created(connection_out(&c, runner.as_ref().map(|r| r.name.as_str()))))
}

#[utoipa::path(get, path = "/v1/orgs/{org}/connections", tag = "connections", responses((status = 200, body = api::Items<api::Connection>)))]
pub(crate) async fn list_connections(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
) -> Result<Json<api::Items<api::Connection>>, ApiError> {
    let visible = crate::visibility::Visibility::of(&s.deps, &who, &org.id).await?;
    let mut runners = s.deps.store.list_runners(&org.id).await?;
    runners.extend(s.deps.store.list_platform_runners().await?);
    let mut items = Vec::new();
    for c in s.deps.store.list_connections(&org.id).await? {
        if !visible.connection_in_store(&s.deps, &c).await? {
            continue;
        }
        let rn = c.runner_id.as_ref().and_then(|id| runners.iter().find(|r| &r.id == id)).map(|r| r.name.as_str());
        items.push(connection_out(&c, rn));
    }
    crate::visibility::audit_read(&s.deps, &who, &org.id, "connection.list", format!("{} visible", items.len()))
        .await?;
    Ok(super::items(items))
}
