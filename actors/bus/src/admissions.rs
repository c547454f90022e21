//! The runner connections the auth callout admitted on this replica: one tunnel per runner, the
//! newest, so that a restarted runner replaces its stale tunnel and revocation can cut it.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use async_nats::Client;
use cloudops_schemas::RunnerId;
use serde_json::json;

use crate::BusError;

/// One admitted runner connection on a hub server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admitted {
    pub runner: RunnerId,
    pub server_id: String,
    /// The server's connection id; on one server, a later connection has a larger one.
    pub cid: u64,
}

/// Why an admission was not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Superseded {
    /// The client gave up on this connection (its connect timed out while the callout was busy)
    /// and opened another, which was admitted first.
    #[error("a newer connection of runner {runner} (cid {newer}) was admitted on this server")]
    ByNewer { runner: RunnerId, newer: u64 },
}

/// Admissions kept per runner.
const MAX_LISTED: usize = 8;

/// The connections the callout admitted, keyed by runner.
#[derive(Default, Clone)]
pub struct Admissions(Arc<Mutex<HashMap<RunnerId, Vec<Admitted>>>>);

impl Admissions {
    /// Records a new admission and returns the earlier ones of the same runner, which it
    /// replaces. Decisions run concurrently, so they may finish out of order: a connection older
    /// than one already admitted on the same server is refused, never let in to cut the newer.
    pub fn record(&self, a: Admitted) -> Result<Vec<Admitted>, Superseded> {
        let mut map = self.0.lock().expect("admissions lock");
        let mine = map.entry(a.runner.clone()).or_default();
        if let Some(newer) = mine.iter().find(|x| x.server_id == a.server_id && x.cid > a.cid) {
            return Err(Superseded::ByNewer { runner: a.runner.clone(), newer: newer.cid });
        }
        // Only older connections on the same server are replaced. Across the nodes of a cluster
        // which connection is newer cannot be told from connection ids, and a decision that
        // comes late about one the runner gave up on must not cut its live tunnel on another
        // node; those stay listed, so that a revocation still cuts them.
        let (older, keep): (Vec<Admitted>, Vec<Admitted>) = mine
            .drain(..)
            .filter(|x| x.cid != a.cid || x.server_id != a.server_id)
            .partition(|x| x.server_id == a.server_id);
        *mine = keep;
        mine.push(a);
        // Bounded: a runner's account admits a few connections; older entries name servers
        // that restarted or connections gone by themselves.
        let excess = mine.len().saturating_sub(MAX_LISTED);
        mine.drain(..excess);
        Ok(older)
    }

    /// Forgets and returns the admitted connections of `runner`.
    pub fn take(&self, runner: &RunnerId) -> Vec<Admitted> {
        self.0.lock().expect("admissions lock").remove(runner).unwrap_or_default()
    }
}

/// Cuts one connection (`$SYS.REQ.SERVER.<id>.KICK`); needs a system-account connection.
pub async fn kick(sys: &Client, a: &Admitted) -> Result<(), BusError> {
    let subject = format!("$SYS.REQ.SERVER.{}.KICK", a.server_id);
    let payload = serde_json::to_vec(&json!({"cid": a.cid})).expect("json");
    sys.request(subject, payload.into()).await.map(|_| ()).map_err(BusError::transport)
}

/// Every live connection (client or leaf) of `runner` on every server of the hub, wherever it
/// was admitted and by whichever replica: asked through the system account
/// (`$SYS.REQ.SERVER.PING.CONNZ` filtered to the runner's account), answers gathered until
/// none has come for a moment.
pub async fn live_connections(sys: &Client, runner: &RunnerId, account: &str) -> Result<Vec<Admitted>, BusError> {
    let answers = ask_every_server(sys, "CONNZ", json!({"acc": account, "limit": 1024})).await?;
    Ok(answers.iter().flat_map(|a| parse_connz(runner, a)).collect())
}

/// The accounts with a leafnode connection (a runner's tunnel) on any server of the hub, each
/// once (`$SYS.REQ.SERVER.PING.LEAFZ`).
pub async fn leaf_accounts(sys: &Client) -> Result<std::collections::BTreeSet<String>, BusError> {
    let answers = ask_every_server(sys, "LEAFZ", json!({})).await?;
    let mut accounts = std::collections::BTreeSet::new();
    for a in answers {
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&a) else { continue };
        let leafs = v["data"]["leafs"].as_array().map(Vec::as_slice).unwrap_or_default();
        accounts.extend(leafs.iter().filter_map(|l| l["account"].as_str()).map(String::from));
    }
    Ok(accounts)
}

