//! Sign-in through a real OpenID Connect provider (`oidc-provider` from npm, run by Node on
//! loopback): `cloudops serve --oidc-issuer …`; `planton login --oidc --device` approved in
//! Chromium, and `planton login --oidc` handed to its loopback; the console's "Sign in with your
//! identity provider" in Chromium; group grants that follow the provider's groups at the next
//! refresh.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Child,
};

use super::{Env, serve, stops_cleanly, support::free_port};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn chromium() -> PathBuf {
    let p = std::env::var_os("CHROMIUM").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(p.is_file(), "{} is missing: the sign-in tests need Chromium (.ci/run installs it)", p.display());
    p
}

const USERS_IN_GROUP: &str = r#"{"alice": {"email": "alice@example.com", "groups": ["platform-team", "Everyone"]}}"#;
const USERS_OUT_OF_GROUP: &str = r#"{"alice": {"email": "alice@example.com", "groups": ["Everyone"]}}"#;

/// Starts the provider for the gateway at `gateway`; returns it once it serves.
async fn provider(port: u16, gateway: &str, users: &Path) -> Child {
    let console = repo().join("console");
    assert!(
        console.join("node_modules/oidc-provider").is_dir(),
        "console/node_modules is missing: run `npm --prefix console ci` (.ci/run does)"
    );
    let mut child = tokio::process::Command::new("node")
        .arg(console.join("tests/oidc/provider.mjs"))
        .env("OIDC_PORT", port.to_string())
        .env("OIDC_CLIENT_ID", "cloudops")
        .env("OIDC_CLIENT_SECRET", "cloudops-test-secret")
        .env("OIDC_REDIRECT_URI", format!("{gateway}/v1/auth/oidc/callback"))
        .env("OIDC_USERS", users)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let up = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if l.starts_with("issuer:") {
                return;
            }
        }
        panic!("the OIDC provider exited before it served");
    })
    .await;
    assert!(up.is_ok(), "the OIDC provider did not start in 30 s");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    child
}

/// A `$BROWSER` for `planton login --oidc`: signs in in Chromium (the device code's page, or the
/// page that hands the sign-in to planton's loopback).
fn browser_script(dir: &Path) -> PathBuf {
    let script = dir.join("browser.sh");
    let log = dir.join("browser.log");
    let driver = repo().join("console/tests/oidc/sign-in.mjs");
    std::fs::write(
        &script,
        format!("#!/bin/sh\nexec node {} cli \"$1\" >> {} 2>&1\n", driver.display(), log.display()),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// `planton login --oidc` as alice, with Chromium as $BROWSER; its stderr once it succeeded.
async fn login_oidc(env: &Env, base: &Path, gateway: &str, extra: &[&str]) -> String {
    let ca = base.join("planton-home/control-plane/pki/ca.pem");
    let login = env
        .cmd("planton")
        .args(["login", "--endpoint", gateway, "--oidc", "--ca-file", ca.to_str().unwrap()])
        .args(extra)
        .env("BROWSER", browser_script(base))
        .env("CHROMIUM", chromium())
        .env("OIDC_LOGIN", "alice")
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), login).await.expect("planton login --oidc ran 2 minutes");
    let out = out.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let browser_log = std::fs::read_to_string(base.join("browser.log")).unwrap_or_default();
    assert!(out.status.success(), "{stderr}\nbrowser: {browser_log}");
    stderr
}

