//! The tunnel's two ends.
//!
//! Control plane: [`RunnerClient`] publishes an op on `cloudops.runner.<id>.op` with an explicit
//! reply subject `cloudops.reply.<id>.<instance>.<token>` (replies to `_INBOX` do not cross a
//! leaf node), and matches replies through one wildcard subscription.
//!
//! Runner: [`serve_ops`] answers ops for its own id, and [`publish_heartbeat`] reports presence.

use std::{
    collections::HashMap,
    future::Future,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_nats::{Client, Message, StatusCode};
use cloudops_schemas::{RunnerId, Wire, v1};
use futures::{Stream, StreamExt};
use tokio::{sync::oneshot, task::JoinHandle};
use tracing::{Instrument, debug, warn};

use crate::{BusError, rpc::ErrorReply, subjects, trace};

/// In-flight requests by their random reply token.
type Pending = Arc<Mutex<HashMap<u128, (RunnerId, oneshot::Sender<Message>)>>>;

/// Sends ops to runners and waits for their replies.
pub struct RunnerClient {
    nc: Client,
    instance: String,
    pending: Pending,
    _listener: JoinHandle<()>,
}

impl RunnerClient {
    pub async fn start(nc: Client) -> Result<Self, BusError> {
        let instance = random_token();
        let mut sub = nc.subscribe(subjects::reply_wildcard(&instance)).await.map_err(BusError::transport)?;
        let pending: Pending = Arc::default();
        let p = pending.clone();
        let listener = tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let Some((runner, _, token)) = subjects::parse_reply_subject(&msg.subject) else {
                    continue;
                };
                let mut map = p.lock().expect("pending map poisoned");
                match map.get(&token) {
                    // A reply must come from the runner the op was sent to.
                    Some((expected, _)) if expected.as_str() == runner => {
                        if let Some((_, tx)) = map.remove(&token) {
                            let _ = tx.send(msg);
                        }
                    }
                    Some((expected, _)) => {
                        warn!(%expected, from = runner, "reply from the wrong runner dropped")
                    }
                    None => debug!(token = %format_args!("{token:032x}"), "late reply dropped"),
                }
            }
        });
        nc.flush().await.map_err(BusError::transport)?;
        Ok(Self { nc, instance, pending, _listener: listener })
    }

    /// Sends `req` to `runner` and waits up to `timeout` for the reply.
    pub async fn call(
        &self,
        runner: &RunnerId,
        req: &v1::RunnerRequest,
        timeout: Duration,
    ) -> Result<v1::RunnerResponse, BusError> {
        self.send(runner, req).await?.wait(timeout).await
    }

    /// Sends `req` to `runner`; the reply is awaited with [`PendingReply::wait`], by whoever
    /// needs it (the router hands it back to its caller and goes on with the next op).
    pub async fn send(&self, runner: &RunnerId, req: &v1::RunnerRequest) -> Result<PendingReply, BusError> {
        // Unguessable, so that no runner can aim a message at another request's reply.
        let (tx, rx) = oneshot::channel();
        let token = {
            let mut pending = self.pending.lock().expect("pending map poisoned");
            let mut token: u128 = rand::random();
            while pending.contains_key(&token) {
                token = rand::random();
            }
            pending.insert(token, (runner.clone(), tx));
            token
        };
        let subject = subjects::runner_op(runner);
        let waiting = PendingReply { rx, pending: self.pending.clone(), token, subject: subject.clone() };
        let reply = subjects::reply_subject(runner, &self.instance, token);
        self.nc
            .publish_with_reply_and_headers(subject, reply, trace::current_context_headers(), req.to_bytes().into())
            .await
            .map_err(BusError::transport)?;
        Ok(waiting)
    }
}

/// An op on its way to a runner. Dropping it forgets the op (a late reply is dropped).
pub struct PendingReply {
    rx: oneshot::Receiver<Message>,
    pending: Pending,
    token: u128,
    subject: String,
}

impl PendingReply {
    /// Waits up to `timeout` for the runner's reply.
    pub async fn wait(mut self, timeout: Duration) -> Result<v1::RunnerResponse, BusError> {
        let subject = std::mem::take(&mut self.subject);
        let msg = match tokio::time::timeout(timeout, &mut self.rx).await {
            Ok(Ok(msg)) => msg,
            Ok(Err(_)) => return Err(BusError::Transport("reply listener stopped".into())),
            Err(_) => {
                return Err(BusError::Timeout { subject, timeout_ms: timeout.as_millis() as u64 });
            }
        };
        if msg.status == Some(StatusCode::NO_RESPONDERS) {
            return Err(BusError::NoResponders { subject });
        }
        v1::RunnerResponse::from_bytes(&msg.payload).map_err(|source| BusError::Decode { subject, source })
    }
}

impl Drop for PendingReply {
    fn drop(&mut self) {
        if let Ok(mut m) = self.pending.lock() {
            m.remove(&self.token);
        }
    }
}

fn random_token() -> String {
    let bytes: [u8; 8] = rand::random();
    data_encoding::BASE32_NOPAD.encode(&bytes).to_ascii_lowercase()
}

/// Runner side: answers ops sent to `runner`, each in its own task.
pub async fn serve_ops<F, Fut>(nc: Client, runner: RunnerId, handler: F) -> Result<JoinHandle<()>, BusError>
where
    F: Fn(v1::RunnerRequest) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = v1::RunnerResponse> + Send + 'static,
{
    let mut sub = nc
        .queue_subscribe(subjects::runner_op(&runner), subjects::runner_queue(&runner))
        .await
        .map_err(BusError::transport)?;
    nc.flush().await.map_err(BusError::transport)?;
    let handler = Arc::new(handler);
    let reply_prefix = format!("cloudops.reply.{runner}.");
    Ok(tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Some(reply) = msg.reply.clone().filter(|r| r.starts_with(&reply_prefix)) else {
                warn!(subject = %msg.subject, "op without a valid reply subject dropped");
                continue;
            };
            let nc = nc.clone();
            let handler = handler.clone();
            let span = tracing::info_span!("runner.op");
            trace::adopt_parent(&span, msg.headers.as_ref());
            tokio::spawn(
                async move {
                    let resp = match v1::RunnerRequest::from_bytes(&msg.payload) {
                        Ok(req) => handler(req).await,
                        Err(e) => v1::RunnerResponse::from_error(v1::ErrorCode::InvalidArgument, e.to_string()),
                    };
                    if let Err(e) = nc.publish(reply, resp.to_bytes().into()).await {
                        warn!(error = %e, "runner reply not sent");
                    }
                }
                .instrument(span),
            );
        }
    }))
}

pub async fn publish_heartbeat(nc: &Client, runner: &RunnerId, hb: &v1::RunnerHeartbeat) -> Result<(), BusError> {
    nc.publish(subjects::runner_heartbeat(runner), hb.to_bytes().into()).await.map_err(BusError::transport)
}

/// Control plane side: every runner's heartbeats, with the runner id taken from the subject
/// (which the hub guarantees the runner may publish to), never from the payload.
pub async fn heartbeats(nc: &Client) -> Result<impl Stream<Item = (RunnerId, v1::RunnerHeartbeat)> + use<>, BusError> {
    let sub = nc.subscribe(subjects::RUNNER_HEARTBEATS).await.map_err(BusError::transport)?;
    Ok(sub.filter_map(|msg| async move {
        let id = subjects::parse_heartbeat_subject(&msg.subject)?;
        let hb = v1::RunnerHeartbeat::from_bytes(&msg.payload).ok()?;
        Some((id, hb))
    }))
}
