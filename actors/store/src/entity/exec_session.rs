use sea_orm::entity::prelude::*;

/// One exec session: who ran what where, how it ended, and its recording (capped).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "exec_sessions")]
pub struct Model {
    /// The session id (also its JetStream subject token).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub principal_id: String,
    pub principal_name: String,
    pub runner_id: String,
    /// `connection/<name>` (admin mode) or the catalog path (developer mode).
    pub target: String,
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The command, as a JSON array of words.
    pub command: String,
    pub tty: bool,
    pub started_at: ChronoDateTimeUtc,
    pub ended_at: Option<ChronoDateTimeUtc>,
    /// The end marker: `exit: N`, `cancelled`, `error: …`.
    pub end: Option<String>,
    pub exit_code: Option<i32>,
    /// Input and output bytes seen, and how many of them the recording keeps.
    pub total_bytes: i64,
    pub recorded_bytes: i64,
    pub truncated: bool,
    /// JSON lines, one frame each: `[milliseconds since start, "i"|"o"|"e", base64]`.
    pub recording: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
