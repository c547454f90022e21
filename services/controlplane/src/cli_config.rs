//! What `cloudops serve` hands its clients at start: the gateway's TLS (a certificate from the
//! control plane's CA, or the operator's), and the local CLI config that makes `planton` work
//! at once.

use std::sync::Arc;

use cloudops_store::Store;
use tracing::info;

use crate::{Pki, ServeConfig, config};

/// Writes `$PLANTON_HOME/config.yaml` so that `planton` works at once (owner-only: it holds a
/// key). `ca` is the PEM the CLI trusts for the gateway (its certificate comes from our CA).
pub fn write_cli_config(
    home: &std::path::Path,
    endpoint: &str,
    api_key: &str,
    org: &str,
    ca: Option<&str>,
) -> Result<(), String> {
    std::fs::create_dir_all(home).map_err(|e| e.to_string())?;
    let mut doc = serde_json::json!({"endpoint": endpoint, "api_key": api_key, "org": org});
    if let Some(ca) = ca {
        doc["ca_cert"] = serde_json::json!(ca);
    }
    let yaml = format!(
        "# written by `cloudops serve` on first start\n{}",
        serde_yaml_ng::to_string(&doc).map_err(|e| e.to_string())?
    );
    cloudops_bus::natsd::write_private(&cloudops_schemas::local_store::cli_config_path(home), yaml.as_bytes())
        .map_err(|e| e.to_string())
}

/// The gateway's TLS: its rustls config, and the CA clients must trust (when ours signed it).
pub(crate) fn gateway_tls(
    cfg: &ServeConfig,
    pki: &Pki,
) -> Result<(Option<Arc<rustls::ServerConfig>>, Option<String>), String> {
    match &cfg.tls {
        config::GatewayTls::Off => Ok((None, None)),
        config::GatewayTls::Files { cert, key } => {
            let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
            let tls = cloudops_gateway::tls::server_config(&read(cert)?, &read(key)?)
                .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?;
            Ok((Some(tls), None))
        }
        config::GatewayTls::Generated => {
            let mut hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
            let url_host =
                cfg.public_url.as_deref().and_then(|u| u.split("://").nth(1)).and_then(|r| r.split([':', '/']).next());
            let listen_ip = (!cfg.listen.ip().is_unspecified()).then(|| cfg.listen.ip().to_string());
            for h in [Some(cfg.public_host.clone()), listen_ip, url_host.map(String::from)].into_iter().flatten() {
                if !h.is_empty() && !hosts.contains(&h) {
                    hosts.push(h);
                }
            }
            let leaf = pki.issue_server(&hosts)?;
            let tls = cloudops_gateway::tls::server_config(leaf.cert_pem.as_bytes(), leaf.key_pem.as_bytes())?;
            Ok((Some(tls), Some(pki.ca_pem().to_string())))
        }
    }
}

/// After a restart on another address, points the local CLI config (if it holds a key of this
/// control plane) at the new gateway URL.
pub(crate) async fn refresh_cli_config(home: &std::path::Path, store: &Store, gateway_url: &str, ca: Option<&str>) {
    let path = cloudops_schemas::local_store::cli_config_path(home);
    let Ok(text) = std::fs::read_to_string(&path) else { return };
    let Ok(mut doc) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text) else { return };
    let key = doc.get("api_key").and_then(|k| k.as_str()).unwrap_or_default().to_string();
    if (doc.get("endpoint").and_then(|e| e.as_str()) == Some(gateway_url)
        && doc.get("ca_cert").and_then(|c| c.as_str()) == ca)
        || !matches!(store.authenticate(&key).await, Ok(Some(_)))
    {
        return;
    }
    doc["endpoint"] = serde_yaml_ng::Value::from(gateway_url);
    match ca {
        Some(ca) => doc["ca_cert"] = serde_yaml_ng::Value::from(ca),
        None => {
            if let Some(m) = doc.as_mapping_mut() {
                m.remove("ca_cert");
            }
        }
    }
    if let Ok(yaml) = serde_yaml_ng::to_string(&doc)
        && cloudops_bus::natsd::write_private(&path, yaml.as_bytes()).is_ok()
    {
        info!(config = %path.display(), endpoint = gateway_url, "CLI config points at this gateway now");
    }
}
