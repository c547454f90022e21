//! The Kubernetes API proxy: stock kubectl, helm and client libraries through Cloud Ops, with
//! the kubeconfig `planton kube login` writes. One path prefix per context:
//!
//! - admin mode: `/v1/kube/connections/<org>/<connection>/<API path>`;
//! - developer mode: `/v1/kube/resources/<org>/<env>/<Kind>/<name>/<API path>`, locked to the
//!   resource's namespace.
//!
//! Every request takes the path of every op (resolve → authorize → route → runner), authorized
//! on what its API path touches (`schemas::kube_api`: verb, namespace, resource, subresource)
//! and audited with its method and path. Nothing of the client's request crosses but the
//! method, the path and query, `Accept`, `Content-Type` and the body: never its credentials; a
//! request with `Impersonate-*` headers (`kubectl --as`) is refused. A connection with
//! `impersonate=true` makes the runner act as the person instead. A watch or a followed log streams back through the runner's session
//! in JetStream. Errors are Kubernetes `Status` objects, which every client reads.

use std::convert::Infallible;

use axum::{
    body::{Body, Bytes},
    extract::{Path, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use cloudops_bus::streams::{self, SessionInfo};
use cloudops_schemas::{RunnerId, kube_api, v1};
use futures::StreamExt;
use serde_json::json;

use crate::{
    routes::AppState,
    sessions::{AbortOnDrop, Control, KEEPALIVE_EVERY, control, keepalive},
};

/// The most a request body may carry: the API server's own limit.
pub const MAX_REQUEST_BODY: usize = 3 << 20;

/// A Kubernetes `Status`, as every Kubernetes client reads an error.
pub fn status(code: StatusCode, message: &str) -> Response {
    let reason = match code.as_u16() {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        413 => "RequestEntityTooLarge",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    };
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    });
    (code, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn error_status(e: &v1::Error) -> Response {
    status(crate::error::http_status(e), &e.message)
}

/// A name in the prefix: what the gateway's other routes accept, nothing that could be escaped.
fn plain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 253 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

pub async fn connection(
    State(s): State<AppState>,
    Path((org, connection, _)): Path<(String, String, String)>,
    req: Request,
) -> Response {
    if !plain(&org) || !plain(&connection) {
        return status(StatusCode::BAD_REQUEST, "organization and connection must be plain names");
    }
    let prefix = format!("/v1/kube/connections/{org}/{connection}");
    let target = |ns: &str| v1::Target { org, connection, namespace: ns.to_string(), ..Default::default() };
    proxy(s, &prefix, target, req).await
}

pub async fn resource(
    State(s): State<AppState>,
    Path((org, env, kind, name, _)): Path<(String, String, String, String, String)>,
    req: Request,
) -> Response {
    if ![&org, &env, &kind, &name].iter().all(|p| plain(p)) {
        return status(StatusCode::BAD_REQUEST, "organization, environment, kind and name must be plain names");
    }
    let prefix = format!("/v1/kube/resources/{org}/{env}/{kind}/{name}");
    // The namespace is the resource's; the authorizer refuses a path outside it.
    let target = |_: &str| v1::Target { resource: format!("{org}/{env}/{kind}/{name}"), ..Default::default() };
    proxy(s, &prefix, target, req).await
}

async fn proxy(s: AppState, prefix: &str, target: impl FnOnce(&str) -> v1::Target, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    // A bearer token only: kubectl always sends one, and a console cookie here would let any
    // page the browser opens act (and exec) as the signed-in user.
    if !parts.headers.contains_key(header::AUTHORIZATION) {
        return status(
            StatusCode::UNAUTHORIZED,
            "the Kubernetes API proxy takes an API key as a bearer token (`planton kube login` sets kubectl up)",
        );
    }
    let who = match crate::routes::authenticate(&s.deps, &parts.method, &parts.headers)
        .await
        .and_then(|w| w.not_a_runner())
    {
        Ok(w) => w,
        Err(e) => return error_status(&e.0),
    };
    // The person is the one the key names; a client cannot ask to be someone else.
    if let Some(asked) = parts.headers.keys().find(|h| h.as_str().starts_with("impersonate-")) {
        return status(
            StatusCode::FORBIDDEN,
            &format!(
                "{asked} is not carried: through Cloud Ops you act as {:?} (drop kubectl's --as / --as-group; a connection with impersonate=true tells the cluster who you are)",
                who.principal.name
            ),
        );
    }
    // The raw path, as the client sent it (the router's parameters are percent-decoded).
    let Some(path) = parts.uri.path().strip_prefix(prefix).filter(|p| p.starts_with('/')) else {
        return status(StatusCode::NOT_FOUND, "no Kubernetes API path after the context's prefix");
    };
    let (path, query) = (path.to_string(), parts.uri.query().unwrap_or_default().to_string());
    let scope = match kube_api::scope(parts.method.as_str(), &path, &query) {
        Ok(sc) => sc,
        Err(e) => return status(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    if !scope.resource_request && !kube_api::is_discovery(&scope, &query) {
        return status(
            StatusCode::FORBIDDEN,
            &format!(
                "{} is not carried: outside the resource API the proxy serves discovery, OpenAPI, /version and health only",
                scope.path
            ),
        );
    }
    let target = target(&scope.namespace);
    if scope.api_group.is_empty() && scope.resource == "pods" && !scope.name.is_empty() {
        match scope.subresource.as_str() {
            "exec" => return crate::kube_exec::exec(s, who, target, scope, &query, parts).await,
            "attach" | "portforward" => {
                return crate::kube_tunnel::tunnel(s, who, target, scope, &query, parts).await;
            }
            _ => {}
        }
    }
    if kube_api::CONNECT_SUBRESOURCES.contains(&scope.subresource.as_str()) {
        return status(
            StatusCode::BAD_REQUEST,
            &format!("{} through Cloud Ops is not available yet", scope.subresource),
        );
    }
    let (path, query, method) = (path.as_str(), query.as_str(), parts.method.as_str());
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return status(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body larger than {} MiB", MAX_REQUEST_BODY >> 20),
            );
        }
    };
    // `kubectl auth can-i` and `auth whoami` are about the person, not the runner.
    if let Some(answer) = crate::kube_review::answer(&s, &who, target.clone(), &scope, &parts.headers, &body).await {
        return answer;
    }
    let streaming = kube_api::streams(&scope, query);
    let header_text = |h: &HeaderMap, name: header::HeaderName| {
        h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
    };
    let session = if streaming { streams::new_session_id() } else { String::new() };
    let op = v1::Op {
        kind: Some(v1::op::Kind::KubeHttp(v1::KubeHttp {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            content_type: header_text(&parts.headers, header::CONTENT_TYPE),
            accept: header_text(&parts.headers, header::ACCEPT),
            body: body.to_vec(),
            session: session.clone(),
        })),
    };
    let op_name = op.name();
    let timeout = s.deps.config.op_timeout.as_millis() as u32;
    // A stream stays open only while its access holds; a plain request needs no copy.
    let access = streaming.then(|| crate::holds::Access { target: target.clone(), op: op.clone(), kube: None });
    let result = crate::pipeline::run_op(&s.deps.roles, who.caller(), target, op, timeout).await;
    let result = match result {
        Ok(r) => r,
        Err(e) => return error_status(&e),
    };
    let Some(http) = result.http.clone() else {
        return status(StatusCode::BAD_GATEWAY, "the runner answered without an HTTP response");
    };
    // What a runner (or the cluster behind it) answers is served on the console's origin: only
    // statuses and media types of the Kubernetes API, never a page a browser would run.
    let Some(code) =
        u16::try_from(http.status).ok().and_then(|c| StatusCode::from_u16(c).ok()).filter(|c| c.as_u16() >= 200)
    else {
        return status(StatusCode::BAD_GATEWAY, &format!("the runner answered with HTTP status {}", http.status));
    };
    let headers = [
        (header::CONTENT_TYPE, HeaderValue::from_static(api_media_type(&http.content_type))),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox; default-src 'none'")),
    ];
    if !http.streaming {
        let body = match (path, code.is_success()) {
            ("/openapi/v3", true) => openapi_index_under(prefix, &http.body).unwrap_or_default(),
            _ => http.body,
        };
        return (code, headers, body).into_response();
    }
    let Some(access) = access.filter(|_| !result.routed_runner_id.is_empty()) else {
        return status(StatusCode::BAD_GATEWAY, "the runner streamed a response that was not asked to stream");
    };
    let info = SessionInfo::new(
        who.principal.id.clone(),
        result.routed_org_id.clone(),
        result.routed_runner_id.clone(),
        String::new(),
        op_name.into(),
    );
    match stream_body(&s, info, &session, parts.headers, access).await {
        Ok(body) => (code, headers, body).into_response(),
        Err(e) => status(StatusCode::SERVICE_UNAVAILABLE, &e),
    }
}

/// The OpenAPI v3 index with its documents' URLs under the context's prefix: clients fetch
/// them as given (client-go's `RequestURI` replaces the server's path), so without it they
/// would miss the proxy. A URL outside `/openapi/` is left out.
fn openapi_index_under(prefix: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut index: serde_json::Value = serde_json::from_slice(body).ok()?;
    let paths = index.get_mut("paths")?.as_object_mut()?;
    paths.retain(|_, doc| {
        let Some(url) = doc.get("serverRelativeURL").and_then(|u| u.as_str()) else {
            return false;
        };
        if !url.starts_with("/openapi/") {
            return false;
        }
        doc["serverRelativeURL"] = format!("{prefix}{url}").into();
        true
    });
    serde_json::to_vec(&index).ok()
}

/// The media types of the Kubernetes API; anything else is served as opaque bytes.
fn api_media_type(sent: &str) -> &'static str {
    let base = sent.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let watch = sent.contains("stream=watch");
    match base.as_str() {
        "application/json" if watch => "application/json;stream=watch",
        "application/json" | "" => "application/json",
        "application/yaml" => "application/yaml",
        "application/vnd.kubernetes.protobuf" if watch => "application/vnd.kubernetes.protobuf;stream=watch",
        "application/vnd.kubernetes.protobuf" => "application/vnd.kubernetes.protobuf",
        "text/plain" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The session's bytes, as the API server sent them, for as long as the client reads and its
/// access holds (`holds`): the runner's session is kept alive meanwhile and cancelled when the
/// client goes away.
async fn stream_body(
    s: &AppState,
    info: SessionInfo,
    session: &str,
    headers: HeaderMap,
    access: crate::holds::Access,
) -> Result<Body, String> {
    let runner = RunnerId::parse(info.runner_id.clone()).map_err(|e| e.to_string())?;
    let (revoked_tx, revoked_rx) = tokio::sync::oneshot::channel::<()>();
    let keepalive = {
        let (s, info, id) = (s.clone(), info.clone(), session.to_string());
        tokio::spawn(async move {
            let mut watch = crate::holds::Watch::default();
            let mut checked = tokio::time::Instant::now();
            loop {
                if !matches!(keepalive(&s, &info, &id).await, Control::Alive) {
                    return;
                }
                if checked.elapsed() >= crate::holds::RECHECK_EVERY {
                    checked = tokio::time::Instant::now();
                    if let Some(why) = watch.lost(&s, &headers, &access).await {
                        tracing::warn!(session = %id, why, "stream closed: its access no longer holds");
                        let _ = revoked_tx.send(());
                        return;
                    }
                }
                tokio::time::sleep(KEEPALIVE_EVERY).await;
            }
        })
    };
    let serving = crate::sessions::serving(s, &info);
    let guard = (AbortOnDrop(keepalive), CancelOnDrop { s: s.clone(), info, session: session.to_string() }, serving);
    // Opened after the keepalive started: it can take seconds while JetStream fails over.
    let messages = streams::read_session(&s.deps.nats, &runner, session, 0).await.map_err(|e| e.to_string())?;
    let body = messages
        .take_until(revoked_rx)
        .take_while(|m| futures::future::ready(matches!(m, Ok(m) if m.end.is_none())))
        .filter_map(move |m| {
            let _ = &guard;
            futures::future::ready(m.ok().map(|m| Ok::<Bytes, Infallible>(m.payload)))
        });
    Ok(Body::from_stream(body))
}

/// Tells the runner to stop at once when the client goes away (it would stop by itself once
/// the keepalives stop, a few seconds later).
struct CancelOnDrop {
    s: AppState,
    info: SessionInfo,
    session: String,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        tokio::spawn(control(&self.s, &self.info, &self.session, true));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_index_points_under_the_context() {
        let body = br#"{"paths":{"api/v1":{"serverRelativeURL":"/openapi/v3/api/v1?hash=AB"},"x":{"serverRelativeURL":"https://evil/"},"y":{}}}"#;
        let out: serde_json::Value =
            serde_json::from_slice(&openapi_index_under("/v1/kube/connections/o/c", body).unwrap()).unwrap();
        assert_eq!(
            out,
            json!({"paths": {"api/v1": {"serverRelativeURL": "/v1/kube/connections/o/c/openapi/v3/api/v1?hash=AB"}}})
        );
        assert!(openapi_index_under("/p", b"not json").is_none());
    }

    #[test]
    fn only_api_media_types_are_served() {
        assert_eq!(api_media_type("application/json;stream=watch"), "application/json;stream=watch");
        assert_eq!(api_media_type("Application/JSON; charset=utf-8"), "application/json");
        assert_eq!(api_media_type("text/html"), "application/octet-stream");
        assert_eq!(api_media_type("image/svg+xml"), "application/octet-stream");
        assert_eq!(api_media_type("text/plain"), "text/plain; charset=utf-8");
        assert_eq!(api_media_type(""), "application/json");
    }
}
