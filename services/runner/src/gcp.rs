//! GCP resource listings with the runner's own credentials: application default credentials
//! (GOOGLE_APPLICATION_CREDENTIALS, gcloud's well-known file, workload identity, the metadata
//! server), loaded once by google-cloud-auth and shared by both clients. The connection holds
//! only non-secret settings: project, zone, endpoint_url and storage_endpoint_url (for tests
//! and private endpoints).
//!
//! Compute Engine goes through the official REST client (`google-cloud-compute-v1`); Cloud
//! Storage through the JSON-API client `gcloud-storage` (see ARCHITECTURE.md for why).

use std::{sync::Arc, time::Duration};

use cloudops_schemas::{
    cloud::{CloudRow, Service},
    v1::{self, ErrorCode},
};
use google_cloud_auth::credentials::{AccessTokenCredentials, Builder as CredentialsBuilder};
use google_cloud_compute_v1::{client::Instances, model::Instance};
use google_cloud_gax::{
    paginator::Paginator,
    retry_policy::{Aip194Strict, RetryPolicy, RetryPolicyExt},
    retry_result::RetryResult,
    retry_state::RetryState,
};

use crate::cloud_common::{invalid, setting};

/// Attempts per call, the first included, for throttled (429) and unavailable (503) answers.
const ATTEMPTS: u32 = 4;
/// The first wait between attempts; then doubled. Short enough that every retry fits in the
/// op's deadline (the control plane's `--op-timeout-secs`), so the user reads "throttled", not
/// "did not answer".
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// How long a call may keep retrying, within the op's deadline.
const RETRY_BUDGET: Duration = Duration::from_secs(3);

/// GCP for one runner: the credentials are loaded on first use and kept (their token cache
/// serves every listing); a failure to load them is reported, and retried on the next call.
#[derive(Default)]
pub struct GcpProvider {
    credentials: tokio::sync::Mutex<Option<AccessTokenCredentials>>,
}

impl GcpProvider {
    async fn credentials(&self) -> Result<AccessTokenCredentials, v1::Error> {
        let mut slot = self.credentials.lock().await;
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        if !adc_file_present() && !metadata_server_reachable().await {
            return Err(no_credentials(
                "GOOGLE_APPLICATION_CREDENTIALS is not set, there is no application_default_credentials.json, and no \
                 metadata server answers",
            ));
        }
        let c = CredentialsBuilder::default()
            .with_scopes(["https://www.googleapis.com/auth/cloud-platform"])
            .build_access_token_credentials()
            .map_err(|e| no_credentials(&e.to_string()))?;
        *slot = Some(c.clone());
        Ok(c)
    }

    pub async fn list(
        &self,
        req: &v1::RunnerRequest,
        op: &v1::CloudList,
        service: Service,
    ) -> Result<Vec<CloudRow>, v1::Error> {
        let project = Some(op.project.as_str())
            .filter(|p| !p.is_empty())
            .or_else(|| setting(req, "project"))
            .ok_or_else(|| invalid("no GCP project: name one with the request, or give the connection a default (its setting `project`)"))?;
        let creds = self.credentials().await?;
        let endpoint = |key| setting(req, key).map(|e: &str| e.trim_end_matches('/').to_string());
        match service {
            Service::GcpCompute => {
                let endpoint = endpoint("endpoint_url");
                let zone = Some(op.zone.as_str()).filter(|z| !z.is_empty()).or_else(|| setting(req, "zone"));
                let filter = op.filters.join(" ");
                compute(creds, endpoint, project, zone, &filter).await
            }
            Service::GcpStorage => storage(creds, endpoint("storage_endpoint_url"), project).await,
            other => Err(invalid(format!("{} is not a GCP service", other.as_str()))),
        }
    }
}

/// An ADC file: the environment's, or gcloud's well-known one.
pub(crate) fn adc_file_present() -> bool {
    if std::env::var_os("GOOGLE_APPLICATION_CREDENTIALS").is_some_and(|v| !v.is_empty()) {
        return true;
    }
    let config = std::env::var_os("CLOUDSDK_CONFIG")
        .map(std::path::PathBuf::from)
        .or_else(|| dirs::home_dir().map(|h| h.join(".config/gcloud")));
    config.is_some_and(|c| c.join("application_default_credentials.json").is_file())
}

