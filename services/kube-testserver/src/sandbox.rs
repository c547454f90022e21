//! The sandbox cluster's demo workloads: a few Deployments with their ReplicaSets and Pods
//! (one of them crash-looping), linked by ownerReferences, in clearly labelled namespaces.

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use crate::Cluster;

const SUFFIX_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

pub(crate) fn suffix(seed: &str, len: usize) -> String {
    // Deterministic per name, like the hashes a real controller would produce.
    let mut h: u64 = 1469598103934665603;
    for b in seed.bytes() {
        h = (h ^ b as u64).wrapping_mul(1099511628211);
    }
    (0..len).map(|i| SUFFIX_ALPHABET[((h >> (i * 5)) % SUFFIX_ALPHABET.len() as u64) as usize] as char).collect()
}

fn ts(ago: Duration) -> String {
    (Utc::now() - ago).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn owner(kind: &str, api_version: &str, obj: &Value) -> Value {
    json!([{
        "apiVersion": api_version, "kind": kind,
        "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
        "controller": true, "blockOwnerDeletion": true,
    }])
}

struct Workload<'a> {
    ns: &'a str,
    name: &'a str,
    image: &'a str,
    replicas: i64,
    age: Duration,
    /// (restarts, waiting reason) for the pods, if unhealthy.
    crash: Option<(i64, &'a str)>,
}

fn deployment(c: &Cluster, w: &Workload, node: &str, ip_base: u8) {
    let labels = json!({"app": w.name, "cloudops.dev/sandbox": "true"});
    let template = json!({
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": w.name, "image": w.image, "ports": [{"containerPort": 8080, "protocol": "TCP"}]}]},
    });
    let ready = if w.crash.is_some() { 0 } else { w.replicas };
    let dep = c
        .upsert(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": w.name, "namespace": w.ns, "labels": labels, "creationTimestamp": ts(w.age), "generation": 1,
                         "annotations": {crate::rollout::REVISION: "1"}},
            "spec": {"replicas": w.replicas, "selector": {"matchLabels": {"app": w.name}}, "template": template},
            "status": {"replicas": w.replicas, "updatedReplicas": w.replicas, "readyReplicas": ready, "availableReplicas": ready, "observedGeneration": 1},
        }))
        .expect("seed deployment");
    let hash = suffix(w.name, 10);
    let rs_name = format!("{}-{hash}", w.name);
    let mut rs_labels = labels.clone();
    rs_labels["pod-template-hash"] = json!(hash);
    let rs = c
        .upsert(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": rs_name, "namespace": w.ns, "labels": rs_labels, "creationTimestamp": ts(w.age),
                         "annotations": {crate::rollout::REVISION: "1"}, "ownerReferences": owner("Deployment", "apps/v1", &dep)},
            "spec": {"replicas": w.replicas, "selector": {"matchLabels": {"app": w.name, "pod-template-hash": hash}}, "template": template},
            "status": {"replicas": w.replicas, "readyReplicas": ready, "availableReplicas": ready},
        }))
        .expect("seed replicaset");
    for i in 0..w.replicas {
        let pod_name = format!("{rs_name}-{}", suffix(&format!("{rs_name}{i}"), 5));
        let started = w.age - Duration::seconds(20);
        let state = match w.crash {
            Some((_, reason)) => {
                json!({"waiting": {"reason": reason, "message": "back-off 5m0s restarting failed container"}})
            }
            None => json!({"running": {"startedAt": ts(started)}}),
        };
        let (restarts, last) = match w.crash {
            Some((n, _)) => (
                n,
                json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ts(Duration::minutes(4)), "finishedAt": ts(Duration::minutes(3))}}),
            ),
            None => (0, json!({})),
        };
        let pod_age = w.age;
        let events: Vec<(&str, &str, String)> = match w.crash {
            Some((n, _)) => vec![
                ("Normal", "Scheduled", format!("Successfully assigned {}/{pod_name} to {node}", w.ns)),
                ("Normal", "Pulled", format!("Container image \"{}\" already present on machine", w.image)),
                (
                    "Warning",
                    "BackOff",
                    format!("Back-off restarting failed container {} in pod {pod_name}_{} ({n} times)", w.name, w.ns),
                ),
            ],
            None => vec![
                ("Normal", "Scheduled", format!("Successfully assigned {}/{pod_name} to {node}", w.ns)),
                ("Normal", "Pulled", format!("Container image \"{}\" already present on machine", w.image)),
                ("Normal", "Created", format!("Created container {}", w.name)),
                ("Normal", "Started", format!("Started container {}", w.name)),
            ],
        };
        for (j, (ty, reason, message)) in events.into_iter().enumerate() {
            c.upsert(json!({
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"name": format!("{pod_name}.{j:x}"), "namespace": w.ns, "creationTimestamp": ts(pod_age)},
                "involvedObject": {"kind": "Pod", "namespace": w.ns, "name": pod_name, "apiVersion": "v1"},
                "type": ty, "reason": reason, "message": message,
                "source": {"component": if reason == "Scheduled" { "default-scheduler" } else { "kubelet" }},
                "firstTimestamp": ts(pod_age), "lastTimestamp": ts(if ty == "Warning" { Duration::minutes(1) } else { pod_age }),
                "count": 1,
            }))
            .expect("seed event");
        }
        c.upsert(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod_name, "namespace": w.ns, "labels": rs_labels, "creationTimestamp": ts(w.age),
                         "ownerReferences": owner("ReplicaSet", "apps/v1", &rs)},
            "spec": {"nodeName": node, "containers": template["spec"]["containers"], "restartPolicy": "Always", "serviceAccountName": "default"},
            "status": {
                "phase": "Running",
                "podIP": format!("10.244.0.{}", ip_base as i64 + i),
                "hostIP": "172.18.0.2",
                "startTime": ts(w.age),
                "conditions": [{"type": "Ready", "status": if w.crash.is_some() { "False" } else { "True" }}],
                "containerStatuses": [{
                    "name": w.name, "image": w.image, "imageID": format!("{}@sha256:{}", w.image, "0".repeat(64)),
                    "ready": w.crash.is_none(), "started": w.crash.is_none(), "restartCount": restarts, "state": state, "lastState": last,
                }],
            },
        }))
        .expect("seed pod");
    }
}

