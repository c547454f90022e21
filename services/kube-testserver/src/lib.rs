//! A Kubernetes API test server that stock kubectl accepts.
//!
//! No real kube-apiserver can run on the machines this project is built on, so the project owns
//! this one. kubectl is the judge of its fidelity: discovery (legacy `/api`, `/apis`), reads of
//! any known kind with label and field selectors, lists in chunks, `Table` output with the apiserver's columns,
//! `Status` errors, uid / resourceVersion / creationTimestamp / ownerReferences on every object.
//! It is also the sandbox cluster of `cloudops serve --with-local-runner`.

mod audit;
mod chunks;
mod cluster;
mod exec;
pub mod forwarding;
mod logs;
mod openapi;
mod portforward;
mod portforward_spdy;
mod resources;
mod revisions;
mod rollout;
mod sandbox;
mod selector;
mod spdy;
mod table;
mod wire;
mod write;

pub use audit::AuditEvent;
pub use cluster::{Change, Cluster};
pub use logs::LogLine;

pub use write::{ApiErr, merge_patch, strategic_merge};

use std::{collections::BTreeMap, net::SocketAddr};

use axum::{
    Router,
    body::Body,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use serde_json::{Value, json};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

pub use resources::{RESOURCES, ResourceDef};
pub use selector::{FieldSelector, LabelSelector};
pub use table::human_duration;

pub(crate) use wire::{json_response, query_bool, status_error};
use wire::{query_map, wants_table};

pub const SERVER_VERSION: &str = "v1.32.4";

pub struct KubeTestServer {
    pub addr: SocketAddr,
    pub cluster: Cluster,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl KubeTestServer {
    /// Serves `cluster` on `bind` (use port 0 for a free one).
    pub async fn start(bind: SocketAddr, cluster: Cluster) -> std::io::Result<Self> {
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let app = Router::new()
            .route("/api/v1/namespaces/{ns}/pods/{name}/exec", axum::routing::any(exec_route))
            .route("/api/v1/namespaces/{ns}/pods/{name}/portforward", axum::routing::any(portforward_route))
            .fallback(handle)
            .layer(axum::middleware::from_fn_with_state(cluster.clone(), audit::record))
            .with_state(cluster.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(Self { addr, cluster, stop: Some(tx), task: Some(task) })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig with one context named `context` pointing at this server.
    pub fn kubeconfig(&self, context: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: {context}\n  cluster:\n    server: {url}\ncontexts:\n- name: {context}\n  context:\n    cluster: {context}\n    user: {context}\n    namespace: default\ncurrent-context: {context}\nusers:\n- name: {context}\n  user:\n    token: sandbox\n",
            url = self.url()
        )
    }

    /// Stops accepting: requests under way get 2 s to finish, then this returns (a graceful stop
    /// alone waited for every client's watch to time out: 37 s in the console's watch tests).
    /// Connections still open go on in their own tasks until their client or the runtime ends.
    pub async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(mut t) = self.task.take()
            && tokio::time::timeout(std::time::Duration::from_secs(2), &mut t).await.is_err()
        {
            t.abort();
        }
    }
}

impl Drop for KubeTestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

async fn exec_route(
    State(cluster): State<Cluster>,
    axum::extract::Path((ns, name)): axum::extract::Path<(String, String)>,
    uri: Uri,
    ws: Result<axum::extract::ws::WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    exec::serve(cluster, ns, name, uri, ws).await
}

async fn portforward_route(
    State(cluster): State<Cluster>,
    axum::extract::Path((ns, name)): axum::extract::Path<(String, String)>,
    uri: Uri,
    ws: Result<axum::extract::ws::WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    portforward::serve(cluster, ns, name, uri, ws).await
}

async fn handle(
    State(cluster): State<Cluster>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let path = uri.path().trim_matches('/');
    let segs: Vec<&str> = if path.is_empty() { vec![] } else { path.split('/').collect() };
    let q = query_map(&uri);
    if method == Method::POST
        && let ["apis", "authorization.k8s.io", "v1", "selfsubjectaccessreviews"] = segs.as_slice()
    {
        return self_review(&body);
    }
    if method != Method::GET {
        return match segs.as_slice() {
            ["api", v, rest @ ..] => write_request(&cluster, &method, "", v, rest, &q, &headers, &body),
            ["apis", g, v, rest @ ..] => write_request(&cluster, &method, g, v, rest, &q, &headers, &body),
            _ => status_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("the server does not allow this method on the requested resource ({method} {path})"),
                None,
            ),
        };
    }
    match segs.as_slice() {
        ["version"] => json_response(
            StatusCode::OK,
            &json!({
                "major": "1", "minor": "32", "gitVersion": SERVER_VERSION, "gitCommit": "cloudops-kube-testserver",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64",
            }),
        ),
        ["healthz"] | ["readyz"] | ["livez"] => (StatusCode::OK, "ok").into_response(),
        ["api"] => json_response(
            StatusCode::OK,
            &json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        ),
        ["apis"] => json_response(StatusCode::OK, &resources::group_list()),
        ["openapi", "v3"] => json_response(StatusCode::OK, &openapi::index()),
        ["openapi", "v3", "api", v] => openapi_document("", v),
        ["openapi", "v3", "apis", g, v] => openapi_document(g, v),
        ["api", v] => discovery("", v),
        ["apis", g, v] => discovery(g, v),
        ["api", v, rest @ ..] => resource_request(&cluster, "", v, rest, &q, &headers),
        ["apis", g, v, rest @ ..] => resource_request(&cluster, g, v, rest, &q, &headers),
        _ => status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource".into(),
            None,
        ),
    }
}

