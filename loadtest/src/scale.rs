//! bench-scale: many runners on one hub. Each simulated runner is a real mTLS connection with
//! its own certificate (from `planton runner generate-credentials`), admitted by the real auth
//! callout into its own account, serving ops on its own subject, sending heartbeats and
//! redialling a lost hub on the schedule of a runner's leaf (`TunnelBackoff`), as
//! `planton-runner` does; many live in this process, straight on the hub's client port (a leaf
//! node per runner would be a nats-server process each).
//!
//! Measures: registration and admission rates; hub and control-plane memory per runner; routing
//! p50/p99 through the whole path (HTTP → gateway → resolve → authorize → route → runner) to a
//! random runner with `--small` runners connected and with all of them; the time until every one
//! serves ops again after the hub is killed and restarted (a reconnect storm).
//!
//!   cargo build --profile bench-fast -p cloudops-loadtest --bin bench-scale
//!   $CARGO_TARGET_DIR/bench-fast/bench-scale --runners 10000      # full
//!   $CARGO_TARGET_DIR/debug/bench-scale --runners 200             # CI's short mode

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use clap::Parser;
use cloudops_bus::{
    BusError, NatsClient,
    connect::{ConnectSpec, TlsFiles, connect},
    runner_link,
    runner_link::RunnerClient,
    tunnel_backoff::TunnelBackoff,
};
use cloudops_loadtest::{Stats, rss_bytes, us};
use cloudops_sandbox::Sandbox;
use cloudops_schemas::{RunnerCredentials, RunnerId, v1};
use futures::{StreamExt, TryStreamExt};
use rand::Rng;

#[derive(Parser)]
struct Args {
    /// Runners registered and connected.
    #[arg(long, default_value_t = 10_000)]
    runners: usize,
    /// The small level routing is compared against.
    #[arg(long, default_value_t = 10)]
    small: usize,
    /// Routed ops measured at each level (after 50 of warm-up).
    #[arg(long, default_value_t = 500)]
    samples: usize,
    /// Runners connecting at once.
    #[arg(long, default_value_t = 64)]
    in_flight: usize,
}

/// One simulated runner: its connection serving ops, and its heartbeats.
struct SimRunner {
    client: NatsClient,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for SimRunner {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}

/// What every simulated runner needs from the hub.
#[derive(Clone)]
struct HubDoor {
    url: String,
    ca: PathBuf,
}

impl HubDoor {
    async fn connect(&self, creds: &RunnerCredentials, dir: &Path) -> Result<SimRunner> {
        let id = creds.runner_id();
        let (cert, key) = (dir.join(format!("{id}.pem")), dir.join(format!("{id}.key")));
        std::fs::write(&cert, &creds.tunnel.cert_pem)?;
        std::fs::write(&key, &creds.tunnel.key_pem)?;
        let client = connect(&ConnectSpec {
            url: self.url.clone(),
            name: format!("sim-{id}"),
            tls: Some(TlsFiles { ca: self.ca.clone(), cert, key }),
            inbox_prefix: Some(format!("_INBOX.{id}")),
            reconnect_delay: Some(as_a_runner_redials),
            ..Default::default()
        })
        .await
        .with_context(|| format!("runner {id} not admitted"))?;
        let serve = runner_link::serve_ops(client.clone(), id.clone(), |_req| async {
            v1::RunnerResponse {
                result: Some(v1::runner_response::Result::Ok(v1::OpResult {
                    json: br#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}"#.to_vec(),
                    kube_resource: Some(v1::KubeResource {
                        kind: "Namespace".into(),
                        api_version: "v1".into(),
                        plural: "namespaces".into(),
                        namespaced: false,
                        namespace: String::new(),
                    }),
                    ..Default::default()
                })),
            }
        })
        .await?;
        let beat = tokio::spawn(heartbeats(client.clone(), id));
        Ok(SimRunner { client, tasks: vec![serve, beat] })
    }
}

/// A runner's leaf redials its hub every second, and pauses when the hub does not take it for
/// a while (`TunnelBackoff`): a simulated runner redials on the same schedule.
fn as_a_runner_redials(attempt: usize) -> Duration {
    TunnelBackoff::DEFAULT.delay_before_attempt(attempt, rand::rng().random())
}

/// As `planton-runner` beats: every second at first, then every 10 s.
async fn heartbeats(nc: NatsClient, id: RunnerId) {
    let beat = v1::RunnerHeartbeat { runner_id: id.to_string(), version: "bench".into(), ..Default::default() };
    for n in 0u32.. {
        let _ = runner_link::publish_heartbeat(&nc, &id, &beat).await;
        tokio::time::sleep(Duration::from_secs(if n < 5 { 1 } else { 10 })).await;
    }
}

fn per_runner(before: u64, after: u64, n: usize) -> String {
    format!("{:.1} KiB", after.saturating_sub(before) as f64 / 1024.0 / n.max(1) as f64)
}

/// Routed ops through the whole path, each to a random one of the first `level` runners.
async fn routing(sb: &Sandbox, http: &reqwest::Client, level: usize, warmup: usize, n: usize) -> Result<Stats> {
    let url = format!("{}/v1/ops/kubernetes/get", sb.gateway_url());
    let mut samples = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let pick = rand::rng().random_range(0..level);
        let body = serde_json::json!({"connection": conn_name(pick), "kind": "namespaces", "name": "default"});
        let t = Instant::now();
        let r = http.post(&url).bearer_auth(&sb.api_key).json(&body).send().await?;
        let status = r.status();
        let text = r.text().await?;
        if !status.is_success() {
            bail!("op to runner {pick} of {level} failed: {status} {text}");
        }
        if i >= warmup {
            samples.push(t.elapsed());
        }
    }
    Ok(Stats { name: "routing", samples })
}

