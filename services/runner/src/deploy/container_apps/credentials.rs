//! Where a container app's credentials come from: the app's own secret (kept on a re-deploy,
//! read back through `listSecrets`), or with `--key-vault` a tagged Key Vault secret that the
//! app references through its identity.

use azure_core::auth::TokenCredential;
use reqwest::Method;
use serde_json::{Value, json};

use super::{APP_SECRET, ARM_API, KV_API, KV_SCOPE, Plan, TAG, Vault, tagged, token};
use crate::deploy::{
    DeployError,
    objects::Values,
    rest::{self, Api},
};

/// The app's secret as a Key Vault reference.
pub(super) fn vault_reference(p: &Plan, vault: &Vault) -> Value {
    json!({ "name": APP_SECRET, "keyVaultUrl": format!("{}/secrets/{}", vault.base, p.name), "identity": p.identity })
}

/// `--key-vault`: the Key Vault secret stored (given credentials) or kept; the app's secret
/// that references it, and the credentials.
pub(super) async fn stored_in_vault(
    v: &Values,
    p: &Plan,
    vault: &Vault,
    credential: &dyn TokenCredential,
    http: &reqwest::Client,
    credentials: Option<String>,
) -> Result<(Value, String), DeployError> {
    let kv = Api {
        http,
        token: token(credential, KV_SCOPE).await?,
        name: "Key Vault",
        base: vault.base.clone(),
        error: DeployError::Azure,
    };
    let path = format!("secrets/{}?api-version={KV_API}", p.name);
    let existing = kv.get(&format!("reading secret {} in vault {}", p.name, vault.name), &path).await?;
    if let Some(s) = &existing
        && !tagged(s, &v.release)
    {
        return Err(DeployError::Invalid(format!(
            "secret {} in Key Vault {} exists but was not made by planton for runner {} (no {TAG}={} tag): remove it or choose another name",
            p.name, vault.name, v.release, v.release
        )));
    }
    let text = match (credentials, existing) {
        (Some(c), existed) => {
            let body = json!({ "value": c, "contentType": "application/json", "tags": { TAG: v.release } });
            let what = format!("storing secret {} in vault {}", p.name, vault.name);
            let stored = kv.send(&what, Method::PUT, &path, Some(&body)).await?;
            let version = stored["id"].as_str().and_then(|id| id.rsplit('/').next()).unwrap_or("a new version");
            println!(
                "Key Vault secret {} {} in vault {} (version {version}): {} needs the Key Vault Secrets User role on it",
                p.name,
                if existed.is_some() { "holds the new credentials" } else { "created" },
                vault.name,
                p.identity.as_deref().unwrap_or_default()
            );
            c
        }
        (None, Some(s)) => {
            let kept = s["value"].as_str().unwrap_or_default();
            if !rest::holds_credentials_of(kept, &v.release) {
                return Err(DeployError::Invalid(format!(
                    "Key Vault secret {} in vault {} does not hold runner {}'s credentials: pass --credentials-file, or delete the secret",
                    p.name, vault.name, v.release
                )));
            }
            println!("Key Vault secret {} in vault {} kept", p.name, vault.name);
            kept.to_string()
        }
        (None, None) => {
            return Err(DeployError::NeedsCredentials {
                secret: format!("secret {} in Key Vault {}", p.name, vault.name),
            });
        }
    };
    Ok((vault_reference(p, vault), text))
}

/// A re-deploy without credentials: the app's secret as it is (Resource Manager does not return
/// secret values with the app; `listSecrets` does), if it is this runner's credentials; and the
/// credentials.
pub(super) async fn kept_app_secret(v: &Values, p: &Plan, arm: &Api<'_>) -> Result<(Value, String), DeployError> {
    let what = format!("reading the secrets of container app {}", p.name);
    let path = format!("{}/listSecrets?api-version={ARM_API}", p.app_id);
    let listed = arm.send(&what, Method::POST, &path, None).await?;
    let found = listed["value"].as_array().into_iter().flatten().find(|s| s["name"].as_str() == Some(APP_SECRET));
    let Some(found) = found else {
        return Err(DeployError::NeedsCredentials {
            secret: format!("the secret {APP_SECRET} of container app {}", p.name),
        });
    };
    if found["keyVaultUrl"].is_string() {
        return Err(DeployError::Invalid(format!(
            "the secret {APP_SECRET} of container app {} is a Key Vault reference: deploy with --key-vault and --identity as before, or pass --credentials-file",
            p.name
        )));
    }
    let value = found["value"].as_str().unwrap_or_default();
    if !rest::holds_credentials_of(value, &v.release) {
        return Err(DeployError::Invalid(format!(
            "the secret {APP_SECRET} of container app {} does not hold runner {}'s credentials: pass --credentials-file",
            p.name, v.release
        )));
    }
    Ok((json!({ "name": APP_SECRET, "value": value }), value.to_string()))
}
