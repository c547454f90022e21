//! Connection options for the hub (mTLS + credentials) and for a runner's local leaf.

use std::{
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

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
    /// One server URL, or several separated by commas (the nodes of a cluster).
    pub url: String,
    pub name: String,
    pub user: Option<(String, String)>,
    /// A `.creds` file's contents (user JWT and seed), as an operator-mode server wants.
    pub creds: Option<String>,
    pub tls: Option<TlsFiles>,
    /// A runner's replies (JetStream acks) must come back under `_INBOX.<runner_id>`.
    pub inbox_prefix: Option<String>,
    /// Notified each time the connection is (re)established, or messages were dropped because
    /// a subscriber fell behind: either way something published may have been missed.
    pub on_gap: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// Reconnect without backing off past [`PROMPT_RECONNECT_MAX`]: the control plane's own
    /// connections to the hub. When a hub node restarts, its runners dial it at once; the
    /// callout's subscription must be back before their authorization requests, which are
    /// lost otherwise (each such runner is refused after the hub's 3 s wait, and dials again).
    pub prompt_reconnect: bool,
    /// The pause before each reconnection attempt (1 for the first), when neither async-nats's
    /// default nor `prompt_reconnect`: `bench-scale`'s simulated runners redial on a runner's
    /// schedule ([`crate::tunnel_backoff`]). The client's first connection is not paused.
    pub reconnect_delay: Option<fn(usize) -> std::time::Duration>,
}

/// The longest pause between reconnection attempts of a [`ConnectSpec::prompt_reconnect`]
/// connection (async-nats backs off to 4 s by default).
pub const PROMPT_RECONNECT_MAX: std::time::Duration = std::time::Duration::from_millis(100);

/// async-nats's backoff (none, then 2^n ms), capped at [`PROMPT_RECONNECT_MAX`].
fn prompt_delay(attempts: usize) -> std::time::Duration {
    let exp = attempts.saturating_sub(1).min(16) as u32;
    let delay = if attempts <= 1 { std::time::Duration::ZERO } else { std::time::Duration::from_millis(1 << exp) };
    delay.min(PROMPT_RECONNECT_MAX)
}

pub async fn connect(spec: &ConnectSpec) -> Result<Client, BusError> {
    // Until the first connection is made.
    let connecting = Arc::new(AtomicBool::new(true));
    let mut opts = ConnectOptions::new()
        .name(spec.name.clone())
        .connection_timeout(std::time::Duration::from_secs(5))
        .event_callback({
            let on_gap = spec.on_gap.clone();
            move |event| {
                let on_gap = on_gap.clone();
                async move {
                    match &event {
                        async_nats::Event::SlowConsumer(sid) => {
                            tracing::warn!(sid, "nats subscriber fell behind: messages dropped")
                        }
                        other => tracing::debug!(event = %other, "nats event"),
                    }
                    if matches!(event, async_nats::Event::Connected | async_nats::Event::SlowConsumer(_))
                        && let Some(n) = on_gap
                    {
                        n.notify_one();
                    }
                }
            }
        });
    if spec.prompt_reconnect {
        opts = opts.reconnect_delay_callback(prompt_delay);
    } else if let Some(delay) = spec.reconnect_delay {
        // async-nats asks for a pause before every dial, the client's very first one included
        // (as attempt 1): a new client dials at once, and the schedule applies to reconnections.
        let first = connecting.clone();
        opts = opts.reconnect_delay_callback(move |attempt| {
            if first.load(Ordering::Relaxed) { std::time::Duration::ZERO } else { delay(attempt) }
        });
    }
    if let Some(p) = &spec.inbox_prefix {
        opts = opts.custom_inbox_prefix(p);
    }
    if let Some((u, p)) = &spec.user {
        opts = opts.user_and_password(u.clone(), p.clone());
    }
    if let Some(creds) = &spec.creds {
        opts =
            opts.credentials(creds).map_err(|e| BusError::Transport(format!("credentials for {}: {e}", spec.url)))?;
    }
    if let Some(tls) = &spec.tls {
        opts = opts
            .require_tls(true)
            .add_root_certificates(tls.ca.clone())
            .add_client_certificate(tls.cert.clone(), tls.key.clone());
    }
    // Several servers (a cluster) as a comma-separated list: the client moves to a live one.
    let servers: Vec<&str> = spec.url.split(',').map(str::trim).filter(|u| !u.is_empty()).collect();
    let client =
        opts.connect(servers).await.map_err(|e| BusError::Transport(format!("connecting to {}: {e}", spec.url)))?;
    connecting.store(false, Ordering::Relaxed);
    Ok(client)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_prompt_connection_backs_off_as_async_nats_does_up_to_a_tenth_of_a_second() {
        let delays: Vec<Duration> = (0..10).map(prompt_delay).collect();
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 0, 2, 4, 8, 16, 32, 64, 100, 100]);
        assert_eq!(prompt_delay(usize::MAX), PROMPT_RECONNECT_MAX);
    }
}
