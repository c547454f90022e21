use sea_orm::entity::prelude::*;

/// The default runner of an org, or of the platform when `org_id` is empty.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "default_runners")]
pub struct Model {
    /// The org id, or "" for the platform default.
    #[sea_orm(primary_key, auto_increment = false)]
    pub scope: String,
    pub runner_id: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
