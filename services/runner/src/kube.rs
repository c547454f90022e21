//! Kubernetes ops, made with the runner's own credentials: a kubeconfig context (`KUBECONFIG`,
//! the connection's context) or the in-cluster service account.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use cloudops_schemas::v1::{self, ErrorCode};
use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};
use serde_json::Value;
use tokio::sync::Mutex;

/// One API resource from discovery.
#[derive(Debug, Clone)]
struct ApiRes {
    group: String,
    version: String,
    plural: String,
    singular: String,
    kind: String,
    short_names: Vec<String>,
    namespaced: bool,
}

impl ApiRes {
    fn base(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
    fn matches(&self, name: &str) -> bool {
        self.plural == name
            || self.singular == name
            || self.kind.eq_ignore_ascii_case(name)
            || self.short_names.iter().any(|s| s == name)
    }
}

struct Cluster {
    client: Client,
    discovery: Option<(Instant, Arc<Vec<ApiRes>>)>,
}

const DISCOVERY_TTL: Duration = Duration::from_secs(300);

pub struct KubeExecutor {
    kubeconfig: Option<PathBuf>,
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

fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

impl KubeExecutor {
    pub fn new(kubeconfig: Option<PathBuf>) -> Self {
        Self { kubeconfig, clusters: Mutex::new(HashMap::new()) }
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
            let client =
                Client::try_from(cfg).map_err(|e| err(ErrorCode::Unavailable, format!("kubernetes client: {e}")))?;
            map.insert(context.to_string(), Cluster { client, discovery: None });
        }
        Ok(f(map.get_mut(context).expect("inserted")))
    }

    async fn discover(client: &Client) -> Result<Vec<ApiRes>, v1::Error> {
        let mut out = Vec::new();
        let mut gvs = vec![(String::new(), "v1".to_string())];
        let groups: Value =
            client.request(http::Request::get("/apis").body(Vec::new()).expect("request")).await.map_err(kube_error)?;
        for g in groups["groups"].as_array().into_iter().flatten() {
            if let (Some(name), Some(v)) = (g["name"].as_str(), g["preferredVersion"]["version"].as_str()) {
                gvs.push((name.to_string(), v.to_string()));
            }
        }
        for (group, version) in gvs {
            let path = if group.is_empty() { format!("/api/{version}") } else { format!("/apis/{group}/{version}") };
            let list: Value = match client.request(http::Request::get(path).body(Vec::new()).expect("request")).await {
                Ok(v) => v,
                Err(_) => continue, // an unavailable aggregated API must not break discovery
            };
            for r in list["resources"].as_array().into_iter().flatten() {
                let plural = r["name"].as_str().unwrap_or_default();
                if plural.contains('/') {
                    continue;
                }
                out.push(ApiRes {
                    group: group.clone(),
                    version: version.clone(),
                    plural: plural.to_string(),
                    singular: r["singularName"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .unwrap_or(&r["kind"].as_str().unwrap_or_default().to_ascii_lowercase())
                        .to_string(),
                    kind: r["kind"].as_str().unwrap_or_default().to_string(),
                    short_names: r["shortNames"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect(),
                    namespaced: r["namespaced"].as_bool().unwrap_or(true),
                });
            }
        }
        Ok(out)
    }

    async fn resolve(&self, context: &str, client: &Client, name: &str) -> Result<ApiRes, v1::Error> {
        let cached = self
            .with_cluster(context, |c| {
                c.discovery.as_ref().filter(|(t, _)| t.elapsed() < DISCOVERY_TTL).map(|(_, d)| d.clone())
            })
            .await?;
        let resources = match cached {
            Some(d) => d,
            None => {
                let d = Arc::new(Self::discover(client).await?);
                self.with_cluster(context, |c| c.discovery = Some((Instant::now(), d.clone()))).await?;
                d
            }
        };
        let lower = name.to_ascii_lowercase();
        let (res, group) = match lower.split_once('.') {
            Some((r, g)) => (r.to_string(), Some(g.to_string())),
            None => (lower, None),
        };
        resources
            .iter()
            .find(|r| {
                r.matches(&res) && group.as_ref().is_none_or(|g| &r.group == g || r.group.starts_with(&format!("{g}.")))
            })
            .cloned()
            .ok_or_else(|| {
                err(ErrorCode::InvalidArgument, format!("the server doesn't have a resource type \"{name}\""))
            })
    }

    pub async fn get(&self, req: &v1::RunnerRequest, op: &v1::KubeGet) -> Result<v1::OpResult, v1::Error> {
        let context = req.settings.as_ref().map(|s| s.kube_context.as_str()).unwrap_or("");
        let client = self.with_cluster(context, |c| c.client.clone()).await?;
        let res = self.resolve(context, &client, &op.resource).await?;
        if req.namespace_locked && (op.all_namespaces || !res.namespaced) {
            return Err(err(
                ErrorCode::PermissionDenied,
                format!("outside the resource's scope: only namespace {:?} is reachable", req.namespace),
            ));
        }
        let mut path = res.base();
        if res.namespaced && !op.all_namespaces {
            let ns = if req.namespace.is_empty() { "default" } else { req.namespace.as_str() };
            path.push_str(&format!("/namespaces/{}", enc(ns)));
        }
        path.push_str(&format!("/{}", res.plural));
        if !op.name.is_empty() {
            path.push_str(&format!("/{}", enc(&op.name)));
        }
        let mut query = Vec::new();
        if !op.label_selector.is_empty() {
            query.push(format!("labelSelector={}", enc(&op.label_selector)));
        }
        if !op.field_selector.is_empty() {
            query.push(format!("fieldSelector={}", enc(&op.field_selector)));
        }
        if !query.is_empty() {
            path.push('?');
            path.push_str(&query.join("&"));
        }
        let accept = if op.output == v1::KubeOutput::Table as i32 {
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        } else {
            "application/json"
        };
        let request = http::Request::get(path).header(http::header::ACCEPT, accept).body(Vec::new()).expect("request");
        let text = client.request_text(request).await.map_err(kube_error)?;
        // The body is passed through as the apiserver sent it.
        let api_version =
            if res.group.is_empty() { res.version.clone() } else { format!("{}/{}", res.group, res.version) };
        Ok(v1::OpResult {
            json: text.into_bytes(),
            kube_resource: Some(v1::KubeResource {
                kind: res.kind,
                api_version,
                plural: res.plural,
                namespaced: res.namespaced,
            }),
        })
    }
}
