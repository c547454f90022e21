//! JetStream sessions: streamed output (log lines, later exec bytes) from a runner to the
//! control plane.
//!
//! - One stream per runner, `CLOUDOPS_RUNNER_<id>`, over `cloudops.stream.<id>.>` and
//!   `cloudops.record.<id>.>`, with max-age, its own max-bytes quota and discard-old, on the hub
//!   only: a runner that fills its share evicts only its own sessions and recordings.
//! - A session's subject always carries the runner id: `cloudops.stream.<runner>.<session>.out`
//!   (a runner may publish under its own id only).
//! - The runner publishes with a bounded window of outstanding acks ([`SessionPublisher`]): that
//!   window is the flow control, so a slow reader slows its own stream only.
//! - The gateway reads a session with an ordered consumer from any sequence ([`read_session`]),
//!   which is how an SSE client resumes from `Last-Event-ID` with nothing lost or repeated.
//! - Sessions (who may read them) live in the KV bucket `cloudops_sessions`, so any gateway
//!   replica, or a restarted one, can serve a reconnecting client.

use std::time::Duration;

use async_nats::{Client, jetstream};
use bytes::Bytes;
use cloudops_schemas::RunnerId;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

pub use crate::session_publisher::SessionPublisher;
use crate::{
    BusError,
    js_retry::{retrying, retrying_if},
};

/// The one shared stream of earlier versions; removed at start (its subjects overlap).
const LEGACY_STREAM: &str = "CLOUDOPS_STREAMS";
/// Streams of runners: `CLOUDOPS_RUNNER_<id>`.
const RUNNER_STREAM_PREFIX: &str = "CLOUDOPS_RUNNER_";
pub const SESSIONS_BUCKET: &str = "cloudops_sessions";
/// Header on a session's last message: `eof`, `cancelled` or `error: …`.
pub const END_HEADER: &str = "Cloudops-End";

pub fn session_subject(runner: &RunnerId, session: &str) -> String {
    format!("cloudops.stream.{runner}.{session}.out")
}

/// Where the control plane records an exec session's input, beside its output. Runners may not
/// publish here (their permissions cover `cloudops.stream.<own id>.>` only), so a recording's
/// input is what the gateway accepted, not what a runner claims.
pub fn input_record_subject(runner: &RunnerId, session: &str) -> String {
    format!("cloudops.record.{runner}.{session}.in")
}

/// A session id: 24 lowercase base32 characters (unguessable, subject-safe).
pub fn new_session_id() -> String {
    let b: [u8; 15] = rand::random();
    data_encoding::BASE32_NOPAD.encode(&b).to_ascii_lowercase()
}

pub fn valid_session_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

/// How long and how much of a runner's session data the hub keeps.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    pub max_age: Duration,
    /// Per runner: its sessions never evict another runner's.
    pub max_bytes: i64,
    /// Copies JetStream keeps of each stream and of the sessions bucket: 1 on a hub alone, 3 on
    /// a cluster of three or more nodes (a node may die without losing a line).
    pub replicas: usize,
}

/// The stream that holds one runner's sessions.
pub fn runner_stream(runner: &RunnerId) -> String {
    format!("{RUNNER_STREAM_PREFIX}{runner}")
}

/// Waits until JetStream answers (on a cluster: once its nodes have elected a leader).
///
/// A fresh cluster's first election can fail, and the next one waits for RAFT's election
/// timeout (seconds; 6 s seen on an idle machine, longer on a busy one). Requests made meanwhile
/// get no answer, so each probe waits 1 s, not the connection's request timeout: a start must not
/// lose 10 s per probe sent too early (`cloudops serve --cluster-size 3` once took over 30 s so).
/// Every 5 s of waiting is logged, naming what is waited for.
pub async fn wait_ready(nc: &Client, within: Duration) -> Result<(), BusError> {
    let mut js = jetstream::new(nc.clone());
    js.set_timeout(Duration::from_secs(1));
    let start = tokio::time::Instant::now();
    let mut told = start;
    loop {
        match js.query_account().await {
            Ok(_) => return Ok(()),
            Err(e) if start.elapsed() >= within => {
                return Err(BusError::Transport(format!("JetStream did not answer within {within:?}: {e}")));
            }
            Err(e) => {
                if told.elapsed() >= Duration::from_secs(5) {
                    told = tokio::time::Instant::now();
                    tracing::warn!(waited = ?start.elapsed(), error = %e, "JetStream does not answer yet (a cluster answers once its nodes have elected a leader)");
                }
                tokio::time::sleep(Duration::from_millis(100)).await
            }
        }
    }
}

/// Creates (or keeps) the sessions bucket, and removes the shared stream of earlier versions.
/// Control plane, at start; each runner's stream comes with [`ensure_runner_stream`].
pub async fn ensure(nc: &Client, limits: StreamLimits) -> Result<(), BusError> {
    let js = jetstream::new(nc.clone());
    if js.get_stream(LEGACY_STREAM).await.is_ok() {
        js.delete_stream(LEGACY_STREAM).await.map_err(BusError::transport)?;
        tracing::info!(stream = LEGACY_STREAM, "shared session stream of an earlier version removed");
    }
    if js.get_key_value(SESSIONS_BUCKET).await.is_err() {
        js.create_key_value(jetstream::kv::Config {
            bucket: SESSIONS_BUCKET.into(),
            max_age: limits.max_age,
            history: 1,
            num_replicas: limits.replicas,
            ..Default::default()
        })
        .await
        .map_err(BusError::transport)?;
    }
    Ok(())
}

