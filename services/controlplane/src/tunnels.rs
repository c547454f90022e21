//! The hub's side of the runner lifecycle (`cloudops_gateway::RunnerTunnels`): one NATS
//! account and one session stream per registered runner, and cutting live tunnels through the
//! system account.

use std::{collections::BTreeSet, path::PathBuf};

use async_trait::async_trait;
use cloudops_bus::{
    NatsClient, accounts, callout,
    natsd::{self, Reloader},
    streams::{self, StreamLimits},
};
use cloudops_schemas::RunnerId;
use tracing::{info, warn};

/// The hub this process supervises: its system account and how to reload its accounts.
pub struct HubAccess {
    pub sys: NatsClient,
    pub reloader: Reloader,
    pub accounts_file: PathBuf,
    /// The runners whose accounts are in `accounts_file`; the lock also serialises reloads.
    pub known: tokio::sync::Mutex<BTreeSet<RunnerId>>,
}

impl HubAccess {
    async fn add_account(&self, runner: &RunnerId) -> Result<(), String> {
        let mut known = self.known.lock().await;
        if known.contains(runner) {
            return Ok(());
        }
        known.insert(runner.clone());
        let written =
            natsd::write_private(&self.accounts_file, accounts::render_runner_accounts(known.iter()).as_bytes());
        if let Err(e) = written {
            known.remove(runner);
            return Err(format!("{}: {e}", self.accounts_file.display()));
        }
        // Twice: nats-server wires the imports of an account added by a reload only on the next
        // one (measured on 2.15.1; see cloudops_bus::accounts).
        for _ in 0..2 {
            if let Err(e) = self.reloader.reload(&self.sys).await {
                known.remove(runner);
                return Err(format!("the hub could not take runner {runner}'s account: {e}"));
            }
        }
        info!(runner_id = %runner, account = %accounts::runner_account(runner), "runner account added to the hub");
        Ok(())
    }
}

pub struct HubTunnels {
    /// The control plane's own connection (account CLOUDOPS): session streams.
    pub nats: NatsClient,
    pub limits: StreamLimits,
    /// None with `--nats-url`: the external NATS must provide the accounts and cut tunnels.
    pub hub: Option<HubAccess>,
    pub admissions: callout::Admissions,
}

#[async_trait]
impl cloudops_gateway::RunnerTunnels for HubTunnels {
    async fn prepare(&self, runner: &RunnerId) -> Result<(), String> {
        match &self.hub {
            Some(h) => h.add_account(runner).await?,
            None => warn!(runner_id = %runner, account = %accounts::runner_account(runner),
                "no hub of ours (--nats-url): the external NATS must place this runner in an account of its own"),
        }
        streams::ensure_runner_stream(&self.nats, runner, self.limits)
            .await
            .map_err(|e| format!("runner {runner}'s session stream: {e}"))
    }

    async fn cut(&self, runner: &RunnerId) -> usize {
        let Some(h) = &self.hub else {
            warn!(runner_id = %runner, "no hub of ours (--nats-url): live tunnels are not cut; the external NATS must revoke them");
            return 0;
        };
        let mut cut = 0;
        for a in self.admissions.take(runner) {
            match callout::kick(&h.sys, &a).await {
                Ok(()) => cut += 1,
                Err(e) => {
                    warn!(runner_id = %runner, cid = a.cid, error = %e, "kick failed (connection may be gone already)")
                }
            }
        }
        info!(runner_id = %runner, connections = cut, "runner tunnels cut");
        cut
    }

    async fn removed(&self, runner: &RunnerId) {
        if let Err(e) = streams::delete_runner_stream(&self.nats, runner).await {
            warn!(runner_id = %runner, error = %e, "a deleted runner's session stream was not removed");
        }
    }
}
