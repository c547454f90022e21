//! HTTP routes. JSON in, JSON out; every error is `{"error": {"code", "message"}}`.

use std::collections::BTreeMap;

use axum::{
    RequestPartsExt, Router,
    extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State, rejection::JsonRejection},
    http::{HeaderMap, Method, StatusCode, header, request::Parts},
    routing::{any, delete, get, post},
};
use cloudops_schemas::v1;
use cloudops_store::principal;
use serde::de::DeserializeOwned;

use crate::{ApiError, Deps};

#[derive(Clone)]
pub struct AppState {
    pub deps: Deps,
    pub sessions: crate::sessions::SessionCache,
    pub input_auth: crate::sessions::InputAuth,
    pub refusals: crate::kube_tunnel::Refusals,
}

pub const MAX_BODY: usize = 1 << 20;

pub fn router(state: AppState) -> Router {
    use crate::admin::*;
    Router::new()
        .route("/healthz", get(crate::openapi::healthz))
        .route("/v1/openapi.json", get(crate::openapi::openapi))
        .route("/v1/whoami", get(whoami))
        .route("/v1/runner-builds", get(crate::runner_builds::list))
        .route("/v1/runner-builds/{version}/{platform}", get(crate::runner_builds::download))
        .route("/v1/charts/index.yaml", get(crate::charts::index))
        .route("/v1/charts/{file}", get(crate::charts::archive))
        .route("/v1/console/login", post(crate::console::login))
        .route("/v1/console/session", get(crate::console::session))
        .route("/v1/console/logout", post(crate::console::logout))
        .route("/v1/auth/oidc", get(crate::oidc::handlers::offer))
        .route("/v1/auth/oidc/login", get(crate::oidc::handlers::login))
        .route("/v1/auth/oidc/callback", get(crate::oidc::handlers::callback))
        .route("/v1/auth/oidc/device", post(crate::oidc::handlers::device_start))
        .route("/v1/auth/oidc/device/token", post(crate::oidc::handlers::device_token))
        .route("/v1/auth/oidc/refresh", post(crate::oidc::handlers::refresh))
        .route("/v1/auth/oidc/cli/token", post(crate::oidc::cli_handoff::cli_token))
        .route("/v1/ops/kubernetes/{verb}", post(crate::ops::kube_op))
        .route("/v1/ops/cloud/{provider}/{service}", post(crate::ops::cloud_op))
        .route("/v1/kube/connections/{org}/{connection}/{*path}", any(crate::kube_proxy::connection))
        .route("/v1/kube/resources/{org}/{env}/{kind}/{name}/{*path}", any(crate::kube_proxy::resource))
        .route("/v1/orgs", get(list_orgs).post(create_org))
        .route("/v1/orgs/{org}/envs", get(list_envs).post(create_env))
        .route("/v1/orgs/{org}/principals", get(list_principals).post(create_principal))
        .route("/v1/orgs/{org}/apikeys", get(list_keys).post(create_key))
        .route("/v1/orgs/{org}/apikeys/{id}", delete(revoke_key))
        .route("/v1/orgs/{org}/grants", get(list_grants).post(create_grant))
        .route("/v1/orgs/{org}/grants/{id}", delete(delete_grant))
        .route("/v1/orgs/{org}/connections", get(crate::admin::list_connections).post(crate::admin::create_connection))
        .route("/v1/orgs/{org}/connections/{name}", get(get_connection).delete(delete_connection))
        .route("/v1/orgs/{org}/connections/{name}/default", post(set_default_connection))
        .route("/v1/orgs/{org}/default-connection", get(get_default_connection))
        .route("/v1/orgs/{org}/secrets", get(list_secrets))
        .route("/v1/orgs/{org}/secrets/{name}", axum::routing::put(put_secret).delete(delete_secret))
        .route("/v1/runner/connections/{id}/secrets", get(runner_connection_secrets))
        .route("/v1/orgs/{org}/resources", get(list_resources).post(apply_resource))
        .route("/v1/orgs/{org}/envs/{env}/resources/{kind}/{name}", get(get_resource).delete(delete_resource))
        .route("/v1/orgs/{org}/runners", get(list_runners))
        .route("/v1/orgs/{org}/runners/{name}", get(get_runner).delete(delete_runner))
        .route("/v1/orgs/{org}/runners/{name}/credentials", post(generate_credentials))
        .route("/v1/orgs/{org}/runners/{name}/regenerate-credentials", post(regenerate_credentials))
        .route(
            "/v1/orgs/{org}/default-runner",
            get(get_default_runner).put(set_default_runner).delete(unset_default_runner),
        )
        .route("/v1/orgs/{org}/audit", get(list_audit))
        .route("/v1/sessions/{id}/events", get(crate::sessions::events))
        .route("/v1/sessions/{id}", delete(crate::sessions::cancel))
        .route("/v1/sessions/{id}/input", post(crate::sessions::input))
        .route("/v1/orgs/{org}/sessions", get(list_sessions))
        .route("/v1/orgs/{org}/sessions/{id}", get(get_session))
        .fallback(crate::console::fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// `Json` whose rejections are our error shape, naming the problem.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(JsonRejection::BytesRejection(e)) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::bad_request(format!("request body larger than {MAX_BODY} bytes")))
            }
            Err(e) => Err(ApiError::bad_request(format!("invalid request body: {}", e.body_text()))),
        }
    }
}