/// Creates (or brings up to date) the stream of one runner's sessions.
pub async fn ensure_runner_stream(nc: &Client, runner: &RunnerId, limits: StreamLimits) -> Result<(), BusError> {
    let js = jetstream::new(nc.clone());
    // Never fewer copies than the stream has: a replica that counts fewer nodes (it was given
    // one URL of a cluster) must not take a stream's redundancy away.
    let existing = js.get_stream(runner_stream(runner)).await.map(|s| s.cached_info().config.num_replicas).unwrap_or(0);
    let replicas = limits.replicas.max(existing);
    js.create_or_update_stream(jetstream::stream::Config {
        name: runner_stream(runner),
        subjects: vec![format!("cloudops.stream.{runner}.>"), format!("cloudops.record.{runner}.>")],
        max_age: limits.max_age,
        max_bytes: limits.max_bytes,
        discard: jetstream::stream::DiscardPolicy::Old,
        storage: jetstream::stream::StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    })
    .await
    .map_err(BusError::transport)?;
    Ok(())
}

/// At start: the streams of `runners` that are missing, or whose limits differ from `limits`,
/// are made or brought up to date; the others are left alone. One listing of the hub's streams
/// instead of a round trip per runner. Returns the runners whose stream could not be made.
pub async fn ensure_runner_streams(
    nc: &Client,
    runners: &[RunnerId],
    limits: StreamLimits,
) -> Result<Vec<(RunnerId, BusError)>, BusError> {
    let js = jetstream::new(nc.clone());
    let mut current = std::collections::HashMap::new();
    let mut listing = js.streams();
    while let Some(info) = listing.next().await {
        let info = info.map_err(BusError::transport)?;
        if info.config.name.starts_with(RUNNER_STREAM_PREFIX) {
            current.insert(
                info.config.name.clone(),
                (info.config.max_age, info.config.max_bytes, info.config.num_replicas.max(1)),
            );
        }
    }
    let mut failed = Vec::new();
    for r in runners {
        if current
            .get(&runner_stream(r))
            .is_some_and(|&(age, bytes, n)| (age, bytes) == (limits.max_age, limits.max_bytes) && n >= limits.replicas)
        {
            continue;
        }
        if let Err(e) = ensure_runner_stream(nc, r, limits).await {
            failed.push((r.clone(), e));
        }
    }
    Ok(failed)
}

/// Removes a deleted runner's stream (its sessions end with it).
pub async fn delete_runner_stream(nc: &Client, runner: &RunnerId) -> Result<(), BusError> {
    let js = jetstream::new(nc.clone());
    match js.delete_stream(runner_stream(runner)).await {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().contains("not found") => Ok(()),
        Err(e) => Err(BusError::transport(e)),
    }
}

/// Who may read a session, and where it comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionInfo {
    pub principal_id: String,
    pub org_id: String,
    pub runner_id: String,
    pub runner_name: String,
    pub op: String,
    /// A secret of the control plane's, random per session, in the message id of each input
    /// record: the runner shares the stream and knows the session id and the input's sequence,
    /// so ids it could guess would let it pre-empt (and so drop) the recording of what was typed.
    #[serde(default)]
    pub record_key: String,
}

impl SessionInfo {
    pub fn new(principal_id: String, org_id: String, runner_id: String, runner_name: String, op: String) -> Self {
        Self { principal_id, org_id, runner_id, runner_name, op, record_key: new_session_id() }
    }

    pub fn is_exec(&self) -> bool {
        self.op == "kubernetes.exec"
    }

    /// The message id of input `seq`'s record: the same for a retried input (stored once), and
    /// none where there is no sequence or key (each record then stored as sent).
    pub fn input_record_id(&self, seq: u64) -> Option<String> {
        (seq > 0 && !self.record_key.is_empty()).then(|| format!("in.{}.{seq}", self.record_key))
    }
}

