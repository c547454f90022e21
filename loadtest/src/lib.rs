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

/// A process's resident set size in bytes (0 when it is gone).
pub fn rss_bytes(pid: u32) -> u64 {
    status_bytes(pid, "VmRSS:").unwrap_or(0)
}

/// The anonymous part of a process's RSS (its heap, stacks and other memory of its own): RSS
/// less the pages of its binary and other files, which the kernel can drop and read again and
/// which grow as more of the code runs, not as the process allocates.
pub fn rss_anon_bytes(pid: u32) -> Option<u64> {
    status_bytes(pid, "RssAnon:")
}

/// A `kB` field of `/proc/<pid>/status`, in bytes.
fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// How many file descriptors process `pid` has open (None when /proc cannot tell).
pub fn open_fds(pid: u32) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Prints each path's p50/p99, then what ours adds over the direct call, against the floor
/// (the targets of bench-pods: p50 ≤ 1.6×, p99 ≤ 2×).
pub fn print_against_floor(ours: &Stats, direct: &Stats, floor: &Stats, extra: &[&Stats]) {
    println!("{:<64} {:>10} {:>10}", "path", "p50 µs", "p99 µs");
    for s in [ours, direct, floor].into_iter().chain(extra.iter().copied()) {
        println!("{:<64} {:>10.0} {:>10.0}", s.name, us(s.p50()), us(s.p99()));
    }
    let added50 = us(ours.p50()) - us(direct.p50());
    let added99 = us(ours.p99()) - us(direct.p99());
    println!();
    println!("added by Cloud Ops (ours − direct):    p50 {added50:.0} µs   p99 {added99:.0} µs");
    println!(
        "added / floor:                         p50 {:.2}×  p99 {:.2}×   (targets: p50 ≤ 1.6×, p99 ≤ 2×)",
        added50 / us(floor.p50()),
        added99 / us(floor.p99())
    );
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

/// The runner's own connection echoing every request on `cloudops.runner.<id>.bench` (a
/// subject its permissions allow); returns that subject and the echo task (dropping the handle
/// leaves it running; abort it to stop).
async fn echo_responder(runner: &cloudops_runner::Runner) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let subject = format!("cloudops.runner.{}.bench", runner.runner_id);
    let mut responder = runner.nats.subscribe(subject.clone()).await?;
    let rnc = runner.nats.clone();
    let echo = tokio::spawn(async move {
        while let Some(m) = responder.next().await {
            if let Some(reply) = m.reply {
                let _ = rnc.publish(reply, m.payload).await;
            }
        }
    });
    runner.nats.flush().await?;
    Ok((subject, echo))
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
    let (subject, _echo) = echo_responder(runner).await?;
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

/// What `clients` concurrent loops of one request each achieved in `duration`.
pub struct Throughput {
    pub clients: usize,
    pub ops: usize,
    pub elapsed: Duration,
    pub latency: Stats,
}

impl Throughput {
    pub fn per_sec(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `clients` loops of `op` for `duration` (after `warmup` of the same), each waiting for
/// its answer before sending the next. `op(i)` is called with the client's index.
pub async fn throughput<F, Fut>(
    name: &'static str,
    clients: usize,
    warmup: Duration,
    duration: Duration,
    op: F,
) -> anyhow::Result<Throughput>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let run = |d: Duration| {
        let op = op.clone();
        async move {
            let until = Instant::now() + d;
            let tasks: Vec<_> = (0..clients)
                .map(|i| {
                    let op = op.clone();
                    tokio::spawn(async move {
                        let mut samples = Vec::new();
                        while Instant::now() < until {
                            let t = Instant::now();
                            op(i).await?;
                            samples.push(t.elapsed());
                        }
                        anyhow::Ok(samples)
                    })
                })
                .collect();
            let started = Instant::now();
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await??);
            }
            anyhow::Ok((all, started.elapsed()))
        }
    };
    run(warmup).await?;
    let (samples, elapsed) = run(duration).await?;
    Ok(Throughput { clients, ops: samples.len(), elapsed, latency: Stats { name, samples } })
}

/// The transport floor under load: `clients` concurrent raw NATS request/reply loops hub →
/// leaf → the runner's own connection and back, on subjects the runner's permissions allow.
pub async fn nats_floor_throughput(
    sb: &cloudops_sandbox::Sandbox,
    runner: &cloudops_runner::Runner,
    payload: bytes::Bytes,
    clients: usize,
    warmup: Duration,
    duration: Duration,
) -> anyhow::Result<Throughput> {
    let id = runner.runner_id.to_string();
    let (subject, echo) = echo_responder(runner).await?;
    let hub = sb.cp.nats.clone();
    let mut subs = Vec::new();
    for i in 0..clients {
        subs.push(tokio::sync::Mutex::new(hub.subscribe(format!("cloudops.reply.{id}.bench.{i}")).await?));
    }
    hub.flush().await?;
    tokio::time::sleep(Duration::from_millis(300)).await; // interest reaches the hub
    let subs = std::sync::Arc::new(subs);
    let result =
        throughput("floor: raw NATS request/reply through the same hub and leaf", clients, warmup, duration, {
            let (hub, subject, id) = (hub.clone(), subject.clone(), id.clone());
            move |i| {
                let (hub, subject, payload, subs) = (hub.clone(), subject.clone(), payload.clone(), subs.clone());
                let reply = format!("cloudops.reply.{id}.bench.{i}");
                async move {
                    let mut sub = subs[i].lock().await;
                    hub.publish_with_reply(subject, reply, payload).await?;
                    tokio::time::timeout(Duration::from_secs(2), sub.next()).await.context("floor reply timed out")?;
                    Ok(())
                }
            }
        })
        .await;
    echo.abort();
    result
}
