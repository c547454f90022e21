//! HTTP routes. JSON in, JSON out; every error is `{"error": {"code", "message"}}`.

use std::{collections::BTreeMap, time::Duration};

use axum::{
    RequestPartsExt, Router,
    extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request, State, rejection::JsonRejection},
    http::{HeaderMap, Method, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
};
use cloudops_schemas::v1;
use cloudops_store::principal;
use ractor::ActorRef;
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::{ApiError, Deps, GatewayMessage, OpCall};

#[derive(Clone)]
pub struct AppState {
    pub deps: Deps,
    pub gateway: ActorRef<GatewayMessage>,
    pub sessions: crate::sessions::SessionCache,
    pub input_auth: crate::sessions::InputAuth,
}

pub const MAX_BODY: usize = 1 << 20;

pub fn router(state: AppState) -> Router {
    use crate::admin::*;
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/v1/whoami", get(whoami))
        .route("/v1/console/login", post(crate::console::login))
        .route("/v1/console/session", get(crate::console::session))
        .route("/v1/console/logout", post(crate::console::logout))
        .route("/v1/ops/kubernetes/{verb}", post(kube_op))
        .route("/v1/ops/cloud/{provider}/{service}", post(cloud_op))
        .route("/v1/orgs", get(list_orgs).post(create_org))
        .route("/v1/orgs/{org}/envs", get(list_envs).post(create_env))
        .route("/v1/orgs/{org}/principals", get(list_principals).post(create_principal))
        .route("/v1/orgs/{org}/apikeys", get(list_keys).post(create_key))
        .route("/v1/orgs/{org}/apikeys/{id}", delete(revoke_key))
        .route("/v1/orgs/{org}/grants", get(list_grants).post(create_grant))
        .route("/v1/orgs/{org}/grants/{id}", delete(delete_grant))
        .route("/v1/orgs/{org}/connections", get(list_connections).post(create_connection))
        .route("/v1/orgs/{org}/connections/{name}", get(get_connection).delete(delete_connection))
        .route("/v1/orgs/{org}/connections/{name}/default", post(set_default_connection))
        .route("/v1/orgs/{org}/default-connection", get(get_default_connection))
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

pub struct Authenticated {
    pub principal: principal::Model,
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
    fn not_a_runner(self) -> Result<Self, ApiError> {
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
    match deps.store.authenticate(key).await? {
        Some(principal) => Ok(Authenticated { principal }),
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
        })
        .await
        .map_err(ApiError::unavailable)?;
    if d.allowed { Ok(()) } else { Err(ApiError::new(v1::ErrorCode::PermissionDenied, d.reason)) }
}

async fn whoami(State(s): State<AppState>, headers: HeaderMap) -> Result<axum::Json<Value>, ApiError> {
    let who = authenticate(&s.deps, &Method::GET, &headers).await?;
    let org = s.deps.store.org_by_id(&who.principal.org_id).await?;
    Ok(axum::Json(json!({
        "principal": {"id": who.principal.id, "name": who.principal.name, "kind": who.principal.kind},
        "org": {"id": org.id, "name": org.name},
    })))
}

/// One Kubernetes op: where (admin or developer mode) and what, for any verb.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubeOpBody {
    #[serde(default)]
    org: String,
    #[serde(default)]
    env: String,
    #[serde(default)]
    connection: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    label_selector: String,
    #[serde(default)]
    field_selector: String,
    /// get: "table" (default) or "objects".
    #[serde(default)]
    output: String,
    #[serde(default)]
    all_namespaces: bool,
    /// edit and apply: the object.
    #[serde(default)]
    object: Option<Value>,
    /// delete: background (default), foreground or orphan.
    #[serde(default)]
    propagation: String,
    /// delete: only say what would be deleted.
    #[serde(default)]
    dry_run: bool,
    // logs
    #[serde(default)]
    pod: String,
    #[serde(default)]
    container: String,
    #[serde(default)]
    follow: bool,
    #[serde(default)]
    tail: Option<i64>,
    /// A duration such as 10m or 2h.
    #[serde(default)]
    since: String,
    #[serde(default)]
    since_time: String,
    #[serde(default)]
    until_time: String,
    #[serde(default)]
    grep: String,
    #[serde(default)]
    previous: bool,
    #[serde(default)]
    timestamps: bool,
    // exec
    #[serde(default)]
    command: Vec<String>,
    #[serde(default)]
    stdin: bool,
    #[serde(default)]
    tty: bool,
    #[serde(default)]
    size: Option<crate::sessions::SizeBody>,
}