/// Without an ADC file the credentials come from the metadata server (GCE, GKE, Cloud Run).
/// Off Google Cloud there is none; a one-second probe says so at once, where the token fetch
/// would keep retrying past the op's deadline.
pub(crate) async fn metadata_server_reachable() -> bool {
    let host = std::env::var("GCE_METADATA_HOST").unwrap_or_else(|_| "metadata.google.internal".into());
    let addr = if host.contains(':') { host } else { format!("{host}:80") };
    matches!(
        tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(addr.as_str())).await,
        Ok(Ok(_))
    )
}

fn no_credentials(detail: &str) -> v1::Error {
    v1::Error::new(
        ErrorCode::Unavailable,
        format!(
            "the runner has no GCP credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud's application default \
             credentials, workload identity or the metadata server): {detail}"
        ),
    )
}

/// Aip194Strict (503 and I/O errors on idempotent calls) plus throttling: 429 /
/// RESOURCE_EXHAUSTED, which Compute Engine answers under its rate limits.
#[derive(Debug)]
struct RetryThrottled;

impl RetryPolicy for RetryThrottled {
    fn on_error(&self, state: &RetryState, error: google_cloud_gax::error::Error) -> RetryResult {
        if state.idempotent && error.http_status_code() == Some(429) {
            return RetryResult::Continue(error);
        }
        Aip194Strict.on_error(state, error)
    }
}

/// A Compute Engine failure as the user should read it. When the retry budget ran out, the
/// last attempt's error is the one that says why.
fn compute_error(what: &str, e: &google_cloud_gax::error::Error) -> v1::Error {
    use google_cloud_gax::error::Error;
    // The service's own answer, wherever it sits in the chain (an exhausted retry budget wraps
    // it, sometimes in a time-limit error of its own).
    let mut answer = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cur {
        if let Some(g) = c.downcast_ref::<Error>()
            && g.http_status_code().is_some()
        {
            answer = Some(g);
            break;
        }
        cur = c.source();
    }
    let e = answer.unwrap_or(e);
    let detail = e.to_string();
    if e.is_authentication() {
        return no_credentials(&detail);
    }
    // The budget ran out while the client's own throttling (engaged by the service's 429s) held
    // the last attempt back: the service was throttling.
    let status = e.http_status_code().or((e.is_exhausted() && detail.contains("throttled")).then_some(429));
    let message = e.status().map(|s| s.message.clone()).filter(|m| !m.is_empty()).unwrap_or(detail);
    http_error("Compute Engine", what, status, &message, e.is_io() || e.is_connect())
}

/// One mapping from an HTTP status (or a failed connection) to our codes, for both services.
fn http_error(service: &str, what: &str, status: Option<u16>, message: &str, unreachable: bool) -> v1::Error {
    match status {
        Some(401 | 403) => v1::Error::new(ErrorCode::PermissionDenied, format!("GCP denied {what}: {message}")),
        Some(429) => v1::Error::new(
            ErrorCode::Unavailable,
            format!("GCP throttled {what} and kept throttling after retries with backoff: {message}"),
        ),
        Some(404) => v1::Error::new(ErrorCode::NotFound, format!("GCP {what}: not found: {message}")),
        Some(400) => v1::Error::new(ErrorCode::InvalidArgument, format!("GCP rejected {what}: {message}")),
        _ if unreachable => {
            v1::Error::new(ErrorCode::Unavailable, format!("cannot reach {service} for {what}: {message}"))
        }
        Some(code) => {
            let mut out = v1::Error::new(ErrorCode::Upstream, format!("GCP {what} failed (HTTP {code}): {message}"));
            out.upstream_reason = code.to_string();
            out
        }
        None => v1::Error::new(ErrorCode::Upstream, format!("GCP {what} failed: {message}")),
    }
}

