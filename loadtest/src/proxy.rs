//! bench-proxy: the Kubernetes API proxy (what stock kubectl uses after `planton kube login`).
//!
//! - A pod list (`GET …/api/v1/namespaces/default/pods`, as a Table) through the proxy, the
//!   same GET straight to the Kubernetes API test server, and the raw NATS request/reply
//!   through the same hub and leaf (the floor), as bench-pods does for `planton kubectl get`.
//! - Port-forward throughput: bytes echoed through a `v4.channel.k8s.io` port-forward to a
//!   loopback echo server, through the proxy and straight to the test server, in MB/s.
//!
//!   cargo run --profile bench-fast -p cloudops-loadtest --bin bench-proxy -- --iterations 2000

use std::time::Instant;

use anyhow::{Context, Result, ensure};
use clap::Parser;
use cloudops_loadtest::measure;
use cloudops_sandbox::Sandbox;
use futures::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest};

#[derive(Parser)]
struct Args {
    /// GETs per path (after warm-up).
    #[arg(long, default_value_t = 2000)]
    iterations: usize,
    #[arg(long, default_value_t = 200)]
    warmup: usize,
    /// MiB sent through each port-forward.
    #[arg(long, default_value_t = 64)]
    mib: usize,
}

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";
const FRAME: usize = 32 * 1024;

/// Sends `mib` MiB through a port-forward at `url` (ws://…/portforward?ports=P) and reads it
/// back from the echo; returns MB/s.
async fn forward(url: &str, bearer: Option<&str>, mib: usize) -> Result<f64> {
    let mut req = url.into_client_request()?;
    req.headers_mut().insert("sec-websocket-protocol", "v4.channel.k8s.io".parse()?);
    if let Some(key) = bearer {
        req.headers_mut().insert("authorization", format!("Bearer {key}").parse()?);
    }
    let (ws, _) = tokio_tungstenite::connect_async(req).await.with_context(|| format!("port-forward {url}"))?;
    let (mut tx, mut rx) = ws.split();
    // The two channels' opening messages: the port, on data and error.
    for _ in 0..2 {
        let m = rx.next().await.context("the tunnel closed before it opened")??;
        ensure!(matches!(&m, Message::Binary(b) if b.len() == 3), "unexpected opening message {m:?}");
    }
    let total = mib * 1024 * 1024;
    let start = Instant::now();
    let sender = tokio::spawn(async move {
        let mut frame = vec![b'x'; FRAME + 1];
        frame[0] = 0; // the data channel of the first port
        for _ in 0..total / FRAME {
            tx.send(Message::Binary(frame.clone().into())).await?;
        }
        anyhow::Ok(tx)
    });
    let mut got = 0usize;
    while got < total {
        match rx.next().await.context("the tunnel closed early")?? {
            Message::Binary(b) if b.first() == Some(&0) => got += b.len() - 1,
            Message::Binary(b) if b.first() == Some(&1) => {
                anyhow::bail!("port-forward error: {}", String::from_utf8_lossy(&b[1..]))
            }
            _ => {}
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let mut tx = sender.await??;
    let _ = tx.close().await;
    Ok(total as f64 / 1e6 / secs)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let sb = Sandbox::start().await?;
    let runner = sb.runner_with_connection("bench").await?;
    let http = reqwest::Client::builder().build()?;
    let proxy = format!("{}/v1/kube/connections/default/bench-conn", sb.gateway_url());

    let get = |base: String, key: Option<String>| {
        let (http, url) = (http.clone(), format!("{base}/api/v1/namespaces/default/pods"));
        move || {
            let mut req = http.get(&url).header("accept", TABLE);
            if let Some(k) = &key {
                req = req.bearer_auth(k);
            }
            async move {
                let r = req.send().await?;
                ensure!(r.status().is_success(), "status {}", r.status());
                r.bytes().await?;
                Ok(())
            }
        }
    };
    let ours = measure(
        "GET pods through the proxy",
        args.warmup,
        args.iterations,
        get(proxy.clone(), Some(sb.api_key.clone())),
    )
    .await?;
    let direct =
        measure("GET pods straight to the API test server", args.warmup, args.iterations, get(sb.kube.url(), None))
            .await?;
    let floor = cloudops_loadtest::nats_floor(
        &sb,
        &runner,
        bytes::Bytes::from_static(&[b'x'; 64]),
        args.warmup,
        args.iterations,
    )
    .await?;

    let pods: serde_json::Value =
        http.get(format!("{}/api/v1/namespaces/default/pods", sb.kube.url())).send().await?.json().await?;
    let pod = pods["items"][0]["metadata"]["name"].as_str().context("a pod in default")?.to_string();
    let port = cloudops_sandbox::echo_server().await?;
    let path = format!("/api/v1/namespaces/default/pods/{pod}/portforward?ports={port}");
    let ws = |base: &str| base.replacen("http", "ws", 1);
    let through = forward(&format!("{}{path}", ws(&proxy)), Some(&sb.api_key), args.mib).await?;
    let straight = forward(&format!("{}{path}", ws(&sb.kube.url())), None, args.mib).await?;

    println!(
        "bench-proxy: {} GETs per path after {} warm-up; {} MiB per port-forward\n",
        args.iterations, args.warmup, args.mib
    );
    cloudops_loadtest::print_against_floor(&ours, &direct, &floor, &[]);
    println!();
    println!("port-forward through the proxy:        {through:.1} MB/s");
    println!("port-forward straight to the server:   {straight:.1} MB/s");
    println!("through / straight:                    {:.0}%", 100.0 * through / straight);
    drop(runner);
    sb.shutdown().await;
    Ok(())
}
