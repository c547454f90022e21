//! `planton-runner deploy`: the runner deployed with the deploying user's own credentials
//! (`planton runner deploy` mints the runner's credentials, then runs this).
//!
//! Kubernetes: the objects of the `planton-runner` chart (`objects.rs`), applied server-side
//! through the Kubernetes API with field manager `planton`, so that a re-run updates in place
//! (another `--image-tag` changes the image and nothing else). Without credentials the
//! existing Secret is kept; if there is none, the exit code is [`NEEDS_CREDENTIALS`] so that
//! `planton` mints them and runs this again.
//!
//! The other targets, each in its module and behind its cloud's feature, follow the same steps:
//! AWS ECS (`ecs.rs`), GCP Cloud Run (`cloud_run.rs`) and Azure Container Apps
//! (`container_apps.rs`), the last two through their REST APIs (`rest.rs`).

#[cfg(feature = "gcp")]
mod cloud_run;
#[cfg(feature = "azure")]
mod container_apps;
#[cfg(feature = "aws")]
mod ecs;
pub mod objects;
#[cfg(any(feature = "gcp", feature = "azure"))]
mod rest;

use std::path::PathBuf;

use cloudops_schemas::deploy_args::{DeployArgs, DeployTarget, DryRunFormat};

/// The exit code of a deploy that found no credentials to keep and was given none.
pub const NEEDS_CREDENTIALS: u8 = 3;

/// Why a deploy stopped, named for the person running it.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{0}")]
    Invalid(String),
    #[error(
        "{secret} does not exist yet: credentials are needed (`planton runner deploy` mints them; or pass --credentials-file)"
    )]
    NeedsCredentials { secret: String },
    #[error("Kubernetes: {0}")]
    Kube(String),
    #[error("AWS: {0}")]
    Aws(String),
    #[error("GCP: {0}")]
    Gcp(String),
    #[error("Azure: {0}")]
    Azure(String),
    #[error("applying {what}: {message}")]
    Apply { what: String, message: String },
    #[error(
        "--target {0} is not available from this planton-runner yet: deploy to Kubernetes, or start the runner as a container on that platform with its credentials in PLANTON_RUNNER_CREDENTIALS (see `planton runner deploy --help`)"
    )]
    TargetNotAvailable(&'static str),
}

/// The chart's values from the flags.
pub fn values(args: &DeployArgs, default_tag: &str) -> Result<objects::Values, DeployError> {
    let pairs = |flag: &str, given: &[String]| -> Result<Vec<(String, String)>, DeployError> {
        given
            .iter()
            .map(|a| {
                a.split_once('=')
                    .filter(|(k, _)| !k.is_empty())
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .ok_or_else(|| DeployError::Invalid(format!("--{flag} {a:?}: expected KEY=VALUE")))
            })
            .collect()
    };
    let annotations = pairs("service-account-annotation", &args.service_account_annotations)?;
    let node_selector = pairs("node-selector", &args.node_selector)?;
    let dns_label = |s: &str| {
        !s.is_empty()
            && s.len() <= 63
            && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-')
    };
    if !dns_label(&args.namespace) {
        return Err(DeployError::Invalid(format!(
            "--namespace {:?}: not a valid Kubernetes namespace name",
            args.namespace
        )));
    }
    // The objects are named NAME-planton-runner-credentials: at most 63 characters in all.
    if !dns_label(&args.name) || args.name.len() > 63 - "-planton-runner-credentials".len() {
        return Err(DeployError::Invalid(format!(
            "runner name {:?}: must be a DNS label of at most 36 characters to name its Kubernetes objects",
            args.name
        )));
    }
    Ok(objects::Values {
        release: args.name.clone(),
        namespace: args.namespace.clone(),
        registry: args.image_registry.clone(),
        repository: args.image_repository.clone(),
        tag: args.image_tag.clone().unwrap_or_else(|| default_tag.to_string()),
        access: args.rbac,
        secrets: args.rbac_secrets,
        impersonate: args.impersonate,
        require_impersonation: args.require_impersonation,
        service_account_annotations: annotations,
        image_pull_secrets: args.image_pull_secrets.clone(),
        node_selector,
        health_port: 8086,
    })
}

