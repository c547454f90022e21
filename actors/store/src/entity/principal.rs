use sea_orm::entity::prelude::*;

/// A user or a service account (every runner has one, provisioned with its credentials).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "principals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    /// "user" or "service_account".
    pub kind: String,
    pub name: String,
    pub platform_operator: bool,
    /// Set for a runner's service account.
    pub runner_id: Option<String>,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
