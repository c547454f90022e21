//! `planton-runner`: the runner binary (`planton runner start` runs it).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use cloudops_runner::{CredentialSources, Runner, RunnerConfig, resolve_credentials};

#[derive(Parser)]
#[command(name = "planton-runner", version, about = "Cloud Ops runner: executes ops with local credentials")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the runner: a leaf nats-server that dials the hub over mTLS, and the op executor.
    Start {
        /// A runner from the local credential store ($PLANTON_HOME/runners).
        name: Option<String>,
        #[arg(long)]
        org: Option<String>,
        /// The credentials.json from `planton runner generate-credentials`.
        #[arg(long, env = "PLANTON_RUNNER_CREDENTIALS_FILE")]
        credentials_file: Option<PathBuf>,
        /// Refuse every Kubernetes op that does not name the person: only connections with
        /// `impersonate=true` reach the cluster, as the person, so that the runner's own
        /// credentials need nothing but `impersonate`.
        #[arg(long, env = "PLANTON_RUNNER_REQUIRE_IMPERSONATION")]
        require_impersonation: bool,
        /// Serve `/healthz` (alive), `/readyz` (tunnel up) and `/metrics` (Prometheus) here,
        /// e.g. 0.0.0.0:8086 for an orchestrator's probes and a scraper.
        #[arg(long, env = "PLANTON_RUNNER_HEALTH_ADDR", value_name = "HOST:PORT")]
        health_addr: Option<std::net::SocketAddr>,
    },
    /// Deploy a runner with your own credentials (kubeconfig; the clouds' default chains).
    /// `planton runner deploy` mints the credentials and runs this; exit code 3 means the
    /// runner has no Secret yet and no --credentials-file was given.
    Deploy(Box<cloudops_schemas::deploy_args::DeployArgs>),
    /// Print shell completions (`planton-runner completion zsh > ~/.zfunc/_planton-runner`).
    Completion { shell: clap_complete::Shell },
}

/// Registers SIGINT/SIGTERM handlers now (so a signal during start-up is not fatal) and
/// returns a future that resolves on the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    async move {
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
    }
}

fn main() -> std::process::ExitCode {
    let (name, org, credentials_file, require_impersonation, health_addr) = match Cli::parse().command {
        Command::Start { name, org, credentials_file, require_impersonation, health_addr } => {
            (name, org, credentials_file, require_impersonation, health_addr)
        }
        Command::Deploy(args) => return deploy(*args),
        Command::Completion { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "planton-runner", &mut std::io::stdout());
            return std::process::ExitCode::SUCCESS;
        }
    };
    let src = CredentialSources {
        file: credentials_file,
        inline: std::env::var("PLANTON_RUNNER_CREDENTIALS").ok(),
        name,
        org,
        planton_home: cloudops_schemas::local_store::planton_home(),
    };
    let (creds, from) = match resolve_credentials(&src) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let _telemetry = cloudops_telemetry::init("planton-runner");
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async move {
        let shutdown = shutdown_signal();
        tokio::pin!(shutdown);
        tracing::info!(credentials = %from, "credentials loaded");
        let runner = tokio::select! {
            r = Runner::start(RunnerConfig { require_impersonation, health_addr, ..RunnerConfig::new(creds) }) => match r {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: {e}");
                    return std::process::ExitCode::FAILURE;
                }
            },
            _ = &mut shutdown => return std::process::ExitCode::SUCCESS,
        };
        tokio::select! {
            up = runner.wait_tunnel(std::time::Duration::from_secs(10)) => {
                if !up {
                    tracing::warn!("tunnel to the hub is not up yet; the leaf keeps retrying (see its log)");
                }
                shutdown.await;
            }
            _ = &mut shutdown => {}
        }
        runner.stop().await;
        std::process::ExitCode::SUCCESS
    })
}

fn deploy(args: cloudops_schemas::deploy_args::DeployArgs) -> std::process::ExitCode {
    use cloudops_runner::deploy::{DeployError, NEEDS_CREDENTIALS, run};
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(run(&args, cloudops_runner::VERSION)) {
        Ok(lines) => {
            for l in lines {
                print!("{l}{}", if l.ends_with('\n') { "" } else { "\n" });
            }
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            match e {
                DeployError::NeedsCredentials { .. } => std::process::ExitCode::from(NEEDS_CREDENTIALS),
                DeployError::Invalid(_) => std::process::ExitCode::from(2),
                _ => std::process::ExitCode::FAILURE,
            }
        }
    }
}
