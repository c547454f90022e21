//! The sign-in routes under `/v1/auth/oidc`. All are public: they are how one gets a key.

use std::{sync::Arc, time::Duration};

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use cloudops_api as api;
use cloudops_store::OidcIdentity;
use openidconnect::{
    AuthorizationCode, CsrfToken, DeviceCodeErrorResponseType, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RefreshToken, RequestTokenError, Scope, TokenResponse,
    core::{CoreAuthenticationFlow, CoreDeviceAuthorizationResponse, CoreTokenResponse},
};
use tracing::info;

use super::{CLI_KEY_TTL_MINUTES, OidcError, Provider, cli_handoff, not_configured, provider::error_chain};
use crate::{
    ApiError,
    console::{self, SESSION_TTL_HOURS},
    routes::{AppState, Body, Params},
};

/// The cookie that ties a console sign-in to the browser that started it (RFC 6749 §10.12);
/// over HTTPS with the `__Host-` prefix, so that no sibling domain can plant one.
const STATE_COOKIE: &str = "cloudops_oidc_state";
const STATE_COOKIE_HTTPS: &str = "__Host-cloudops_oidc_state";
/// The longest `return_to` kept (a console path; anything longer returns to `/`).
const MAX_RETURN_TO: usize = 2048;
/// How long a console sign-in may take at the provider.
const LOGIN_TTL_MINUTES: i64 = 10;
/// How long one `device/token` call waits for the user before answering "pending".
const LONG_POLL: Duration = Duration::from_secs(20);

pub(super) fn provider(s: &AppState) -> Result<&Arc<Provider>, ApiError> {
    s.deps.config.oidc.as_ref().ok_or_else(not_configured)
}

#[utoipa::path(get, path = "/v1/auth/oidc", tag = "identity", operation_id = "oidc_offer", responses((status = 200, description = "Whether and where people sign in through an identity provider", body = api::OidcOffer)))]
pub async fn offer(State(s): State<AppState>) -> Json<api::OidcOffer> {
    let p = s.deps.config.oidc.as_ref();
    Json(api::OidcOffer {
        enabled: p.is_some(),
        issuer: p.map(|p| p.settings.issuer.clone()),
        login_url: p.map(|_| "/v1/auth/oidc/login".to_string()),
    })
}

/// Only a path of this origin: never another site (an open redirect), nor `//host`.
fn same_origin_path(p: Option<&str>) -> String {
    match p {
        Some(p)
            if p.len() <= MAX_RETURN_TO
                && p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && !p.chars().any(char::is_control) =>
        {
            p.to_string()
        }
        _ => "/".to_string(),
    }
}

fn state_cookie_name(s: &AppState) -> &'static str {
    if s.deps.config.public_endpoint.starts_with("https://") { STATE_COOKIE_HTTPS } else { STATE_COOKIE }
}

fn state_cookie(s: &AppState, value: &str, max_age: i64) -> HeaderValue {
    let name = state_cookie_name(s);
    let secure = if name == STATE_COOKIE_HTTPS { "; Secure" } else { "" };
    // Lax: the provider sends the browser back with a top-level navigation from its own site.
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"))
        .expect("cookie header")
}

#[utoipa::path(get, path = "/v1/auth/oidc/login", tag = "identity", operation_id = "oidc_login", params(api::OidcLoginQuery), responses((status = 303, description = "To the identity provider's sign-in page"), (status = 404, description = "No identity provider is configured", body = api::ErrorResponse), (status = 503, description = "The identity provider cannot be reached", body = api::ErrorResponse)))]
pub async fn login(State(s): State<AppState>, Params(q): Params<api::OidcLoginQuery>) -> Result<Response, ApiError> {
    let p = provider(&s)?;
    let cli = cli_handoff::requested(&q)?;
    let m = p.metadata(false).await?;
    let client = p.client(&m);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut req =
        client.authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random);
    // The console does not refresh: no refresh token asked for, none to keep. A CLI does.
    for scope in p.settings.scopes.iter().filter(|s| cli.is_some() || *s != "offline_access") {
        req = req.add_scope(Scope::new(scope.clone()));
    }
    let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
    let pending = cloudops_store::PendingLogin {
        verifier: verifier.secret().clone(),
        nonce: nonce.secret().clone(),
        return_to: same_origin_path(q.return_to.as_deref()),
        cli,
    };
    s.deps.store.oidc_login_begin(state.secret(), &pending, chrono::Duration::minutes(LOGIN_TTL_MINUTES)).await?;
    let mut res = Redirect::to(url.as_str()).into_response();
    res.headers_mut().insert(header::SET_COOKIE, state_cookie(&s, state.secret(), LOGIN_TTL_MINUTES * 60));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// The console's sign-in page, told why a sign-in did not finish.
