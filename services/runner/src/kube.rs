//! Kubernetes ops, made with the runner's own credentials: a kubeconfig context (`KUBECONFIG`,
//! the connection's context) or the in-cluster service account.

use std::{
    collections::{HashMap, HashSet},
    path::PathBuf,
    sync::Arc,
};

use cloudops_schemas::v1::{self, ErrorCode};
use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::Value;
use tokio::sync::Mutex;

mod client;
mod discovery;
mod impersonate;
mod logs;
mod owned;
mod proxy;
mod rollout;
mod tunnel;
mod watch;

use discovery::{ApiRes, DISCOVERY_TTL, Discovered};
pub use logs::{LineVerdict, filter_line};
pub use proxy::Proxied;
pub use tunnel::{Relayed, Tunnel, next_out, send_in};

struct Cluster {
    client: Client,
    /// The same credentials without the context's own impersonation (`as`, `as-groups`, …):
    /// the base of a client acting as the person, so that none of it is added to theirs.
    bare: Client,
    /// The cluster's kinds and when they were read. One discovery at a time: the ops that find
    /// it stale wait for the one reading it, rather than each reading it again.
    discovery: Arc<Mutex<Option<Discovered>>>,
}

pub struct KubeExecutor {
    kubeconfig: Option<PathBuf>,
    /// Refuse every op that does not name the person (`--require-impersonation`).
    require_impersonation: bool,
    clusters: Mutex<HashMap<String, Cluster>>,
}

fn err(code: ErrorCode, msg: impl Into<String>) -> v1::Error {
    v1::Error::new(code, msg)
}

fn kube_error(e: kube::Error) -> v1::Error {
    match e {
        kube::Error::Api(status) => {
            let mut out = err(ErrorCode::Upstream, status.message.clone());
            out.upstream_status = status.code as u32;
            out.upstream_reason = status.reason.clone();
            out
        }
        other => err(ErrorCode::Unavailable, format!("kubernetes API: {other}")),
    }
}

/// What a path segment or query value may hold as it is: RFC 3986's unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// A name or selector as one path segment or query value, everything else percent-encoded.
fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, UNRESERVED).to_string()
}

impl KubeExecutor {
    pub fn new(kubeconfig: Option<PathBuf>, require_impersonation: bool) -> Self {
        Self { kubeconfig, require_impersonation, clusters: Mutex::new(HashMap::new()) }
    }

