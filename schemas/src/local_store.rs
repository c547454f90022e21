//! The on-disk layout under `$PLANTON_HOME` (default `~/.planton`) shared by `planton`,
//! `cloudops serve` and the runner: the CLI config and the local runner-credential store.

use std::path::{Path, PathBuf};

/// `$PLANTON_HOME`, else `~/.planton`.
pub fn planton_home() -> PathBuf {
    match std::env::var_os("PLANTON_HOME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => std::env::home_dir().unwrap_or_else(|| PathBuf::from(".")).join(".planton"),
    }
}

pub fn cli_config_path(home: &Path) -> PathBuf {
    home.join("config.yaml")
}

pub fn runners_dir(home: &Path) -> PathBuf {
    home.join("runners")
}

/// Where `generate-credentials` keeps a copy, and where `runner start NAME --org ORG` looks.
pub fn runner_credentials_path(home: &Path, org: &str, runner: &str) -> PathBuf {
    runners_dir(home).join(org).join(runner).join("credentials.json")
}