/// `Query` whose rejections are our error shape, naming the parameter at fault.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Self(v)),
            Err(e) => Err(ApiError::bad_request(format!("invalid query string: {}", e.body_text()))),
        }
    }
}

/// Who is calling, as the authorizer (or the console session) knows them.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: String,
    pub org_id: String,
    /// "user" or "service_account".
    pub kind: String,
    pub name: String,
    pub platform_operator: bool,
    /// Set for a runner's service account.
    pub runner_id: Option<String>,
    /// The home org's name, when the authorizer said it.
    pub org_name: Option<String>,
}

impl From<principal::Model> for Principal {
    fn from(p: principal::Model) -> Self {
        Self {
            id: p.id,
            org_id: p.org_id,
            kind: p.kind,
            name: p.name,
            platform_operator: p.platform_operator,
            runner_id: p.runner_id,
            org_name: None,
        }
    }
}

impl From<v1::Principal> for Principal {
    fn from(p: v1::Principal) -> Self {
        Self {
            id: p.id,
            org_id: p.org_id,
            kind: p.kind,
            name: p.name,
            platform_operator: p.platform_operator,
            runner_id: Some(p.runner_id).filter(|r| !r.is_empty()),
            org_name: Some(p.org_name).filter(|n| !n.is_empty()),
        }
    }
}

pub struct Authenticated {
    pub principal: Principal,
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, ApiError> {
        authenticate(&s.deps, &parts.method, &parts.headers).await?.not_a_runner()
    }
}

impl Authenticated {
    /// A runner's service-account key ships in every `credentials.json` and Helm Secret: it
    /// identifies the runner (`/v1/whoami`) and calls nothing else of the API.
    pub(crate) fn not_a_runner(self) -> Result<Self, ApiError> {
        match &self.principal.runner_id {
            Some(_) => Err(ApiError::new(
                v1::ErrorCode::PermissionDenied,
                format!(
                    "{:?} is a runner's service account: its key serves the runner only, not the API",
                    self.principal.name
                ),
            )),
            None => Ok(self),
        }
    }

    pub fn caller(&self) -> v1::Caller {
        v1::Caller {
            principal_id: self.principal.id.clone(),
            principal_name: self.principal.name.clone(),
            org_id: self.principal.org_id.clone(),
            platform_operator: self.principal.platform_operator,
        }
    }
}

pub(crate) async fn authenticate(deps: &Deps, method: &Method, headers: &HeaderMap) -> Result<Authenticated, ApiError> {
    let unauth = |m: &str| ApiError::new(v1::ErrorCode::Unauthenticated, m);
    if !headers.contains_key(header::AUTHORIZATION)
        && let Some(token) = crate::console::session_cookie(headers)
    {
        return crate::console::authenticate(deps, method, headers, token).await;
    }
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| {
        unauth("missing API key: send `Authorization: Bearer <key>` (run `planton login`), or sign in to the console")
    })?;
    let key = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| unauth("malformed Authorization header: expected `Bearer <key>`"))?;
    // The authorizer holds the key hashes in memory: no database read per request.
    let found = deps
        .roles
        .authorizer
        .authenticate(v1::AuthenticateRequest { key_hash: cloudops_store::hash_key(key) })
        .await
        .map_err(ApiError::unavailable)?;
    match found.principal {
        Some(p) => Ok(Authenticated { principal: p.into() }),
        None => Err(unauth("invalid API key")),
    }
}

