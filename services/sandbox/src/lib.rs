//! One in-process sandbox for end-to-end tests: a real hub (nats-server on free ports), the
//! control plane, runners with their own leaf nodes, the Kubernetes API test server, and the
//! `planton` CLI run in-process against it. Never touches the NATS on 127.0.0.1:4222.
//!
//! With `DATABASE_URL=postgres://…` each sandbox gets a fresh PostgreSQL database; without it,
//! SQLite in a temporary directory.

use std::{path::PathBuf, time::Duration};

use anyhow::{Context, Result, bail};
use cloudops_controlplane::{ControlPlane, ServeConfig, write_cli_config};
use cloudops_runner::{Runner, RunnerConfig};
use cloudops_schemas::RunnerCredentials;
use kube_testserver::{Cluster, KubeTestServer};
use sea_orm::ConnectionTrait;

pub const KUBE_CONTEXT: &str = "sandbox";

pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub cp: ControlPlane,
    pub kube: KubeTestServer,
    pub kubeconfig: PathBuf,
    /// $PLANTON_HOME of the in-process CLI.
    pub home: PathBuf,
    pub api_key: String,
    /// The control plane's database, for a second replica.
    pub database_url: String,
    postgres: Option<(String, String)>,
}

/// The CLI's result: exit code, stdout, stderr.
#[derive(Debug)]
pub struct CliOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// A new database on the PostgreSQL server of `url`: its URL and name.
pub async fn fresh_postgres(url: &str) -> Result<(String, String)> {
    let name = format!("cloudops_sandbox_{}", cloudops_store::new_id("db").replace('-', "_"));
    let admin = sea_orm::Database::connect(url).await.context("DATABASE_URL")?;
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await?;
    let (base, query) = url.split_once('?').map(|(b, q)| (b, format!("?{q}"))).unwrap_or((url, String::new()));
    let cut = base.rfind('/').filter(|&i| i > base.find("://").map_or(0, |j| j + 2)).unwrap_or(base.len());
    Ok((format!("{}/{name}{query}", &base[..cut]), name))
}

impl Sandbox {
    pub async fn start() -> Result<Self> {
        Self::start_with(|_| {}).await
    }

