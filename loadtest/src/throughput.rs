//! bench-throughput: small ops (`get namespace default`) through the whole path with 1, 16 and
//! 64 concurrent clients, beside raw NATS request/reply through the same hub and leaf with the
//! same concurrency (the floor). Prints ops/s and p50/p99 at each level, and ours / floor.
//!
//!   cargo build --profile bench-fast -p cloudops-loadtest --bin bench-throughput
//!   $CARGO_TARGET_DIR/bench-fast/bench-throughput --seconds 5

use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use cloudops_loadtest::{Throughput, nats_floor_throughput, throughput, us};
use cloudops_sandbox::Sandbox;

#[derive(Parser)]
struct Args {
    /// Seconds measured per level (after one second of warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    clients: Vec<usize>,
}

/// Small ops through the whole path on `sb`, at each concurrency level.
pub async fn ours(sb: &Sandbox, levels: &[usize], warmup: Duration, d: Duration) -> Result<Vec<Throughput>> {
    let http = reqwest::Client::builder().pool_max_idle_per_host(256).build()?;
    let url = format!("{}/v1/ops/kubernetes/get", sb.gateway_url());
    let body = serde_json::json!({"connection": "bench-conn", "kind": "namespaces", "name": "default"});
    let mut out = Vec::new();
    for &c in levels {
        let (http, url, body, key) = (http.clone(), url.clone(), body.clone(), sb.api_key.clone());
        out.push(
            throughput("whole path", c, warmup, d, move |_| {
                let req = http.post(&url).bearer_auth(&key).json(&body);
                async move {
                    let r = req.send().await?;
                    anyhow::ensure!(r.status().is_success(), "status {}", r.status());
                    r.bytes().await?;
                    Ok(())
                }
            })
            .await?,
        );
    }
    Ok(out)
}

fn row(what: &str, t: &Throughput) {
    println!(
        "{what:<10} {:>8} {:>12.0} {:>10.0} {:>10.0}",
        t.clients,
        t.per_sec(),
        us(t.latency.p50()),
        us(t.latency.p99())
    );
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let (warmup, d) = (Duration::from_secs(1), Duration::from_secs(args.seconds));
    let sb = Sandbox::start().await?;
    let runner = sb.runner_with_connection("bench").await?;
    let ours = ours(&sb, &args.clients, warmup, d).await?;
    let mut floors = Vec::new();
    for &c in &args.clients {
        floors.push(nats_floor_throughput(&sb, &runner, bytes::Bytes::from_static(&[b'x'; 64]), c, warmup, d).await?);
    }
    println!("bench-throughput: {} s per level after 1 s warm-up\n", args.seconds);
    println!("{:<10} {:>8} {:>12} {:>10} {:>10}", "path", "clients", "ops/s", "p50 µs", "p99 µs");
    for (o, f) in ours.iter().zip(&floors) {
        row("ours", o);
        row("floor", f);
    }
    println!();
    for (o, f) in ours.iter().zip(&floors) {
        println!(
            "{:>3} clients: ours / floor = {:.0}% of raw NATS request/reply throughput{}",
            o.clients,
            100.0 * o.per_sec() / f.per_sec(),
            if o.clients == 64 { "   (targets: ≥ 10,000 ops/s and ≥ 50% at 64)" } else { "" }
        );
    }
    drop(runner);
    sb.shutdown().await;
    Ok(())
}
