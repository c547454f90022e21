//! The CLI config at `$PLANTON_HOME/config.yaml`.

use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CliConfig {
    #[serde(default)]
    pub endpoint: String,
    #[serde(default)]
    pub api_key: String,
    #[serde(default)]
    pub org: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub env: String,
    /// PEM of the CA the gateway's certificate comes from, when it is not a public one (as
    /// `certificate-authority-data` in a kubeconfig): written by `cloudops serve`, or by
    /// `planton login --ca-file`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ca_cert: String,
    /// When `api_key` stops working: set for a key from a sign-in through the identity
    /// provider (`planton login --oidc`), renewed before then with `oidc_refresh_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The identity provider's refresh token (the control plane redeems it for a new key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oidc_refresh_token: Option<String>,
}

impl CliConfig {
    pub fn load(home: &Path) -> Result<Self, String> {
        let path = cloudops_schemas::local_store::cli_config_path(home);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub fn save(&self, home: &Path) -> Result<(), String> {
        use std::{io::Write, os::unix::fs::OpenOptionsExt};
        std::fs::create_dir_all(home).map_err(|e| e.to_string())?;
        let path = cloudops_schemas::local_store::cli_config_path(home);
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        f.write_all(serde_yaml_ng::to_string(self).map_err(|e| e.to_string())?.as_bytes()).map_err(|e| e.to_string())
    }
}