fn parse_duration_secs(s: &str) -> Result<i64, ApiError> {
    let bad = || ApiError::bad_request(format!("invalid --since {s:?}: use a duration like 30s, 10m, 2h"));
    let i = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let n: i64 = s[..i].parse().map_err(|_| bad())?;
    let unit = match &s[i..] {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    // Longer than Kubernetes could mean (or than i64 holds) is refused, not wrapped.
    n.checked_mul(unit).filter(|secs| *secs <= 100 * 365 * 86400).ok_or_else(bad)
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// `--since` from the request body: a duration or an error naming the input.
        #[test]
        fn durations_parse_or_name_the_input(s in "[0-9]{0,22}[smhdx]?") {
            match parse_duration_secs(&s) {
                Ok(n) => prop_assert!(n >= 0),
                Err(e) => {
                    let (msg, named) = (e.0.message.clone(), format!("{s:?}"));
                    prop_assert!(msg.contains(&named), "{}", msg);
                }
            }
        }
    }
}

fn kube_op_of(verb: &str, b: &mut KubeOpBody) -> Result<v1::op::Kind, ApiError> {
    use v1::op::Kind;
    let need_kind = |b: &KubeOpBody, with_name: bool| -> Result<(), ApiError> {
        if b.kind.trim().is_empty() {
            return Err(ApiError::bad_request("`kind` is required (e.g. pods)"));
        }
        if with_name && b.name.trim().is_empty() {
            return Err(ApiError::bad_request(format!("`name` is required for {verb}")));
        }
        Ok(())
    };
    let object = |b: &mut KubeOpBody| -> Result<Vec<u8>, ApiError> {
        let o = b.object.take().ok_or_else(|| ApiError::bad_request(format!("`object` is required for {verb}")))?;
        if !o.is_object() {
            return Err(ApiError::bad_request("`object` must be a Kubernetes object"));
        }
        Ok(serde_json::to_vec(&o).expect("json"))
    };
    Ok(match verb {
        "get" => {
            need_kind(b, false)?;
            let output = match b.output.as_str() {
                "" | "table" => v1::KubeOutput::Table,
                "objects" => v1::KubeOutput::Objects,
                other => return Err(ApiError::bad_request(format!("unknown output {other:?}: use table or objects"))),
            };
            Kind::KubeGet(v1::KubeGet {
                resource: std::mem::take(&mut b.kind),
                name: std::mem::take(&mut b.name),
                label_selector: std::mem::take(&mut b.label_selector),
                field_selector: std::mem::take(&mut b.field_selector),
                output: output as i32,
                all_namespaces: b.all_namespaces,
            })
        }
        "describe" => {
            need_kind(b, true)?;
            Kind::KubeDescribe(v1::KubeDescribe {
                resource: std::mem::take(&mut b.kind),
                name: std::mem::take(&mut b.name),
            })
        }
        "edit" => Kind::KubeReplace(v1::KubeReplace { object_json: object(b)? }),
        "apply" => Kind::KubeApply(v1::KubeApply { object_json: object(b)? }),
        "delete" => {
            need_kind(b, true)?;
            Kind::KubeDelete(v1::KubeDelete {
                resource: std::mem::take(&mut b.kind),
                name: std::mem::take(&mut b.name),
                propagation: std::mem::take(&mut b.propagation),
                dry_run: b.dry_run,
            })
        }
        "restart" => {
            need_kind(b, true)?;
            Kind::KubeRestart(v1::KubeRestart {
                resource: std::mem::take(&mut b.kind),
                name: std::mem::take(&mut b.name),
            })
        }
        "logs" => {
            for (flag, v) in [("--since-time", &b.since_time), ("--until-time", &b.until_time)] {
                if !v.is_empty() && chrono::DateTime::parse_from_rfc3339(v).is_err() {
                    return Err(ApiError::bad_request(format!("invalid {flag} {v:?}: use an RFC 3339 time")));
                }
            }
            if !b.since.is_empty() && !b.since_time.is_empty() {
                return Err(ApiError::bad_request("use --since or --since-time, not both"));
            }
            Kind::KubeLogs(v1::KubeLogs {
                pod: std::mem::take(&mut b.pod),
                container: std::mem::take(&mut b.container),
                follow: b.follow,
                tail_lines: b.tail.unwrap_or(-1),
                since_seconds: if b.since.is_empty() { 0 } else { parse_duration_secs(&b.since)? },
                since_time: std::mem::take(&mut b.since_time),
                until_time: std::mem::take(&mut b.until_time),
                grep: std::mem::take(&mut b.grep),
                previous: b.previous,
                timestamps: b.timestamps,
                session: cloudops_bus::streams::new_session_id(),
            })
        }
        "exec" => {
            if b.command.is_empty() || b.command[0].trim().is_empty() {
                return Err(ApiError::bad_request("`command` is required, e.g. [\"sh\"]"));
            }
            if b.pod.trim().is_empty() && b.resource.is_empty() {
                return Err(ApiError::bad_request("`pod` is required (or use a resource to exec into its workload)"));
            }
            Kind::KubeExec(v1::KubeExec {
                pod: std::mem::take(&mut b.pod),
                container: std::mem::take(&mut b.container),
                command: std::mem::take(&mut b.command),
                stdin: b.stdin,
                tty: b.tty,
                size: b.size.as_ref().map(crate::sessions::check_size).transpose()?,
                session: cloudops_bus::streams::new_session_id(),
            })
        }
        "watch" => {
            need_kind(b, false)?;
            Kind::KubeWatch(v1::KubeWatch {
                resource: std::mem::take(&mut b.kind),
                label_selector: std::mem::take(&mut b.label_selector),
                field_selector: std::mem::take(&mut b.field_selector),
                session: cloudops_bus::streams::new_session_id(),
            })
        }
        "api-resources" => Kind::KubeApiResources(v1::KubeApiResources {}),
        "graph" => Kind::KubeGraph(v1::KubeGraph {}),
        other => {
            return Err(ApiError::new(
                v1::ErrorCode::NotFound,
                format!(
                    "unknown kubernetes op {other:?}: use get, describe, edit, apply, delete, restart, logs, exec, watch, api-resources or graph"
                ),
            ));
        }
    })
}

