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
    Serve(cloudops_controlplane::ServeArgs),
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

fn main() -> std::process::ExitCode {
    // Everything this process writes (database, keys, configs, recordings) is owner-only.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    let Command::Serve(args) = cli.command;
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
