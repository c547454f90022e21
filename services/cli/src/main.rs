//! `planton`: wiring only; the CLI lives in the library.

fn main() -> std::process::ExitCode {
    // Everything this process writes ($PLANTON_HOME: keys, credentials, kubeconfigs) is owner-only.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let (mut out, mut err) = (std::io::stdout(), std::io::stderr());
    let mut io = cloudops_cli::Io {
        out: &mut out,
        err: &mut err,
        home: cloudops_schemas::local_store::planton_home(),
        editor: None,
        stdin: None,
    };
    let code = rt.block_on(cloudops_cli::run(std::env::args_os(), &mut io));
    // A thread may still be blocked reading stdin (exec -i): do not wait for it.
    rt.shutdown_background();
    std::process::ExitCode::from(code as u8)
}
