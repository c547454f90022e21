//! Keeping every replica's resolver and authorizer fresh.
//!
//! The store reports each committed write to [`ChangeFeed`], which applies it to this
//! replica's actors, then publishes it on `cloudops.control.changes` and waits until every
//! other live replica (those heard on `cloudops.control.replicas` lately) confirms it applied
//! it, for at most [`ACK_WAIT`]. The write's HTTP response waits for all that, so the next
//! request, on any replica, sees the change. Each replica also re-reads everything after its
//! bus connection comes back or it lost messages, and every [`RELOAD_EVERY`]: the bound on
//! staleness should an event be lost some other way.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use cloudops_authorizer::AuthorizerHandle;
use cloudops_bus::{NatsClient, subjects};
use cloudops_resolver::ResolverHandle;
use cloudops_schemas::{Wire, v1, v1::tenancy_change::Kind};
use cloudops_store::{Change, ChangeSink};
use futures::StreamExt;
use tokio::{sync::Notify, task::JoinHandle};
use tracing::{debug, info, warn};

/// A full re-read of the tenancy tables at least this often.
pub const RELOAD_EVERY: Duration = Duration::from_secs(60);

/// The replica's own actors, which every change is applied to.
#[derive(Clone)]
pub struct Local {
    pub resolver: ResolverHandle,
    pub authorizer: AuthorizerHandle,
}

impl Local {
    /// Applies `changes` to both actors. One that cannot take them (it is restarting, say)
    /// is made to re-read everything instead, retried for a few seconds: a change is never
    /// just dropped.
    async fn apply(&self, changes: Vec<Change>) {
        let (r, a) = tokio::join!(self.resolver.changed(changes.clone()), self.authorizer.changed(changes));
        if let Err(e) = r {
            warn!(error = %e, "change not applied to the resolver; re-reading its state");
            retry_reload(|| self.resolver.reload()).await;
        }
        if let Err(e) = a {
            warn!(error = %e, "change not applied to the authorizer; re-reading its state");
            retry_reload(|| self.authorizer.reload()).await;
        }
    }

    async fn reload(&self) {
        let (r, a) = tokio::join!(self.resolver.reload(), self.authorizer.reload());
        for e in [r.err(), a.err()].into_iter().flatten() {
            warn!(error = %e, "state not reloaded");
        }
    }
}

