//! `planton login`: with an API key, or through the company's identity provider (`--oidc`): in
//! a browser on this machine (the control plane hands the sign-in to a loopback listener here,
//! redeemed with a PKCE verifier), or with the device flow where no browser can open
//! (`--device`). A sign-in's key expires; the refresh token kept beside it in the config (0600)
//! renews it before each command that needs it.

use std::{path::PathBuf, time::Duration};

use cloudops_api as api;
use serde_json::json;

use crate::{CliConfig, CliError, Client, Ctx, Result, client};

/// A key this close to its expiry is renewed before the command runs.
const RENEW_BEFORE_SECS: i64 = 300;

pub(crate) async fn login(
    ctx: &mut Ctx<'_, '_>,
    endpoint: String,
    api_key: Option<String>,
    oidc: bool,
    device: bool,
    ca_file: Option<PathBuf>,
) -> Result<()> {
    let endpoint = client::split_endpoints(&endpoint).join(",");
    let mut cfg = CliConfig { endpoint, ..ctx.cfg.clone() };
    if let Some(f) = ca_file {
        cfg.ca_cert = std::fs::read_to_string(&f).map_err(|e| format!("--ca-file {}: {e}", f.display()))?;
    }
    let (who, org, how) = match api_key {
        Some(key) if !oidc => {
            cfg.api_key = key;
            cfg.api_key_expires_at = None;
            cfg.oidc_refresh_token = None;
            let who: api::WhoAmI = Client::from_config(&cfg)?.get_as("/v1/whoami").await?;
            (who.principal.name, who.org.name, String::new())
        }
        _ => {
            let signed = if device || !can_open_browser() {
                device_sign_in(ctx, &cfg).await?
            } else {
                browser_sign_in(ctx, &cfg).await?
            };
            let how = format!(" through the identity provider{}", groups_note(&signed.groups));
            let (who, org) = (signed.principal.clone(), signed.org.clone());
            keep(&mut cfg, signed);
            (who, org, how)
        }
    };
    if cfg.org.is_empty() || ctx.org.is_some() {
        cfg.org = ctx.org.clone().unwrap_or(org);
    }
    cfg.save(&ctx.io.home)?;
    let msg = format!("logged in to {} as {who} (org {}){how}", cfg.endpoint, cfg.org);
    ctx.note(&msg);
    Ok(())
}

fn groups_note(groups: &[String]) -> String {
    if groups.is_empty() { String::new() } else { format!("; groups: {}", groups.join(", ")) }
}

/// What a sign-in gives, into the config.
fn keep(cfg: &mut CliConfig, s: api::SignedIn) {
    cfg.api_key = s.api_key;
    cfg.api_key_expires_at = Some(s.expires_at);
    cfg.oidc_refresh_token = s.refresh_token;
}

/// The device flow: the control plane asks the provider for a code, the user approves it in a
/// browser (anywhere), and the control plane answers with a key once they have.
async fn device_sign_in(ctx: &mut Ctx<'_, '_>, cfg: &CliConfig) -> Result<api::SignedIn> {
    let c = offered(cfg).await?;
    let d: api::DeviceSignIn = client::read(c.post("/v1/auth/oidc/device", &json!({})).await?)?;
    let page = d.verification_uri_complete.clone().unwrap_or_else(|| d.verification_uri.clone());
    ctx.note(&format!(
        "To sign in, open {} and enter the code {}{}",
        d.verification_uri,
        d.user_code,
        d.verification_uri_complete.as_ref().map(|u| format!("\n(or open {u})")).unwrap_or_default()
    ));
    open_browser(&page);
    let deadline = std::time::Instant::now() + Duration::from_secs(d.expires_in_secs.max(1));
    let mut wait = Duration::from_secs(d.interval_secs.clamp(1, 60));
    loop {
        let v = c.post("/v1/auth/oidc/device/token", &json!({"device_code": d.device_code})).await?;
        if v.get("api_key").is_some() {
            return client::read(v);
        }
        let pending: api::DevicePending = client::read(v)?;
        if std::time::Instant::now() >= deadline {
            return Err(CliError::Message(
                "the sign-in code expired before it was approved: run planton login --oidc again".into(),
            ));
        }
        wait = wait.max(Duration::from_secs(pending.interval_secs.clamp(1, 60)));
        tokio::time::sleep(wait.min(Duration::from_secs(5))).await;
    }
}

/// A client for the control plane's sign-in, once it says it offers one.
async fn offered(cfg: &CliConfig) -> Result<Client> {
    let c = Client::anonymous(cfg)?;
    let offer: api::OidcOffer = c.get_as("/v1/auth/oidc").await?;
    if !offer.enabled {
        return Err(CliError::Message(format!(
            "{} offers no sign-in through an identity provider: use --api-key (an administrator can configure one with cloudops serve --oidc-issuer)",
            cfg.endpoint
        )));
    }
    Ok(c)
}

