//! Keeping every replica's resolver and authorizer fresh.
//!
//! The store reports each committed write to [`ChangeFeed`], which applies it to this
//! replica's actors (the write's HTTP response waits for that, so the next request here sees
//! it) and then publishes it on `cloudops.control.changes` and flushes, for the other replicas
//! ([`listen`]). Each replica also re-reads everything after its bus connection comes back
//! (events may have been missed meanwhile) and every [`RELOAD_EVERY`], the bound on staleness
//! should an event be lost some other way.

use std::{sync::Arc, time::Duration};

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
    async fn apply(&self, changes: Vec<Change>) {
        let (r, a) = tokio::join!(self.resolver.changed(changes.clone()), self.authorizer.changed(changes));
        for e in [r.err(), a.err()].into_iter().flatten() {
            warn!(error = %e, "change not applied here; the next reload catches up");
        }
    }

    async fn reload(&self) {
        let (r, a) = tokio::join!(self.resolver.reload(), self.authorizer.reload());
        for e in [r.err(), a.err()].into_iter().flatten() {
            warn!(error = %e, "state not reloaded");
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

/// The store's sink: here first, then everyone else.
pub struct ChangeFeed {
    pub local: Local,
    pub nats: NatsClient,
    /// This replica's id, so that it skips its own events.
    pub origin: String,
}

#[async_trait]
impl ChangeSink for ChangeFeed {
    async fn changed(&self, changes: Vec<Change>) {
        self.local.apply(changes.clone()).await;
        for c in &changes {
            if let Err(e) =
                self.nats.publish(subjects::TENANCY_CHANGES, to_wire(c, &self.origin).to_bytes().into()).await
            {
                warn!(change = ?c, error = %e, "change not published; other replicas catch up at their next reload");
            }
        }
        // On the server before the write's response leaves: a request to another replica after
        // that response finds the change ahead of it.
        if let Err(e) = self.nats.flush().await {
            warn!(error = %e, "changes not flushed");
        }
    }
}

/// Applies other replicas' changes here, and re-reads everything after a reconnect (`connected`
/// is notified by the bus connection) and every [`RELOAD_EVERY`].
pub async fn listen(
    nats: NatsClient,
    connected: Arc<Notify>,
    origin: String,
    local: Local,
) -> Result<Vec<JoinHandle<()>>, String> {
    let mut sub = nats.subscribe(subjects::TENANCY_CHANGES).await.map_err(|e| format!("changes: {e}"))?;
    let l = local.clone();
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
        }
    });
    let refresh = tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = connected.notified() => info!("bus connection (re)established: re-reading state"),
                _ = tokio::time::sleep(RELOAD_EVERY) => debug!("periodic re-read of state"),
            }
            local.reload().await;
        }
    });
    Ok(vec![events, refresh])
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
