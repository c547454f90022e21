//! A [`Snapshot`] an actor decides with, kept up to date or refused: what the resolver and the
//! authorizer share.

use std::time::{Duration, Instant};

use tracing::warn;

use crate::{Change, Result, Snapshot, Store};

/// The tables and the store they come from. When a change cannot be applied and a full
/// re-read fails too, the tables are *degraded*: [`LiveSnapshot::ready`] refuses (fail closed)
/// and retries the re-read at most once a second.
pub struct LiveSnapshot {
    store: Store,
    tables: Snapshot,
    degraded: Option<(String, Instant)>,
}

impl LiveSnapshot {
    pub async fn load(store: Store) -> Result<Self> {
        let tables = Snapshot::load(&store).await?;
        Ok(Self { store, tables, degraded: None })
    }

    /// The tables, or why they cannot be trusted right now.
    pub async fn ready(&mut self) -> Result<&Snapshot, String> {
        if let Some((_, at)) = &self.degraded
            && at.elapsed() >= Duration::from_secs(1)
        {
            self.reload().await;
        }
        match &self.degraded {
            Some((why, _)) => Err(why.clone()),
            None => Ok(&self.tables),
        }
    }

    /// Re-reads what `changes` name; on a failure, everything.
    pub async fn apply(&mut self, changes: &[Change]) {
        for c in changes {
            if let Err(e) = self.tables.apply(&self.store, c).await {
                warn!(change = ?c, error = %e, "change not applied; re-reading everything");
                self.reload().await;
                return;
            }
        }
    }

    /// Re-reads everything; refuses requests until that works.
    pub async fn reload(&mut self) {
        match Snapshot::load(&self.store).await {
            Ok(s) => {
                self.tables = s;
                self.degraded = None;
            }
            Err(e) => {
                warn!(error = %e, "state not re-read; refusing requests until it is");
                self.degraded = Some((e.to_string(), Instant::now()));
            }
        }
    }
}
