//! meta.k8s.io/v1 Table rendering with the columns a real apiserver gives each kind, so that
//! stock kubectl prints what it prints against a real cluster.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::resources::ResourceDef;

/// kubectl's duration.HumanDuration.
pub fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < -1 {
        return "<invalid>".into();
    } else if seconds < 0 {
        return "0s".into();
    } else if seconds < 60 * 2 {
        return format!("{seconds}s");
    }
    let minutes = d.num_minutes();
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 { format!("{minutes}m") } else { format!("{minutes}m{s}s") };
    } else if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = d.num_hours();
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 { format!("{hours}h") } else { format!("{hours}h{m}m") };
    } else if hours < 48 {
        return format!("{hours}h");
    } else if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 { format!("{}d", hours / 24) } else { format!("{}d{h}h", hours / 24) };
    } else if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    } else if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{dy}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

pub fn age_since(ts: Option<&str>, now: DateTime<Utc>) -> String {
    match ts.and_then(|t| DateTime::parse_from_rfc3339(t).ok()) {
        Some(t) => human_duration(now - t.with_timezone(&Utc)),
        None => "<unknown>".into(),
    }
}

fn col(name: &str, ty: &str, priority: u32, description: &str) -> Value {
    json!({"name": name, "type": ty, "format": if name == "Name" { "name" } else { "" }, "description": description, "priority": priority})
}

fn s<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    Some(cur)
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    s(v, path).and_then(Value::as_str)
}

fn int_at(v: &Value, path: &[&str]) -> i64 {
    s(v, path).and_then(Value::as_i64).unwrap_or(0)
}

fn none_if_empty(x: Option<&str>) -> String {
    match x {
        Some(v) if !v.is_empty() => v.to_string(),
        _ => "<none>".into(),
    }
}

fn containers_images(spec: &Value) -> (String, String) {
    let cs = s(spec, &["template", "spec", "containers"]).and_then(Value::as_array).cloned().unwrap_or_default();
    let names: Vec<&str> = cs.iter().filter_map(|c| c["name"].as_str()).collect();
    let images: Vec<&str> = cs.iter().filter_map(|c| c["image"].as_str()).collect();
    (names.join(","), images.join(","))
}

fn selector_string(sel: Option<&Value>) -> String {
    let Some(ml) = sel.and_then(|s| s.get("matchLabels")).and_then(Value::as_object) else {
        return "<none>".into();
    };
    ml.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(",")
}

/// kubectl's pod status, ready and restarts cells.
pub fn pod_cells(pod: &Value, now: DateTime<Utc>) -> (String, String, String) {
    let total = s(pod, &["spec", "containers"]).and_then(Value::as_array).map_or(0, Vec::len);
    let mut reason = str_at(pod, &["status", "phase"]).unwrap_or("Unknown").to_string();
    if let Some(r) = str_at(pod, &["status", "reason"]).filter(|r| !r.is_empty()) {
        reason = r.to_string();
    }
    let (mut ready, mut restarts, mut last_restart): (usize, i64, Option<DateTime<Utc>>) = (0, 0, None);
    let statuses = s(pod, &["status", "containerStatuses"]).and_then(Value::as_array).cloned().unwrap_or_default();
    let mut has_running = false;
    for cs in statuses.iter().rev() {
        restarts += cs["restartCount"].as_i64().unwrap_or(0);
        if let Some(t) =
            str_at(cs, &["lastState", "terminated", "finishedAt"]).and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        {
            let t = t.with_timezone(&Utc);
            if last_restart.is_none_or(|l| t > l) {
                last_restart = Some(t);
            }
        }
        if let Some(w) = str_at(cs, &["state", "waiting", "reason"]).filter(|r| !r.is_empty()) {
            reason = w.to_string();
        } else if let Some(t) = s(cs, &["state", "terminated"]) {
            reason = match t["reason"].as_str() {
                Some(r) if !r.is_empty() => r.to_string(),
                _ if t["signal"].as_i64().unwrap_or(0) != 0 => format!("Signal:{}", t["signal"]),
                _ => format!("ExitCode:{}", t["exitCode"].as_i64().unwrap_or(0)),
            };
        } else if cs["ready"].as_bool() == Some(true) && s(cs, &["state", "running"]).is_some() {
            has_running = true;
            ready += 1;
        }
    }
    if reason == "Completed" && has_running {
        reason = "Running".into();
    }
    if s(pod, &["metadata", "deletionTimestamp"]).is_some() {
        reason = "Terminating".into();
    }
    let restarts = match last_restart {
        Some(t) if restarts > 0 => format!("{restarts} ({} ago)", human_duration(now - t)),
        _ => restarts.to_string(),
    };
    (format!("{ready}/{total}"), reason, restarts)
}

