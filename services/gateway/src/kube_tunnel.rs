//! `kubectl port-forward` and `attach` through the Kubernetes API proxy: the client's WebSocket
//! relayed message by message to a WebSocket the runner opens to the API server, with the
//! subprotocol the API server chose among those the client offered (kubectl 1.31+ tunnels SPDY
//! in `SPDY/3.1+portforward.k8s.io`; client libraries speak `v4.channel.k8s.io` or
//! `portforward.k8s.io`). Authorized like every proxied request (operate on the pod; in
//! developer mode its namespace, and its workload's pods only), audited when it opens; the
//! bytes are not recorded.

use axum::{
    extract::{
        FromRequestParts,
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    },
    http::{StatusCode, header, request::Parts},
    response::Response,
};
use cloudops_bus::streams::{self, SessionInfo};
use cloudops_schemas::{RunnerId, kube_api, v1};
use futures::{SinkExt, StreamExt};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use tracing::warn;

use crate::{
    kube_proxy::status,
    routes::{AppState, Authenticated},
    sessions::{AbortOnDrop, control, keep_alive, send_control},
};
use cloudops_telemetry::metrics::SessionGuard;

/// Whether the client asked for SPDY itself (kubectl before 1.30, or with WebSockets turned off).
pub fn wants_spdy(parts: &Parts) -> bool {
    parts
        .headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|u| u.to_ascii_lowercase().starts_with("spdy"))
}

/// Why a caller's WebSocket exec, attach or port-forward was refused, for a few seconds: kubectl
/// retries with SPDY on any refusal and shows only the second answer, which must then be the
/// first one's.
#[derive(Default, Clone)]
pub struct Refusals(Arc<Mutex<HashMap<Refused, Refusal>>>);

/// Who was refused, and the SHA-256 of the context and API path.
type Refused = (String, [u8; 32]);
/// When, the status, and why.
type Refusal = (Instant, u16, String);

impl Refusals {
    const TTL: Duration = Duration::from_secs(10);
    const MAX: usize = 10_000;
    /// The most of a reason kept (a runner's error can be megabytes).
    const MAX_REASON: usize = 1024;

    fn key(principal: &str, context: &str, path: &str) -> Refused {
        use sha2::{Digest, Sha256};
        (principal.into(), Sha256::new().chain_update(context).chain_update([0]).chain_update(path).finalize().into())
    }

    pub(crate) fn remember(&self, principal: &str, context: &str, path: &str, code: StatusCode, message: &str) {
        let mut m = self.0.lock().expect("refusals");
        m.retain(|_, (at, _, _)| at.elapsed() < Self::TTL);
        if m.len() < Self::MAX {
            let reason: String = message.chars().take(Self::MAX_REASON).collect();
            m.insert(Self::key(principal, context, path), (Instant::now(), code.as_u16(), reason));
        }
    }

    fn take(&self, principal: &str, context: &str, path: &str) -> Option<(StatusCode, String)> {
        let (at, code, message) = self.0.lock().expect("refusals").remove(&Self::key(principal, context, path))?;
        (at.elapsed() < Self::TTL).then(|| (StatusCode::from_u16(code).unwrap_or(StatusCode::FORBIDDEN), message))
    }
}

/// The context a request came through (its connection or catalog resource), for [`Refusals`].
pub(crate) fn context_of(target: &v1::Target) -> String {
    format!("{}/{}/{}", target.org, target.connection, target.resource)
}

/// A refusal of a WebSocket request, remembered for the SPDY retry that follows it.
pub(crate) fn refused(
    s: &AppState,
    who: &Authenticated,
    context: &str,
    scope: &v1::KubeScope,
    e: &v1::Error,
) -> Response {
    let code = crate::error::http_status(e);
    s.refusals.remember(&who.principal.id, context, &scope.path, code, &e.message);
    let message: String = e.message.chars().take(Refusals::MAX_REASON).collect();
    status(code, &message)
}