/// `kubectl auth can-i`: this server's one token may do everything, and says so.
fn self_review(body: &[u8]) -> Response {
    // kubectl sends built-in kinds as protobuf, which this server does not read.
    let mut review: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return status_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UnsupportedMediaType",
                format!("this test server reads a SelfSubjectAccessReview as JSON only: {e}"),
                None,
            );
        }
    };
    review["status"] = json!({"allowed": true, "reason": "the kube test server's token may do everything"});
    json_response(StatusCode::CREATED, &review)
}

/// A watch: the current objects as ADDED (unless a resourceVersion to start from is given),
/// then every change, one JSON event per line, until `timeoutSeconds` or the client leaves.
fn watch(
    cluster: &Cluster,
    def: &'static ResourceDef,
    ns: Option<&str>,
    labels: LabelSelector,
    fields: FieldSelector,
    table: bool,
    q: &BTreeMap<String, String>,
) -> Response {
    use futures::StreamExt;
    let rx = cluster.changes();
    let from_now = q.get("resourceVersion").is_some_and(|v| !v.is_empty() && v != "0");
    let initial = if from_now { Vec::new() } else { cluster.list(def, ns).0 };
    let timeout = q.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).unwrap_or(1800);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(timeout);
    let ns = ns.map(String::from);
    let keep = move |o: &Value| {
        ns.as_deref().is_none_or(|n| o["metadata"]["namespace"].as_str() == Some(n))
            && labels.matches(&o["metadata"]["labels"])
            && fields.matches(o)
    };
    let key = def.key();
    let render = move |kind: &str, o: &Value| -> bytes::Bytes {
        let object = if table {
            let rv = o["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
            table::table(def, &[o], rv, "Metadata", Utc::now())
        } else {
            o.clone()
        };
        let mut line = json!({"type": kind, "object": object}).to_string();
        line.push('\n');
        bytes::Bytes::from(line)
    };
    let keep2 = keep.clone();
    let first: Vec<Result<bytes::Bytes, std::convert::Infallible>> =
        initial.iter().filter(|o| keep(o)).map(|o| Ok(render("ADDED", o))).collect();
    let rest = futures::stream::unfold(rx, move |mut rx| {
        let (key, keep) = (key.clone(), keep2.clone());
        async move {
            loop {
                let next = tokio::time::timeout_at(deadline, rx.recv()).await;
                match next {
                    Ok(Ok(c)) if c.resource == key && keep(&c.object) => {
                        return Some((Ok(render(c.kind, &c.object)), rx));
                    }
                    Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                    _ => return None,
                }
            }
        }
    });
    let body = Body::from_stream(futures::stream::iter(first).chain(rest));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("response")
}

