//! Runner accounts built on every server of the hub before their runners need them.
//!
//! nats-server builds an account the first time anything asks for it, and building one walks
//! every account the server already holds, twice (a new account's signing keys always read as
//! changed, so it checks who imports from it). At 10,000 runners that is about 11 ms per account.
//! Left to the auth callout, each build runs on the callout connection's read loop, one answer
//! after another, inside the admission it delays: after a hub restart, 10,000 runners dial at
//! once, the builds fall behind the server's wait for the callout, the refused runners dial
//! again, and their TLS handshakes crowd out the builds that would end the storm
//! (loadtest/RESULTS.md, bench-scale).
//!
//! So the control plane builds them itself, off the callout's path:
//! - a newly registered runner's account on every server, at registration ([`warm_account`]);
//! - when a server of the hub is new to it (polled every [`POLL_EVERY`]; a server's id changes
//!   each time its process starts), the account of every runner that was connected before and
//!   is not revoked, on that server, the most recently seen first (they are the ones dialling):
//!   it asks that server for each account's connections (`$SYS.REQ.SERVER.<id>.CONNZ` filtered
//!   to the account), and the lookup builds the account.
//!
//! After a restart this races the storm: the watcher notices the new server 2–5 s after it is
//! up, and the runners dial at once. The accounts it has built by the time a runner is admitted
//! cost that admission a lookup; the others are still built inside their admission.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use async_nats::Client;
use async_trait::async_trait;
use cloudops_schemas::RunnerId;
use futures::StreamExt;
use serde_json::json;
use tokio::task::{JoinHandle, JoinSet};
use tracing::{debug, info, warn};

use crate::{BusError, accounts::HubKeys, admissions::ask_every_server};

/// How often the servers of the hub are asked who they are.
pub const POLL_EVERY: Duration = Duration::from_secs(2);
/// A server not heard from for this long is forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Accounts asked for at once on one server (it builds them one after another anyway).
const IN_FLIGHT: usize = 4;
/// How long one build may take on a busy server before it counts as missed.
const BUILD_WAIT: Duration = Duration::from_secs(10);
/// How long a registration waits for its runner's account to be built.
pub const REGISTRATION_WAIT: Duration = Duration::from_secs(2);
/// Misses in a row after which a server is taken for gone (its successor gets a new id).
const GIVE_UP_AFTER: usize = 8;

/// Where the runners whose accounts are built come from (the registry), in the order wanted.
#[async_trait]
pub trait RunnerList: Send + Sync + 'static {
    async fn runners(&self) -> Result<Vec<RunnerId>, String>;
}

/// What one server's warm-up did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Warmed {
    /// Accounts the server answered about, having looked each up (which builds it; a server
    /// answers the same for an account its resolver does not have).
    pub answered: usize,
    pub missed: usize,
    /// Stopped after [`GIVE_UP_AFTER`] misses in a row.
    pub gave_up: bool,
}

/// Builds `account` on every server of the hub (`$SYS.REQ.ACCOUNT.<account>.CONNZ`, which each
/// server answers after looking the account up), waiting for the first answer.
/// Waits at most [`REGISTRATION_WAIT`]: a registration is not held up by a busy hub (the
/// runner's first admission builds the account then).
pub async fn warm_account(sys: &Client, account: &str) -> Result<(), BusError> {
    let subject = format!("$SYS.REQ.ACCOUNT.{account}.CONNZ");
    ask(sys, subject, json!({"limit": 1}), REGISTRATION_WAIT).await.map(|_| ())
}

/// Builds each of `accounts` on the server `server_id`, a few at a time.
pub async fn warm_server(sys: &Client, server_id: &str, accounts: &[String]) -> Warmed {
    let subject = format!("$SYS.REQ.SERVER.{server_id}.CONNZ");
    let mut asks = futures::stream::iter(accounts.iter().cloned())
        .map(|a| ask(sys, subject.clone(), json!({"acc": a, "limit": 1}), BUILD_WAIT))
        .buffer_unordered(IN_FLIGHT);
    let (mut done, mut in_a_row) = (Warmed::default(), 0);
    while let Some(answer) = asks.next().await {
        match answer {
            Ok(_) => {
                done.answered += 1;
                in_a_row = 0;
            }
            Err(e) => {
                debug!(server_id, error = %e, "an account was not built ahead");
                done.missed += 1;
                in_a_row += 1;
                if in_a_row >= GIVE_UP_AFTER {
                    done.gave_up = true;
                    break;
                }
            }
        }
    }
    done
}

