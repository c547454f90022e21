//! The web console: sign-in with an API key for a cookie session, and the console's files
//! (built from `console/` and embedded at compile time; see build.rs).
//!
//! The session cookie is HttpOnly and SameSite=Strict. Requests authenticated by it that change
//! anything must also carry the session's CSRF token in `X-CSRF-Token`, which only the console's
//! own JavaScript can read (from the sign-in or session response).

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};
use cloudops_api as api;
use cloudops_schemas::v1;

use crate::{
    ApiError, Deps,
    routes::{AppState, Authenticated, Body},
};

pub const COOKIE: &str = "cloudops_session";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a console sign-in lasts.
pub const SESSION_TTL_HOURS: i64 = 12;

/// The session token from the request's cookies, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    cookie_value(headers, COOKIE)
}

/// A cookie's (non-empty) value.
pub(crate) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| v)
}

fn unauthenticated(msg: &str) -> ApiError {
    ApiError::new(v1::ErrorCode::Unauthenticated, msg)
}

/// Equal lengths and bytes, in time that does not depend on where they differ.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A request carrying the console's cookie; mutating methods must carry its CSRF token too.
pub async fn authenticate(
    deps: &Deps,
    method: &Method,
    headers: &HeaderMap,
    token: &str,
) -> Result<Authenticated, ApiError> {
    let user = deps
        .store
        .console_session(token)
        .await?
        .ok_or_else(|| unauthenticated("your console session has expired or was signed out: sign in again"))?;
    if !method.is_safe() {
        let sent = headers.get(CSRF_HEADER).map(|v| v.as_bytes()).unwrap_or_default();
        if !same_secret(sent, user.csrf.as_bytes()) {
            return Err(ApiError::new(
                v1::ErrorCode::PermissionDenied,
                "missing or wrong X-CSRF-Token header: requests signed in by cookie must carry the session's CSRF token",
            ));
        }
    }
    Ok(Authenticated { principal: user.principal.into() })
}

pub(crate) fn cookie(deps: &Deps, value: &str, max_age: i64) -> HeaderValue {
    let secure = if deps.config.public_endpoint.starts_with("https://") { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"))
        .expect("cookie header")
}

/// What the console needs to know about who is signed in: who, where, and what they may do.
async fn session_json(
    s: &AppState,
    principal: &cloudops_store::principal::Model,
    csrf: &str,
) -> Result<api::ConsoleSession, ApiError> {
    let org = s.deps.store.org_by_id(&principal.org_id).await?;
    let mut grants = Vec::new();
    for g in s.deps.store.grants_of(&principal.id).await? {
        let scope = crate::admin::grant_target(&s.deps, &g).await;
        grants.push(api::ConsoleGrant { scope_kind: g.scope_kind, scope, scope_id: g.scope_id, role: g.role });
    }
    Ok(api::ConsoleSession {
        principal: api::ConsolePrincipal {
            id: principal.id.clone(),
            name: principal.name.clone(),
            kind: principal.kind.clone(),
            platform_operator: principal.platform_operator,
        },
        org: api::OrgRef { id: org.id, name: org.name },
        csrf: csrf.to_string(),
        grants,
    })
}

#[utoipa::path(post, path = "/v1/console/login", tag = "identity", operation_id = "console_login", request_body = api::LoginBody, responses((status = 200, description = "Signed in: the session cookie is set", body = api::ConsoleSession), (status = 401, description = "The key is invalid or revoked", body = api::ErrorResponse), (status = 403, description = "A runner's key, which signs nobody in", body = api::ErrorResponse)))]
pub async fn login(State(s): State<AppState>, Body(b): Body<cloudops_api::LoginBody>) -> Result<Response, ApiError> {
    let key = b.api_key.trim();
    if key.is_empty() {
        return Err(ApiError::bad_request("`api_key` is required: paste an API key (planton apikey create)"));
    }
    // A runner's key signs nobody in: it serves the runner only.
    if let Some(p) = s.deps.store.authenticate(key).await?
        && p.runner_id.is_some()
    {
        return Err(ApiError::new(
            v1::ErrorCode::PermissionDenied,
            "this is a runner's service-account key: it serves the runner only and cannot sign in",
        ));
    }
    let ttl = chrono::Duration::hours(SESSION_TTL_HOURS);
    let (token, user) =
        s.deps.store.console_sign_in(key, ttl).await?.ok_or_else(|| unauthenticated("invalid or revoked API key"))?;
    let body = session_json(&s, &user.principal, &user.csrf).await?;
    let mut res = (StatusCode::OK, Json(body)).into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie(&s.deps, &token, ttl.num_seconds()));
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[utoipa::path(get, path = "/v1/console/session", tag = "identity", operation_id = "console_session", responses((status = 200, body = api::ConsoleSession), (status = 401, description = "Not signed in", body = api::ErrorResponse)))]
pub async fn session(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    let token = session_cookie(&headers).ok_or_else(|| unauthenticated("not signed in"))?;
    let user = s
        .deps
        .store
        .console_session(token)
        .await?
        .ok_or_else(|| unauthenticated("your console session has expired or was signed out: sign in again"))?;
    let body = session_json(&s, &user.principal, &user.csrf).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response())
}

