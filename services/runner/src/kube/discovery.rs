//! Discovery: the kinds a cluster serves (`/api`, `/apis`), read once per cluster and shared,
//! and a name (`deploy`, `pods`, `Deployment.apps`) resolved to one of them.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use cloudops_schemas::v1::{self, ErrorCode};
use kube::Client;
use serde_json::Value;

use super::{KubeExecutor, enc, err, kube_error};

/// One API resource from discovery.
#[derive(Debug, Clone)]
pub(super) struct ApiRes {
    pub(super) group: String,
    pub(super) version: String,
    pub(super) plural: String,
    pub(super) singular: String,
    pub(super) kind: String,
    pub(super) short_names: Vec<String>,
    pub(super) namespaced: bool,
}

impl ApiRes {
    pub(super) fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.clone() } else { format!("{}/{}", self.group, self.version) }
    }
    pub(super) fn path(&self, ns: Option<&str>, name: Option<&str>) -> String {
        let mut p = self.base();
        if let (true, Some(ns)) = (self.namespaced, ns) {
            p.push_str(&format!("/namespaces/{}", enc(ns)));
        }
        p.push_str(&format!("/{}", self.plural));
        if let Some(n) = name {
            p.push_str(&format!("/{}", enc(n)));
        }
        p
    }
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

pub(super) const DISCOVERY_TTL: Duration = Duration::from_secs(300);
/// A kind discovery does not know is looked for again (a CRD installed since), as kubectl
/// does, but at most this often.
const DISCOVERY_ON_MISS: Duration = Duration::from_secs(10);

/// A cluster's kinds and when they were read.
pub(super) type Discovered = (Instant, Arc<Vec<ApiRes>>);

impl KubeExecutor {
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

    /// The cluster's kinds, as read less than `max_age` ago (else read now).
    pub(super) async fn resources(
        &self,
        context: &str,
        client: &Client,
        max_age: Duration,
    ) -> Result<Arc<Vec<ApiRes>>, v1::Error> {
        let slot = self.with_cluster(context, |c| c.discovery.clone()).await?;
        let mut slot = slot.lock().await;
        if let Some((at, d)) = slot.as_ref().filter(|(at, _)| at.elapsed() < max_age) {
            tracing::trace!(age_ms = at.elapsed().as_millis() as u64, "discovery cached");
            return Ok(d.clone());
        }
        let d = Arc::new(Self::discover(client).await?);
        *slot = Some((Instant::now(), d.clone()));
        Ok(d)
    }

    pub(super) async fn resolve(&self, context: &str, client: &Client, name: &str) -> Result<ApiRes, v1::Error> {
        let lower = name.to_ascii_lowercase();
        let (res, group) = match lower.split_once('.') {
            Some((r, g)) => (r.to_string(), Some(g.to_string())),
            None => (lower, None),
        };
        let find = |resources: &[ApiRes]| {
            resources
                .iter()
                .find(|r| {
                    r.matches(&res)
                        && group.as_ref().is_none_or(|g| &r.group == g || r.group.starts_with(&format!("{g}.")))
                })
                .cloned()
        };
        if let Some(r) = find(&self.resources(context, client, DISCOVERY_TTL).await?) {
            return Ok(r);
        }
        find(&self.resources(context, client, DISCOVERY_ON_MISS).await?).ok_or_else(|| {
            err(ErrorCode::InvalidArgument, format!("the server doesn't have a resource type \"{name}\""))
        })
    }
}
