//! `deploy --target azure-container-apps`: the runner as a Container App with exactly one
//! replica and no ingress (the runner only dials out), in `--environment` and its location,
//! with the deploying user's Azure credentials (azure_identity's chain: environment service
//! principal, workload identity, managed identity, `az login`). Through the documented REST
//! APIs (Resource Manager api-version 2024-03-01, Key Vault 7.4); what it makes, named after
//! the runner:
//!
//! - the credentials, either as the app's own secret `planton-runner-credentials` (by default;
//!   on a re-deploy without credentials its value is read back with `listSecrets`, checked to be
//!   this runner's, and kept), or with `--key-vault` and `--identity` as the Key Vault secret
//!   `planton-runner-NAME` (a new version when credentials are given, kept otherwise) that the
//!   app's secret references through the user-assigned identity;
//! - the container app `planton-runner-NAME` in `--resource-group`: the image,
//!   `planton-runner start`, the secret as `PLANTON_RUNNER_CREDENTIALS`, liveness on `/healthz`
//!   and readiness on `/readyz`, 0.5 vCPU and 1 GiB, minimum and maximum 1 replica; created, or
//!   replaced with what the flags say (single revision mode: the new revision takes over once
//!   ready; the credentials' SHA-256 is in its env, so new credentials make a new revision).
//!
//! Nothing is minted before the environment is found and both names are free or ours: what it
//! creates is tagged `planton-runner=NAME`, and an untagged app or Key Vault secret of the same
//! name is refused, never written. The app's provisioning is reported, not waited for. Each step
//! is printed as it is done.
//!
//! Endpoints, for tests and private endpoints: `CLOUDOPS_AZURE_ARM_ENDPOINT` (default
//! `https://management.azure.com`) and `CLOUDOPS_AZURE_KEYVAULT_ENDPOINT` (the vault's base URL;
//! default `https://VAULT.vault.azure.net`).

use azure_core::auth::TokenCredential;
use cloudops_schemas::deploy_args::DeployArgs;
use reqwest::Method;
use serde_json::{Value, json};

mod credentials;

use credentials::{kept_app_secret, stored_in_vault, vault_reference};

use super::{
    DeployError,
    objects::Values,
    rest::{self, Api},
};

const ENTRY_POINT: &str = "/usr/local/bin/planton-runner";
const HEALTH_PORT: u16 = 8086;
/// The tag on what a deploy creates; an untagged app or Key Vault secret of the same name is not ours.
const TAG: &str = "planton-runner";
/// The app's secret that PLANTON_RUNNER_CREDENTIALS reads.
const APP_SECRET: &str = "planton-runner-credentials";
const ARM_API: &str = "2024-03-01";
const KV_API: &str = "7.4";
const ARM_SCOPE: &str = "https://management.azure.com/.default";
const KV_SCOPE: &str = "https://vault.azure.net/.default";

struct Vault {
    name: String,
    /// https://NAME.vault.azure.net, or CLOUDOPS_AZURE_KEYVAULT_ENDPOINT.
    base: String,
}

struct Plan {
    group: String,
    /// The app's name, and the Key Vault secret's.
    name: String,
    /// /subscriptions/S/resourceGroups/G/providers/Microsoft.App/containerApps/NAME
    app_id: String,
    environment_id: String,
    identity: Option<String>,
    vault: Option<Vault>,
    args: Vec<String>,
}

fn plan(v: &Values, a: &DeployArgs) -> Result<Plan, DeployError> {
    let need = |flag: &str, why: &str| {
        DeployError::Invalid(format!("{flag} is required for --target azure-container-apps: {why}"))
    };
    let bad = |flag: &str, value: &str, what: &str| DeployError::Invalid(format!("{flag} {value:?}: not {what}"));
    let subscription = a.subscription.clone().ok_or_else(|| need("--subscription", "the Azure subscription (id)"))?;
    if !rest::plain(&subscription, "-") {
        return Err(bad("--subscription", &subscription, "a subscription id"));
    }
    let group = a.resource_group.clone().ok_or_else(|| need("--resource-group", "the resource group of the app"))?;
    if !rest::plain(&group, "-_.()") {
        return Err(bad("--resource-group", &group, "a resource group name"));
    }
    let environment = a
        .environment
        .clone()
        .ok_or_else(|| need("--environment", "the Container Apps environment (its name, or its resource id)"))?;
    let environment_id = if environment.starts_with("/subscriptions/") {
        if !rest::plain(&environment, "-_.()/") || !environment.contains("/managedEnvironments/") {
            return Err(bad("--environment", &environment, "a managed environment's resource id"));
        }
        environment
    } else if rest::plain(&environment, "-") {
        format!(
            "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.App/managedEnvironments/{environment}"
        )
    } else {
        return Err(bad("--environment", &environment, "a managed environment's name or resource id"));
    };
    if let Some(id) = &a.identity
        && !(id.starts_with("/subscriptions/") && id.contains("/userAssignedIdentities/") && rest::plain(id, "-_.()/"))
    {
        return Err(bad("--identity", id, "a user-assigned managed identity's resource id"));
    }
    let vault = match &a.key_vault {
        None => None,
        Some(_) if a.identity.is_none() => {
            return Err(DeployError::Invalid(
                "--key-vault needs --identity: the app reads the vault as that user-assigned identity".into(),
            ));
        }
        Some(k) if (3..=24).contains(&k.len()) && rest::plain(k, "-") => Some(Vault {
            name: k.clone(),
            base: rest::endpoint("CLOUDOPS_AZURE_KEYVAULT_ENDPOINT", &format!("https://{k}.vault.azure.net"))?,
        }),
        Some(k) => return Err(bad("--key-vault", k, "a Key Vault name (3 to 24 letters, digits and hyphens)")),
    };
    let name = format!("planton-runner-{}", v.release);
    // Container app names are at most 32 characters.
    if name.len() > 32 {
        return Err(DeployError::Invalid(format!(
            "runner name {:?}: at most 17 characters for Container Apps (its app is planton-runner-NAME, at most 32)",
            v.release
        )));
    }
    Ok(Plan {
        app_id: format!(
            "/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.App/containerApps/{name}"
        ),
        group,
        name,
        environment_id,
        identity: a.identity.clone(),
        vault,
        args: super::start_args(v),
    })
}

