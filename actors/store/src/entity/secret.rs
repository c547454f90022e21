use sea_orm::entity::prelude::*;

/// A value an org keeps for its connections (`planton secret set`), sealed with the control
/// plane's secrets key (AES-256-GCM, see `sealing.rs`). The key is never in the database.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "secrets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub org_id: String,
    pub name: String,
    /// `v1.` + base64url(nonce ‖ ciphertext ‖ tag), bound to the org and the name.
    pub sealed: String,
    pub created_at: ChronoDateTimeUtc,
    pub updated_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
