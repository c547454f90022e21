//! bench-pods: lists pods through the whole path (HTTP → gateway → resolver → authorizer →
//! router → hub → leaf → runner → Kubernetes API test server), directly from the test server,
//! and a raw NATS request/reply through the same hub and leaf (the floor), all in one run.
//! Prints p50/p99 of each and the ratios.
//!
//!   cargo run --release -p cloudops-loadtest --bin bench-pods -- --iterations 2000

use anyhow::Result;
use clap::Parser;
use cloudops_loadtest::{measure, us};
use cloudops_sandbox::Sandbox;

#[derive(Parser)]
struct Args {
    /// Requests per path (after warm-up).
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
    #[arg(long, default_value_t = 200)]
    warmup: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let sb = Sandbox::start().await?;
    let runner = sb.runner_with_connection("bench").await?;
    let http = reqwest::Client::builder().build()?;

    // Our path.
    let url = format!("{}/v1/ops/kubernetes/get", sb.gateway_url());
    let body = serde_json::json!({"connection": "bench-conn", "namespace": "default", "kind": "pods"});
    let ours = measure("whole path (planton → … → runner → kube)", args.warmup, args.iterations, || {
        let req = http.post(&url).bearer_auth(&sb.api_key).json(&body);
        async move {
            let r = req.send().await?;
            anyhow::ensure!(r.status().is_success(), "status {}", r.status());
            r.bytes().await?;
            Ok(())
        }
    })
    .await?;

    // The gateway's own share: HTTP and the API-key check (in the authorizer's memory).
    let whoami_url = format!("{}/v1/whoami", sb.gateway_url());
    let whoami = measure("gateway only (HTTP + API-key auth: /v1/whoami)", args.warmup, args.iterations, || {
        let req = http.get(&whoami_url).bearer_auth(&sb.api_key);
        async move {
            let r = req.send().await?;
            anyhow::ensure!(r.status().is_success(), "status {}", r.status());
            r.bytes().await?;
            Ok(())
        }
    })
    .await?;

    // The same request straight to the Kubernetes API test server.
    let kube_url = format!("{}/api/v1/namespaces/default/pods", sb.kube.url());
    let direct = measure("direct to the Kubernetes API test server", args.warmup, args.iterations, || {
        let req = http.get(&kube_url).header("accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json");
        async move {
            let r = req.send().await?;
            anyhow::ensure!(r.status().is_success(), "status {}", r.status());
            r.bytes().await?;
            Ok(())
        }
    })
    .await?;

    // The floor: raw request/reply, hub → leaf → runner's connection and back, on subjects the
    // runner's permissions allow.
    let floor = cloudops_loadtest::nats_floor(
        &sb,
        &runner,
        bytes::Bytes::from_static(&[b'x'; 64]),
        args.warmup,
        args.iterations,
    )
    .await?;

    println!("bench-pods: {} iterations per path after {} warm-up\n", args.iterations, args.warmup);
    cloudops_loadtest::print_against_floor(&ours, &direct, &floor, &[&whoami]);
    println!("gateway only:                          p50 {:.0} µs   (target ≤ 150)", us(whoami.p50()));
    println!(
        "whole / direct:                        p50 {:.2}×  p99 {:.2}×",
        us(ours.p50()) / us(direct.p50()),
        us(ours.p99()) / us(direct.p99())
    );
    drop(runner);
    sb.shutdown().await;
    Ok(())
}
