//! JetStream sessions: streamed output (log lines, later exec bytes) from a runner to the
//! control plane.
//!
//! - One stream, `CLOUDOPS_STREAMS`, over `cloudops.stream.>`, with max-age and max-bytes and
//!   discard-old, on the hub only.
//! - A session's subject always carries the runner id: `cloudops.stream.<runner>.<session>.out`
//!   (a runner may publish under its own id only).
//! - The runner publishes with a bounded window of outstanding acks ([`SessionPublisher`]): that
//!   window is the flow control, so a slow reader slows its own stream only.
//! - The gateway reads a session with an ordered consumer from any sequence ([`read_session`]),
//!   which is how an SSE client resumes from `Last-Event-ID` with nothing lost or repeated.
//! - Sessions (who may read them) live in the KV bucket `cloudops_sessions`, so any gateway
//!   replica, or a restarted one, can serve a reconnecting client.

use std::{collections::VecDeque, time::Duration};

use async_nats::{
    Client, HeaderMap,
    jetstream::{self, consumer::DeliverPolicy, context::PublishAckFuture},
};
use bytes::Bytes;
use cloudops_schemas::RunnerId;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

use crate::BusError;

pub const STREAM: &str = "CLOUDOPS_STREAMS";
pub const SESSIONS_BUCKET: &str = "cloudops_sessions";
/// Header on a session's last message: `eof`, `cancelled` or `error: …`.
pub const END_HEADER: &str = "Cloudops-End";

pub fn session_subject(runner: &RunnerId, session: &str) -> String {
    format!("cloudops.stream.{runner}.{session}.out")
}

/// A session id: 24 lowercase base32 characters (unguessable, subject-safe).
pub fn new_session_id() -> String {
    let b: [u8; 15] = rand::random();
    data_encoding::BASE32_NOPAD.encode(&b).to_ascii_lowercase()
}

pub fn valid_session_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
}

/// Creates (or keeps) the stream and the sessions bucket. Control plane, at start.
pub async fn ensure(nc: &Client, max_age: Duration, max_bytes: i64) -> Result<(), BusError> {
    let js = jetstream::new(nc.clone());
    js.get_or_create_stream(jetstream::stream::Config {
        name: STREAM.into(),
        subjects: vec!["cloudops.stream.>".into()],
        max_age,
        max_bytes,
        discard: jetstream::stream::DiscardPolicy::Old,
        storage: jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await
    .map_err(BusError::transport)?;
    if js.get_key_value(SESSIONS_BUCKET).await.is_err() {
        js.create_key_value(jetstream::kv::Config {
            bucket: SESSIONS_BUCKET.into(),
            max_age,
            history: 1,
            ..Default::default()
        })
        .await
        .map_err(BusError::transport)?;
    }
    Ok(())
}

/// Who may read a session, and where it comes from.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SessionInfo {
    pub principal_id: String,
    pub org_id: String,
    pub runner_id: String,
    pub runner_name: String,
    pub op: String,
}

pub async fn put_session(nc: &Client, id: &str, info: &SessionInfo) -> Result<(), BusError> {
    let kv = jetstream::new(nc.clone()).get_key_value(SESSIONS_BUCKET).await.map_err(BusError::transport)?;
    kv.put(id, serde_json::to_vec(info).expect("json").into()).await.map_err(BusError::transport)?;
    Ok(())
}

pub async fn get_session(nc: &Client, id: &str) -> Result<Option<SessionInfo>, BusError> {
    if !valid_session_id(id) {
        return Ok(None);
    }
    let kv = jetstream::new(nc.clone()).get_key_value(SESSIONS_BUCKET).await.map_err(BusError::transport)?;
    let v = kv.get(id).await.map_err(BusError::transport)?;
    Ok(v.and_then(|b| serde_json::from_slice(&b).ok()))
}

/// Runner side: publishes a session's output with at most `window` acks outstanding.
pub struct SessionPublisher {
    js: jetstream::Context,
    subject: String,
    inflight: VecDeque<PublishAckFuture>,
    window: usize,
}

impl SessionPublisher {
    pub fn new(nc: Client, runner: &RunnerId, session: &str, window: usize) -> Self {
        Self {
            js: jetstream::new(nc),
            subject: session_subject(runner, session),
            inflight: VecDeque::new(),
            window: window.max(1),
        }
    }

    pub async fn send(&mut self, payload: Bytes) -> Result<(), BusError> {
        while self.inflight.len() >= self.window {
            let ack = self.inflight.pop_front().expect("non-empty");
            ack.await.map_err(BusError::transport)?;
        }
        let ack = self.js.publish(self.subject.clone(), payload).await.map_err(BusError::transport)?;
        self.inflight.push_back(ack);
        Ok(())
    }

    /// Waits for every outstanding ack, then writes the end marker.
    pub async fn finish(mut self, end: &str) -> Result<(), BusError> {
        while let Some(ack) = self.inflight.pop_front() {
            ack.await.map_err(BusError::transport)?;
        }
        let mut h = HeaderMap::new();
        h.insert(END_HEADER, end);
        let ack =
            self.js.publish_with_headers(self.subject.clone(), h, Bytes::new()).await.map_err(BusError::transport)?;
        ack.await.map_err(BusError::transport)?;
        Ok(())
    }
}

/// One message of a session, as the gateway reads it.
#[derive(Debug, Clone)]
pub struct SessionMessage {
    /// The stream sequence: the SSE event id.
    pub seq: u64,
    pub payload: Bytes,
    /// Set on the last message.
    pub end: Option<String>,
}

/// Reads a session from just after `after_seq` (0: from its start), in order.
pub async fn read_session(
    nc: &Client,
    runner: &RunnerId,
    session: &str,
    after_seq: u64,
) -> Result<impl Stream<Item = Result<SessionMessage, BusError>> + use<>, BusError> {
    let js = jetstream::new(nc.clone());
    let stream = js.get_stream(STREAM).await.map_err(BusError::transport)?;
    let deliver_policy = if after_seq == 0 {
        DeliverPolicy::All
    } else {
        DeliverPolicy::ByStartSequence { start_sequence: after_seq + 1 }
    };
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::OrderedConfig {
            filter_subject: session_subject(runner, session),
            deliver_policy,
            ..Default::default()
        })
        .await
        .map_err(BusError::transport)?;
    let messages = consumer.messages().await.map_err(BusError::transport)?;
    Ok(messages.map(|m| {
        let m = m.map_err(BusError::transport)?;
        let seq = m.info().map_err(BusError::transport)?.stream_sequence;
        let end = m.headers.as_ref().and_then(|h| h.get(END_HEADER)).map(|v| v.as_str().to_string());
        Ok(SessionMessage { seq, payload: m.payload.clone(), end })
    }))
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
    }
}
