//! `deploy --target gcp-cloud-run`: the runner as a Cloud Run service with one instance that is
//! always on (minimum and maximum 1, CPU always allocated) and no inbound traffic (ingress
//! internal only: the runner only dials out), with the deploying user's application default
//! credentials (`gcloud auth application-default login`, GOOGLE_APPLICATION_CREDENTIALS, the
//! metadata server). Through the documented REST APIs; what it makes, named after the runner:
//!
//! - the Secret Manager secret `planton-runner-NAME` holding `credentials.json` (created with
//!   automatic replication, or a new version when credentials are given; kept as it is
//!   otherwise, once its latest version is read back as this runner's credentials);
//! - the Cloud Run (Admin API v2) service `planton-runner-NAME` in `--project`/`--region`: the
//!   image, `planton-runner start`, the secret's latest version as `PLANTON_RUNNER_CREDENTIALS`,
//!   a startup probe on `/readyz` (a revision whose runner cannot open its tunnel never takes
//!   over) and a liveness probe on `/healthz`; created, or replaced with what the flags say
//!   (the credentials' SHA-256 is a template annotation, so new credentials make a new revision).
//!
//! Nothing is minted before both names are known to be free or ours: what it creates is labelled
//! `planton-runner=NAME`, and an unlabelled secret or service of the same name is refused, never
//! written. Cloud Run's long-running operation is named, not waited for. Each step is printed
//! as it is done.
//!
//! Endpoints, for tests and private endpoints: `CLOUDOPS_GCP_SECRETMANAGER_ENDPOINT` (default
//! `https://secretmanager.googleapis.com`) and `CLOUDOPS_GCP_RUN_ENDPOINT` (default
//! `https://run.googleapis.com`).

use base64::Engine;
use cloudops_schemas::deploy_args::DeployArgs;
use reqwest::Method;
use serde_json::{Value, json};

use super::{
    DeployError,
    objects::Values,
    rest::{self, Api},
};

const ENTRY_POINT: &str = "/usr/local/bin/planton-runner";
const HEALTH_PORT: u16 = 8086;
/// The label on what a deploy creates; an unlabelled secret or service of the same name is not ours.
const LABEL: &str = "planton-runner";
const SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

struct Plan {
    project: String,
    region: String,
    /// Both the secret's and the service's id.
    name: String,
    args: Vec<String>,
    /// projects/P/secrets/S.
    secret_path: String,
    /// projects/P/locations/R, the parent of the service.
    parent: String,
}

fn plan(v: &Values, a: &DeployArgs) -> Result<Plan, DeployError> {
    let need =
        |flag: &str, why: &str| DeployError::Invalid(format!("{flag} is required for --target gcp-cloud-run: {why}"));
    let project =
        a.project.clone().ok_or_else(|| need("--project", "the GCP project of the service and its secret"))?;
    let region = a.region.clone().ok_or_else(|| need("--region", "the Cloud Run region, e.g. europe-west1"))?;
    // Project ids (and legacy domain-scoped ones, example.com:p), regions: nothing to escape.
    if !rest::plain(&project, "-.:") {
        return Err(DeployError::Invalid(format!("--project {project:?}: not a GCP project id")));
    }
    if !rest::plain(&region, "-") {
        return Err(DeployError::Invalid(format!("--region {region:?}: not a GCP region")));
    }
    if let Some(sa) = &a.service_account
        && !(sa.contains('@') && rest::plain(sa, "-.@_"))
    {
        return Err(DeployError::Invalid(format!("--service-account {sa:?}: expected a service account's email")));
    }
    let name = format!("planton-runner-{}", v.release);
    // Cloud Run service names are at most 49 characters.
    if name.len() > 49 {
        return Err(DeployError::Invalid(format!(
            "runner name {:?}: at most 34 characters for Cloud Run (its service is planton-runner-NAME, at most 49)",
            v.release
        )));
    }
    Ok(Plan {
        secret_path: format!("projects/{project}/secrets/{name}"),
        parent: format!("projects/{project}/locations/{region}"),
        project,
        region,
        name,
        args: super::start_args(v),
    })
}

