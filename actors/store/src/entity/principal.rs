use sea_orm::entity::prelude::*;

/// A user, a service account (every runner has one, provisioned with its credentials), or a
/// group of the identity provider (it holds grants, never keys: its members hold them through it).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "principals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    /// "user", "service_account" or "group".
    pub kind: String,
    pub name: String,
    pub platform_operator: bool,
    /// Set for a runner's service account.
    pub runner_id: Option<String>,
    pub created_at: ChronoDateTimeUtc,
    /// A user made from an ID token: its issuer and subject (`sub`), which name it for good
    /// (the email, its name here, may change).
    pub oidc_issuer: Option<String>,
    pub oidc_subject: Option<String>,
    /// The groups the ID token listed at the user's last sign-in or refresh (a JSON array).
    pub groups: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
