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
    pub server: NatsServer,
    pub leaf_port: u16,
    tls: TlsFiles,
    /// The operator, accounts and users of this hub (`cloudops_bus::accounts`).
    pub keys: Arc<HubKeys>,
}

impl Hub {
    /// Starts the hub. Runner accounts are pushed to it at run time (`crate::tunnels`); those
    /// of earlier runs are on disk in its resolver directory.
    pub async fn start(
        dir: &Path,
        pki: &Pki,
        leaf_listen: std::net::SocketAddr,
        public_host: &str,
        runner_stream_max_bytes: i64,
    ) -> Result<Self, String> {
        let bin = natsd::locate().await.map_err(|e| e.to_string())?;
        std::fs::create_dir_all(dir.join("jetstream")).map_err(|e| e.to_string())?;
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
        let resolver_dir = dir.join("accounts");
        std::fs::create_dir_all(&resolver_dir).map_err(|e| format!("{}: {e}", resolver_dir.display()))?;
        let client_port = natsd::free_port().map_err(|e| e.to_string())?;
        let leaf_port =
            if leaf_listen.port() == 0 { natsd::free_port().map_err(|e| e.to_string())? } else { leaf_listen.port() };
        if let Err(e) = std::net::TcpListener::bind((leaf_listen.ip(), leaf_port)) {
            return Err(format!(
                "the hub's leafnode listener cannot bind {}:{leaf_port}: {e} (choose another with --leaf-listen)",
                leaf_listen.ip()
            ));
        }
        let log_file = dir.join("nats-server.log");
        let conf = HubConfig {
            server_name: "cloudops-hub".into(),
            client_port,
            leaf_host: leaf_listen.ip().to_string(),
            leaf_port,
            tls: ServerTls { cert, key, ca: ca.clone() },
            jetstream_dir: dir.join("jetstream"),
            max_file_store: natsd::hub_max_file_store(runner_stream_max_bytes),
            log_file: log_file.clone(),
            operator_jwt,
            system_account: keys.system_account().public_key(),
            preload: keys.hub_accounts().map_err(|e| e.to_string())?,
            resolver_dir,
            default_sentinel: keys.sentinel_jwt().map_err(|e| e.to_string())?,
        };
        let conf_path = dir.join("hub.conf");
        natsd::write_private(&conf_path, conf.render().as_bytes()).map_err(|e| e.to_string())?;
        let server =
            NatsServer::start(&bin, "hub", conf_path, client_port, log_file).await.map_err(|e| e.to_string())?;
        Ok(Self { server, leaf_port, tls: TlsFiles { ca, cert: cp_cert, key: cp_key }, keys: Arc::new(keys) })
    }

    fn spec(&self, name: &str, user: HubUser) -> Result<ConnectSpec, String> {
        Ok(ConnectSpec {
            url: self.server.client_url(true),
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

    pub async fn connect_control_plane(&self) -> Result<NatsClient, String> {
        connect(&self.control_plane_spec()?).await.map_err(|e| e.to_string())
    }

    /// The auth callout responder's connection (account AUTH).
    pub async fn connect_callout(&self) -> Result<NatsClient, String> {
        connect(&self.spec("cloudops-auth-callout", HubUser::Callout)?).await.map_err(|e| e.to_string())
    }

    /// A system-account connection (account pushes, kicks on revocation).
    pub async fn connect_system(&self) -> Result<NatsClient, String> {
        connect(&self.spec("cloudops-system", HubUser::System)?).await.map_err(|e| e.to_string())
    }

    /// The hub's client URL and CA, for tests that connect as a runner would directly.
    pub fn client_url(&self) -> String {
        self.server.client_url(true)
    }
    pub fn ca_file(&self) -> &Path {
        &self.tls.ca
    }
}
