//! The runner's tunnel to the hub: whether it is up (the leaf's own `/leafz`, every second),
//! what the runner logs about it, and the backoff of the leaf's dialling while the hub does not
//! take it (`cloudops_bus::tunnel_backoff`).
//!
//! A pause disables the leaf's remote and the end of a pause enables it again, each by writing
//! the leaf's config and making the leaf reload it (`SIGHUP`; nats-server ≥ 2.14 reloads a
//! remote's `disabled`). The leaf process, the runner's connection to it and the sessions on it
//! are untouched. A reload that did not take is written again at the next pause and the next
//! end of one, so the leaf is never left disabled for longer than a pause.

use std::{
    path::PathBuf,
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use cloudops_bus::{
    natsd::{self, LeafConfig, Reloader},
    tunnel_backoff::{Retrying, Step, TunnelBackoff},
};
use rand::Rng;
use tracing::{info, warn};

use crate::health::{Health, leafz_up};

/// The leaf's config file, written again with its remote enabled or disabled.
pub struct LeafRemote {
    pub path: PathBuf,
    pub config: LeafConfig,
    pub reloader: Reloader,
}

impl LeafRemote {
    fn set_dialling(&mut self, dialling: bool) -> Result<(), String> {
        self.config.remote_disabled = !dialling;
        natsd::write_private(&self.path, self.config.render().as_bytes())
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.reloader.reload().map_err(|e| format!("reloading the leaf: {e}"))
    }
}

/// Keeps `health` current, logs tunnel losses and recoveries, says plainly when the hub refuses
/// our credentials (regenerated, deleted or revoked), and backs the leaf's dialling off while
/// the tunnel stays down. The process stays up whatever the hub does.
pub async fn watch(
    health: Arc<Health>,
    monitor_port: u16,
    mut leaf: LeafRemote,
    backoff: TunnelBackoff,
    runner_name: String,
) {
    let mut was_up = false;
    let mut refused_reported = false;
    let mut log_pos = 0u64;
    let mut retrying = Retrying::new(backoff);
    loop {
        let up = leafz_up(monitor_port).await;
        health.tunnel_up.store(up, Ordering::Relaxed);
        if up && !was_up {
            info!("tunnel to the hub is up");
            refused_reported = false;
        } else if !up && was_up {
            warn!("tunnel to the hub lost; the leaf node is reconnecting");
        }
        if !up && !refused_reported {
            let (new, end) = log_since(&leaf.config.log_file, log_pos);
            log_pos = end;
            if new.contains("Authorization Violation") || new.contains("authorization violation") {
                tracing::error!(
                    runner = %runner_name,
                    "the hub refuses this runner's credentials (regenerated, deleted or revoked): get new ones with `planton runner generate-credentials {runner_name}` and restart the runner"
                );
                refused_reported = true;
            }
        }
        was_up = up;
        let jitter: f64 = rand::rng().random();
        match retrying.observe(up, std::time::Instant::now(), jitter) {
            Step::Keep => {}
            Step::Pause(pause) => {
                // The tunnel may have come up since it was read: a fresh look before cutting it.
                if leafz_up(monitor_port).await {
                    retrying.observe(true, std::time::Instant::now(), 0.0);
                } else {
                    warn!(
                        pause_secs = pause.as_secs_f64(),
                        "the hub has not taken the tunnel for a while: the leaf stops dialling it for a pause"
                    );
                    health.tunnel_paused.store(true, Ordering::Relaxed);
                    if let Err(e) = leaf.set_dialling(false) {
                        warn!(error = %e, "could not pause the leaf's dialling");
                    }
                }
            }
            Step::Resume => {
                info!("the leaf dials the hub again");
                health.tunnel_paused.store(false, Ordering::Relaxed);
                if let Err(e) = leaf.set_dialling(true) {
                    warn!(error = %e, "could not make the leaf dial again");
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// What the leaf logged since byte `from` (at most 1 MiB of it), and where that ends.
fn log_since(path: &std::path::Path, from: u64) -> (String, u64) {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = std::fs::File::open(path) else { return (String::new(), from) };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    // A log that was truncated or rotated starts over.
    let from = if from > len { 0 } else { from };
    let mut buf = Vec::new();
    if f.seek(SeekFrom::Start(from)).is_err() || f.take(1 << 20).read_to_end(&mut buf).is_err() {
        return (String::new(), from);
    }
    (String::from_utf8_lossy(&buf).into_owned(), from + buf.len() as u64)
}
