//! Sign-in through the company's identity provider (OpenID Connect): what the control plane
//! offers, the device flow the CLI runs through it, and the session keys a sign-in gets.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// What sign-in this control plane offers (`GET /v1/auth/oidc`, public).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OidcOffer {
    /// Whether sign-in through an identity provider is configured.
    pub enabled: bool,
    /// The provider's issuer URL, when configured.
    pub issuer: Option<String>,
    /// Where the console starts a sign-in (it returns to `return_to`), when configured.
    pub login_url: Option<String>,
}

/// A device sign-in started at the identity provider: show the code and the page to the user,
/// then poll `POST /v1/auth/oidc/device/token` with `device_code`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceSignIn {
    /// The code the user types at `verification_uri`.
    pub user_code: String,
    pub verification_uri: String,
    /// The same page with the code filled in, when the provider offers one.
    pub verification_uri_complete: Option<String>,
    /// What the CLI sends back while it waits (useless without the control plane's client
    /// secret).
    pub device_code: String,
    /// Seconds between polls.
    pub interval_secs: u64,
    /// Seconds until the code expires.
    pub expires_in_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceTokenBody {
    pub device_code: String,
}

/// The device sign-in is not finished yet: poll again after `interval_secs`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DevicePending {
    pub interval_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshBody {
    pub refresh_token: String,
    /// The key this refresh renews (expired or not): refused once an admin revoked it.
    pub api_key: String,
}

/// A finished sign-in: an API key that expires, and what renews it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SignedIn {
    /// Sent as `Authorization: Bearer …` until `expires_at`.
    pub api_key: String,
    pub expires_at: DateTime<Utc>,
    /// The identity provider's refresh token, for `POST /v1/auth/oidc/refresh`; null when the
    /// provider gave none (sign in again when the key expires).
    pub refresh_token: Option<String>,
    /// The principal's name (the verified email, else the subject).
    pub principal: String,
    pub org: String,
    /// The groups the identity provider listed.
    pub groups: Vec<String>,
}

/// Where the console's sign-in returns to.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OidcLoginQuery {
    /// A path of the console (same origin); `/` when absent.
    pub return_to: Option<String>,
    /// A CLI's sign-in (`planton login --oidc`): its loopback URL
    /// (`http://127.0.0.1:PORT/…`), where the browser is sent back with a one-time `code`.
    pub cli_redirect: Option<String>,
    /// With `cli_redirect`: the CLI's PKCE challenge (S256, base64url) for that code.
    pub cli_challenge: Option<String>,
}

/// A CLI redeeming the code its loopback received, with its PKCE verifier.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CliTokenBody {
    pub code: String,
    pub verifier: String,
}

/// The identity provider's answer, sent back by the user's browser.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OidcCallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    /// Set when the provider refused (`access_denied`, …).
    pub error: Option<String>,
    pub error_description: Option<String>,
}
