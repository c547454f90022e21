//! An open stream (a watch, a followed log), exec or tunnel keeps its access only while that
//! access still holds: every so often the caller's key is checked again and the op is decided
//! again on the current grants and catalog, so a revoked key, a removed grant or a deleted
//! connection or catalog entry closes what it opened, as it refuses the next request.

use std::time::Duration;

use axum::http::{HeaderMap, Method};
use cloudops_schemas::v1::{self, ErrorCode};

use crate::routes::AppState;

/// How often an open stream, exec or tunnel checks that its access still holds.
pub(crate) const RECHECK_EVERY: Duration = Duration::from_secs(10);

/// Checks in a row that may fail for want of an answer (the authorizer or resolver
/// unavailable) before the access counts as lost.
const UNANSWERED_TOLERATED: u32 = 2;

/// What was allowed when the stream, exec or tunnel opened.
#[derive(Clone)]
pub(crate) struct Access {
    pub target: v1::Target,
    pub op: v1::Op,
    pub kube: Option<v1::KubeScope>,
}

impl Access {
    /// Whether the caller behind `headers` may still do this; why not, when not.
    async fn check(&self, s: &AppState, headers: &HeaderMap) -> Result<(), v1::Error> {
        let who = crate::routes::authenticate(&s.deps, &Method::GET, headers).await.map_err(|e| {
            v1::Error::new(ErrorCode::Unauthenticated, format!("its caller's key no longer holds: {}", e.0.message))
        })?;
        crate::pipeline::still_allowed(
            &s.deps.roles,
            who.caller(),
            self.target.clone(),
            self.op.clone(),
            self.kube.clone(),
        )
        .await
    }
}

/// Counts unanswered checks; says when the access is lost.
#[derive(Default)]
pub(crate) struct Watch {
    unanswered: u32,
}

impl Watch {
    /// One check: `Some(why)` once the access no longer holds.
    pub(crate) async fn lost(&mut self, s: &AppState, headers: &HeaderMap, access: &Access) -> Option<String> {
        match access.check(s, headers).await {
            Ok(()) => {
                self.unanswered = 0;
                None
            }
            Err(e) if e.code() == ErrorCode::Unavailable && self.unanswered < UNANSWERED_TOLERATED => {
                self.unanswered += 1;
                None
            }
            Err(e) => Some(e.message),
        }
    }
}

/// Resolves, with the reason, once the access no longer holds.
pub(crate) async fn lost(s: AppState, headers: HeaderMap, access: Access) -> String {
    let mut watch = Watch::default();
    loop {
        tokio::time::sleep(RECHECK_EVERY).await;
        if let Some(why) = watch.lost(&s, &headers, &access).await {
            return why;
        }
    }
}