/// An Azure Container Registry to pull from with the identity: the image's registry host.
fn acr(v: &Values) -> Option<String> {
    let host = v.registry.split('/').next().unwrap_or_default().to_ascii_lowercase();
    host.ends_with(".azurecr.io").then_some(host)
}

/// The container app as Resource Manager takes it; `secret` is its one secret, `checksum` of the
/// credentials in it (a revision-scope value: a secret's new value alone makes no new revision).
fn app_body(v: &Values, p: &Plan, location: &str, secret: Value, checksum: &str) -> Value {
    let probe = |kind: &str, path: &str| json!({ "type": kind, "httpGet": { "path": path, "port": HEALTH_PORT }, "periodSeconds": 10, "failureThreshold": 3 });
    let mut configuration = json!({ "activeRevisionsMode": "Single", "secrets": [secret] });
    if let (Some(id), Some(server)) = (&p.identity, acr(v)) {
        configuration["registries"] = json!([{ "server": server, "identity": id }]);
    }
    let mut app = json!({
        "location": location,
        "tags": { TAG: v.release },
        "properties": {
            "environmentId": p.environment_id,
            "configuration": configuration,
            "template": {
                "containers": [{
                    "name": "runner",
                    "image": v.image(),
                    "command": [ENTRY_POINT],
                    "args": p.args,
                    "env": [
                        { "name": "PLANTON_RUNNER_CREDENTIALS", "secretRef": APP_SECRET },
                        { "name": "PLANTON_RUNNER_CREDENTIALS_SHA256", "value": checksum },
                    ],
                    "resources": { "cpu": 0.5, "memory": "1Gi" },
                    "probes": [probe("Liveness", "/healthz"), probe("Readiness", "/readyz")],
                }],
                "scale": { "minReplicas": 1, "maxReplicas": 1 },
            },
        },
    });
    if let Some(id) = &p.identity {
        let mut ids = serde_json::Map::new();
        ids.insert(id.clone(), json!({}));
        app["identity"] = json!({ "type": "UserAssigned", "userAssignedIdentities": ids });
    }
    app
}

async fn token(credential: &dyn TokenCredential, scope: &str) -> Result<String, DeployError> {
    let t = credential.get_token(&[scope]).await.map_err(|e| {
        DeployError::Azure(format!(
            "a token for {scope} with your Azure credentials (`az login`, AZURE_TENANT_ID/AZURE_CLIENT_ID/…, a managed identity): {}",
            crate::error_chain(&e)
        ))
    })?;
    Ok(t.token.secret().to_string())
}

fn tagged(found: &Value, name: &str) -> bool {
    found["tags"][TAG].as_str() == Some(name)
}