/// The service as Cloud Run Admin API v2 takes it (a `Service` resource); `checksum`: of the
/// credentials, so that new ones make a new revision.
fn service_body(v: &Values, a: &DeployArgs, p: &Plan, checksum: &str) -> Value {
    let probe = |path: &str, period: u32, failures: u32| json!({ "httpGet": { "path": path, "port": HEALTH_PORT }, "periodSeconds": period, "failureThreshold": failures });
    let mut template = json!({
        "annotations": { "planton-runner/credentials-sha256": checksum },
        "scaling": { "minInstanceCount": 1, "maxInstanceCount": 1 },
        "containers": [{
            "name": "runner",
            "image": v.image(),
            "command": [ENTRY_POINT],
            "args": p.args,
            "env": [{
                "name": "PLANTON_RUNNER_CREDENTIALS",
                "valueSource": { "secretKeyRef": { "secret": p.name, "version": "latest" } },
            }],
            // CPU always allocated: the runner works between requests (it never gets any).
            "resources": { "cpuIdle": false },
            "ports": [{ "containerPort": HEALTH_PORT }],
            // Up to two minutes to open the tunnel; then alive as long as it answers.
            "startupProbe": probe("/readyz", 5, 24),
            "livenessProbe": probe("/healthz", 10, 3),
        }],
    });
    if let Some(sa) = &a.service_account {
        template["serviceAccount"] = json!(sa);
    }
    json!({
        "labels": { LABEL: v.release },
        "ingress": "INGRESS_TRAFFIC_INTERNAL_ONLY",
        "template": template,
    })
}

/// The deploying user's access token, from application default credentials.
async fn token() -> Result<String, DeployError> {
    if !crate::gcp::adc_file_present() && !crate::gcp::metadata_server_reachable().await {
        return Err(DeployError::Gcp(
            "no credentials to deploy with: run `gcloud auth application-default login`, or set \
             GOOGLE_APPLICATION_CREDENTIALS (no application default credentials file, no metadata server)"
                .into(),
        ));
    }
    let creds = google_cloud_auth::credentials::Builder::default()
        .with_scopes([SCOPE])
        .build_access_token_credentials()
        .map_err(|e| DeployError::Gcp(format!("application default credentials: {e}")))?;
    let token = creds
        .access_token()
        .await
        .map_err(|e| DeployError::Gcp(format!("an access token from the application default credentials: {e}")))?;
    Ok(token.token)
}

fn labelled(found: &Value, name: &str) -> bool {
    found["labels"][LABEL].as_str() == Some(name)
}

pub async fn deploy(v: &Values, credentials: Option<String>, a: &DeployArgs) -> Result<Vec<String>, DeployError> {
    let p = plan(v, a)?;
    if a.dry_run {
        return Ok(vec![dry_run(v, a, &p, credentials.is_some())]);
    }
    let token = token().await?;
    let http = rest::client().map_err(DeployError::Gcp)?;
    let sm = Api {
        http: &http,
        token: token.clone(),
        name: "Secret Manager",
        base: rest::endpoint("CLOUDOPS_GCP_SECRETMANAGER_ENDPOINT", "https://secretmanager.googleapis.com")?,
        error: DeployError::Gcp,
    };
    let run = Api {
        http: &http,
        token,
        name: "Cloud Run",
        base: rest::endpoint("CLOUDOPS_GCP_RUN_ENDPOINT", "https://run.googleapis.com")?,
        error: DeployError::Gcp,
    };
    let (secret, service) = (&p.secret_path, format!("{}/services/{}", p.parent, p.name));
    // Before anything is minted or stored: both names are free or ours (this also says at once
    // when the APIs are off or the user may not use them).
    let existing_secret = sm.get(&format!("reading secret {}", p.name), &format!("v1/{secret}")).await?;
    if let Some(s) = &existing_secret
        && !labelled(s, &v.release)
    {
        return Err(DeployError::Invalid(format!(
            "secret {} in project {} exists but was not made by planton for runner {} (no {LABEL}={} label): remove it or choose another name",
            p.name, p.project, v.release, v.release
        )));
    }
    let existing_service = run.get(&format!("reading service {}", p.name), &format!("v2/{service}")).await?;
    if let Some(s) = &existing_service
        && !labelled(s, &v.release)
    {
        return Err(DeployError::Invalid(format!(
            "service {} in {} exists but was not made by planton for runner {} (no {LABEL}={} label): remove it or choose another name",
            p.name, p.parent, v.release, v.release
        )));
    }
    let say = |line: String| println!("{line}");
    let who = a.service_account.as_deref().unwrap_or("the Compute Engine default service account");
    let needs = || DeployError::NeedsCredentials { secret: format!("secret {} in project {}", p.name, p.project) };
    let credentials = match (credentials, existing_secret.is_some()) {
        (Some(c), exists) => {
            if !exists {
                let body = json!({ "replication": { "automatic": {} }, "labels": { LABEL: v.release } });
                let path = format!("v1/projects/{}/secrets?secretId={}", p.project, p.name);
                sm.send(&format!("creating secret {}", p.name), Method::POST, &path, Some(&body)).await?;
                say(format!(
                    "secret {} created in project {}: {who} needs roles/secretmanager.secretAccessor on it",
                    p.name, p.project
                ));
            }
            let body = json!({ "payload": { "data": B64.encode(c.as_bytes()) } });
            let what = format!("adding a version to secret {}", p.name);
            let version = sm.send(&what, Method::POST, &format!("v1/{secret}:addVersion"), Some(&body)).await?;
            say(format!(
                "secret {} holds the new credentials ({})",
                p.name,
                version["name"].as_str().unwrap_or("a new version")
            ));
            c
        }
        (None, true) => {
            // Kept only if its latest version is this runner's credentials.
            let what = format!("reading the credentials in secret {}", p.name);
            let Some(latest) = sm.get(&what, &format!("v1/{secret}/versions/latest:access")).await? else {
                // A secret with no version yet (an earlier deploy stopped after creating it).
                return Err(needs());
            };
            let text = latest["payload"]["data"]
                .as_str()
                .and_then(|d| B64.decode(d).ok())
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            if !rest::holds_credentials_of(&text, &v.release) {
                return Err(DeployError::Invalid(format!(
                    "secret {} does not hold runner {}'s credentials: pass --credentials-file, or delete the secret",
                    p.name, v.release
                )));
            }
            say(format!("secret {} kept ({})", p.name, latest["name"].as_str().unwrap_or("its latest version")));
            text
        }
        (None, false) => return Err(needs()),
    };
    let body = service_body(v, a, &p, &rest::checksum(&credentials));
    let (what, operation) = match existing_service {
        Some(_) => {
            let what = format!("updating service {}", p.name);
            ("updated", run.send(&what, Method::PATCH, &format!("v2/{service}"), Some(&body)).await?)
        }
        None => {
            let what = format!("creating service {}", p.name);
            let path = format!("v2/{}/services?serviceId={}", p.parent, p.name);
            ("created", run.send(&what, Method::POST, &path, Some(&body)).await?)
        }
    };
    say(format!(
        "service {} {what} in {} (image {}, 1 instance always on); Cloud Run rolls it out in operation {} (not waited for: `gcloud run services describe {} --project {} --region {}`)",
        p.name,
        p.parent,
        v.image(),
        operation["name"].as_str().unwrap_or("(unnamed)"),
        p.name,
        p.project,
        p.region
    ));
    Ok(Vec::new())
}

