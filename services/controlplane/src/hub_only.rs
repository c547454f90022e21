//! `cloudops hub`: the hub alone, supervised by a process of its own, so that control planes can
//! come and go (and die) around it. Either the whole hub on this machine (one node, or a cluster
//! of `--cluster-size`), with the data dir layout of `cloudops serve` (`pki/`, `hub/`); or, with
//! `--routes`, one node of a hub spread over machines (containers, pods), which shares the CA
//! and keys that `cloudops hub init` made once. Either way it prints what a replica joins it with:
//! `cloudops serve --nats-url … --leaf-url … --hub-keys-file … --ca-dir …`.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
};

use clap::{Args, Subcommand};
use cloudops_bus::accounts::HubKeys;
use tracing::info;

use crate::{
    Pki,
    hub::{Hub, HubPlan, SpreadNode, host_of},
};

#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HubArgs {
    #[command(subcommand)]
    pub command: Option<HubCommand>,
    /// Where the CA and the hub's state live [default: $PLANTON_HOME/control-plane]
    #[arg(long, env = "CLOUDOPS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Leafnode (runner tunnel) listen address; node i of a cluster on this machine listens on
    /// its port + i.
    #[arg(long, env = "CLOUDOPS_LEAF_LISTEN", default_value = "0.0.0.0:7422")]
    pub leaf_listen: SocketAddr,
    /// Host name runners dial for the tunnel; goes into the hub certificate.
    #[arg(long, env = "CLOUDOPS_PUBLIC_HOST", default_value = "127.0.0.1")]
    pub public_host: String,
    /// How the hub compresses runners' tunnels (as `cloudops serve`).
    #[arg(long, env = "CLOUDOPS_LEAF_COMPRESSION", default_value = "off", value_parser = crate::config::leaf_compression())]
    pub leaf_compression: cloudops_bus::natsd::LeafCompression,
    /// Nodes on this machine: 1, 3 or 5 (not with --routes: one node per process there).
    #[arg(long, env = "CLOUDOPS_CLUSTER_SIZE", default_value_t = 3)]
    pub cluster_size: usize,
    /// Bytes of session data the hub keeps per runner (as `cloudops serve`).
    #[arg(long, default_value_t = crate::config::DEFAULT_RUNNER_STREAM_MAX_BYTES)]
    pub runner_stream_max_bytes: i64,
    /// Run one node of a hub spread over machines: every node's route address, `host:port`,
    /// comma-separated, this one's included (3 or 5 of them). Needs --ca-dir and --hub-keys-file.
    #[arg(long, env = "CLOUDOPS_HUB_ROUTES", value_delimiter = ',')]
    pub routes: Vec<String>,
    /// This node's name in the cluster, with --routes [default: the host name].
    #[arg(long, env = "CLOUDOPS_NODE_NAME")]
    pub node_name: Option<String>,
    /// Where this node's client port listens, for control planes (mutual TLS; with --routes).
    #[arg(long, env = "CLOUDOPS_CLIENT_LISTEN", default_value = "0.0.0.0:4222")]
    pub client_listen: SocketAddr,
    /// Where this node's route port listens, for the other nodes (mutual TLS and the route
    /// password; with --routes).
    #[arg(long, env = "CLOUDOPS_ROUTE_LISTEN", default_value = "0.0.0.0:6222")]
    pub route_listen: SocketAddr,
    /// The CA that `cloudops hub init` made (ca.pem and ca.key), shared by every node and
    /// control plane; read, never created [default: DATA_DIR/pki, created on first start;
    /// with --routes it must be given].
    #[arg(long, env = "CLOUDOPS_CA_DIR")]
    pub ca_dir: Option<PathBuf>,
    /// The hub's key secret that `cloudops hub init` made, shared likewise; read, never
    /// created [default: DATA_DIR/hub/hub-keys.secret, created on first start; with --routes
    /// it must be given].
    #[arg(long, env = "CLOUDOPS_HUB_KEYS_FILE")]
    pub hub_keys_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Subcommand)]
pub enum HubCommand {
    /// Make the CA and the hub's key secret that the nodes and control planes of a spread hub
    /// share (ca.pem, ca.key, hub-keys.secret in OUT; kept when they are there already).
    Init {
        #[arg(long)]
        out: PathBuf,
    },
}

/// `cloudops hub init --out DIR`.
pub fn init(out: &Path) -> Result<(), String> {
    const FILES: [&str; 4] = ["ca.pem", "ca.key", "hub-keys.secret", "secrets.key"];
    // Half a CA is refused: making a new one would sign what no one else trusts.
    if out.join("ca.pem").is_file() != out.join("ca.key").is_file() {
        return Err(format!(
            "{}: ca.pem and ca.key go together, and only one of them is there (restore the other, or empty the directory to start afresh)",
            out.display()
        ));
    }
    let existed: Vec<&str> = FILES.into_iter().filter(|f| out.join(f).is_file()).collect();
    Pki::load_or_create(out)?;
    HubKeys::load_or_create(&out.join("hub-keys.secret")).map_err(|e| e.to_string())?;
    // Org secrets are sealed under this key in the shared database: every replica needs it.
    cloudops_store::SecretsKey::load_or_create(&out.join("secrets.key")).map_err(|e| e.to_string())?;
    let made: Vec<&str> = FILES.into_iter().filter(|f| !existed.contains(f)).collect();
    let what = match (made.is_empty(), existed.is_empty()) {
        (true, _) => format!("kept {}", existed.join(", ")),
        (false, true) => format!("made {}", made.join(", ")),
        (false, false) => format!("made {}; kept {}", made.join(", "), existed.join(", ")),
    };
    let dir = out.display();
    println!("{dir}: {what} (owner-only: whoever holds them can admit any runner and open org secrets)");
    println!("every hub node:       --ca-dir {dir} --hub-keys-file {dir}/hub-keys.secret");
    println!(
        "every control plane:  --ca-dir {dir} --hub-keys-file {dir}/hub-keys.secret --secrets-key-file {dir}/secrets.key"
    );
    println!("in Kubernetes:        kubectl create secret generic cloudops-hub --from-file={dir}");
    Ok(())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
}

