//! bench-pods: lists pods through the whole path (HTTP → gateway → resolver → authorizer →
//! router → hub → leaf → runner → Kubernetes API test server), directly from the test server,
//! and a raw NATS request/reply through the same hub and leaf (the floor), all in one run.
//! Prints p50/p99 of each and the ratios.
//!
//!   cargo run --release -p cloudops-loadtest --bin bench-pods -- --iterations 2000

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use cloudops_sandbox::Sandbox;
use futures::StreamExt;

#[derive(Parser)]
struct Args {
    /// Requests per path (after warm-up).
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
    #[arg(long, default_value_t = 200)]
    warmup: usize,
}

struct Stats {
    name: &'static str,
    samples: Vec<Duration>,
}

impl Stats {
    fn pct(&self, p: f64) -> Duration {
        let mut s = self.samples.clone();
        s.sort();
        s[((s.len() as f64 - 1.0) * p).round() as usize]
    }
    fn p50(&self) -> Duration {
        self.pct(0.50)
    }
    fn p99(&self) -> Duration {
        self.pct(0.99)
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn measure<F, Fut>(name: &'static str, warmup: usize, n: usize, mut f: F) -> Result<Stats>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    for _ in 0..warmup {
        f().await?;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f().await?;
        samples.push(t.elapsed());
    }
    Ok(Stats { name, samples })
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

    // The gateway's own share: HTTP, API-key check, one org lookup, no routing.
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
    let id = runner.runner_id.to_string();
    let mut responder = runner.nats.subscribe(format!("cloudops.runner.{id}.bench")).await?;
    let rnc = runner.nats.clone();
    tokio::spawn(async move {
        while let Some(m) = responder.next().await {
            if let Some(reply) = m.reply {
                let _ = rnc.publish(reply, m.payload).await;
            }
        }
    });
    runner.nats.flush().await?;
    let hub = sb.cp.nats.clone();
    let mut replies = hub.subscribe(format!("cloudops.reply.{id}.bench.*")).await?;
    hub.flush().await?;
    tokio::time::sleep(Duration::from_millis(300)).await; // interest reaches the hub
    let payload = bytes::Bytes::from_static(&[b'x'; 64]);
    let subject = format!("cloudops.runner.{id}.bench");
    let mut samples = Vec::with_capacity(args.iterations);
    for i in 0..args.warmup + args.iterations {
        let t = Instant::now();
        hub.publish_with_reply(subject.clone(), format!("cloudops.reply.{id}.bench.{i}"), payload.clone()).await?;
        tokio::time::timeout(Duration::from_secs(2), replies.next()).await.context("floor reply timed out")?;
        if i >= args.warmup {
            samples.push(t.elapsed());
        }
    }
    let floor = Stats { name: "floor: raw NATS request/reply through the same hub and leaf", samples };

    println!("bench-pods: {} iterations per path after {} warm-up\n", args.iterations, args.warmup);
    println!("{:<64} {:>10} {:>10}", "path", "p50 µs", "p99 µs");
    for s in [&ours, &whoami, &direct, &floor] {
        println!("{:<64} {:>10.0} {:>10.0}", s.name, us(s.p50()), us(s.p99()));
    }
    let added50 = us(ours.p50()) - us(direct.p50());
    let added99 = us(ours.p99()) - us(direct.p99());
    println!();
    println!(
        "added by Cloud Ops (whole − direct):   p50 {added50:.0} µs   p99 {added99:.0} µs   (target p50 ≤ 400, p99 ≤ 1500)"
    );
    println!(
        "added / floor:                         p50 {:.2}×  p99 {:.2}×",
        added50 / us(floor.p50()),
        added99 / us(floor.p99())
    );
    println!(
        "whole / direct:                        p50 {:.2}×  p99 {:.2}×",
        us(ours.p50()) / us(direct.p50()),
        us(ours.p99()) / us(direct.p99())
    );
    drop(runner);
    sb.shutdown().await;
    Ok(())
}