fn no_such_resource() -> Box<Response> {
    Box::new(status_error(
        StatusCode::NOT_FOUND,
        "NotFound",
        "the server could not find the requested resource".into(),
        None,
    ))
}

/// `[plural] | [plural, name] | [namespaces, ns, plural] | [namespaces, ns, plural, name]` →
/// (kind, namespace, name).
type Target<'a> = (&'static ResourceDef, Option<&'a str>, Option<&'a str>);

fn resource_target<'a>(group: &str, version: &str, rest: &[&'a str]) -> Result<Target<'a>, Box<Response>> {
    let (ns, plural, name) = match rest {
        [plural] => (None, *plural, None),
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        [plural, name] => (None, *plural, Some(*name)),
        _ => return Err(no_such_resource()),
    };
    let def = resources::find(group, version, plural).ok_or_else(no_such_resource)?;
    Ok((def, ns, name))
}

fn api_err(e: write::ApiErr) -> Response {
    status_error(StatusCode::from_u16(e.code).unwrap_or(StatusCode::BAD_REQUEST), e.reason, e.message, None)
}

#[allow(clippy::too_many_arguments)]
fn write_request(
    cluster: &Cluster,
    method: &Method,
    group: &str,
    version: &str,
    rest: &[&str],
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if let ["namespaces", ns, plural, name, "scale"] = rest
        && let Some(def) = scalable(group, plural)
        && matches!(method.as_str(), "PUT" | "PATCH")
    {
        return write_result(cluster.write_scale(def, ns, name, method.as_str(), body).map(|o| (StatusCode::OK, o)));
    }
    let (def, ns, name) = match resource_target(group, version, rest) {
        Ok((def, ns, name)) => (def, ns.unwrap_or(""), name),
        Err(r) => return *r,
    };
    // dryRun=All: the write is checked and answered as if made, on a copy that is then dropped.
    let dry_run = match q.get("dryRun").map(String::as_str) {
        None | Some("") => false,
        Some("All") => true,
        Some(other) => {
            return status_error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("Invalid value: {other:?}: supported values: \"All\""),
                None,
            );
        }
    };
    let scratch;
    let cluster = if dry_run {
        scratch = cluster.scratch();
        &scratch
    } else {
        cluster
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json");
    let parse = |b: &[u8]| -> Result<Value, Box<Response>> {
        serde_json::from_slice(b).map_err(|e| {
            Box::new(status_error(StatusCode::BAD_REQUEST, "BadRequest", format!("invalid JSON body: {e}"), None))
        })
    };
    let result = match (method.as_str(), name) {
        ("POST", None) => match parse(body) {
            Ok(obj) => cluster.create(def, ns, obj).map(|o| (StatusCode::CREATED, o)),
            Err(r) => return *r,
        },
        ("PUT", Some(n)) => match parse(body) {
            Ok(obj) => cluster.replace(def, ns, n, obj).map(|o| (StatusCode::OK, o)),
            Err(r) => return *r,
        },
        ("PATCH", Some(n)) => cluster.patch(def, ns, n, content_type, body).map(|o| (StatusCode::OK, o)),
        ("DELETE", Some(n)) => {
            let from_body = serde_json::from_slice::<Value>(body)
                .ok()
                .and_then(|v| v["propagationPolicy"].as_str().map(String::from));
            let policy = q.get("propagationPolicy").cloned().or(from_body).unwrap_or_else(|| "Background".into());
            cluster.delete(def, ns, n, &policy).map(|o| (StatusCode::OK, o))
        }
        _ => {
            return status_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                format!("the server does not allow this method on the requested resource ({method})"),
                None,
            );
        }
    };
    if def.kind == "Deployment"
        && method != Method::DELETE
        && !dry_run
        && let Ok((_, obj)) = &result
    {
        cluster.reconcile_deployment(ns, obj["metadata"]["name"].as_str().unwrap_or_default());
    }
    if matches!(def.kind, "StatefulSet" | "DaemonSet")
        && method != Method::DELETE
        && !dry_run
        && let Ok((_, obj)) = &result
    {
        cluster.reconcile_revisions(def, ns, obj["metadata"]["name"].as_str().unwrap_or_default());
    }
    write_result(result)
}