/// What `--dry-run` prints: the objects, and the Secret when credentials were given.
pub fn dry_run(v: &objects::Values, credentials: Option<&str>, format: DryRunFormat) -> String {
    let mut objs = objects::objects(v, credentials.unwrap_or_default());
    if let Some(c) = credentials {
        objs.insert(objs.len() - 1, objects::secret(v, c));
    }
    match format {
        DryRunFormat::Json => {
            let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": objs });
            serde_json::to_string_pretty(&list).unwrap_or_default() + "\n"
        }
        DryRunFormat::Yaml => {
            let mut out = String::new();
            if credentials.is_none() {
                out.push_str(&format!("# and the Secret {} with the credentials minted at deploy\n", v.secret_name()));
            }
            for o in objs {
                out.push_str("---\n");
                out.push_str(&serde_yaml_ng::to_string(&o).unwrap_or_default());
            }
            out
        }
    }
}

/// The container's command line after `planton-runner`: health on 0.0.0.0:8086 for the
/// platform's probes (the image's entrypoint is `cloudops`, so each target sets the entry point).
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn start_args(v: &objects::Values) -> Vec<String> {
    let mut args: Vec<String> = ["start", "--health-addr", "0.0.0.0:8086"].map(String::from).into();
    if v.require_impersonation {
        args.push("--require-impersonation".into());
    }
    args
}

/// A target's dry run, as `-o` asks.
#[cfg(any(feature = "aws", feature = "gcp", feature = "azure"))]
fn render(plan: &serde_json::Value, format: DryRunFormat) -> String {
    match format {
        DryRunFormat::Json => serde_json::to_string_pretty(plan).unwrap_or_default() + "\n",
        DryRunFormat::Yaml => serde_yaml_ng::to_string(plan).unwrap_or_default(),
    }
}

/// Runs the deploy the flags describe; returns what was done, a line per object.
pub async fn run(args: &DeployArgs, default_tag: &str) -> Result<Vec<String>, DeployError> {
    let target = args.target.ok_or_else(|| DeployError::Invalid("--target is required".into()))?;
    let v = values(args, default_tag)?;
    let credentials = match &args.credentials_file {
        Some(f) => Some(read_credentials(f, &args.name)?),
        None => None,
    };
    match target {
        DeployTarget::Kubernetes if args.dry_run => Ok(vec![dry_run(&v, credentials.as_deref(), args.output)]),
        #[cfg(feature = "kubernetes")]
        DeployTarget::Kubernetes => {
            kubernetes::apply(&v, credentials, args.kubeconfig.clone(), args.context.clone()).await
        }
        #[cfg(not(feature = "kubernetes"))]
        DeployTarget::Kubernetes => Err(DeployError::TargetNotAvailable("kubernetes")),
        #[cfg(feature = "aws")]
        DeployTarget::AwsEcs => ecs::deploy(&v, credentials, args).await,
        #[cfg(feature = "gcp")]
        DeployTarget::GcpCloudRun => cloud_run::deploy(&v, credentials, args).await,
        #[cfg(feature = "azure")]
        DeployTarget::AzureContainerApps => container_apps::deploy(&v, credentials, args).await,
        #[allow(unreachable_patterns)]
        other => Err(DeployError::TargetNotAvailable(other.name())),
    }
}

/// The credentials file's text, if it is runner credentials for runner `name`.
fn read_credentials(f: &PathBuf, name: &str) -> Result<String, DeployError> {
    let text = std::fs::read_to_string(f).map_err(|e| DeployError::Invalid(format!("{}: {e}", f.display())))?;
    let creds = cloudops_schemas::RunnerCredentials::parse(&text)
        .map_err(|e| DeployError::Invalid(format!("{}: not runner credentials: {e}", f.display())))?;
    if creds.runner_name != name {
        return Err(DeployError::Invalid(format!(
            "{} holds the credentials of runner {:?}, not {name:?}",
            f.display(),
            creds.runner_name
        )));
    }
    Ok(text)
}