/// `zones/europe-west1-b` or a full URL → `europe-west1-b`.
fn last_segment(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

fn instance_row(i: &Instance) -> CloudRow {
    let mut r = CloudRow {
        provider: "gcp".into(),
        service: "compute".into(),
        kind: "Instance".into(),
        id: i.id.map(|id| id.to_string()).unwrap_or_default(),
        name: i.name.clone().unwrap_or_default(),
        location: last_segment(i.zone.as_deref().unwrap_or_default()).into(),
        r#type: last_segment(i.machine_type.as_deref().unwrap_or_default()).into(),
        state: i.status.as_ref().and_then(|s| s.name()).unwrap_or_default().into(),
        created: i.creation_timestamp.clone().unwrap_or_default(),
        ..Default::default()
    };
    let nic = i.network_interfaces.first();
    let internal = nic.and_then(|n| n.network_ip.clone()).unwrap_or_default();
    let external = nic.and_then(|n| n.access_configs.iter().find_map(|a| a.nat_ip.clone())).unwrap_or_default();
    r.attributes.insert("internal_ip".into(), internal);
    r.attributes.insert("external_ip".into(), external);
    r
}

/// Every instance, all pages: one zone's list, or the aggregated list over all zones.
async fn compute(
    creds: AccessTokenCredentials,
    endpoint: Option<String>,
    project: &str,
    zone: Option<&str>,
    filter: &str,
) -> Result<Vec<CloudRow>, v1::Error> {
    let backoff = google_cloud_gax::exponential_backoff::ExponentialBackoffBuilder::new()
        .with_initial_delay(FIRST_BACKOFF)
        .with_maximum_delay(FIRST_BACKOFF * 8)
        .clamp();
    let mut builder = Instances::builder()
        .with_credentials(creds)
        // The time limit also ends the client's adaptive throttling, whose waits do not count
        // as attempts.
        .with_retry_policy(RetryThrottled.with_time_limit(RETRY_BUDGET).with_attempt_limit(ATTEMPTS))
        .with_backoff_policy(backoff);
    if let Some(e) = endpoint {
        builder = builder.with_endpoint(e);
    }
    let client = builder.build().await.map_err(|e| invalid(format!("cannot set up the Compute Engine client: {e}")))?;
    let filter = Some(filter).filter(|f| !f.is_empty());
    let mut rows = Vec::new();
    match zone {
        Some(zone) => {
            let what = format!("compute.instances.list (project {project}, zone {zone})");
            let mut pages = client
                .list()
                .set_project(project)
                .set_zone(zone)
                .set_or_clear_filter(filter)
                .set_max_results(500_u32)
                .by_page();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| compute_error(&what, &e))?;
                rows.extend(page.items.iter().map(instance_row));
            }
        }
        None => {
            let what = format!("compute.instances.aggregatedList (project {project})");
            let mut pages = client
                .aggregated_list()
                .set_project(project)
                .set_or_clear_filter(filter)
                .set_max_results(500_u32)
                .by_page();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| compute_error(&what, &e))?;
                // Scopes without instances carry only a warning.
                let mut scopes: Vec<_> = page.items.iter().collect();
                scopes.sort_by(|a, b| a.0.cmp(b.0));
                rows.extend(scopes.into_iter().flat_map(|(_, s)| s.instances.iter().map(instance_row)));
            }
        }
    }
    Ok(rows)
}

/// gcloud-storage asks a token source for the Authorization header's value.
#[derive(Debug)]
struct TokenSource(AccessTokenCredentials);

#[async_trait::async_trait]
impl token_source::TokenSource for TokenSource {
    async fn token(&self) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
        Ok(format!("Bearer {}", self.0.access_token().await?.token))
    }
}

#[derive(Debug)]
struct TokenProvider(Arc<TokenSource>);

impl token_source::TokenSourceProvider for TokenProvider {
    fn token_source(&self) -> Arc<dyn token_source::TokenSource> {
        self.0.clone()
    }
}

