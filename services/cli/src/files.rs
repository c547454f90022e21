//! Files the CLI writes or finds: owner-only secrets, a runner's credentials as a Kubernetes
//! Secret, and the runner binary.

use std::{io::Write, path::PathBuf};

use serde_json::json;

use crate::{CliError, Result};

pub(crate) fn runner_binary() -> Result<PathBuf> {
    let home_bin = cloudops_schemas::local_store::planton_home().join("bin").join("planton-runner");
    let beside = std::env::current_exe().ok().map(|e| e.with_file_name("planton-runner"));
    // What `planton runner install` put in $PLANTON_HOME/bin wins over a build beside planton.
    for c in [Some(home_bin), beside].into_iter().flatten() {
        if c.is_file() {
            return Ok(c);
        }
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let c = dir.join("planton-runner");
        if c.is_file() {
            return Ok(c);
        }
    }
    Err("the runner binary (planton-runner) is not installed: install it with `planton runner install`, or build it with `cargo build --bin planton-runner` (next to planton, in $PLANTON_HOME/bin, or on PATH)".to_string().into())
}

pub(crate) fn write_private(path: &std::path::Path, data: &str) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(data.as_bytes()).map_err(|e| CliError::Message(format!("{}: {e}", path.display())))
}

pub(crate) fn k8s_secret(name: &str, creds_json: &str) -> String {
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": format!("planton-runner-{name}-credentials"), "labels": {"app.kubernetes.io/name": "planton-runner", "cloudops.dev/runner": name}},
        "type": "Opaque",
        "stringData": {"credentials.json": creds_json},
    });
    serde_yaml_ng::to_string(&secret).expect("yaml")
}
