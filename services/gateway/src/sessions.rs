//! Streamed sessions over HTTP: server-sent events read from JetStream, resumable.
//!
//! `GET /v1/sessions/{id}/events` sends one event per log line (or, for exec, one `stdout` /
//! `stderr` event per chunk, base64) with `id:` = the JetStream sequence.
//! A client that reconnects with `Last-Event-ID` (or `?after=`) continues right after it: no line
//! lost, none repeated, whichever gateway replica it reaches (sessions live in JetStream KV).
//! While a client is connected the gateway keeps the runner's session alive; when it goes away,
//! the keepalives stop and the runner closes the Kubernetes stream within seconds.
//!
//! Exec sessions take input with `POST /v1/sessions/{id}/input` (stdin, close-stdin, resize),
//! sent to the runner over request/reply and recorded beside the output; a recorder per session
//! stores who ran what, how it ended and the capped recording for `planton audit replay`.

use std::{
    collections::HashMap,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use cloudops_bus::streams::{self, SessionInfo};
use cloudops_schemas::{RunnerId, v1};
use cloudops_telemetry::metrics::SessionGuard;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use tracing::warn;

use crate::{
    ApiError,
    routes::{AppState, Authenticated},
};

pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(2);

/// Sessions this gateway has seen (they never change), so that input does not wait on a KV read.
#[derive(Default, Clone)]
pub struct SessionCache(Arc<Mutex<HashMap<String, SessionInfo>>>);

impl SessionCache {
    const MAX: usize = 10_000;
    fn get(&self, id: &str) -> Option<SessionInfo> {
        self.0.lock().expect("session cache").get(id).cloned()
    }
    fn put(&self, id: &str, info: &SessionInfo) {
        let mut m = self.0.lock().expect("session cache");
        if m.len() >= Self::MAX {
            m.clear();
        }
        m.insert(id.to_string(), info.clone());
    }
}

/// API keys recently seen on exec input (by SHA-256), so that keystrokes do not wait on the
/// database: a key stays trusted for input for at most `INPUT_AUTH_TTL` after its last check,
/// so a revoked key stops typing within that long (every other request checks at once).
#[derive(Default, Clone)]
pub struct InputAuth(Arc<Mutex<HashMap<KeyDigest, Checked>>>);

type KeyDigest = [u8; 32];
/// The principal id a key belonged to, and when that was checked.
type Checked = (String, std::time::Instant);

pub const INPUT_AUTH_TTL: Duration = Duration::from_secs(1);

impl InputAuth {
    /// The principal id behind the request's key.
    async fn principal(&self, s: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
        use sha2::Digest;
        // The credential as sent: an API key, or a console cookie with its CSRF token.
        let mut h = sha2::Sha256::new();
        for name in [axum::http::header::AUTHORIZATION.as_str(), "cookie", crate::console::CSRF_HEADER] {
            h.update(headers.get(name).map(|v| v.as_bytes()).unwrap_or_default());
            h.update([0]);
        }
        let digest: [u8; 32] = h.finalize().into();
        let fresh =
            self.0.lock().expect("input auth").get(&digest).filter(|(_, at)| at.elapsed() < INPUT_AUTH_TTL).cloned();
        s.deps.roles.metrics.cache_lookup("input_auth", fresh.is_some());
        if let Some((id, _)) = fresh {
            return Ok(id);
        }
        let who = crate::routes::authenticate(&s.deps, &axum::http::Method::POST, headers).await?;
        let mut m = self.0.lock().expect("input auth");
        if m.len() >= 10_000 {
            m.retain(|_, (_, at)| at.elapsed() < INPUT_AUTH_TTL);
        }
        m.insert(digest, (who.principal.id.clone(), std::time::Instant::now()));
        Ok(who.principal.id)
    }
}

/// After a streaming op (logs, exec, watch) started on the runner: remember who may read the
/// session. `target` names where it runs (`connection/<name>` or the catalog path), for the exec
/// record. The session id is the one the gateway put in the op, and the runner is the one the
/// router sent it to: a runner's reply can neither pick another session nor speak for another
/// runner, and an existing session is never overwritten (create-only).
pub async fn register(
    s: &AppState,
    who: &Authenticated,
    op: &str,
    target: String,
    session: &str,
    result: &v1::OpResult,
) -> Result<Response, ApiError> {
    let (info, v) = start(s, who, op, target, session, result).await?;
    let exec = info.is_exec();
    let field = |k: &str| v[k].as_str().filter(|_| exec).map(str::to_string);
    let body = cloudops_api::SessionStarted {
        session: session.to_string(),
        streams: v["streams"].as_u64(),
        events: format!("/v1/sessions/{session}/events"),
        pod: field("pod"),
        container: field("container"),
        namespace: field("namespace"),
        input: exec.then(|| format!("/v1/sessions/{session}/input")),
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// What `register` records: who may read the session, and for exec the session's record and
/// its recorder. Returns the session and the runner's reply.
pub(crate) async fn start(
    s: &AppState,
    who: &Authenticated,
    op: &str,
    target: String,
    session: &str,
    result: &v1::OpResult,
) -> Result<(SessionInfo, Value), ApiError> {
    let v: Value =
        serde_json::from_slice(&result.json).map_err(|e| ApiError::new(v1::ErrorCode::Internal, e.to_string()))?;
    // A reply that breaks the contract is the runner's fault: a bad gateway, not ours.
    let bad_reply = |what: &str| ApiError::new(v1::ErrorCode::Unavailable, format!("the runner's reply {what}"));
    if v["session"].as_str() != Some(session) {
        return Err(bad_reply("names another session than the one requested"));
    }
    let runner_id = result.routed_runner_id.as_str();
    if runner_id.is_empty() {
        return Err(bad_reply("was not routed to a runner"));
    }
    let runner = s.deps.store.runner_by_id(runner_id).await?;
    let info = SessionInfo::new(
        who.principal.id.clone(),
        // The org acted in: its admins see (and may replay) the session, other orgs' do not.
        if result.routed_org_id.is_empty() { who.principal.org_id.clone() } else { result.routed_org_id.clone() },
        runner_id.into(),
        runner.map(|r| r.name).unwrap_or_default(),
        op.into(),
    );
    // Recording the session can take seconds while JetStream fails over: the runner's session
    // is kept alive meanwhile (the client's reader keeps it alive from then on).
    let _bridge = keep_alive(s, &info, session);
    streams::create_session(&s.deps.nats, session, &info).await.map_err(ApiError::unavailable)?;
    s.sessions.put(session, &info);
    if info.is_exec() {
        let row = cloudops_store::exec_session::Model {
            id: session.into(),
            org_id: info.org_id.clone(),
            principal_id: info.principal_id.clone(),
            principal_name: who.principal.name.clone(),
            runner_id: runner_id.into(),
            target,
            namespace: v["namespace"].as_str().unwrap_or_default().into(),
            pod: v["pod"].as_str().unwrap_or_default().into(),
            container: v["container"].as_str().unwrap_or_default().into(),
            command: v["command"].to_string(),
            tty: v["tty"].as_bool().unwrap_or(false),
            started_at: chrono::Utc::now(),
            ended_at: None,
            end: None,
            exit_code: None,
            total_bytes: 0,
            recorded_bytes: 0,
            truncated: false,
            recording: None,
        };
        s.deps.store.exec_session_start(row).await?;
        tokio::spawn(crate::exec_recording::record(s.clone(), info.clone(), session.to_string()));
    }
    Ok((info, v))
}

async fn load(s: &AppState, who: &Authenticated, id: &str) -> Result<SessionInfo, ApiError> {
    load_for(s, &who.principal.id, id).await
}

async fn load_for(s: &AppState, principal_id: &str, id: &str) -> Result<SessionInfo, ApiError> {
    let cached = s.sessions.get(id);
    s.deps.roles.metrics.cache_lookup("sessions", cached.is_some());
    let info = match cached {
        Some(i) => Some(i),
        None => streams::get_session(&s.deps.nats, id).await.map_err(ApiError::unavailable)?,
    };
    match info {
        Some(i) if i.principal_id == principal_id => {
            s.sessions.put(id, &i);
            Ok(i)
        }
        // Someone else's session looks like a missing one.
        _ => Err(ApiError::new(v1::ErrorCode::NotFound, format!("session {id:?} not found"))),
    }
}

/// What a keepalive (or cancel) learned about the runner's session.
pub(crate) enum Control {
    Alive,
    /// The session is over on the runner (its end marker is in the stream).
    Ended,
    /// The runner is gone: the client must hear it, since no end marker will come.
    Lost(String),
}

/// Sends one SessionControl to the session's runner (3 s for its answer).
pub(crate) async fn send_control(
    s: &AppState,
    info: &SessionInfo,
    c: v1::SessionControl,
) -> Result<v1::RouteResponse, cloudops_bus::BusError> {
    send_control_within(s, info, c, 3000).await
}

async fn send_control_within(
    s: &AppState,
    info: &SessionInfo,
    c: v1::SessionControl,
    timeout_ms: u32,
) -> Result<v1::RouteResponse, cloudops_bus::BusError> {
    let req = v1::RouteRequest {
        target: Some(v1::ResolvedTarget {
            runner_id: info.runner_id.clone(),
            runner_name: info.runner_name.clone(),
            ..Default::default()
        }),
        op: Some(v1::Op { kind: Some(v1::op::Kind::SessionControl(c)) }),
        timeout_ms,
    };
    s.deps.roles.router.route(req).await
}

/// A keepalive (`cancel` false), a cancel, or a probe that does not keep the session alive.
pub(crate) fn control(
    s: &AppState,
    info: &SessionInfo,
    id: &str,
    cancel: bool,
) -> impl std::future::Future<Output = Control> + Send + 'static {
    control_with(s, info, v1::SessionControl { session: id.into(), cancel, ..Default::default() })
}

pub(crate) fn control_with(
    s: &AppState,
    info: &SessionInfo,
    c: v1::SessionControl,
) -> impl std::future::Future<Output = Control> + Send + 'static {
    control_within(s, info, c, 3000)
}

fn control_within(
    s: &AppState,
    info: &SessionInfo,
    c: v1::SessionControl,
    timeout_ms: u32,
) -> impl std::future::Future<Output = Control> + Send + 'static {
    let (s, info) = (s.clone(), info.clone());
    async move {
        match send_control_within(&s, &info, c, timeout_ms).await {
            Ok(v1::RouteResponse { result: Some(v1::route_response::Result::Ok(_)) }) => Control::Alive,
            // Not reached (the runner, or our own side of the hub, is away): not an answer.
            Ok(v1::RouteResponse { result: Some(v1::route_response::Result::Error(e)) })
                if matches!(
                    e.code(),
                    v1::ErrorCode::RunnerNotConnected | v1::ErrorCode::RunnerTimeout | v1::ErrorCode::Unavailable
                ) =>
            {
                Control::Lost(e.message)
            }
            Ok(_) => Control::Ended,
            Err(e) => Control::Lost(e.to_string()),
        }
    }
}

