//! The audit log and exec sessions (admins of the org acted in).

use super::*;

// ---------------------------------------------------------------------- audit

/// `10m`, `2h`, `1d`, or an RFC 3339 time.
pub fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let bad =
        || ApiError::bad_request(format!("invalid since {s:?}: use a duration like 10m, 2h, 1d or an RFC 3339 time"));
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?);
    let n: i64 = n.parse().map_err(|_| bad())?;
    // Checked: a huge number is refused, never a panic.
    let d = match unit {
        "s" => chrono::Duration::try_seconds(n),
        "m" => chrono::Duration::try_minutes(n),
        "h" => chrono::Duration::try_hours(n),
        "d" => chrono::Duration::try_days(n),
        _ => return Err(bad()),
    }
    .ok_or_else(bad)?;
    chrono::Utc::now().checked_sub_signed(d).ok_or_else(bad)
}

/// `?limit=`: 1 to `MAX_LIST`, 100 when not given.
fn limit(asked: Option<u32>) -> Result<u64, ApiError> {
    match asked.unwrap_or(100) {
        n @ 1..=api::MAX_LIST => Ok(u64::from(n)),
        n => Err(ApiError::bad_request(format!("limit {n}: use 1 to {}", api::MAX_LIST))),
    }
}

#[utoipa::path(get, path = "/v1/orgs/{org}/audit", tag = "audit", params(api::AuditQuery), responses((status = 200, body = api::Items<api::AuditRecord>)))]
pub async fn list_audit(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Params(q): Params<api::AuditQuery>,
) -> Result<Json<api::Items<api::AuditRecord>>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "audit.list").await?;
    let decision = match q.outcome.as_deref() {
        None | Some("") => None,
        Some(d @ ("allowed" | "denied")) => Some(d.to_string()),
        Some(other) => return Err(ApiError::bad_request(format!("unknown outcome {other:?}: use allowed or denied"))),
    };
    let f = cloudops_store::AuditFilter {
        since: q.since.as_deref().map(parse_since).transpose()?,
        principal: q.principal,
        decision,
        limit: limit(q.limit)?,
    };
    let rows = s.deps.store.audit_list(&org.id, &f).await?;
    Ok(items(
        rows.into_iter()
            .map(|r| api::AuditRecord {
                id: r.id,
                at: r.at,
                principal: r.principal_name,
                mode: r.mode,
                target: r.target,
                op: r.op,
                verb: r.verb,
                decision: r.decision,
                reason: r.reason,
                result: r.result,
                latency_us: r.latency_us,
            })
            .collect(),
    ))
}

// ---------------------------------------------------------------------- exec sessions

fn session_out(r: &cloudops_store::exec_session::Model) -> api::ExecSession {
    api::ExecSession {
        id: r.id.clone(),
        principal: r.principal_name.clone(),
        target: r.target.clone(),
        namespace: r.namespace.clone(),
        pod: r.pod.clone(),
        container: r.container.clone(),
        command: serde_json::from_str(&r.command).ok(),
        tty: r.tty,
        started_at: r.started_at,
        ended_at: r.ended_at,
        end: r.end.clone(),
        exit_code: r.exit_code,
        total_bytes: r.total_bytes,
        recorded_bytes: r.recorded_bytes,
        truncated: r.truncated,
    }
}

/// Exec sessions, newest first: who ran what where, and how it ended.
#[utoipa::path(get, path = "/v1/orgs/{org}/sessions", tag = "audit", operation_id = "list_exec_sessions", params(api::SessionsQuery), responses((status = 200, body = api::Items<api::ExecSession>)))]
pub async fn list_sessions(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Params(q): Params<api::SessionsQuery>,
) -> Result<Json<api::Items<api::ExecSession>>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "audit.sessions").await?;
    let f = cloudops_store::SessionFilter {
        since: q.since.as_deref().map(parse_since).transpose()?,
        principal: q.principal,
        limit: limit(q.limit)?,
    };
    let rows = s.deps.store.exec_sessions(&org.id, &f).await?;
    Ok(items(rows.iter().map(session_out).collect()))
}

/// One exec session with its recording: `frames` are `[ms since start, "i"|"o"|"e", base64]`.
#[utoipa::path(get, path = "/v1/orgs/{org}/sessions/{id}", tag = "audit", operation_id = "get_exec_session", responses((status = 200, body = api::ExecSessionReplay)))]
pub async fn get_session(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<api::ExecSessionReplay>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "audit.replay").await?;
    let row = s.deps.store.exec_session(&org.id, &id).await?;
    let frames =
        row.recording.as_deref().unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    Ok(Json(api::ExecSessionReplay { session: session_out(&row), frames }))
}