    /// A sandbox whose control plane's configuration `tune` adjusted first.
    pub async fn start_with(tune: impl FnOnce(&mut ServeConfig)) -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("cloudops-sandbox-").tempdir()?;
        let mut cfg = ServeConfig::for_test(dir.path().to_path_buf());
        tune(&mut cfg);
        let postgres = match std::env::var("DATABASE_URL") {
            // A database the test chose itself (its own PostgreSQL server) is kept.
            _ if cfg.database_url.is_some() => None,
            Ok(url) if url.starts_with("postgres") => {
                let (db_url, name) = fresh_postgres(&url).await?;
                cfg.database_url = Some(db_url);
                Some((url, name))
            }
            _ => {
                eprintln!("sandbox: DATABASE_URL is not a postgres:// URL; using SQLite");
                None
            }
        };
        let home = cfg.planton_home.clone();
        let database_url = cfg
            .database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", cfg.data_dir.join("cloudops.db").display()));
        let cp = ControlPlane::start(cfg).await.map_err(anyhow::Error::msg)?;
        let api_key = cp.bootstrap_key.clone().context("fresh store has a bootstrap key")?;
        // A gateway on HTTPS (its certificate from the control plane's CA): the CLI trusts the CA.
        let ca = cp.gateway_url.starts_with("https://").then(|| cp.pki.ca_pem().to_string());
        write_cli_config(&home, &cp.gateway_url, &api_key, &cp.org.name, ca.as_deref()).map_err(anyhow::Error::msg)?;
        let cluster = Cluster::default();
        cluster.seed_sandbox();
        let kube = KubeTestServer::start("127.0.0.1:0".parse()?, cluster).await?;
        let kubeconfig = dir.path().join("kubeconfig");
        std::fs::write(&kubeconfig, kube.kubeconfig(KUBE_CONTEXT))?;
        Ok(Self { dir, cp, kube, kubeconfig, home, api_key, database_url, postgres })
    }

    /// Another control plane in this process: the same database, joined to this one's hub as a
    /// replica (`name` is its NATS connection name), with actors and a gateway of its own.
    pub async fn second_control_plane(&self, name: &str) -> Result<ControlPlane> {
        let hub = self.cp.hub.as_ref().context("the sandbox starts a hub")?;
        let mut cfg = ServeConfig::for_test(self.dir.path().join(name));
        cfg.database_url = Some(self.database_url.clone());
        // Replicas share the database and so the key its secrets are sealed with.
        cfg.secrets_key_file = Some(self.cp.secrets_key_file.clone());
        let mut spec = hub.control_plane_spec().map_err(anyhow::Error::msg)?;
        spec.name = name.into();
        cfg.nats = Some(spec);
        cfg.leaf_urls = self.cp.leaf_urls.clone();
        ControlPlane::start(cfg).await.map_err(anyhow::Error::msg)
    }

    /// Another control plane in this process as an HA replica is started: the same database,
    /// the hub's nodes by URL, and the keys and CA the first one keeps (`--nats-url`,
    /// `--hub-keys-file`, `--ca-dir`), so that it answers the auth callout, registers runners
    /// and cuts their tunnels too.
    pub async fn joined_control_plane(&self, name: &str) -> Result<ControlPlane> {
        let hub = self.cp.hub.as_ref().context("the sandbox starts a hub")?;
        let first = self.dir.path().join("control-plane");
        let mut cfg = ServeConfig::for_test(self.dir.path().join(name));
        cfg.database_url = Some(self.database_url.clone());
        cfg.secrets_key_file = Some(self.cp.secrets_key_file.clone());
        cfg.nats = Some(cloudops_bus::connect::ConnectSpec {
            url: hub.client_urls(),
            name: name.into(),
            ..Default::default()
        });
        cfg.leaf_urls = self.cp.leaf_urls.clone();
        cfg.hub_keys_file = Some(first.join("hub").join("hub-keys.secret"));
        cfg.ca_dir = Some(first.join("pki"));
        ControlPlane::start(cfg).await.map_err(anyhow::Error::msg)
    }

    /// Runs `planton ARGS…` in-process.
    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        run_cli(self.home.clone(), None, args).await
    }

    /// `planton` reading `stdin` (for `kubectl exec -i`).
    pub async fn cli_with_stdin(&self, stdin: &[u8], args: &[&str]) -> CliOutput {
        let reader: Box<dyn tokio::io::AsyncRead + Send + Unpin> = Box::new(std::io::Cursor::new(stdin.to_vec()));
        run_cli_io(self.home.clone(), None, Some(reader), args).await
    }

    /// `planton` with `editor` as $KUBE_EDITOR.
    pub async fn cli_with_editor(&self, editor: &str, args: &[&str]) -> CliOutput {
        run_cli(self.home.clone(), Some(editor.to_string()), args).await
    }

    /// A CLI with its own $PLANTON_HOME, logged in with `api_key`.
    /// A new principal `name` holding `role` on connection `connection`; returns its API key.
    pub async fn principal_on_connection(&self, name: &str, connection: &str, role: &str) -> String {
        ok(self, &["principal", "create", name]).await;
        let grant = ["grant", "create", "--principal", name, "--scope", "connection", "--connection", connection];
        ok(self, &[&grant[..], &["--role", role]].concat()).await;
        ok(self, &["apikey", "create", "--principal", name]).await.trim().to_string()
    }

    pub fn as_user(&self, api_key: &str) -> UserCli {
        let home = self.dir.path().join(format!("home-{}", &api_key[api_key.len() - 8..]));
        let ca = self.cp.gateway_url.starts_with("https://").then(|| self.cp.pki.ca_pem().to_string());
        write_cli_config(&home, &self.cp.gateway_url, api_key, &self.cp.org.name, ca.as_deref()).expect("cli config");
        UserCli { home }
    }
}

/// `planton ARGS` that must succeed: its stdout.
pub async fn ok(sb: &Sandbox, args: &[&str]) -> String {
    let out = sb.cli(args).await;
    assert_eq!(out.code, 0, "planton {args:?}: {}", out.stderr);
    out.stdout
}

/// `planton ARGS` that must fail: its stderr.
pub async fn fails(sb: &Sandbox, args: &[&str]) -> String {
    let out = sb.cli(args).await;
    assert_ne!(out.code, 0, "planton {args:?} should fail: {}", out.stdout);
    out.stderr
}

