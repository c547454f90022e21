//! The HTTP API against its own OpenAPI document (`/v1/openapi.json`), by Schemathesis (PyPI):
//! generated requests, valid and invalid, to every operation, as an admin and as a viewer. No
//! answer may be a 5xx; every answer must have a documented status, content type and schema;
//! invalid input must be refused with a 4xx; and a request without its credentials must be
//! refused with 401 or 403.

use std::process::Stdio;

use cloudops_sandbox::Sandbox;

/// What Schemathesis checks of every answer. Left out, and why:
/// - `positive_data_acceptance`: a request the schema allows still names an org, connection or
///   pod that does not exist, and a 404 is the right answer to it;
/// - `use_after_free`, `ensure_resource_availability`, `object_level_authorization`: the
///   stateful phase, which needs links between operations the document does not declare yet.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance,negative_data_rejection,ignored_auth,\
                      missing_required_header,unsupported_method";

/// The sandbox's org, connection and runner, for the path parameters of those names.
const SCHEMATHESIS_TOML: &str = r#"
[parameters]
"path.org" = "default"
"path.connection" = "contract-conn"
"path.verb" = "get"
"#;

/// `$CLOUDOPS_SCHEMATHESIS` (what `.ci/run` installed), else `st` on PATH.
fn schemathesis() -> std::path::PathBuf {
    if let Some(st) = std::env::var_os("CLOUDOPS_SCHEMATHESIS") {
        return st.into();
    }
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("st"))
        .find(|p| p.is_file());
    found.expect("Schemathesis (`st`) is not on PATH: `pip install schemathesis` (.ci/run installs it)")
}

#[tokio::test]
async fn the_api_keeps_its_documented_contract() {
    let st = schemathesis();
    let sb = Sandbox::start().await.unwrap();
    let _runner = sb.runner_with_connection("contract").await.unwrap();
    let viewer = sb.principal_on_connection("viewer1", "contract-conn", "viewer").await;

    // The document as a client reads it: OpenAPI 3.1, every operation secured but the public ones.
    let url = format!("{}/v1/openapi.json", sb.gateway_url());
    let ca = sb.dir.path().join("ca.pem");
    std::fs::write(&ca, sb.cp.pki.ca_pem()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(sb.cp.pki.ca_pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let doc: serde_json::Value = http.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["paths"]["/v1/orgs"]["get"]["security"][0]["api_key"], serde_json::json!([]));

    // Names that exist, so that generated requests reach past "not found" into each operation.
    let config = sb.dir.path().join("schemathesis.toml");
    std::fs::write(&config, SCHEMATHESIS_TOML).unwrap();
    for (who, key) in [("admin", &sb.api_key), ("viewer", &viewer)] {
        let report = sb.dir.path().join(format!("schemathesis-{who}"));
        let out = tokio::process::Command::new(&st)
            .arg("--config-file")
            .arg(&config)
            .args(["run", &url, "--checks", CHECKS, "--max-examples", "15", "--seed", "1"])
            .args(["--phases", "examples,coverage,fuzzing", "--generation-database", "none", "--workers", "1"])
            .args(["--request-timeout", "20", "--no-color", "--suppress-health-check", "all"])
            .arg("--tls-verify")
            .arg(&ca)
            .arg("--report-dir")
            .arg(&report)
            .args(["-H", &format!("Authorization: Bearer {key}")])
            // Its cache (`.schemathesis/`) goes to the sandbox's directory, not the checkout.
            .current_dir(sb.dir.path())
            .stdin(Stdio::null())
            .output()
            .await
            .expect("st runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let tail: Vec<&str> = stdout.lines().rev().take(12).collect();
        println!("schemathesis as {who}: {}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
        assert!(
            out.status.success(),
            "Schemathesis found answers outside the contract as {who}:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    sb.shutdown().await;
}
