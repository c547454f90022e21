//! `deploy --target aws-ecs`: the runner as one Fargate task kept running by an ECS service,
//! with the deploying user's AWS credentials (the SDK's default chain; `AWS_ENDPOINT_URL` for
//! private endpoints and tests). What it makes, all named after the runner:
//!
//! - the Secrets Manager secret `planton-runner/NAME` holding `credentials.json` (created, or a
//!   new version when credentials are given; kept as it is otherwise);
//! - the task definition family `planton-runner-NAME` (a new revision on every deploy): the
//!   image, `planton-runner start`, the secret as `PLANTON_RUNNER_CREDENTIALS`, a health check;
//! - the service `planton-runner-NAME` in `--cluster`, desired count 1, in `--subnets` and
//!   `--security-groups` (created, or updated to the new revision).
//!
//! Nothing is minted before the cluster is known to exist. What it creates is tagged
//! `planton:runner=NAME`; an untagged secret or service of the same name is refused, never
//! taken over. Each step is printed as it is done.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ecs::{
    error::{DisplayErrorContext, ProvideErrorMetadata},
    types::{
        AssignPublicIp, AwsVpcConfiguration, Compatibility, ContainerDefinition, HealthCheck, LaunchType,
        NetworkConfiguration, NetworkMode, Secret, ServiceField,
    },
};
use cloudops_schemas::deploy_args::DeployArgs;
use serde_json::json;

use super::{DeployError, objects::Values};

const ENTRY_POINT: &str = "/usr/local/bin/planton-runner";
/// A TCP connect to the runner's health port (the image has no HTTP client).
const HEALTH_CHECK: [&str; 5] = ["CMD", "/usr/local/bin/cloudops", "health", "--addr", "127.0.0.1:8086"];
/// The tag on what a deploy creates; an untagged secret or service of the same name is not ours.
const TAG: &str = "planton:runner";

struct Plan {
    secret: String,
    family: String,
    service: String,
    cluster: String,
    execution_role: String,
    command: Vec<String>,
}

fn plan(v: &Values, a: &DeployArgs) -> Result<Plan, DeployError> {
    let need = |flag: &str, why: &str| DeployError::Invalid(format!("{flag} is required for --target aws-ecs: {why}"));
    let cluster = a.cluster.clone().ok_or_else(|| need("--cluster", "the ECS cluster the runner's service runs in"))?;
    if a.subnets.is_empty() {
        return Err(need("--subnets", "the task's subnets, with outbound internet access for the tunnel"));
    }
    let execution_role = a
        .execution_role_arn
        .clone()
        .ok_or_else(|| need("--execution-role-arn", "ECS pulls the image and reads the credentials secret with it"))?;
    // The image's entrypoint is `cloudops`; ECS's `command` replaces only CMD, so the entry
    // point is set too.
    Ok(Plan {
        secret: format!("planton-runner/{}", v.release),
        family: format!("planton-runner-{}", v.release),
        service: format!("planton-runner-{}", v.release),
        cluster,
        execution_role,
        command: super::start_args(v),
    })
}

async fn sdk_config(region: Option<&str>) -> Result<SdkConfig, DeployError> {
    use aws_smithy_http_client::tls;
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https);
    if let Some(r) = region {
        loader = loader.region(Region::new(r.to_string()));
    }
    let cfg = loader.load().await;
    if cfg.region().is_none() {
        return Err(DeployError::Invalid("no AWS region: pass --region, or set AWS_REGION".into()));
    }
    Ok(cfg)
}

/// An SDK failure as a person reads it: the service's code and message when AWS answered,
/// else what kept the request from reaching it (credentials, network).
fn aws<E, R>(what: &str) -> impl FnOnce(aws_sdk_ecs::error::SdkError<E, R>) -> DeployError + '_
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    move |e| {
        let why = match e.as_service_error() {
            Some(s) => format!("{}: {}", s.code().unwrap_or("error"), s.message().unwrap_or_default()),
            None => DisplayErrorContext(&e).to_string(),
        };
        DeployError::Aws(format!("{what}: {why}"))
    }
}

fn not_found<E: ProvideErrorMetadata>(e: &aws_sdk_secretsmanager::error::SdkError<E>) -> bool {
    e.as_service_error().and_then(|s| s.code()) == Some("ResourceNotFoundException")
}

