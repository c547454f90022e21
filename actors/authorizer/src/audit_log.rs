//! The audit log's writer: group commit. Records queue up while the previous batch is being
//! written, and the next batch takes them all (up to [`MAX_BATCH`]) in one statement (one
//! transaction), so that a burst of decisions costs one commit instead of one each, and a lone
//! decision waits for nothing but its own insert. Outcomes of earlier decisions are written
//! after the records, in one statement per batch, and nobody waits for them.
//!
//! "No audit record, no access" holds because each record's waiter learns its id only after
//! the transaction holding it committed ([`AuditReceipt`]); the request path releases no result
//! and starts no change before that.

use cloudops_bus::services::AuditReceipt;
use cloudops_store::{DB_UNAVAILABLE, Store, audit};
use prometheus_client::metrics::gauge::Gauge;
use tokio::{
    sync::{mpsc, oneshot},
    task::JoinHandle,
};
use tracing::warn;

/// Records and outcomes taken in one batch at most.
pub const MAX_BATCH: usize = 512;

enum Entry {
    Record(Box<audit::ActiveModel>, oneshot::Sender<Result<i64, String>>),
    Outcome(i64, String, i64),
}

/// The writer's queue. Cloning shares the writer.
#[derive(Clone)]
pub struct AuditLog {
    /// None: a log that writes nothing, which only `bench-audit` builds to measure the
    /// writer's cost.
    tx: Option<mpsc::UnboundedSender<Entry>>,
    /// Entries sent and not yet taken into a batch (`cloudops_audit_queue_depth`).
    queued: Gauge,
}

impl AuditLog {
    /// Starts the writer on `store`; it stops when every `AuditLog` is dropped. `queued` counts
    /// what waits for the next batch.
    pub fn start(store: Store, queued: Gauge) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::unbounded_channel();
        // A writer started again after the last one died: what that one held is gone.
        queued.set(0);
        (Self { tx: Some(tx), queued: queued.clone() }, tokio::spawn(write_batches(store, rx, queued)))
    }

    /// A log that records nothing: every receipt is "committed" at once with id 0. For
    /// measuring the writer's cost (`bench-audit`) only; `cloudops serve` has no way to ask
    /// for it.
    pub fn discarding_for_benchmarks() -> Self {
        Self { tx: None, queued: Gauge::default() }
    }

    /// Queues a record; the receipt resolves once it is committed.
    pub fn record(&self, row: audit::ActiveModel) -> AuditReceipt {
        let Some(queue) = &self.tx else { return AuditReceipt::Committed(0) };
        let (tx, rx) = oneshot::channel();
        // Counted before it is sent: the writer may take it at once.
        self.queued.inc();
        if let Err(mpsc::error::SendError(Entry::Record(_, tx))) = queue.send(Entry::Record(Box::new(row), tx)) {
            self.queued.dec();
            let _ = tx.send(Err("audit writer stopped".into()));
        }
        AuditReceipt::Pending(rx)
    }

    /// Queues the outcome of a recorded decision (nobody waits for it).
    pub fn outcome(&self, audit_id: i64, result: String, latency_us: i64) {
        let Some(queue) = &self.tx else { return };
        self.queued.inc();
        if queue.send(Entry::Outcome(audit_id, result, latency_us)).is_err() {
            self.queued.dec();
            warn!(audit_id, "audit writer stopped; outcome not recorded");
        }
    }

    /// Whether the writer is still running.
    pub fn is_alive(&self) -> bool {
        self.tx.as_ref().is_none_or(|t| !t.is_closed())
    }
}

async fn write_batches(store: Store, mut rx: mpsc::UnboundedReceiver<Entry>, queued: Gauge) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let taken = rx.recv_many(&mut batch, MAX_BATCH).await;
        if taken == 0 {
            break;
        }
        queued.dec_by(taken as i64);
        let mut rows = Vec::new();
        let mut waiters = Vec::new();
        let mut outcomes = Vec::new();
        for e in batch.drain(..) {
            match e {
                Entry::Record(row, tx) => {
                    rows.push(*row);
                    waiters.push(tx);
                }
                Entry::Outcome(id, result, latency) => outcomes.push((id, result, latency)),
            }
        }
        // The records first (their requests wait for them), then the outcomes.
        match store.audit_records(rows.clone()).await {
            Ok(ids) => {
                for (tx, id) in waiters.into_iter().zip(ids) {
                    let _ = tx.send(Ok(id));
                }
            }
            Err(e) if e.is_unavailable() => {
                // The database is down or cannot take writes (a full disk): every request of the
                // batch is refused at once, and says so. One by one would fail the same way, each
                // after its own wait, and the queue behind would never drain.
                warn!(error = %e, records = waiters.len(), "audit batch not written: {DB_UNAVAILABLE}");
                for tx in waiters {
                    let _ = tx.send(Err(format!("audit log unavailable ({DB_UNAVAILABLE}): {e}")));
                }
            }
            Err(e) => {
                // One bad record must not fail its neighbours: each is retried alone, so only
                // what cannot be written fails (and its request with it).
                warn!(error = %e, records = waiters.len(), "audit batch not written; retrying one by one");
                for (row, tx) in rows.into_iter().zip(waiters) {
                    let one = store.audit_records(vec![row]).await;
                    let _ = tx.send(one.map(|ids| ids[0]).map_err(|e| format!("audit log unavailable: {e}")));
                }
            }
        }
        match store.audit_outcomes(&outcomes).await {
            Ok(()) => {}
            // Down: one by one would wait DB_WAIT for each, and hold up the records behind them.
            Err(e) if e.is_unavailable() => {
                warn!(error = %e, outcomes = outcomes.len(), "audit outcomes not written: {DB_UNAVAILABLE}")
            }
            Err(e) => {
                warn!(error = %e, outcomes = outcomes.len(), "audit outcomes not written; retrying one by one");
                for o in outcomes {
                    if let Err(e) = store.audit_outcomes(std::slice::from_ref(&o)).await {
                        warn!(error = %e, audit_id = o.0, "audit outcome not recorded");
                    }
                }
            }
        }
    }
}
