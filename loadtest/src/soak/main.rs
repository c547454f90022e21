//! bench-soak: mixed load on a hub of three nodes for a long while, with the node the runner's
//! tunnel is on killed (SIGKILL) halfway and restarted by its supervisor. First the maximum
//! throughput of the same op mix is measured on the same setup (64 closed-loop clients: the
//! floor of this run); then, at half of it, open-loop ops (`get namespace`, `get pods`,
//! `describe pod`), a `logs -f` followed all along, and exec sessions typed into. Reports errors
//! (inside and outside the kill window), op and keystroke p50/p99 per row of time, log lines
//! lost or repeated, and each process's RSS and live heap at the start and end (see `heap.rs`),
//! with what the session streams hold beside it (the control plane's `cloudops_jetstream_bytes`).
//!
//!   cargo build --profile bench-fast -p cloudops-loadtest --bin bench-soak
//!   $CARGO_TARGET_DIR/bench-fast/bench-soak --seconds 600            # the soak of RESULTS.md
//!   $CARGO_TARGET_DIR/debug/bench-soak --seconds 60 --row 5          # CI's short mode
//!
//! Exits non-zero on an error outside the kill window, or a log line lost or repeated.

mod heap;
mod record;
mod sessions;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use cloudops_loadtest::{open_fds, rss_anon_bytes, rss_bytes, throughput};
use cloudops_sandbox::Sandbox;
use record::{Memory, Recorder, percentiles};
use serde_json::{Value, json};
use sessions::Gateway;

#[derive(Parser)]
struct Args {
    /// How long the soak runs (after the maximum is measured).
    #[arg(long, default_value_t = 600)]
    seconds: u64,
    /// Seconds per row of the report.
    #[arg(long, default_value_t = 30)]
    row: u64,
    /// Ops per second; 0 measures the maximum first and takes half.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Errors of ops up to this many seconds after the kill are the kill window's.
    #[arg(long, default_value_t = 10)]
    kill_window: u64,
    /// Errors of the streamed work (logs -f, exec) up to this many seconds after the kill are
    /// the kill window's. It waits on JetStream's failover as well: when the killed node led the
    /// runner's stream, a follower waits 4–9 s for it before campaigning (nats-server's Raft,
    /// not configurable), and a split vote takes another round.
    #[arg(long, default_value_t = 20)]
    stream_window: u64,
    /// Steady load only: no node is killed.
    #[arg(long)]
    no_kill: bool,
    /// Before each row's sample, glibc gives back the free memory it keeps (`malloc_trim`): the
    /// bench process's RSS then tells what it holds from what its allocator kept after a peak.
    /// A diagnostic; the product does not trim.
    #[arg(long)]
    trim: bool,
}

