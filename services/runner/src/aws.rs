//! AWS resource listings with the runner's own credentials: the SDK's default chain
//! (environment, shared profile — the connection may name one —, web identity, ECS task role,
//! instance metadata). The connection holds only non-secret settings: profile, region,
//! endpoint_url (for tests and private endpoints); it may take a role to assume (`role_arn`,
//! with `external_id`) from the org's secrets: one runner, many AWS accounts.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata};
use cloudops_schemas::{
    cloud::{CloudRow, Service},
    v1::{self, ErrorCode},
};

use crate::cloud_common::{invalid, setting};

/// What makes two SDK configurations differ: profile, region, endpoint, and the role assumed
/// (with its external id).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ConfigKey {
    profile: Option<String>,
    region: Option<String>,
    endpoint: Option<String>,
    /// (role ARN, external id, the connection it is assumed for).
    role: Option<(String, Option<String>, String)>,
}

/// AWS for one runner. SDK configurations are loaded once per [`ConfigKey`] and kept, so
/// their credentials caches (STS, web identity, task role, the assumed role's) serve every
/// listing.
#[derive(Default)]
pub struct AwsProvider {
    configs: tokio::sync::Mutex<std::collections::HashMap<ConfigKey, SdkConfig>>,
}

impl AwsProvider {
    async fn sdk_config(&self, req: &v1::RunnerRequest, op: &v1::CloudList) -> Result<SdkConfig, v1::Error> {
        let region = Some(op.region.as_str()).filter(|r| !r.is_empty()).or_else(|| setting(req, "region"));
        let own = |v: Option<&str>| v.map(String::from);
        let key = ConfigKey {
            profile: own(setting(req, "profile")),
            region: own(region),
            endpoint: own(setting(req, "endpoint_url")),
            role: setting(req, "role_arn").map(|r| {
                let connection = req.settings.as_ref().map(|s| s.connection_id.clone()).unwrap_or_default();
                (r.to_string(), own(setting(req, "external_id")), connection)
            }),
        };
        let mut configs = self.configs.lock().await;
        if let Some(cfg) = configs.get(&key) {
            return Ok(cfg.clone());
        }
        use aws_smithy_http_client::tls;
        let https = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https);
        if let Some(p) = &key.profile {
            loader = loader.profile_name(p);
        }
        if let Some(r) = &key.region {
            loader = loader.region(Region::new(r.clone()));
        }
        if let Some(e) = &key.endpoint {
            loader = loader.endpoint_url(e);
        }
        let mut cfg = loader.load().await;
        if cfg.region().is_none() {
            return Err(invalid(
                "no AWS region: name one with the request, give the connection a default (its setting `region`), or set AWS_REGION on the runner",
            ));
        }
        if let Some((role, external_id, connection)) = &key.role {
            cfg = assume_role(cfg, role, external_id.as_deref(), &format!("planton-{connection}")).await?;
        }
        configs.insert(key, cfg.clone());
        Ok(cfg)
    }

    pub async fn list(
        &self,
        req: &v1::RunnerRequest,
        op: &v1::CloudList,
        service: Service,
    ) -> Result<Vec<CloudRow>, v1::Error> {
        let cfg = self.sdk_config(req, op).await?;
        let region = cfg.region().map(|r| r.to_string()).unwrap_or_default();
        let page_size = setting(req, "page_size").and_then(|p| p.parse::<i32>().ok()).unwrap_or(1000);
        match service {
            Service::AwsEc2 => ec2(&cfg, &region, op, page_size).await,
            Service::AwsS3 => s3(&cfg, &region).await,
            other => Err(invalid(format!("{} is not an AWS service", other.as_str()))),
        }
    }
}

