//! `cloudops hub`: the hub alone, one node or a cluster, supervised by a process of its own, so
//! that control planes can come and go (and die) around it. Its data dir has the layout of
//! `cloudops serve`'s (`pki/`, `hub/`), and it prints what a replica needs to join it:
//! `cloudops serve --nats-url … --leaf-url … --hub-keys-file DIR/hub/hub-keys.secret --ca-dir DIR/pki`.

use std::{net::SocketAddr, path::PathBuf};

use clap::Args;
use tracing::info;

use crate::{
    Pki,
    hub::{Hub, HubPlan},
};

#[derive(Debug, Clone, Args)]
pub struct HubArgs {
    /// Where the CA and the hub's state live [default: $PLANTON_HOME/control-plane]
    #[arg(long, env = "CLOUDOPS_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Leafnode (runner tunnel) listen address; node i of a cluster listens on its port + i.
    #[arg(long, env = "CLOUDOPS_LEAF_LISTEN", default_value = "0.0.0.0:7422")]
    pub leaf_listen: SocketAddr,
    /// Host name runners dial for the tunnel; goes into the hub certificate.
    #[arg(long, env = "CLOUDOPS_PUBLIC_HOST", default_value = "127.0.0.1")]
    pub public_host: String,
    /// Nodes: 1, 3 or 5.
    #[arg(long, env = "CLOUDOPS_CLUSTER_SIZE", default_value_t = 3)]
    pub cluster_size: usize,
    /// Bytes of session data the hub keeps per runner (as `cloudops serve`).
    #[arg(long, default_value_t = crate::config::DEFAULT_RUNNER_STREAM_MAX_BYTES)]
    pub runner_stream_max_bytes: i64,
}

/// Runs the hub until `shutdown` resolves.
pub async fn run(args: HubArgs, shutdown: impl std::future::Future<Output = ()>) -> Result<(), String> {
    if ![1, 3, 5].contains(&args.cluster_size) {
        return Err(format!("--cluster-size {}: must be 1, 3 or 5", args.cluster_size));
    }
    let data_dir = args.data_dir.unwrap_or_else(|| cloudops_schemas::local_store::planton_home().join("control-plane"));
    std::fs::create_dir_all(&data_dir).map_err(|e| format!("{}: {e}", data_dir.display()))?;
    let pki = Pki::load_or_create(&data_dir.join("pki"))?;
    let hub = Hub::start(
        HubPlan {
            dir: &data_dir.join("hub"),
            leaf_listen: args.leaf_listen,
            public_host: &args.public_host,
            runner_stream_max_bytes: args.runner_stream_max_bytes,
            nodes: args.cluster_size,
        },
        &pki,
    )
    .await?;
    println!("Cloud Ops hub is up ({} node{})", hub.servers.len(), if hub.servers.len() == 1 { "" } else { "s" });
    println!("  --nats-url:      {}", hub.client_urls());
    println!("  --leaf-url:      {}", hub.leaf_urls(&args.public_host).join(","));
    println!("  --hub-keys-file: {}", data_dir.join("hub").join("hub-keys.secret").display());
    println!("  --ca-dir:        {}", data_dir.join("pki").display());
    println!("join it with: cloudops serve --database-url postgres://… and the four flags above");
    info!(nodes = hub.servers.len(), "hub serving");
    shutdown.await;
    println!("shutting down…");
    hub.stop().await;
    Ok(())
}