/// The op mix: mostly small reads, some lists, some describes.
fn mixed_op(n: u64, pod: &str) -> (&'static str, Value) {
    match n % 10 {
        0..=4 => ("get", json!({"kind": "namespaces", "name": "default"})),
        5..=7 => ("get", json!({"kind": "pods"})),
        _ => ("describe", json!({"kind": "pods", "name": pod})),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    heap::with_gc_trace()?;
    // What goes wrong says so on stderr (`RUST_LOG` for more); not every refused request of
    // the kill window (tower_http), which the report counts.
    let _telemetry = cloudops_telemetry::init_with("bench-soak", "warn,async_nats=error,tower_http=off");
    tokio::runtime::Runtime::new()?.block_on(soak(args))
}

async fn soak(args: Args) -> Result<()> {
    let sb = Sandbox::start_with(|c| {
        c.cluster_size = 3;
        // Scraped once a row: what JetStream holds, beside the hub nodes' RSS.
        c.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"));
    })
    .await?;
    let metrics_url = format!("http://{}/metrics", sb.cp.metrics_addr.context("metrics served")?);
    let runner = sb.runner_with_connection("soak").await?;
    let hub = sb.cp.hub.as_ref().context("the sandbox starts a hub")?;
    let gw = Gateway {
        http: reqwest::Client::builder().pool_max_idle_per_host(256).timeout(Duration::from_secs(15)).build()?,
        // Streams are read for as long as they last: no overall timeout.
        streams: reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build()?,
        url: sb.gateway_url().to_string(),
        api_key: sb.api_key.clone(),
        connection: "soak-conn".into(),
    };
    let web = cloudops_sandbox::pod_named(&sb, "soak-conn", "web-").await;
    let api = cloudops_sandbox::pod_named(&sb, "soak-conn", "api-").await;

    // The maximum of this op mix on this setup, closed loop.
    let rate = if args.rate > 0.0 {
        args.rate
    } else {
        let (gw, pod) = (gw.clone(), web.clone());
        let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let max = throughput("mixed ops", 64, Duration::from_secs(2), Duration::from_secs(5), move |_| {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (gw, pod) = (gw.clone(), pod.clone());
            async move {
                let (verb, body) = mixed_op(n, &pod);
                gw.op(verb, body).await.map(drop)
            }
        })
        .await?;
        println!(
            "maximum: {:.0} ops/s with 64 clients (p99 {:.1} ms)",
            max.per_sec(),
            max.latency.p99().as_secs_f64() * 1e3
        );
        max.per_sec() / 2.0
    };

    let start = Instant::now();
    let until = start + Duration::from_secs(args.seconds);
    let rec = Recorder::new(start, Duration::from_secs(args.row));
    println!(
        "soak: {} s at {rate:.0} ops/s, a logs -f (50 lines/s), exec sessions (4 keystrokes/s); rows of {} s; {}\n",
        args.seconds,
        args.row,
        if args.no_kill {
            "no node killed".to_string()
        } else {
            format!("a hub node killed at {} s", args.seconds / 2)
        }
    );

    let cluster = sb.kube.cluster.clone();
    let logs = tokio::spawn(sessions::follow_logs(gw.clone(), api.clone(), until, rec.clone(), move |l| {
        cluster.append_log("default", &api, "api", l)
    }));
    let exec = tokio::spawn(sessions::exec_loop(gw.clone(), web.clone(), until, rec.clone()));
    let load = tokio::spawn(open_loop(gw.clone(), web.clone(), rate, until, rec.clone()));

    // The memory of every process at the end of each row.
    let processes = {
        let (hub_nodes, runner, trim): (Vec<_>, _, _) = (hub.servers.iter().collect(), &runner, args.trim);
        move || {
            let nats = |process: String, s: &cloudops_bus::natsd::NatsServer| Memory {
                process,
                rss: rss_bytes(s.pid()),
                anon: rss_anon_bytes(s.pid()),
                live: heap::go_live_heap(&s.stderr_log),
                sqlite: None,
                fds: open_fds(s.pid()),
            };
            if trim {
                heap::trim();
            }
            let mut v = vec![Memory {
                process: "bench process".into(),
                rss: rss_bytes(std::process::id()),
                anon: rss_anon_bytes(std::process::id()),
                live: Some(heap::malloc_in_use()),
                sqlite: Some(heap::sqlite_in_use()),
                fds: open_fds(std::process::id()),
            }];
            v.extend(hub_nodes.iter().enumerate().map(|(i, s)| nats(format!("hub node {i}"), s)));
            v.push(nats("runner's leaf node".into(), &runner.leaf));
            v
        }
    };
    let mut killed: Option<(usize, Duration)> = None;
    let mut next_row = start + Duration::from_secs(args.row);
    let kill_at = start + Duration::from_secs(args.seconds / 2);
    while Instant::now() < until {
        let next = if killed.is_none() && !args.no_kill { next_row.min(kill_at) } else { next_row };
        tokio::time::sleep_until(next.into()).await;
        if killed.is_none() && !args.no_kill && Instant::now() >= kill_at {
            let port = runner.hub_port().await.context("the runner's tunnel is down before the kill")?;
            let node = hub.leaf_ports.iter().position(|p| *p == port).context("the runner is on a node of the hub")?;
            let pid = rustix::process::Pid::from_raw(hub.servers[node].pid() as i32).context("pid")?;
            rustix::process::kill_process(pid, rustix::process::Signal::KILL)?;
            killed = Some((node, rec.since_start(Instant::now())));
        }
        if Instant::now() >= next_row {
            // Sampled at the row's last moment.
            rec.memory(next_row - Duration::from_millis(1), processes());
            rec.jetstream_bytes(next_row - Duration::from_millis(1), jetstream_bytes(&gw.http, &metrics_url).await);
            next_row += Duration::from_secs(args.row);
        }
    }
    let shed_total = load.await?;
    let sessions = exec.await?;
    let log = logs.await??;
    let (rows, errors) = rec.take();

    // The report.
    println!(
        "{:>7} {:>7} {:>7} {:>6} {:>5} {:>8} {:>8} {:>9} {:>9} {:>6} {:>7} {:>9}",
        "t (s)",
        "ops",
        "ops/s",
        "errors",
        "shed",
        "p50 ms",
        "p99 ms",
        "key p50",
        "key p99",
        "lines",
        "JS MiB",
        "RSS MiB"
    );
    for (i, r) in &rows {
        let (p50, p99) = percentiles(&r.ops);
        let (k50, k99) = percentiles(&r.keystrokes);
        // Each process's RSS when the row closed, in the order of the memory table below.
        let rss: Vec<String> = r.memory.iter().map(|m| format!("{:.0}", m.rss as f64 / 1048576.0)).collect();
        println!(
            "{:>7} {:>7} {:>7.0} {:>6} {:>5} {p50:>8} {p99:>8} {k50:>9} {k99:>9} {:>6} {:>7} {:>9}",
            (i + 1) * args.row,
            r.ops.len(),
            r.ops.len() as f64 / args.row as f64,
            r.errors,
            r.shed,
            r.log_lines,
            r.jetstream_bytes.map(|b| format!("{:.1}", b as f64 / 1048576.0)).unwrap_or_else(|| "-".into()),
            rss.join("/")
        );
    }
    let window = |e: &record::Seen| {
        let secs = if matches!(e.what, "logs -f" | "exec") { args.stream_window } else { args.kill_window };
        killed.is_some_and(|(_, k)| e.at >= k && e.at <= k + Duration::from_secs(secs))
    };
    let (inside, outside): (Vec<_>, Vec<_>) = errors.iter().partition(|e| window(e));
    println!();
    if let Some((node, k)) = killed {
        let last = inside.iter().map(|e| e.at - k).max();
        println!(
            "hub node {node} killed at {:.1} s (restarted {} time(s)): {} error(s) in the kill window ({} s for ops, {} s for logs and exec){}",
            k.as_secs_f64(),
            hub.servers[node].restarts(),
            inside.len(),
            args.kill_window,
            args.stream_window,
            last.map(|d| format!(", the last {:.2} s after the kill", d.as_secs_f64())).unwrap_or_default()
        );
    }
    println!("errors outside the kill window: {} (target 0)", outside.len());
    for e in outside.iter().take(12) {
        println!("  +{:.2} s {}: {}", e.at.as_secs_f64(), e.what, truncate(&e.error, 200));
    }
    if let Some((_, k)) = killed {
        // The kill window's errors by kind and message: how many, first and last after the kill.
        let mut kinds: std::collections::BTreeMap<(&str, String), (usize, Duration, Duration)> = Default::default();
        for e in &inside {
            let at = e.at - k;
            let entry = kinds.entry((e.what, truncate(&e.error, 120))).or_insert((0, at, at));
            *entry = (entry.0 + 1, entry.1.min(at), entry.2.max(at));
        }
        for ((what, error), (n, first, last)) in kinds {
            println!(
                "  in the window: {n} × {what}: {error} (+{:.2}–{:.2} s after the kill)",
                first.as_secs_f64(),
                last.as_secs_f64()
            );
        }
    }
    println!("ops shed (too many in flight): {shed_total}");
    println!(
        "logs -f: {} lines written, {} received, {} lost, {} repeated, {}; stream resumed {} time(s)",
        log.written,
        log.received.len(),
        log.lost(),
        log.repeated(),
        if log.in_order() { "in order" } else { "OUT OF ORDER" },
        log.resumed
    );
    println!(
        "logs -f: the longest wait for a line was {:.2} s, ending at {:.1} s (a line is written every 20 ms)",
        log.longest_gap.0.as_secs_f64(),
        rec.since_start(log.longest_gap.1).as_secs_f64()
    );
    println!("exec sessions: {sessions}");
    // Memory: the first row against the last (the killed node's process is a new one).
    let sampled: Vec<_> = rows.iter().filter(|(_, r)| !r.memory.is_empty()).collect();
    if let (Some((_, first)), Some((_, last))) = (sampled.first(), sampled.last()) {
        let restarted = |name: &str| killed.is_some_and(|(n, _)| name == format!("hub node {n}"));
        print_growth("RSS", first, last, |m| Some(m.rss), restarted);
        print_growth("RSS, anonymous", first, last, |m| m.anon, restarted);
        print_growth("live heap", first, last, |m| m.live, restarted);
        print_growth("of it, SQLite's", first, last, |m| m.sqlite, restarted);
        print_counts("open fds", &rows, |m| m.fds);
        print_counts("live heap (MiB)", &rows, |m| m.live.map(|b| b >> 20));
        print_counts("of it, SQLite's (MiB)", &rows, |m| m.sqlite.map(|b| b >> 20));
        println!(
            "(target: RSS growth < 10% for every process that lived through the run; the anonymous RSS leaves out the binary's pages, which grow as more of its code runs; the live heap tells a leak from what an allocator keeps; SQLite's part is its page caches, up to 2 MiB per pooled connection, and is 0 on PostgreSQL)"
        );
    }
    let mut servers: Vec<(String, &cloudops_bus::natsd::NatsServer)> =
        hub.servers.iter().enumerate().map(|(i, s)| (format!("hub node {i}"), s)).collect();
    servers.push(("runner's leaf node".into(), &runner.leaf));
    print_go_heaps(&gw.http, &servers).await;
    runner.stop().await;
    sb.shutdown().await;
    anyhow::ensure!(outside.is_empty(), "{} error(s) outside the kill window", outside.len());
    anyhow::ensure!(log.lost() == 0 && log.repeated() == 0 && log.in_order(), "log lines lost, repeated or reordered");
    Ok(())
}

/// Where each nats-server's Go heap is at the end, by allocation site, from its profiler; each
/// whole profile is kept in `test-output/soak/`.
async fn print_go_heaps(http: &reqwest::Client, servers: &[(String, &cloudops_bus::natsd::NatsServer)]) {
    let dir = std::path::Path::new("test-output/soak");
    let _ = std::fs::create_dir_all(dir);
    for (name, s) in servers {
        let Some(port) = s.profiling_port() else {
            println!("\n{name}: no profiler port in its log ({} not set?)", cloudops_bus::natsd::PROFILE_ENV);
            continue;
        };
        let url = format!("http://127.0.0.1:{port}/debug/pprof/heap?debug=1");
        let text = match http.get(&url).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => {
                println!("\n{name}: heap profile not read: {e}");
                continue;
            }
        };
        let file = dir.join(format!("{}.heap.txt", name.replace(['\'', ' '], "-")));
        let _ = std::fs::write(&file, &text);
        let h = heap::parse_go_heap(&text);
        let mib = |b: u64| b as f64 / 1048576.0;
        let stats: Vec<String> = h.stats.iter().map(|(k, v)| format!("{k} {:.1} M", mib(*v))).collect();
        println!(
            "\n{name}: Go heap in use by allocation site (sampled; {}; whole in {})",
            stats.join(", "),
            file.display()
        );
        for (site, bytes) in h.sites.iter().take(8) {
            println!("  {:>7.1} M  {site}", mib(*bytes));
        }
    }
}