fn back_to_console(message: &str) -> Response {
    let message: String = message.chars().take(300).collect();
    let q: String = form_urlencoded::Serializer::new(String::new()).append_pair("sign_in_error", &message).finish();
    Redirect::to(&format!("/?{q}")).into_response()
}

#[utoipa::path(get, path = "/v1/auth/oidc/callback", tag = "identity", operation_id = "oidc_callback", params(api::OidcCallbackQuery), responses((status = 303, description = "Signed in: the session cookie is set and the browser returns to the console (or to its sign-in page, told why not)"), (status = 404, description = "No identity provider is configured", body = api::ErrorResponse)))]
pub async fn callback(
    State(s): State<AppState>,
    headers: HeaderMap,
    Params(q): Params<api::OidcCallbackQuery>,
) -> Result<Response, ApiError> {
    let p = provider(&s)?.clone();
    let mut res = match finish(&s, &p, &headers, &q).await {
        Ok(res) => res,
        Err((e, cli)) => {
            info!(error = %e.0.message, "a sign-in through the identity provider failed");
            match cli {
                Some(redirect) => cli_handoff::back_to_cli(&redirect, &e.0.message),
                None => back_to_console(&e.0.message),
            }
        }
    };
    // The state cookie has done its job either way.
    res.headers_mut().append(header::SET_COOKIE, state_cookie(&s, "", 0));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// The provider's answer: a console session, or a CLI's hand-off. A failure names the CLI's
/// loopback once the sign-in is known to be a CLI's, so that the CLI hears why.
async fn finish(
    s: &AppState,
    p: &Provider,
    headers: &HeaderMap,
    q: &api::OidcCallbackQuery,
) -> Result<Response, (ApiError, Option<String>)> {
    let pending = started(s, headers, q).await.map_err(|e| (e, None))?;
    let cli = pending.cli.as_ref().map(|c| c.redirect.clone());
    redeem(s, p, q, pending).await.map_err(|e| (e, cli))
}

/// The sign-in this answer belongs to, if this browser started it and it is still pending.
async fn started(
    s: &AppState,
    headers: &HeaderMap,
    q: &api::OidcCallbackQuery,
) -> Result<cloudops_store::PendingLogin, ApiError> {
    if let Some(error) = &q.error {
        let why = q.error_description.as_deref().unwrap_or(error);
        return Err(OidcError::Refused(format!("the identity provider did not sign you in: {why}")).into());
    }
    let (Some(_), Some(state)) = (&q.code, &q.state) else {
        return Err(ApiError::bad_request("the identity provider's answer has no `code` and `state`: sign in again"));
    };
    let started_here = console::cookie_value(headers, state_cookie_name(s))
        .is_some_and(|c| console::same_secret(c.as_bytes(), state.as_bytes()));
    if !started_here {
        return Err(OidcError::Refused(
            "this sign-in was not started in this browser (or took longer than 10 minutes): sign in again".into(),
        )
        .into());
    }
    let pending = s.deps.store.oidc_login_take(state).await?.ok_or_else(|| {
        ApiError::from(OidcError::Refused("this sign-in expired or was used already: sign in again".into()))
    })?;
    Ok(pending)
}

/// Redeems the provider's code (with the PKCE verifier), verifies the ID token (with the
/// nonce), and signs the person in: a console session, or a hand-off to the CLI that asked.
async fn redeem(
    s: &AppState,
    p: &Provider,
    q: &api::OidcCallbackQuery,
    pending: cloudops_store::PendingLogin,
) -> Result<Response, ApiError> {
    let code = q.code.clone().unwrap_or_default();
    let m = p.metadata(false).await?;
    let client = p.client(&m);
    let token = client
        .exchange_code(AuthorizationCode::new(code))
        .map_err(|e| OidcError::Provider(format!("the identity provider has no token endpoint: {e}")))?
        .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
        .request_async(&p.send())
        .await
        .map_err(|e| token_error(p, e))?;
    let id_token = token
        .id_token()
        .ok_or_else(|| OidcError::Token("the identity provider answered without an ID token".into()))?;
    let who = p.identify(id_token, &Nonce::new(pending.nonce)).await?;
    if let Some(cli) = pending.cli {
        return cli_handoff::hand_off(s, p, &who, &token, cli).await;
    }
    let ttl = chrono::Duration::hours(SESSION_TTL_HOURS);
    let (_, key, _) = sign_in(s, p, &who, ttl, None).await?;
    let (session, _) = s.deps.store.console_sign_in(&key.raw, ttl).await?.ok_or_else(|| {
        ApiError::new(cloudops_schemas::v1::ErrorCode::Internal, "the new session key did not sign in")
    })?;
    let mut res = Redirect::to(&pending.return_to).into_response();
    res.headers_mut().insert(header::SET_COOKIE, console::cookie(&s.deps, &session, ttl.num_seconds()));
    Ok(res)
}

/// Makes or updates the person's principal in the configured org and mints a key for `ttl`.
/// A refresh names the principal whose sign-in it renews (`renewing`): the token must name the
/// same person.
async fn sign_in(
    s: &AppState,
    p: &Provider,
    who: &OidcIdentity,
    ttl: chrono::Duration,
    renewing: Option<&cloudops_store::principal::Model>,
) -> Result<(cloudops_store::principal::Model, cloudops_store::MintedKey, String), ApiError> {
    if let Some(r) = renewing
        && (r.oidc_issuer.as_deref() != Some(who.issuer.as_str())
            || r.oidc_subject.as_deref() != Some(who.subject.as_str()))
    {
        return Err(OidcError::Token(
            "the refresh token is someone else's than the key it renews: run planton login --oidc".into(),
        )
        .into());
    }
    let org = org_of(s, p).await?;
    let (principal, key) = s.deps.store.oidc_sign_in(&org.id, who, ttl).await?;
    info!(principal = %principal.name, principal_id = %principal.id, groups = who.groups.len(), "signed in through the identity provider");
    Ok((principal, key, org.name))
}

/// The org people sign in to (`--oidc-org`).
pub(super) async fn org_of(s: &AppState, p: &Provider) -> Result<cloudops_store::org::Model, ApiError> {
    Ok(match s.deps.store.org_by_name(&p.settings.org).await {
        Err(cloudops_store::StoreError::NotFound { .. }) => {
            return Err(OidcError::Config(format!(
                "the org people sign in to (--oidc-org {}) does not exist",
                p.settings.org
            ))
            .into());
        }
        org => org?,
    })
}

/// A sign-in for the CLI: a key that expires, and the provider's refresh token to renew it.
async fn signed_in(
    s: &AppState,
    p: &Provider,
    token: &CoreTokenResponse,
    previous_refresh: Option<String>,
    renewing: Option<&cloudops_store::principal::Model>,
) -> Result<Response, ApiError> {
    let id_token = token.id_token().ok_or_else(|| {
        OidcError::Token(
            "the identity provider answered without an ID token: sign in again (planton login --oidc)".into(),
        )
    })?;
    // The device flow and refreshes carry no nonce.
    let who = p.identify(id_token, |_: Option<&Nonce>| Ok(())).await?;
    let (principal, key, org) = sign_in(s, p, &who, chrono::Duration::minutes(CLI_KEY_TTL_MINUTES), renewing).await?;
    let refresh = token.refresh_token().map(|t| t.secret().clone()).or(previous_refresh);
    Ok(signed_in_answer(&principal, key, org, refresh))
}

/// A CLI's sign-in, as it keeps it.
pub(super) fn signed_in_answer(
    principal: &cloudops_store::principal::Model,
    key: cloudops_store::MintedKey,
    org: String,
    refresh_token: Option<String>,
) -> Response {
    let body = api::SignedIn {
        api_key: key.raw,
        expires_at: key.row.expires_at.unwrap_or_else(chrono::Utc::now),
        refresh_token,
        principal: principal.name.clone(),
        org,
        groups: cloudops_store::groups_of(principal),
    };
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

pub(super) fn token_error<RE: std::error::Error + 'static, T: openidconnect::ErrorResponse + 'static>(
    p: &Provider,
    e: RequestTokenError<RE, T>,
) -> OidcError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            OidcError::Token(format!("the identity provider refused: {}", r.to_string().trim()))
        }
        other => OidcError::Provider(format!("cannot reach {}: {}", p.settings.issuer, error_chain(&other))),
    }
}

