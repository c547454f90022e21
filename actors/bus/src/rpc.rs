//! Prost request/reply over NATS, with the trace context in headers.

use std::{future::Future, sync::Arc, time::Duration};

use async_nats::{Client, RequestErrorKind};
use cloudops_schemas::{Wire, v1};
use futures::StreamExt;
use tokio::task::JoinHandle;
use tracing::{Instrument, warn};

use crate::{BusError, trace};

/// A reply type that can carry a failure, so that a server always answers.
pub trait ErrorReply {
    fn from_error(code: v1::ErrorCode, message: String) -> Self;
}

/// One request/reply round trip: encode, send with a deadline, decode.
pub async fn request<Req: Wire, Resp: Wire>(
    nc: &Client,
    subject: &str,
    req: &Req,
    timeout: Duration,
) -> Result<Resp, BusError> {
    let request = async_nats::Request::new()
        .payload(req.to_bytes().into())
        .headers(trace::current_context_headers())
        .timeout(Some(timeout));
    match nc.send_request(subject.to_string(), request).await {
        Ok(msg) => {
            Resp::from_bytes(&msg.payload).map_err(|source| BusError::Decode { subject: subject.to_string(), source })
        }
        Err(e) => Err(match e.kind() {
            RequestErrorKind::NoResponders => BusError::NoResponders { subject: subject.to_string() },
            RequestErrorKind::TimedOut => {
                BusError::Timeout { subject: subject.to_string(), timeout_ms: timeout.as_millis() as u64 }
            }
            _ => BusError::transport(e),
        }),
    }
}

/// Serves `subject` in queue group `queue`: every request is decoded and handled in its own
/// task, and always answered (a malformed request gets an INVALID_ARGUMENT reply).
pub async fn serve<Req, Resp, F, Fut>(
    nc: Client,
    subject: &'static str,
    queue: &'static str,
    handler: F,
) -> Result<JoinHandle<()>, BusError>
where
    Req: Wire + Send + 'static,
    Resp: Wire + ErrorReply + Send + 'static,
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Resp, BusError>> + Send + 'static,
{
    let mut sub = nc.queue_subscribe(subject, queue.to_string()).await.map_err(BusError::transport)?;
    let handler = Arc::new(handler);
    Ok(tokio::spawn(async move {
        while let Some(msg) = sub.next().await {
            let Some(reply) = msg.reply.clone() else {
                warn!(subject, "request without a reply subject dropped");
                continue;
            };
            let nc = nc.clone();
            let handler = handler.clone();
            let span = tracing::info_span!("rpc.serve", subject);
            trace::adopt_parent(&span, msg.headers.as_ref());
            tokio::spawn(
                async move {
                    let resp = match Req::from_bytes(&msg.payload) {
                        Ok(req) => match handler(req).await {
                            Ok(resp) => resp,
                            Err(e) => Resp::from_error(v1::ErrorCode::Unavailable, e.to_string()),
                        },
                        Err(e) => Resp::from_error(v1::ErrorCode::InvalidArgument, e.to_string()),
                    };
                    if let Err(e) = nc.publish(reply, resp.to_bytes().into()).await {
                        warn!(subject, error = %e, "reply not sent");
                    }
                }
                .instrument(span),
            );
        }
    }))
}

impl ErrorReply for v1::ResolveResponse {
    fn from_error(code: v1::ErrorCode, message: String) -> Self {
        Self { result: Some(v1::resolve_response::Result::Error(v1::Error::new(code, message))) }
    }
}

impl ErrorReply for v1::RouteResponse {
    fn from_error(code: v1::ErrorCode, message: String) -> Self {
        Self { result: Some(v1::route_response::Result::Error(v1::Error::new(code, message))) }
    }
}

impl ErrorReply for v1::RunnerResponse {
    fn from_error(code: v1::ErrorCode, message: String) -> Self {
        Self { result: Some(v1::runner_response::Result::Error(v1::Error::new(code, message))) }
    }
}

impl ErrorReply for v1::AuthorizeResponse {
    fn from_error(_code: v1::ErrorCode, message: String) -> Self {
        Self { allowed: false, reason: message, audit_id: 0, role: String::new(), impersonate: None }
    }
}

impl ErrorReply for v1::AuthenticateResponse {
    fn from_error(_code: v1::ErrorCode, message: String) -> Self {
        Self { principal: None, error: message }
    }
}

impl ErrorReply for v1::Ack {
    fn from_error(_code: v1::ErrorCode, message: String) -> Self {
        warn!(%message, "acknowledged request failed");
        Self { error: message }
    }
}