/// Asks every server of the hub (`$SYS.REQ.SERVER.PING.<what>`) through the system account;
/// answers are gathered until none has come for a moment.
pub(crate) async fn ask_every_server(
    sys: &Client,
    what: &str,
    ask: serde_json::Value,
) -> Result<Vec<bytes::Bytes>, BusError> {
    use futures::StreamExt;
    let inbox = sys.new_inbox();
    let mut answers = sys.subscribe(inbox.clone()).await.map_err(BusError::transport)?;
    let ask = serde_json::to_vec(&ask).expect("json");
    sys.publish_with_reply(format!("$SYS.REQ.SERVER.PING.{what}"), inbox, ask.into())
        .await
        .map_err(BusError::transport)?;
    sys.flush().await.map_err(BusError::transport)?;
    let mut found = Vec::new();
    let mut wait = std::time::Duration::from_secs(2);
    while let Ok(Some(msg)) = tokio::time::timeout(wait, answers.next()).await {
        // A busy server answers later than the others: a generous pause after each answer.
        wait = std::time::Duration::from_millis(500);
        found.push(msg.payload);
    }
    Ok(found)
}

/// One server's CONNZ answer → its connections.
fn parse_connz(runner: &RunnerId, payload: &[u8]) -> Vec<Admitted> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(payload) else { return Vec::new() };
    let Some(server_id) = v["server"]["id"].as_str() else { return Vec::new() };
    let conns = v["data"]["connections"].as_array().map(Vec::as_slice).unwrap_or_default();
    conns
        .iter()
        .filter_map(|c| c["cid"].as_u64())
        .map(|cid| Admitted { runner: runner.clone(), server_id: server_id.to_string(), cid })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn adm(runner: &RunnerId, server: &str, cid: u64) -> Admitted {
        Admitted { runner: runner.clone(), server_id: server.into(), cid }
    }

    #[test]
    fn a_new_admission_replaces_the_runners_older_ones() {
        let (a, b) = (RunnerId::parse("r-a").unwrap(), RunnerId::parse("r-b").unwrap());
        let admissions = Admissions::default();
        assert!(admissions.record(adm(&a, "S", 1)).unwrap().is_empty());
        assert!(admissions.record(adm(&b, "S", 2)).unwrap().is_empty());
        assert_eq!(admissions.record(adm(&a, "S", 3)).unwrap(), vec![adm(&a, "S", 1)]);
        // Another server (a restarted one, or another node of a cluster): nothing there is cut
        // by the admission, and both stay listed for a revocation.
        assert!(admissions.record(adm(&a, "T", 1)).unwrap().is_empty());
        assert_eq!(admissions.take(&a), vec![adm(&a, "S", 3), adm(&a, "T", 1)]);
        assert_eq!(admissions.take(&b), vec![adm(&b, "S", 2)]);
        assert!(admissions.take(&a).is_empty());
    }

    #[test]
    fn a_servers_connz_answer_names_its_connections() {
        let a = RunnerId::parse("r-a").unwrap();
        let answer = br#"{"server":{"name":"hub-1","id":"NSERVER"},"data":{"server_id":"NSERVER","num_connections":2,
            "connections":[{"cid":6,"kind":"Leafnode"},{"cid":9,"kind":"Client"}]}}"#;
        assert_eq!(parse_connz(&a, answer), vec![adm(&a, "NSERVER", 6), adm(&a, "NSERVER", 9)]);
        assert!(parse_connz(&a, br#"{"server":{"id":"N"},"error":{"code":500}}"#).is_empty());
        assert!(parse_connz(&a, b"not json").is_empty());
    }

    #[test]
    fn a_late_decision_about_an_older_connection_never_cuts_the_newer() {
        let a = RunnerId::parse("r-a").unwrap();
        let admissions = Admissions::default();
        assert!(admissions.record(adm(&a, "S", 20)).unwrap().is_empty());
        assert_eq!(admissions.record(adm(&a, "S", 10)), Err(Superseded::ByNewer { runner: a.clone(), newer: 20 }));
        assert_eq!(admissions.take(&a), vec![adm(&a, "S", 20)]);
    }
}