/// The answer to a SPDY request for exec, attach or port-forward. kubectl tries WebSocket
/// first and falls back to SPDY on any refusal, so the refusal it shows is this one: when the
/// caller may not make the request at all, say why (decided, and audited, as a review);
/// otherwise say that only WebSocket is carried.
pub async fn spdy_refusal(s: &AppState, who: &Authenticated, target: v1::Target, scope: v1::KubeScope) -> Response {
    if let Some((code, message)) = s.refusals.take(&who.principal.id, &context_of(&target), &scope.path) {
        return status(code, &message);
    }
    let what = scope.subresource.clone();
    let op = v1::Op {
        kind: Some(v1::op::Kind::KubeTunnel(v1::KubeTunnel { path: scope.path.clone(), ..Default::default() })),
    };
    match crate::pipeline::review(&s.deps.roles, who.caller(), target, op, scope).await {
        Ok(d) if !d.allowed => status(StatusCode::FORBIDDEN, &d.reason),
        Err(e) => status(crate::error::http_status(&e), &e.message),
        Ok(_) => status(
            StatusCode::BAD_REQUEST,
            &format!(
                "{what} through Cloud Ops speaks WebSocket, not SPDY: use kubectl 1.31 or newer (1.30 for exec and attach). \
                 If your kubectl is that new, its WebSocket request failed first: run it with -v=6 to see why"
            ),
        ),
    }
}