/// `base` acting as `role`: the runner's own credentials assume it (STS AssumeRole), once
/// here to say at once when they cannot, then again whenever the temporary credentials expire.
/// `session_name` names the connection the role is assumed for (CloudTrail shows it).
async fn assume_role(
    base: SdkConfig,
    role: &str,
    external_id: Option<&str>,
    session_name: &str,
) -> Result<SdkConfig, v1::Error> {
    use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
    // The values come from org secrets: no message repeats them.
    if !is_role_arn(role) {
        return Err(invalid(
            "the connection's role_arn (from an org secret) is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME): check the secret it comes from",
        ));
    }
    let mut b = aws_config::sts::AssumeRoleProvider::builder(role).session_name(session_name).configure(&base);
    if let Some(x) = external_id {
        b = b.external_id(x);
    }
    let provider = b.build().await;
    provider.provide_credentials().await.map_err(|e| {
        v1::Error::new(
            ErrorCode::PermissionDenied,
            format!("the runner's own AWS credentials could not assume role {role}: {}", DisplayErrorContext(&e)),
        )
    })?;
    Ok(base.into_builder().credentials_provider(SharedCredentialsProvider::new(provider)).build())
}

/// `arn:PARTITION:iam::ACCOUNT:role/PATH/NAME`.
fn is_role_arn(s: &str) -> bool {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    matches!(parts.as_slice(), ["arn", partition, "iam", "", account, resource]
        if partition.starts_with("aws")
            && account.len() == 12
            && account.bytes().all(|b| b.is_ascii_digit())
            && resource.strip_prefix("role/").is_some_and(|n| !n.is_empty()))
}

/// An SDK failure as the user should read it: missing credentials, access denied, throttled
/// (after the SDK's retries with backoff), unreachable endpoint or region, or the service's own.
fn sdk_error<E, R>(what: &str, region: &str, e: aws_sdk_ec2::error::SdkError<E, R>) -> v1::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_ec2::error::SdkError;
    let detail = DisplayErrorContext(&e).to_string();
    let lower = detail.to_ascii_lowercase();
    if lower.contains("credentials") && (lower.contains("no credentials") || lower.contains("credentialsnotloaded")) {
        return v1::Error::new(
            ErrorCode::Unavailable,
            format!("the runner has no AWS credentials (environment, profile, web identity or task role): {detail}"),
        );
    }
    match &e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("Unknown");
            let message = se.err().message().unwrap_or_default();
            let kind = match code {
                "UnauthorizedOperation"
                | "AccessDenied"
                | "AccessDeniedException"
                | "AuthFailure"
                | "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken" => {
                    return v1::Error::new(
                        ErrorCode::PermissionDenied,
                        format!("AWS denied {what} ({code}): {message}"),
                    );
                }
                "RequestLimitExceeded" | "Throttling" | "ThrottlingException" | "SlowDown" | "TooManyRequests" => {
                    return v1::Error::new(
                        ErrorCode::Unavailable,
                        format!(
                            "AWS throttled {what} and kept throttling after retries with backoff ({code}): {message}"
                        ),
                    );
                }
                _ => ErrorCode::Upstream,
            };
            let mut out = v1::Error::new(kind, format!("AWS {what} failed ({code}): {message}"));
            out.upstream_reason = code.to_string();
            out
        }
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => v1::Error::new(
            ErrorCode::Unavailable,
            format!("cannot reach AWS for {what} in region {region:?} (is the region right?): {detail}"),
        ),
        _ => v1::Error::new(ErrorCode::Upstream, format!("AWS {what} failed: {detail}")),
    }
}

/// `NAME=VALUE[,VALUE…]`, as `aws ec2 describe-instances --filters` takes them.
fn parse_filters(filters: &[String]) -> Result<Vec<aws_sdk_ec2::types::Filter>, v1::Error> {
    filters
        .iter()
        .map(|f| {
            let (name, values) =
                f.split_once('=').filter(|(n, v)| !n.is_empty() && !v.is_empty()).ok_or_else(|| {
                    invalid(format!(
                        "invalid filter {f:?}: use NAME=VALUE, e.g. tag:team=payments or instance-state-name=running"
                    ))
                })?;
            Ok(aws_sdk_ec2::types::Filter::builder()
                .name(name)
                .set_values(Some(values.split(',').map(String::from).collect()))
                .build())
        })
        .collect()
}