async fn kube_op(
    State(s): State<AppState>,
    who: Authenticated,
    Path(verb): Path<String>,
    Body(mut b): Body<KubeOpBody>,
) -> Result<Response, ApiError> {
    let op = v1::Op { kind: Some(kube_op_of(&verb, &mut b)?) };
    let op_name = op.name();
    // Streaming ops carry the session id the gateway chose; the runner's reply never decides it.
    let session = op.session().map(str::to_string);
    let where_ = match (b.resource.as_str(), b.connection.as_str()) {
        ("", "") => "connection/(default)".to_string(),
        ("", c) => format!("connection/{c}"),
        (r, _) => r.to_string(),
    };
    let target =
        v1::Target { org: b.org, env: b.env, connection: b.connection, resource: b.resource, namespace: b.namespace };
    let result = run_op(&s, &who, target, op).await?;
    if let Some(session) = session {
        return crate::sessions::register(&s, &who, op_name, where_, &session, &result).await;
    }
    // {"resource": {...}, "result": <the API's JSON, passed through without re-encoding>}
    let resource = result
        .kube_resource
        .map(|r| json!({"kind": r.kind, "apiVersion": r.api_version, "plural": r.plural, "namespaced": r.namespaced}));
    let mut body = Vec::with_capacity(result.json.len() + 160);
    body.extend_from_slice(b"{\"resource\":");
    body.extend_from_slice(serde_json::to_string(&resource).expect("json").as_bytes());
    body.extend_from_slice(b",\"result\":");
    body.extend_from_slice(&result.json);
    body.push(b'}');
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// A cloud listing in admin mode (`--connection`, else the env's or org's default for the
/// provider). Developer mode is refused by the resolver with a clear message.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudOpBody {
    #[serde(default)]
    org: String,
    #[serde(default)]
    env: String,
    #[serde(default)]
    connection: String,
    #[serde(default)]
    resource: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    zone: String,
    #[serde(default)]
    subscription: String,
    #[serde(default)]
    resource_group: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    filters: Vec<String>,
}

