//! JetStream API calls tried again while JetStream fails over. When a hub node dies, the
//! streams and the meta layer it led elect new leaders (nats-server's Raft elections take a few
//! seconds and cannot be configured), and a node that restarts answers late while it catches
//! up: an API call in that window times out or is told JetStream is unavailable. The gateway's
//! session calls (open a reader, read or create a session's record) try again for
//! [`RETRY_FOR`] before the client is told.

use std::{
    fmt::Display,
    future::Future,
    time::{Duration, Instant},
};

use tracing::debug;

use crate::BusError;

/// How long a transient failure is tried again.
pub const RETRY_FOR: Duration = Duration::from_secs(12);

/// Whether an async-nats JetStream error is one that a failover explains (and a later try may
/// not meet): a timeout, nobody answering the API subject, or JetStream saying it is not ready.
/// async-nats gives each call its own error type, so their common text is what is read.
pub fn transient(e: &impl Display) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    ["timed out", "no responders", "temporarily unavailable", "not ready", "no suitable peers", "leader"]
        .iter()
        .any(|t| text.contains(t))
}

/// Runs `call` until it succeeds, fails for a reason a failover does not explain, or
/// [`RETRY_FOR`] has passed; the error names `what`.
pub async fn retrying<T, E: Display, Fut: Future<Output = Result<T, E>>>(
    what: &str,
    call: impl FnMut() -> Fut,
) -> Result<T, BusError> {
    retrying_if(what, transient, call).await
}

/// [`retrying`], with the caller saying which failures a failover explains.
pub async fn retrying_if<T, E: Display, Fut: Future<Output = Result<T, E>>>(
    what: &str,
    is_transient: impl Fn(&E) -> bool,
    mut call: impl FnMut() -> Fut,
) -> Result<T, BusError> {
    let deadline = Instant::now() + RETRY_FOR;
    let mut pause = Duration::from_millis(200);
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if is_transient(&e) && Instant::now() + pause < deadline => {
                debug!(what, error = %e, "JetStream call failed during a failover; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(1));
            }
            Err(e) => return Err(BusError::Transport(format!("{what}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    #[test]
    fn failover_errors_are_transient_and_others_are_not() {
        for e in [
            "request error: timed out: request timed out",
            "jetstream error: 503 no responders",
            "JetStream system temporarily unavailable (10008)",
        ] {
            assert!(transient(&e), "{e}");
        }
        for e in ["stream not found", "wrong last sequence: 4", "invalid subject"] {
            assert!(!transient(&e), "{e}");
        }
    }

    #[tokio::test]
    async fn a_transient_failure_is_tried_again_and_a_lasting_one_is_not() {
        let calls = AtomicU32::new(0);
        let v = retrying("open", || async {
            if calls.fetch_add(1, Ordering::Relaxed) < 2 { Err("timed out") } else { Ok(7) }
        })
        .await;
        assert_eq!((v.unwrap(), calls.load(Ordering::Relaxed)), (7, 3));
        let calls = AtomicU32::new(0);
        let e = retrying::<(), _, _>("open", || async {
            calls.fetch_add(1, Ordering::Relaxed);
            Err("stream not found")
        })
        .await
        .unwrap_err();
        assert_eq!(calls.load(Ordering::Relaxed), 1);
        assert!(e.to_string().contains("open: stream not found"), "{e}");
    }
}
