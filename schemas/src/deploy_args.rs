//! The flags of `planton runner deploy`, shared by `planton` (which asks for the target, mints
//! credentials and then runs `planton-runner deploy`) and `planton-runner` (which links the
//! SDKs and does the deploying with the user's own credentials). One definition, so that what
//! `planton` forwards is exactly what `planton-runner` reads.

use std::path::PathBuf;

/// Where the runner goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DeployTarget {
    Kubernetes,
    AwsEcs,
    GcpCloudRun,
    AzureContainerApps,
}

impl DeployTarget {
    pub const ALL: [DeployTarget; 4] = [Self::Kubernetes, Self::AwsEcs, Self::GcpCloudRun, Self::AzureContainerApps];

    pub fn name(self) -> &'static str {
        match self {
            Self::Kubernetes => "kubernetes",
            Self::AwsEcs => "aws-ecs",
            Self::GcpCloudRun => "gcp-cloud-run",
            Self::AzureContainerApps => "azure-container-apps",
        }
    }
}

/// `--rbac`: what the runner's own service account may do in the cluster (the chart's
/// `rbac.access`); Cloud Ops' roles then narrow it per person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RbacAccess {
    /// Nothing of its own (with --impersonate and --require-impersonation: only as the person).
    None,
    /// Read everything but Secrets (the built-in `view` role).
    View,
    /// View, plus change workloads, exec, attach, port-forward, scale, restart.
    Edit,
    /// Edit, plus Roles and RoleBindings.
    Admin,
}

impl RbacAccess {
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::View => "view",
            Self::Edit => "edit",
            Self::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DryRunFormat {
    Yaml,
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// The runner's name (registered with its credentials if new).
    pub name: String,
    /// Where to deploy; asked on a terminal when not given.
    #[arg(long, value_enum)]
    pub target: Option<DeployTarget>,
    /// The runner image's tag [default: this planton's version].
    #[arg(long)]
    pub image_tag: Option<String>,
    /// The image's repository.
    #[arg(long, default_value = "cloudops")]
    pub image_repository: String,
    /// A registry in front of the repository, e.g. ghcr.io/acme.
    #[arg(long, default_value = "")]
    pub image_registry: String,
    /// A credentials.json to deploy instead of minting new credentials.
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// Print what would be created (no credentials are minted, nothing is changed).
    #[arg(long)]
    pub dry_run: bool,
    /// The format of --dry-run.
    #[arg(long, short = 'o', value_enum, default_value = "yaml", requires = "dry_run")]
    pub output: DryRunFormat,
    /// Kubernetes: the namespace of the runner.
    #[arg(long, short = 'n', default_value = "planton")]
    pub namespace: String,
    /// Kubernetes: the kubeconfig context [default: the current one].
    #[arg(long)]
    pub context: Option<String>,
    /// Kubernetes: the kubeconfig file [default: $KUBECONFIG, ~/.kube/config].
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// Kubernetes: what the runner's service account may do.
    #[arg(long, value_enum, default_value = "edit")]
    pub rbac: RbacAccess,
    /// Kubernetes: also grant Secrets cluster-wide (Cloud Ops' operators and admins read them).
    #[arg(long)]
    pub rbac_secrets: bool,
    /// Kubernetes: grant the `impersonate` verb, for connections with impersonate=true.
    #[arg(long)]
    pub impersonate: bool,
    /// Refuse every op that does not name the person (pair with --rbac none --impersonate).
    #[arg(long)]
    pub require_impersonation: bool,
    /// Kubernetes: an annotation of the runner's ServiceAccount, KEY=VALUE (IRSA:
    /// eks.amazonaws.com/role-arn=…; Workload Identity: iam.gke.io/gcp-service-account=…).
    #[arg(long = "service-account-annotation", value_name = "KEY=VALUE")]
    pub service_account_annotations: Vec<String>,
    /// Kubernetes: a Secret to pull the image with (repeatable), for a private registry.
    #[arg(long = "image-pull-secret", value_name = "NAME")]
    pub image_pull_secrets: Vec<String>,
    /// Kubernetes: a node label the runner's pod must match, KEY=VALUE (repeatable).
    #[arg(long = "node-selector", value_name = "KEY=VALUE")]
    pub node_selector: Vec<String>,
    /// AWS: the region [default: the SDK's chain: AWS_REGION, the profile's]. GCP Cloud Run:
    /// the region (required), e.g. europe-west1. (Azure: the location is the environment's.)
    #[arg(long)]
    pub region: Option<String>,
    /// AWS ECS: the cluster the runner's service runs in.
    #[arg(long)]
    pub cluster: Option<String>,
    /// AWS ECS: the task's subnets, comma-separated (with outbound internet access).
    #[arg(long, value_delimiter = ',')]
    pub subnets: Vec<String>,
    /// AWS ECS: the task's security groups, comma-separated (outbound only is enough).
    #[arg(long, value_delimiter = ',')]
    pub security_groups: Vec<String>,
    /// AWS ECS: the role ECS pulls the image and reads the credentials secret with
    /// (secretsmanager:GetSecretValue on planton-runner/NAME).
    #[arg(long)]
    pub execution_role_arn: Option<String>,
    /// AWS ECS: the role the runner's own AWS calls use.
    #[arg(long)]
    pub task_role_arn: Option<String>,
    /// AWS ECS: give the task a public IP (subnets without a NAT gateway).
    #[arg(long)]
    pub assign_public_ip: bool,
    /// GCP Cloud Run: the project of the service and of the credentials' secret.
    #[arg(long)]
    pub project: Option<String>,
    /// GCP Cloud Run: the service account the runner runs as (email) [default: the Compute
    /// Engine default]; it needs roles/secretmanager.secretAccessor on planton-runner-NAME.
    #[arg(long)]
    pub service_account: Option<String>,
    /// Azure Container Apps: the subscription.
    #[arg(long)]
    pub subscription: Option<String>,
    /// Azure Container Apps: the resource group of the app.
    #[arg(long)]
    pub resource_group: Option<String>,
    /// Azure Container Apps: the managed environment (its name in --resource-group, or its
    /// resource id); the app goes in its location.
    #[arg(long)]
    pub environment: Option<String>,
    /// Azure Container Apps: a user-assigned managed identity (resource id) for the app: to
    /// read --key-vault, and to pull from an Azure Container Registry.
    #[arg(long)]
    pub identity: Option<String>,
    /// Azure Container Apps: keep the credentials in this Key Vault (its name), referenced by
    /// the app through --identity (Key Vault Secrets User on it) [default: a Container Apps
    /// secret of the app].
    #[arg(long, requires = "identity")]
    pub key_vault: Option<String>,
}

impl DeployArgs {
    /// The same flags as arguments again, for `planton-runner deploy`.
    /// Values go as `--flag=value` and the name after `--`, so that a value starting with `-`
    /// is never read as a flag.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = Vec::new();
        let mut flag = |k: &str, v: &str| a.push(format!("--{k}={v}"));
        if let Some(t) = self.target {
            flag("target", t.name());
        }
        if let Some(t) = &self.image_tag {
            flag("image-tag", t);
        }
        flag("image-repository", &self.image_repository);
        flag("image-registry", &self.image_registry);
        if let Some(f) = &self.credentials_file {
            flag("credentials-file", &f.to_string_lossy());
        }
        if self.dry_run {
            flag("output", if self.output == DryRunFormat::Json { "json" } else { "yaml" });
        }
        flag("namespace", &self.namespace);
        if let Some(c) = &self.context {
            flag("context", c);
        }
        if let Some(k) = &self.kubeconfig {
            flag("kubeconfig", &k.to_string_lossy());
        }
        flag("rbac", self.rbac.name());
        for s in &self.service_account_annotations {
            flag("service-account-annotation", s);
        }
        for s in &self.image_pull_secrets {
            flag("image-pull-secret", s);
        }
        for s in &self.node_selector {
            flag("node-selector", s);
        }
        for (k, v) in [
            ("region", &self.region),
            ("cluster", &self.cluster),
            ("execution-role-arn", &self.execution_role_arn),
            ("task-role-arn", &self.task_role_arn),
            ("project", &self.project),
            ("service-account", &self.service_account),
            ("subscription", &self.subscription),
            ("resource-group", &self.resource_group),
            ("environment", &self.environment),
            ("identity", &self.identity),
            ("key-vault", &self.key_vault),
        ] {
            if let Some(v) = v {
                flag(k, v);
            }
        }
        for (k, list) in [("subnets", &self.subnets), ("security-groups", &self.security_groups)] {
            if !list.is_empty() {
                flag(k, &list.join(","));
            }
        }
        for (on, name) in [
            (self.dry_run, "--dry-run"),
            (self.rbac_secrets, "--rbac-secrets"),
            (self.impersonate, "--impersonate"),
            (self.require_impersonation, "--require-impersonation"),
            (self.assign_public_ip, "--assign-public-ip"),
        ] {
            if on {
                a.push(name.into());
            }
        }
        a.push("--".into());
        a.push(self.name.clone());
        a
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        args: DeployArgs,
    }