pub async fn deploy(v: &Values, credentials: Option<String>, a: &DeployArgs) -> Result<Vec<String>, DeployError> {
    let p = plan(v, a)?;
    if a.dry_run {
        return Ok(vec![dry_run(v, a, &p)]);
    }
    let cfg = sdk_config(a.region.as_deref()).await?;
    let region = cfg.region().map(|r| r.to_string()).unwrap_or_default();
    let (ecs, sm) = (aws_sdk_ecs::Client::new(&cfg), aws_sdk_secretsmanager::Client::new(&cfg));
    let clusters = ecs.describe_clusters().clusters(&p.cluster).send().await.map_err(aws("describing the cluster"))?;
    if !clusters.clusters().iter().any(|c| c.status() == Some("ACTIVE")) {
        return Err(DeployError::Invalid(format!("ECS cluster {:?} not found (or not active) in {region}", p.cluster)));
    }
    // Each step is said as it is done, so that a failure further on leaves no doubt about what
    // was already stored.
    let say = |line: String| println!("{line}");
    let ours = |key: Option<&str>, value: Option<&str>| key == Some(TAG) && value == Some(v.release.as_str());
    let existing = match sm.describe_secret().secret_id(&p.secret).send().await {
        Ok(d) => {
            if let Some(when) = d.deleted_date() {
                return Err(DeployError::Invalid(format!(
                    "secret {} is scheduled for deletion (since {when}): `aws secretsmanager restore-secret --secret-id {}`, or choose another runner name",
                    p.secret, p.secret
                )));
            }
            if !d.tags().iter().any(|t| ours(t.key(), t.value())) {
                return Err(DeployError::Invalid(format!(
                    "secret {} exists but was not made by planton for runner {} (no {TAG}={} tag): remove it or choose another name",
                    p.secret, v.release, v.release
                )));
            }
            Some(d.arn().unwrap_or_default().to_string())
        }
        Err(e) if not_found(&e) => None,
        Err(e) => return Err(aws("reading the credentials secret")(e)),
    };
    let secret_arn = match (credentials, existing) {
        (Some(c), Some(arn)) => {
            sm.put_secret_value()
                .secret_id(&arn)
                .secret_string(c)
                .send()
                .await
                .map_err(aws("storing the credentials"))?;
            say(format!("secret {} updated with the new credentials ({arn})", p.secret));
            arn
        }
        (Some(c), None) => {
            let tag = aws_sdk_secretsmanager::types::Tag::builder().key(TAG).value(&v.release).build();
            let made = sm
                .create_secret()
                .name(&p.secret)
                .description(format!("Cloud Ops runner {}: credentials.json", v.release))
                .secret_string(c)
                .tags(tag)
                .send()
                .await
                .map_err(aws("creating the credentials secret"))?;
            let arn = made.arn().unwrap_or_default().to_string();
            say(format!(
                "secret {} created ({arn}): the execution role needs secretsmanager:GetSecretValue on it",
                p.secret
            ));
            arn
        }
        (None, Some(arn)) => {
            // Kept only if it still holds this runner's credentials.
            let value = sm.get_secret_value().secret_id(&arn).send().await.map_err(aws("reading the credentials"))?;
            let usable = value
                .secret_string()
                .and_then(|t| cloudops_schemas::RunnerCredentials::parse(t).ok())
                .is_some_and(|c| c.runner_name == v.release);
            if !usable {
                return Err(DeployError::Invalid(format!(
                    "secret {} does not hold runner {}'s credentials: pass --credentials-file, or delete the secret",
                    p.secret, v.release
                )));
            }
            say(format!("secret {} kept ({arn})", p.secret));
            arn
        }
        (None, None) => {
            return Err(DeployError::NeedsCredentials {
                secret: format!("secret {} in Secrets Manager ({region})", p.secret),
            });
        }
    };
    let bad = |e: aws_sdk_ecs::error::BuildError| DeployError::Invalid(e.to_string());
    let container = ContainerDefinition::builder()
        .name("runner")
        .image(v.image())
        .essential(true)
        .entry_point(ENTRY_POINT)
        .set_command(Some(p.command.clone()))
        .secrets(Secret::builder().name("PLANTON_RUNNER_CREDENTIALS").value_from(&secret_arn).build().map_err(bad)?)
        .health_check(
            HealthCheck::builder()
                .set_command(Some(HEALTH_CHECK.map(String::from).into()))
                .interval(10)
                .retries(3)
                .start_period(30)
                .build()
                .map_err(bad)?,
        )
        .build();
    let registered = ecs
        .register_task_definition()
        .family(&p.family)
        .requires_compatibilities(Compatibility::Fargate)
        .network_mode(NetworkMode::Awsvpc)
        .cpu("256")
        .memory("512")
        .execution_role_arn(&p.execution_role)
        .set_task_role_arn(a.task_role_arn.clone())
        .container_definitions(container)
        .send()
        .await
        .map_err(aws("registering the task definition"))?;
    let td = registered.task_definition().and_then(|t| t.task_definition_arn()).unwrap_or_default().to_string();
    let revision = registered.task_definition().map(|t| t.revision()).unwrap_or_default();
    say(format!("task definition {}:{revision} registered ({})", p.family, v.image()));
    let vpc = AwsVpcConfiguration::builder()
        .set_subnets(Some(a.subnets.clone()))
        .set_security_groups((!a.security_groups.is_empty()).then(|| a.security_groups.clone()))
        .assign_public_ip(if a.assign_public_ip { AssignPublicIp::Enabled } else { AssignPublicIp::Disabled })
        .build()
        .map_err(bad)?;
    let network = NetworkConfiguration::builder().awsvpc_configuration(vpc).build();
    let services = ecs
        .describe_services()
        .cluster(&p.cluster)
        .services(&p.service)
        .include(ServiceField::Tags)
        .send()
        .await
        .map_err(aws("describing the service"))?;
    match services.services().iter().find(|s| matches!(s.status(), Some("ACTIVE" | "DRAINING"))) {
        Some(s) if s.status() == Some("DRAINING") => {
            return Err(DeployError::Invalid(format!(
                "service {} in cluster {} is being deleted (DRAINING): deploy again once it is gone",
                p.service, p.cluster
            )));
        }
        Some(s) => {
            if !s.tags().iter().any(|t| ours(t.key(), t.value())) {
                return Err(DeployError::Invalid(format!(
                    "service {} in cluster {} exists but was not made by planton for runner {} (no {TAG} tag)",
                    p.service, p.cluster, v.release
                )));
            }
            // What the flags say now: another image, other subnets or security groups.
            ecs.update_service()
                .cluster(&p.cluster)
                .service(&p.service)
                .task_definition(&td)
                .desired_count(1)
                .network_configuration(network)
                .send()
                .await
                .map_err(aws("updating the service"))?;
            say(format!("service {} updated in cluster {}", p.service, p.cluster));
        }
        None => {
            let tag = aws_sdk_ecs::types::Tag::builder().key(TAG).value(&v.release).build();
            ecs.create_service()
                .cluster(&p.cluster)
                .service_name(&p.service)
                .task_definition(&td)
                .desired_count(1)
                .launch_type(LaunchType::Fargate)
                .network_configuration(network)
                .tags(tag)
                .send()
                .await
                .map_err(aws("creating the service"))?;
            say(format!("service {} created in cluster {} (desired count 1)", p.service, p.cluster));
        }
    }
    Ok(Vec::new())
}

