//! `kubectl exec` through the Kubernetes API proxy: kubectl's WebSocket (`v5.channel.k8s.io`,
//! or `v4`) carried over the same exec session as `planton kubectl exec`: one op to start it,
//! output from the runner's JetStream session, input as ordered `SessionControl`s, recorded for
//! replay. The frames already agree: a channel byte (0 stdin, 1 stdout, 2 stderr, 3 status,
//! 4 resize, 255 close in v5) and then the bytes.

use axum::{
    extract::{
        FromRequestParts,
        ws::{Message, WebSocket, WebSocketUpgrade},
    },
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::Response,
};
use cloudops_bus::streams::{self, SessionInfo};
use cloudops_schemas::{RunnerId, v1};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tracing::warn;

use crate::{
    kube_proxy::status,
    routes::{AppState, Authenticated},
    sessions::{check_size, control, input_not_recorded, send_control},
};

const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// What kubectl asks for in the exec URL's query.
struct ExecQuery {
    command: Vec<String>,
    container: String,
    stdin: bool,
    tty: bool,
}

fn parse_query(query: &str) -> ExecQuery {
    let mut q = ExecQuery { command: Vec::new(), container: String::new(), stdin: false, tty: false };
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "command" => q.command.push(v.into_owned()),
            "container" => q.container = v.into_owned(),
            "stdin" => q.stdin = matches!(v.as_ref(), "true" | "1"),
            "tty" => q.tty = matches!(v.as_ref(), "true" | "1"),
            _ => {}
        }
    }
    q
}

/// Starts the exec session, then hands the upgraded connection to [`relay`].
pub async fn exec(
    s: AppState,
    who: Authenticated,
    target: v1::Target,
    scope: v1::KubeScope,
    query: &str,
    mut parts: Parts,
) -> Response {
    if crate::kube_tunnel::wants_spdy(&parts) {
        return crate::kube_tunnel::spdy_refusal(&s, &who, target, scope).await;
    }
    let Ok(ws) = WebSocketUpgrade::from_request_parts(&mut parts, &s).await else {
        return status(StatusCode::BAD_REQUEST, "exec needs a WebSocket upgrade (v5.channel.k8s.io)");
    };
    let offered = parts.headers.get(header::SEC_WEBSOCKET_PROTOCOL).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let Some(protocol) = PROTOCOLS.iter().find(|p| offered.split(',').any(|o| o.trim() == **p)) else {
        return status(
            StatusCode::BAD_REQUEST,
            &format!("exec through Cloud Ops speaks {}; the client offered {offered:?}", PROTOCOLS.join(" or ")),
        );
    };
    let q = parse_query(query);
    if q.command.is_empty() {
        return status(StatusCode::BAD_REQUEST, "exec needs a command (command=…)");
    }
    let session = streams::new_session_id();
    let op = v1::Op {
        kind: Some(v1::op::Kind::KubeExec(v1::KubeExec {
            pod: scope.name.clone(),
            container: q.container,
            command: q.command,
            stdin: q.stdin,
            tty: q.tty,
            size: None,
            session: session.clone(),
        })),
    };
    let described =
        if target.resource.is_empty() { format!("connection/{}", target.connection) } else { target.resource.clone() };
    let timeout = s.deps.config.op_timeout.as_millis() as u32;
    let context = crate::kube_tunnel::context_of(&target);
    let access = crate::holds::Access { target: target.clone(), op: op.clone(), kube: Some(scope.clone()) };
    let result =
        crate::pipeline::run_scoped_op(&s.deps.roles, who.caller(), target, op, timeout, Some(scope.clone())).await;
    let result = match result {
        Ok(r) => r,
        Err(e) => return crate::kube_tunnel::refused(&s, &who, &context, &scope, &e),
    };
    let info = match crate::sessions::start(&s, &who, "kubernetes.exec", described, &session, &result).await {
        Ok((info, _)) => info,
        Err(e) => return status(crate::error::http_status(&e.0), &e.0.message),
    };
    let v5 = *protocol == PROTOCOLS[0];
    let headers = parts.headers.clone();
    ws.protocols([*protocol])
        .max_message_size(crate::kube_tunnel::MAX_MESSAGE)
        .on_upgrade(move |socket| relay(s, info, session, socket, v5, headers, access))
}

