use sea_orm::entity::prelude::*;

/// A CLI's sign-in handed to its loopback: the one-time code (stored hashed) the browser
/// carried there, redeemed once with the CLI's PKCE verifier for a key.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oidc_exchanges")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub code_hash: String,
    /// S256 of the CLI's verifier (base64url, no padding).
    pub challenge: String,
    pub principal_id: String,
    /// The org's name, as the sign-in answers it.
    pub org: String,
    /// The provider's refresh token, sealed with the secrets key (never stored in the clear).
    pub refresh_sealed: Option<String>,
    pub expires_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