pub async fn deploy(v: &Values, credentials: Option<String>, a: &DeployArgs) -> Result<Vec<String>, DeployError> {
    let p = plan(v, a)?;
    if a.dry_run {
        return Ok(vec![dry_run(v, a, &p, credentials.is_some())]);
    }
    let credential = azure_identity::create_credential()
        .map_err(|e| DeployError::Azure(format!("no Azure credentials to deploy with: {}", crate::error_chain(&e))))?;
    let http = rest::client().map_err(DeployError::Azure)?;
    let arm = Api {
        http: &http,
        token: token(&*credential, ARM_SCOPE).await?,
        name: "Container Apps",
        base: rest::endpoint("CLOUDOPS_AZURE_ARM_ENDPOINT", "https://management.azure.com")?,
        error: DeployError::Azure,
    };
    // Before anything is minted or stored: the environment exists (the app goes in its
    // location), and the app's name is free or ours.
    let what = format!("reading environment {}", p.environment_id);
    let environment = arm
        .get(&what, &format!("{}?api-version={ARM_API}", p.environment_id))
        .await?
        .ok_or_else(|| DeployError::Invalid(format!("Container Apps environment {} not found", p.environment_id)))?;
    let location = environment["location"]
        .as_str()
        .map(String::from)
        .ok_or_else(|| DeployError::Azure(format!("environment {} has no location", p.environment_id)))?;
    let app_url = format!("{}?api-version={ARM_API}", p.app_id);
    let existing = arm.get(&format!("reading container app {}", p.name), &app_url).await?;
    if let Some(app) = &existing {
        if !tagged(app, &v.release) {
            return Err(DeployError::Invalid(format!(
                "container app {} in resource group {} exists but was not made by planton for runner {} (no {TAG}={} tag): remove it or choose another name",
                p.name, p.group, v.release, v.release
            )));
        }
        let current = app["properties"]["environmentId"].as_str().unwrap_or_default();
        if !current.is_empty() && !current.eq_ignore_ascii_case(&p.environment_id) {
            return Err(DeployError::Invalid(format!(
                "container app {} is in environment {current}, not {}: an app cannot move; remove it first",
                p.name, p.environment_id
            )));
        }
    }
    let ((secret, text), kept) = match &p.vault {
        Some(vault) => (stored_in_vault(v, &p, vault, &*credential, &http, credentials).await?, None),
        None => match credentials {
            Some(c) => ((json!({ "name": APP_SECRET, "value": c }), c), Some(false)),
            None if existing.is_some() => (kept_app_secret(v, &p, &arm).await?, Some(true)),
            None => {
                return Err(DeployError::NeedsCredentials {
                    secret: format!("the secret {APP_SECRET} of container app {}", p.name),
                });
            }
        },
    };
    let verb = if existing.is_some() { "updated" } else { "created" };
    let what = format!("{} container app {}", if existing.is_some() { "updating" } else { "creating" }, p.name);
    let body = app_body(v, &p, &location, secret, &rest::checksum(&text));
    let done = arm.send(&what, Method::PUT, &app_url, Some(&body)).await?;
    let state = done["properties"]["provisioningState"].as_str().unwrap_or("under way");
    let secret = match kept {
        Some(true) => format!("; its secret {APP_SECRET} kept"),
        Some(false) => format!("; its secret {APP_SECRET} holds the new credentials"),
        None => String::new(),
    };
    println!(
        "container app {} {verb} in resource group {} ({location}, image {}, 1 replica, no ingress){secret}; provisioning: {state} (not waited for: `az containerapp show -n {} -g {}`)",
        p.name,
        p.group,
        v.image(),
        p.name,
        p.group
    );
    Ok(Vec::new())
}

/// What a deploy would send, as the APIs take it (the credentials left out).
fn dry_run(v: &Values, a: &DeployArgs, p: &Plan, given: bool) -> String {
    let value = if given {
        "<credentials.json from --credentials-file, redacted>"
    } else {
        "<credentials.json, minted at deploy>"
    };
    let location = format!("<the location of {}>", p.environment_id);
    let mut plan = serde_json::Map::new();
    let secret = match &p.vault {
        Some(vault) => {
            plan.insert(
                "keyVaultSecret".into(),
                json!({
                    "url": format!("{}/secrets/{}?api-version={KV_API}", vault.base, p.name),
                    "body": { "value": value, "contentType": "application/json", "tags": { TAG: v.release } },
                }),
            );
            vault_reference(p, vault)
        }
        None => json!({ "name": APP_SECRET, "value": value }),
    };
    plan.insert(
        "containerApp".into(),
        json!({ "url": format!("{}?api-version={ARM_API}", p.app_id), "body": app_body(v, p, &location, secret, "<sha256 of credentials.json>") }),
    );
    let plan = Value::Object(plan);
    super::render(&plan, a.output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> DeployArgs {
        let base: &[&str] = &["edge", "--target", "azure-container-apps", "--subscription", "sub-1"];
        super::super::parse_args(&[base, extra].concat())
    }

    #[test]
    fn the_app_has_one_replica_and_its_secret() {
        let id = "/subscriptions/sub-1/resourceGroups/ops-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/runner";
        let a = args(&["--resource-group", "ops-rg", "--environment", "ops-env", "--identity", id]);
        let mut v = super::super::values(&a, "1.0.0").unwrap();
        v.registry = "acme.azurecr.io".into();
        let p = plan(&v, &a).unwrap();
        assert!(
            p.environment_id.ends_with("/resourceGroups/ops-rg/providers/Microsoft.App/managedEnvironments/ops-env")
        );
        let body = app_body(&v, &p, "westeurope", json!({"name": APP_SECRET, "value": "x"}), "sum");
        assert_eq!(body["properties"]["template"]["scale"], json!({"minReplicas": 1, "maxReplicas": 1}));
        assert_eq!(body["properties"]["template"]["containers"][0]["env"][0]["secretRef"], APP_SECRET);
        assert_eq!(body["properties"]["configuration"]["registries"][0]["server"], "acme.azurecr.io");
        assert_eq!(body["identity"]["userAssignedIdentities"][id], json!({}));
        assert!(body["properties"]["configuration"].get("ingress").is_none(), "no ingress");
        let no_group = plan(&v, &args(&["--environment", "ops-env"]));
        assert!(matches!(no_group, Err(DeployError::Invalid(m)) if m.contains("--resource-group is required")));
    }
}