/// Every bucket of the project, all pages; throttled and unavailable answers are retried with
/// backoff.
async fn storage(
    creds: AccessTokenCredentials,
    endpoint: Option<String>,
    project: &str,
) -> Result<Vec<CloudRow>, v1::Error> {
    use gcloud_storage::{
        client::{Client, ClientConfig},
        http::{Error, buckets::list::ListBucketsRequest},
    };
    let mut config = ClientConfig {
        token_source_provider: Some(Box::new(TokenProvider(Arc::new(TokenSource(creds))))),
        project_id: Some(project.into()),
        ..Default::default()
    };
    if let Some(e) = endpoint {
        config.storage_endpoint = e;
    }
    let client = Client::new(config);
    let what = format!("storage.buckets.list (project {project})");
    let mut rows = Vec::new();
    let mut page_token = None;
    loop {
        let req = ListBucketsRequest {
            project: project.into(),
            page_token: page_token.clone(),
            max_results: Some(1000),
            ..Default::default()
        };
        let mut attempt = 1;
        let page = loop {
            match client.list_buckets(&req).await {
                Ok(p) => break p,
                Err(Error::Response(r)) if matches!(r.code, 429 | 500 | 502 | 503 | 504) && attempt < ATTEMPTS => {}
                Err(Error::TokenSource(e)) => return Err(no_credentials(&e.to_string())),
                Err(Error::Response(r)) => {
                    return Err(http_error("Cloud Storage", &what, Some(r.code), &r.message, false));
                }
                Err(Error::HttpClient(e)) if attempt < ATTEMPTS && (e.is_connect() || e.is_timeout()) => {}
                Err(Error::HttpClient(e)) => {
                    return Err(http_error(
                        "Cloud Storage",
                        &what,
                        None,
                        &e.to_string(),
                        e.is_connect() || e.is_timeout(),
                    ));
                }
                Err(e) => return Err(http_error("Cloud Storage", &what, None, &e.to_string(), false)),
            }
            tokio::time::sleep(backoff(attempt)).await;
            attempt += 1;
        };
        rows.extend(page.items.into_iter().map(|b| {
            let mut r = CloudRow {
                provider: "gcp".into(),
                service: "storage".into(),
                kind: "Bucket".into(),
                id: b.name.clone(),
                name: b.name,
                location: b.location.to_ascii_lowercase(),
                created: b
                    .time_created
                    .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
                    .unwrap_or_default(),
                ..Default::default()
            };
            r.attributes.insert("storage_class".into(), b.storage_class);
            r
        }));
        page_token = page.next_page_token.filter(|t| !t.is_empty());
        if page_token.is_none() {
            return Ok(rows);
        }
    }
}

/// FIRST_BACKOFF, doubled per attempt, with up to 20% jitter.
fn backoff(attempt: u32) -> Duration {
    let base = FIRST_BACKOFF * (1 << (attempt - 1).min(5));
    base + base.mul_f64(rand::random::<f64>() * 0.2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use google_cloud_compute_v1::model::{AccessConfig, NetworkInterface, instance::Status};

    #[test]
    fn a_budget_exhausted_by_throttling_reads_as_throttled() {
        use google_cloud_gax::error::Error;
        let e = Error::exhausted("retry policy is exhausted after 3s, the last retry attempt was throttled");
        let got = compute_error("compute.instances.aggregatedList (project busy)", &e);
        assert_eq!(got.code(), ErrorCode::Unavailable);
        assert!(got.message.contains("GCP throttled") && got.message.contains("after retries with backoff"), "{got}");
        let other = compute_error("x", &Error::exhausted("too many attempts"));
        assert!(!other.message.contains("throttled"), "{other}");
    }

    #[test]
    fn instance_rows_take_the_short_names() {
        let i = Instance::new()
            .set_name("web-1")
            .set_id(42_u64)
            .set_zone("https://www.googleapis.com/compute/v1/projects/p/zones/europe-west1-b")
            .set_machine_type("zones/europe-west1-b/machineTypes/e2-small")
            .set_status(Status::Running)
            .set_network_interfaces([NetworkInterface::new()
                .set_network_ip("10.0.0.2")
                .set_access_configs([AccessConfig::new().set_nat_ip("34.1.2.3")])]);
        let r = instance_row(&i);
        assert_eq!((r.name.as_str(), r.id.as_str(), r.location.as_str()), ("web-1", "42", "europe-west1-b"));
        assert_eq!((r.r#type.as_str(), r.state.as_str()), ("e2-small", "RUNNING"));
        assert_eq!(r.attributes["external_ip"], "34.1.2.3");
        assert_eq!(instance_row(&Instance::new()).attributes["external_ip"], "");
    }

    #[test]
    fn statuses_map_to_clear_errors() {
        let e = http_error("Compute Engine", "x", Some(403), "no", false);
        assert_eq!(e.code(), ErrorCode::PermissionDenied);
        assert!(http_error("Cloud Storage", "x", Some(429), "slow", false).message.contains("after retries"));
        assert!(http_error("Cloud Storage", "x", None, "refused", true).message.contains("cannot reach Cloud Storage"));
        assert!(backoff(1) >= FIRST_BACKOFF && backoff(3) < FIRST_BACKOFF * 5);
    }
}
