//! The audit log and exec sessions with their recordings.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// `10m`, `2h`, `1d`, or an RFC 3339 time.
    #[serde(default)]
    pub since: Option<String>,
    /// A principal's name.
    #[serde(default)]
    pub principal: Option<String>,
    /// `allowed` or `denied`.
    #[serde(default)]
    pub outcome: Option<String>,
    /// At most this many records, newest first: 1 to 10000 (default 100).
    #[serde(default)]
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// The most records or sessions one list answers with.
pub const MAX_LIST: u32 = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditRecord {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// The principal's name.
    pub principal: String,
    /// `admin` or `developer`.
    pub mode: String,
    pub target: String,
    pub op: String,
    /// `read`, `operate` or `admin`.
    pub verb: String,
    /// `allowed` or `denied`.
    pub decision: String,
    pub reason: String,
    pub result: Option<String>,
    pub latency_us: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SessionsQuery {
    /// `10m`, `2h`, `1d`, or an RFC 3339 time.
    #[serde(default)]
    pub since: Option<String>,
    #[serde(default)]
    pub principal: Option<String>,
    /// At most this many sessions, newest first: 1 to 10000 (default 100).
    #[serde(default)]
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<u32>,
}

/// An exec session: who ran what where, and how it ended.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecSession {
    pub id: String,
    /// The principal's name.
    pub principal: String,
    pub target: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The command and its arguments.
    pub command: Option<Vec<String>>,
    pub tty: bool,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// `exit: N`, `cancelled`, `eof` or `error: …`.
    pub end: Option<String>,
    pub exit_code: Option<i32>,
    pub total_bytes: i64,
    pub recorded_bytes: i64,
    /// The recording stopped at its size limit.
    pub truncated: bool,
}

/// An exec session with its recording.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExecSessionReplay {
    #[serde(flatten)]
    pub session: ExecSession,
    /// `[ms since the start, "i" | "o" | "e", base64 bytes]`, in order.
    #[schema(value_type = Vec<Vec<Object>>)]
    pub frames: Vec<serde_json::Value>,
}