/// Records who may read a new session. Create-only: an id that exists already is refused, so
/// nobody can take over someone else's session by naming it.
pub async fn create_session(nc: &Client, id: &str, info: &SessionInfo) -> Result<(), BusError> {
    if !valid_session_id(id) {
        return Err(BusError::Transport(format!("invalid session id {id:?}")));
    }
    let kv = sessions_bucket(nc).await?;
    let value: Bytes = serde_json::to_vec(info).expect("json").into();
    let mut tried = false;
    retrying("record the session", || {
        let (kv, value) = (kv.clone(), value.clone());
        let again = std::mem::replace(&mut tried, true);
        async move {
            match kv.create(id, value.clone()).await {
                Ok(_) => Ok(()),
                // A try that timed out may have been stored: ours is there, so it was.
                Err(e) if again && kv.get(id).await.ok().flatten().as_ref() == Some(&value) => {
                    tracing::debug!(error = %e, "session record stored by an earlier try");
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    })
    .await
}

/// The sessions bucket, through a failover.
async fn sessions_bucket(nc: &Client) -> Result<jetstream::kv::Store, BusError> {
    let js = jetstream::new(nc.clone());
    retrying("the sessions bucket", || js.get_key_value(SESSIONS_BUCKET)).await
}

pub async fn get_session(nc: &Client, id: &str) -> Result<Option<SessionInfo>, BusError> {
    if !valid_session_id(id) {
        return Ok(None);
    }
    let kv = sessions_bucket(nc).await?;
    let v = retrying("read the session", || kv.get(id)).await?;
    Ok(v.and_then(|b| serde_json::from_slice(&b).ok()))
}

/// One message of a session, as the gateway reads it.
#[derive(Debug, Clone)]
pub struct SessionMessage {
    /// The stream sequence: the SSE event id.
    pub seq: u64,
    pub payload: Bytes,
    /// Set on the last message.
    pub end: Option<String>,
    /// Recorded input (only when read with [`read_recording`]).
    pub input: bool,
    /// When the stream stored it, in Unix milliseconds.
    pub published_ms: i64,
}

/// Reads a session's output from just after `after_seq` (0: from its start), in order.
pub async fn read_session(
    nc: &Client,
    runner: &RunnerId,
    session: &str,
    after_seq: u64,
) -> Result<impl Stream<Item = Result<SessionMessage, BusError>> + use<>, BusError> {
    read(nc, runner, vec![session_subject(runner, session)], after_seq).await
}

/// Reads a session's output and its recorded input, interleaved as they happened.
pub async fn read_recording(
    nc: &Client,
    runner: &RunnerId,
    session: &str,
) -> Result<impl Stream<Item = Result<SessionMessage, BusError>> + use<>, BusError> {
    read(nc, runner, vec![session_subject(runner, session), input_record_subject(runner, session)], 0).await
}

async fn read(
    nc: &Client,
    runner: &RunnerId,
    subjects: Vec<String>,
    after_seq: u64,
) -> Result<impl Stream<Item = Result<SessionMessage, BusError>> + use<>, BusError> {
    let messages = crate::session_reader::read_ordered(nc, runner_stream(runner), subjects, after_seq).await?;
    Ok(messages.map(|m| {
        let m = m?;
        let info = m.info().map_err(BusError::transport)?;
        let (seq, published_ms) = (info.stream_sequence, (info.published.unix_timestamp_nanos() / 1_000_000) as i64);
        let end = m.headers.as_ref().and_then(|h| h.get(END_HEADER)).map(|v| v.as_str().to_string());
        let input = m.subject.starts_with("cloudops.record.");
        Ok(SessionMessage { seq, payload: m.payload.clone(), end, input, published_ms })
    }))
}

/// Control plane: records one piece of an exec session's input, and returns once JetStream has
/// stored it. Input is sent to the process only after this: a keystroke the audit trail cannot
/// hold is refused, never sent unrecorded (the audit fails closed, as it does for ops). Through a
/// failover the record is tried again for [`RETRY_FOR`](crate::js_retry::RETRY_FOR): while a
/// runner's stream elects a new leader, a publish is told "no stream found". `id` is the
/// record's message id ([`SessionInfo::input_record_id`]): a retried input, by the client or
/// here, is stored once (JetStream's duplicate window).
pub async fn record_input(
    nc: &Client,
    runner: &RunnerId,
    session: &str,
    id: Option<String>,
    data: Bytes,
) -> Result<(), BusError> {
    let js = jetstream::new(nc.clone());
    let subject = input_record_subject(runner, session);
    // Without one, an id for this call's own retries.
    let id = id.unwrap_or_else(|| format!("in.{}", new_session_id()));
    let failover = |e: &String| crate::js_retry::transient(e) || e.contains("no stream found");
    retrying_if("record the exec input", failover, || async {
        let publish = jetstream::message::PublishMessage::build().payload(data.clone()).message_id(id.as_str());
        let ack = js.send_publish(subject.clone(), publish).await.map_err(|e| e.to_string())?;
        ack.await.map(drop).map_err(|e| e.to_string())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids() {
        let id = new_session_id();
        assert!(valid_session_id(&id), "{id}");
        assert!(!valid_session_id("../../etc"));
        assert!(!valid_session_id("a.b.c.d.e.f.g.h.i.j.k.l."));
        let r = RunnerId::parse("rnr-x").unwrap();
        assert_eq!(session_subject(&r, &id), format!("cloudops.stream.rnr-x.{id}.out"));
        assert_eq!(input_record_subject(&r, &id), format!("cloudops.record.rnr-x.{id}.in"));
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            /// Session ids come from URLs: only ours are valid, and they are subject-safe.
            #[test]
            fn session_ids_from_urls(s in ".{0,40}") {
                if valid_session_id(&s) {
                    prop_assert!(!s.contains(['.', '*', '>', ' ', '/']));
                }
            }
        }
    }
}