/// One table of the memory report: `what` of each process in the first and last row.
fn print_growth(
    what: &str,
    first: &record::Row,
    last: &record::Row,
    of: impl Fn(&Memory) -> Option<u64>,
    restarted: impl Fn(&str) -> bool,
) {
    let mib = |b: Option<u64>| b.map_or_else(|| "-".to_string(), |b| format!("{:.1} M", b as f64 / 1048576.0));
    println!("\n{what:<22} {:>12} {:>12} {:>8}", "first row", "last row", "growth");
    for (a, b) in first.memory.iter().zip(&last.memory) {
        let growth = match (of(a), of(b)) {
            // (Under 64 KiB at the start, a percentage says nothing: SQLite's part on PostgreSQL.)
            (Some(x), Some(y)) if x >= 64 << 10 => format!("{:.1}%", 100.0 * (y as f64 / x as f64 - 1.0)),
            _ => "-".into(),
        };
        println!(
            "{:<22} {:>12} {:>12} {:>8}{}",
            a.process,
            mib(of(a)),
            mib(of(b)),
            growth,
            if restarted(&a.process) { "  (a new process after the kill)" } else { "" }
        );
    }
}

/// `what` of each process at the end of every row: where a count steps up and stays.
fn print_counts(what: &str, rows: &[(u64, record::Row)], of: impl Fn(&Memory) -> Option<u64>) {
    let sampled: Vec<_> = rows.iter().filter(|(_, r)| !r.memory.is_empty()).collect();
    let Some((_, first)) = sampled.first() else { return };
    println!("\n{what} per row:");
    for (i, m) in first.memory.iter().enumerate() {
        let counts: Vec<String> = sampled
            .iter()
            .map(|(_, r)| r.memory.get(i).and_then(&of).map_or_else(|| "-".to_string(), |n| n.to_string()))
            .collect();
        println!("{:<22} {}", m.process, counts.join(" "));
    }
}