/// Namespace `shop`: one object of every relation the namespace graph knows.
fn seed_graph_fixture(c: &Cluster) {
    let age = ts(Duration::hours(2));
    let objs = [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "creationTimestamp": age}, "status": {"phase": "Active"}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "shop-sa", "namespace": "shop"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shop-config", "namespace": "shop"}, "data": {"mode": "live"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shop-db", "namespace": "shop"}, "type": "Opaque"}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shop-tls", "namespace": "shop"}, "type": "kubernetes.io/tls"}),
        json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": "pv-shop-data"}, "spec": {"capacity": {"storage": "1Gi"}}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "shop-data", "namespace": "shop"}, "spec": {"volumeName": "pv-shop-data"}, "status": {"phase": "Bound"}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop", "namespace": "shop"}, "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.40", "selector": {"app": "shop"}, "ports": [{"port": 80, "protocol": "TCP"}]}}),
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "shop", "namespace": "shop"},
               "spec": {"tls": [{"hosts": ["shop.example"], "secretName": "shop-tls"}], "rules": [{"host": "shop.example", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "shop", "port": {"number": 80}}}}]}}]}}),
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "shop", "namespace": "shop"},
               "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "shop"}, "minReplicas": 1, "maxReplicas": 3}}),
    ];
    for o in objs {
        c.upsert(o).expect("seed graph fixture");
    }
    let dep = c
        .upsert(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "shop", "namespace": "shop", "creationTimestamp": age, "generation": 1},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "shop"}}, "template": {"metadata": {"labels": {"app": "shop"}}, "spec": {"containers": [{"name": "shop", "image": "ghcr.io/cloudops-sandbox/shop:1.0"}]}}},
            "status": {"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1},
        }))
        .expect("seed");
    let rs = c
        .upsert(json!({
            "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "shop-5d9c7", "namespace": "shop", "creationTimestamp": age, "ownerReferences": owner("Deployment", "apps/v1", &dep)},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "shop"}}},
            "status": {"replicas": 1, "readyReplicas": 1},
        }))
        .expect("seed");
    c.upsert(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "shop-5d9c7-x2x4q", "namespace": "shop", "labels": {"app": "shop"}, "creationTimestamp": age, "ownerReferences": owner("ReplicaSet", "apps/v1", &rs)},
        "spec": {"nodeName": "sandbox-node-1", "serviceAccountName": "shop-sa",
                 "volumes": [{"name": "config", "configMap": {"name": "shop-config"}}, {"name": "data", "persistentVolumeClaim": {"claimName": "shop-data"}}],
                 "containers": [{"name": "shop", "image": "ghcr.io/cloudops-sandbox/shop:1.0", "env": [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "shop-db", "key": "password"}}}]}]},
        "status": {"phase": "Running", "podIP": "10.244.0.90", "containerStatuses": [{"name": "shop", "ready": true, "restartCount": 0, "state": {"running": {}}}]},
    }))
    .expect("seed");
}

pub fn seed(c: &Cluster) {
    seed_graph_fixture(c);
    for (ns, age) in
        [("default", Duration::days(3)), ("kube-system", Duration::days(3)), ("payments", Duration::days(2))]
    {
        c.upsert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}, "creationTimestamp": ts(age)}, "status": {"phase": "Active"}}))
            .expect("seed namespace");
    }
    let node = "sandbox-node-1";
    c.upsert(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node, "labels": {"kubernetes.io/hostname": node, "cloudops.dev/sandbox": "true"}, "creationTimestamp": ts(Duration::days(3))},
        "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": {"kubeletVersion": crate::SERVER_VERSION}},
    }))
    .expect("seed node");
    let workloads = [
        Workload { ns: "default", name: "web", image: "nginx:1.27", replicas: 2, age: Duration::hours(5), crash: None },
        Workload {
            ns: "default",
            name: "api",
            image: "ghcr.io/cloudops-sandbox/api:1.4.2",
            replicas: 1,
            age: Duration::minutes(42),
            crash: None,
        },
        Workload {
            ns: "default",
            name: "worker",
            image: "ghcr.io/cloudops-sandbox/worker:0.9.0",
            replicas: 1,
            age: Duration::minutes(12),
            crash: Some((4, "CrashLoopBackOff")),
        },
        Workload {
            ns: "payments",
            name: "payments-api",
            image: "ghcr.io/cloudops-sandbox/payments:2.1.0",
            replicas: 2,
            age: Duration::days(1),
            crash: None,
        },
        Workload {
            ns: "payments",
            name: "payments-worker",
            image: "ghcr.io/cloudops-sandbox/payments-worker:2.1.0",
            replicas: 1,
            age: Duration::days(1),
            crash: None,
        },
        Workload {
            ns: "kube-system",
            name: "coredns",
            image: "registry.k8s.io/coredns/coredns:v1.11.3",
            replicas: 1,
            age: Duration::days(3),
            crash: None,
        },
    ];
    for (i, w) in workloads.iter().enumerate() {
        deployment(c, w, node, 10 + 10 * i as u8);
    }
    c.upsert(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "default", "creationTimestamp": ts(Duration::hours(5))},
        "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.20", "selector": {"app": "web"}, "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]},
    }))
    .expect("seed service");
}