/// Admin-class requests go through the authorizer too, so that they are audited.
pub(crate) async fn authorize_admin(
    deps: &Deps,
    who: &Authenticated,
    org_id: &str,
    op_name: &str,
) -> Result<(), ApiError> {
    authorize_admin_target(deps, who, v1::ResolvedTarget { org_id: org_id.into(), ..Default::default() }, op_name).await
}

/// Admin-class requests on one environment: an admin grant on the org or on that env.
pub(crate) async fn authorize_admin_in_env(
    deps: &Deps,
    who: &Authenticated,
    org_id: &str,
    env_id: &str,
    op_name: &str,
) -> Result<(), ApiError> {
    authorize_admin_target(
        deps,
        who,
        v1::ResolvedTarget { org_id: org_id.into(), env_id: env_id.into(), ..Default::default() },
        op_name,
    )
    .await
}

/// Admin-class requests on one connection: an admin grant on the org or on that connection (or
/// on an env whose default it already is).
pub(crate) async fn authorize_admin_on_connection(
    deps: &Deps,
    who: &Authenticated,
    org_id: &str,
    connection: &cloudops_store::connection::Model,
    op_name: &str,
) -> Result<(), ApiError> {
    let target = v1::ResolvedTarget {
        org_id: org_id.into(),
        connection_id: connection.id.clone(),
        connection_name: connection.name.clone(),
        ..Default::default()
    };
    authorize_admin_target(deps, who, target, op_name).await
}

pub(crate) async fn authorize_admin_target(
    deps: &Deps,
    who: &Authenticated,
    mut target: v1::ResolvedTarget,
    op_name: &str,
) -> Result<(), ApiError> {
    target.mode = v1::AccessMode::AdminMode as i32;
    let d = deps
        .roles
        .authorizer
        .authorize(v1::AuthorizeRequest {
            caller: Some(who.caller()),
            target: Some(target),
            op_name: op_name.into(),
            verb: v1::VerbClass::Admin as i32,
            kube: None,
            recheck: false,
        })
        .await
        .map_err(ApiError::unavailable)?;
    if d.allowed { Ok(()) } else { Err(ApiError::new(v1::ErrorCode::PermissionDenied, d.reason)) }
}

#[utoipa::path(get, path = "/v1/whoami", tag = "identity", responses((status = 200, body = cloudops_api::WhoAmI)))]
pub(crate) async fn whoami(
    State(s): State<AppState>,
    headers: HeaderMap,
) -> Result<axum::Json<cloudops_api::WhoAmI>, ApiError> {
    let who = authenticate(&s.deps, &Method::GET, &headers).await?;
    let p = who.principal;
    let org_name = match p.org_name {
        Some(n) => n,
        None => s.deps.store.org_by_id(&p.org_id).await?.name,
    };
    Ok(axum::Json(cloudops_api::WhoAmI {
        principal: cloudops_api::PrincipalRef { id: p.id, name: p.name, kind: p.kind },
        org: cloudops_api::OrgRef { id: p.org_id, name: org_name },
    }))
}

async fn org_for(s: &AppState, who: &Authenticated, org: &str) -> Result<cloudops_store::org::Model, ApiError> {
    let org = s.deps.store.org_by_name(org).await?;
    if org.id != who.principal.org_id && !who.principal.platform_operator {
        // Same answer as for a missing org: no probing of other tenants.
        return Err(ApiError::new(v1::ErrorCode::NotFound, format!("org {:?} not found", org.name)));
    }
    Ok(org)
}

/// An authenticated caller acting in the org named by the `{org}` path segment.
pub struct InOrg {
    pub who: Authenticated,
    pub org: cloudops_store::org::Model,
}

impl FromRequestParts<AppState> for InOrg {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, s: &AppState) -> Result<Self, ApiError> {
        let who = authenticate(&s.deps, &parts.method, &parts.headers).await?.not_a_runner()?;
        let org_name = parts
            .extract::<Path<BTreeMap<String, String>>>()
            .await
            .ok()
            .and_then(|Path(m)| m.get("org").cloned())
            .ok_or_else(|| ApiError::bad_request("missing org in path"))?;
        let org = org_for(s, &who, &org_name).await?;
        Ok(Self { who, org })
    }
}
