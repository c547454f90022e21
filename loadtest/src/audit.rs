//! bench-audit: the cost of the audit log. The same small op through the whole path with the
//! group-commit audit writer on, and with a control plane whose authorizer records nothing
//! (a configuration only this benchmark can build), one after the other in one run: latency
//! with one client and throughput with 16. Target: ≤ 5% apart.
//!
//!   cargo build --profile bench-fast -p cloudops-loadtest --bin bench-audit
//!   $CARGO_TARGET_DIR/bench-fast/bench-audit --seconds 5

use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use cloudops_sandbox::Sandbox;

#[path = "throughput.rs"]
#[allow(dead_code)]
mod throughput;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let (warmup, d) = (Duration::from_secs(1), Duration::from_secs(args.seconds));
    let mut results = Vec::new();
    for (label, discard) in [("audit writer on", false), ("audit writer off", true)] {
        let sb = Sandbox::start_with(|c| c.audit_discarded_for_benchmarks = discard).await?;
        let runner = sb.runner_with_connection("bench").await?;
        let r = throughput::ours(&sb, &[1, 16], warmup, d).await?;
        drop(runner);
        sb.shutdown().await;
        results.push((label, r));
    }
    println!("bench-audit: {} s per level after 1 s warm-up\n", args.seconds);
    println!("{:<18} {:>8} {:>12} {:>10} {:>10}", "path", "clients", "ops/s", "p50 µs", "p99 µs");
    for (label, r) in &results {
        for t in r {
            println!(
                "{label:<18} {:>8} {:>12.0} {:>10.0} {:>10.0}",
                t.clients,
                t.per_sec(),
                cloudops_loadtest::us(t.latency.p50()),
                cloudops_loadtest::us(t.latency.p99())
            );
        }
    }
    let (on, off) = (&results[0].1, &results[1].1);
    println!();
    println!(
        "1 client p50: on / off = {:.3}   16 clients ops/s: on / off = {:.3}   (target: within 5%)",
        on[0].latency.p50().as_secs_f64() / off[0].latency.p50().as_secs_f64(),
        on[1].per_sec() / off[1].per_sec()
    );
    Ok(())
}
