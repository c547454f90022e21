//! Sign-in through the company's identity provider (OpenID Connect), brokered by the gateway:
//! the client secret stays here, the CLI and the console only ever hold what a sign-in gives.
//!
//! - The console: authorization code flow with PKCE (`login` → the provider → `callback`),
//!   ending in the same cookie session as an API-key sign-in.
//! - The CLI: with a browser, the same code flow handed to the CLI's loopback
//!   (`cli_handoff.rs`); without one, the device flow (`device` → the user approves at the
//!   provider → `device/token`); then `refresh` with the provider's refresh token.
//!
//! Every sign-in verifies the provider's ID token, makes or updates the person's principal
//! (issuer + subject; the verified email as its name; the groups the token lists) and mints an
//! API key that expires: the request path then authenticates it like any key.

pub(crate) mod cli_handoff;
pub(crate) mod handlers;
mod provider;

pub use provider::{OidcSettings, Provider};

use cloudops_schemas::v1::ErrorCode;

use crate::ApiError;

/// How long a CLI sign-in's key lasts; the CLI renews it with the refresh token before then.
pub const CLI_KEY_TTL_MINUTES: i64 = 60;

/// Why a sign-in through the identity provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// `cloudops serve` was given settings that cannot work.
    #[error("identity provider settings: {0}")]
    Config(String),
    /// The provider could not be reached, or answered something that is not OpenID Connect.
    #[error("{0}")]
    Provider(String),
    /// The provider's tokens do not verify, or it refused the grant.
    #[error("{0}")]
    Token(String),
    /// The user refused at the provider, or the sign-in took too long.
    #[error("{0}")]
    Refused(String),
}

impl From<OidcError> for ApiError {
    fn from(e: OidcError) -> Self {
        let code = match &e {
            OidcError::Config(_) => ErrorCode::Internal,
            OidcError::Provider(_) => ErrorCode::Unavailable,
            OidcError::Token(_) => ErrorCode::Unauthenticated,
            OidcError::Refused(_) => ErrorCode::PermissionDenied,
        };
        ApiError::new(code, e.to_string())
    }
}

fn not_configured() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "sign-in through an identity provider is not configured on this control plane (cloudops serve --oidc-issuer …): use an API key",
    )
}
