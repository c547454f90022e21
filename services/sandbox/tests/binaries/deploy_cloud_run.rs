//! `planton runner deploy --target gcp-cloud-run` through the shipped binaries, against wiremock
//! serving the documented REST bodies of Secret Manager v1 and Cloud Run Admin v2 (no emulator
//! exists for either), behind the token endpoint of the deploying user's application default
//! credentials. Every mock asserts the bearer token; the writes assert their bodies.

use base64::Engine;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, Request, ResponseTemplate,
    matchers::{body_partial_json, header, method, path, query_param},
};

use super::{Env, serve, stops_cleanly};

const BEARER: &str = "Bearer ya29.deployer";
const SECRETS: &str = "/v1/projects/acme-prod/secrets";
const SECRET: &str = "/v1/projects/acme-prod/secrets/planton-runner-edge";
const SERVICES: &str = "/v2/projects/acme-prod/locations/europe-west1/services";
const SERVICE: &str = "/v2/projects/acme-prod/locations/europe-west1/services/planton-runner-edge";

/// Google's documented error body.
fn google_error(code: u16, status: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({"error": {"code": code, "message": message, "status": status}}))
}

/// Secret Manager's `Secret`.
fn secret(name: &str, labels: Value) -> Value {
    json!({
        "name": format!("projects/123456789012/secrets/{name}"),
        "replication": {"automatic": {}},
        "createTime": "2026-01-05T10:00:00.000000Z",
        "labels": labels,
        "etag": "\"16f2d8a2c3b1e0\"",
    })
}

/// Cloud Run's long-running `Operation`.
fn operation(id: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "name": format!("projects/acme-prod/locations/europe-west1/operations/{id}"),
        "metadata": {"@type": "type.googleapis.com/google.cloud.run.v2.Service", "name": "projects/acme-prod/locations/europe-west1/services/planton-runner-edge"},
        "done": false,
    }))
}

/// The credentials.json in an addVersion body (`payload.data`, base64).
fn added_credentials(r: &Request) -> Option<String> {
    let body: Value = r.body_json().ok()?;
    let bytes = base64::engine::general_purpose::STANDARD.decode(body["payload"]["data"].as_str()?).ok()?;
    String::from_utf8(bytes).ok()
}

fn of_runner(text: Option<String>, name: &str) -> bool {
    text.and_then(|t| cloudops_schemas::RunnerCredentials::parse(&t).ok()).is_some_and(|c| c.runner_name == name)
}

