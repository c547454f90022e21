use sea_orm::entity::prelude::*;

/// A console sign-in through the identity provider, between the redirect to it and its answer:
/// found by the `state` it was sent with (stored hashed), used once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "oidc_logins")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub state_hash: String,
    /// The PKCE code verifier, sent with the code to the token endpoint.
    pub verifier: String,
    /// The nonce the ID token must carry.
    pub nonce: String,
    /// The console path to return to (same origin).
    pub return_to: String,
    /// A CLI's sign-in: its loopback URL, where the browser is sent with a one-time code.
    pub cli_redirect: Option<String>,
    /// The CLI's PKCE challenge (S256) for that code.
    pub cli_challenge: Option<String>,
    pub expires_at: ChronoDateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
