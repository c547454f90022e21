use sea_orm::entity::prelude::*;

/// An API key, stored as a SHA-256 hash; the raw key is shown once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub principal_id: String,
    #[sea_orm(unique)]
    pub key_hash: String,
    /// The first characters of the key, to tell keys apart in listings.
    pub prefix: String,
    pub created_at: ChronoDateTimeUtc,
    pub revoked_at: Option<ChronoDateTimeUtc>,
    /// Set for the keys an identity-provider sign-in gets: no longer valid from then on.
    pub expires_at: Option<ChronoDateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
