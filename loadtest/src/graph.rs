//! bench-graph: the namespace graph at 5,000 pods.
//!
//! 1. `graph::build` on 5,000 pods (100 Deployments × 50, with their ReplicaSets, Services,
//!    ConfigMaps, Secrets, PVCs/PVs, Ingresses, HPAs), beside its floor: one pass that indexes
//!    every object by uid, which any graph builder must do.
//! 2. The whole path (HTTP → … → runner lists 15 kinds → build → back) beside its floor: the
//!    runner's largest read, listing the 5,000 pods straight from the Kubernetes API test server.
//!
//!   cargo run --release -p cloudops-loadtest --bin bench-graph -- --iterations 50

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use anyhow::Result;
use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 5000)]
    pods: usize,
    #[arg(long, default_value_t = 50)]
    iterations: usize,
}

fn fixture(pods: usize) -> Vec<Value> {
    let deployments = 100.max(pods / 50);
    let per = pods / deployments;
    let mut out = Vec::new();
    for d in 0..deployments {
        let app = format!("app-{d}");
        out.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": app, "namespace": "load", "uid": format!("d-{d}")},
            "spec": {"replicas": per, "selector": {"matchLabels": {"app": app}}, "template": {"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": "img"}]}}},
            "status": {"replicas": per, "readyReplicas": per}}));
        out.push(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": format!("{app}-rs"), "namespace": "load", "uid": format!("r-{d}"),
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app, "uid": format!("d-{d}")}]},
            "spec": {"replicas": per}, "status": {"replicas": per, "readyReplicas": per}}));
        out.push(json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": app, "namespace": "load", "uid": format!("s-{d}")}, "spec": {"selector": {"app": app}}}));
        out.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("{app}-cfg"), "namespace": "load", "uid": format!("c-{d}")}}));
        out.push(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": format!("{app}-sec"), "namespace": "load", "uid": format!("x-{d}")}}));
        if d % 2 == 0 {
            out.push(json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": format!("pv-{d}"), "uid": format!("pv-{d}")}}));
            out.push(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": format!("{app}-data"), "namespace": "load", "uid": format!("pvc-{d}")},
                "spec": {"volumeName": format!("pv-{d}")}, "status": {"phase": "Bound"}}));
        }
        if d % 5 == 0 {
            out.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": app, "namespace": "load", "uid": format!("i-{d}")},
                "spec": {"rules": [{"http": {"paths": [{"backend": {"service": {"name": app}}}]}}]}}));
            out.push(json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": app, "namespace": "load", "uid": format!("h-{d}")},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": app}}}));
        }
        for p in 0..per {
            let mut vols = vec![json!({"name": "cfg", "configMap": {"name": format!("{app}-cfg")}})];
            if d % 2 == 0 {
                vols.push(json!({"name": "data", "persistentVolumeClaim": {"claimName": format!("{app}-data")}}));
            }
            out.push(json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": format!("{app}-rs-{p}"), "namespace": "load", "uid": format!("p-{d}-{p}"), "labels": {"app": app},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("{app}-rs"), "uid": format!("r-{d}")}]},
                "spec": {"serviceAccountName": "default", "volumes": vols,
                         "containers": [{"name": "c", "image": "img", "env": [{"name": "S", "valueFrom": {"secretKeyRef": {"name": format!("{app}-sec"), "key": "k"}}}]}]},
                "status": {"phase": "Running", "containerStatuses": [{"name": "c", "ready": true, "state": {"running": {}}}]}}));
        }
    }
    out.push(json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "load", "uid": "sa-default"}}));
    out
}

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |p: f64| v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.99))
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let objects = fixture(args.pods);
    let pods = objects.iter().filter(|o| o["kind"] == "Pod").count();

    // 1. In process.
    let mut build = Vec::new();
    let mut floor = Vec::new();
    let mut sizes = (0, 0);
    for _ in 0..args.iterations {
        let t = Instant::now();
        let g = cloudops_runner::graph::build(&objects);
        build.push(t.elapsed());
        sizes = (g.nodes.len(), g.edges.len());
        let t = Instant::now();
        let index: HashMap<&str, String> = objects
            .iter()
            .filter_map(|o| {
                Some((
                    o["metadata"]["uid"].as_str()?,
                    format!("{}/{}", o["kind"].as_str()?, o["metadata"]["name"].as_str()?),
                ))
            })
            .collect();
        std::hint::black_box(&index);
        floor.push(t.elapsed());
    }
    let (b50, b99) = stats(build);
    let (f50, f99) = stats(floor);
    println!(
        "bench-graph: {pods} pods, {} objects → {} nodes, {} edges; {} iterations\n",
        objects.len(),
        sizes.0,
        sizes.1,
        args.iterations
    );
    println!("{:<66} {:>9} {:>9}", "path", "p50 ms", "p99 ms");
    println!("{:<66} {:>9.2} {:>9.2}", "graph::build (in process)", b50, b99);
    println!("{:<66} {:>9.2} {:>9.2}", "floor: index every object by uid (one pass)", f50, f99);

    // 2. The whole path, through the sandbox.
    let sb = cloudops_sandbox::Sandbox::start().await?;
    let _runner = sb.runner_with_connection("bench").await?;
    sb.kube
        .cluster
        .upsert(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "load"}}))
        .map_err(anyhow::Error::msg)?;
    for o in &objects {
        // The fixture's uids are kept, so ownerReferences hold.
        sb.kube.cluster.upsert(o.clone()).map_err(anyhow::Error::msg)?;
    }
    let http = reqwest::Client::new();
    let url = format!("{}/v1/ops/kubernetes/graph", sb.gateway_url());
    let body = json!({"connection": "bench-conn", "namespace": "load"});
    let pods_url = format!("{}/api/v1/namespaces/load/pods", sb.kube.url());
    let (mut whole, mut direct) = (Vec::new(), Vec::new());
    let n = args.iterations.min(20);
    let mut bytes = 0;
    for i in 0..n + 2 {
        let t = Instant::now();
        let r = http.post(&url).bearer_auth(&sb.api_key).json(&body).send().await?;
        anyhow::ensure!(r.status().is_success(), "graph: {}", r.text().await?);
        bytes = r.bytes().await?.len();
        let dt = t.elapsed();
        let t = Instant::now();
        let r = http.get(&pods_url).send().await?;
        r.bytes().await?;
        let dd = t.elapsed();
        if i >= 2 {
            whole.push(dt);
            direct.push(dd);
        }
    }
    let (w50, w99) = stats(whole);
    let (d50, d99) = stats(direct);
    println!(
        "{:<66} {:>9.2} {:>9.2}",
        format!("whole path: planton → … → runner (15 lists + build), {} KiB", bytes / 1024),
        w50,
        w99
    );
    println!("{:<66} {:>9.2} {:>9.2}", "floor: list the 5,000 pods straight from the test server", d50, d99);
    println!();
    println!(
        "build / floor: p50 {:.1}×   whole / direct pod list: p50 {:.1}×  p99 {:.1}×",
        b50 / f50,
        w50 / d50,
        w99 / d99
    );
    sb.shutdown().await;
    Ok(())
}
