//! The NATS hub this process starts and supervises: JetStream on, client port on loopback
//! (mTLS), leafnode listener (mTLS), operator mode with a `full` account resolver, runner
//! identities decided by our auth callout (see `cloudops_bus::accounts`). One node, a cluster
//! on this machine (`--cluster-size`), or one node of a hub spread over machines (`cloudops hub
//! --routes`), whose client port listens where control planes on other machines reach it.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
};

use cloudops_bus::{
    NatsClient,
    accounts::{HubKeys, HubUser},
    connect::{ConnectSpec, TlsFiles, connect},
    natsd::{self, HubConfig, NatsServer, ServerTls},
};

use crate::pki::{Pki, write_pair};

pub struct Hub {
    /// The nodes: one, or a cluster (`--cluster-size`), each supervised (restarted if it dies).
    pub servers: Vec<NatsServer>,
    /// Each node's leafnode port, in node order.
    pub leaf_ports: Vec<u16>,
    /// Each node's route port (a cluster's), in node order.
    pub route_ports: Vec<u16>,
    /// How this control plane talks to it.
    pub link: HubLink,
}

/// What a control plane needs to work a hub it may not have started: the nodes' client URLs,
/// a client certificate of the shared CA, and the hub's keys (operator, accounts, users).
/// Every replica that holds them answers the auth callout, registers runner accounts and cuts
/// tunnels; one that does not leaves all three to its NATS.
#[derive(Clone)]
pub struct HubLink {
    /// Every node's client URL, comma-separated.
    pub urls: String,
    tls: TlsFiles,
    /// The operator, accounts and users of this hub (`cloudops_bus::accounts`).
    pub keys: Arc<HubKeys>,
}

/// Where and how the hub listens.
pub struct HubPlan<'a> {
    pub dir: &'a Path,
    pub leaf_listen: std::net::SocketAddr,
    pub public_host: &'a str,
    pub runner_stream_max_bytes: i64,
    /// How the runners' tunnels are compressed (`--leaf-compression`).
    pub leaf_compression: natsd::LeafCompression,
    /// 1: one server; 3 or 5: a cluster on this machine, JetStream replicated on 3 nodes.
    pub nodes: usize,
    /// One node of a hub spread over machines (`cloudops hub --routes …`), instead of `nodes`.
    pub spread: Option<SpreadNode>,
    /// The hub's key secret when it is shared (`--hub-keys-file`): read, never created. None:
    /// `dir/hub-keys.secret`, created on first start.
    pub keys_file: Option<PathBuf>,
}

/// This process's node of a hub whose other nodes run elsewhere: its name, where its client
/// and route ports listen, and every node's route address. Its keys and CA were made
/// beforehand (`cloudops hub init`) and every node and control plane shares them.
#[derive(Debug, Clone)]
pub struct SpreadNode {
    pub name: String,
    pub client_listen: std::net::SocketAddr,
    pub route_listen: std::net::SocketAddr,
    /// Every node's route address `host:port`, this one's included.
    pub routes: Vec<String>,
}

/// One node to start: its name, directory, ports and cluster block.
struct NodeSpec {
    name: String,
    dir: PathBuf,
    client_host: String,
    client_port: u16,
    leaf_port: u16,
    cluster: Option<natsd::ClusterConfig>,
}

/// A node's name and its own directory (JetStream, resolver, log): a hub alone keeps the layout
/// of earlier versions; cluster nodes get `node-<i>` each.
fn node_layout(dir: &Path, nodes: usize, i: usize) -> (String, PathBuf) {
    if nodes == 1 {
        ("cloudops-hub".into(), dir.to_path_buf())
    } else {
        (format!("cloudops-hub-{i}"), dir.join(format!("node-{i}")))
    }
}

/// Refuses a leafnode port another process holds, naming the flag that chooses it.
fn check_leaf_port(leaf_listen: SocketAddr, port: u16, nodes: usize) -> Result<(), String> {
    std::net::TcpListener::bind((leaf_listen.ip(), port)).map(drop).map_err(|e| {
        let cluster = if nodes > 1 {
            format!("; a cluster of {nodes} uses it and the {} ports after it", nodes - 1)
        } else {
            String::new()
        };
        format!(
            "the hub's leafnode listener cannot bind {}:{port}: {e} (choose another with --leaf-listen{cluster})",
            leaf_listen.ip()
        )
    })
}

