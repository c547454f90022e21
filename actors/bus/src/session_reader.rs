//! Gateway side of a streamed session: its messages in order from any sequence, nothing lost
//! or repeated, through a hub node's death.
//!
//! The reader is an ordered consumer (ephemeral, unacknowledged, one copy in memory), made again
//! from the sequence after the last one delivered whenever it is lost. async-nats has one
//! (`pull::Ordered`), but it recovers on its own schedule: it makes a new consumer after two
//! missed heartbeats, and after five failed attempts it waits 10 s between the next ones. A
//! stream leader's election outlasts five attempts (nats-server waits 4–9 s for a lost leader
//! before a follower campaigns, and that cannot be configured), so a reader could wait ~10 s
//! more than the failover: the soak saw 14 s without a log line after a `kill -9`. Here the
//! first missed heartbeat (one a second) starts the recovery, and a new consumer is asked for at
//! least every second, each call given [`CALL_TIMEOUT`], until [`RECOVERY_LIMIT`] has passed
//! without a message delivered. A consumer that answers without the next message (a gap, a
//! status) is given up too, but [`MAX_REFUSALS`] of them in a row end the read with an error
//! naming the sequence: a stored message must not make readers loop.

use std::time::Duration;

use async_nats::{
    Client,
    jetstream::{
        self, Message,
        consumer::{
            AckPolicy, DeliverPolicy, PullConsumer,
            pull::{self, MessagesErrorKind},
        },
    },
};
use futures::{Stream, StreamExt};
use tracing::debug;

use crate::{BusError, js_retry::retrying};

/// The longest a reader's pull request waits; its idle heartbeat is half of it, and a consumer
/// is counted lost after two heartbeat periods without one.
pub const READ_PULL_EXPIRES: Duration = Duration::from_secs(2);
/// How long a lost reader keeps asking for a new consumer before the read ends with an error.
pub const RECOVERY_LIMIT: Duration = Duration::from_secs(30);
/// Each JetStream API call of the reader (a node that is gone must not hold it for the
/// client's default 5 s).
const CALL_TIMEOUT: Duration = Duration::from_secs(2);
/// Messages asked for per pull.
const BATCH: usize = 500;
/// Bytes asked for per pull: what a reader buffers is bounded by this (1.5 times it: async-nats
/// asks for the next pull when half of one is left), not by BATCH times the largest message a
/// runner may store (500 × 8 MB). Twice the hub's `max_payload` (8 MB,
/// natsd_config.rs), so that any one message fits a pull; a pull that reaches it ends and the
/// next one follows (nats-server's 409 "Message Size Exceeds MaxBytes", which async-nats pulls on).
const BATCH_BYTES: usize = 16 << 20;
/// A consumer nobody pulls from is removed by the server after this (a reader dropped without
/// deleting its consumer, or one whose delete did not reach a live node).
const INACTIVE: Duration = Duration::from_secs(30);
/// Consumers in a row that answered but did not deliver the next message (a gap, a status where
/// a message was due) before the read ends: what a stored message no reader can get past, or a
/// runner's attempt to make readers loop, looks like.
const MAX_REFUSALS: u32 = 3;
/// A consumer that lived this long before it was lost was a good one: its loss starts a new
/// recovery (a quiet session delivers nothing to show it).
const HEALTHY: Duration = Duration::from_secs(6);

struct Reader {
    js: jetstream::Context,
    stream: String,
    subjects: Vec<String>,
    /// The stream sequence of the last message delivered (0: none yet).
    delivered: u64,
    /// The consumer's sequence of the last message it delivered: a gap means a message missed.
    consumer_seq: u64,
    consumer: String,
    messages: Option<pull::Stream>,
    done: bool,
    /// Since when no message has been delivered while the consumer is being made again: the
    /// recovery's limit holds across consumers that are made and lost at once.
    lost_since: Option<tokio::time::Instant>,
    /// Consumers made since the last message delivered, and those that answered wrongly.
    attempts: u32,
    refusals: u32,
    /// When the current consumer was made.
    opened_at: tokio::time::Instant,
}

/// Reads `subjects` of `stream` from just after `after_seq` (0: from the start), in order. The
/// first consumer is made at once (an error if the stream does not exist); a lost one is made
/// again from where the read was, and if that cannot be done within [`RECOVERY_LIMIT`] the
/// stream yields that error and ends.
pub async fn read_ordered(
    nc: &Client,
    stream: String,
    subjects: Vec<String>,
    after_seq: u64,
) -> Result<impl Stream<Item = Result<Message, BusError>> + use<>, BusError> {
    let js = jetstream::context::ContextBuilder::new().timeout(CALL_TIMEOUT).build(nc.clone());
    let mut reader = Reader {
        js,
        stream,
        subjects,
        delivered: after_seq,
        consumer_seq: 0,
        consumer: String::new(),
        messages: None,
        done: false,
        lost_since: None,
        attempts: 0,
        refusals: 0,
        opened_at: tokio::time::Instant::now(),
    };
    // Tried again through a failover, but not on a refusal (no such stream).
    let config = reader.config();
    let (name, messages) =
        retrying("open the session's reader", || open(&reader.js, &reader.stream, config.clone())).await?;
    (reader.consumer, reader.messages, reader.opened_at) = (name, Some(messages), tokio::time::Instant::now());
    // Boxed: callers poll it with `next()`, which needs a stream that is Unpin.
    Ok(futures::stream::unfold(reader, |mut r| async move {
        if r.done {
            return None;
        }
        let item = r.next().await;
        r.done = item.is_err();
        Some((item, r))
    })
    .boxed())
}