/// `cloudops_jetstream_bytes` (one copy of what the streams hold; refreshed every 10 s), or None
/// when the scrape fails.
async fn jetstream_bytes(http: &reqwest::Client, url: &str) -> Option<u64> {
    let text = http.get(url).send().await.ok()?.text().await.ok()?;
    text.lines().find_map(|l| l.strip_prefix("cloudops_jetstream_bytes ")).and_then(|v| v.trim().parse().ok())
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n).collect::<String>()) }
}

/// Ops at `rate` per second until `until`, each due at its slot (10 ms ticks) whether or not the
/// ones before it have answered; at most 512 in flight (the rest are shed, and counted).
async fn open_loop(gw: Gateway, pod: String, rate: f64, until: Instant, rec: Recorder) -> usize {
    const IN_FLIGHT: u32 = 512;
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT as usize));
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    let (mut owed, mut n, mut shed) = (0.0, 0u64, 0);
    while Instant::now() < until {
        let due = tick.tick().await.into_std();
        owed += rate / 100.0;
        while owed >= 1.0 {
            owed -= 1.0;
            n += 1;
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                rec.shed(due);
                shed += 1;
                continue;
            };
            let (gw, rec, pod) = (gw.clone(), rec.clone(), pod.clone());
            tokio::spawn(async move {
                let (verb, body) = mixed_op(n, &pod);
                rec.op(due, gw.op(verb, body).await.map(drop));
                drop(slot);
            });
        }
    }
    let _ = slots.acquire_many(IN_FLIGHT).await;
    shed
}
