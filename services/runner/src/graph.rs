//! The namespace graph: a DAG of a namespace's resources and their relations. Pure: objects in,
//! nodes and edges out, so that it is unit-tested and benchmarked without a cluster.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

/// What the runner lists for a graph (kinds the cluster lacks are skipped).
pub const KINDS: [&str; 15] = [
    "deployments",
    "replicasets",
    "statefulsets",
    "daemonsets",
    "cronjobs",
    "jobs",
    "pods",
    "services",
    "ingresses",
    "horizontalpodautoscalers",
    "configmaps",
    "secrets",
    "persistentvolumeclaims",
    "persistentvolumes",
    "serviceaccounts",
];

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Node {
    pub id: String,
    pub kind: String,
    pub name: String,
    /// ok, warning or error.
    pub health: &'static str,
    pub status: String,
}

#[derive(Debug, Serialize, PartialEq, Eq, PartialOrd, Ord, Clone)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// owns, selects, mounts, env, binds, routes, tls, scales, runs-as
    pub relation: &'static str,
}

#[derive(Debug, Serialize, Default)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

fn id(kind: &str, name: &str) -> String {
    format!("{kind}/{name}")
}

fn health(kind: &str, o: &Value) -> (&'static str, String) {
    match kind {
        "Pod" => {
            let phase = o["status"]["phase"].as_str().unwrap_or("Unknown");
            let statuses = o["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
            let waiting = statuses.iter().find_map(|c| c["state"]["waiting"]["reason"].as_str().map(String::from));
            let ready = !statuses.is_empty() && statuses.iter().all(|c| c["ready"].as_bool() == Some(true));
            match (phase, waiting) {
                (_, Some(w)) if w.contains("BackOff") || w.contains("Err") => ("error", w),
                ("Failed", _) => ("error", "Failed".into()),
                ("Succeeded", _) => ("ok", "Completed".into()),
                ("Running", _) if ready => ("ok", "Running".into()),
                (p, w) => ("warning", w.unwrap_or_else(|| p.to_string())),
            }
        }
        "Deployment" | "StatefulSet" | "ReplicaSet" => {
            let want = o["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = o["status"]["readyReplicas"].as_i64().unwrap_or(0);
            (
                if ready >= want {
                    "ok"
                } else if ready == 0 && want > 0 {
                    "error"
                } else {
                    "warning"
                },
                format!("{ready}/{want} ready"),
            )
        }
        "PersistentVolumeClaim" => {
            let p = o["status"]["phase"].as_str().unwrap_or("Pending");
            (if p == "Bound" { "ok" } else { "warning" }, p.to_string())
        }
        _ => ("ok", String::new()),
    }
}

fn matches(selector: &serde_json::Map<String, Value>, labels: &Value) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Builds the graph. Each object must carry its `kind`.
pub fn build(objects: &[Value]) -> Graph {
    let mut g = Graph::default();
    let mut by_uid: HashMap<&str, String> = HashMap::new();
    let mut present: BTreeSet<String> = BTreeSet::new();
    for o in objects {
        let (kind, name) = (o["kind"].as_str().unwrap_or(""), o["metadata"]["name"].as_str().unwrap_or(""));
        let nid = id(kind, name);
        if let Some(uid) = o["metadata"]["uid"].as_str() {
            by_uid.insert(uid, nid.clone());
        }
        let (h, status) = health(kind, o);
        present.insert(nid.clone());
        g.nodes.push(Node { id: nid, kind: kind.into(), name: name.into(), health: h, status });
    }
    let mut edges: BTreeSet<Edge> = BTreeSet::new();
    let mut add = |from: String, to: String, relation: &'static str| {
        if from != to && present.contains(&from) && present.contains(&to) {
            edges.insert(Edge { from, to, relation });
        }
    };
    let pods: Vec<&Value> = objects.iter().filter(|o| o["kind"] == "Pod").collect();
    // Pods by label, so that a selector looks at its candidates only (not services × pods).
    let mut by_label: HashMap<(&str, &str), Vec<usize>> = HashMap::new();
    for (i, p) in pods.iter().enumerate() {
        for (k, v) in p["metadata"]["labels"].as_object().into_iter().flatten() {
            if let Some(v) = v.as_str() {
                by_label.entry((k.as_str(), v)).or_default().push(i);
            }
        }
    }
    for o in objects {
        let kind = o["kind"].as_str().unwrap_or("");
        let me = id(kind, o["metadata"]["name"].as_str().unwrap_or(""));
        for r in o["metadata"]["ownerReferences"].as_array().into_iter().flatten() {
            if let Some(owner) = r["uid"].as_str().and_then(|u| by_uid.get(u)) {
                add(owner.clone(), me.clone(), "owns");
            }
        }
        match kind {
            "Service" => {
                if let Some(sel) = o["spec"]["selector"].as_object() {
                    let candidates = sel
                        .iter()
                        .map(|(k, v)| {
                            by_label.get(&(k.as_str(), v.as_str().unwrap_or(""))).map_or(&[][..], Vec::as_slice)
                        })
                        .min_by_key(|c| c.len())
                        .unwrap_or(&[]);
                    for &i in candidates {
                        let p = pods[i];
                        if matches(sel, &p["metadata"]["labels"]) {
                            add(me.clone(), id("Pod", p["metadata"]["name"].as_str().unwrap_or("")), "selects");
                        }
                    }
                }
            }
            "Pod" => {
                let spec = &o["spec"];
                let sa = spec["serviceAccountName"].as_str().unwrap_or("default");
                add(id("ServiceAccount", sa), me.clone(), "runs-as");
                for v in spec["volumes"].as_array().into_iter().flatten() {
                    if let Some(n) = v["configMap"]["name"].as_str() {
                        add(me.clone(), id("ConfigMap", n), "mounts");
                    }
                    if let Some(n) = v["secret"]["secretName"].as_str() {
                        add(me.clone(), id("Secret", n), "mounts");
                    }
                    if let Some(n) = v["persistentVolumeClaim"]["claimName"].as_str() {
                        add(me.clone(), id("PersistentVolumeClaim", n), "mounts");
                    }
                    for src in v["projected"]["sources"].as_array().into_iter().flatten() {
                        if let Some(n) = src["configMap"]["name"].as_str() {
                            add(me.clone(), id("ConfigMap", n), "mounts");
                        }
                        if let Some(n) = src["secret"]["name"].as_str() {
                            add(me.clone(), id("Secret", n), "mounts");
                        }
                    }
                }
                let containers = spec["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .chain(spec["initContainers"].as_array().into_iter().flatten());
                for c in containers {
                    for e in c["env"].as_array().into_iter().flatten() {
                        if let Some(n) = e["valueFrom"]["configMapKeyRef"]["name"].as_str() {
                            add(me.clone(), id("ConfigMap", n), "env");
                        }
                        if let Some(n) = e["valueFrom"]["secretKeyRef"]["name"].as_str() {
                            add(me.clone(), id("Secret", n), "env");
                        }
                    }
                    for e in c["envFrom"].as_array().into_iter().flatten() {
                        if let Some(n) = e["configMapRef"]["name"].as_str() {
                            add(me.clone(), id("ConfigMap", n), "env");
                        }
                        if let Some(n) = e["secretRef"]["name"].as_str() {
                            add(me.clone(), id("Secret", n), "env");
                        }
                    }
                }
            }
            "PersistentVolumeClaim" => {
                if let Some(n) = o["spec"]["volumeName"].as_str() {
                    add(me.clone(), id("PersistentVolume", n), "binds");
                }
            }
            "Ingress" => {
                if let Some(n) = o["spec"]["defaultBackend"]["service"]["name"].as_str() {
                    add(me.clone(), id("Service", n), "routes");
                }
                for rule in o["spec"]["rules"].as_array().into_iter().flatten() {
                    for p in rule["http"]["paths"].as_array().into_iter().flatten() {
                        if let Some(n) = p["backend"]["service"]["name"].as_str() {
                            add(me.clone(), id("Service", n), "routes");
                        }
                    }
                }
                for t in o["spec"]["tls"].as_array().into_iter().flatten() {
                    if let Some(n) = t["secretName"].as_str() {
                        add(me.clone(), id("Secret", n), "tls");
                    }
                }
            }
            "HorizontalPodAutoscaler" => {
                let t = &o["spec"]["scaleTargetRef"];
                if let (Some(k), Some(n)) = (t["kind"].as_str(), t["name"].as_str()) {
                    add(me.clone(), id(k, n), "scales");
                }
            }
            _ => {}
        }
    }
    g.edges = edges.into_iter().collect();
    g
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// One object of every relation kind, and the exact edges expected.
    #[test]
    fn every_relation() {
        let objs = vec![
            json!({"kind": "Deployment", "metadata": {"name": "web", "uid": "d1"}, "spec": {"replicas": 1}, "status": {"readyReplicas": 1}}),
            json!({"kind": "ReplicaSet", "metadata": {"name": "web-1", "uid": "r1", "ownerReferences": [{"uid": "d1"}]}, "spec": {"replicas": 1}, "status": {"readyReplicas": 1}}),
            json!({"kind": "Pod", "metadata": {"name": "web-1-a", "uid": "p1", "labels": {"app": "web"}, "ownerReferences": [{"uid": "r1"}]},
                   "spec": {"serviceAccountName": "web-sa",
                            "volumes": [{"name": "c", "configMap": {"name": "web-config"}}, {"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
                            "containers": [{"name": "web", "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "web-secret", "key": "p"}}}],
                                            "envFrom": [{"configMapRef": {"name": "shared"}}]}]},
                   "status": {"phase": "Running", "containerStatuses": [{"ready": true, "state": {"running": {}}}]}}),
            json!({"kind": "Service", "metadata": {"name": "web", "uid": "s1"}, "spec": {"selector": {"app": "web"}}}),
            json!({"kind": "Ingress", "metadata": {"name": "web", "uid": "i1"}, "spec": {"tls": [{"secretName": "web-tls"}], "rules": [{"http": {"paths": [{"backend": {"service": {"name": "web"}}}]}}]}}),
            json!({"kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "uid": "h1"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "web-config", "uid": "c1"}}),
            json!({"kind": "ConfigMap", "metadata": {"name": "shared", "uid": "c2"}}),
            json!({"kind": "Secret", "metadata": {"name": "web-secret", "uid": "x1"}}),
            json!({"kind": "Secret", "metadata": {"name": "web-tls", "uid": "x2"}}),
            json!({"kind": "PersistentVolumeClaim", "metadata": {"name": "data", "uid": "v1"}, "spec": {"volumeName": "pv-1"}, "status": {"phase": "Bound"}}),
            json!({"kind": "PersistentVolume", "metadata": {"name": "pv-1", "uid": "v2"}}),
            json!({"kind": "ServiceAccount", "metadata": {"name": "web-sa", "uid": "a1"}}),
        ];
        let g = build(&objs);
        let got: BTreeSet<(String, String, &str)> =
            g.edges.iter().map(|e| (e.from.clone(), e.to.clone(), e.relation)).collect();
        let want: BTreeSet<(String, String, &str)> = [
            ("Deployment/web", "ReplicaSet/web-1", "owns"),
            ("ReplicaSet/web-1", "Pod/web-1-a", "owns"),
            ("Service/web", "Pod/web-1-a", "selects"),
            ("Pod/web-1-a", "ConfigMap/web-config", "mounts"),
            ("Pod/web-1-a", "PersistentVolumeClaim/data", "mounts"),
            ("Pod/web-1-a", "Secret/web-secret", "env"),
            ("Pod/web-1-a", "ConfigMap/shared", "env"),
            ("PersistentVolumeClaim/data", "PersistentVolume/pv-1", "binds"),
            ("Ingress/web", "Service/web", "routes"),
            ("Ingress/web", "Secret/web-tls", "tls"),
            ("HorizontalPodAutoscaler/web", "Deployment/web", "scales"),
            ("ServiceAccount/web-sa", "Pod/web-1-a", "runs-as"),
        ]
        .into_iter()
        .map(|(a, b, r)| (a.to_string(), b.to_string(), r))
        .collect();
        assert_eq!(got, want);
        assert_eq!(g.nodes.len(), objs.len());
        assert!(is_acyclic(&g));
    }

    pub(crate) fn is_acyclic(g: &Graph) -> bool {
        let mut indeg: HashMap<&str, usize> = g.nodes.iter().map(|n| (n.id.as_str(), 0)).collect();
        for e in &g.edges {
            *indeg.get_mut(e.to.as_str()).unwrap() += 1;
        }
        let mut queue: Vec<&str> = indeg.iter().filter(|(_, d)| **d == 0).map(|(n, _)| *n).collect();
        let mut seen = 0;
        while let Some(n) = queue.pop() {
            seen += 1;
            for e in g.edges.iter().filter(|e| e.from == n) {
                let d = indeg.get_mut(e.to.as_str()).unwrap();
                *d -= 1;
                if *d == 0 {
                    queue.push(e.to.as_str());
                }
            }
        }
        seen == g.nodes.len()
    }
}
