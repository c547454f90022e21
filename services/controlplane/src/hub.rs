//! The NATS hub this process starts and supervises: JetStream on, client port on loopback
//! (mTLS), leafnode listener (mTLS), operator mode with a `full` account resolver, runner
//! identities decided by our auth callout (see `cloudops_bus::accounts`).

use std::{path::Path, sync::Arc};

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
    /// 1: one server; 3 or 5: a cluster on this machine, JetStream replicated on 3 nodes.
    pub nodes: usize,
}

/// A node's name and its own directory (JetStream, resolver, log): a hub alone keeps the layout
/// of earlier versions; cluster nodes get `node-<i>` each.
fn node_layout(dir: &Path, nodes: usize, i: usize) -> (String, std::path::PathBuf) {
    if nodes == 1 {
        ("cloudops-hub".into(), dir.to_path_buf())
    } else {
        (format!("cloudops-hub-{i}"), dir.join(format!("node-{i}")))
    }
}

impl Hub {
    /// Starts the hub. Runner accounts are pushed to it at run time (`crate::tunnels`); those
    /// of earlier runs are on disk in its resolver directory (each node's, in a cluster: the
    /// `full` resolvers keep each other up to date).
    pub async fn start(plan: HubPlan<'_>, pki: &Pki) -> Result<Self, String> {
        let HubPlan { dir, leaf_listen, public_host, runner_stream_max_bytes, nodes } = plan;
        if !(1..=5).contains(&nodes) || (leaf_listen.port() != 0 && usize::from(leaf_listen.port()) + nodes > 65536) {
            return Err(format!("a hub of {nodes} nodes from leafnode port {}: not possible", leaf_listen.port()));
        }
        let bin = natsd::locate().await.map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        if !hosts.contains(&public_host.to_string()) {
            hosts.push(public_host.to_string());
        }
        let server = pki.issue_server(&hosts)?;
        let (cert, key) = write_pair(dir, "hub", &server)?;
        let ca = dir.join("ca.pem");
        std::fs::write(&ca, pki.ca_pem()).map_err(|e| e.to_string())?;
        let client = pki.issue_control_plane_client()?;
        let (cp_cert, cp_key) = write_pair(dir, "control-plane", &client)?;
        // Owner-only, never in the database: whoever holds it can mint any account.
        let keys = HubKeys::load_or_create(&dir.join("hub-keys.secret")).map_err(|e| e.to_string())?;
        let operator_jwt = dir.join("operator.jwt");
        natsd::write_private(&operator_jwt, keys.operator_jwt().map_err(|e| e.to_string())?.as_bytes())
            .map_err(|e| format!("{}: {e}", operator_jwt.display()))?;
        let mut attempt = 0;
        let (servers, leaf_ports, route_ports) = 'attempt: loop {
            attempt += 1;
            let port = |fixed: u16| if fixed == 0 { natsd::free_port().map_err(|e| e.to_string()) } else { Ok(fixed) };
            let mut leaf_ports = Vec::with_capacity(nodes);
            for i in 0..nodes {
                // One machine: node i listens on --leaf-listen's port + i.
                let leaf_port = port(if leaf_listen.port() == 0 { 0 } else { leaf_listen.port() + i as u16 })?;
                if let Err(e) = std::net::TcpListener::bind((leaf_listen.ip(), leaf_port)) {
                    return Err(format!(
                        "the hub's leafnode listener cannot bind {}:{leaf_port}: {e} (choose another with --leaf-listen{})",
                        leaf_listen.ip(),
                        if nodes > 1 {
                            format!("; a cluster of {nodes} uses it and the {} ports after it", nodes - 1)
                        } else {
                            String::new()
                        }
                    ));
                }
                leaf_ports.push(leaf_port);
            }
            // A hub alone has no routes.
            let route_ports = if nodes > 1 {
                (0..nodes).map(|_| natsd::free_port().map_err(|e| e.to_string())).collect::<Result<Vec<_>, _>>()?
            } else {
                Vec::new()
            };
            let routes: Vec<String> = route_ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
            let mut servers = Vec::with_capacity(nodes);
            for i in 0..nodes {
                let (server_name, node_dir) = node_layout(dir, nodes, i);
                let resolver_dir = node_dir.join("accounts");
                std::fs::create_dir_all(&resolver_dir).map_err(|e| format!("{}: {e}", resolver_dir.display()))?;
                std::fs::create_dir_all(node_dir.join("jetstream")).map_err(|e| e.to_string())?;
                let client_port = natsd::free_port().map_err(|e| e.to_string())?;
                let log_file = node_dir.join("nats-server.log");
                let conf = HubConfig {
                    server_name: server_name.clone(),
                    client_port,
                    leaf_host: leaf_listen.ip().to_string(),
                    leaf_port: leaf_ports[i],
                    tls: ServerTls { cert: cert.clone(), key: key.clone(), ca: ca.clone() },
                    jetstream_dir: node_dir.join("jetstream"),
                    max_file_store: natsd::hub_max_file_store(runner_stream_max_bytes),
                    log_file: log_file.clone(),
                    operator_jwt: operator_jwt.clone(),
                    system_account: keys.system_account().public_key(),
                    preload: keys.hub_accounts().map_err(|e| e.to_string())?,
                    resolver_dir,
                    default_sentinel: keys.sentinel_jwt().map_err(|e| e.to_string())?,
                    // Routes on loopback: the nodes of `--cluster-size` share this machine.
                    cluster: (nodes > 1).then(|| natsd::ClusterConfig {
                        name: "cloudops".into(),
                        host: "127.0.0.1".into(),
                        port: route_ports[i],
                        routes: routes.clone(),
                        route_user: "route".into(),
                        route_password: keys.route_password(),
                    }),
                };
                let conf_path = node_dir.join("hub.conf");
                natsd::write_private(&conf_path, conf.render().as_bytes()).map_err(|e| e.to_string())?;
                match NatsServer::start(&bin, &server_name, conf_path, client_port, log_file).await {
                    Ok(server) => servers.push(server),
                    // A port picked free can be taken by another process before the server
                    // binds it: the nodes started so far stop, and the ports are picked again.
                    Err(e) if attempt < 3 => {
                        tracing::warn!(node = %server_name, attempt, error = %e, "hub node did not start; picking its ports again");
                        futures::future::join_all(servers.into_iter().map(NatsServer::stop)).await;
                        continue 'attempt;
                    }
                    Err(e) => return Err(e.to_string()),
                }
            }
            break (servers, leaf_ports, route_ports);
        };
        let urls = servers.iter().map(|s| s.client_url(true)).collect::<Vec<_>>().join(",");
        let tls = TlsFiles { ca, cert: cp_cert, key: cp_key };
        Ok(Self { servers, leaf_ports, route_ports, link: HubLink { urls, tls, keys: Arc::new(keys) } })
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

impl HubLink {
    /// A replica's link to a hub another control plane started (`--nats-url` with
    /// `--hub-keys-file`): the keys are read, never created (a new secret would be another
    /// operator), and the client certificate comes from the CA the replicas share.
    pub fn join(urls: &str, keys_file: &Path, pki: &Pki, dir: &Path) -> Result<Self, String> {
        if !keys_file.is_file() {
            return Err(format!(
                "--hub-keys-file {}: no such file (copy hub/hub-keys.secret from the data dir of the control plane that started the hub)",
                keys_file.display()
            ));
        }
        use std::os::unix::fs::PermissionsExt;
        if let Ok(m) = std::fs::metadata(keys_file)
            && m.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(file = %keys_file.display(), "the hub's key secret is readable by others than its owner: whoever reads it can mint any account (chmod 600)");
        }
        let keys = HubKeys::load_or_create(keys_file).map_err(|e| format!("--hub-keys-file: {e}"))?;
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