fn row(service: &str, kind: &str) -> CloudRow {
    CloudRow { provider: "aws".into(), service: service.into(), kind: kind.into(), ..Default::default() }
}

fn rfc3339(t: &aws_sdk_ec2::primitives::DateTime) -> String {
    t.fmt(aws_sdk_ec2::primitives::DateTimeFormat::DateTime).unwrap_or_default()
}

/// Every instance, all pages, with the filters applied by EC2.
async fn ec2(cfg: &SdkConfig, region: &str, op: &v1::CloudList, page_size: i32) -> Result<Vec<CloudRow>, v1::Error> {
    let client = aws_sdk_ec2::Client::new(cfg);
    let filters = parse_filters(&op.filters)?;
    let mut pages = client
        .describe_instances()
        .set_filters((!filters.is_empty()).then_some(filters))
        .max_results(page_size)
        .into_paginator()
        .send();
    let mut rows = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("ec2:DescribeInstances", region, e))?;
        for i in page.reservations().iter().flat_map(|r| r.instances()) {
            let mut r = row("ec2", "Instance");
            r.id = i.instance_id().unwrap_or_default().into();
            r.name =
                i.tags().iter().find(|t| t.key() == Some("Name")).and_then(|t| t.value()).unwrap_or_default().into();
            r.location = i.placement().and_then(|p| p.availability_zone()).unwrap_or_default().into();
            r.r#type = i.instance_type().map(|t| t.as_str().to_string()).unwrap_or_default();
            r.state = i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string()).unwrap_or_default();
            r.created = i.launch_time().map(rfc3339).unwrap_or_default();
            for (k, v) in [("private_ip", i.private_ip_address()), ("public_ip", i.public_ip_address())] {
                r.attributes.insert(k.into(), v.unwrap_or_default().into());
            }
            rows.push(r);
        }
    }
    Ok(rows)
}

/// Every bucket the credentials see, with its region.
async fn s3(cfg: &SdkConfig, region: &str) -> Result<Vec<CloudRow>, v1::Error> {
    // Path-style addressing works with every endpoint, custom ones included.
    let conf = aws_sdk_s3::config::Builder::from(cfg).force_path_style(true).build();
    let client = aws_sdk_s3::Client::from_conf(conf);
    let mut pages = client.list_buckets().into_paginator().send();
    let mut rows = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk_error("s3:ListBuckets", region, e))?;
        for b in page.buckets() {
            let name = b.name().unwrap_or_default().to_string();
            let location = client
                .get_bucket_location()
                .bucket(&name)
                .send()
                .await
                .map_err(|e| sdk_error("s3:GetBucketLocation", region, e))?;
            let mut r = row("s3", "Bucket");
            r.location = match location.location_constraint().map(|c| c.as_str()) {
                None | Some("") => "us-east-1".into(),
                Some(c) => c.into(),
            };
            r.created = b.creation_date().map(rfc3339).unwrap_or_default();
            r.id = name.clone();
            r.name = name;
            rows.push(r);
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_are_recognised() {
        assert!(is_role_arn("arn:aws:iam::111111111111:role/ops"));
        assert!(is_role_arn("arn:aws-us-gov:iam::111111111111:role/team/ops"));
        for bad in ["arn:aws:iam::111:role/ops", "arn:aws:s3:::bucket", "arn:aws:iam::111111111111:user/x", "ops", ""] {
            assert!(!is_role_arn(bad), "{bad}");
        }
    }

    #[test]
    fn filters_parse_like_the_aws_cli() {
        let f = parse_filters(&["tag:team=payments".into(), "instance-state-name=running,stopped".into()]).unwrap();
        assert_eq!(f[0].name(), Some("tag:team"));
        assert_eq!(f[1].values(), ["running", "stopped"]);
        let e = parse_filters(&["running".into()]).unwrap_err();
        assert!(e.message.contains("use NAME=VALUE"), "{e}");
        assert!(parse_filters(&["x=".into()]).is_err());
    }
}