async fn ask(sys: &Client, subject: String, body: serde_json::Value, wait: Duration) -> Result<bytes::Bytes, BusError> {
    let body = serde_json::to_vec(&body).expect("json");
    match tokio::time::timeout(wait, sys.request(subject.clone(), body.into())).await {
        Ok(Ok(m)) => Ok(m.payload),
        Ok(Err(e)) => Err(BusError::transport(e)),
        Err(_) => Err(BusError::Timeout { subject, timeout_ms: wait.as_millis() as u64 }),
    }
}

/// The ids of the servers of the hub that answer now (`$SYS.REQ.SERVER.PING.IDZ`).
pub async fn server_ids(sys: &Client) -> Result<HashSet<String>, BusError> {
    let answers = ask_every_server(sys, "IDZ", json!({})).await?;
    Ok(answers.iter().filter_map(|a| parse_idz(a)).collect())
}

fn parse_idz(payload: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(payload).ok()?;
    // IDZ answers with the bare server id; other requests wrap it as `server.id`.
    v["id"].as_str().or_else(|| v["server"]["id"].as_str()).map(String::from)
}

/// Watches the hub's servers for as long as the task lives, and warms each one new to it. A
/// warm-up that could not finish (the registry unreadable, the server not answering) is tried
/// again at a later poll while the server is there. The warm-ups are the watcher's own: they
/// stop with it.
pub fn watch(sys: Client, keys: Arc<HubKeys>, list: Arc<dyn RunnerList>) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Each server warmed or being warmed, with when it last answered. A busy server that
        // misses a poll is not warmed twice; one silent for long is forgotten (a restart brings
        // a new id anyway).
        let mut known: HashMap<String, Instant> = HashMap::new();
        let mut warming: JoinSet<(String, bool)> = JoinSet::new();
        loop {
            while let Some(done) = warming.try_join_next() {
                if let Ok((id, false)) = done {
                    known.remove(&id);
                }
            }
            match server_ids(&sys).await {
                Ok(now) => {
                    for id in now {
                        if known.insert(id.clone(), Instant::now()).is_none() {
                            let (sys, keys, list) = (sys.clone(), keys.clone(), list.clone());
                            warming.spawn(async move {
                                let finished = warm_new_server(&sys, &keys, &*list, &id).await;
                                (id, finished)
                            });
                        }
                    }
                    known.retain(|_, seen| seen.elapsed() < FORGET_AFTER);
                }
                Err(e) => debug!(error = %e, "the hub's servers could not be asked who they are"),
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    })
}

/// Warms one server; false when it could not finish and should be tried again.
async fn warm_new_server(sys: &Client, keys: &HubKeys, list: &dyn RunnerList, server_id: &str) -> bool {
    let runners = match list.runners().await {
        Ok(r) => r,
        Err(e) => {
            warn!(server_id, error = %e, "runner accounts not built ahead: the registry could not be read");
            return false;
        }
    };
    if runners.is_empty() {
        return true;
    }
    let accounts: Vec<String> = runners.iter().map(|r| keys.runner_account(r).public_key()).collect();
    let started = Instant::now();
    let done = warm_server(sys, server_id, &accounts).await;
    let ms = started.elapsed().as_millis() as u64;
    if done.gave_up {
        warn!(
            server_id,
            answered = done.answered,
            missed = done.missed,
            ms,
            "stopped building runner accounts ahead: the server does not answer; trying again later"
        );
    } else {
        info!(
            server_id,
            answered = done.answered,
            missed = done.missed,
            ms,
            "runner accounts built ahead on a hub server"
        );
    }
    !done.gave_up
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_named_by_its_idz_answer() {
        let idz = br#"{"name":"hub-0","host":"127.0.0.1","id":"NABC"}"#;
        assert_eq!(parse_idz(idz).as_deref(), Some("NABC"));
        let wrapped = br#"{"server":{"name":"hub-0","id":"NDEF"},"data":{}}"#;
        assert_eq!(parse_idz(wrapped).as_deref(), Some("NDEF"));
        assert_eq!(parse_idz(b"not json"), None);
        assert_eq!(parse_idz(br#"{"name":"x"}"#), None);
    }
}
