//! `cloudops serve --with-local-runner`: a runner registered, started and connected through its
//! own leaf node, and a connection named `local` bound to it — pointed at the user's current
//! kubeconfig context, else at a sandbox cluster (the Kubernetes API test server with demo
//! workloads).

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use cloudops_bus::{child::Supervised, natsd::write_private};
use cloudops_gateway::CertIssuer;
use cloudops_schemas::{RunnerCredentials, RunnerId, TunnelCredentials, local_store};
use cloudops_store::Store;
use kube_testserver::{Cluster, KubeTestServer};
use tokio::process::{Child, Command};
use tracing::info;

use crate::pki::Pki;

pub const RUNNER_NAME: &str = "local";
pub const CONNECTION_NAME: &str = "local";
pub const SANDBOX_CONTEXT: &str = "cloudops-sandbox";

pub struct LocalRunner {
    /// Restarted with backoff when it dies.
    pub child: Supervised,
    pub sandbox: Option<KubeTestServer>,
    pub kube_description: String,
}

/// The current context of the user's kubeconfig, if there is one.
fn current_kube_context() -> Option<(PathBuf, String)> {
    let path = match std::env::var_os("KUBECONFIG") {
        Some(v) if !v.is_empty() => std::env::split_paths(&v).next()?,
        _ => std::env::home_dir()?.join(".kube").join("config"),
    };
    let text = std::fs::read_to_string(&path).ok()?;
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).ok()?;
    let ctx = doc.get("current-context")?.as_str()?.to_string();
    (!ctx.is_empty()).then_some((path, ctx))
}

fn runner_binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let beside = exe.with_file_name("planton-runner");
    if beside.is_file() {
        return Ok(beside);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let c = dir.join("planton-runner");
        if c.is_file() {
            return Ok(c);
        }
    }
    Err("planton-runner binary not found next to cloudops or on PATH (build it with `cargo build --bin planton-runner`)".into())
}

#[allow(clippy::too_many_arguments)]
pub async fn start(
    store: &Store,
    pki: &Pki,
    tunnels: &dyn cloudops_gateway::RunnerTunnels,
    org: &cloudops_store::org::Model,
    data_dir: &Path,
    planton_home: &Path,
    endpoint: &str,
    leaf_urls: &[String],
) -> Result<LocalRunner, String> {
    let bin = runner_binary()?;
    let (kubeconfig, context, sandbox, kube_description) = match current_kube_context() {
        Some((path, ctx)) => {
            let d = format!("kubeconfig context {ctx:?} ({})", path.display());
            (path, ctx, None, d)
        }
        None => {
            let cluster = Cluster::default();
            cluster.seed_sandbox();
            let server = KubeTestServer::start("127.0.0.1:0".parse().expect("addr"), cluster)
                .await
                .map_err(|e| format!("sandbox cluster: {e}"))?;
            let dir = data_dir.join("sandbox");
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            let path = dir.join("kubeconfig");
            std::fs::write(&path, server.kubeconfig(SANDBOX_CONTEXT)).map_err(|e| e.to_string())?;
            let d = format!(
                "SANDBOX cluster (Kubernetes API test server with demo workloads, not a real cluster) at {} — kubeconfig {}",
                server.url(),
                path.display()
            );
            (path, SANDBOX_CONTEXT.to_string(), Some(server), d)
        }
    };
    let runner = store.ensure_runner(Some(&org.id), &org.id, RUNNER_NAME, None).await.map_err(|e| e.to_string())?;
    tunnels.prepare(&RunnerId::parse(runner.id.clone()).map_err(|e| e.to_string())?).await?;
    let path = local_store::runner_credentials_path(planton_home, &org.name, RUNNER_NAME);
    // Reuse the credentials of an earlier start when they still fit, instead of minting a new
    // API key on every start.
    let reusable = std::fs::read_to_string(&path).ok().and_then(|t| RunnerCredentials::parse(&t).ok()).filter(|c| {
        c.runner_id == runner.id
            && c.generation == runner.generation as u32
            && c.tunnel.hub_urls() == leaf_urls
            && c.control_plane_endpoint == endpoint
            && c.tunnel.ca_cert_pem == pki.ca_pem()
    });
    if reusable.is_none() {
        issue_local_credentials(store, pki, org, &runner, &path, endpoint, leaf_urls).await?;
    }
    ensure_connection(store, org, &runner, &context).await?;
    let log = data_dir.join("local-runner.log");
    let home = planton_home.to_path_buf();
    let spawn = move || -> std::io::Result<Child> {
        let logf = std::fs::OpenOptions::new().create(true).append(true).open(&log)?;
        let mut cmd = Command::new(&bin);
        cmd.arg("start")
            .arg("--credentials-file")
            .arg(&path)
            .env("KUBECONFIG", &kubeconfig)
            .env("PLANTON_HOME", &home)
            .stdin(Stdio::null())
            .stdout(Stdio::from(logf.try_clone()?))
            .stderr(Stdio::from(logf));
        // The runner (and through it, its leaf) never outlives `cloudops serve`.
        cloudops_bus::child::die_with_parent(&mut cmd).spawn()
    };
    let first = spawn().map_err(|e| format!("starting planton-runner: {e}"))?;
    info!(log = %data_dir.join("local-runner.log").display(), "local runner started");
    // A runner that dies is started again, with backoff.
    let child = Supervised::new("planton-runner (local)".into(), first, spawn);
    Ok(LocalRunner { child, sandbox, kube_description })
}

