//! The hub's side of the runner lifecycle (`cloudops_gateway::RunnerTunnels`): one NATS
//! account and one session stream per registered runner, and cutting live tunnels through the
//! system account.

use std::sync::Arc;

use async_trait::async_trait;
use cloudops_bus::{
    NatsClient,
    accounts::{self, HubKeys},
    callout,
    streams::{self, StreamLimits},
    warmup,
};
use cloudops_schemas::RunnerId;
use futures::{StreamExt, TryStreamExt};
use tracing::{info, warn};

/// The hub this process supervises: its system account and the keys its accounts are signed with.
pub struct HubAccess {
    pub sys: NatsClient,
    pub keys: Arc<HubKeys>,
}

impl HubAccess {
    /// Gives the hub a runner's account (operator mode: no reload, kept on disk by the hub).
    async fn add_account(&self, runner: &RunnerId) -> Result<(), String> {
        let jwt = self.keys.runner_account_jwt(runner).map_err(|e| e.to_string())?;
        accounts::push_account(&self.sys, &jwt)
            .await
            .map_err(|e| format!("the hub could not take runner {runner}'s account: {e}"))?;
        info!(runner_id = %runner, account = %accounts::runner_account(runner), "runner account on the hub");
        Ok(())
    }

    /// Every registered runner's account, as this version writes them (at start; many in
    /// flight, since a hub may hold thousands).
    pub async fn add_accounts(&self, runners: &[RunnerId]) -> Result<(), String> {
        futures::stream::iter(runners).map(|r| self.add_account(r)).buffer_unordered(64).try_collect::<()>().await
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
            Some(h) => {
                h.add_account(runner).await?;
                // Built on every server now, so that the runner's first admission (and a
                // restart's storm) does not build it inside the callout's wait.
                let account = h.keys.runner_account(runner).public_key();
                if let Err(e) = warmup::warm_account(&h.sys, &account).await {
                    warn!(runner_id = %runner, error = %e, "runner account not built ahead; its first admission builds it");
                }
            }
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
        // What this replica admitted, then what the servers say is connected in the runner's
        // account (another replica, or one that died, may have admitted a tunnel), asked again
        // after each round of kicks: a connection whose admission was being decided when the
        // revocation was written registers late, and is cut in the next round.
        let account = h.keys.runner_account(runner).public_key();
        let mut targets = self.admissions.take(runner);
        let mut cut = 0;
        for round in 0..3 {
            match callout::live_connections(&h.sys, runner, &account).await {
                Ok(found) => {
                    for a in found {
                        if !targets.contains(&a) {
                            targets.push(a);
                        }
                    }
                }
                Err(e) => {
                    warn!(runner_id = %runner, error = %e, "the hub's servers could not be asked for the runner's connections")
                }
            }
            if targets.is_empty() && round > 0 {
                break;
            }
            for a in targets.drain(..) {
                match callout::kick(&h.sys, &a).await {
                    Ok(()) => cut += 1,
                    Err(e) => {
                        warn!(runner_id = %runner, cid = a.cid, error = %e, "kick failed (connection may be gone already)")
                    }
                }
            }
            if round < 2 {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
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
