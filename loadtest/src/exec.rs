//! bench-exec: keystroke round trip of an exec session — one byte typed into `cat`, until it
//! comes back — through the whole path (HTTP input → gateway → hub → leaf → runner → exec
//! websocket → process, and back: runner → JetStream → gateway → SSE), beside its floors in the
//! same run: the same keystroke on a websocket exec straight to the Kubernetes API test server,
//! and a raw NATS request/reply through the same hub and leaf.
//!
//!   cargo run --release -p cloudops-loadtest --bin bench-exec -- --iterations 2000

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use clap::Parser;
use cloudops_loadtest::{Stats, us};
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

#[derive(Parser)]
struct Args {
    /// Keystrokes per path (after warm-up).
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
    #[arg(long, default_value_t = 200)]
    warmup: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let sb = cloudops_sandbox::Sandbox::start().await?;
    let runner = sb.runner_with_connection("bench").await?;
    let pod = cloudops_sandbox::pod_named(&sb, "bench-conn", "web-").await;
    let http = reqwest::Client::new();

    // Our path: a piped `cat`; each keystroke is one POST, its echo one SSE event.
    let start = http
        .post(format!("{}/v1/ops/kubernetes/exec", sb.gateway_url()))
        .bearer_auth(&sb.api_key)
        .json(&serde_json::json!({"connection": "bench-conn", "namespace": "default", "pod": pod, "command": ["cat"], "stdin": true}))
        .send()
        .await?;
    anyhow::ensure!(start.status().is_success(), "exec: {}", start.text().await?);
    let session = start.json::<serde_json::Value>().await?["session"].as_str().context("session")?.to_string();
    let resp =
        http.get(format!("{}/v1/sessions/{session}/events", sb.gateway_url())).bearer_auth(&sb.api_key).send().await?;
    let (echo_tx, mut echo) = tokio::sync::mpsc::unbounded_channel::<usize>();
    tokio::spawn(async move {
        let mut body = resp.bytes_stream();
        let mut buf = String::new();
        while let Some(Ok(chunk)) = body.next().await {
            buf.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(i) = buf.find("\n\n") {
                let ev: String = buf.drain(..i + 2).collect();
                if let Some(data) = ev.lines().find_map(|l| l.strip_prefix("data: ")) {
                    let n = B64.decode(data).map(|b| b.len()).unwrap_or(0);
                    if ev.contains("event: stdout") && echo_tx.send(n).is_err() {
                        return;
                    }
                }
            }
        }
    });
    let input_url = format!("{}/v1/sessions/{session}/input", sb.gateway_url());
    let key = B64.encode("k");
    let mut samples = Vec::with_capacity(args.iterations);
    for seq in 1..=(args.warmup + args.iterations) as u64 {
        let t = Instant::now();
        let body = serde_json::json!({"seq": seq, "stdin": key});
        let r = http.post(&input_url).bearer_auth(&sb.api_key).json(&body).send().await?;
        anyhow::ensure!(r.status().is_success(), "input: {}", r.status());
        tokio::time::timeout(Duration::from_secs(5), echo.recv()).await?.context("echo stream ended")?;
        if seq > args.warmup as u64 {
            samples.push(t.elapsed());
        }
    }
    let ours = Stats { name: "keystroke through Cloud Ops (POST → runner → cat → JetStream → SSE)", samples };
    let _ = http.delete(format!("{}/v1/sessions/{session}", sb.gateway_url())).bearer_auth(&sb.api_key).send().await;

    // Floor 1: the same keystroke on an exec websocket straight to the test server.
    let url = format!("{}/api/v1/namespaces/default/pods/{pod}/exec?command=cat&stdin=true&stdout=true", sb.kube.url())
        .replace("http://", "ws://");
    let mut req = url.into_client_request()?;
    req.headers_mut().insert("Sec-WebSocket-Protocol", "v5.channel.k8s.io".parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    let direct = {
        let mut samples = Vec::with_capacity(args.iterations);
        for i in 0..args.warmup + args.iterations {
            let t = Instant::now();
            ws.send(Message::binary(vec![0u8, b'k'])).await?;
            loop {
                match tokio::time::timeout(Duration::from_secs(5), ws.next()).await? {
                    Some(Ok(Message::Binary(b))) if b.first() == Some(&1) && b.len() > 1 => break,
                    Some(Ok(_)) => {}
                    other => anyhow::bail!("direct exec: {other:?}"),
                }
            }
            if i >= args.warmup {
                samples.push(t.elapsed());
            }
        }
        Stats { name: "floor: the same keystroke, exec websocket straight to the API server", samples }
    };
    let _ = ws.close(None).await;

    // Floor 2: raw request/reply hub → leaf → runner's connection and back.
    let nats =
        cloudops_loadtest::nats_floor(&sb, &runner, bytes::Bytes::from_static(b"k"), args.warmup, args.iterations)
            .await?;

    println!("bench-exec: {} keystrokes per path after {} warm-up\n", args.iterations, args.warmup);
    println!("{:<76} {:>10} {:>10}", "path", "p50 µs", "p99 µs");
    for s in [&ours, &direct, &nats] {
        println!("{:<76} {:>10.0} {:>10.0}", s.name, us(s.p50()), us(s.p99()));
    }
    let added50 = us(ours.p50()) - us(direct.p50());
    let added99 = us(ours.p99()) - us(direct.p99());
    println!(
        "\nadded by Cloud Ops (ours − direct exec):  p50 {added50:.0} µs   p99 {added99:.0} µs   (target p99 ≤ 1200)"
    );
    println!(
        "ours / raw NATS round trip:               p50 {:.2}×  p99 {:.2}×",
        us(ours.p50()) / us(nats.p50()),
        us(ours.p99()) / us(nats.p99())
    );
    runner.stop().await;
    sb.shutdown().await;
    Ok(())
}
