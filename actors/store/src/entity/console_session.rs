use sea_orm::entity::prelude::*;

/// A web console sign-in: a cookie token (stored hashed) bound to the API key it was made
/// from, so that revoking the key ends the session too.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "console_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    pub api_key_id: String,
    pub principal_id: String,
    /// Sent back in `X-CSRF-Token` on every mutating request.
    pub csrf: String,
    pub created_at: ChronoDateTimeUtc,
    pub expires_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
