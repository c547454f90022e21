//! `cloudops`: the control plane binary. Wiring only; the work is in the library.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cloudops", version, about = "Cloud Ops control plane")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane: gateway, actors, store and a supervised NATS hub.
    Serve(Box<cloudops_controlplane::ServeArgs>),
    /// Run the NATS hub alone (a cluster of 3 by default, or one node of a hub spread over
    /// machines with --routes), for control planes that join it with --nats-url, --leaf-url,
    /// --hub-keys-file and --ca-dir (it prints them). `cloudops hub init` makes the CA and keys
    /// a spread hub shares.
    Hub(Box<cloudops_controlplane::hub_only::HubArgs>),
    /// Exit 0 when the gateway accepts connections on ADDR (a container health check that
    /// needs no shell or HTTP client in the image).
    Health {
        #[arg(long, default_value = "127.0.0.1:7480")]
        addr: std::net::SocketAddr,
    },
    /// Print shell completions (`cloudops completion bash > /etc/bash_completion.d/cloudops`).
    Completion { shell: clap_complete::Shell },
}

/// `cloudops health`: whether something accepts TCP connections on `addr` within 3 s.
fn health(addr: std::net::SocketAddr) -> std::process::ExitCode {
    match std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3)) {
        Ok(_) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: the gateway does not accept connections on {addr}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Registers SIGINT/SIGTERM handlers now and resolves on the first of them.
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

fn run_hub(args: cloudops_controlplane::hub_only::HubArgs) -> std::process::ExitCode {
    let _telemetry = cloudops_telemetry::init("cloudops");
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(async { cloudops_controlplane::hub_only::run(args, shutdown_signal()).await }) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn main() -> std::process::ExitCode {
    // Everything this process writes (database, keys, configs, recordings) is owner-only.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let args = match Cli::parse().command {
        Command::Serve(args) => *args,
        Command::Health { addr } => return health(addr),
        Command::Hub(args) => return run_hub(*args),
        Command::Completion { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "cloudops", &mut std::io::stdout());
            return std::process::ExitCode::SUCCESS;
        }
    };
    let cfg = match args.into_config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let _telemetry = cloudops_telemetry::init("cloudops");
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(async { cloudops_controlplane::run(cfg, shutdown_signal()).await }) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
