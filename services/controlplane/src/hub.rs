//! The NATS hub this process starts and supervises: JetStream on, client port on loopback
//! (mTLS), leafnode listener (mTLS), runner identities decided by our auth callout.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use cloudops_bus::{
    NatsClient, accounts,
    connect::{ConnectSpec, TlsFiles, connect},
    natsd::{self, AUTH_USER, CP_USER, HubConfig, NatsServer, SYS_USER, ServerTls},
};
use cloudops_schemas::RunnerId;
use nkeys::KeyPair;

use crate::pki::{Pki, write_pair};

pub struct Hub {
    pub server: NatsServer,
    pub leaf_port: u16,
    tls: TlsFiles,
    cp_password: String,
    auth_password: String,
    sys_password: String,
    pub callout_issuer: Arc<KeyPair>,
    runner_accounts: PathBuf,
}

fn password() -> String {
    let b: [u8; 24] = rand::random();
    data_encoding_hex(&b)
}

fn data_encoding_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The callout's signing key, kept across restarts (owner-only file, never in the database).
fn callout_key(dir: &Path) -> Result<KeyPair, String> {
    let path = dir.join("callout-issuer.nk");
    if let Ok(seed) = std::fs::read_to_string(&path) {
        return KeyPair::from_seed(seed.trim()).map_err(|e| format!("{}: {e}", path.display()));
    }
    let kp = KeyPair::new_account();
    let seed = kp.seed().map_err(|e| e.to_string())?;
    natsd::write_private(&path, seed.as_bytes()).map_err(|e| e.to_string())?;
    Ok(kp)
}

impl Hub {
    /// Starts the hub with an account for each of `runners` (see `cloudops_bus::accounts`).
    pub async fn start(
        dir: &Path,
        pki: &Pki,
        leaf_listen: std::net::SocketAddr,
        public_host: &str,
        runners: &[RunnerId],
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
        let issuer = callout_key(dir)?;
        let client_port = natsd::free_port().map_err(|e| e.to_string())?;
        let leaf_port =
            if leaf_listen.port() == 0 { natsd::free_port().map_err(|e| e.to_string())? } else { leaf_listen.port() };
        if let Err(e) = std::net::TcpListener::bind((leaf_listen.ip(), leaf_port)) {
            return Err(format!(
                "the hub's leafnode listener cannot bind {}:{leaf_port}: {e} (choose another with --leaf-listen)",
                leaf_listen.ip()
            ));
        }
        let (cp_password, auth_password, sys_password) = (password(), password(), password());
        let log_file = dir.join("nats-server.log");
        let runner_accounts = dir.join("runner-accounts.conf");
        natsd::write_private(&runner_accounts, accounts::render_runner_accounts(runners).as_bytes())
            .map_err(|e| format!("{}: {e}", runner_accounts.display()))?;
        let conf = HubConfig {
            server_name: "cloudops-hub".into(),
            client_port,
            leaf_host: leaf_listen.ip().to_string(),
            leaf_port,
            tls: ServerTls { cert, key, ca: ca.clone() },
            jetstream_dir: dir.join("jetstream"),
            max_file_store: natsd::hub_max_file_store(runner_stream_max_bytes),
            log_file: log_file.clone(),
            cp_password: cp_password.clone(),
            auth_password: auth_password.clone(),
            sys_password: sys_password.clone(),
            callout_issuer: issuer.public_key(),
            runner_accounts: runner_accounts.clone(),
        };
        let conf_path = dir.join("hub.conf");
        natsd::write_private(&conf_path, conf.render().as_bytes()).map_err(|e| e.to_string())?;
        let server =
            NatsServer::start(&bin, "hub", conf_path, client_port, log_file).await.map_err(|e| e.to_string())?;
        Ok(Self {
            server,
            leaf_port,
            tls: TlsFiles { ca, cert: cp_cert, key: cp_key },
            cp_password,
            auth_password,
            sys_password,
            callout_issuer: Arc::new(issuer),
            runner_accounts,
        })
    }

    /// Where the runner accounts are written (included by the hub's config).
    pub fn runner_accounts_file(&self) -> &Path {
        &self.runner_accounts
    }

    fn spec(&self, name: &str, user: &str, password: &str) -> ConnectSpec {
        ConnectSpec {
            url: self.server.client_url(true),
            name: name.into(),
            user: Some((user.into(), password.into())),
            tls: Some(self.tls.clone()),
            inbox_prefix: None,
            on_gap: None,
        }
    }

    /// The control plane's own connection (account CLOUDOPS).
    pub fn control_plane_spec(&self) -> ConnectSpec {
        self.spec("cloudops-control-plane", CP_USER, &self.cp_password)
    }

    pub async fn connect_control_plane(&self) -> Result<NatsClient, String> {
        connect(&self.control_plane_spec()).await.map_err(|e| e.to_string())
    }

    /// The auth callout responder's connection (account AUTH).
    pub async fn connect_callout(&self) -> Result<NatsClient, String> {
        connect(&self.spec("cloudops-auth-callout", AUTH_USER, &self.auth_password)).await.map_err(|e| e.to_string())
    }

    /// A system-account connection (kicks on revocation).
    pub async fn connect_system(&self) -> Result<NatsClient, String> {
        connect(&self.spec("cloudops-system", SYS_USER, &self.sys_password)).await.map_err(|e| e.to_string())
    }

    /// The hub's client URL and CA, for tests that connect as a runner would directly.
    pub fn client_url(&self) -> String {
        self.server.client_url(true)
    }
    pub fn ca_file(&self) -> &Path {
        &self.tls.ca
    }
}