/// The channel-3 status kubectl reads the exit code from.
fn exit_status(end: &str) -> Value {
    match end.strip_prefix("exit: ").map(|c| c.trim()) {
        Some("0") => json!({"metadata": {}, "status": "Success"}),
        Some(code) => json!({
            "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": format!("command terminated with non-zero exit code: exit code {code}"),
            "details": {"causes": [{"reason": "ExitCode", "message": code}]},
        }),
        None => json!({"metadata": {}, "status": "Failure", "reason": "InternalError", "message": end}),
    }
}

async fn relay(
    s: AppState,
    info: SessionInfo,
    session: String,
    socket: WebSocket,
    v5: bool,
    headers: HeaderMap,
    access: crate::holds::Access,
) {
    let Ok(runner) = RunnerId::parse(info.runner_id.clone()) else { return };
    let Some((messages, keepalive)) = crate::kube_tunnel::open_output(&s, &info, &session).await else { return };
    let (mut tx, mut rx) = socket.split();
    // Input that cannot be recorded ends the session: why reaches kubectl as its status.
    let (refused_tx, mut refused_rx) = tokio::sync::oneshot::channel::<String>();
    let session_id = session.clone();
    let output = async move {
        let session = session_id;
        let mut messages = std::pin::pin!(messages);
        loop {
            let m = tokio::select! {
                m = messages.next() => match m {
                    Some(m) => m,
                    None => break,
                },
                Ok(why) = &mut refused_rx => {
                    let mut frame = vec![3u8];
                    frame.extend_from_slice(exit_status(&format!("error: {why}")).to_string().as_bytes());
                    let _ = tx.send(Message::Binary(frame.into())).await;
                    break;
                }
            };
            let m = match m {
                Ok(m) => m,
                Err(e) => {
                    warn!(%session, error = %e, "exec output unreadable");
                    break;
                }
            };
            if let Some(end) = m.end {
                let mut frame = vec![3u8];
                frame.extend_from_slice(exit_status(&end).to_string().as_bytes());
                let _ = tx.send(Message::Binary(frame.into())).await;
                break;
            }
            if tx.send(Message::Binary(m.payload)).await.is_err() {
                break;
            }
        }
        // A normal closure: kubectl takes any other close (1005 included) as an error.
        let close = axum::extract::ws::CloseFrame { code: 1000, reason: "".into() };
        let _ = tx.send(Message::Close(Some(close))).await;
        let _ = tx.close().await;
    };
    let input = {
        let (s, info, session, runner) = (s.clone(), info.clone(), session.clone(), runner.clone());
        async move {
            let mut seq = 0u64;
            while let Some(Ok(msg)) = rx.next().await {
                let Message::Binary(frame) = msg else {
                    if matches!(msg, Message::Close(_)) {
                        break;
                    }
                    continue;
                };
                let mut c = v1::SessionControl { session: session.clone(), ..Default::default() };
                match frame.split_first() {
                    Some((&0, data)) if !data.is_empty() => {
                        let id = info.input_record_id(seq + 1);
                        let recorded = streams::record_input(&s.deps.nats, &runner, &session, id, data.to_vec().into());
                        if let Err(e) = recorded.await {
                            // Never sent unrecorded: the process is stopped and kubectl told why.
                            let refused = input_not_recorded(&session, e);
                            control(&s, &info, &session, true).await;
                            let _ = refused_tx.send(refused.0.message);
                            return std::future::pending().await;
                        }
                        c.stdin = data.to_vec();
                    }
                    Some((&4, data)) => {
                        let size: Value = serde_json::from_slice(data).unwrap_or_default();
                        let body = cloudops_api::TerminalSize {
                            cols: size["Width"].as_u64().unwrap_or(0) as u32,
                            rows: size["Height"].as_u64().unwrap_or(0) as u32,
                        };
                        let Ok(size) = check_size(&body) else { continue };
                        c.resize = Some(size);
                    }
                    Some((&255, [0])) if v5 => c.close_stdin = true,
                    _ => continue,
                }
                seq += 1;
                c.input_seq = seq;
                if send_control(&s, &info, c).await.is_err() {
                    break;
                }
            }
        }
    };
    tokio::select! {
        _ = output => {}
        _ = input => {
            // The client went away: stop the process's session now.
            control(&s, &info, &session, true).await;
        }
        why = crate::holds::lost(s.clone(), headers, access) => {
            warn!(%session, why, "exec closed: its access no longer holds");
            control(&s, &info, &session, true).await;
        }
    }
    drop(keepalive);
}