/// How long a keepalive keeps trying a runner it cannot reach before the session is taken as
/// lost: a runner whose hub node died is back on another within ~1 s. The runner keeps a
/// session `SESSION_IDLE` (6 s) without a keepalive; tries start `KEEPALIVE_EVERY` (2 s) after
/// the last one that arrived and take at most `KEEPALIVE_TRY_MS` each, so the last ends within 6 s.
pub const LOST_GRACE: Duration = Duration::from_secs(3);
/// The longest one keepalive try waits for the runner's answer.
const KEEPALIVE_TRY_MS: u32 = 1000;

/// A keepalive that bridges a short absence of the runner (its tunnel moving to another hub
/// node): `Lost` only when it stays unreachable for [`LOST_GRACE`].
pub(crate) async fn keepalive(s: &AppState, info: &SessionInfo, id: &str) -> Control {
    let deadline = tokio::time::Instant::now() + LOST_GRACE;
    loop {
        let c = v1::SessionControl { session: id.into(), ..Default::default() };
        match control_within(s, info, c, KEEPALIVE_TRY_MS).await {
            Control::Lost(why) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(session = %id, reason = %why, "keepalive not delivered; trying again");
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            other => return other,
        }
    }
}

/// Keeps the runner's session alive until the handle is dropped (or the session is over).
pub(crate) fn keep_alive(s: &AppState, info: &SessionInfo, id: &str) -> AbortOnDrop {
    let (s, info, id) = (s.clone(), info.clone(), id.to_string());
    AbortOnDrop(tokio::spawn(async move {
        while let Control::Alive = keepalive(&s, &info, &id).await {
            tokio::time::sleep(KEEPALIVE_EVERY).await;
        }
    }))
}

