//! `planton-runner deploy`: the runner deployed with the deploying user's own credentials
//! (`planton runner deploy` mints the runner's credentials, then runs this).
//!
//! Kubernetes: the objects of the `planton-runner` chart (`objects.rs`), applied server-side
//! through the Kubernetes API with field manager `planton`, so that a re-run updates in place
//! (another `--image-tag` changes the image and nothing else). Without credentials the
//! existing Secret is kept; if there is none, the exit code is [`NEEDS_CREDENTIALS`] so that
//! `planton` mints them and runs this again.

pub mod objects;

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
        "the Secret {secret} in namespace {namespace} does not exist yet: credentials are needed (`planton runner deploy` mints them; or pass --credentials-file)"
    )]
    NeedsCredentials { secret: String, namespace: String },
    #[error("Kubernetes: {0}")]
    Kube(String),
    #[error("applying {what}: {message}")]
    Apply { what: String, message: String },
    #[error(
        "--target {0} is not available from this planton-runner yet: deploy to Kubernetes, or start the runner as a container on that platform with its credentials in PLANTON_RUNNER_CREDENTIALS (see `planton runner deploy --help`)"
    )]
    TargetNotAvailable(&'static str),
}

/// The chart's values from the flags.
pub fn values(args: &DeployArgs, default_tag: &str) -> Result<objects::Values, DeployError> {
    let mut annotations = Vec::new();
    for a in &args.service_account_annotations {
        let (k, v) = a
            .split_once('=')
            .filter(|(k, _)| !k.is_empty())
            .ok_or_else(|| DeployError::Invalid(format!("--service-account-annotation {a:?}: expected KEY=VALUE")))?;
        annotations.push((k.to_string(), v.to_string()));
    }
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

/// Runs the deploy the flags describe; returns what was done, a line per object.
pub async fn run(args: &DeployArgs, default_tag: &str) -> Result<Vec<String>, DeployError> {
    let target = args.target.ok_or_else(|| DeployError::Invalid("--target is required".into()))?;
    let v = values(args, default_tag)?;
    let credentials = match &args.credentials_file {
        Some(f) => Some(read_credentials(f)?),
        None => None,
    };
    if args.dry_run {
        return Ok(vec![dry_run(&v, credentials.as_deref(), args.output)]);
    }
    match target {
        #[cfg(feature = "kubernetes")]
        DeployTarget::Kubernetes => {
            kubernetes::apply(&v, credentials, args.kubeconfig.clone(), args.context.clone()).await
        }
        #[cfg(not(feature = "kubernetes"))]
        DeployTarget::Kubernetes => Err(DeployError::TargetNotAvailable("kubernetes")),
        other => Err(DeployError::TargetNotAvailable(other.name())),
    }
}

fn read_credentials(f: &PathBuf) -> Result<String, DeployError> {
    let text = std::fs::read_to_string(f).map_err(|e| DeployError::Invalid(format!("{}: {e}", f.display())))?;
    cloudops_schemas::RunnerCredentials::parse(&text)
        .map_err(|e| DeployError::Invalid(format!("{}: not runner credentials: {e}", f.display())))?;
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

    async fn apply_one(client: &Client, ns: &str, obj: &Value) -> Result<String, DeployError> {
        let (ar, namespaced) = resource(obj);
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        let what = format!("{}/{name}", obj["kind"].as_str().unwrap_or_default().to_ascii_lowercase());
        let api: Api<DynamicObject> =
            if namespaced { Api::namespaced_with(client.clone(), ns, &ar) } else { Api::all_with(client.clone(), &ar) };
        api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(obj))
            .await
            .map_err(|e| DeployError::Apply { what: what.clone(), message: e.to_string() })?;
        Ok(format!("{what} serverside-applied"))
    }

    /// The credentials in the runner's Secret, if it exists.
    async fn existing_credentials(client: &Client, v: &objects::Values) -> Result<Option<String>, DeployError> {
        let (ar, _) = resource(&serde_json::json!({"apiVersion": "v1", "kind": "Secret"}));
        let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &v.namespace, &ar);
        let secret = api
            .get_opt(&v.secret_name())
            .await
            .map_err(|e| DeployError::Kube(format!("reading secret/{}: {e}", v.secret_name())))?;
        let Some(secret) = secret else { return Ok(None) };
        use base64::Engine;
        let encoded = secret.data["data"]["credentials.json"].as_str().unwrap_or_default().to_string();
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|e| {
            DeployError::Kube(format!("secret/{} has no readable credentials.json: {e}", v.secret_name()))
        })?;
        Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
    }

    pub async fn apply(
        v: &objects::Values,
        credentials: Option<String>,
        kubeconfig: Option<std::path::PathBuf>,
        context: Option<String>,
    ) -> Result<Vec<String>, DeployError> {
        let client = client(kubeconfig, context).await?;
        let (credentials, new_secret) = match credentials {
            Some(c) => (c, true),
            None => match existing_credentials(&client, v).await? {
                Some(c) => (c, false),
                None => {
                    return Err(DeployError::NeedsCredentials {
                        secret: v.secret_name(),
                        namespace: v.namespace.clone(),
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
            done.push(apply_one(&client, &v.namespace, obj).await?);
        }
        if !new_secret {
            done.push(format!("secret/{} kept", v.secret_name()));
        }
        Ok(done)
    }
}