#[tokio::test]
async fn people_sign_in_through_the_identity_provider_and_hold_their_groups_grants() {
    let chromium = chromium();
    let admin = Env::new();
    let base = admin.home.parent().unwrap().to_path_buf();
    let users = base.join("users.json");
    std::fs::write(&users, USERS_IN_GROUP).unwrap();
    let secret = base.join("client-secret");
    std::fs::write(&secret, "cloudops-test-secret\n").unwrap();
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let secret_arg = secret.to_str().unwrap();
    let (cp, gateway) = serve(
        &admin,
        &[
            "--oidc-issuer",
            &issuer,
            "--oidc-client-id",
            "cloudops",
            "--oidc-client-secret-file",
            secret_arg,
            "--oidc-scopes",
            "profile email offline_access groups",
        ],
    )
    .await;
    let idp = provider(port, &gateway, &users).await;

    // The admin grants the provider's group, before anyone of it has signed in.
    let (code, out, err) =
        admin.planton(&["grant", "create", "--group", "platform-team", "--scope", "org", "--role", "admin"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("group \"platform-team\" is admin on org/default"), "{out}");
    let (code, _, _) = admin.planton(&["env", "create", "prod"]).await;
    assert_eq!(code, 0);

    // Alice signs in with the device flow; $BROWSER approves the code in Chromium.
    let alice = Env::new();
    let started = Instant::now();
    let stderr = login_oidc(&alice, &base, &gateway, &["--device"]).await;
    assert!(stderr.contains("To sign in, open http://127.0.0.1:") && stderr.contains("enter the code"), "{stderr}");
    assert!(stderr.contains("as alice@example.com (org default)"), "{stderr}");
    assert!(stderr.contains("groups: Everyone, platform-team"), "{stderr}");
    println!("device sign-in approved in Chromium: {:?}", started.elapsed());
    let config = std::fs::read_to_string(alice.home.join("config.yaml")).unwrap();
    assert!(config.contains("oidc_refresh_token:") && config.contains("api_key_expires_at:"), "{config}");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(alice.home.join("config.yaml")).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the config with the refresh token is private");

    // On her laptop, with a browser: the sign-in comes back to planton's loopback.
    let laptop = Env::new();
    let stderr = login_oidc(&laptop, &base, &gateway, &[]).await;
    assert!(stderr.contains("Opening the sign-in page") && stderr.contains("as alice@example.com"), "{stderr}");
    let (code, _, err) = laptop.planton(&["runner", "list"]).await;
    assert_eq!(code, 0, "{err}");
    // The code it redeemed was for it alone, and once.
    let laptop_config = std::fs::read_to_string(laptop.home.join("config.yaml")).unwrap();
    assert!(laptop_config.contains("oidc_refresh_token:"), "{laptop_config}");

    // Her group's grant: admin reads through the authorizer, listings through visibility.
    let (code, _, err) = alice.planton(&["runner", "list"]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = alice.planton(&["env", "list"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("prod"), "{out}");
    // No key that outlives her sign-in: it would keep her group's grants after she left it.
    let (code, _, err) = alice.planton(&["apikey", "create"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("signs in through the identity provider"), "{err}");
    let (code, _, err) = admin.planton(&["apikey", "create", "--principal", "alice@example.com"]).await;
    assert_eq!(code, 1, "nor one an admin mints for her");
    assert!(err.contains("signs in through the identity provider"), "{err}");
    // She is a principal of the org now, made at her first sign-in; the group is one too.
    let (_, out, _) = admin.planton(&["principal", "list"]).await;
    assert!(out.contains("alice@example.com") && out.contains("platform-team"), "{out}");

    // The console: "Sign in with your identity provider", in Chromium.
    let shots = repo().join("test-output/console");
    std::fs::create_dir_all(&shots).unwrap();
    let console = tokio::process::Command::new("node")
        .arg(repo().join("console/tests/oidc/sign-in.mjs"))
        .args(["console", &format!("{gateway}/")])
        .env("CHROMIUM", &chromium)
        .env("OIDC_LOGIN", "alice")
        .env("SCREENSHOTS", &shots)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), console).await.expect("the console sign-in ran 2 minutes");
    let out = out.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let session: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the console's session");
    assert_eq!(session["principal"]["name"], "alice@example.com", "{session}");
    assert!(
        session["grants"].as_array().unwrap().iter().any(|g| g["scope_kind"] == "org" && g["role"] == "admin"),
        "{session}"
    );

    // Out of the group at the provider: her next renewal drops the grant.
    std::fs::write(&users, USERS_OUT_OF_GROUP).unwrap();
    let expired = config
        .lines()
        .map(|l| if l.starts_with("api_key_expires_at:") { "api_key_expires_at: 2000-01-01T00:00:00Z" } else { l })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(alice.home.join("config.yaml"), expired).unwrap();
    let (code, _, err) = alice.planton(&["runner", "list"]).await;
    assert_eq!(code, 1, "the group's grant is gone");
    assert!(err.contains("alice@example.com has no access"), "{err}");
    let renewed = std::fs::read_to_string(alice.home.join("config.yaml")).unwrap();
    assert!(!renewed.contains("2000-01-01"), "the key was renewed: {renewed}");
    let (_, out, _) = alice.planton(&["env", "list"]).await;
    assert!(!out.contains("prod"), "{out}");

    // A refresh token the provider no longer accepts ends the sign-in, saying what to do.
    let broken = renewed
        .lines()
        .map(|l| {
            if l.starts_with("oidc_refresh_token:") {
                "oidc_refresh_token: not-a-token"
            } else if l.starts_with("api_key_expires_at:") {
                "api_key_expires_at: 2000-01-01T00:00:00Z"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(alice.home.join("config.yaml"), broken).unwrap();
    let (code, _, err) = alice.planton(&["env", "list"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("run planton login --oidc"), "{err}");

    drop(idp);
    stops_cleanly(cp).await;
}