/// The spread node this process runs, from the flags, or why it cannot be.
fn spread_node(args: &HubArgs) -> Result<Option<SpreadNode>, String> {
    if args.routes.is_empty() {
        return Ok(None);
    }
    if ![3, 5].contains(&args.routes.len()) {
        return Err(format!(
            "--routes lists {} node(s): a spread hub has 3 or 5 (a JetStream majority must survive a node)",
            args.routes.len()
        ));
    }
    for r in &args.routes {
        if r.rsplit_once(':')
            .and_then(|(h, p)| (!h.is_empty()).then_some(p))
            .and_then(|p| p.parse::<u16>().ok())
            .is_none()
        {
            return Err(format!("--routes: {r:?} is not host:port"));
        }
    }
    // The node is watched through loopback while it starts.
    let ip = args.client_listen.ip();
    if !(ip.is_unspecified() || ip.is_loopback()) {
        return Err(format!("--client-listen {}: listen on 0.0.0.0 (or [::]) or on loopback", args.client_listen));
    }
    let name = args.node_name.clone().unwrap_or_else(hostname);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
        return Err(format!("--node-name {name:?}: letters, digits, '-', '.' and '_' only"));
    }
    if args.ca_dir.is_none() || args.hub_keys_file.is_none() {
        return Err("--routes needs --ca-dir and --hub-keys-file (made once by `cloudops hub init`)".into());
    }
    // The other nodes dial this one by its host in --routes; a node named by none of them is
    // one nobody dials (or dials under a name its certificate may not hold).
    let host = hostname();
    let named = |h: &str| h == name || h == host || h.starts_with(&format!("{name}."));
    if !args.routes.iter().any(|r| named(host_of(r))) {
        tracing::warn!(node = %name, routes = %args.routes.join(","), "no route host names this node: the other nodes may not reach it");
    }
    Ok(Some(SpreadNode {
        name,
        client_listen: args.client_listen,
        route_listen: args.route_listen,
        routes: args.routes.clone(),
    }))
}

/// Runs the hub until `shutdown` resolves.
pub async fn run(args: HubArgs, shutdown: impl std::future::Future<Output = ()>) -> Result<(), String> {
    if let Some(HubCommand::Init { out }) = &args.command {
        return init(out);
    }
    let spread = spread_node(&args)?;
    if spread.is_none() && ![1, 3, 5].contains(&args.cluster_size) {
        return Err(format!("--cluster-size {}: must be 1, 3 or 5", args.cluster_size));
    }
    let data_dir = args.data_dir.unwrap_or_else(|| cloudops_schemas::local_store::planton_home().join("control-plane"));
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    // A CA or key secret given is shared with others: read, never created.
    let pki = match &args.ca_dir {
        Some(dir) => Pki::load_existing(dir)?,
        None => Pki::load_or_create(&data_dir.join("pki"))?,
    };
    let ca_dir = args.ca_dir.clone().unwrap_or_else(|| data_dir.join("pki"));
    let keys_file = args.hub_keys_file.clone().unwrap_or_else(|| data_dir.join("hub").join("hub-keys.secret"));
    let hub = Hub::start(
        HubPlan {
            dir: &data_dir.join("hub"),
            leaf_listen: args.leaf_listen,
            public_host: &args.public_host,
            runner_stream_max_bytes: args.runner_stream_max_bytes,
            leaf_compression: args.leaf_compression,
            nodes: args.cluster_size,
            spread: spread.clone(),
            keys_file: args.hub_keys_file.clone(),
        },
        &pki,
    )
    .await?;
    let (nats_urls, leaf_urls) = match &spread {
        // Every node listens as this one does: their client URLs by route host.
        Some(node) => {
            let port = node.client_listen.port();
            let urls: Vec<String> = node.routes.iter().map(|r| format!("tls://{}:{port}", host_of(r))).collect();
            println!(
                "Cloud Ops hub node {} is up (one of {}; routes: {})",
                node.name,
                urls.len(),
                node.routes.join(",")
            );
            (urls.join(","), hub.leaf_urls(&args.public_host).join(","))
        }
        None => {
            let n = hub.servers.len();
            println!("Cloud Ops hub is up ({n} node{})", if n == 1 { "" } else { "s" });
            (hub.client_urls(), hub.leaf_urls(&args.public_host).join(","))
        }
    };
    println!("  --nats-url:      {nats_urls}");
    println!("  --leaf-url:      {leaf_urls}");
    println!("  --hub-keys-file: {}", keys_file.display());
    println!("  --ca-dir:        {}", ca_dir.display());
    println!(
        "join it with: cloudops serve --database-url postgres://… and the four flags above{}",
        if spread.is_some() { " (--leaf-url: every node's, or one address in front of them all)" } else { "" }
    );
    info!(nodes = hub.servers.len(), "hub serving");
    shutdown.await;
    println!("shutting down…");
    hub.stop().await;
    Ok(())
}
