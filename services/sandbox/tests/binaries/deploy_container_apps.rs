//! `planton runner deploy --target azure-container-apps` through the shipped binaries, against
//! wiremock serving the documented REST bodies of Resource Manager (Microsoft.App) and Key
//! Vault, behind Entra ID's token endpoint that the deploying user's service principal uses.
//! Every mock asserts the bearer token of its audience; the writes assert their bodies.

use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{body_partial_json, body_string_contains, header, method, path, query_param},
};

use super::{Env, serve, stops_cleanly};

const ARM: &str = "Bearer arm.deployer";
const KV: &str = "Bearer kv.deployer";
const GROUP: &str = "/subscriptions/sub-1/resourceGroups/ops-rg";
const IDENTITY: &str =
    "/subscriptions/sub-1/resourceGroups/ops-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/runner";

fn environment() -> String {
    format!("{GROUP}/providers/Microsoft.App/managedEnvironments/ops-env")
}

fn app_path(name: &str) -> String {
    format!("{GROUP}/providers/Microsoft.App/containerApps/planton-runner-{name}")
}

/// Resource Manager's documented error body.
fn arm_error(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {"code": code, "message": message}}))
}

fn not_found(name: &str) -> ResponseTemplate {
    arm_error(
        404,
        "ResourceNotFound",
        &format!(
            "The Resource 'Microsoft.App/containerApps/planton-runner-{name}' under resource group 'ops-rg' was not found."
        ),
    )
}

/// A container app as Resource Manager returns it (secret values left out, as it does).
fn app(name: &str, tags: Value, image: &str) -> Value {
    json!({
        "id": app_path(name), "name": format!("planton-runner-{name}"), "type": "Microsoft.App/containerApps",
        "location": "West Europe", "tags": tags,
        "properties": {
            "provisioningState": "InProgress", "environmentId": environment(),
            "configuration": {"activeRevisionsMode": "Single", "secrets": [{"name": "planton-runner-credentials"}]},
            "template": {"containers": [{"name": "runner", "image": image}], "scale": {"minReplicas": 1, "maxReplicas": 1}},
        },
    })
}

/// The value of the app's secret in a PUT body, if it is one (not a Key Vault reference).
fn secret_value(r: &Request) -> Option<String> {
    let body: Value = r.body_json().ok()?;
    body["properties"]["configuration"]["secrets"][0]["value"].as_str().map(String::from)
}

fn of_runner(text: Option<String>, name: &str) -> bool {
    text.and_then(|t| cloudops_schemas::RunnerCredentials::parse(&t).ok()).is_some_and(|c| c.runner_name == name)
}

