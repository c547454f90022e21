//! bench-logs: log throughput through runner → JetStream → gateway → SSE client, beside its
//! floor: raw JetStream over the same leaf (the runner's own connection publishing with the same
//! ack window, a hub-side ordered consumer reading), in one run.
//!
//!   cargo run --release -p cloudops-loadtest --bin bench-logs -- --lines 100000

use std::time::Instant;

use anyhow::{Context, Result};
use clap::Parser;
use cloudops_bus::streams;
use futures::StreamExt;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value_t = 100_000)]
    lines: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let sb = cloudops_sandbox::Sandbox::start().await?;
    let runner = sb.runner_with_connection("bench").await?;
    let pods =
        sb.cli(&["kubectl", "get", "pods", "--connection", "bench-conn", "-n", "default", "-o", "name"]).await.stdout;
    let pod = pods.lines().find(|l| l.contains("api-")).context("api pod")?.trim_start_matches("pod/").to_string();
    let line = "api: GET /api/orders/12345 200 (12ms) user=alice trace=4bf92f3577b34da6a3ce929d0e0e4736";
    for i in 0..args.lines {
        sb.kube.cluster.append_log("default", &pod, "api", &format!("{line} n={i}"));
    }

    // Our path: a logs op (all lines, no follow), read over SSE until the end event.
    let http = reqwest::Client::new();
    let t = Instant::now();
    let start = http
        .post(format!("{}/v1/ops/kubernetes/logs", sb.gateway_url()))
        .bearer_auth(&sb.api_key)
        .json(&serde_json::json!({"connection": "bench-conn", "namespace": "default", "pod": pod}))
        .send()
        .await?;
    anyhow::ensure!(start.status().is_success(), "logs: {}", start.text().await?);
    let session = start.json::<serde_json::Value>().await?["session"].as_str().context("session")?.to_string();
    let resp =
        http.get(format!("{}/v1/sessions/{session}/events", sb.gateway_url())).bearer_auth(&sb.api_key).send().await?;
    let mut body = resp.bytes_stream();
    let (mut events, mut bytes, mut tail) = (0usize, 0usize, String::new());
    'read: while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        bytes += chunk.len();
        tail.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(i) = tail.find("\n\n") {
            let ev: String = tail.drain(..i + 2).collect();
            if ev.contains("event: end") {
                break 'read;
            }
            // One event may carry several lines: one `data:` field each.
            events += ev.lines().filter(|l| l.starts_with("data:")).count();
        }
    }
    let ours = t.elapsed();

    // Floor: the runner's own leaf connection publishes the same lines to JetStream, in
    // messages of the same size as the runner's batches and with the same window; the hub side
    // reads them with an ordered consumer.
    let id = runner.runner_id.clone();
    let raw_session = streams::new_session_id();
    let mut payloads: Vec<bytes::Bytes> = Vec::new();
    let mut batch = String::new();
    for i in 0..args.lines {
        let l = format!("{line} n={i}");
        if !batch.is_empty() && batch.len() + 1 + l.len() > cloudops_runner::LOG_BATCH_BYTES {
            payloads.push(std::mem::take(&mut batch).into());
        }
        if !batch.is_empty() {
            batch.push('\n');
        }
        batch.push_str(&l);
    }
    payloads.push(batch.into());
    let floor_bytes: usize = payloads.iter().map(|p| p.len()).sum();
    let messages = payloads.len();
    let t = Instant::now();
    let reader = {
        let nc = sb.cp.nats.clone();
        let (id, s, n) = (id.clone(), raw_session.clone(), messages);
        tokio::spawn(async move {
            let mut msgs = streams::read_session(&nc, &id, &s, 0).await?;
            let mut got = 0;
            while let Some(m) = msgs.next().await {
                let m = m?;
                if m.end.is_some() {
                    break;
                }
                got += 1;
            }
            anyhow::ensure!(got == n, "floor read {got} of {n}");
            Ok::<_, anyhow::Error>(())
        })
    };
    let mut publisher =
        streams::SessionPublisher::new(runner.nats.clone(), &id, &raw_session, cloudops_runner::ACK_WINDOW);
    for p in payloads {
        publisher.send(p).await?;
    }
    publisher.finish("eof").await?;
    reader.await??;
    let floor = t.elapsed();

    // The pod's own history comes before the appended lines.
    anyhow::ensure!(events >= args.lines, "SSE delivered {events} of {} lines", args.lines);
    let rate = |d: std::time::Duration| args.lines as f64 / d.as_secs_f64();
    println!("bench-logs: {} lines of {} bytes\n", args.lines, line.len() + 8);
    println!("{:<72} {:>12} {:>10}", "path", "lines/s", "seconds");
    let ours_rate = events as f64 / ours.as_secs_f64();
    println!(
        "{:<72} {:>12.0} {:>10.2}",
        format!("runner → JetStream → gateway → SSE client ({events} lines, {} KiB of SSE)", bytes / 1024),
        ours_rate,
        ours.as_secs_f64()
    );
    println!(
        "{:<72} {:>12.0} {:>10.2}",
        format!("floor: raw JetStream over the same leaf ({messages} messages of ≤ 64 KiB, same ack window)"),
        rate(floor),
        floor.as_secs_f64()
    );
    let mib = |b: usize, d: std::time::Duration| b as f64 / d.as_secs_f64() / (1 << 20) as f64;
    println!(
        "\nbytes/s: ours {:.1} MiB/s of SSE, floor {:.1} MiB/s of payload",
        mib(bytes, ours),
        mib(floor_bytes, floor)
    );
    println!("ours / floor: {:.0}% of lines/s (targets: ≥ 500,000 lines/s; ≥ 50%)", 100.0 * ours_rate / rate(floor));
    runner.stop().await;
    sb.shutdown().await;
    Ok(())
}