    #[test]
    fn forwarded_flags_read_back_the_same() {
        let given = [
            "x",
            "prod",
            "--target",
            "kubernetes",
            "--image-tag",
            "1.2.3",
            "--rbac",
            "view",
            "--impersonate",
            "--service-account-annotation",
            "eks.amazonaws.com/role-arn=arn:aws:iam::1:role/r",
            "--dry-run",
            "-o",
            "json",
            "--image-registry=-odd",
            "--subnets",
            "subnet-1,subnet-2",
            "--cluster",
            "ops",
            "--assign-public-ip",
            "--node-selector",
            "pool=ops",
            "--region",
            "europe-west1",
            "--project",
            "acme-prod",
            "--service-account",
            "runner@acme-prod.iam.gserviceaccount.com",
            "--subscription",
            "sub-1",
            "--resource-group",
            "ops-rg",
            "--environment",
            "/subscriptions/sub-1/resourceGroups/ops-rg/providers/Microsoft.App/managedEnvironments/ops-env",
            "--identity",
            "/subscriptions/sub-1/resourceGroups/ops-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/runner",
            "--key-vault",
            "ops-kv",
        ];
        let first = Cmd::parse_from(given).args;
        let again = Cmd::parse_from(std::iter::once("x".to_string()).chain(first.to_args())).args;
        assert_eq!(format!("{first:?}"), format!("{again:?}"));
        assert!(again.dry_run && again.output == DryRunFormat::Json);
        assert_eq!(again.target, Some(DeployTarget::Kubernetes));
        assert_eq!(again.image_registry, "-odd", "a value starting with - stays a value");
        assert_eq!(again.subnets, ["subnet-1", "subnet-2"]);
        assert_eq!(again.project.as_deref(), Some("acme-prod"));
        assert_eq!(again.service_account.as_deref(), Some("runner@acme-prod.iam.gserviceaccount.com"));
        assert_eq!((again.subscription.as_deref(), again.key_vault.as_deref()), (Some("sub-1"), Some("ops-kv")));
        assert!(again.environment.as_deref().is_some_and(|e| e.ends_with("/managedEnvironments/ops-env")));
    }
}
