//! Connection options for the hub (mTLS + user/password) and for a runner's local leaf.

use std::path::PathBuf;

use async_nats::{Client, ConnectOptions};

use crate::BusError;

/// PEM files for mutual TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Default)]
pub struct ConnectSpec {
    pub url: String,
    pub name: String,
    pub user: Option<(String, String)>,
    pub tls: Option<TlsFiles>,
    /// A runner's replies (JetStream acks) must come back under `_INBOX.<runner_id>`.
    pub inbox_prefix: Option<String>,
    /// Notified each time the connection is (re)established: whatever was published meanwhile
    /// was missed.
    pub on_connect: Option<std::sync::Arc<tokio::sync::Notify>>,
}

pub async fn connect(spec: &ConnectSpec) -> Result<Client, BusError> {
    let mut opts = ConnectOptions::new()
        .name(spec.name.clone())
        .connection_timeout(std::time::Duration::from_secs(5))
        .event_callback({
            let on_connect = spec.on_connect.clone();
            move |event| {
                let on_connect = on_connect.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            tracing::debug!("nats connected");
                            if let Some(n) = on_connect {
                                n.notify_one();
                            }
                        }
                        async_nats::Event::Disconnected => tracing::debug!("nats disconnected"),
                        other => tracing::debug!(event = %other, "nats event"),
                    }
                }
            }
        });
    if let Some(p) = &spec.inbox_prefix {
        opts = opts.custom_inbox_prefix(p);
    }
    if let Some((u, p)) = &spec.user {
        opts = opts.user_and_password(u.clone(), p.clone());
    }
    if let Some(tls) = &spec.tls {
        opts = opts
            .require_tls(true)
            .add_root_certificates(tls.ca.clone())
            .add_client_certificate(tls.cert.clone(), tls.key.clone());
    }
    opts.connect(spec.url.as_str()).await.map_err(|e| BusError::Transport(format!("connecting to {}: {e}", spec.url)))
}