#[derive(Deserialize, Default)]
pub struct AfterQuery {
    #[serde(default)]
    after: Option<u64>,
}

#[utoipa::path(get, path = "/v1/sessions/{id}/events", tag = "sessions", operation_id = "session_events", params(("after" = Option<u64>, Query, description = "Resume after this event id (or send Last-Event-ID)")), responses((status = 200, description = "Server-sent events: lines (logs, watch), or `stdout`/`stderr` base64 (exec), then `end`", content_type = "text/event-stream")))]
pub async fn events(
    State(s): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    crate::routes::Params(q): crate::routes::Params<AfterQuery>,
) -> Result<Response, ApiError> {
    let info = load(&s, &who, &id).await?;
    let after = match headers.get("last-event-id").map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok())) {
        Some(Some(n)) => n,
        Some(None) => return Err(ApiError::bad_request("Last-Event-ID must be an event id (a number)")),
        None => q.after.unwrap_or(0),
    };
    let runner =
        RunnerId::parse(info.runner_id.clone()).map_err(|e| ApiError::new(v1::ErrorCode::Internal, e.to_string()))?;
    // Keep the runner's session alive for as long as this response is being read (from now:
    // opening the reader can take seconds while JetStream fails over); if the runner
    // disappears, say so (no end marker will ever come from it).
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<String>();
    let keepalive = {
        let (s, info, id) = (s.clone(), info.clone(), id.clone());
        tokio::spawn(async move {
            loop {
                match keepalive(&s, &info, &id).await {
                    Control::Alive => tokio::time::sleep(KEEPALIVE_EVERY).await,
                    Control::Ended => return,
                    Control::Lost(why) => {
                        let _ = lost_tx.send(why);
                        return;
                    }
                }
            }
        })
    };
    let guard = (AbortOnDrop(keepalive), serving(&s, &info));
    let messages = streams::read_session(&s.deps.nats, &runner, &id, after).await.map_err(ApiError::unavailable)?;
    let exec = info.is_exec();
    let lost = futures::stream::once(lost_rx).filter_map(|r| futures::future::ready(r.ok())).map(Err);
    let merged = futures::stream::select(messages.map(|m| m.map_err(|e| e.to_string())), lost);
    let stream = merged
        .map(move |m| {
            let _ = &guard;
            m
        })
        .take_while({
            let mut done = false;
            move |m: &Result<streams::SessionMessage, String>| {
                let go = !done;
                match m {
                    Ok(m) if m.end.is_some() => done = true,
                    Err(_) => done = true,
                    _ => {}
                }
                futures::future::ready(go)
            }
        })
        .map(move |m| -> Result<Event, Infallible> {
            Ok(match m {
                Ok(m) => match m.end {
                    Some(end) => Event::default().id(m.seq.to_string()).event("end").data(end),
                    // Exec output is bytes: base64, its channel as the event name.
                    None if exec => {
                        let (kind, data) = match m.payload.split_first() {
                            Some((2, rest)) => ("stderr", rest),
                            Some((_, rest)) => ("stdout", rest),
                            None => ("stdout", &[][..]),
                        };
                        Event::default().id(m.seq.to_string()).event(kind).data(B64.encode(data))
                    }
                    None => Event::default().id(m.seq.to_string()).data(String::from_utf8_lossy(&m.payload)),
                },
                Err(why) => {
                    warn!(reason = %why, "session lost");
                    Event::default().event("end").data(format!("error: {why}"))
                }
            })
        });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response())
}

