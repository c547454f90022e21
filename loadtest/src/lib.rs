//! What the benchmarks share: latency samples and their percentiles.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;

pub struct Stats {
    pub name: &'static str,
    pub samples: Vec<Duration>,
}

impl Stats {
    pub fn pct(&self, p: f64) -> Duration {
        let mut s = self.samples.clone();
        s.sort();
        s[((s.len() as f64 - 1.0) * p).round() as usize]
    }
    pub fn p50(&self) -> Duration {
        self.pct(0.50)
    }
    pub fn p99(&self) -> Duration {
        self.pct(0.99)
    }
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Runs `f` `warmup` times, then `n` timed times.
pub async fn measure<F, Fut>(name: &'static str, warmup: usize, n: usize, mut f: F) -> anyhow::Result<Stats>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
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

/// The transport floor: raw NATS request/reply hub → leaf → the runner's own connection and
/// back, on subjects the runner's permissions allow, with `payload` each way.
pub async fn nats_floor(
    sb: &cloudops_sandbox::Sandbox,
    runner: &cloudops_runner::Runner,
    payload: bytes::Bytes,
    warmup: usize,
    n: usize,
) -> anyhow::Result<Stats> {
    let id = runner.runner_id.to_string();
    let subject = format!("cloudops.runner.{id}.bench");
    let mut responder = runner.nats.subscribe(subject.clone()).await?;
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
    let mut samples = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let t = Instant::now();
        hub.publish_with_reply(subject.clone(), format!("cloudops.reply.{id}.bench.{i}"), payload.clone()).await?;
        tokio::time::timeout(Duration::from_secs(2), replies.next()).await.context("floor reply timed out")?;
        if i >= warmup {
            samples.push(t.elapsed());
        }
    }
    Ok(Stats { name: "floor: raw NATS request/reply through the same hub and leaf", samples })
}
