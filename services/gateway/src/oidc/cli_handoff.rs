//! A CLI's sign-in through the browser (`planton login --oidc`): the CLI listens on loopback
//! and opens `login?cli_redirect=…&cli_challenge=…`; once the provider has signed the person
//! in, the browser is sent to that loopback with a one-time code, which only the CLI holding
//! the PKCE verifier can redeem (`POST /v1/auth/oidc/cli/token`). The code lives 2 minutes;
//! the provider's refresh token waits for it sealed, and the key is minted when it is redeemed.
//!
//! The loopback must be this machine's (`http://127.0.0.1`, `[::1]` or `localhost`): a code
//! sent anywhere else could be redeemed by whoever made the link.

use axum::{
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use cloudops_api as api;
use cloudops_store::{CliHandoff, Exchange, OidcIdentity};
use openidconnect::{OAuth2TokenResponse, core::CoreTokenResponse};
use sha2::{Digest, Sha256};

use super::{CLI_KEY_TTL_MINUTES, OidcError, Provider, handlers};
use crate::{
    ApiError, console,
    routes::{AppState, Body},
};

/// How long a CLI has to redeem the code its loopback received.
const CODE_TTL_SECS: i64 = 120;
/// What the sealed refresh token is bound to (with the code's hash).
const SEAL_SCOPE: &str = "oidc-cli-handoff";

/// The CLI hand-off a sign-in asks for, checked; None for the console's.
pub(super) fn requested(q: &api::OidcLoginQuery) -> Result<Option<CliHandoff>, ApiError> {
    match (&q.cli_redirect, &q.cli_challenge) {
        (None, None) => Ok(None),
        (Some(redirect), Some(challenge)) => {
            if !loopback(redirect) {
                return Err(ApiError::bad_request(format!(
                    "cli_redirect {redirect:?}: must be http://127.0.0.1:PORT/…, http://[::1]:PORT/… or http://localhost:PORT/… (the CLI's own machine)"
                )));
            }
            let s256 =
                challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !s256 {
                return Err(ApiError::bad_request(
                    "cli_challenge: must be a PKCE S256 challenge (43 base64url characters)",
                ));
            }
            Ok(Some(CliHandoff { redirect: redirect.clone(), challenge: challenge.clone() }))
        }
        _ => Err(ApiError::bad_request("cli_redirect and cli_challenge go together")),
    }
}

/// `http://` to this machine, on an explicit port, with no credentials or fragment.
fn loopback(redirect: &str) -> bool {
    let Ok(u) = url::Url::parse(redirect) else { return false };
    let host_ok = match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    u.scheme() == "http"
        && host_ok
        && u.port().is_some()
        && u.username().is_empty()
        && u.password().is_none()
        && u.fragment().is_none()
}

/// `redirect` with one more query parameter.
fn with_param(redirect: &str, key: &str, value: &str) -> String {
    let mut u = url::Url::parse(redirect).expect("checked at the start of the sign-in");
    u.query_pairs_mut().append_pair(key, value);
    u.to_string()
}

/// The CLI's loopback, told why the sign-in did not finish.
pub(super) fn back_to_cli(redirect: &str, message: &str) -> Response {
    let message: String = message.chars().take(300).collect();
    Redirect::to(&with_param(redirect, "error", &message)).into_response()
}

/// The person is signed in at the provider: their principal is brought up to date, and the
/// browser takes a one-time code to the CLI.
pub(super) async fn hand_off(
    s: &AppState,
    p: &Provider,
    who: &OidcIdentity,
    token: &CoreTokenResponse,
    cli: CliHandoff,
) -> Result<Response, ApiError> {
    let org = handlers::org_of(s, p).await?;
    let principal = s.deps.store.oidc_principal(&org.id, who).await?;
    let secret: [u8; 32] = rand::random();
    let code = data_encoding::BASE64URL_NOPAD.encode(&secret);
    let seal_name = format!("{SEAL_SCOPE}/{}", cloudops_store::hash_key(&code));
    let exchange = Exchange {
        challenge: cli.challenge,
        principal_id: principal.id,
        org: org.name,
        refresh_sealed: token.refresh_token().map(|t| s.deps.secrets.seal("", &seal_name, t.secret().as_bytes())),
    };
    s.deps.store.oidc_exchange_put(&code, &exchange, chrono::Duration::seconds(CODE_TTL_SECS)).await?;
    Ok(Redirect::to(&with_param(&cli.redirect, "code", &code)).into_response())
}

#[utoipa::path(post, path = "/v1/auth/oidc/cli/token", tag = "identity", operation_id = "oidc_cli_token", request_body = api::CliTokenBody, responses((status = 200, description = "Signed in", body = api::SignedIn), (status = 401, description = "Unknown, used or expired code, or the wrong verifier", body = api::ErrorResponse), (status = 404, description = "No identity provider is configured", body = api::ErrorResponse)))]
pub async fn cli_token(State(s): State<AppState>, Body(b): Body<api::CliTokenBody>) -> Result<Response, ApiError> {
    handlers::provider(&s)?;
    let refused = || {
        ApiError::from(OidcError::Token(
            "this sign-in code is unknown, used or expired: run planton login --oidc again".into(),
        ))
    };
    let x = s.deps.store.oidc_exchange_take(&b.code).await?.ok_or_else(refused)?;
    let s256 = data_encoding::BASE64URL_NOPAD.encode(&Sha256::digest(b.verifier.as_bytes()));
    if !console::same_secret(s256.as_bytes(), x.challenge.as_bytes()) {
        return Err(refused());
    }
    let principal = s.deps.store.principal_by_id(&x.principal_id).await?.ok_or_else(refused)?;
    let refresh = match &x.refresh_sealed {
        Some(sealed) => {
            let name = format!("{SEAL_SCOPE}/{}", cloudops_store::hash_key(&b.code));
            let plain = s.deps.secrets.open("", &name, sealed).map_err(cloudops_store::StoreError::from)?;
            Some(
                String::from_utf8(plain)
                    .map_err(|_| OidcError::Token("the sealed refresh token is not text".into()))?,
            )
        }
        None => None,
    };
    let key = s.deps.store.mint_sign_in_key(&principal.id, chrono::Duration::minutes(CLI_KEY_TTL_MINUTES)).await?;
    Ok(handlers::signed_in_answer(&principal, key, x.org, refresh))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loopback_is_this_machines() {
        for ok in ["http://127.0.0.1:5000/callback", "http://[::1]:5000/cb", "http://localhost:5000/"] {
            assert!(loopback(ok), "{ok}");
        }
        for bad in [
            "https://127.0.0.1:5000/callback",
            "http://127.0.0.1/callback",
            "http://evil.example:5000/",
            "http://127.0.0.1.evil.example:5000/",
            "http://user:pw@127.0.0.1:5000/",
            "http://127.0.0.1:5000/#x",
            "javascript:alert(1)",
        ] {
            assert!(!loopback(bad), "{bad}");
        }
        assert_eq!(with_param("http://127.0.0.1:5000/cb?a=1", "code", "x y"), "http://127.0.0.1:5000/cb?a=1&code=x+y");
    }
}