/// What a deploy would create, as the AWS API takes it.
fn dry_run(v: &Values, a: &DeployArgs, p: &Plan) -> String {
    let plan = json!({
        "secret": { "Name": p.secret, "SecretString": "<credentials.json, minted at deploy unless --credentials-file>" },
        "taskDefinition": {
            "family": p.family, "requiresCompatibilities": ["FARGATE"], "networkMode": "awsvpc",
            "cpu": "256", "memory": "512", "executionRoleArn": p.execution_role, "taskRoleArn": a.task_role_arn,
            "containerDefinitions": [{
                "name": "runner", "image": v.image(), "essential": true, "entryPoint": [ENTRY_POINT], "command": p.command,
                "secrets": [{ "name": "PLANTON_RUNNER_CREDENTIALS", "valueFrom": format!("<the ARN of {}>", p.secret) }],
                "healthCheck": { "command": HEALTH_CHECK, "interval": 10, "retries": 3, "startPeriod": 30 },
            }],
        },
        "service": {
            "cluster": p.cluster, "serviceName": p.service, "desiredCount": 1, "launchType": "FARGATE",
            "networkConfiguration": { "awsvpcConfiguration": {
                "subnets": a.subnets, "securityGroups": a.security_groups,
                "assignPublicIp": if a.assign_public_ip { "ENABLED" } else { "DISABLED" },
            }},
        },
    });
    super::render(&plan, a.output)
}