async fn issue_local_credentials(
    store: &Store,
    pki: &Pki,
    org: &cloudops_store::org::Model,
    runner: &cloudops_store::runner::Model,
    path: &Path,
    endpoint: &str,
    leaf_urls: &[String],
) -> Result<(), String> {
    let id = RunnerId::parse(runner.id.clone()).map_err(|e| e.to_string())?;
    let cert = pki.issue_runner(&id, runner.generation as u32)?;
    let key = store.record_runner_credentials(&runner.id, &cert.fingerprint).await.map_err(|e| e.to_string())?;
    let creds = RunnerCredentials {
        version: cloudops_schemas::CREDENTIALS_VERSION,
        org_id: org.id.clone(),
        org: org.name.clone(),
        runner_id: runner.id.clone(),
        runner_name: runner.name.clone(),
        generation: runner.generation as u32,
        control_plane_endpoint: endpoint.into(),
        api_key: key.raw,
        tunnel: TunnelCredentials::new(leaf_urls, cert.ca_pem, cert.cert_pem, cert.key_pem),
    };
    std::fs::create_dir_all(path.parent().expect("parent")).map_err(|e| e.to_string())?;
    write_private(path, serde_json::to_string_pretty(&creds).map_err(|e| e.to_string())?.as_bytes())
        .map_err(|e| e.to_string())
}

async fn ensure_connection(
    store: &Store,
    org: &cloudops_store::org::Model,
    runner: &cloudops_store::runner::Model,
    context: &str,
) -> Result<(), String> {
    match store.find_connection(&org.id, CONNECTION_NAME).await.map_err(|e| e.to_string())? {
        Some(c) if c.runner_id.as_deref() == Some(runner.id.as_str()) && c.kube_context.as_deref() == Some(context) => {
        }
        Some(c) => info!(connection = %c.name, "connection `local` exists with other settings; leaving it as it is"),
        None => {
            store
                .create_connection(
                    &org.id,
                    cloudops_store::NewConnection {
                        runner_id: Some(runner.id.clone()),
                        kube_context: Some(context.into()),
                        ..cloudops_store::NewConnection::new(CONNECTION_NAME, "kubernetes")
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    Ok(())
}

impl LocalRunner {
    pub async fn stop(mut self) {
        self.child.stop().await;
        if let Some(s) = self.sandbox.take() {
            s.stop().await;
        }
    }
}