/// The name of the first pod in `default` whose name starts with `prefix`, through `connection`.
pub async fn pod_named(sb: &Sandbox, connection: &str, prefix: &str) -> String {
    let names = ok(sb, &["kubectl", "get", "pods", "--connection", connection, "-n", "default", "-o", "name"]).await;
    let found = names.lines().map(|l| l.trim_start_matches("pod/")).find(|l| l.starts_with(prefix));
    found.unwrap_or_else(|| panic!("no pod {prefix}* in {names}")).to_string()
}

pub struct UserCli {
    home: PathBuf,
}

impl UserCli {
    pub async fn cli(&self, args: &[&str]) -> CliOutput {
        run_cli(self.home.clone(), None, args).await
    }
}

async fn run_cli(home: PathBuf, editor: Option<String>, args: &[&str]) -> CliOutput {
    run_cli_io(home, editor, None, args).await
}

async fn run_cli_io(
    home: PathBuf,
    editor: Option<String>,
    stdin: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
    args: &[&str],
) -> CliOutput {
    {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut io = cloudops_cli::Io { out: &mut out, err: &mut err, home, editor, stdin };
        let code = cloudops_cli::run(std::iter::once("planton").chain(args.iter().copied()), &mut io).await;
        CliOutput { code, stdout: String::from_utf8_lossy(&out).into(), stderr: String::from_utf8_lossy(&err).into() }
    }
}

impl Sandbox {
    /// `planton runner generate-credentials NAME`, parsed.
    pub async fn credentials(&self, name: &str) -> Result<RunnerCredentials> {
        self.credentials_in(&self.cp.org.name, name).await
    }

    /// `planton runner generate-credentials NAME --org ORG`, parsed.
    pub async fn credentials_in(&self, org: &str, name: &str) -> Result<RunnerCredentials> {
        let out = self.cli(&["runner", "generate-credentials", name, "--org", org]).await;
        if out.code != 0 {
            bail!("generate-credentials {name}: {}", out.stderr);
        }
        RunnerCredentials::parse(&out.stdout).map_err(anyhow::Error::msg)
    }

    /// Starts a runner in-process (its leaf nats-server is a real process) against the
    /// sandbox cluster, and waits until its tunnel is up.
    pub async fn start_runner(&self, creds: RunnerCredentials) -> Result<Runner> {
        let mut cfg = RunnerConfig::new(creds);
        cfg.kubeconfig = Some(self.kubeconfig.clone());
        // Probes and metrics on a free port, as a deployed runner serves them.
        cfg.health_addr = Some("127.0.0.1:0".parse().expect("addr"));
        let runner = Runner::start(cfg).await.map_err(anyhow::Error::msg)?;
        if !runner.wait_tunnel(Duration::from_secs(15)).await {
            bail!("runner tunnel did not come up");
        }
        Ok(runner)
    }

    /// Registers runner NAME, starts it and binds a Kubernetes connection NAME-conn to it.
    pub async fn runner_with_connection(&self, name: &str) -> Result<Runner> {
        let creds = self.credentials(name).await?;
        let runner = self.start_runner(creds).await?;
        let conn = format!("{name}-conn");
        let out = self
            .cli(&[
                "connection",
                "create",
                &conn,
                "--provider",
                "kubernetes",
                "--runner",
                name,
                "--context",
                KUBE_CONTEXT,
            ])
            .await;
        if out.code != 0 {
            bail!("connection create: {}", out.stderr);
        }
        self.wait_routable(&conn).await?;
        Ok(runner)
    }

    /// Waits until an op through `connection` reaches its runner (interest propagates from the
    /// leaf to the hub shortly after the tunnel is up).
    pub async fn wait_routable(&self, connection: &str) -> Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let out = self.cli(&["kubectl", "get", "namespaces", "--connection", connection]).await;
            if out.code == 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("connection {connection} not routable: {}", out.stderr);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn gateway_url(&self) -> &str {
        &self.cp.gateway_url
    }

    pub fn database_is_postgres(&self) -> bool {
        self.postgres.is_some()
    }

    pub async fn shutdown(self) {
        self.cp.shutdown().await;
        self.kube.stop().await;
        if let Some((admin_url, name)) = self.postgres
            && let Ok(admin) = sea_orm::Database::connect(&admin_url).await
        {
            let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        }
    }
}

pub use kube_testserver::forwarding::echo_server;
