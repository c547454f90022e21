//! bench-console: the web console's pod tables (the resource page, the Resource browser) at
//! 5,000 pods, in Chromium, beside their floors.
//!
//! A Deployment with `--pods` pods (one ReplicaSet) in the sandbox cluster, a catalog entry for
//! it, and `console/tests/bench.mjs` driving Debian's Chromium through playwright-core:
//!
//! 1. First meaningful paint: navigation to the resource page's Kubernetes tab, and to the
//!    Resource browser's pods, until the (windowed) pod table shows its first rows and counts
//!    every pod, beside its floor in the same page: the watch op and its SSE stream until the
//!    same pods have arrived, with no rendering.
//! 2. Live updates: every pod changes at once (a burst of PUTs to the API server); the time
//!    until every row shows the change, beside a raw SSE watch receiving the same changes in
//!    another page (a browser context of its own, off the measured main thread), and the longest
//!    main-thread task of the console's page meanwhile (what "smooth" means).
//!
//! `--browser-cpus 1` gives Chromium CPU 1 alone and the sandbox the others, as a user's browser
//! runs on a machine of its own, not beside the API server, runner, NATS and gateway that make
//! the burst; without it they all share every CPU.
//!
//!   cargo build --profile bench-fast -p cloudops-loadtest --bin bench-console
//!   $CARGO_TARGET_DIR/bench-fast/bench-console --pods 5000 --iterations 3

use std::path::PathBuf;

use anyhow::{Context, Result, ensure};
use clap::Parser;
use cloudops_sandbox::{Sandbox, ok};
use rustix::thread::CpuSet;
use serde_json::json;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 5000)]
    pods: usize,
    #[arg(long, default_value_t = 5)]
    iterations: usize,
    /// CPUs (comma-separated) for Chromium alone; the sandbox and the load run on the others.
    #[arg(long, value_delimiter = ',')]
    browser_cpus: Vec<usize>,
}

/// The CPUs of this machine split in two: Chromium's (`browser`) and the rest.
struct Split {
    browser: CpuSet,
    rest: CpuSet,
}

impl Split {
    fn new(browser_cpus: &[usize]) -> Result<Option<Self>> {
        if browser_cpus.is_empty() {
            return Ok(None);
        }
        let online = rustix::thread::sched_getaffinity(None).context("reading this process's CPUs")?;
        let (mut browser, mut rest) = (CpuSet::new(), CpuSet::new());
        for cpu in 0..CpuSet::MAX_CPU {
            if !online.is_set(cpu) {
                ensure!(!browser_cpus.contains(&cpu), "--browser-cpus: CPU {cpu} is not one this process may run on");
            } else if browser_cpus.contains(&cpu) {
                browser.set(cpu);
            } else {
                rest.set(cpu);
            }
        }
        ensure!(
            rest.count() > 0,
            "--browser-cpus leaves no CPU for the sandbox (this process runs on {} CPUs)",
            online.count()
        );
        Ok(Some(Self { browser, rest }))
    }
}

const RESOURCE: &str = "default/prod/KubernetesDeployment/big";

fn seed(sb: &Sandbox, pods: usize) -> Result<()> {
    let up = |o: serde_json::Value| sb.kube.cluster.upsert(o).map_err(anyhow::Error::msg);
    up(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "load"}}))?;
    let labels = json!({"app": "big"});
    up(json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "big", "namespace": "load", "uid": "d-big", "labels": labels},
        "spec": {"replicas": pods, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "img:1"}]}}},
        "status": {"replicas": pods, "readyReplicas": pods, "availableReplicas": pods, "updatedReplicas": pods}}))?;
    up(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "big-rs", "namespace": "load", "uid": "r-big", "labels": labels,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "big", "uid": "d-big", "controller": true}]},
        "spec": {"replicas": pods}, "status": {"replicas": pods, "readyReplicas": pods}}))?;
    for i in 0..pods {
        up(json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": format!("big-rs-{i:04}"), "namespace": "load", "uid": format!("p-{i}"), "labels": labels,
                         "creationTimestamp": "2026-11-20T10:00:00Z",
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "big-rs", "uid": "r-big", "controller": true}]},
            "spec": {"nodeName": "sandbox-node-1", "containers": [{"name": "app", "image": "img:1"}]},
            "status": {"phase": "Running", "podIP": format!("10.1.{}.{}", i / 250, i % 250 + 1),
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "image": "img:1",
                                              "state": {"running": {"startedAt": "2026-11-20T10:00:05Z"}}}]}}))?;
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    ensure!(args.iterations > 0 && args.pods > 0, "--iterations and --pods must be at least 1");
    // Before the runtime's threads exist: they, and the processes they start, inherit the set.
    let split = Split::new(&args.browser_cpus)?;
    if let Some(split) = &split {
        rustix::thread::sched_setaffinity(None, &split.rest).context("moving the sandbox to the other CPUs")?;
    }
    tokio::runtime::Runtime::new()?.block_on(run(args, split))
}

async fn run(args: Args, split: Option<Split>) -> Result<()> {
    let console = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../console");
    ensure!(
        console.join("node_modules/playwright-core").is_dir(),
        "console/node_modules is missing: run `npm --prefix console ci` (.ci/run does)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    ensure!(
        std::path::Path::new(&chromium).is_file(),
        "{chromium} is missing: install Debian's chromium or set CHROMIUM"
    );

    let sb = Sandbox::start().await?;
    let _runner = sb.runner_with_connection("bench").await?;
    seed(&sb, args.pods)?;
    ok(&sb, &["env", "create", "prod"]).await;
    let f = sb.dir.path().join("big.yaml");
    std::fs::write(
        &f,
        "kind: KubernetesDeployment\nmetadata: {env: prod, name: big}\nspec: {connection: bench-conn, namespace: load}\n",
    )?;
    ok(&sb, &["resource", "apply", "-f", f.to_str().context("utf-8 path")?]).await;

    let mut node = tokio::process::Command::new("node");
    if let Some(split) = split {
        println!("Chromium on CPUs {:?} alone; the sandbox on the others", args.browser_cpus);
        #[allow(unsafe_code)]
        // SAFETY: the closure runs in the forked child before exec, and only makes one system
        // call (sched_setaffinity), which is async-signal-safe; it allocates nothing.
        unsafe {
            node.pre_exec(move || {
                rustix::thread::sched_setaffinity(None, &split.browser).map_err(std::io::Error::from)
            });
        }
    }
    let status = node
        .arg(console.join("tests/bench.mjs"))
        .current_dir(&console)
        .env("CONSOLE_URL", sb.gateway_url())
        .env("API_KEY", &sb.api_key)
        .env("KUBE_URL", sb.kube.url())
        .env("RESOURCE", RESOURCE)
        .env("NAMESPACE", "load")
        .env("CONNECTION", "bench-conn")
        .env("PODS", args.pods.to_string())
        .env("ITERATIONS", args.iterations.to_string())
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .status()
        .await
        .context("node runs console/tests/bench.mjs")?;
    sb.shutdown().await;
    ensure!(status.success(), "console/tests/bench.mjs failed: {status}");
    Ok(())
}