#[cfg(feature = "kubernetes")]
mod kubernetes {
    use kube::{
        Api, Client, Config,
        api::{DynamicObject, Patch, PatchParams},
        config::{KubeConfigOptions, Kubeconfig},
        core::{ApiResource, GroupVersionKind},
    };

    use serde_json::Value;

    use super::{DeployError, objects};

    const FIELD_MANAGER: &str = "planton";

    async fn client(kubeconfig: Option<std::path::PathBuf>, context: Option<String>) -> Result<Client, DeployError> {
        let opts = KubeConfigOptions { context: context.clone(), ..Default::default() };
        let cfg: Result<Config, String> = match kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(&path)
                    .map_err(|e| DeployError::Kube(format!("kubeconfig {}: {e}", path.display())))?;
                Config::from_custom_kubeconfig(kc, &opts).await.map_err(|e| e.to_string())
            }
            None if context.is_none() => Config::infer().await.map_err(|e| e.to_string()),
            None => Config::from_kubeconfig(&opts).await.map_err(|e| e.to_string()),
        };
        let cfg = cfg.map_err(|e| DeployError::Kube(format!("no cluster to deploy to: {e}")))?;
        Client::try_from(cfg).map_err(|e| DeployError::Kube(e.to_string()))
    }

    fn resource(obj: &Value) -> (ApiResource, bool) {
        let (api_version, kind) =
            (obj["apiVersion"].as_str().unwrap_or_default(), obj["kind"].as_str().unwrap_or_default());
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let (plural, namespaced) = match kind {
            "Namespace" => ("namespaces", false),
            "ServiceAccount" => ("serviceaccounts", true),
            "Secret" => ("secrets", true),
            "ClusterRole" => ("clusterroles", false),
            "ClusterRoleBinding" => ("clusterrolebindings", false),
            "Deployment" => ("deployments", true),
            other => unreachable!("objects.rs makes no {other}"),
        };
        (ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural), namespaced)
    }

    fn api(client: &Client, ns: &str, obj: &Value) -> (Api<DynamicObject>, String, String) {
        let (ar, namespaced) = resource(obj);
        let name = obj["metadata"]["name"].as_str().unwrap_or_default().to_string();
        let what = format!("{}/{name}", obj["kind"].as_str().unwrap_or_default().to_ascii_lowercase());
        let api =
            if namespaced { Api::namespaced_with(client.clone(), ns, &ar) } else { Api::all_with(client.clone(), &ar) };
        (api, name, what)
    }

    /// Server-side apply as field manager `planton`, not forced: a field another manager set
    /// (kubectl, Helm) is a conflict to resolve, never silently taken over. `dry_run`: checked
    /// by the API server (admission, RBAC, schema) and not stored.
    async fn apply_one(client: &Client, ns: &str, obj: &Value, dry_run: bool) -> Result<String, DeployError> {
        let (api, name, what) = api(client, ns, obj);
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.dry_run = dry_run;
        api.patch(&name, &params, &Patch::Apply(obj))
            .await
            .map_err(|e| DeployError::Apply { what: what.clone(), message: e.to_string() })?;
        Ok(format!("{what} serverside-applied"))
    }

    async fn get(client: &Client, ns: &str, kind: &str, name: &str) -> Result<Option<Value>, DeployError> {
        let probe = serde_json::json!({
            "apiVersion": if kind == "Secret" { "v1" } else { "rbac.authorization.k8s.io/v1" },
            "kind": kind, "metadata": { "name": name },
        });
        let (api, _, what) = api(client, ns, &probe);
        let found = api.get_opt(name).await.map_err(|e| DeployError::Kube(format!("reading {what}: {e}")))?;
        Ok(found.map(|o| serde_json::to_value(o).unwrap_or_default()))
    }

    /// A binding of this name that binds another namespace's service account is another
    /// runner's (the same name deployed elsewhere): refused, never rebound.
    async fn check_not_anothers(client: &Client, v: &objects::Values) -> Result<(), DeployError> {
        for (kind, name) in v.cluster_scoped() {
            let Some(found) = get(client, &v.namespace, kind, &name).await? else { continue };
            let elsewhere = found["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["namespace"].as_str())
                .find(|ns| *ns != v.namespace);
            if let Some(other) = elsewhere {
                return Err(DeployError::Invalid(format!(
                    "{}/{name} already binds the runner in namespace {other}: deploy this one under another name, or remove that one first",
                    kind.to_ascii_lowercase()
                )));
            }
            if !v.owns(&found) {
                return Err(DeployError::Invalid(format!(
                    "{}/{name} exists and is not this runner's (no app.kubernetes.io/instance={} label): remove it or deploy under another name",
                    kind.to_ascii_lowercase(),
                    v.release
                )));
            }
        }
        Ok(())
    }

    /// The credentials in the runner's Secret, if it exists.
    async fn existing_credentials(client: &Client, v: &objects::Values) -> Result<Option<String>, DeployError> {
        let Some(secret) = get(client, &v.namespace, "Secret", &v.secret_name()).await? else { return Ok(None) };
        use base64::Engine;
        let unreadable = |why: String| {
            DeployError::Kube(format!(
                "secret/{} in namespace {} has no usable credentials.json ({why}): delete it, or pass --credentials-file",
                v.secret_name(),
                v.namespace
            ))
        };
        let encoded = secret["data"]["credentials.json"].as_str().ok_or_else(|| unreadable("no such key".into()))?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|e| unreadable(e.to_string()))?;
        let text = String::from_utf8(bytes).map_err(|e| unreadable(e.to_string()))?;
        let creds = cloudops_schemas::RunnerCredentials::parse(&text).map_err(unreadable)?;
        if creds.runner_name != v.release {
            return Err(unreadable(format!("it holds runner {:?}'s credentials", creds.runner_name)));
        }
        Ok(Some(text))
    }

    pub async fn apply(
        v: &objects::Values,
        credentials: Option<String>,
        kubeconfig: Option<std::path::PathBuf>,
        context: Option<String>,
    ) -> Result<Vec<String>, DeployError> {
        let client = client(kubeconfig, context).await?;
        check_not_anothers(&client, v).await?;
        let (credentials, new_secret) = match credentials {
            Some(c) => (c, true),
            None => match existing_credentials(&client, v).await? {
                Some(c) => (c, false),
                None => {
                    // Before credentials are minted for it, the API server checks that the
                    // deploy would go through (RBAC, admission, schemas) without storing it.
                    let placeholder = "{}";
                    let mut objs = objects::objects(v, placeholder);
                    objs.insert(objs.len() - 1, objects::secret(v, placeholder));
                    for obj in &objs {
                        apply_one(&client, &v.namespace, obj, true).await?;
                    }
                    return Err(DeployError::NeedsCredentials {
                        secret: format!("secret/{} in namespace {}", v.secret_name(), v.namespace),
                    });
                }
            },
        };
        let mut objs = objects::objects(v, &credentials);
        if new_secret {
            objs.insert(objs.len() - 1, objects::secret(v, &credentials));
        }
        let mut done = Vec::new();
        for obj in &objs {
            done.push(apply_one(&client, &v.namespace, obj, false).await?);
        }
        if !new_secret {
            done.push(format!("secret/{} kept", v.secret_name()));
        }
        // What the flags no longer ask for goes (an --rbac narrowed), as `helm upgrade` removes it.
        for (kind, name) in v.cluster_scoped() {
            if objs.iter().any(|o| o["kind"] == kind && o["metadata"]["name"] == name.as_str()) {
                continue;
            }
            let Some(found) = get(&client, &v.namespace, kind, &name).await? else { continue };
            if !v.owns(&found) {
                continue;
            }
            let (api, _, what) = api(&client, &v.namespace, &found);
            api.delete(&name, &Default::default())
                .await
                .map_err(|e| DeployError::Apply { what: what.clone(), message: e.to_string() })?;
            done.push(format!("{what} deleted (no longer asked for)"));
        }
        Ok(done)
    }
}

/// The flags of `planton-runner deploy ARGS…`, parsed (unit tests of the targets).
#[cfg(test)]
pub(crate) fn parse_args(args: &[&str]) -> DeployArgs {
    use clap::Parser;
    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: DeployArgs,
    }
    Cmd::parse_from(std::iter::once("x").chain(args.iter().copied())).args
}
