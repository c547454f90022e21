//! The org's secrets (`planton secret set|list|delete`): set and listed by org admins, their
//! values never shown to anyone; and the lookup a runner makes, with its own API key, of the
//! secrets a connection it serves references (seed 002: "secret and variable resolution at
//! runtime"). A regenerated or deleted runner's key is refused at once, here as everywhere.

use axum::http::{HeaderMap, Method};

use super::*;
use crate::{routes::authenticate, visibility::audit_denied};

fn secret_out(s: cloudops_store::secret::Model, used_by: Vec<String>) -> api::Secret {
    api::Secret { name: s.name, created_at: s.created_at, updated_at: s.updated_at, used_by }
}

#[utoipa::path(put, path = "/v1/orgs/{org}/secrets/{name}", tag = "connections", request_body = api::SecretBody, responses((status = 200, description = "Updated", body = api::Secret), (status = 201, description = "Created", body = api::Secret)))]
pub async fn put_secret(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
    Body(b): Body<api::SecretBody>,
) -> Result<Response, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "secret.set").await?;
    let (row, was_created) = s.deps.store.put_secret(&s.deps.secrets, &org.id, &name, b.value.as_bytes()).await?;
    let used_by = s.deps.store.connections_using_secret(&org.id, &name).await?;
    let body = secret_out(row, used_by);
    Ok(if was_created { created(body) } else { Json(body).into_response() })
}

#[utoipa::path(get, path = "/v1/orgs/{org}/secrets", tag = "connections", responses((status = 200, body = api::Items<api::Secret>)))]
pub async fn list_secrets(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
) -> Result<Json<api::Items<api::Secret>>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "secret.list").await?;
    let connections = s.deps.store.list_connections(&org.id).await?;
    let mut out = Vec::new();
    for sec in s.deps.store.list_secrets(&org.id).await? {
        let used_by = connections
            .iter()
            .filter(|c| cloudops_store::secret_refs(c).values().any(|n| *n == sec.name))
            .map(|c| c.name.clone())
            .collect();
        out.push(secret_out(sec, used_by));
    }
    Ok(items(out))
}

#[utoipa::path(delete, path = "/v1/orgs/{org}/secrets/{name}", tag = "connections", responses((status = 204, description = "Deleted")))]
pub async fn delete_secret(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "secret.delete").await?;
    s.deps.store.delete_secret(&org.id, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/runner/connections/{id}/secrets`: the values of the connection's secret
/// references, for the runner that serves it (the connection's runner, else its org's default
/// runner, else the platform's) and no one else. Every lookup is audited in the connection's org.
#[utoipa::path(get, path = "/v1/runner/connections/{id}/secrets", tag = "runners", params(("id" = String, Path, description = "The connection's id")), responses((status = 200, description = "For the runner that serves the connection, with its own key", body = api::RunnerSecretValues)))]
pub async fn runner_connection_secrets(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path(connection_id): Path<String>,
) -> Result<Response, ApiError> {
    let who = authenticate(&s.deps, &Method::GET, &headers).await?;
    let Some(runner_id) = who.principal.runner_id.clone() else {
        return Err(ApiError::new(
            v1::ErrorCode::PermissionDenied,
            "this endpoint serves runners, with their own API key; a connection's secrets are never shown to people",
        ));
    };
    // Not found and not served by this runner read the same: a runner learns nothing of other
    // runners' connections.
    let not_yours =
        || ApiError::new(v1::ErrorCode::NotFound, format!("no connection {connection_id:?} is served by this runner"));
    let c = match s.deps.store.connection_by_id(&connection_id).await? {
        Some(c) if serving_runner(&s.deps.store, &c).await?.as_deref() == Some(runner_id.as_str()) => c,
        _ => {
            // Recorded in the runner's own org: a runner probing connections leaves a trace.
            let reason = format!("connection {connection_id:?}: not served by this runner");
            audit_denied(&s.deps, &who, &who.principal.org_id, "secret.resolve", reason).await?;
            return Err(not_yours());
        }
    };
    let values = s.deps.store.reveal_secret_refs(&s.deps.secrets, &c).await?;
    let keys: Vec<&str> = values.keys().map(String::as_str).collect();
    audit_read(&s.deps, &who, &c.org_id, "secret.resolve", format!("connection {}: {}", c.name, keys.join(", ")))
        .await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(api::RunnerSecretValues { connection: c.name, values }))
        .into_response())
}

/// The runner that serves `c`, by the resolver's rule (`store::choose_runner`): the connection's
/// own, else the org's default runner, else the platform default (which serves no connection
/// that picks a role of its own).
async fn serving_runner(store: &cloudops_store::Store, c: &connection::Model) -> Result<Option<String>, ApiError> {
    let own = match &c.runner_id {
        Some(id) => store.runner_by_id(id).await?,
        None => None,
    };
    let org_default = store.default_runner(Some(&c.org_id)).await?;
    let platform_default = store.default_runner(None).await?;
    let chosen = cloudops_store::choose_runner(c, own.as_ref(), || org_default.as_ref(), || platform_default.as_ref());
    Ok(chosen.ok().map(|r| r.id.clone()))
}