/// Counts a session as served by this gateway (`cloudops_sessions_open`) while held.
pub(crate) fn serving(s: &AppState, info: &SessionInfo) -> SessionGuard {
    let kind = match info.op.as_str() {
        "kubernetes.logs" => "logs",
        "kubernetes.watch" => "watch",
        "kubernetes.exec" => "exec",
        _ => "proxy",
    };
    s.deps.roles.metrics.session_open(kind)
}

pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[utoipa::path(delete, path = "/v1/sessions/{id}", tag = "sessions", operation_id = "cancel_session", responses((status = 204, description = "Cancelled")))]
pub async fn cancel(
    State(s): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let info = load(&s, &who, &id).await?;
    control(&s, &info, &id, true).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Input the audit trail cannot hold is not sent: the error says so, and that it was not sent.
pub fn input_not_recorded(session: &str, e: cloudops_bus::BusError) -> ApiError {
    warn!(%session, error = %e, "exec input refused: not recorded");
    ApiError::unavailable(format!(
        "input not sent to exec session {session}: it could not be recorded for the audit log ({e}); retry once the control plane's JetStream is back"
    ))
}

pub const MAX_TERMINAL: u32 = 10_000;

pub fn check_size(size: &cloudops_api::TerminalSize) -> Result<v1::TerminalSize, ApiError> {
    if !(1..=MAX_TERMINAL).contains(&size.cols) || !(1..=MAX_TERMINAL).contains(&size.rows) {
        return Err(ApiError::bad_request(format!(
            "invalid terminal size {}x{}: columns and rows must be 1..={MAX_TERMINAL}",
            size.cols, size.rows
        )));
    }
    Ok(v1::TerminalSize { cols: size.cols, rows: size.rows })
}

#[utoipa::path(post, path = "/v1/sessions/{id}/input", tag = "sessions", operation_id = "session_input", request_body = cloudops_api::InputBody, responses((status = 204, description = "Delivered to the exec session")))]
pub async fn input(
    State(s): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    crate::routes::Body(b): crate::routes::Body<cloudops_api::InputBody>,
) -> Result<StatusCode, ApiError> {
    let principal = s.input_auth.principal(&s, &headers).await?;
    let info = load_for(&s, &principal, &id).await?;
    if !info.is_exec() {
        return Err(ApiError::bad_request(format!("session {id:?} is not an exec session: it takes no input")));
    }
    let stdin = match b.stdin.as_deref() {
        None | Some("") => Vec::new(),
        Some(text) => B64.decode(text).map_err(|e| ApiError::bad_request(format!("`stdin` must be base64: {e}")))?,
    };
    let resize = b.resize.as_ref().map(check_size).transpose()?;
    if stdin.is_empty() && !b.close_stdin && resize.is_none() {
        return Err(ApiError::bad_request("nothing to send: give `stdin`, `close_stdin` or `resize`"));
    }
    let runner =
        RunnerId::parse(info.runner_id.clone()).map_err(|e| ApiError::new(v1::ErrorCode::Internal, e.to_string()))?;
    if !stdin.is_empty() {
        streams::record_input(&s.deps.nats, &runner, &id, info.input_record_id(b.seq), stdin.clone().into())
            .await
            .map_err(|e| input_not_recorded(&id, e))?;
    }
    let c = v1::SessionControl {
        session: id.clone(),
        stdin,
        close_stdin: b.close_stdin,
        resize,
        input_seq: b.seq,
        ..Default::default()
    };
    match send_control(&s, &info, c).await.map_err(ApiError::unavailable)? {
        v1::RouteResponse { result: Some(v1::route_response::Result::Ok(_)) } => Ok(StatusCode::NO_CONTENT),
        v1::RouteResponse { result: Some(v1::route_response::Result::Error(e)) } => Err(e.into()),
        v1::RouteResponse { result: None } => Err(ApiError::unavailable("router: empty reply")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_sizes_are_checked() {
        assert!(check_size(&cloudops_api::TerminalSize { cols: 80, rows: 24 }).is_ok());
        assert!(check_size(&cloudops_api::TerminalSize { cols: 0, rows: 24 }).is_err());
        assert!(check_size(&cloudops_api::TerminalSize { cols: 80, rows: 100_000 }).is_err());
    }
}