/// The sign-in in a browser on this machine: the control plane sends the browser back to a
/// loopback listener here with a one-time code, which only this process (it holds the PKCE
/// verifier) can redeem.
async fn browser_sign_in(ctx: &mut Ctx<'_, '_>, cfg: &CliConfig) -> Result<api::SignedIn> {
    use base64::Engine;
    use sha2::Digest;
    let c = offered(cfg).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| {
        format!("cannot listen on loopback for the browser's answer ({e}): use planton login --oidc --device")
    })?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let secret: [u8; 32] = rand::random();
    let verifier = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let page = url::Url::parse_with_params(
        &format!("{}/v1/auth/oidc/login", c.endpoint),
        &[("cli_redirect", redirect.as_str()), ("cli_challenge", challenge.as_str())],
    )
    .map_err(|e| format!("the sign-in URL: {e}"))?;
    ctx.note(&format!(
        "Opening the sign-in page in your browser; if it does not open, visit:\n{page}\n(no browser on this machine? use planton login --oidc --device)"
    ));
    open_browser(page.as_str());
    let code = crate::sign_in_loopback::wait_for_code(&listener, Duration::from_secs(300)).await?;
    client::read(c.post("/v1/auth/oidc/cli/token", &json!({"code": code, "verifier": verifier})).await?)
}

/// Whether a browser can be opened here: `$BROWSER`, macOS, or a desktop session with xdg-open.
fn can_open_browser() -> bool {
    if std::env::var_os("BROWSER").is_some_and(|b| !b.is_empty()) || cfg!(target_os = "macos") {
        return true;
    }
    let desktop = ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|d| !d.is_empty()));
    desktop
        && std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).any(|d| d.join("xdg-open").is_file())
}

/// Opens the page with `$BROWSER` (a command taking the URL), `open` on macOS, else xdg-open;
/// if none starts, the user opens it (the URL is printed).
fn open_browser(url: &str) {
    let program = match std::env::var_os("BROWSER").filter(|b| !b.is_empty()) {
        Some(b) => b,
        None if cfg!(target_os = "macos") => "open".into(),
        None => "xdg-open".into(),
    };
    let _ = std::process::Command::new(program)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
}

/// Renews a sign-in's key that expires within a few minutes, with the refresh token, and saves
/// it; nothing for API keys (which do not expire) or a key set in `PLANTON_API_KEY`.
pub(crate) async fn renew_if_expiring(cfg: &mut CliConfig, home: &std::path::Path) -> Result<()> {
    let (Some(expires), Some(refresh)) = (cfg.api_key_expires_at, cfg.oidc_refresh_token.clone()) else {
        return Ok(());
    };
    if std::env::var("PLANTON_API_KEY").is_ok_and(|k| !k.is_empty())
        || expires - chrono::Utc::now() > chrono::TimeDelta::seconds(RENEW_BEFORE_SECS)
    {
        return Ok(());
    }
    // One renewal at a time per $PLANTON_HOME (kubectl runs the credential plugin in
    // parallel): a provider that rotates refresh tokens would take a reused one as stolen.
    let _lock = lock(home).await?;
    let fresh = CliConfig::load(home)?;
    if fresh.oidc_refresh_token != cfg.oidc_refresh_token
        && fresh
            .api_key_expires_at
            .is_some_and(|t| t - chrono::Utc::now() > chrono::TimeDelta::seconds(RENEW_BEFORE_SECS))
    {
        // Another planton renewed it while this one waited.
        (cfg.api_key, cfg.api_key_expires_at, cfg.oidc_refresh_token) =
            (fresh.api_key, fresh.api_key_expires_at, fresh.oidc_refresh_token);
        return Ok(());
    }
    let c = Client::anonymous(cfg)?;
    let body = json!({"refresh_token": refresh, "api_key": cfg.api_key});
    let renewed = match c.post("/v1/auth/oidc/refresh", &body).await {
        Ok(v) => client::read::<api::SignedIn>(v)?,
        Err(CliError::Api { code, message, .. }) if code == "UNAUTHENTICATED" => {
            return Err(CliError::Message(format!("your sign-in has ended ({message}): run planton login --oidc")));
        }
        Err(e) => return Err(e),
    };
    keep(cfg, renewed);
    cfg.save(home)?;
    Ok(())
}

/// An exclusive lock on `$PLANTON_HOME/.oidc-refresh.lock`, held until dropped.
async fn lock(home: &std::path::Path) -> Result<std::fs::File> {
    std::fs::create_dir_all(home).map_err(|e| format!("{}: {e}", home.display()))?;
    let path = home.join(".oidc-refresh.lock");
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    tokio::task::spawn_blocking(move || rustix::fs::flock(&f, rustix::fs::FlockOperation::LockExclusive).map(|()| f))
        .await
        .map_err(|e| CliError::Message(e.to_string()))?
        .map_err(|e| CliError::Message(format!("{}: {e}", path.display())))
}