/// The listings runners offer.
const CLOUD_LISTINGS: [cloudops_schemas::cloud::Service; 6] = cloudops_schemas::cloud::Service::ALL;

async fn cloud_op(
    State(s): State<AppState>,
    who: Authenticated,
    Path((provider, service)): Path<(String, String)>,
    Body(b): Body<CloudOpBody>,
) -> Result<Response, ApiError> {
    let name = format!("{provider}.{service}");
    let svc =
        cloudops_schemas::cloud::Service::parse(&name).filter(|s| CLOUD_LISTINGS.contains(s)).ok_or_else(|| {
            let known: Vec<String> = CLOUD_LISTINGS.iter().map(|s| s.as_str().replace('.', "/")).collect();
            ApiError::new(
                v1::ErrorCode::NotFound,
                format!("unknown cloud listing {provider}/{service}: use {}", known.join(", ")),
            )
        })?;
    for (key, value) in [
        ("region", &b.region),
        ("project", &b.project),
        ("zone", &b.zone),
        ("subscription", &b.subscription),
        ("resource_group", &b.resource_group),
        ("account", &b.account),
    ] {
        if !value.is_empty() {
            cloudops_store::check_cloud_param(key, value).map_err(ApiError::bad_request)?;
        }
    }
    let op = v1::Op {
        kind: Some(v1::op::Kind::CloudList(v1::CloudList {
            service: svc.as_str().into(),
            region: b.region,
            project: b.project,
            zone: b.zone,
            subscription: b.subscription,
            resource_group: b.resource_group,
            account: b.account,
            filters: b.filters,
        })),
    };
    let target =
        v1::Target { org: b.org, env: b.env, connection: b.connection, resource: b.resource, namespace: String::new() };
    let result = run_op(&s, &who, target, op).await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], result.json).into_response())
}

/// One op through the gateway actor's pipeline (resolve → authorize → route), with a deadline.
async fn run_op(s: &AppState, who: &Authenticated, target: v1::Target, op: v1::Op) -> Result<v1::OpResult, ApiError> {
    let timeout = s.deps.config.op_timeout + Duration::from_secs(5);
    ractor::call_t!(
        s.gateway,
        GatewayMessage::RunOp,
        timeout.as_millis() as u64,
        OpCall { caller: who.caller(), target, op }
    )
    .map_err(ApiError::unavailable)?
    .map_err(ApiError::from)
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
            &b.name,
            &b.provider,
            runner.as_ref().map(|r| r.id.clone()),
            b.context.filter(|c| !c.is_empty()),
            &b.settings,
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
    crate::visibility::audit_read(&s.deps, &who, &org.id, "connection.list", format!("{} visible", items.len())).await;
    Ok(axum::Json(json!({"items": items})))
}
