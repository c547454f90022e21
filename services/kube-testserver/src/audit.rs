//! The API server's audit log, as far as tests need it: each request, and who it acted as.
//! `Impersonate-User` / `Impersonate-Group` are read as the API server reads them: groups
//! without a user are refused, and an impersonated user is also in `system:authenticated`.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    middleware::Next,
    response::Response,
};

use crate::{Cluster, status_error};

/// The most events kept (the oldest go first).
const KEPT: usize = 4096;

/// One request, as an audit event of the API server records it.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub method: String,
    pub request_uri: String,
    /// `impersonatedUser.username`: None when the request acted as its own credentials.
    pub impersonated_user: Option<String>,
    /// `impersonatedUser.groups`.
    pub impersonated_groups: Vec<String>,
    pub code: u16,
}

fn all(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(String::from).collect()
}

pub(crate) async fn record(State(cluster): State<Cluster>, request: Request, next: Next) -> Response {
    let users = all(request.headers(), "impersonate-user");
    let mut groups = all(request.headers(), "impersonate-group");
    let mut event = AuditEvent {
        method: request.method().to_string(),
        request_uri: request.uri().to_string(),
        impersonated_user: users.first().cloned(),
        impersonated_groups: Vec::new(),
        code: 0,
    };
    let refusal = match users.as_slice() {
        [] if !groups.is_empty() => Some(format!("requested {groups:?} without impersonating a user")),
        [_, _, ..] => Some(format!("requested to impersonate more than one user: {users:?}")),
        _ => None,
    };
    let response = match refusal {
        Some(message) => status_error(StatusCode::BAD_REQUEST, "BadRequest", message, None),
        None => {
            if event.impersonated_user.as_deref().is_some_and(|u| u != "system:anonymous") {
                groups.push("system:authenticated".into());
            }
            event.impersonated_groups = groups;
            next.run(request).await
        }
    };
    event.code = response.status().as_u16();
    let mut log = cluster.audit.lock().expect("audit log");
    if log.len() == KEPT {
        log.pop_front();
    }
    log.push_back(event);
    drop(log);
    response
}
