//! The audit log and exec sessions (admins of the org acted in).

use super::*;

// ---------------------------------------------------------------------- audit

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    principal: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
}

/// `10m`, `2h`, `1d`, or an RFC 3339 time.
pub fn parse_since(s: &str) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    let bad =
        || ApiError::bad_request(format!("invalid --since {s:?}: use a duration like 10m, 2h, 1d or an RFC 3339 time"));
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

pub async fn list_audit(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
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
        limit: q.limit.unwrap_or(100).min(10_000),
    };
    let rows = s.deps.store.audit_list(&org.id, &f).await?;
    Ok(items(
        rows.into_iter()
            .map(|r| json!({"id": r.id, "at": r.at, "principal": r.principal_name, "mode": r.mode, "target": r.target, "op": r.op,
                            "verb": r.verb, "decision": r.decision, "reason": r.reason, "result": r.result, "latency_us": r.latency_us}))
            .collect(),
    ))
}

// ---------------------------------------------------------------------- exec sessions

#[derive(Deserialize, Default)]
pub struct SessionsQuery {
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    principal: Option<String>,
    #[serde(default)]
    limit: Option<u64>,
}

fn session_json(r: &cloudops_store::exec_session::Model) -> Value {
    let command: Value = serde_json::from_str(&r.command).unwrap_or(Value::Null);
    json!({"id": r.id, "principal": r.principal_name, "target": r.target, "namespace": r.namespace, "pod": r.pod,
           "container": r.container, "command": command, "tty": r.tty, "started_at": r.started_at,
           "ended_at": r.ended_at, "end": r.end, "exit_code": r.exit_code, "total_bytes": r.total_bytes,
           "recorded_bytes": r.recorded_bytes, "truncated": r.truncated})
}

/// Exec sessions, newest first: who ran what where, and how it ended.
pub async fn list_sessions(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Query(q): Query<SessionsQuery>,
) -> Result<Json<Value>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "audit.sessions").await?;
    let f = cloudops_store::SessionFilter {
        since: q.since.as_deref().map(parse_since).transpose()?,
        principal: q.principal,
        limit: q.limit.unwrap_or(100).min(10_000),
    };
    let rows = s.deps.store.exec_sessions(&org.id, &f).await?;
    Ok(items(rows.iter().map(session_json).collect()))
}

/// One exec session with its recording: `frames` are `[ms since start, "i"|"o"|"e", base64]`.
pub async fn get_session(
    State(s): State<AppState>,
    InOrg { who, org }: InOrg,
    Path((_, id)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    authorize_admin(&s.deps, &who, &org.id, "audit.replay").await?;
    let row = s.deps.store.exec_session(&org.id, &id).await?;
    let mut v = session_json(&row);
    let frames: Vec<Value> =
        row.recording.as_deref().unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    v["frames"] = Value::Array(frames);
    Ok(Json(v))
}