async fn retry_reload<F, Fut>(reload: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), cloudops_bus::BusError>>,
{
    for attempt in 1..=20 {
        match reload().await {
            Ok(()) => return,
            Err(e) if attempt == 20 => warn!(error = %e, "state not re-read; the periodic reload catches up"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

pub fn to_wire(c: &Change, origin: &str) -> v1::TenancyChange {
    let (kind, id) = match c {
        Change::Org(id) => (Kind::Org, id),
        Change::Env(id) => (Kind::Env, id),
        Change::Principal(id) => (Kind::Principal, id),
        Change::Connection(id) => (Kind::Connection, id),
        Change::Catalog(id) => (Kind::Catalog, id),
        Change::Defaults(id) => (Kind::Defaults, id),
        Change::Runner(id) => (Kind::Runner, id),
    };
    v1::TenancyChange { kind: kind as i32, id: id.clone(), origin: origin.into() }
}

pub fn from_wire(c: v1::TenancyChange) -> Option<Change> {
    let id = c.id;
    Some(match Kind::try_from(c.kind).ok()? {
        Kind::Org => Change::Org(id),
        Kind::Env => Change::Env(id),
        Kind::Principal => Change::Principal(id),
        Kind::Connection => Change::Connection(id),
        Kind::Catalog => Change::Catalog(id),
        Kind::Defaults => Change::Defaults(id),
        Kind::Runner => Change::Runner(id),
        Kind::Unspecified => return None,
    })
}

/// The other replicas heard from recently (id → when), who must acknowledge each change.
type Roster = Arc<std::sync::Mutex<HashMap<String, Instant>>>;

/// How often a replica says it is there; one silent for three periods leaves the roster.
pub const ROSTER_EVERY: Duration = Duration::from_secs(2);
/// How long a write waits for the other replicas to have applied its change.
pub const ACK_WAIT: Duration = Duration::from_secs(2);

/// The store's sink: here first, then everyone else.
pub struct ChangeFeed {
    pub local: Local,
    pub nats: NatsClient,
    /// This replica's id, so that it skips its own events.
    pub origin: String,
    pub roster: Roster,
}

impl ChangeFeed {
    pub fn new(local: Local, nats: NatsClient, origin: String) -> Self {
        Self { local, nats, origin, roster: Roster::default() }
    }
}

#[async_trait]
impl ChangeSink for ChangeFeed {
    async fn changed(&self, changes: Vec<Change>) {
        self.local.apply(changes.clone()).await;
        let Some(last) = changes.last() else { return };
        let expected: HashSet<String> = {
            let mut r = self.roster.lock().unwrap_or_else(|e| e.into_inner());
            r.retain(|_, at| at.elapsed() < 3 * ROSTER_EVERY);
            r.keys().cloned().collect()
        };
        // Each replica applies changes in the order it receives them, so its answer to the last
        // one says it applied them all.
        let inbox = self.nats.new_inbox();
        let acks = match self.nats.subscribe(inbox.clone()).await {
            Ok(s) => Some(s),
            Err(e) => {
                warn!(error = %e, "no inbox for change acknowledgements");
                None
            }
        };
        for c in &changes[..changes.len() - 1] {
            if let Err(e) =
                self.nats.publish(subjects::TENANCY_CHANGES, to_wire(c, &self.origin).to_bytes().into()).await
            {
                warn!(change = ?c, error = %e, "change not published; other replicas catch up at their next reload");
            }
        }
        if let Err(e) = self
            .nats
            .publish_with_reply(subjects::TENANCY_CHANGES, inbox, to_wire(last, &self.origin).to_bytes().into())
            .await
        {
            warn!(change = ?last, error = %e, "change not published; other replicas catch up at their next reload");
        }
        if let Err(e) = self.nats.flush().await {
            warn!(error = %e, "changes not flushed");
        }
        // The write's response waits until every live replica applied it: a request anywhere
        // after that response finds the change in place.
        let (Some(mut acks), false) = (acks, expected.is_empty()) else { return };
        let mut missing = expected;
        let deadline = tokio::time::Instant::now() + ACK_WAIT;
        while !missing.is_empty() {
            match tokio::time::timeout_at(deadline, acks.next()).await {
                Ok(Some(m)) => {
                    missing.remove(String::from_utf8_lossy(&m.payload).as_ref());
                }
                Ok(None) | Err(_) => break,
            }
        }
        if !missing.is_empty() {
            warn!(replicas = ?missing, "replicas did not confirm a change in time; they catch up at their next reload");
            // Gone (or stuck): the next writes do not wait for them again until they are heard
            // saying they are there. A replica killed mid-flight costs one wait, not one per write.
            let mut r = self.roster.lock().unwrap_or_else(|e| e.into_inner());
            for id in &missing {
                r.remove(id);
            }
        }
    }
}

/// Applies other replicas' changes here (and confirms each), says that this replica is there,
/// and re-reads everything after a reconnect or lost messages (`gap` is notified by the bus
/// connection) and every [`RELOAD_EVERY`].
pub async fn listen(nats: NatsClient, gap: Arc<Notify>, feed: &ChangeFeed) -> Result<Vec<JoinHandle<()>>, String> {
    let mut sub = nats.subscribe(subjects::TENANCY_CHANGES).await.map_err(|e| format!("changes: {e}"))?;
    let mut others = nats.subscribe(subjects::REPLICAS).await.map_err(|e| format!("replicas: {e}"))?;
    let (l, origin, n) = (feed.local.clone(), feed.origin.clone(), nats.clone());
    let events = tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Ok(c) = v1::TenancyChange::from_bytes(&msg.payload) else {
                warn!("undecodable change dropped");
                continue;
            };
            if c.origin == origin {
                continue;
            }
            if let Some(change) = from_wire(c) {
                debug!(?change, "change from another replica");
                l.apply(vec![change]).await;
            }
            if let Some(reply) = msg.reply {
                let _ = n.publish(reply, origin.clone().into()).await;
            }
        }
    });
    let (roster, me, n) = (feed.roster.clone(), feed.origin.clone(), nats.clone());
    let heard = tokio::spawn(async move {
        while let Some(msg) = others.next().await {
            let id = String::from_utf8_lossy(&msg.payload).to_string();
            if id != me && id.len() <= 64 {
                let new = roster.lock().unwrap_or_else(|e| e.into_inner()).insert(id, Instant::now()).is_none();
                // A newcomer learns of us at once, not at our next period: its writes wait for us.
                if new {
                    let _ = n.publish(subjects::REPLICAS, me.clone().into()).await;
                }
            }
        }
    });
    let (n, me) = (nats.clone(), feed.origin.clone());
    let present = tokio::spawn(async move {
        loop {
            let _ = n.publish(subjects::REPLICAS, me.clone().into()).await;
            tokio::time::sleep(ROSTER_EVERY).await;
        }
    });
    // The connection's first "connected" came before the actors load their tables: not a gap.
    let _ = futures::FutureExt::now_or_never(gap.notified());
    let local = feed.local.clone();
    let refresh = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = gap.notified() => info!("bus connection (re)established or messages lost: re-reading state"),
                _ = tokio::time::sleep(RELOAD_EVERY) => debug!("periodic re-read of state"),
            }
            local.reload().await;
        }
    });
    Ok(vec![events, heard, present, refresh])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_cross_the_wire_unchanged() {
        for c in [
            Change::Org("o".into()),
            Change::Env("e".into()),
            Change::Principal("p".into()),
            Change::Connection("c".into()),
            Change::Catalog("o".into()),
            Change::Defaults("".into()),
            Change::Runner("r".into()),
        ] {
            let wire = v1::TenancyChange::from_bytes(&to_wire(&c, "me").to_bytes()).unwrap();
            assert_eq!(wire.origin, "me");
            assert_eq!(from_wire(wire), Some(c));
        }
        assert_eq!(from_wire(v1::TenancyChange::default()), None);
    }
}
