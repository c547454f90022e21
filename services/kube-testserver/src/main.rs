//! `kube-testserver --kubeconfig FILE [--listen ADDR] [--seed]`: the Kubernetes API test server
//! as a process, for checks that drive it with stock tools (CI applies the Helm chart's
//! renderings with `kubectl apply --dry-run=server`). Writes a kubeconfig for it to FILE, prints
//! its URL, and serves until SIGTERM or SIGINT.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use kube_testserver::{Cluster, KubeTestServer};

struct Args {
    kubeconfig: PathBuf,
    listen: SocketAddr,
    seed: bool,
}

fn args() -> Result<Args, String> {
    let usage = "usage: kube-testserver --kubeconfig FILE [--listen ADDR] [--seed]";
    let (mut kubeconfig, mut listen, mut seed) = (None, "127.0.0.1:0".to_string(), false);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kubeconfig" => kubeconfig = Some(PathBuf::from(it.next().ok_or(usage)?)),
            "--listen" => listen = it.next().ok_or(usage)?,
            "--seed" => seed = true,
            other => return Err(format!("unknown argument {other:?}\n{usage}")),
        }
    }
    let listen = listen.parse().map_err(|e| format!("--listen {listen:?}: {e}"))?;
    Ok(Args { kubeconfig: kubeconfig.ok_or(usage)?, listen, seed })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let cluster = Cluster::default();
    if a.seed {
        cluster.seed_sandbox();
    }
    let server = match KubeTestServer::start(a.listen, cluster).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: listening on {}: {e}", a.listen);
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(&a.kubeconfig, server.kubeconfig("kube-testserver")) {
        eprintln!("error: {}: {e}", a.kubeconfig.display());
        return ExitCode::FAILURE;
    }
    println!("{}", server.url());
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut int) =
        (signal(SignalKind::terminate()).expect("SIGTERM"), signal(SignalKind::interrupt()).expect("SIGINT"));
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    server.stop().await;
    ExitCode::SUCCESS
}