/// The subprotocols the client offered, in its order.
fn offered(parts: &Parts) -> Vec<String> {
    parts
        .headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// Opens the runner's tunnel, then accepts the client's WebSocket with the same subprotocol.
pub async fn tunnel(
    s: AppState,
    who: Authenticated,
    target: v1::Target,
    scope: v1::KubeScope,
    query: &str,
    mut parts: Parts,
) -> Response {
    let what = scope.subresource.clone();
    if wants_spdy(&parts) {
        return spdy_refusal(&s, &who, target, scope).await;
    }
    let Ok(ws) = WebSocketUpgrade::from_request_parts(&mut parts, &s).await else {
        return status(StatusCode::BAD_REQUEST, &format!("{what} needs a WebSocket upgrade"));
    };
    // Text frames are not relayed as such: a base64 protocol is not offered to the API server.
    let protocols: Vec<String> = offered(&parts).into_iter().filter(|p| !p.contains("base64")).collect();
    if protocols.is_empty() {
        return status(StatusCode::BAD_REQUEST, &format!("{what} needs a binary WebSocket subprotocol"));
    }
    if query.len() > MAX_QUERY {
        return status(StatusCode::BAD_REQUEST, &format!("a {what} query longer than {MAX_QUERY} bytes"));
    }
    // An interactive attach would be a shell that is not recorded, as exec's are.
    if what == "attach" && kube_api::flag(query, "stdin") {
        return status(
            StatusCode::FORBIDDEN,
            "attach with stdin is not carried (it would not be recorded, as exec is): use kubectl exec, or attach without -i",
        );
    }
    let session = streams::new_session_id();
    let op = v1::Op {
        kind: Some(v1::op::Kind::KubeTunnel(v1::KubeTunnel {
            path: scope.path.clone(),
            query: query.to_string(),
            protocols: protocols.clone(),
            session: session.clone(),
        })),
    };
    let described = match target.resource.is_empty() {
        true => format!("connection/{} {}", target.connection, scope.path),
        false => format!("{} {}", target.resource, scope.path),
    };
    let op_name = kube_api::op_name(&scope);
    let timeout = s.deps.config.op_timeout.as_millis() as u32;
    let context = context_of(&target);
    let access = crate::holds::Access { target: target.clone(), op: op.clone(), kube: Some(scope.clone()) };
    let result =
        crate::pipeline::run_scoped_op(&s.deps.roles, who.caller(), target, op, timeout, Some(scope.clone())).await;
    let result = match result {
        Ok(r) => r,
        Err(e) => return refused(&s, &who, &context, &scope, &e),
    };
    let (info, reply) = match crate::sessions::start(&s, &who, op_name, described, &session, &result).await {
        Ok(started) => started,
        Err(e) => return status(crate::error::http_status(&e.0), &e.0.message),
    };
    let Some(protocol) = reply["protocol"].as_str().filter(|p| protocols.iter().any(|o| o == p)).map(String::from)
    else {
        control(&s, &info, &session, true).await;
        return status(StatusCode::BAD_GATEWAY, "the runner's tunnel chose no subprotocol the client offered");
    };
    let headers = parts.headers.clone();
    ws.protocols([protocol])
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
        .on_upgrade(move |socket| relay(s, info, session, socket, headers, access))
}

/// The session's output, read from its start, and a keepalive (which also counts the session
/// as served) for as long as it is held; `None` (the runner's session cancelled) when the output
/// cannot be read.
pub(crate) async fn open_output(
    s: &AppState,
    info: &SessionInfo,
    session: &str,
) -> Option<(
    impl futures::Stream<Item = Result<streams::SessionMessage, cloudops_bus::BusError>> + use<>,
    (AbortOnDrop, SessionGuard),
)> {
    let runner = RunnerId::parse(info.runner_id.clone()).ok()?;
    // Kept alive from now: opening the reader can take seconds while JetStream fails over.
    let keepalive = keep_alive(s, info, session);
    let messages = match streams::read_session(&s.deps.nats, &runner, session, 0).await {
        Ok(m) => m,
        Err(e) => {
            warn!(%session, error = %e, "session output unreadable");
            drop(keepalive);
            control(s, info, session, true).await;
            return None;
        }
    };
    Some((messages, (keepalive, crate::sessions::serving(s, info))))
}

/// Client messages on their way to the runner at once.
const INPUT_WINDOW: usize = 16;

/// Sends one client message to the runner, again while its queue is full; false if it was
/// not taken.
async fn deliver(s: &AppState, info: &SessionInfo, c: v1::SessionControl) -> bool {
    for _ in 0..500 {
        match send_control(s, info, c.clone()).await {
            Ok(v1::RouteResponse { result: Some(v1::route_response::Result::Ok(_)) }) => return true,
            Ok(v1::RouteResponse { result: Some(v1::route_response::Result::Error(e)) })
                if e.code() == v1::ErrorCode::Unavailable =>
            {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            _ => return false,
        }
    }
    false
}

/// The largest message a client may send through a tunnel (kubectl's are 32 KiB).
pub(crate) const MAX_MESSAGE: usize = 256 << 10;
/// The longest query a tunnel's audit record holds whole.
const MAX_QUERY: usize = 512;

async fn relay(
    s: AppState,
    info: SessionInfo,
    session: String,
    socket: WebSocket,
    headers: axum::http::HeaderMap,
    access: crate::holds::Access,
) {
    let Some((messages, keepalive)) = open_output(&s, &info, &session).await else { return };
    let (mut tx, rx) = socket.split();
    let output = async move {
        let mut messages = std::pin::pin!(messages);
        let mut code = 1000;
        while let Some(m) = messages.next().await {
            match m {
                Ok(m) if m.end.is_some() => {
                    if m.end.as_deref().is_some_and(|e| e.starts_with("error")) {
                        code = 1011;
                    }
                    break;
                }
                Ok(m) => {
                    if tx.send(Message::Binary(m.payload)).await.is_err() {
                        return;
                    }
                }
                Err(_) => {
                    code = 1011;
                    break;
                }
            }
        }
        let _ = tx.send(Message::Close(Some(CloseFrame { code, reason: "".into() }))).await;
        let _ = tx.close().await;
    };
    let input = {
        let (s, info, session) = (s.clone(), info.clone(), session.clone());
        async move {
            // Up to INPUT_WINDOW messages travel at once (the runner puts them back in order);
            // one the runner cannot take yet is sent again shortly, and one it refuses (or
            // any failure) ends the tunnel: carrying on would corrupt the stream.
            let messages = rx
                .take_while(|m| futures::future::ready(matches!(m, Ok(m) if !matches!(m, Message::Close(_)))))
                .filter_map(|m| {
                    futures::future::ready(match m {
                        Ok(Message::Binary(b)) if !b.is_empty() => Some(b.to_vec()),
                        _ => None,
                    })
                })
                .enumerate()
                .map(|(i, data)| {
                    let c = v1::SessionControl {
                        session: session.clone(),
                        stdin: data,
                        input_seq: i as u64 + 1,
                        ..Default::default()
                    };
                    deliver(&s, &info, c)
                })
                .buffered(INPUT_WINDOW);
            let mut messages = std::pin::pin!(messages);
            while let Some(delivered) = messages.next().await {
                if !delivered {
                    break;
                }
            }
        }
    };
    tokio::select! {
        _ = output => {}
        _ = input => {}
        why = crate::holds::lost(s.clone(), headers, access) => warn!(%session, why, "tunnel closed: its access no longer holds"),
    }
    // Either side is done: the runner closes its end now rather than at the keepalive's lapse.
    control(&s, &info, &session, true).await;
    drop(keepalive);
}
