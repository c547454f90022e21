use sea_orm::entity::prelude::*;

/// A runner. Its private key is never stored: only the generation its certificates carry and
/// the fingerprint of the last one issued.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "runners")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// None for a platform runner.
    pub org_id: Option<String>,
    pub name: String,
    pub generation: i32,
    pub cert_fingerprint: Option<String>,
    pub service_account_id: String,
    pub revoked: bool,
    pub last_seen_at: Option<ChronoDateTimeUtc>,
    pub version: Option<String>,
    pub created_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
