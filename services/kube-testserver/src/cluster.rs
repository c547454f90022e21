//! The cluster's state: every object by kind, namespace and name, one resourceVersion counter,
//! the feed of changes that watches follow, appended pod logs and the audit log.

use std::{
    collections::BTreeMap,
    sync::{Arc, RwLock},
};

use chrono::Utc;
use serde_json::{Value, json};

use crate::{AuditEvent, LogLine, ResourceDef, resources, sandbox};

#[derive(Default, Clone)]
pub(crate) struct Objects {
    /// resource key ("apps/v1/deployments") → (namespace, name) → object
    pub(crate) by_resource: BTreeMap<String, BTreeMap<(String, String), Value>>,
    pub(crate) resource_version: u64,
}

/// One change, as a watch delivers it.
#[derive(Debug, Clone)]
pub struct Change {
    pub resource: String,
    pub kind: &'static str,
    pub object: Value,
}

/// The cluster state. Cheap to clone.
#[derive(Clone)]
pub struct Cluster {
    pub(crate) inner: Arc<RwLock<Objects>>,
    feed: tokio::sync::broadcast::Sender<Arc<Change>>,
    /// Lines appended by tests: (namespace, pod, container) → lines.
    logs: Arc<std::sync::Mutex<AppendedLogs>>,
    /// Every request served, oldest first (see [`AuditEvent`]).
    pub(crate) audit: Arc<std::sync::Mutex<std::collections::VecDeque<AuditEvent>>>,
}

type AppendedLogs = BTreeMap<(String, String, String), Vec<LogLine>>;

impl Default for Cluster {
    fn default() -> Self {
        Self {
            inner: Arc::default(),
            feed: tokio::sync::broadcast::channel(4096).0,
            logs: Arc::default(),
            audit: Arc::default(),
        }
    }
}

impl Cluster {
    /// A copy of the objects that nothing else sees: where `dryRun=All` writes go.
    pub(crate) fn scratch(&self) -> Cluster {
        let objects = self.inner.read().expect("cluster lock").clone();
        Cluster { inner: Arc::new(RwLock::new(objects)), ..Cluster::default() }
    }

    /// Creates or replaces an object, filling in uid, resourceVersion and creationTimestamp
    /// when missing. Returns the stored object.
    pub fn upsert(&self, mut obj: Value) -> Result<Value, String> {
        let api_version = obj["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = obj["kind"].as_str().unwrap_or_default().to_string();
        let def =
            resources::by_kind(&api_version, &kind).ok_or_else(|| format!("unknown kind {api_version}/{kind}"))?;
        let name = obj["metadata"]["name"].as_str().ok_or("metadata.name is required")?.to_string();
        let ns = if def.namespaced {
            obj["metadata"]["namespace"].as_str().unwrap_or("default").to_string()
        } else {
            String::new()
        };
        let mut g = self.inner.write().expect("cluster lock");
        g.resource_version += 1;
        let rv = g.resource_version;
        let md = obj["metadata"].as_object_mut().ok_or("metadata must be an object")?;
        if def.namespaced {
            md.insert("namespace".into(), json!(ns));
        }
        md.entry("uid").or_insert_with(|| json!(uuid::Uuid::new_v4().to_string()));
        md.entry("creationTimestamp").or_insert_with(|| json!(Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()));
        md.insert("resourceVersion".into(), json!(rv.to_string()));
        let existed = g.by_resource.entry(def.key()).or_default().insert((ns, name), obj.clone()).is_some();
        drop(g);
        let _ = self.feed.send(Arc::new(Change {
            resource: def.key(),
            kind: if existed { "MODIFIED" } else { "ADDED" },
            object: obj.clone(),
        }));
        Ok(obj)
    }

    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Option<Value> {
        let g = self.inner.read().expect("cluster lock");
        g.by_resource.get(&def.key())?.get(&(ns.to_string(), name.to_string())).cloned()
    }

    /// Removes an object; returns it.
    pub fn remove(&self, def: &ResourceDef, ns: &str, name: &str) -> Option<Value> {
        let mut g = self.inner.write().expect("cluster lock");
        g.resource_version += 1;
        let gone = g.by_resource.get_mut(&def.key())?.remove(&(ns.to_string(), name.to_string()))?;
        drop(g);
        let _ = self.feed.send(Arc::new(Change { resource: def.key(), kind: "DELETED", object: gone.clone() }));
        Some(gone)
    }

    /// Appends a log line to a pod's container (it shows in later reads and in followed streams).
    pub fn append_log(&self, ns: &str, pod: &str, container: &str, text: &str) {
        let mut g = self.logs.lock().expect("logs lock");
        g.entry((ns.into(), pod.into(), container.into()))
            .or_default()
            .push(LogLine { at: Utc::now(), text: text.into() });
    }

    pub fn appended_logs(&self, ns: &str, pod: &str, container: &str) -> Vec<LogLine> {
        let g = self.logs.lock().expect("logs lock");
        g.get(&(ns.to_string(), pod.to_string(), container.to_string())).cloned().unwrap_or_default()
    }

    /// The audit log: every request served so far, oldest first.
    pub fn audit_events(&self) -> Vec<AuditEvent> {
        self.audit.lock().expect("audit log").iter().cloned().collect()
    }

    /// Every change from now on.
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<Arc<Change>> {
        self.feed.subscribe()
    }

    /// Objects of a kind in `ns` (all namespaces when None), sorted by namespace and name.
    pub fn list(&self, def: &ResourceDef, ns: Option<&str>) -> (Vec<Value>, u64) {
        let g = self.inner.read().expect("cluster lock");
        let items = g
            .by_resource
            .get(&def.key())
            .map(|m| m.iter().filter(|((n, _), _)| ns.is_none_or(|want| n == want)).map(|(_, v)| v.clone()).collect())
            .unwrap_or_default();
        (items, g.resource_version)
    }

    /// Fills the cluster with the sandbox's clearly labelled demo workloads.
    pub fn seed_sandbox(&self) {
        sandbox::seed(self);
    }
}