#[tokio::test]
async fn runner_deploy_to_gcp_cloud_run_keeps_the_credentials_in_secret_manager() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let env = Env::new();
    let (child, _) = serve(&env, &[]).await;
    let gcp = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ya29.deployer", "expires_in": 3599, "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/cloud-platform",
        })))
        .mount(&gcp)
        .await;
    // The deploying user's application default credentials (gcloud's authorized_user file).
    let adc = env.home.parent().unwrap().join("adc.json");
    let adc_json = json!({
        "type": "authorized_user", "client_id": "cid.apps.googleusercontent.com", "client_secret": "deployer",
        "refresh_token": "1//deployer", "token_uri": format!("{}/token", gcp.uri()),
    });
    std::fs::write(&adc, adc_json.to_string()).unwrap();
    let uri = gcp.uri();
    let gcp_env = [
        ("GOOGLE_APPLICATION_CREDENTIALS", adc.to_str().unwrap()),
        ("GCE_METADATA_HOST", "127.0.0.1:9"),
        ("CLOUDOPS_GCP_SECRETMANAGER_ENDPOINT", uri.as_str()),
        ("CLOUDOPS_GCP_RUN_ENDPOINT", uri.as_str()),
    ];
    let env = &env;
    let deploy = |name: &str, extra: &[&str]| {
        let mut c = env.cmd("planton");
        c.args(["runner", "deploy", name, "--target", "gcp-cloud-run", "--project", "acme-prod"])
            .args(["--region", "europe-west1"])
            .args(extra)
            .envs(gcp_env);
        async move {
            let out = c.output().await.unwrap();
            (
                out.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&out.stdout).to_string(),
                String::from_utf8_lossy(&out.stderr).to_string(),
            )
        }
    };

    // A dry run prints the bodies that would be sent; nothing is minted, nothing is called.
    let (code, out, err) = deploy("edge", &["--image-tag", "1.0.0", "--dry-run", "-o", "json"]).await;
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["service"]["body"]["template"]["scaling"]["minInstanceCount"], 1, "{out}");
    assert!(plan["secret"]["addVersion"]["body"]["payload"]["data"].as_str().unwrap().contains("minted at deploy"));
    assert!(gcp.received_requests().await.unwrap().is_empty(), "a dry run calls nothing");
    assert!(!env.planton(&["runner", "list"]).await.1.contains("edge"), "a dry run registers nothing");

    // The deploy: both names free, credentials minted, the secret created with its label and
    // the credentials as its first version, the service created always on.
    let creds = {
        let _secret_free = Mock::given(method("GET"))
            .and(path(SECRET))
            .and(header("authorization", BEARER))
            .respond_with(google_error(
                404,
                "NOT_FOUND",
                "Secret [projects/123456789012/secrets/planton-runner-edge] not found or has no versions.",
            ))
            .expect(2)
            .named("the secret looked up before and after minting")
            .mount_as_scoped(&gcp)
            .await;
        let _service_free = Mock::given(method("GET"))
            .and(path(SERVICE))
            .and(header("authorization", BEARER))
            .respond_with(google_error(404, "NOT_FOUND", "Resource 'planton-runner-edge' of kind 'SERVICE' in region 'europe-west1' in project 'acme-prod' does not exist."))
            .expect(2)
            .named("the service looked up before and after minting")
            .mount_as_scoped(&gcp)
            .await;
        let _created = Mock::given(method("POST"))
            .and(path(SECRETS))
            .and(query_param("secretId", "planton-runner-edge"))
            .and(header("authorization", BEARER))
            .and(body_partial_json(json!({"replication": {"automatic": {}}, "labels": {"planton-runner": "edge"}})))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(secret("planton-runner-edge", json!({"planton-runner": "edge"}))),
            )
            .expect(1)
            .named("the secret created with its label")
            .mount_as_scoped(&gcp)
            .await;
        let added = Mock::given(method("POST"))
            .and(path(format!("{SECRET}:addVersion")))
            .and(header("authorization", BEARER))
            .and(|r: &Request| of_runner(added_credentials(r), "edge"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "name": "projects/123456789012/secrets/planton-runner-edge/versions/1",
                "createTime": "2026-01-05T10:00:01.000000Z", "state": "ENABLED",
                "replicationStatus": {"automatic": {}}, "etag": "\"16f2d8a2c3b1e1\"",
            })))
            .expect(1)
            .named("this runner's credentials.json added as a version")
            .mount_as_scoped(&gcp)
            .await;
        let _service = Mock::given(method("POST"))
            .and(path(SERVICES))
            .and(query_param("serviceId", "planton-runner-edge"))
            .and(header("authorization", BEARER))
            .and(body_partial_json(json!({
                "labels": {"planton-runner": "edge"},
                "ingress": "INGRESS_TRAFFIC_INTERNAL_ONLY",
                "template": {
                    "scaling": {"minInstanceCount": 1, "maxInstanceCount": 1},
                    "containers": [{
                        "image": "cloudops:1.0.0",
                        "command": ["/usr/local/bin/planton-runner"],
                        "args": ["start", "--health-addr", "0.0.0.0:8086"],
                        "env": [{
                            "name": "PLANTON_RUNNER_CREDENTIALS",
                            "valueSource": {"secretKeyRef": {"secret": "planton-runner-edge", "version": "latest"}},
                        }],
                        "resources": {"cpuIdle": false},
                        "startupProbe": {"httpGet": {"path": "/readyz", "port": 8086}},
                        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8086}},
                    }],
                },
            })))
            .respond_with(operation("c0ffee"))
            .expect(1)
            .named("the service created: one instance, CPU always allocated, the secret as its env")
            .mount_as_scoped(&gcp)
            .await;
        let (code, out, err) = deploy("edge", &["--image-tag", "1.0.0"]).await;
        assert_eq!(code, 0, "{err}");
        for line in [
            "secret planton-runner-edge created in project acme-prod",
            "secret planton-runner-edge holds the new credentials (projects/123456789012/secrets/planton-runner-edge/versions/1)",
            "service planton-runner-edge created in projects/acme-prod/locations/europe-west1",
            "operation projects/acme-prod/locations/europe-west1/operations/c0ffee (not waited for",
        ] {
            assert!(out.contains(line), "{line:?} in {out}");
        }
        assert!(env.planton(&["runner", "list"]).await.1.contains("edge"), "the runner is registered");
        let got = added.received_requests().await;
        added_credentials(&got[0]).unwrap()
    };

    // Again with another tag: the secret's latest version read back and kept (no new version),
    // the service replaced with the new image.
    {
        let _secret = Mock::given(method("GET"))
            .and(path(SECRET))
            .and(header("authorization", BEARER))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(secret("planton-runner-edge", json!({"planton-runner": "edge"}))),
            )
            .expect(1)
            .mount_as_scoped(&gcp)
            .await;
        let _latest = Mock::given(method("GET"))
            .and(path(format!("{SECRET}/versions/latest:access")))
            .and(header("authorization", BEARER))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "name": "projects/123456789012/secrets/planton-runner-edge/versions/1",
                "payload": {"data": base64::engine::general_purpose::STANDARD.encode(&creds), "dataCrc32c": "2374212307"},
            })))
            .expect(1)
            .named("the kept secret read back")
            .mount_as_scoped(&gcp)
            .await;
        let _service = Mock::given(method("GET"))
            .and(path(SERVICE))
            .and(header("authorization", BEARER))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "name": "projects/acme-prod/locations/europe-west1/services/planton-runner-edge",
                "uid": "0b8c6f7e-1d2a-4c55-9f0e-3a1b2c3d4e5f", "generation": "1",
                "labels": {"planton-runner": "edge"},
                "ingress": "INGRESS_TRAFFIC_INTERNAL_ONLY",
                "template": {"containers": [{"image": "cloudops:1.0.0"}]},
                "reconciling": false,
            })))
            .expect(1)
            .mount_as_scoped(&gcp)
            .await;
        let _patched = Mock::given(method("PATCH"))
            .and(path(SERVICE))
            .and(header("authorization", BEARER))
            .and(body_partial_json(json!({
                "labels": {"planton-runner": "edge"},
                "template": {
                    "scaling": {"minInstanceCount": 1},
                    "containers": [{"image": "cloudops:1.0.1", "resources": {"cpuIdle": false}}],
                },
            })))
            .respond_with(operation("d00d"))
            .expect(1)
            .named("the service updated with the new image")
            .mount_as_scoped(&gcp)
            .await;
        let _no_version = Mock::given(method("POST"))
            .and(path(format!("{SECRET}:addVersion")))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .named("no new secret version on a re-deploy")
            .mount_as_scoped(&gcp)
            .await;
        let (code, out, err) = deploy("edge", &["--image-tag", "1.0.1"]).await;
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains(
                "secret planton-runner-edge kept (projects/123456789012/secrets/planton-runner-edge/versions/1)"
            ),
            "{out}"
        );
        assert!(out.contains("service planton-runner-edge updated") && out.contains("image cloudops:1.0.1"), "{out}");
    }

    // A secret of the same name that planton did not make is refused: nothing minted, nothing
    // written.
    {
        let _foreign = Mock::given(method("GET"))
            .and(path("/v1/projects/acme-prod/secrets/planton-runner-edge3"))
            .and(header("authorization", BEARER))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(secret("planton-runner-edge3", json!({"team": "payments"}))),
            )
            .expect(1)
            .mount_as_scoped(&gcp)
            .await;
        let before = gcp.received_requests().await.unwrap().len();
        let (code, _, err) = deploy("edge3", &["--image-tag", "1.0.0"]).await;
        assert!(
            code != 0 && err.contains("secret planton-runner-edge3 in project acme-prod exists but was not made by planton for runner edge3"),
            "{err}"
        );
        let calls = gcp.received_requests().await.unwrap();
        let writes: Vec<String> = calls[before..]
            .iter()
            .filter(|r| r.method.as_str() != "GET" && r.url.path() != "/token")
            .map(|r| format!("{} {}", r.method, r.url))
            .collect();
        assert!(writes.is_empty(), "nothing is written: {writes:?}");
        assert!(!env.planton(&["runner", "list"]).await.1.contains("edge3"), "nothing minted for a refused deploy");
    }

    // Google's error is named with the call and its status.
    {
        let _denied = Mock::given(method("GET"))
            .and(path("/v1/projects/acme-prod/secrets/planton-runner-edge4"))
            .respond_with(google_error(403, "PERMISSION_DENIED", "Permission 'secretmanager.secrets.get' denied for resource 'projects/acme-prod/secrets/planton-runner-edge4' (or it may not exist)."))
            .expect(1)
            .mount_as_scoped(&gcp)
            .await;
        let (code, _, err) = deploy("edge4", &["--image-tag", "1.0.0"]).await;
        assert!(
            code != 0
                && err.contains("Secret Manager: reading secret planton-runner-edge4: PERMISSION_DENIED: Permission 'secretmanager.secrets.get' denied"),
            "{err}"
        );
    }
    stops_cleanly(child).await;
}
