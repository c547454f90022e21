//! `planton`: the CLI. It speaks HTTP to the gateway (JSON), prints like kubectl (tables to
//! stdout, progress and errors to stderr, non-zero exit on failure), and starts the runner
//! binary for `planton runner start`.

mod admin;
mod client;
mod cloud;
mod config;
mod connection;
mod ctx;
mod describe;
mod exec;
mod files;
mod get;
mod kube_login;
mod kubectl;
pub mod printers;
mod progress;
mod rollout;
mod runner_deploy;
mod runner_install;
mod secret;
mod sign_in;
mod sign_in_loopback;
mod tables;

pub use admin::{
    ApikeyCommand, AuditCommand, ConfigCommand, EnvCommand, GrantCommand, OrgCommand, PrincipalCommand,
    ResourceCommand, RunnerCommand,
};
pub use connection::ConnectionCommand;
pub use secret::SecretCommand;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand, ValueEnum};

pub use client::Client;
pub use config::CliConfig;
pub use ctx::{CliError, Io};
pub(crate) use ctx::{Ctx, Result};
pub(crate) use files::{k8s_secret, runner_binary, write_private};
pub(crate) use get::kubectl_get;
pub(crate) use tables::{NONE, or_none, print_items, s, when};

#[derive(Parser, Debug)]
#[command(
    name = "planton",
    version,
    about = "Cloud Ops: inspect, debug and manage what runs in Kubernetes, AWS, GCP and Azure"
)]
pub struct Cli {
    /// Organisation [default: the config's current org]
    #[arg(long, global = true, env = "PLANTON_ORG")]
    pub org: Option<String>,
    /// Environment [default: the config's current env]
    #[arg(long, global = true, env = "PLANTON_ENV")]
    pub env: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sign in: save the endpoint and an API key to $PLANTON_HOME/config.yaml, or sign in
    /// through the company's identity provider (--oidc).
    Login {
        /// The gateway's URL; several gateways of one control plane separated by commas (a
        /// request moves on to the next when one is gone).
        #[arg(long)]
        endpoint: String,
        #[arg(long, env = "PLANTON_API_KEY", hide_env_values = true, required_unless_present = "oidc")]
        api_key: Option<String>,
        /// Sign in through the identity provider the control plane is configured with, in a
        /// browser on this machine ($BROWSER, else the desktop's). The key it gives expires and
        /// is renewed silently.
        #[arg(long)]
        oidc: bool,
        /// With --oidc, where no browser can open here (SSH, containers): open the page it
        /// prints on any device and enter the code.
        #[arg(long, requires = "oidc")]
        device: bool,
        /// The CA (PEM) that signed the gateway's certificate, when it is not a public one
        /// (`cloudops serve` uses its own: <data dir>/pki/ca.pem). Kept in the config.
        #[arg(long)]
        ca_file: Option<PathBuf>,
    },
    /// Runners: the agents that execute ops inside your infrastructure.
    Runner {
        #[command(subcommand)]
        command: RunnerCommand,
    },
    /// Provider connections.
    Connection {
        #[command(subcommand)]
        command: ConnectionCommand,
    },
    /// Secrets the org keeps for its connections (values are never shown again).
    Secret {
        #[command(subcommand)]
        command: SecretCommand,
    },
    /// The local CLI config: current org and environment.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Environments of an org.
    Env {
        #[command(subcommand)]
        command: EnvCommand,
    },
    /// Users and service accounts.
    Principal {
        #[command(subcommand)]
        command: PrincipalCommand,
    },
    /// API keys (shown once).
    Apikey {
        #[command(subcommand)]
        command: ApikeyCommand,
    },
    /// Grants: principal × scope × role.
    Grant {
        #[command(subcommand)]
        command: GrantCommand,
    },
    /// The cloud-resource catalog (developer mode targets).
    Resource {
        #[command(subcommand)]
        command: ResourceCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// AWS resources through a runner (admin mode: --connection, else the default).
    Aws {
        #[command(subcommand)]
        command: cloud::AwsCommand,
    },
    /// GCP resources through the runner (Compute Engine, Cloud Storage).
    Gcp {
        #[command(subcommand)]
        command: cloud::GcpCommand,
    },
    /// Azure resources through the runner (virtual machines, Blob containers).
    Azure {
        #[command(subcommand)]
        command: cloud::AzureCommand,
    },
    /// Your own kubectl, helm or k9s through Cloud Ops: kubeconfig contexts for the gateway's
    /// Kubernetes API proxy.
    Kube {
        #[command(subcommand)]
        command: kube_login::KubeCommand,
    },
    /// Kubernetes operations, mirroring kubectl.
    Kubectl {
        #[command(subcommand)]
        command: KubectlCommand,
    },
    /// Print shell completions.
    Completion { shell: clap_complete::Shell },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum CredFormat {
    Json,
    K8sSecret,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum ListFormat {
    Table,
    Json,
    Yaml,
}

#[derive(Subcommand, Debug)]
pub enum KubectlCommand {
    /// Display one or many resources.
    Get {
        /// Resource type (pods, pod, po, deployments, deploy.apps, …)
        kind: String,
        name: Option<String>,
        #[arg(short, long)]
        namespace: Option<String>,
        #[arg(short = 'A', long)]
        all_namespaces: bool,
        #[arg(short = 'l', long)]
        selector: Option<String>,
        #[arg(long)]
        field_selector: Option<String>,
        /// wide, yaml, json or name
        #[arg(short, long)]
        output: Option<String>,
        /// Admin mode: the provider connection.
        #[arg(long)]
        connection: Option<String>,
        /// Developer mode: org/env/Kind/name of a cloud resource.
        #[arg(short = 'r', long)]
        resource: Option<String>,
    },
    /// Show details of a resource, with its recent events.
    Describe {
        kind: String,
        name: String,
        #[command(flatten)]
        target: kubectl::TargetArgs,
    },
    /// Edit a resource in $KUBE_EDITOR / $EDITOR and apply it (optimistic concurrency).
    Edit {
        kind: String,
        name: String,
        #[command(flatten)]
        target: kubectl::TargetArgs,
    },
    /// Apply a manifest (server-side apply).
    Apply {
        #[arg(short = 'f', long)]
        filename: PathBuf,
        #[command(flatten)]
        target: kubectl::TargetArgs,
    },
    /// Delete a resource after showing what goes with it.
    Delete {
        kind: String,
        name: String,
        /// Do not ask.
        #[arg(long, short = 'y')]
        yes: bool,
        #[arg(long, default_value = "background", value_parser = ["background", "foreground", "orphan"])]
        cascade: String,
        #[command(flatten)]
        target: kubectl::TargetArgs,
    },
    /// Set a workload's replicas (deployments, statefulsets, replicasets).
    Scale {
        kind: String,
        name: String,
        #[arg(long, value_parser = clap::value_parser!(i32).range(0..))]
        replicas: i32,
        #[command(flatten)]
        target: kubectl::TargetArgs,
    },
    /// `rollout restart|history|undo deployment|statefulset|daemonset NAME`.
    Rollout {
        #[command(subcommand)]
        command: kubectl::RolloutCommand,
    },
    /// The namespace's resources and their relations.
    Graph {
        /// tree, dot or json
        #[arg(short, long, default_value = "tree", value_parser = ["tree", "dot", "json"])]
        output: String,
        #[command(flatten)]
        target: kubectl::TargetArgs,
    },
    /// Run a command in a container: -it for an interactive terminal, -i to pipe stdin.
    /// The remote exit code becomes planton's.
    Exec {
        /// The pod; with -r it may be left out (the first running pod of the workload).
        pod: Option<String>,
        #[arg(short, long)]
        container: Option<String>,
        /// Pass stdin to the container.
        #[arg(short = 'i', long)]
        stdin: bool,
        /// Stdin is a terminal (raw mode, resize, Ctrl-C to the remote process).
        #[arg(short = 't', long)]
        tty: bool,
        #[command(flatten)]
        target: kubectl::TargetArgs,
        /// The command and its arguments, after `--`.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// Print a pod's logs; with -r and no pod, every pod of the workload, merged and prefixed.
    Logs {
        pod: Option<String>,
        #[arg(short, long)]
        container: Option<String>,
        #[arg(short, long)]
        follow: bool,
        #[arg(long)]
        tail: Option<i64>,
        /// Only lines newer than this: 30s, 10m, 2h.
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        since_time: Option<String>,
        #[arg(long)]
        until_time: Option<String>,
        /// Only lines matching this regular expression (filtered on the runner).
        #[arg(long)]
        grep: Option<String>,
        #[arg(short, long)]
        previous: bool,
        #[arg(long)]
        timestamps: bool,
        #[command(flatten)]
        target: kubectl::TargetArgs,
    },
    /// The kinds the cluster offers.
    ApiResources {
        #[arg(long)]
        connection: Option<String>,
        #[arg(short, long)]
        output: Option<String>,
    },
}

/// Runs the CLI; returns the process exit code.
pub async fn run<I, T>(args: I, io: &mut Io<'_>) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let text = e.render().to_string();
            let _ = if e.use_stderr() { io.err.write_all(text.as_bytes()) } else { io.out.write_all(text.as_bytes()) };
            return code;
        }
    };
    let cfg = match CliConfig::load(&io.home) {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(io.err, "error: {e}");
            return 1;
        }
    };
    let mut ctx = Ctx { io, cfg, org: cli.org.clone(), env: cli.env.clone(), http: Default::default() };
    // A sign-in's key is renewed before it runs out (not for `login`, which replaces it).
    let renew = !matches!(cli.command, Command::Login { .. } | Command::Completion { .. });
    let done = match renew {
        true => sign_in::renew_if_expiring(&mut ctx.cfg, &ctx.io.home).await,
        false => Ok(()),
    };
    let done = match done {
        Ok(()) => dispatch(cli.command, &mut ctx).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(()) => 0,
        Err(CliError::Exit(code)) => code,
        Err(CliError::Message(m)) => {
            ctx.note(&format!("error: {m}"));
            1
        }
        Err(CliError::Api { code, message, upstream_reason }) => {
            match upstream_reason {
                Some(reason) => ctx.note(&format!("Error from server ({reason}): {message}")),
                None => ctx.note(&format!("error: {message}")),
            }
            if code == "UNAUTHENTICATED" {
                ctx.note("hint: check the API key in $PLANTON_HOME/config.yaml, or sign in again: `planton login` (--api-key or --oidc)");
            }
            1
        }
    }
}

async fn dispatch(cmd: Command, ctx: &mut Ctx<'_, '_>) -> Result<()> {
    match cmd {
        Command::Login { endpoint, api_key, oidc, device, ca_file } => {
            sign_in::login(ctx, endpoint, api_key, oidc, device, ca_file).await
        }
        Command::Runner { command } => admin::runner(ctx, command).await,
        Command::Connection { command } => connection::connection(ctx, command).await,
        Command::Secret { command } => secret::secret(ctx, command).await,
        Command::Config { command } => admin::config(ctx, command),
        Command::Org { command } => admin::org(ctx, command).await,
        Command::Env { command } => admin::env(ctx, command).await,
        Command::Principal { command } => admin::principal(ctx, command).await,
        Command::Apikey { command } => admin::apikey(ctx, command).await,
        Command::Grant { command } => admin::grant(ctx, command).await,
        Command::Resource { command } => admin::resource(ctx, command).await,
        Command::Audit { command } => admin::audit(ctx, command).await,
        Command::Aws { command } => cloud::aws(ctx, command).await,
        Command::Gcp { command } => cloud::gcp(ctx, command).await,
        Command::Azure { command } => cloud::azure(ctx, command).await,
        Command::Kubectl {
            command:
                KubectlCommand::Get {
                    kind,
                    name,
                    namespace,
                    all_namespaces,
                    selector,
                    field_selector,
                    output,
                    connection,
                    resource,
                },
        } => {
            let target = kubectl::TargetArgs { connection, resource, namespace: namespace.clone() };
            let op = cloudops_api::KubeOpBody {
                label_selector: selector.unwrap_or_default(),
                field_selector: field_selector.unwrap_or_default(),
                all_namespaces,
                ..kubectl::named(&kind, name.as_deref().unwrap_or_default())
            };
            let body = kubectl::body(ctx, &target, op);
            kubectl_get(ctx, body, name.is_some(), namespace, all_namespaces, output).await
        }
        Command::Kubectl { command } => kubectl::run(ctx, command).await,
        Command::Kube { command } => kube_login::run(ctx, command).await,
        Command::Completion { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "planton", &mut buf);
            ctx.out(&String::from_utf8_lossy(&buf));
            Ok(())
        }
    }
}
