//! The kinds this server knows, with their discovery data.

use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct ResourceDef {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() { self.version.to_string() } else { format!("{}/{}", self.group, self.version) }
    }
    pub fn key(&self) -> String {
        format!("{}/{}", self.api_version(), self.plural)
    }
    fn discovery(&self) -> Value {
        json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
            "shortNames": self.short_names,
            "categories": if matches!(self.kind, "Pod" | "Service" | "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") { vec!["all"] } else { vec![] },
        })
    }
}

macro_rules! r {
    ($g:literal, $v:literal, $k:literal, $p:literal, $s:literal, [$($sn:literal),*], $ns:literal) => {
        ResourceDef { group: $g, version: $v, kind: $k, plural: $p, singular: $s, short_names: &[$($sn),*], namespaced: $ns }
    };
}

pub static RESOURCES: &[ResourceDef] = &[
    r!("", "v1", "Namespace", "namespaces", "namespace", ["ns"], false),
    r!("", "v1", "Node", "nodes", "node", ["no"], false),
    r!("", "v1", "Pod", "pods", "pod", ["po"], true),
    r!("", "v1", "Service", "services", "service", ["svc"], true),
    r!("", "v1", "ConfigMap", "configmaps", "configmap", ["cm"], true),
    r!("", "v1", "Secret", "secrets", "secret", [], true),
    r!("", "v1", "Event", "events", "event", ["ev"], true),
    r!("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", ["sa"], true),
    r!("apps", "v1", "Deployment", "deployments", "deployment", ["deploy"], true),
    r!("apps", "v1", "ReplicaSet", "replicasets", "replicaset", ["rs"], true),
    r!("apps", "v1", "StatefulSet", "statefulsets", "statefulset", ["sts"], true),
    r!("apps", "v1", "DaemonSet", "daemonsets", "daemonset", ["ds"], true),
    r!("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", [], true),
    r!("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", ["pvc"], true),
    r!("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", ["pv"], false),
    r!("batch", "v1", "Job", "jobs", "job", [], true),
    r!("batch", "v1", "CronJob", "cronjobs", "cronjob", ["cj"], true),
    r!("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", ["ing"], true),
    r!("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", ["pdb"], true),
    r!("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", [], false),
    r!("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", [], false),
    r!("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", [], true),
    r!("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", [], true),
    r!(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        "horizontalpodautoscaler",
        ["hpa"],
        true
    ),
];

pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES.iter().find(|r| r.group == group && r.version == version && r.plural == plural)
}

pub fn by_kind(api_version: &str, kind: &str) -> Option<&'static ResourceDef> {
    RESOURCES.iter().find(|r| r.api_version() == api_version && r.kind == kind)
}

pub fn resource_list(group: &str, version: &str) -> Option<Value> {
    let gv = if group.is_empty() { version.to_string() } else { format!("{group}/{version}") };
    let mut items: Vec<Value> =
        RESOURCES.iter().filter(|r| r.group == group && r.version == version).map(ResourceDef::discovery).collect();
    // The subresources clients look up in discovery (kubectl scale finds the Scale kind here).
    if group == "apps" {
        for plural in ["deployments", "replicasets", "statefulsets"] {
            items.push(json!({
                "name": format!("{plural}/scale"), "singularName": "", "namespaced": true,
                "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"],
            }));
        }
    }
    if group.is_empty() {
        for (sub, kind, verbs) in [("log", "Pod", vec!["get"]), ("exec", "PodExecOptions", vec!["create", "get"])] {
            items.push(json!({"name": format!("pods/{sub}"), "singularName": "", "namespaced": true, "kind": kind, "verbs": verbs}));
        }
    }
    if items.is_empty() {
        return None;
    }
    Some(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": items}))
}

pub fn group_list() -> Value {
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !seen.contains(&(r.group, r.version)) {
            seen.push((r.group, r.version));
        }
    }
    let groups: Vec<Value> = seen
        .into_iter()
        .map(|(g, v)| {
            let gv = json!({"groupVersion": format!("{g}/{v}"), "version": v});
            json!({"name": g, "versions": [gv.clone()], "preferredVersion": gv})
        })
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}