/// What a deploy would send, as the APIs take it (the credentials left out).
fn dry_run(v: &Values, a: &DeployArgs, p: &Plan, given: bool) -> String {
    let data = if given {
        "<base64 of --credentials-file, redacted>"
    } else {
        "<base64 of credentials.json, minted at deploy>"
    };
    let plan = json!({
        "secret": {
            "name": p.secret_path,
            "create": {
                "url": format!("v1/projects/{}/secrets?secretId={}", p.project, p.name),
                "body": { "replication": { "automatic": {} }, "labels": { LABEL: v.release } },
            },
            "addVersion": { "url": format!("v1/{}:addVersion", p.secret_path), "body": { "payload": { "data": data } } },
        },
        "service": {
            "name": format!("{}/services/{}", p.parent, p.name),
            "create": format!("v2/{}/services?serviceId={}", p.parent, p.name),
            "body": service_body(v, a, p, "<sha256 of credentials.json>"),
        },
    });
    super::render(&plan, a.output)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> DeployArgs {
        let base: &[&str] = &["edge", "--target", "gcp-cloud-run"];
        super::super::parse_args(&[base, extra].concat())
    }

    #[test]
    fn the_service_is_always_on_and_reads_the_secret() {
        let a = args(&["--project", "acme-prod", "--region", "europe-west1", "--require-impersonation"]);
        let v = super::super::values(&a, "1.0.0").unwrap();
        let p = plan(&v, &a).unwrap();
        let s = service_body(&v, &a, &p, &rest::checksum("{}"));
        assert_eq!(s["template"]["scaling"], json!({"minInstanceCount": 1, "maxInstanceCount": 1}));
        let c = &s["template"]["containers"][0];
        assert_eq!(c["resources"]["cpuIdle"], json!(false));
        assert_eq!(c["env"][0]["valueSource"]["secretKeyRef"]["secret"], "planton-runner-edge");
        assert_eq!(c["args"].as_array().unwrap().last().unwrap(), "--require-impersonation");
        assert_eq!(s["labels"][LABEL], "edge");
        let sum = &s["template"]["annotations"]["planton-runner/credentials-sha256"];
        assert_eq!(sum, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        assert!(s["template"].get("serviceAccount").is_none());
        let no_project = plan(&v, &args(&["--region", "europe-west1"]));
        assert!(matches!(no_project, Err(DeployError::Invalid(m)) if m.contains("--project is required")));
        let bad_region = plan(&v, &args(&["--project", "p", "--region", "europe-west1/x"]));
        assert!(matches!(bad_region, Err(DeployError::Invalid(_))));
    }
}