fn runner_name(i: usize) -> String {
    format!("sim-{i:05}")
}
fn conn_name(i: usize) -> String {
    format!("sim-{i:05}-conn")
}

/// Sends one op to each of the first `n` runners through the whole path, retrying each until it
/// answers (or `limit` passes): what "back" means to a user.
async fn until_all_answer(sb: &Sandbox, http: &reqwest::Client, n: usize, limit: Duration) -> Result<()> {
    let url = format!("{}/v1/ops/kubernetes/get", sb.gateway_url());
    let until = Instant::now() + limit;
    futures::stream::iter(0..n)
        .map(|i| {
            let (url, http) = (url.clone(), http.clone());
            async move {
                let body = serde_json::json!({"connection": conn_name(i), "kind": "namespaces", "name": "default"});
                let mut told = false;
                loop {
                    // Each try is bounded, so that a hang fails at the limit and names the runner.
                    let r = http
                        .post(&url)
                        .bearer_auth(&sb.api_key)
                        .json(&body)
                        .timeout(Duration::from_secs(10))
                        .send()
                        .await;
                    if !told && until.saturating_duration_since(Instant::now()) < limit / 2 {
                        told = true;
                        eprintln!(
                            "bench-scale: runner {i} has not answered a routed op yet: {:?}",
                            r.as_ref().map(|r| r.status())
                        );
                    }
                    if r.as_ref().is_ok_and(|r| r.status().is_success()) {
                        return Ok(());
                    }
                    if Instant::now() > until {
                        bail!("runner {i} did not answer within {limit:?}: {:?}", r.map(|r| r.status()));
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        })
        .buffer_unordered(32)
        .try_collect::<()>()
        .await
}

/// Registers runner `i` and binds a connection to it, as a user would with the CLI.
async fn register(sb: &Sandbox, i: usize) -> Result<RunnerCredentials> {
    let creds = sb.credentials(&runner_name(i)).await?;
    let conn = conn_name(i);
    let out = sb.cli(&["connection", "create", &conn, "--provider", "kubernetes", "--runner", &runner_name(i)]).await;
    if out.code != 0 {
        bail!("connection create {conn}: {}", out.stderr);
    }
    Ok(creds)
}

async fn connect_all(
    door: &HubDoor,
    creds: &[RunnerCredentials],
    dir: &Path,
    in_flight: usize,
) -> Result<Vec<SimRunner>> {
    futures::stream::iter(creds).map(|c| door.connect(c, dir)).buffered(in_flight).try_collect().await
}

/// Waits until every runner serves an op sent straight on its subject from the control plane's
/// account (its own subscription and the account's import are in place again), or fails after
/// `limit`. A client's "connected" is not that: async-nats takes the server's first PING, sent
/// while the server still waits for the callout, as the connection's acceptance.
async fn wait_served(ops: &RunnerClient, ids: &[RunnerId], sims: &[SimRunner], limit: Duration) -> Result<()> {
    let until = Instant::now() + limit;
    let mut left: Vec<usize> = (0..ids.len()).collect();
    while !left.is_empty() {
        let answers: Vec<(usize, Result<v1::RunnerResponse, BusError>)> = futures::stream::iter(left)
            .map(|i| async move { (i, ops.call(&ids[i], &v1::RunnerRequest::default(), Duration::from_secs(1)).await) })
            .buffer_unordered(64)
            .collect()
            .await;
        left = answers.into_iter().filter(|(_, r)| r.is_err()).map(|(i, _)| i).collect();
        if !left.is_empty() && Instant::now() > until {
            let states: Vec<String> =
                left.iter().take(5).map(|&i| format!("{i}: {:?}", sims[i].client.connection_state())).collect();
            bail!("{} of {} runners serve no op after {limit:?}; for instance {states:?}", left.len(), ids.len());
        }
        if !left.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(())
}

/// Listens to heartbeats on the control plane's side (what the router decides presence from)
/// until every one of `ids` was heard or `limit` passed; returns the indexes not heard.
async fn unheard(nc: &NatsClient, ids: &[RunnerId], limit: Duration) -> Result<Vec<usize>> {
    let beats = runner_link::heartbeats(nc).await?;
    futures::pin_mut!(beats);
    let mut missing: std::collections::HashMap<&RunnerId, usize> =
        ids.iter().enumerate().map(|(i, id)| (id, i)).collect();
    let until = tokio::time::Instant::now() + limit;
    while !missing.is_empty() {
        match tokio::time::timeout_at(until, beats.next()).await {
            Ok(Some((id, _))) => {
                missing.remove(&id);
            }
            _ => break,
        }
    }
    let mut left: Vec<usize> = missing.into_values().collect();
    left.sort();
    Ok(left)
}

/// Fails, saying what the runners not heard are doing, unless all were heard.
async fn wait_heard(nc: &NatsClient, ids: &[RunnerId], sims: &[SimRunner], limit: Duration) -> Result<()> {
    let left = unheard(nc, ids, limit).await?;
    if left.is_empty() {
        return Ok(());
    }
    let states: Vec<String> =
        left.iter().take(5).map(|&i| format!("{i}: {:?}", sims[i].client.connection_state())).collect();
    bail!("{} of {} runners not heard within {limit:?}; for instance {states:?}", left.len(), ids.len())
}

fn line(what: &str, value: impl std::fmt::Display) {
    println!("{what:<58} {value}");
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let n = args.runners.max(args.small);
    // All of them in one org: past the default limit of runners an org may register.
    let sb = Sandbox::start_with(|c| c.max_runners_per_org = n as u64).await?;
    let hub = sb.cp.hub.as_ref().context("the sandbox starts a hub")?;
    let me = std::process::id();
    let dir = tempfile::tempdir()?;
    let door = HubDoor { url: hub.client_url(), ca: hub.ca_file().to_path_buf() };
    let http = reqwest::Client::builder().pool_max_idle_per_host(16).build()?;
    let (hub_mem0, cp_mem0) = (rss_bytes(hub.servers[0].pid()), rss_bytes(me));

    let t = Instant::now();
    let creds: Vec<RunnerCredentials> =
        futures::stream::iter(0..n).map(|i| register(&sb, i)).buffered(8).try_collect().await?;
    let registration = t.elapsed();
    let (hub_mem1, cp_mem1) = (rss_bytes(hub.servers[0].pid()), rss_bytes(me));
    println!("bench-scale: {n} runners on one hub (each its own mTLS connection, certificate and account)\n");
    line(
        "registration (generate-credentials + connection create)",
        format!("{:.0} runners/s ({:.1} s)", n as f64 / registration.as_secs_f64(), registration.as_secs_f64()),
    );
    line("hub memory per registered runner (account + stream)", per_runner(hub_mem0, hub_mem1, n));
    line("control plane memory per registered runner", per_runner(cp_mem0, cp_mem1, n));

    let mut sims = connect_all(&door, &creds[..args.small], dir.path(), args.in_flight).await?;
    let ids: Vec<RunnerId> = creds.iter().map(|c| c.runner_id()).collect();
    wait_heard(&sb.cp.nats, &ids[..args.small], &sims, Duration::from_secs(15)).await?;
    let small = routing(&sb, &http, args.small, 50, args.samples).await?;

    let t = Instant::now();
    sims.extend(connect_all(&door, &creds[args.small..], dir.path(), args.in_flight).await?);
    let admission = t.elapsed();
    line(
        &format!("admission (TLS + callout + account), {} in flight", args.in_flight),
        format!(
            "{:.0} runners/s ({:.1} s for {})",
            (n - args.small) as f64 / admission.as_secs_f64(),
            admission.as_secs_f64(),
            n - args.small
        ),
    );
    wait_heard(&sb.cp.nats, &ids, &sims, Duration::from_secs(30)).await?;
    let (hub_mem2, cp_mem2) = (rss_bytes(hub.servers[0].pid()), rss_bytes(me));
    let large = routing(&sb, &http, n, 50, args.samples).await?;

    line("hub memory per connected runner", per_runner(hub_mem1, hub_mem2, n));
    line("hub RSS with all connected", format!("{:.0} MiB", hub_mem2 as f64 / 1048576.0));
    line("this process per connected runner (simulated runners + control plane)", per_runner(cp_mem1, cp_mem2, n));
    for (level, s) in [(args.small, &small), (n, &large)] {
        line(
            &format!("routing to a random runner of {level}: p50 / p99"),
            format!("{:.0} / {:.0} µs", us(s.p50()), us(s.p99())),
        );
    }
    line(
        "routing p50 / p99, all vs small",
        format!(
            "{:.2}x / {:.2}x   (target: within 1.5x)",
            large.p50().as_secs_f64() / small.p50().as_secs_f64(),
            large.p99().as_secs_f64() / small.p99().as_secs_f64()
        ),
    );
    // The reconnect storm: the hub dies (kill -9), its supervisor restarts it, every runner
    // comes back through the callout.
    let ops = RunnerClient::start(sb.cp.nats.clone()).await?;
    let pid = hub.servers[0].pid();
    let t = Instant::now();
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).context("hub pid")?,
        rustix::process::Signal::KILL,
    )?;
    wait_served(&ops, &ids, &sims, Duration::from_secs(600)).await?;
    let storm = t.elapsed();
    line("hub kill -9 -> every runner's tunnel served an op again", format!("{:.1} s", storm.as_secs_f64()));
    until_all_answer(&sb, &http, n, Duration::from_secs(600)).await?;
    let storm_answering = t.elapsed();
    let after_storm = routing(&sb, &http, n, 10, 100).await?;

    line("hub kill -9 -> every runner answered a routed op again", format!("{:.1} s", storm_answering.as_secs_f64()));
    line(
        "routing after the storm: p50 / p99",
        format!("{:.0} / {:.0} µs", us(after_storm.p50()), us(after_storm.p99())),
    );
    drop(sims);
    sb.shutdown().await;
    Ok(())
}