/// Columns and one row's cells for `obj` of kind `def`.
pub fn columns(def: &ResourceDef) -> Vec<Value> {
    let name = col("Name", "string", 0, "Name must be unique within a namespace.");
    let age = col(
        "Age",
        "string",
        0,
        "CreationTimestamp is a timestamp representing the server time when this object was created.",
    );
    match def.kind {
        "Pod" => vec![
            name,
            col("Ready", "string", 0, "The aggregate readiness state of this pod for accepting traffic."),
            col("Status", "string", 0, "The aggregate status of the containers in this pod."),
            col(
                "Restarts",
                "string",
                0,
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            age,
            col("IP", "string", 1, "IP address allocated to the pod."),
            col("Node", "string", 1, "Name of the Node this pod is scheduled on."),
            col("Nominated Node", "string", 1, "Name of the Node nominated for preemption."),
            col("Readiness Gates", "string", 1, "The readiness gates of the pod."),
        ],
        "Deployment" => vec![
            name,
            col("Ready", "string", 0, "Number of the pod with ready state"),
            col(
                "Up-to-date",
                "integer",
                0,
                "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            ),
            col(
                "Available",
                "integer",
                0,
                "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            ),
            age,
            col("Containers", "string", 1, "Names of each container in the template."),
            col("Images", "string", 1, "Images referenced by each container in the template."),
            col("Selector", "string", 1, "Label selector for pods."),
        ],
        "ReplicaSet" | "StatefulSet" | "DaemonSet" => vec![
            name,
            col("Desired", "integer", 0, "Number of desired pods."),
            col("Current", "integer", 0, "Number of actually running pods."),
            col("Ready", "integer", 0, "Number of ready pods."),
            age,
            col("Containers", "string", 1, "Names of each container in the template."),
            col("Images", "string", 1, "Images referenced by each container in the template."),
            col("Selector", "string", 1, "Label selector for pods."),
        ],
        "Namespace" => vec![name, col("Status", "string", 0, "The status of the namespace"), age],
        "Node" => vec![
            name,
            col("Status", "string", 0, "The status of the node"),
            col("Roles", "string", 0, "The roles of the node"),
            age,
            col("Version", "string", 0, "Kubelet Version reported by the node."),
        ],
        "Service" => vec![
            name,
            col("Type", "string", 0, "The type of the service."),
            col("Cluster-IP", "string", 0, "The cluster ip of the service."),
            col("External-IP", "string", 0, "The external ip of the service."),
            col("Port(s)", "string", 0, "The ports of the service."),
            age,
            col("Selector", "string", 1, "The selector of the service."),
        ],
        _ => vec![name, age],
    }
}

pub fn cells(def: &ResourceDef, obj: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let name = json!(str_at(obj, &["metadata", "name"]).unwrap_or(""));
    let age = json!(age_since(str_at(obj, &["metadata", "creationTimestamp"]), now));
    let spec = &obj["spec"];
    let status = &obj["status"];
    match def.kind {
        "Pod" => {
            let (ready, reason, restarts) = pod_cells(obj, now);
            vec![
                name,
                json!(ready),
                json!(reason),
                json!(restarts),
                age,
                json!(none_if_empty(str_at(obj, &["status", "podIP"]))),
                json!(none_if_empty(str_at(obj, &["spec", "nodeName"]))),
                json!(none_if_empty(str_at(obj, &["status", "nominatedNodeName"]))),
                json!("<none>"),
            ]
        }
        "Deployment" => {
            let (c, i) = containers_images(spec);
            vec![
                name,
                json!(format!("{}/{}", int_at(status, &["readyReplicas"]), int_at(spec, &["replicas"]))),
                json!(int_at(status, &["updatedReplicas"])),
                json!(int_at(status, &["availableReplicas"])),
                age,
                json!(c),
                json!(i),
                json!(selector_string(spec.get("selector"))),
            ]
        }
        "ReplicaSet" | "StatefulSet" | "DaemonSet" => {
            let (c, i) = containers_images(spec);
            let desired = if def.kind == "DaemonSet" {
                int_at(status, &["desiredNumberScheduled"])
            } else {
                int_at(spec, &["replicas"])
            };
            let current = if def.kind == "DaemonSet" {
                int_at(status, &["currentNumberScheduled"])
            } else {
                int_at(status, &["replicas"])
            };
            let ready = if def.kind == "DaemonSet" {
                int_at(status, &["numberReady"])
            } else {
                int_at(status, &["readyReplicas"])
            };
            vec![
                name,
                json!(desired),
                json!(current),
                json!(ready),
                age,
                json!(c),
                json!(i),
                json!(selector_string(spec.get("selector"))),
            ]
        }
        "Namespace" => vec![name, json!(str_at(status, &["phase"]).unwrap_or("Active")), age],
        "Node" => {
            let ready = status["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .map(|c| c["status"] == "True");
            let st = match ready {
                Some(true) => "Ready",
                Some(false) => "NotReady",
                None => "Unknown",
            };
            vec![
                name,
                json!(st),
                json!("<none>"),
                age,
                json!(str_at(status, &["nodeInfo", "kubeletVersion"]).unwrap_or("")),
            ]
        }
        "Service" => {
            let ports: Vec<String> = spec["ports"]
                .as_array()
                .map(|ps| {
                    ps.iter().map(|p| format!("{}/{}", p["port"], p["protocol"].as_str().unwrap_or("TCP"))).collect()
                })
                .unwrap_or_default();
            let sel = spec["selector"].as_object().map(|m| {
                m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(",")
            });
            vec![
                name,
                json!(str_at(spec, &["type"]).unwrap_or("ClusterIP")),
                json!(none_if_empty(str_at(spec, &["clusterIP"]))),
                json!("<none>"),
                json!(if ports.is_empty() { "<none>".to_string() } else { ports.join(",") }),
                age,
                json!(sel.unwrap_or_else(|| "<none>".into())),
            ]
        }
        _ => vec![name, age],
    }
}

/// The Table for `objs`. Row objects are PartialObjectMetadata unless `include_object` says
/// "Object" (or "None").
pub fn table(
    def: &ResourceDef,
    objs: &[&Value],
    resource_version: u64,
    include_object: &str,
    now: DateTime<Utc>,
) -> Value {
    let rows: Vec<Value> = objs
        .iter()
        .map(|o| {
            let object = match include_object {
                "Object" => (*o).clone(),
                "None" => Value::Null,
                _ => {
                    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]})
                }
            };
            json!({"cells": cells(def, o, now), "object": object})
        })
        .collect();
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version.to_string()},
        "columnDefinitions": columns(def),
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration as D;

    #[test]
    fn human_durations_match_kubectl() {
        for (secs, want) in [
            (0, "0s"),
            (119, "119s"),
            (120, "2m"),
            (125, "2m5s"),
            (600, "10m"),
            (3 * 3600 - 60, "179m"),
            (3 * 3600, "3h"),
            (3 * 3600 + 300, "3h5m"),
            (9 * 3600, "9h"),
            (50 * 3600, "2d2h"),
            (10 * 86400, "10d"),
            (800 * 86400, "2y70d"),
            (9 * 365 * 86400, "9y"),
        ] {
            assert_eq!(human_duration(D::seconds(secs)), want, "{secs}");
        }
    }

    #[test]
    fn pod_status_cells() {
        let now = Utc::now();
        let pod = json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "a", "ready": true, "restartCount": 0, "state": {"running": {}}},
                {"name": "b", "ready": false, "restartCount": 3, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                 "lastState": {"terminated": {"finishedAt": (now - D::minutes(5)).to_rfc3339()}}}
            ]}
        });
        assert_eq!(pod_cells(&pod, now), ("1/2".into(), "CrashLoopBackOff".into(), "3 (5m ago)".into()));
    }
}
