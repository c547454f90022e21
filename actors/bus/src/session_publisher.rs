//! Runner side of a streamed session: its output into JetStream, in order, with a bounded
//! window of outstanding acks (the flow control: a slow reader slows its own stream only), and
//! nothing lost or repeated when the tunnel drops under it.
//!
//! Every message carries a message id (`Nats-Msg-Id: <session>.<n>`). When an ack fails (the
//! runner's leaf lost its hub node, the stream's leader moved), the first unsettled message and
//! every one after it are sent again, one at a time, until each is acknowledged or
//! [`RECOVERY_LIMIT`] has passed: JetStream's duplicate window drops the copies of those it had
//! already stored, so the reader sees each line once.

use std::{collections::VecDeque, future::IntoFuture, pin::Pin, time::Duration};

use async_nats::{
    Client, HeaderMap,
    jetstream::{
        self,
        context::{PublishAckFuture, PublishError},
        publish::PublishAck,
    },
};
use bytes::Bytes;
use cloudops_schemas::RunnerId;

use crate::{
    BusError,
    streams::{END_HEADER, session_subject},
};

/// How long a publisher keeps trying to get its unsettled messages stored before the session
/// ends with an error.
pub const RECOVERY_LIMIT: Duration = Duration::from_secs(30);
/// How long an ack may take before its message counts as not stored (and is sent again).
const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// An ack this late suggests the message was lost with a hub node: nothing more is sent until
/// it is settled, so that a later message cannot be stored before it is sent again.
const LATE_ACK: Duration = Duration::from_millis(250);

type Ack = Pin<Box<dyn Future<Output = Result<PublishAck, PublishError>> + Send>>;

struct Unsettled {
    id: String,
    payload: Bytes,
    headers: HeaderMap,
    /// None once it failed (or could not be sent): then it is sent again.
    ack: Option<Ack>,
    sent: tokio::time::Instant,
}

pub struct SessionPublisher {
    js: jetstream::Context,
    subject: String,
    session: String,
    next: u64,
    inflight: VecDeque<Unsettled>,
    window: usize,
    /// When the current recovery began: its limit holds across cancelled calls (a session's
    /// loop drops `settle_next` whenever other work arrives).
    recovering_since: Option<tokio::time::Instant>,
}

impl SessionPublisher {
    pub fn new(nc: Client, runner: &RunnerId, session: &str, window: usize) -> Self {
        Self {
            js: jetstream::context::ContextBuilder::new().timeout(ACK_TIMEOUT).build(nc),
            subject: session_subject(runner, session),
            session: session.to_string(),
            next: 0,
            inflight: VecDeque::new(),
            window: window.max(1),
            recovering_since: None,
        }
    }

    pub async fn send(&mut self, payload: Bytes) -> Result<(), BusError> {
        self.push(payload, HeaderMap::new()).await
    }

    /// Waits until every message is stored, then writes the end marker and waits for it too.
    pub async fn finish(mut self, end: &str) -> Result<(), BusError> {
        let mut h = HeaderMap::new();
        h.insert(END_HEADER, end);
        self.push(Bytes::new(), h).await?;
        while !self.inflight.is_empty() {
            self.settle_first().await?;
        }
        Ok(())
    }

    async fn push(&mut self, payload: Bytes, mut headers: HeaderMap) -> Result<(), BusError> {
        while self.inflight.len() >= self.window
            || self.inflight.front().is_some_and(|m| m.ack.is_none() || m.sent.elapsed() > LATE_ACK)
        {
            self.settle_first().await?;
        }
        let id = format!("{}.{}", self.session, self.next);
        self.next += 1;
        headers.insert(async_nats::header::NATS_MESSAGE_ID, id.as_str());
        // A publish the client could not even send counts as a failed ack: settled below.
        let ack = self
            .js
            .publish_with_headers(self.subject.clone(), headers.clone(), payload.clone())
            .await
            .ok()
            .map(PublishAckFuture::into_future);
        self.inflight.push_back(Unsettled { id, payload, headers, ack, sent: tokio::time::Instant::now() });
        Ok(())
    }

    /// Waits for the oldest message's ack; if it failed, recovers the whole window in order.
    async fn settle_first(&mut self) -> Result<(), BusError> {
        if self.inflight.is_empty() { Ok(()) } else { self.settle_next().await }
    }

    /// Waits for the oldest unsettled message's ack (forever while none is out): stored, it is
    /// let go; refused or timed out, it and all after it are sent again ([`Self::recover`]).
    /// Cancel-safe: a session's loop selects on it beside its other work, so that a quiet
    /// session's lost message is sent again without waiting for the next one.
    pub async fn settle_next(&mut self) -> Result<(), BusError> {
        let Some(front) = self.inflight.front_mut() else { return std::future::pending().await };
        let stored = match front.ack.as_mut() {
            Some(ack) => ack.as_mut().await.is_ok(),
            None => false,
        };
        if stored {
            self.inflight.pop_front();
            return Ok(());
        }
        front.ack = None;
        self.recover().await
    }

    /// Sends every unsettled message again, oldest first, one at a time, each until stored.
    async fn recover(&mut self) -> Result<(), BusError> {
        let deadline = *self.recovering_since.get_or_insert_with(tokio::time::Instant::now) + RECOVERY_LIMIT;
        let mut pause = Duration::from_millis(50);
        while let Some(m) = self.inflight.front() {
            let (id, headers, payload) = (m.id.clone(), m.headers.clone(), m.payload.clone());
            let attempt = async {
                let ack = self.js.publish_with_headers(self.subject.clone(), headers, payload).await?;
                ack.await.map_err(async_nats::Error::from)
            };
            match attempt.await {
                Ok(_) => {
                    self.inflight.pop_front();
                    pause = Duration::from_millis(50);
                }
                Err(e) if tokio::time::Instant::now() + pause < deadline => {
                    tracing::debug!(%id, error = %e, "session message not stored yet; sending it again");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                Err(e) => {
                    return Err(BusError::Transport(format!(
                        "session {}: message {id} not stored within {RECOVERY_LIMIT:?}: {e}",
                        self.session
                    )));
                }
            }
        }
        self.recovering_since = None;
        Ok(())
    }
}