#[utoipa::path(post, path = "/v1/auth/oidc/device", tag = "identity", operation_id = "oidc_device_start", responses((status = 200, description = "Show the code and the page; then poll `device/token`", body = api::DeviceSignIn), (status = 404, description = "No identity provider, or it offers no device flow", body = api::ErrorResponse), (status = 503, description = "The identity provider cannot be reached", body = api::ErrorResponse)))]
pub async fn device_start(State(s): State<AppState>) -> Result<Response, ApiError> {
    let p = provider(&s)?;
    let m = p.metadata(false).await?;
    let url = m.additional_metadata().device_authorization_endpoint.clone().ok_or_else(|| {
        ApiError::new(
            cloudops_schemas::v1::ErrorCode::NotFound,
            format!("{} offers no device sign-in: use planton login --oidc without --device", p.settings.issuer),
        )
    })?;
    let client = p.client(&m).set_device_authorization_url(url);
    let mut req = client.exchange_device_code();
    for scope in &p.settings.scopes {
        req = req.add_scope(Scope::new(scope.clone()));
    }
    let d: CoreDeviceAuthorizationResponse = req.request_async(&p.send()).await.map_err(|e| token_error(p, e))?;
    let body = api::DeviceSignIn {
        user_code: d.user_code().secret().clone(),
        verification_uri: d.verification_uri().url().to_string(),
        verification_uri_complete: d.verification_uri_complete().map(|u| u.secret().clone()),
        device_code: d.device_code().secret().clone(),
        interval_secs: d.interval().as_secs(),
        expires_in_secs: d.expires_in().as_secs(),
    };
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

#[utoipa::path(post, path = "/v1/auth/oidc/device/token", tag = "identity", operation_id = "oidc_device_token", request_body = api::DeviceTokenBody, responses((status = 200, description = "Signed in", body = api::SignedIn), (status = 202, description = "Not approved yet: poll again", body = api::DevicePending), (status = 401, description = "The provider refused the code", body = api::ErrorResponse), (status = 403, description = "The user refused, or the code expired", body = api::ErrorResponse), (status = 404, description = "No identity provider is configured", body = api::ErrorResponse), (status = 503, description = "The identity provider cannot be reached", body = api::ErrorResponse)))]
pub async fn device_token(
    State(s): State<AppState>,
    Body(b): Body<api::DeviceTokenBody>,
) -> Result<Response, ApiError> {
    let p = provider(&s)?;
    let _waiting = p.polls.try_acquire().map_err(|_| {
        ApiError::new(
            cloudops_schemas::v1::ErrorCode::Unavailable,
            "too many device sign-ins are waiting at once: try again in a few seconds",
        )
    })?;
    if b.device_code.is_empty() {
        return Err(ApiError::bad_request("`device_code` is required: the one `POST /v1/auth/oidc/device` answered"));
    }
    let m = p.metadata(false).await?;
    let client = p.client(&m);
    // What the poll needs of the device answer is the code; the provider keeps its expiry.
    let details: CoreDeviceAuthorizationResponse = serde_json::from_value(serde_json::json!({
        "device_code": b.device_code,
        "user_code": "-",
        "verification_uri": "https://device.invalid/",
        "expires_in": 3600,
        "interval": 5,
    }))
    .map_err(|e| ApiError::bad_request(format!("`device_code`: {e}")))?;
    let req = client
        .exchange_device_access_token(&details)
        .map_err(|e| OidcError::Provider(format!("the identity provider has no token endpoint: {e}")))?;
    let send = p.send();
    // Polled until LONG_POLL has passed, checked between requests (never cut in flight: a
    // device code is used once, and an answer dropped would be a sign-in lost). Past it, the
    // library reports the code expired: that means "not yet" here, and the next call asks the
    // provider again, which says whether the code really expired.
    let started = std::time::Instant::now();
    let polled = req.request_async(&send, tokio::time::sleep, Some(LONG_POLL)).await;
    let token = match polled {
        Err(RequestTokenError::ServerResponse(r))
            if *r.error() == DeviceCodeErrorResponseType::ExpiredToken && started.elapsed() >= LONG_POLL =>
        {
            let pending = api::DevicePending { interval_secs: 1 };
            return Ok((StatusCode::ACCEPTED, [(header::CACHE_CONTROL, "no-store")], Json(pending)).into_response());
        }
        Err(RequestTokenError::ServerResponse(r)) => {
            return Err(match r.error() {
                DeviceCodeErrorResponseType::ExpiredToken => {
                    OidcError::Refused("the sign-in code expired: run planton login --oidc again".into())
                }
                DeviceCodeErrorResponseType::AccessDenied => {
                    OidcError::Refused("the sign-in was refused at the identity provider".into())
                }
                _ => OidcError::Token(format!("the identity provider refused: {}", r.to_string().trim())),
            }
            .into());
        }
        Err(e) => return Err(token_error(p, e).into()),
        Ok(token) => token,
    };
    signed_in(&s, p, &token, None, None).await
}

#[utoipa::path(post, path = "/v1/auth/oidc/refresh", tag = "identity", operation_id = "oidc_refresh", request_body = api::RefreshBody, responses((status = 200, description = "A new key; the groups as the provider says them now", body = api::SignedIn), (status = 401, description = "The provider no longer accepts the refresh token", body = api::ErrorResponse), (status = 404, description = "No identity provider is configured", body = api::ErrorResponse), (status = 503, description = "The identity provider cannot be reached", body = api::ErrorResponse)))]
pub async fn refresh(State(s): State<AppState>, Body(b): Body<api::RefreshBody>) -> Result<Response, ApiError> {
    let p = provider(&s)?;
    if b.refresh_token.is_empty() || b.api_key.is_empty() {
        return Err(ApiError::bad_request("`refresh_token` and `api_key` (the key it renews) are required"));
    }
    // The key being renewed must still stand: an admin who revoked it ended this sign-in.
    let renewing = s.deps.store.renewable_key(&cloudops_store::hash_key(&b.api_key)).await?.ok_or_else(|| {
        ApiError::from(OidcError::Token(
            "this sign-in was revoked, or its key is unknown here: run planton login --oidc".into(),
        ))
    })?;
    let m = p.metadata(false).await?;
    let client = p.client(&m);
    let rt = RefreshToken::new(b.refresh_token.clone());
    let token = client
        .exchange_refresh_token(&rt)
        .map_err(|e| OidcError::Provider(format!("the identity provider has no token endpoint: {e}")))?
        .request_async(&p.send())
        .await
        .map_err(|e| match e {
            RequestTokenError::ServerResponse(r) => OidcError::Token(format!(
                "the identity provider no longer accepts this sign-in ({}): run planton login --oidc",
                r.to_string().trim()
            )),
            other => token_error(p, other),
        })?;
    signed_in(&s, p, &token, Some(b.refresh_token), Some(&renewing)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_only_to_this_origin() {
        assert_eq!(same_origin_path(Some("/orgs/acme?tab=1")), "/orgs/acme?tab=1");
        let long = format!("/{}", "a".repeat(MAX_RETURN_TO));
        for bad in ["https://evil.example/", "//evil.example/", "/\\evil.example", "evil", "/a\nb", "", &long] {
            assert_eq!(same_origin_path(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(same_origin_path(None), "/");
    }
}
