//! Streamed sessions over HTTP: server-sent events read from JetStream, resumable.
//!
//! `GET /v1/sessions/{id}/events` sends one event per line with `id:` = the JetStream sequence.
//! A client that reconnects with `Last-Event-ID` (or `?after=`) continues right after it: no line
//! lost, none repeated, whichever gateway replica it reaches (sessions live in JetStream KV).
//! While a client is connected the gateway keeps the runner's session alive; when it goes away,
//! the keepalives stop and the runner closes the Kubernetes stream within seconds.

use std::{convert::Infallible, time::Duration};

use axum::{
    Json,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use cloudops_bus::streams::{self, SessionInfo};
use cloudops_schemas::{RunnerId, v1};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::warn;

use crate::{
    ApiError,
    routes::{AppState, Authenticated},
};

pub const KEEPALIVE_EVERY: Duration = Duration::from_secs(2);

/// After a logs op started on the runner: remember who may read the session.
pub async fn register(s: &AppState, who: &Authenticated, result: &v1::OpResult) -> Result<Response, ApiError> {
    let v: Value =
        serde_json::from_slice(&result.json).map_err(|e| ApiError::new(v1::ErrorCode::Internal, e.to_string()))?;
    let (Some(session), Some(runner_id)) = (v["session"].as_str(), v["runner_id"].as_str()) else {
        return Err(ApiError::new(v1::ErrorCode::Internal, "runner did not name the session"));
    };
    let runner = s.deps.store.runner_by_id(runner_id).await?;
    let info = SessionInfo {
        principal_id: who.principal.id.clone(),
        org_id: who.principal.org_id.clone(),
        runner_id: runner_id.into(),
        runner_name: runner.map(|r| r.name).unwrap_or_default(),
        op: "kubernetes.logs".into(),
    };
    streams::put_session(&s.deps.nats, session, &info).await.map_err(ApiError::unavailable)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"session": session, "streams": v["streams"], "events": format!("/v1/sessions/{session}/events")})),
    )
        .into_response())
}

async fn load(s: &AppState, who: &Authenticated, id: &str) -> Result<SessionInfo, ApiError> {
    let info = streams::get_session(&s.deps.nats, id).await.map_err(ApiError::unavailable)?;
    match info {
        Some(i) if i.principal_id == who.principal.id => Ok(i),
        // Someone else's session looks like a missing one.
        _ => Err(ApiError::new(v1::ErrorCode::NotFound, format!("session {id:?} not found"))),
    }
}

/// What a keepalive (or cancel) learned about the runner's session.
enum Control {
    Alive,
    /// The session is over on the runner (its end marker is in the stream).
    Ended,
    /// The runner is gone: the client must hear it, since no end marker will come.
    Lost(String),
}

fn control(
    s: &AppState,
    info: &SessionInfo,
    id: &str,
    cancel: bool,
) -> impl std::future::Future<Output = Control> + Send + 'static {
    let router = s.deps.roles.router.clone();
    let req = v1::RouteRequest {
        target: Some(v1::ResolvedTarget {
            runner_id: info.runner_id.clone(),
            runner_name: info.runner_name.clone(),
            ..Default::default()
        }),
        op: Some(v1::Op {
            kind: Some(v1::op::Kind::SessionControl(v1::SessionControl { session: id.into(), cancel })),
        }),
        timeout_ms: 3000,
    };
    async move {
        match router.route(req).await {
            Ok(v1::RouteResponse { result: Some(v1::route_response::Result::Ok(_)) }) => Control::Alive,
            Ok(v1::RouteResponse { result: Some(v1::route_response::Result::Error(e)) })
                if matches!(e.code(), v1::ErrorCode::RunnerNotConnected | v1::ErrorCode::RunnerTimeout) =>
            {
                Control::Lost(e.message)
            }
            Ok(_) => Control::Ended,
            Err(e) => Control::Lost(e.to_string()),
        }
    }
}

#[derive(Deserialize, Default)]
pub struct AfterQuery {
    #[serde(default)]
    after: Option<u64>,
}

pub async fn events(
    State(s): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    Query(q): Query<AfterQuery>,
) -> Result<Response, ApiError> {
    let info = load(&s, &who, &id).await?;
    let after = match headers.get("last-event-id").map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok())) {
        Some(Some(n)) => n,
        Some(None) => return Err(ApiError::bad_request("Last-Event-ID must be an event id (a number)")),
        None => q.after.unwrap_or(0),
    };
    let runner =
        RunnerId::parse(info.runner_id.clone()).map_err(|e| ApiError::new(v1::ErrorCode::Internal, e.to_string()))?;
    let messages = streams::read_session(&s.deps.nats, &runner, &id, after).await.map_err(ApiError::unavailable)?;
    // Keep the runner's session alive for as long as this response is being read; if the runner
    // disappears, say so (no end marker will ever come from it).
    let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<String>();
    let keepalive = {
        let (s, info, id) = (s.clone(), info.clone(), id.clone());
        tokio::spawn(async move {
            loop {
                match control(&s, &info, &id, false).await {
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
    let guard = AbortOnDrop(keepalive);
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
        .map(|m| -> Result<Event, Infallible> {
            Ok(match m {
                Ok(m) => match m.end {
                    Some(end) => Event::default().id(m.seq.to_string()).event("end").data(end),
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

struct AbortOnDrop(tokio::task::JoinHandle<()>);
impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub async fn cancel(
    State(s): State<AppState>,
    who: Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let info = load(&s, &who, &id).await?;
    control(&s, &info, &id, true).await;
    Ok(StatusCode::NO_CONTENT)
}
