//! What `cloudops serve` keeps on disk and in its database: the data dir (owner-only), the
//! store and what its first start made, the CA, the key the org secrets are sealed with, and
//! the auth callout's view of the runner registry.

use std::{path::PathBuf, sync::Arc};

use async_trait::async_trait;
use cloudops_bus::callout;
use cloudops_schemas::RunnerId;
use cloudops_store::Store;
use tracing::warn;

use crate::{Pki, ServeConfig};

pub(crate) struct Data {
    pub store: Store,
    /// What the first start made (the org, its admin and the admin's key); None afterwards.
    pub boot: Option<cloudops_store::Bootstrap>,
    pub org: cloudops_store::org::Model,
    pub pki: Arc<Pki>,
    pub secrets: Arc<cloudops_store::SecretsKey>,
    pub secrets_key_file: PathBuf,
    /// Every registered runner (each needs its account and stream on the hub).
    pub runner_ids: Vec<RunnerId>,
}

pub(crate) async fn open(cfg: &ServeConfig) -> Result<Data, String> {
    std::fs::create_dir_all(&cfg.data_dir).map_err(|e| format!("data dir {}: {e}", cfg.data_dir.display()))?;
    // The data dir holds the CA key, the audit log and exec recordings: owner-only, also
    // when an older version created it more open.
    private(&cfg.data_dir, 0o700)?;
    let db_url = cfg.database_url.clone().unwrap_or_else(|| sqlite_url(&cfg.data_dir.join("cloudops.db")));
    let store = Store::open(&db_url).await.map_err(|e| format!("database {}: {e}", redact(&db_url)))?;
    if cfg.database_url.is_none() {
        for f in ["cloudops.db", "cloudops.db-wal", "cloudops.db-shm"] {
            let path = cfg.data_dir.join(f);
            if path.exists() {
                private(&path, 0o600)?;
            }
        }
    }
    let boot = store.bootstrap(&cfg.org).await.map_err(|e| e.to_string())?;
    let org = match &boot {
        Some(b) => b.org.clone(),
        None => store.org_by_name(&cfg.org).await.map_err(|e| e.to_string())?,
    };
    let pki_dir = cfg.ca_dir.clone().unwrap_or_else(|| cfg.data_dir.join("pki"));
    let pki =
        Arc::new(if cfg.ca_dir.is_some() { Pki::load_existing(&pki_dir)? } else { Pki::load_or_create(&pki_dir)? });
    let secrets_key_file = cfg.secrets_key_file.clone().unwrap_or_else(|| cfg.data_dir.join("secrets.key"));
    let secrets = Arc::new(cloudops_store::SecretsKey::load_or_create(&secrets_key_file).map_err(|e| e.to_string())?);
    // Started with another key than its secrets were sealed with: said now, not only per op.
    // Not fatal: `planton secret set` seals a value again under this key.
    if let Err(e) = store.check_secrets_key(&secrets).await {
        warn!(key_file = %secrets_key_file.display(), "{e}; ops on connections that use such secrets fail until they are set again (planton secret set) or the right key file is given");
    }
    let runner_ids: Vec<RunnerId> = store
        .all_runner_ids()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter_map(|id| RunnerId::parse(id).ok())
        .collect();
    Ok(Data { store, boot, org, pki, secrets, secrets_key_file, runner_ids })
}

/// The runners whose accounts a restarted hub server builds ahead (`cloudops_bus::warmup`).
pub(crate) struct ReconnectingRunners(pub Store);

#[async_trait]
impl cloudops_bus::warmup::RunnerList for ReconnectingRunners {
    async fn runners(&self) -> Result<Vec<RunnerId>, String> {
        let ids = self.0.reconnecting_runner_ids().await.map_err(|e| e.to_string())?;
        Ok(ids.into_iter().filter_map(|id| RunnerId::parse(id).ok()).collect())
    }
}

/// The auth callout's view of the runner registry.
pub(crate) struct StoreDirectory(pub Store);

#[async_trait]
impl callout::RunnerDirectory for StoreDirectory {
    async fn admit(&self, id: &callout::RunnerIdentity) -> Result<(), String> {
        match self.0.admit_runner(id.runner_id.as_str(), id.generation).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(reason)) => Err(reason),
            Err(e) => Err(format!("registry unavailable: {e}")),
        }
    }
}

fn private(path: &std::path::Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn sqlite_url(path: &std::path::Path) -> String {
    format!("sqlite://{}?mode=rwc", path.display())
}

fn redact(url: &str) -> String {
    match url.split_once('@') {
        Some((head, tail)) if head.contains("://") => format!("{}://…@{tail}", head.split("://").next().unwrap_or("")),
        _ => url.to_string(),
    }
}