fn write_result(result: Result<(StatusCode, Value), write::ApiErr>) -> Response {
    match result {
        Ok((code, obj)) => json_response(code, &obj),
        Err(e) => api_err(e),
    }
}

/// The kinds with a `scale` subresource.
fn scalable(group: &str, plural: &str) -> Option<&'static ResourceDef> {
    matches!((group, plural), ("apps", "deployments" | "replicasets" | "statefulsets"))
        .then(|| resources::find(group, "v1", plural))
        .flatten()
}

fn openapi_document(group: &str, version: &str) -> Response {
    match openapi::document(group, version) {
        Some(v) => json_response(StatusCode::OK, &v),
        None => {
            status_error(StatusCode::NOT_FOUND, "NotFound", format!("no OpenAPI document for {group}/{version}"), None)
        }
    }
}

fn discovery(group: &str, version: &str) -> Response {
    match resources::resource_list(group, version) {
        Some(v) => json_response(StatusCode::OK, &v),
        None => status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource".into(),
            None,
        ),
    }
}

fn resource_request(
    cluster: &Cluster,
    group: &str,
    version: &str,
    rest: &[&str],
    q: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Response {
    // [plural] | [plural, name] | [namespaces, ns, plural] | [namespaces, ns, plural, name]
    if let ["namespaces", ns, "pods", name, "log"] = rest {
        return logs::serve(cluster, ns, name, q);
    }
    if let ["namespaces", ns, plural, name, "scale"] = rest
        && let Some(def) = scalable(group, plural)
    {
        return write_result(cluster.scale(def, ns, name).map(|o| (StatusCode::OK, o)));
    }
    let (def, ns, name) = match resource_target(group, version, rest) {
        Ok(t) => t,
        Err(r) => return *r,
    };
    if def.namespaced && name.is_some() && ns.is_none() {
        return status_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            "the server could not find the requested resource".into(),
            None,
        );
    }
    let now = Utc::now();
    let table = wants_table(headers);
    let include = q.get("includeObject").map(String::as_str).unwrap_or("Metadata");
    if let Some(name) = name {
        let Some(obj) = cluster.get(def, ns.unwrap_or(""), name) else {
            let gr =
                if def.group.is_empty() { def.plural.to_string() } else { format!("{}.{}", def.plural, def.group) };
            return status_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                format!("{gr} \"{name}\" not found"),
                Some(json!({"name": name, "group": def.group, "kind": def.plural})),
            );
        };
        if table {
            let rv = obj["metadata"]["resourceVersion"].as_str().and_then(|s| s.parse().ok()).unwrap_or(0);
            return json_response(StatusCode::OK, &table::table(def, &[&obj], rv, include, now));
        }
        return json_response(StatusCode::OK, &obj);
    }
    let labels = match LabelSelector::parse(q.get("labelSelector").map(String::as_str).unwrap_or("")) {
        Ok(s) => s,
        Err(e) => return status_error(StatusCode::BAD_REQUEST, "BadRequest", e, None),
    };
    let fields = match FieldSelector::parse(q.get("fieldSelector").map(String::as_str).unwrap_or("")) {
        Ok(s) => s,
        Err(e) => return status_error(StatusCode::BAD_REQUEST, "BadRequest", e, None),
    };
    if q.get("watch").is_some_and(|w| query_bool(w)) {
        return watch(cluster, def, if def.namespaced { ns } else { None }, labels, fields, table, q);
    }
    let ns = if def.namespaced { ns } else { None };
    let keep = |o: &Value| labels.matches(&o["metadata"]["labels"]) && fields.matches(o);
    if table {
        // Tables come whole: `limit` is ignored, as a server that does not chunk may.
        let (items, rv) = cluster.list(def, ns);
        let refs: Vec<&Value> = items.iter().filter(|o| keep(o)).collect();
        return json_response(StatusCode::OK, &table::table(def, &refs, rv, include, now));
    }
    let query = chunks::ListQuery {
        limit: q.get("limit").map(String::as_str),
        continue_token: q.get("continue").map(String::as_str),
        filtered: ["labelSelector", "fieldSelector"].iter().any(|k| q.get(*k).is_some_and(|s| !s.is_empty())),
    };
    chunks::list(cluster, def, ns, query, keep)
}
