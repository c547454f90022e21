use sea_orm::entity::prelude::*;

/// Append-only: one row per authorization decision, completed with the op's outcome.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_log")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub at: ChronoDateTimeUtc,
    pub principal_id: String,
    pub principal_name: String,
    pub org_id: String,
    /// admin or developer.
    pub mode: String,
    pub target: String,
    pub op: String,
    pub verb: String,
    /// allowed or denied.
    pub decision: String,
    pub reason: String,
    pub result: Option<String>,
    pub latency_us: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