    async fn config(&self, context: &str) -> Result<Config, v1::Error> {
        let opts =
            KubeConfigOptions { context: (!context.is_empty()).then(|| context.to_string()), ..Default::default() };
        let cfg: Result<Config, String> = match &self.kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path)
                    .map_err(|e| err(ErrorCode::Unavailable, format!("kubeconfig {}: {e}", path.display())))?;
                Config::from_custom_kubeconfig(kc, &opts).await.map_err(|e| e.to_string())
            }
            None if context.is_empty() => Config::infer().await.map_err(|e| e.to_string()),
            None => Config::from_kubeconfig(&opts).await.map_err(|e| e.to_string()),
        };
        cfg.map_err(|e| {
            let what = if context.is_empty() {
                "the default context or in-cluster config".to_string()
            } else {
                format!("context {context:?}")
            };
            err(ErrorCode::Unavailable, format!("runner has no Kubernetes credentials for {what}: {e}"))
        })
    }

    async fn with_cluster<T>(&self, context: &str, f: impl FnOnce(&mut Cluster) -> T) -> Result<T, v1::Error> {
        let mut map = self.clusters.lock().await;
        if !map.contains_key(context) {
            let cfg = self.config(context).await?;
            let make = |cfg: Config| {
                client::build(cfg).map_err(|e| err(ErrorCode::Unavailable, format!("kubernetes client: {e}")))
            };
            let mut plain = cfg.clone();
            let a = &mut plain.auth_info;
            (a.impersonate, a.impersonate_uid, a.impersonate_groups, a.impersonate_user_extra) =
                (None, None, None, None);
            let (client, bare) = (make(cfg)?, make(plain)?);
            map.insert(context.to_string(), Cluster { client, bare, discovery: Default::default() });
        }
        Ok(f(map.get_mut(context).expect("inserted")))
    }

    async fn client_for(&self, req: &v1::RunnerRequest) -> Result<(String, Client), v1::Error> {
        let context = req.settings.as_ref().map(|s| s.kube_context.clone()).unwrap_or_default();
        let (client, bare) = self.with_cluster(&context, |c| (c.client.clone(), c.bare.clone())).await?;
        Ok((context, impersonate::acting_as(client, bare, req, self.require_impersonation)?))
    }

    /// The namespace an op works in (None for a cluster-scoped kind); in developer mode only
    /// the locked one, and no cluster-scoped kinds.
    fn scoped_ns<'a>(
        req: &'a v1::RunnerRequest,
        res: &ApiRes,
        wanted: Option<&'a str>,
    ) -> Result<Option<&'a str>, v1::Error> {
        let ns = if req.namespace.is_empty() { "default" } else { req.namespace.as_str() };
        if req.namespace_locked {
            if !res.namespaced || wanted.is_some_and(|w| !w.is_empty() && w != ns) {
                return Err(outside(req));
            }
            return Ok(Some(ns));
        }
        if !res.namespaced {
            return Ok(None);
        }
        Ok(Some(wanted.filter(|w| !w.is_empty()).unwrap_or(ns)))
    }

    async fn call(
        client: &Client,
        method: http::Method,
        path: String,
        accept: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<String, v1::Error> {
        let mut b = http::Request::builder().method(method).uri(path).header(http::header::ACCEPT, accept);
        if let Some(ct) = content_type {
            b = b.header(http::header::CONTENT_TYPE, ct);
        }
        client.request_text(b.body(body).expect("request")).await.map_err(kube_error)
    }

    async fn get_json(client: &Client, path: String) -> Result<Value, v1::Error> {
        let text = Self::call(client, http::Method::GET, path, "application/json", None, Vec::new()).await?;
        serde_json::from_str(&text)
            .map_err(|e| err(ErrorCode::Upstream, format!("kubernetes API sent invalid JSON: {e}")))
    }

    fn result(json: Vec<u8>, res: &ApiRes) -> v1::OpResult {
        v1::OpResult {
            json,
            kube_resource: Some(v1::KubeResource {
                kind: res.kind.clone(),
                api_version: res.api_version(),
                plural: res.plural.clone(),
                namespaced: res.namespaced,
                namespace: String::new(),
            }),
            ..Default::default()
        }
    }

    pub async fn get(&self, req: &v1::RunnerRequest, op: &v1::KubeGet) -> Result<v1::OpResult, v1::Error> {
        let (context, client) = self.client_for(req).await?;
        let res = self.resolve(&context, &client, &op.resource).await?;
        secrets_guard(req, &res)?;
        if req.namespace_locked && (op.all_namespaces || !res.namespaced) {
            return Err(outside(req));
        }
        let ns = if op.all_namespaces { None } else { Self::scoped_ns(req, &res, None)? };
        let mut path = res.path(ns, (!op.name.is_empty()).then_some(op.name.as_str()));
        let mut query = Vec::new();
        if !op.label_selector.is_empty() {
            query.push(format!("labelSelector={}", enc(&op.label_selector)));
        }
        if !op.field_selector.is_empty() {
            query.push(format!("fieldSelector={}", enc(&op.field_selector)));
        }
        // Developer mode on a workload: exactly its pods, through ownerReferences.
        let owned = if res.kind == "Pod" && !req.owner_kind.is_empty() {
            Some(self.owned_uids(&context, &client, ns.unwrap_or("default"), &req.owner_kind, &req.owner_name).await?)
        } else {
            None
        };
        let table = op.output == v1::KubeOutput::Table as i32;
        if table && owned.is_some() {
            query.push("includeObject=Object".into());
        }
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query.join("&"));
        }
        let accept = if table {
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        } else {
            "application/json"
        };
        let text = Self::call(&client, http::Method::GET, path, accept, None, Vec::new()).await?;
        let with_ns = |mut r: v1::OpResult| {
            if let Some(k) = r.kube_resource.as_mut() {
                k.namespace = ns.unwrap_or_default().to_string();
            }
            r
        };
        let Some(owned) = owned else {
            // Passed through as the apiserver sent it.
            return Ok(with_ns(Self::result(text.into_bytes(), &res)));
        };
        let mut v: Value = serde_json::from_str(&text)
            .map_err(|e| err(ErrorCode::Upstream, format!("kubernetes API sent invalid JSON: {e}")))?;
        let is_owned = |o: &Value| watch::controlled_by_any(o, &owned);
        if table {
            if let Some(rows) = v["rows"].as_array_mut() {
                rows.retain(|r| is_owned(&r["object"]));
                for r in rows.iter_mut() {
                    let md = r["object"]["metadata"].clone();
                    r["object"] = serde_json::json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": md});
                }
            }
        } else if let Some(items) = v["items"].as_array_mut() {
            items.retain(is_owned);
        } else if !is_owned(&v) {
            return Err(err(
                ErrorCode::NotFound,
                format!("pod {:?} is not part of {} {:?}", op.name, req.owner_kind, req.owner_name),
            ));
        }
        Ok(with_ns(Self::result(serde_json::to_vec(&v).expect("json"), &res)))
    }

    /// The uids that own a workload's pods (see [`watch::owned_uids`]).
    async fn owned_uids(
        &self,
        context: &str,
        client: &Client,
        ns: &str,
        kind: &str,
        name: &str,
    ) -> Result<Vec<String>, v1::Error> {
        let owner_res = self.resolve(context, client, kind).await?;
        let child_res = match watch::child_kind(kind) {
            Some(c) => Some(self.resolve(context, client, c).await?),
            None => None,
        };
        watch::owned_uids(client, &owner_res, child_res.as_ref(), ns, name).await
    }

    pub async fn describe(&self, req: &v1::RunnerRequest, op: &v1::KubeDescribe) -> Result<v1::OpResult, v1::Error> {
        let (context, client) = self.client_for(req).await?;
        let res = self.resolve(&context, &client, &op.resource).await?;
        secrets_guard(req, &res)?;
        let ns = Self::scoped_ns(req, &res, None)?;
        let object = Self::get_json(&client, res.path(ns, Some(&op.name))).await?;
        let mut selector = format!("involvedObject.name={},involvedObject.kind={}", op.name, res.kind);
        if let Some(ns) = ns {
            selector.push_str(&format!(",involvedObject.namespace={ns}"));
        }
        let events_path = format!(
            "/api/v1{}/events?fieldSelector={}",
            ns.map(|n| format!("/namespaces/{}", enc(n))).unwrap_or_default(),
            enc(&selector)
        );
        let events = match Self::get_json(&client, events_path).await {
            Ok(v) => v["items"].clone(),
            Err(_) => Value::Array(Vec::new()),
        };
        let body = serde_json::json!({"object": object, "events": events});
        Ok(Self::result(serde_json::to_vec(&body).expect("json"), &res))
    }

    /// The resource of an object sent for replace/apply, and its path.
    async fn object_target(
        &self,
        req: &v1::RunnerRequest,
        context: &str,
        client: &Client,
        object_json: &[u8],
    ) -> Result<(ApiRes, Value, String), v1::Error> {
        let obj: Value = serde_json::from_slice(object_json)
            .map_err(|e| err(ErrorCode::InvalidArgument, format!("invalid object: {e}")))?;
        let (Some(api_version), Some(kind), Some(name)) =
            (obj["apiVersion"].as_str(), obj["kind"].as_str(), obj["metadata"]["name"].as_str())
        else {
            return Err(err(ErrorCode::InvalidArgument, "the object needs apiVersion, kind and metadata.name"));
        };
        let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
        let query = if group.is_empty() { kind.to_string() } else { format!("{kind}.{group}") };
        let res = self.resolve(context, client, &query).await?;
        let ns = Self::scoped_ns(req, &res, obj["metadata"]["namespace"].as_str())?;
        let mut obj = obj.clone();
        if let Some(n) = ns {
            obj["metadata"]["namespace"] = Value::String(n.to_string());
        }
        let path = res.path(ns, Some(name));
        Ok((res, obj, path))
    }

    pub async fn replace(&self, req: &v1::RunnerRequest, op: &v1::KubeReplace) -> Result<v1::OpResult, v1::Error> {
        let (context, client) = self.client_for(req).await?;
        let (res, obj, path) = self.object_target(req, &context, &client, &op.object_json).await?;
        let text = Self::call(
            &client,
            http::Method::PUT,
            path,
            "application/json",
            Some("application/json"),
            serde_json::to_vec(&obj).expect("json"),
        )
        .await?;
        Ok(Self::result(text.into_bytes(), &res))
    }

    pub async fn apply(&self, req: &v1::RunnerRequest, op: &v1::KubeApply) -> Result<v1::OpResult, v1::Error> {
        let (context, client) = self.client_for(req).await?;
        let (res, obj, path) = self.object_target(req, &context, &client, &op.object_json).await?;
        let text = Self::call(
            &client,
            http::Method::PATCH,
            format!("{path}?fieldManager=planton&force=true"),
            "application/json",
            Some("application/apply-patch+yaml"),
            serde_json::to_vec(&obj).expect("json"),
        )
        .await?;
        Ok(Self::result(text.into_bytes(), &res))
    }

    pub async fn delete(&self, req: &v1::RunnerRequest, op: &v1::KubeDelete) -> Result<v1::OpResult, v1::Error> {
        let (context, client) = self.client_for(req).await?;
        let res = self.resolve(&context, &client, &op.resource).await?;
        let ns = Self::scoped_ns(req, &res, None)?;
        let path = res.path(ns, Some(&op.name));
        let policy = match op.propagation.as_str() {
            "" | "background" | "Background" => "Background",
            "foreground" | "Foreground" => "Foreground",
            "orphan" | "Orphan" => "Orphan",
            other => {
                return Err(err(
                    ErrorCode::InvalidArgument,
                    format!("unknown propagation {other:?}: use background, foreground or orphan"),
                ));
            }
        };
        if op.dry_run {
            let object = Self::get_json(&client, path).await?;
            let dependents =
                if policy == "Orphan" { Vec::new() } else { self.dependents(&context, &client, ns, &object).await? };
            let body = serde_json::json!({"object": {"kind": res.kind, "name": op.name, "namespace": ns}, "dependents": dependents, "propagation": policy});
            return Ok(Self::result(serde_json::to_vec(&body).expect("json"), &res));
        }
        let body = serde_json::json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": policy});
        let text = Self::call(
            &client,
            http::Method::DELETE,
            path,
            "application/json",
            Some("application/json"),
            serde_json::to_vec(&body).expect("json"),
        )
        .await?;
        Ok(Self::result(text.into_bytes(), &res))
    }

    /// What a cascading delete of `object` takes with it (by ownerReferences, transitively).
    async fn dependents(
        &self,
        context: &str,
        client: &Client,
        ns: Option<&str>,
        object: &Value,
    ) -> Result<Vec<Value>, v1::Error> {
        let Some(ns) = ns else { return Ok(Vec::new()) };
        let mut all = Vec::new();
        for kind in ["replicasets", "pods", "jobs", "controllerrevisions"] {
            let Ok(res) = self.resolve(context, client, kind).await else { continue };
            if let Ok(list) = Self::get_json(client, res.path(Some(ns), None)).await {
                for o in list["items"].as_array().into_iter().flatten() {
                    all.push((res.kind.clone(), o.clone()));
                }
            }
        }
        let mut out = Vec::new();
        let mut frontier = vec![object["metadata"]["uid"].as_str().unwrap_or_default().to_string()];
        while let Some(uid) = frontier.pop() {
            for (kind, o) in &all {
                if o["metadata"]["ownerReferences"]
                    .as_array()
                    .is_some_and(|rs| rs.iter().any(|r| r["uid"].as_str() == Some(uid.as_str())))
                {
                    out.push(serde_json::json!({"kind": kind, "name": o["metadata"]["name"]}));
                    frontier.push(o["metadata"]["uid"].as_str().unwrap_or_default().to_string());
                }
            }
        }
        Ok(out)
    }

    pub async fn api_resources(&self, req: &v1::RunnerRequest) -> Result<v1::OpResult, v1::Error> {
        let (context, client) = self.client_for(req).await?;
        let resources = self.resources(&context, &client, DISCOVERY_TTL).await?;
        let items: Vec<Value> = resources
            .iter()
            .map(|r| serde_json::json!({"name": r.plural, "shortNames": r.short_names, "apiVersion": r.api_version(), "namespaced": r.namespaced, "kind": r.kind}))
            .collect();
        Ok(v1::OpResult {
            json: serde_json::to_vec(&serde_json::json!({"items": items})).expect("json"),
            kube_resource: None,
            ..Default::default()
        })
    }

    pub async fn graph(&self, req: &v1::RunnerRequest) -> Result<v1::OpResult, v1::Error> {
        let (context, client) = self.client_for(req).await?;
        let ns = if req.namespace.is_empty() { "default".to_string() } else { req.namespace.clone() };
        let mut objects = Vec::new();
        for kind in crate::graph::KINDS {
            let Ok(res) = self.resolve(&context, &client, kind).await else { continue };
            // A viewer's graph has no Secrets, and developer mode no cluster-scoped objects.
            if secrets_guard(req, &res).is_err() || (req.namespace_locked && !res.namespaced) {
                continue;
            }
            let path = if res.namespaced { res.path(Some(&ns), None) } else { res.path(None, None) };
            if let Ok(list) = Self::get_json(&client, path).await {
                for mut o in list["items"].as_array().cloned().unwrap_or_default() {
                    o["kind"] = Value::String(res.kind.clone());
                    objects.push(o);
                }
            }
        }
        // A cluster-scoped object (a PersistentVolume) belongs to this namespace's graph only
        // when bound to it, never as an orphan of every namespace.
        let bound: HashSet<String> = objects
            .iter()
            .filter(|o| o["kind"] == "PersistentVolumeClaim")
            .filter_map(|o| o["spec"]["volumeName"].as_str().map(String::from))
            .collect();
        objects.retain(|o| {
            o["metadata"]["namespace"].is_string()
                || o["spec"]["claimRef"]["namespace"].as_str() == Some(ns.as_str())
                || o["metadata"]["name"].as_str().is_some_and(|n| bound.contains(n))
        });
        let g = crate::graph::build(&objects);
        Ok(v1::OpResult { json: serde_json::to_vec(&g).expect("json"), kube_resource: None, ..Default::default() })
    }
}

/// Secrets are readable with the operator or admin role only (Kubernetes' `edit` / `admin`); a
/// viewer (`view`) never sees one, in any output. The gateway says which role the caller has.
fn secrets_guard(req: &v1::RunnerRequest, res: &ApiRes) -> Result<(), v1::Error> {
    if res.group.is_empty() && res.plural == "secrets" && !req.secrets_readable {
        return Err(err(
            ErrorCode::PermissionDenied,
            "reading Secrets needs the operator role (as Kubernetes' `edit`); the viewer role, like `view`, never shows Secrets",
        ));
    }
    Ok(())
}

fn outside(req: &v1::RunnerRequest) -> v1::Error {
    err(
        ErrorCode::PermissionDenied,
        format!("outside the resource's scope: only namespace {:?} is reachable", req.namespace),
    )
}

fn chrono_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