fn cluster_block(host: String, port: u16, routes: Vec<String>, keys: &HubKeys) -> natsd::ClusterConfig {
    natsd::ClusterConfig {
        name: "cloudops".into(),
        host,
        port,
        routes,
        route_user: "route".into(),
        route_password: keys.route_password(),
    }
}

/// The nodes of a hub on this machine, on ports picked now: node i's leafnode listener on
/// `--leaf-listen`'s port + i, client ports and routes (a cluster's) on loopback.
fn one_machine(plan: &HubPlan<'_>, keys: &HubKeys) -> Result<Vec<NodeSpec>, String> {
    let (nodes, leaf_listen) = (plan.nodes, plan.leaf_listen);
    // Every port picked at once, so that none is picked twice.
    let leaves = if leaf_listen.port() == 0 { nodes } else { 0 };
    let route_count = if nodes > 1 { nodes } else { 0 };
    let mut free = natsd::free_ports(leaves + route_count + nodes).map_err(|e| e.to_string())?.into_iter();
    let mut free = move || free.next().ok_or_else(|| "no free port left".to_string());
    let mut leaf_ports = Vec::with_capacity(nodes);
    for i in 0..nodes {
        let leaf_port = if leaf_listen.port() == 0 { free()? } else { leaf_listen.port() + i as u16 };
        check_leaf_port(leaf_listen, leaf_port, nodes)?;
        leaf_ports.push(leaf_port);
    }
    // A hub alone has no routes.
    let route_ports = if nodes > 1 { (0..nodes).map(|_| free()).collect::<Result<Vec<_>, _>>()? } else { Vec::new() };
    let routes: Vec<String> = route_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    (0..nodes)
        .map(|i| {
            let (name, dir) = node_layout(plan.dir, nodes, i);
            Ok(NodeSpec {
                name,
                dir,
                client_host: "127.0.0.1".into(),
                client_port: free()?,
                leaf_port: leaf_ports[i],
                cluster: (nodes > 1).then(|| cluster_block("127.0.0.1".into(), route_ports[i], routes.clone(), keys)),
            })
        })
        .collect()
}

/// The one node of a spread hub this process runs, on the ports it was told.
fn spread_node(plan: &HubPlan<'_>, node: &SpreadNode, keys: &HubKeys) -> Result<NodeSpec, String> {
    check_leaf_port(plan.leaf_listen, plan.leaf_listen.port(), 1)?;
    Ok(NodeSpec {
        name: node.name.clone(),
        dir: plan.dir.to_path_buf(),
        client_host: node.client_listen.ip().to_string(),
        client_port: node.client_listen.port(),
        leaf_port: plan.leaf_listen.port(),
        cluster: Some(cluster_block(
            node.route_listen.ip().to_string(),
            node.route_listen.port(),
            node.routes.clone(),
            keys,
        )),
    })
}

/// The host part of `host:port` (an IPv6 address loses its brackets).
pub fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// The names a node's certificate holds: whatever runners (the public host), control planes
/// and the other nodes (a spread node's name and every route's host) dial it by.
fn certificate_names(plan: &HubPlan<'_>) -> Vec<String> {
    let mut names = vec!["localhost", "127.0.0.1", plan.public_host];
    if let Some(node) = &plan.spread {
        names.push(&node.name);
        names.extend(node.routes.iter().map(|r| host_of(r)));
    }
    let mut hosts: Vec<String> = Vec::new();
    for n in names {
        if !hosts.iter().any(|h| h == n) {
            hosts.push(n.to_string());
        }
    }
    hosts
}

