//! The catalog: cloud resources `org/env/Kind/name` → connection + namespace.

use super::*;

// ---------------------------------------------------------------------- catalog

fn resource_out(r: &cloud_resource::Model, org: &str, env: &str, conn: &str) -> api::CloudResource {
    api::CloudResource {
        path: format!("{org}/{env}/{}/{}", r.kind, r.name),
        kind: r.kind.clone(),
        metadata: api::ResourceMetadata { org: org.into(), env: env.into(), name: r.name.clone() },
        spec: api::ResourceSpec { connection: conn.into(), namespace: r.namespace.clone() },
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

#[utoipa::path(post, path = "/v1/orgs/{org}/resources", tag = "catalog", params(api::DryRunQuery), request_body = api::Manifest, responses((status = 200, description = "Configured (or, with dry_run, valid)", body = api::AppliedResource), (status = 201, description = "Created", body = api::AppliedResource)))]
pub async fn apply_resource(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Params(q): Params<api::DryRunQuery>,
    Body(m): Body<api::Manifest>,
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
        return Ok(Json(api::ResourceDryRun { path, result: "valid (dry run)".into() }).into_response());
    }
    let (r, was_created) =
        s.deps.store.apply_resource(&org.id, &env.id, &m.kind, &m.metadata.name, &conn.id, &m.spec.namespace).await?;
    let v = api::AppliedResource {
        resource: resource_out(&r, &org.name, &env.name, &conn.name),
        result: if was_created { "created" } else { "configured" }.into(),
    };
    Ok((if was_created { StatusCode::CREATED } else { StatusCode::OK }, Json(v)).into_response())
}

#[utoipa::path(get, path = "/v1/orgs/{org}/resources", tag = "catalog", params(api::EnvQuery), responses((status = 200, body = api::Items<api::CloudResource>)))]
pub async fn list_resources(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Params(q): Params<api::EnvQuery>,
) -> Result<Json<api::Items<api::CloudResource>>, ApiError> {
    let visible = Visibility::of(&s.deps, &who, &org.id).await?;
    let env = match q.env.as_deref().filter(|e| !e.is_empty()) {
        Some(e) => Some(s.deps.store.env_by_name(&org.id, e).await?),
        None => None,
    };
    let envs = s.deps.store.list_envs(&org.id).await?;
    let conns = s.deps.store.list_connections(&org.id).await?;
    let mut rs = s.deps.store.list_resources(&org.id, env.as_ref().map(|e| e.id.as_str())).await?;
    rs.retain(|r| visible.resource(r));
    audit_read(&s.deps, &who, &org.id, "resource.list", format!("{} visible", rs.len())).await?;
    Ok(items(
        rs.iter()
            .map(|r| {
                let en = envs.iter().find(|e| e.id == r.env_id).map_or("", |e| e.name.as_str());
                let cn = conns.iter().find(|c| c.id == r.connection_id).map_or("", |c| c.name.as_str());
                resource_out(r, &org.name, en, cn)
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

#[utoipa::path(get, path = "/v1/orgs/{org}/envs/{env}/resources/{kind}/{name}", tag = "catalog", responses((status = 200, body = api::CloudResource)))]
pub async fn get_resource(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, env, kind, name)): Path<(String, String, String, String)>,
) -> Result<Json<api::CloudResource>, ApiError> {
    let (r, _) = find_resource(&s, &org, &env, &kind, &name).await?;
    let path = format!("{}/{env}/{kind}/{name}", org.name);
    if !Visibility::of(&s.deps, &who, &org.id).await?.resource(&r) {
        // Hidden looks missing: no probing of the catalog.
        return Err(ApiError::new(v1::ErrorCode::NotFound, format!("cloud resource {path:?} not found")));
    }
    audit_read(&s.deps, &who, &org.id, "resource.get", path).await?;
    let c = s.deps.store.connection_by_id(&r.connection_id).await?.map(|c| c.name).unwrap_or_default();
    Ok(Json(resource_out(&r, &org.name, &env, &c)))
}

#[utoipa::path(delete, path = "/v1/orgs/{org}/envs/{env}/resources/{kind}/{name}", tag = "catalog", responses((status = 204, description = "Deleted")))]
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
            let parsed = serde_json::from_value::<api::Manifest>(v);
            prop_assert_eq!(parsed.is_err(), extra);
        }
    }
}