impl Reader {
    fn config(&self) -> pull::Config {
        pull::Config {
            deliver_policy: match self.delivered {
                0 => DeliverPolicy::All,
                // u64::MAX: nothing can follow it; start past the end rather than overflow.
                n => DeliverPolicy::ByStartSequence { start_sequence: n.saturating_add(1) },
            },
            ack_policy: AckPolicy::None,
            max_deliver: 1,
            filter_subjects: self.subjects.clone(),
            max_expires: READ_PULL_EXPIRES,
            inactive_threshold: INACTIVE,
            num_replicas: 1,
            memory_storage: true,
            ..Default::default()
        }
    }

    /// The next message, recovering the consumer as long as [`Self::recover`] allows.
    async fn next(&mut self) -> Result<Message, BusError> {
        loop {
            let Some(messages) = self.messages.as_mut() else {
                self.recover().await?;
                continue;
            };
            // Why the consumer is given up, and whether it answered (rather than went quiet).
            let (why, answered) = match messages.next().await {
                Some(Ok(m)) => {
                    let info = m.info().map_err(BusError::transport)?;
                    if info.consumer_sequence == self.consumer_seq + 1 {
                        self.consumer_seq = info.consumer_sequence;
                        self.delivered = info.stream_sequence;
                        (self.lost_since, self.attempts, self.refusals) = (None, 0, 0);
                        return Ok(m);
                    }
                    (format!("consumer sequence {} after {}", info.consumer_sequence, self.consumer_seq), true)
                }
                Some(Err(e)) => (e.to_string(), e.kind() != MessagesErrorKind::MissingHeartbeat),
                None => ("its subscription ended".to_string(), false),
            };
            debug!(stream = %self.stream, after = self.delivered, %why, "session reader lost; making it again");
            self.let_go();
            if self.opened_at.elapsed() > HEALTHY {
                (self.lost_since, self.attempts, self.refusals) = (None, 0, 0);
            }
            self.lost_since.get_or_insert_with(tokio::time::Instant::now);
            self.refusals += u32::from(answered);
            if self.refusals >= MAX_REFUSALS {
                return Err(BusError::Transport(format!(
                    "the session's message after sequence {} cannot be read: {why}",
                    self.delivered
                )));
            }
        }
    }

    /// Drops the current consumer, and deletes it on the server in the background (if its node
    /// is gone, the server's inactivity threshold does it).
    fn let_go(&mut self) {
        self.messages = None;
        let (js, stream, consumer) = (self.js.clone(), self.stream.clone(), std::mem::take(&mut self.consumer));
        if !consumer.is_empty() {
            tokio::spawn(async move {
                let _ = js.delete_consumer_from_stream(consumer, stream).await;
            });
        }
    }

    /// Asks for a new consumer until one is made: at once after a message was delivered, then
    /// after pauses of 100 ms doubling to 1 s (also when the last one was made and lost at once),
    /// until [`RECOVERY_LIMIT`] has passed without a message delivered.
    async fn recover(&mut self) -> Result<(), BusError> {
        let deadline = *self.lost_since.get_or_insert_with(tokio::time::Instant::now) + RECOVERY_LIMIT;
        let mut last_error = String::from("no message delivered");
        loop {
            if self.attempts > 0 {
                let pause = Duration::from_millis(100)
                    .saturating_mul(1 << (self.attempts - 1).min(4))
                    .min(Duration::from_secs(1));
                if tokio::time::Instant::now() + pause >= deadline {
                    return Err(BusError::Transport(format!(
                        "the session's reader was lost and could not be made again within {RECOVERY_LIMIT:?}: {last_error}"
                    )));
                }
                tokio::time::sleep(pause).await;
            }
            self.attempts += 1;
            match open(&self.js, &self.stream, self.config()).await {
                Ok((name, messages)) => {
                    (self.consumer, self.messages, self.consumer_seq) = (name, Some(messages), 0);
                    self.opened_at = tokio::time::Instant::now();
                    return Ok(());
                }
                Err(e) => {
                    debug!(stream = %self.stream, error = %e, "session reader not made yet; trying again");
                    last_error = e.to_string();
                }
            }
        }
    }
}

/// A new consumer of `stream` (`config` says from where), and its first pull: its name and its
/// messages.
async fn open(js: &jetstream::Context, stream: &str, config: pull::Config) -> Result<(String, pull::Stream), BusError> {
    let consumer: PullConsumer = js.create_consumer_on_stream(config, stream).await.map_err(BusError::transport)?;
    // Within the consumer's limit, if the stream sets one: a pull over it is refused.
    let batch = match usize::try_from(consumer.cached_info().config.max_batch) {
        Ok(max) if max > 0 => BATCH.min(max),
        _ => BATCH,
    };
    let messages = consumer
        .stream()
        .max_messages_per_batch(batch)
        .max_bytes_per_batch(BATCH_BYTES)
        .expires(READ_PULL_EXPIRES)
        .heartbeat(READ_PULL_EXPIRES / 2)
        .messages()
        .await
        .map_err(BusError::transport)?;
    Ok((consumer.cached_info().name.clone(), messages))
}

impl Drop for Reader {
    fn drop(&mut self) {
        // A reader dropped by its client (the SSE connection closed): its consumer goes too.
        if tokio::runtime::Handle::try_current().is_ok() {
            self.let_go();
        }
    }
}
