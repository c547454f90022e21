//! Connections and their defaults. Binding one widens what grants cover, so it needs admin on it.

use std::collections::BTreeMap;

use super::*;

// ---------------------------------------------------------------------- connections

pub fn connection_json(c: &connection::Model, runner_name: Option<&str>) -> Value {
    let settings: Value = serde_json::from_str(&c.settings).unwrap_or_else(|_| json!({}));
    json!({"id": c.id, "name": c.name, "provider": c.provider, "runner": runner_name, "context": c.kube_context,
           "settings": settings, "secrets": cloudops_store::secret_refs(c), "created_at": c.created_at})
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectionBody {
    name: String,
    provider: String,
    #[serde(default)]
    runner: Option<String>,
    #[serde(default)]
    context: Option<String>,
    /// Non-secret provider settings (aws: profile, region, endpoint_url; gcp: project, zone,
    /// endpoint_url; azure: subscription, resource_group, account, endpoint_url).
    #[serde(default)]
    settings: BTreeMap<String, String>,
    /// Settings taken from the org's secrets: key → secret name (aws: role_arn, external_id).
    #[serde(default)]
    secrets: BTreeMap<String, String>,
}

pub(crate) async fn create_connection(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Body(b): Body<CreateConnectionBody>,
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
                "--set {key}: endpoint overrides redirect the runner's cloud credentials, so only a platform operator may set them (or configure them in the runner's environment)"
            ),
        ));
    }
    if b.context.is_some() && b.provider != "kubernetes" {
        return Err(ApiError::bad_request("--context applies to kubernetes connections only"));
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
    Ok((StatusCode::CREATED, axum::Json(crate::admin::connection_json(&c, runner.as_ref().map(|r| r.name.as_str()))))
        .into_response())
}

pub(crate) async fn list_connections(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
) -> Result<axum::Json<Value>, ApiError> {
    let visible = crate::visibility::Visibility::of(&s.deps, &who, &org.id).await?;
    let mut runners = s.deps.store.list_runners(&org.id).await?;
    runners.extend(s.deps.store.list_platform_runners().await?);
    let mut items = Vec::new();
    for c in s.deps.store.list_connections(&org.id).await? {
        if !visible.connection_in_store(&s.deps, &c).await? {
            continue;
        }
        let rn = c.runner_id.as_ref().and_then(|id| runners.iter().find(|r| &r.id == id)).map(|r| r.name.as_str());
        items.push(crate::admin::connection_json(&c, rn));
    }
    crate::visibility::audit_read(&s.deps, &who, &org.id, "connection.list", format!("{} visible", items.len()))
        .await?;
    Ok(axum::Json(json!({"items": items})))
}