/// Signing out needs the CSRF token too, so that another site cannot sign a user out.
#[utoipa::path(post, path = "/v1/console/logout", tag = "identity", operation_id = "console_logout", responses((status = 204, description = "Signed out: the cookie is cleared"), (status = 401, description = "The session expired", body = api::ErrorResponse), (status = 403, description = "No or a wrong X-CSRF-Token", body = api::ErrorResponse)))]
pub async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = session_cookie(&headers) {
        authenticate(&s.deps, &Method::POST, &headers, token).await?;
        s.deps.store.console_sign_out(token).await?;
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    res.headers_mut().insert(header::SET_COOKIE, cookie(&s.deps, "", 0));
    Ok(res)
}

pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub etag: &'static str,
    pub body: &'static [u8],
    pub gzip: Option<&'static [u8]>,
}

include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The console's pages: scripts and styles from this origin only, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; \
                   connect-src 'self'; font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Cloud Ops</title>\
<body style=\"font:16px system-ui;margin:3em\"><h1>The web console is not built into this gateway</h1>\
<p>Build it, then build the gateway again:</p><pre>npm --prefix console ci\nnpm --prefix console run build\ncargo build</pre>\
<p><code>bash .ci/serve</code> does all three. The API under <code>/v1/</code> works without it.</p>";

/// Everything that is not an API route: the console's files, and its page for any other path
/// (the console routes in the browser). Unknown API paths stay JSON errors.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if path.starts_with("/v1/") || path == "/v1" || !(method == Method::GET || method == Method::HEAD) {
        return ApiError::new(v1::ErrorCode::NotFound, "no such API endpoint").into_response();
    }
    let found = match path {
        "/" => asset("/index.html"),
        p => asset(p).or_else(|| if p.starts_with("/assets/") { None } else { asset("/index.html") }),
    };
    let Some(a) = found else {
        if ASSETS.is_empty() {
            return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], NOT_BUILT)
                .into_response();
        }
        return (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "not found\n")
            .into_response();
    };
    let immutable = a.path.starts_with("/assets/");
    let mut res = if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == a.etag.as_bytes()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let gzip_ok = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
        match a.gzip {
            Some(gz) if gzip_ok => {
                let mut r = gz.into_response();
                r.headers_mut().insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            _ => a.body.into_response(),
        }
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.content_type));
    h.insert(header::ETAG, HeaderValue::from_static(a.etag));
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if immutable { "public, max-age=31536000, immutable" } else { "no-cache" }),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if a.content_type.starts_with("text/html") {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie() {
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("a=1; cloudops_session=tok; b=2"));
        assert_eq!(session_cookie(&h), Some("tok"));
        let mut h = HeaderMap::new();
        h.append(header::COOKIE, HeaderValue::from_static("cloudops_session="));
        assert_eq!(session_cookie(&h), None);
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn csrf_comparison() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
        assert!(!same_secret(b"", b"x"));
    }
}