#[tokio::test]
async fn runner_deploy_to_azure_container_apps_keeps_the_credentials_as_a_secret() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = Env::new();
    let (child, _) = serve(&env, &[]).await;
    let az = MockServer::start().await;
    // One token per audience: Resource Manager's and Key Vault's.
    for (audience, token) in [("management.azure.com", "arm.deployer"), ("vault.azure.net", "kv.deployer")] {
        Mock::given(method("POST"))
            .and(path("/tenant-1/oauth2/v2.0/token"))
            .and(body_string_contains(audience))
            .respond_with(ResponseTemplate::new(200).set_body_json(
                json!({"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599, "access_token": token}),
            ))
            .mount(&az)
            .await;
    }
    Mock::given(method("GET"))
        .and(path(environment()))
        .and(query_param("api-version", "2024-03-01"))
        .and(header("authorization", ARM))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": environment(), "name": "ops-env", "type": "Microsoft.App/managedEnvironments",
            "location": "West Europe",
            "properties": {"provisioningState": "Succeeded", "defaultDomain": "happy-sea-1a2b3c4d.westeurope.azurecontainerapps.io", "staticIp": "20.0.0.1"},
        })))
        .mount(&az)
        .await;
    let (uri, vault) = (az.uri(), format!("{}/kv", az.uri()));
    let az_env = [
        ("AZURE_TENANT_ID", "tenant-1"),
        ("AZURE_CLIENT_ID", "deployer-sp"),
        ("AZURE_CLIENT_SECRET", "deployer-only"),
        ("AZURE_AUTHORITY_HOST", uri.as_str()),
        ("CLOUDOPS_AZURE_ARM_ENDPOINT", uri.as_str()),
        ("CLOUDOPS_AZURE_KEYVAULT_ENDPOINT", vault.as_str()),
    ];
    let env = &env;
    let deploy = |name: &str, extra: &[&str]| {
        let mut c = env.cmd("planton");
        c.args(["runner", "deploy", name, "--target", "azure-container-apps", "--subscription", "sub-1"])
            .args(["--resource-group", "ops-rg", "--environment", "ops-env"])
            .args(extra)
            .envs(az_env);
        async move {
            let out = c.output().await.unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).to_string(),
                String::from_utf8_lossy(&out.stderr).to_string(),
            )
        }
    };

    // The deploy: the environment found (its location is the app's), the name free, the
    // credentials minted into the app's own secret, one replica, no ingress.
    let creds = {
        let _free = Mock::given(method("GET"))
            .and(path(app_path("edge")))
            .and(header("authorization", ARM))
            .respond_with(not_found("edge"))
            .expect(2)
            .named("the app looked up before and after minting")
            .mount_as_scoped(&az)
            .await;
        let created = Mock::given(method("PUT"))
            .and(path(app_path("edge")))
            .and(query_param("api-version", "2024-03-01"))
            .and(header("authorization", ARM))
            .and(body_partial_json(json!({
                "location": "West Europe",
                "tags": {"planton-runner": "edge"},
                "properties": {
                    "environmentId": environment(),
                    "configuration": {"activeRevisionsMode": "Single", "secrets": [{"name": "planton-runner-credentials"}]},
                    "template": {
                        "containers": [{
                            "name": "runner", "image": "cloudops:1.0.0",
                            "command": ["/usr/local/bin/planton-runner"],
                            "args": ["start", "--health-addr", "0.0.0.0:8086"],
                            "env": [{"name": "PLANTON_RUNNER_CREDENTIALS", "secretRef": "planton-runner-credentials"}],
                            "resources": {"cpu": 0.5, "memory": "1Gi"},
                            "probes": [
                                {"type": "Liveness", "httpGet": {"path": "/healthz", "port": 8086}},
                                {"type": "Readiness", "httpGet": {"path": "/readyz", "port": 8086}},
                            ],
                        }],
                        "scale": {"minReplicas": 1, "maxReplicas": 1},
                    },
                },
            })))
            .and(|r: &Request| of_runner(secret_value(r), "edge"))
            .and(|r: &Request| {
                r.body_json::<Value>().is_ok_and(|b| b["properties"]["configuration"].get("ingress").is_none())
            })
            .respond_with(
                ResponseTemplate::new(201).set_body_json(app("edge", json!({"planton-runner": "edge"}), "cloudops:1.0.0")),
            )
            .expect(1)
            .named("the app created with this runner's credentials as its secret")
            .mount_as_scoped(&az)
            .await;
        let (code, out, err) = deploy("edge", &["--image-tag", "1.0.0"]).await;
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("container app planton-runner-edge created in resource group ops-rg (West Europe"),
            "{out}"
        );
        assert!(out.contains("holds the new credentials; provisioning: InProgress (not waited for"), "{out}");
        assert!(env.planton(&["runner", "list"]).await.1.contains("edge"), "the runner is registered");
        let got = created.received_requests().await;
        secret_value(&got[0]).unwrap()
    };

    // Again with another tag: the secret's value read back (Resource Manager returns it only
    // from listSecrets) and kept, the image changed.
    {
        let _found = Mock::given(method("GET"))
            .and(path(app_path("edge")))
            .and(header("authorization", ARM))
            .respond_with(ResponseTemplate::new(200).set_body_json(app(
                "edge",
                json!({"planton-runner": "edge"}),
                "cloudops:1.0.0",
            )))
            .expect(1)
            .mount_as_scoped(&az)
            .await;
        let _listed = Mock::given(method("POST"))
            .and(path(format!("{}/listSecrets", app_path("edge"))))
            .and(query_param("api-version", "2024-03-01"))
            .and(header("authorization", ARM))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"value": [{"name": "planton-runner-credentials", "value": creds}]})),
            )
            .expect(1)
            .named("the kept secret read back")
            .mount_as_scoped(&az)
            .await;
        let _updated = Mock::given(method("PUT"))
            .and(path(app_path("edge")))
            .and(header("authorization", ARM))
            .and(body_partial_json(json!({
                "tags": {"planton-runner": "edge"},
                "properties": {
                    "configuration": {"secrets": [{"name": "planton-runner-credentials", "value": creds}]},
                    "template": {"containers": [{"image": "cloudops:1.0.1"}], "scale": {"minReplicas": 1}},
                },
            })))
            .respond_with(ResponseTemplate::new(200).set_body_json(app(
                "edge",
                json!({"planton-runner": "edge"}),
                "cloudops:1.0.1",
            )))
            .expect(1)
            .named("the app updated: the new image, the same secret")
            .mount_as_scoped(&az)
            .await;
        let (code, out, err) = deploy("edge", &["--image-tag", "1.0.1"]).await;
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("container app planton-runner-edge updated") && out.contains("image cloudops:1.0.1"),
            "{out}"
        );
        assert!(out.contains("its secret planton-runner-credentials kept"), "{out}");
    }

    // An app of the same name that planton did not make is refused: nothing minted, nothing
    // written.
    {
        let _foreign = Mock::given(method("GET"))
            .and(path(app_path("edge3")))
            .and(header("authorization", ARM))
            .respond_with(ResponseTemplate::new(200).set_body_json(app("edge3", json!({"team": "payments"}), "nginx")))
            .expect(1)
            .mount_as_scoped(&az)
            .await;
        let before = az.received_requests().await.unwrap().len();
        let (code, _, err) = deploy("edge3", &["--image-tag", "1.0.0"]).await;
        assert!(
            code != 0
                && err.contains("container app planton-runner-edge3 in resource group ops-rg exists but was not made by planton for runner edge3"),
            "{err}"
        );
        let calls = az.received_requests().await.unwrap();
        let writes: Vec<String> = calls[before..]
            .iter()
            .filter(|r| r.method.as_str() != "GET" && !r.url.path().ends_with("/oauth2/v2.0/token"))
            .map(|r| format!("{} {}", r.method, r.url))
            .collect();
        assert!(writes.is_empty(), "nothing is written: {writes:?}");
        assert!(!env.planton(&["runner", "list"]).await.1.contains("edge3"), "nothing minted for a refused deploy");
    }

    // With --key-vault: the credentials in Key Vault (tagged), the app's secret a reference read
    // through the user-assigned identity.
    {
        let _free = Mock::given(method("GET"))
            .and(path(app_path("kvedge")))
            .and(header("authorization", ARM))
            .respond_with(not_found("kvedge"))
            .expect(2)
            .mount_as_scoped(&az)
            .await;
        let _no_secret = Mock::given(method("GET"))
            .and(path("/kv/secrets/planton-runner-kvedge"))
            .and(query_param("api-version", "7.4"))
            .and(header("authorization", KV))
            .respond_with(arm_error(404, "SecretNotFound", "A secret with (name/id) planton-runner-kvedge was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"))
            .expect(2)
            .mount_as_scoped(&az)
            .await;
        let _stored = Mock::given(method("PUT"))
            .and(path("/kv/secrets/planton-runner-kvedge"))
            .and(query_param("api-version", "7.4"))
            .and(header("authorization", KV))
            .and(body_partial_json(json!({"tags": {"planton-runner": "kvedge"}})))
            .and(|r: &Request| {
                of_runner(r.body_json::<Value>().ok().and_then(|b| b["value"].as_str().map(String::from)), "kvedge")
            })
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "value": "<stored>", "contentType": "application/json",
                "id": "https://ops-kv.vault.azure.net/secrets/planton-runner-kvedge/4387e9f3d6e14c459867679a90fd0f79",
                "attributes": {"enabled": true, "created": 1767607200, "updated": 1767607200, "recoveryLevel": "Recoverable+Purgeable"},
                "tags": {"planton-runner": "kvedge"},
            })))
            .expect(1)
            .named("the Key Vault secret stored with its tag")
            .mount_as_scoped(&az)
            .await;
        let _created = Mock::given(method("PUT"))
            .and(path(app_path("kvedge")))
            .and(header("authorization", ARM))
            .and(body_partial_json(json!({
                "identity": {"type": "UserAssigned", "userAssignedIdentities": {IDENTITY: {}}},
                "properties": {"configuration": {"secrets": [{
                    "name": "planton-runner-credentials",
                    "keyVaultUrl": format!("{vault}/secrets/planton-runner-kvedge"),
                    "identity": IDENTITY,
                }]}},
            })))
            .and(|r: &Request| secret_value(r).is_none())
            .respond_with(ResponseTemplate::new(201).set_body_json(app(
                "kvedge",
                json!({"planton-runner": "kvedge"}),
                "cloudops:1.0.0",
            )))
            .expect(1)
            .named("the app's secret a Key Vault reference, no value")
            .mount_as_scoped(&az)
            .await;
        let (code, out, err) =
            deploy("kvedge", &["--image-tag", "1.0.0", "--key-vault", "ops-kv", "--identity", IDENTITY]).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("Key Vault secret planton-runner-kvedge created in vault ops-kv"), "{out}");
        assert!(out.contains("container app planton-runner-kvedge created"), "{out}");
    }
    stops_cleanly(child).await;
}
