//! Runners: registration, credentials, revocation, defaults.

use super::*;

// ---------------------------------------------------------------------- runners

pub fn runner_out(r: &runner::Model, org_name: Option<&str>) -> api::Runner {
    let connected = cloudops_store::presence::connected(r.last_seen_at, cloudops_store::now());
    api::Runner {
        id: r.id.clone(),
        name: r.name.clone(),
        org: org_name.map(str::to_string),
        platform: r.org_id.is_none(),
        generation: r.generation,
        revoked: r.revoked,
        connected,
        last_seen_at: r.last_seen_at,
        version: r.version.clone(),
        cert_fingerprint: r.cert_fingerprint.clone(),
        created_at: r.created_at,
    }
}

#[utoipa::path(get, path = "/v1/orgs/{org}/runners", tag = "runners", params(api::RunnerQuery), responses((status = 200, body = api::Items<api::Runner>)))]
pub async fn list_runners(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Params(q): Params<api::RunnerQuery>,
) -> Result<Json<api::Items<api::Runner>>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "runner.list").await?;
    let scope = q.scope.as_deref().unwrap_or("org");
    let mut out = Vec::new();
    if matches!(scope, "org" | "all") {
        out.extend(s.deps.store.list_runners(&org.id).await?.iter().map(|r| runner_out(r, Some(&org.name))));
    }
    if matches!(scope, "platform" | "all") {
        out.extend(s.deps.store.list_platform_runners().await?.iter().map(|r| runner_out(r, None)));
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

#[utoipa::path(get, path = "/v1/orgs/{org}/runners/{name}", tag = "runners", params(api::RunnerQuery), responses((status = 200, body = api::Runner)))]
pub async fn get_runner(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
    Params(q): Params<api::RunnerQuery>,
) -> Result<Json<api::Runner>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "runner.get").await?;
    let r = runner_in(&s, &org, &name, q.platform).await?;
    Ok(Json(runner_out(&r, (!q.platform).then_some(org.name.as_str()))))
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
        s.deps
            .store
            .ensure_runner(
                (!platform).then_some(org.id.as_str()),
                &org.id,
                name,
                Some(s.deps.config.max_runners_per_org),
            )
            .await?
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
        tunnel: TunnelCredentials::new(&s.deps.config.leaf_urls, cert.ca_pem, cert.cert_pem, cert.key_pem),
    };
    Ok((StatusCode::CREATED, [(header::CACHE_CONTROL, "no-store")], Json(creds)).into_response())
}

#[utoipa::path(post, path = "/v1/orgs/{org}/runners/{name}/credentials", tag = "runners", params(api::RunnerQuery), responses((status = 201, description = "Registers the runner when new", body = RunnerCredentials), (status = 409, description = "The org has as many runners as it may register (`cloudops serve --max-runners-per-org`)", body = api::ErrorResponse)))]
pub async fn generate_credentials(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
    Params(q): Params<api::RunnerQuery>,
) -> Result<Response, ApiError> {
    issue_credentials(&s, &who, &org, &name, q.platform, false).await
}

#[utoipa::path(post, path = "/v1/orgs/{org}/runners/{name}/regenerate-credentials", tag = "runners", params(api::RunnerQuery), responses((status = 201, description = "Earlier credentials are refused from now on, and live tunnels cut", body = RunnerCredentials)))]
pub async fn regenerate_credentials(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
    Params(q): Params<api::RunnerQuery>,
) -> Result<Response, ApiError> {
    issue_credentials(&s, &who, &org, &name, q.platform, true).await
}

#[utoipa::path(delete, path = "/v1/orgs/{org}/runners/{name}", tag = "runners", params(api::RunnerQuery), responses((status = 200, body = api::RunnerDeleted)))]
pub async fn delete_runner(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, name)): Path<(String, String)>,
    Params(q): Params<api::RunnerQuery>,
) -> Result<Json<api::RunnerDeleted>, ApiError> {
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
    Ok(Json(api::RunnerDeleted { deleted: r.name, tunnels_cut: cut }))
}

#[utoipa::path(put, path = "/v1/orgs/{org}/default-runner", tag = "runners", request_body = api::DefaultRunnerBody, responses((status = 200, body = api::DefaultRunnerSet)))]
pub async fn set_default_runner(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Body(b): Body<api::DefaultRunnerBody>,
) -> Result<Json<api::DefaultRunnerSet>, ApiError> {
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
    let scope = if b.platform { "platform".to_string() } else { format!("org/{}", org.name) };
    Ok(Json(api::DefaultRunnerSet { runner: r.name, scope }))
}

#[utoipa::path(get, path = "/v1/orgs/{org}/default-runner", tag = "runners", params(api::RunnerQuery), responses((status = 200, body = api::DefaultRunner)))]
pub async fn get_default_runner(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Params(q): Params<api::RunnerQuery>,
) -> Result<Json<api::DefaultRunner>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "runner.get-default").await?;
    let platform = s.deps.store.default_runner(None).await?;
    if q.platform {
        let from = platform.is_some().then(|| "platform".to_string());
        return Ok(Json(api::DefaultRunner { runner: platform.map(|r| r.name), from, chain: vec![] }));
    }
    let org_default = s.deps.store.default_runner(Some(&org.id)).await?;
    let chain = vec![
        api::DefaultRunnerLevel {
            level: format!("org/{}", org.name),
            runner: org_default.as_ref().map(|r| r.name.clone()),
        },
        api::DefaultRunnerLevel { level: "platform".into(), runner: platform.as_ref().map(|r| r.name.clone()) },
    ];
    let (runner, from) = match (org_default, platform) {
        (Some(r), _) => (Some(r.name), Some(format!("org/{}", org.name))),
        (None, Some(p)) => (Some(p.name), Some("platform".into())),
        (None, None) => (None, None),
    };
    Ok(Json(api::DefaultRunner { runner, from, chain }))
}

#[utoipa::path(delete, path = "/v1/orgs/{org}/default-runner", tag = "runners", params(api::RunnerQuery), responses((status = 200, body = api::DefaultRunnerUnset)))]
pub async fn unset_default_runner(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Params(q): Params<api::RunnerQuery>,
) -> Result<Json<api::DefaultRunnerUnset>, ApiError> {
    authorize_runner_admin(&s, &who, &org.id, q.platform, "runner.unset-default").await?;
    let removed = s.deps.store.unset_default_runner((!q.platform).then_some(org.id.as_str())).await?;
    Ok(Json(api::DefaultRunnerUnset { removed }))
}