impl Hub {
    /// Starts the hub. Runner accounts are pushed to it at run time (`crate::tunnels`); those
    /// of earlier runs are on disk in its resolver directory (each node's, in a cluster: the
    /// `full` resolvers keep each other up to date).
    pub async fn start(plan: HubPlan<'_>, pki: &Pki) -> Result<Self, String> {
        let (dir, nodes, leaf_listen) = (plan.dir, plan.nodes, plan.leaf_listen);
        if plan.spread.is_none()
            && (!(1..=5).contains(&nodes)
                || (leaf_listen.port() != 0 && usize::from(leaf_listen.port()) + nodes > 65536))
        {
            return Err(format!("a hub of {nodes} nodes from leafnode port {}: not possible", leaf_listen.port()));
        }
        let bin = natsd::locate().await.map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let server = pki.issue_server(&certificate_names(&plan))?;
        let (cert, key) = write_pair(dir, "hub", &server)?;
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, pki.ca_pem()).map_err(|e| e.to_string())?;
        let client = pki.issue_control_plane_client()?;
        let (cp_cert, cp_key) = write_pair(dir, "control-plane", &client)?;
        // Owner-only, never in the database: whoever holds it can mint any account. A shared
        // one (every node of a spread hub reads it) is never made here.
        let keys = match &plan.keys_file {
            Some(file) => load_shared_keys(file)?,
            None if plan.spread.is_some() => return Err("a node of a spread hub needs --hub-keys-file".into()),
            None => HubKeys::load_or_create(&dir.join("hub-keys.secret")).map_err(|e| e.to_string())?,
        };
        let operator_jwt = dir.join("operator.jwt");
        natsd::write_private(&operator_jwt, keys.operator_jwt().map_err(|e| e.to_string())?.as_bytes())
            .map_err(|e| format!("{}: {e}", operator_jwt.display()))?;
        let mut attempt = 0;
        let (servers, specs) = 'attempt: loop {
            attempt += 1;
            let specs = match &plan.spread {
                Some(node) => vec![spread_node(&plan, node, &keys)?],
                None => one_machine(&plan, &keys)?,
            };
            let mut servers = Vec::with_capacity(specs.len());
            for spec in &specs {
                let resolver_dir = spec.dir.join("accounts");
                std::fs::create_dir_all(&resolver_dir).map_err(|e| format!("{}: {e}", resolver_dir.display()))?;
                std::fs::create_dir_all(spec.dir.join("jetstream")).map_err(|e| e.to_string())?;
                let log_file = spec.dir.join("nats-server.log");
                let conf = HubConfig {
                    server_name: spec.name.clone(),
                    client_host: spec.client_host.clone(),
                    client_port: spec.client_port,
                    leaf_host: leaf_listen.ip().to_string(),
                    leaf_port: spec.leaf_port,
                    leaf_compression: plan.leaf_compression,
                    tls: ServerTls { cert: cert.clone(), key: key.clone(), ca: ca.clone() },
                    jetstream_dir: spec.dir.join("jetstream"),
                    max_file_store: natsd::hub_max_file_store(plan.runner_stream_max_bytes),
                    log_file: log_file.clone(),
                    operator_jwt: operator_jwt.clone(),
                    system_account: keys.system_account().public_key(),
                    preload: keys.hub_accounts().map_err(|e| e.to_string())?,
                    resolver_dir,
                    default_sentinel: keys.sentinel_jwt().map_err(|e| e.to_string())?,
                    cluster: spec.cluster.clone(),
                };
                let conf_path = spec.dir.join("hub.conf");
                natsd::write_private(&conf_path, conf.render().as_bytes()).map_err(|e| e.to_string())?;
                match NatsServer::start(&bin, &spec.name, conf_path, spec.client_port, log_file).await {
                    Ok(server) => servers.push(server),
                    // A port picked free can be taken by another process before the server
                    // binds it: the nodes started so far stop, and the ports are picked again.
                    Err(e) if attempt < 3 && plan.spread.is_none() => {
                        tracing::warn!(node = %spec.name, attempt, error = %e, "hub node did not start; picking its ports again");
                        futures::future::join_all(servers.into_iter().map(NatsServer::stop)).await;
                        continue 'attempt;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            break (servers, specs);
        };
        let urls = servers.iter().map(|s| s.client_url(true)).collect::<Vec<_>>().join(",");
        let tls = TlsFiles { ca, cert: cp_cert, key: cp_key };
        Ok(Self {
            servers,
            leaf_ports: specs.iter().map(|s| s.leaf_port).collect(),
            route_ports: specs.iter().filter_map(|s| s.cluster.as_ref().map(|c| c.port)).collect(),
            link: HubLink { urls, tls, keys: Arc::new(keys) },
        })
    }

    /// Every node's client URL, comma-separated (how `ConnectSpec` takes a cluster).
    pub fn client_urls(&self) -> String {
        self.link.urls.clone()
    }

    /// The leafnode URLs runners dial, one per node, for `host`.
    pub fn leaf_urls(&self, host: &str) -> Vec<String> {
        self.leaf_ports.iter().map(|p| format!("tls://{host}:{p}")).collect()
    }

    /// Stops every node (SIGTERM, then SIGKILL after 5 s).
    pub async fn stop(self) {
        futures::future::join_all(self.servers.into_iter().map(NatsServer::stop)).await;
    }

    pub fn control_plane_spec(&self) -> Result<ConnectSpec, String> {
        self.link.control_plane_spec()
    }

    pub async fn connect_system(&self) -> Result<NatsClient, String> {
        self.link.connect_system().await
    }

    /// The first node's client URL and the CA, for tests that connect as a runner would directly.
    pub fn client_url(&self) -> String {
        self.servers[0].client_url(true)
    }
    pub fn ca_file(&self) -> &Path {
        &self.link.tls.ca
    }
}

/// The hub's keys from `--hub-keys-file`: read, never created (a new secret would be another
/// operator, whose accounts no node trusts).
fn load_shared_keys(keys_file: &Path) -> Result<HubKeys, String> {
    if !keys_file.is_file() {
        return Err(format!(
            "--hub-keys-file {}: no such file (`cloudops hub init` makes it; a hub started by `cloudops serve` or `cloudops hub` keeps it in its data dir as hub/hub-keys.secret)",
            keys_file.display()
        ));
    }
    // Group read is how Kubernetes hands a Secret to a pod that is not root (fsGroup).
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(keys_file)
        && m.permissions().mode() & 0o027 != 0
    {
        tracing::warn!(file = %keys_file.display(), "the hub's key secret is open to others than its owner and group: whoever reads it can mint any account (chmod 600)");
    }
    HubKeys::load_or_create(keys_file).map_err(|e| format!("--hub-keys-file: {e}"))
}

impl HubLink {
    /// A replica's link to a hub another control plane started (`--nats-url` with
    /// `--hub-keys-file`): the keys are read, never created (a new secret would be another
    /// operator), and the client certificate comes from the CA the replicas share.
    pub fn join(urls: &str, keys_file: &Path, pki: &Pki, dir: &Path) -> Result<Self, String> {
        let keys = load_shared_keys(keys_file)?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, pki.ca_pem()).map_err(|e| e.to_string())?;
        let (cert, key) = write_pair(dir, "control-plane", &pki.issue_control_plane_client()?)?;
        Ok(Self { urls: urls.to_string(), tls: TlsFiles { ca, cert, key }, keys: Arc::new(keys) })
    }

    fn spec(&self, name: &str, user: HubUser) -> Result<ConnectSpec, String> {
        Ok(ConnectSpec {
            url: self.urls.clone(),
            name: name.into(),
            creds: Some(self.keys.user_creds(user).map_err(|e| e.to_string())?),
            tls: Some(self.tls.clone()),
            // The hub is ours: after a node restarts, the callout must be back before the runners.
            prompt_reconnect: true,
            ..Default::default()
        })
    }

    /// The control plane's own connection (account CLOUDOPS).
    pub fn control_plane_spec(&self) -> Result<ConnectSpec, String> {
        self.spec("cloudops-control-plane", HubUser::ControlPlane)
    }

    /// The auth callout responder's connection (account AUTH).
    pub async fn connect_callout(&self) -> Result<NatsClient, String> {
        connect(&self.spec("cloudops-auth-callout", HubUser::Callout)?).await.map_err(|e| e.to_string())
    }

    /// A system-account connection (account pushes, kicks on revocation).
    pub async fn connect_system(&self) -> Result<NatsClient, String> {
        connect(&self.spec("cloudops-system", HubUser::System)?).await.map_err(|e| e.to_string())
    }
}
