//! Azure resource listings with the runner's own credentials: azure_identity's chain
//! (environment: a service principal's secret or certificate, workload identity, managed
//! identity, the Azure CLI's login), or, for Blob storage, the storage account key when the
//! runner's environment holds one (AZURE_STORAGE_KEY, as the az CLI reads it). The connection
//! holds only non-secret settings: subscription, resource_group, account, endpoint_url (Resource
//! Manager) and blob_endpoint_url (for tests and private endpoints).

use std::{sync::Arc, time::Duration};

use azure_core::{
    ExponentialRetryOptions, RetryOptions,
    auth::TokenCredential,
    error::{Error, ErrorKind},
};
use cloudops_schemas::{
    cloud::{CloudRow, Service},
    v1::{self, ErrorCode},
};
use futures::StreamExt;

use crate::cloud_common::{invalid, setting};

/// Retries for throttled (429) and unavailable answers, with exponential backoff that honours
/// Retry-After; then the error is reported. The waits (0.4 s, 0.8 s, 1.6 s) fit in the op's
/// deadline (the control plane's `--op-timeout-secs`), so the user reads "throttled", not "did
/// not answer".
fn retry() -> RetryOptions {
    RetryOptions::exponential(
        ExponentialRetryOptions::default()
            .max_retries(3_u32)
            .initial_delay(Duration::from_millis(200))
            .max_delay(Duration::from_secs(4))
            .max_total_elapsed(Duration::from_secs(10)),
    )
}

/// Azure for one runner: the credential chain is built once and kept (its token cache serves
/// every listing).
#[derive(Default)]
pub struct AzureProvider {
    credential: tokio::sync::Mutex<Option<Arc<dyn TokenCredential>>>,
}

impl AzureProvider {
    async fn credential(&self) -> Result<Arc<dyn TokenCredential>, v1::Error> {
        let mut slot = self.credential.lock().await;
        if let Some(c) = &*slot {
            return Ok(c.clone());
        }
        let c = azure_identity::create_credential().map_err(|e| no_credentials(&crate::error_chain(&e)))?;
        *slot = Some(c.clone());
        Ok(c)
    }

    pub async fn list(
        &self,
        req: &v1::RunnerRequest,
        op: &v1::CloudList,
        service: Service,
    ) -> Result<Vec<CloudRow>, v1::Error> {
        let pick = |given: &'_ str, key| {
            Some(given.to_string()).filter(|g| !g.is_empty()).or_else(|| setting(req, key).map(String::from))
        };
        match service {
            Service::AzureVm => {
                let subscription = pick(&op.subscription, "subscription").ok_or_else(|| {
                    invalid(
                        "no Azure subscription: name one with the request, or give the connection a default (its setting `subscription`)",
                    )
                })?;
                let group = pick(&op.resource_group, "resource_group");
                let endpoint = setting(req, "endpoint_url");
                vms(self.credential().await?, endpoint, &subscription, group.as_deref()).await
            }
            Service::AzureBlob => {
                let account = pick(&op.account, "account").ok_or_else(|| {
                    invalid("no storage account: name one with the request, or give the connection a default (its setting `account`)")
                })?;
                let endpoint = setting(req, "blob_endpoint_url");
                let key = std::env::var("AZURE_STORAGE_KEY")
                    .ok()
                    .filter(|k| !k.is_empty())
                    .filter(|_| std::env::var("AZURE_STORAGE_ACCOUNT").map_or(true, |a| a.is_empty() || a == account));
                let credentials = match key {
                    Some(key) => azure_storage::StorageCredentials::access_key(account.clone(), key),
                    None => azure_storage::StorageCredentials::token_credential(self.credential().await?),
                };
                containers(credentials, endpoint, &account).await
            }
            other => Err(invalid(format!("{} is not an Azure service", other.as_str()))),
        }
    }
}

fn no_credentials(detail: &str) -> v1::Error {
    v1::Error::new(
        ErrorCode::Unavailable,
        format!(
            "the runner has no Azure credentials (environment service principal, workload identity, managed \
             identity or an Azure CLI login): {detail}"
        ),
    )
}

/// An SDK failure as the user should read it.
fn azure_error(what: &str, e: &Error) -> v1::Error {
    let detail = crate::error_chain(e);
    match e.kind() {
        ErrorKind::Credential => no_credentials(&detail),
        ErrorKind::HttpResponse { status, error_code } => {
            let code = error_code.clone().unwrap_or_else(|| status.to_string());
            match u16::from(*status) {
                401 | 403 => {
                    v1::Error::new(ErrorCode::PermissionDenied, format!("Azure denied {what} ({code}): {detail}"))
                }
                429 => v1::Error::new(
                    ErrorCode::Unavailable,
                    format!("Azure throttled {what} and kept throttling after retries with backoff ({code}): {detail}"),
                ),
                404 => v1::Error::new(ErrorCode::NotFound, format!("Azure {what}: not found ({code}): {detail}")),
                _ => {
                    let mut out =
                        v1::Error::new(ErrorCode::Upstream, format!("Azure {what} failed ({code}): {detail}"));
                    out.upstream_reason = code;
                    out
                }
            }
        }
        ErrorKind::Io => v1::Error::new(ErrorCode::Unavailable, format!("cannot reach Azure for {what}: {detail}")),
        _ => v1::Error::new(ErrorCode::Upstream, format!("Azure {what} failed: {detail}")),
    }
}

/// `/subscriptions/S/resourceGroups/G/providers/…` → `G`.
fn resource_group_of(id: &str) -> &str {
    let mut parts = id.split('/');
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case("resourceGroups") {
            return parts.next().unwrap_or_default();
        }
    }
    ""
}

fn vm_row(vm: &azure_mgmt_compute::package_2024_07_01::models::VirtualMachine) -> CloudRow {
    let props = vm.properties.as_ref();
    let id = vm.resource.id.clone().unwrap_or_default();
    let size = props
        .and_then(|p| p.hardware_profile.as_ref())
        .and_then(|h| h.vm_size.as_ref())
        .and_then(|s| serde_json::to_value(s).ok())
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    // With statusOnly=true each VM carries its instance view: PowerState/running, …
    let power = props
        .and_then(|p| p.instance_view.as_ref())
        .and_then(|iv| iv.statuses.iter().find_map(|s| s.code.as_deref()?.strip_prefix("PowerState/")))
        .unwrap_or_default();
    let mut r = CloudRow {
        provider: "azure".into(),
        service: "vm".into(),
        kind: "VirtualMachine".into(),
        name: vm.resource.name.clone().unwrap_or_default(),
        location: vm.resource.location.clone(),
        r#type: size,
        state: power.into(),
        created: props
            .and_then(|p| p.time_created)
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default(),
        ..Default::default()
    };
    r.attributes.insert("resource_group".into(), resource_group_of(&id).into());
    r.id = id;
    r
}

/// Every VM of the subscription (or of one resource group), following nextLink.
async fn vms(
    credential: Arc<dyn TokenCredential>,
    endpoint: Option<&str>,
    subscription: &str,
    group: Option<&str>,
) -> Result<Vec<CloudRow>, v1::Error> {
    let mut builder = azure_mgmt_compute::package_2024_07_01::ClientBuilder::new(credential).retry(retry());
    if let Some(e) = endpoint {
        let url = azure_core::Url::parse(e).map_err(|err| invalid(format!("endpoint_url {e:?}: {err}")))?;
        builder = builder.endpoint(url);
    }
    let client = builder.build().map_err(|e| invalid(format!("cannot set up the Azure compute client: {e}")))?;
    let vms = client.virtual_machines_client();
    let mut rows = Vec::new();
    let (what, mut pages) = match group {
        Some(g) => (
            format!("Microsoft.Compute/virtualMachines list (subscription {subscription}, resource group {g})"),
            // The resource-group list has no statusOnly: ask for the instance view instead.
            vms.list(g, subscription).expand("instanceView").into_stream().boxed(),
        ),
        None => (
            format!("Microsoft.Compute/virtualMachines listAll (subscription {subscription})"),
            vms.list_all(subscription).status_only("true").into_stream().boxed(),
        ),
    };
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| azure_error(&what, &e))?;
        rows.extend(page.value.iter().map(vm_row));
    }
    Ok(rows)
}

/// Every container of the storage account, all pages.
async fn containers(
    credentials: azure_storage::StorageCredentials,
    endpoint: Option<&str>,
    account: &str,
) -> Result<Vec<CloudRow>, v1::Error> {
    use azure_storage::CloudLocation;
    use azure_storage_blobs::prelude::ClientBuilder;
    let builder = match endpoint {
        Some(uri) => ClientBuilder::with_location(
            CloudLocation::Custom { account: account.into(), uri: uri.trim_end_matches('/').into() },
            credentials,
        ),
        None => ClientBuilder::new(account, credentials),
    };
    let service = builder.retry(retry()).blob_service_client();
    let what = format!("list containers (storage account {account})");
    let mut pages = service.list_containers().into_stream();
    let mut rows = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| azure_error(&what, &e))?;
        for c in page.containers {
            let mut r = CloudRow {
                provider: "azure".into(),
                service: "blob".into(),
                kind: "Container".into(),
                id: format!("{account}/{}", c.name),
                name: c.name,
                location: account.into(),
                ..Default::default()
            };
            r.attributes.insert("public_access".into(), text(&c.public_access));
            r.attributes.insert("lease_state".into(), text(&c.lease_state));
            r.attributes.insert(
                "last_modified".into(),
                c.last_modified.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
            );
            rows.push(r);
        }
    }
    Ok(rows)
}

/// The SDK's unit enums (PublicAccess, LeaseState) as the REST API spells them, lowercased:
/// `none`, `blob`, `container`; `available`, `leased`, …
fn text(v: &impl std::fmt::Debug) -> String {
    format!("{v:?}").to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_groups_come_from_the_id() {
        let id = "/subscriptions/s1/resourceGroups/payments-rg/providers/Microsoft.Compute/virtualMachines/web-1";
        assert_eq!(resource_group_of(id), "payments-rg");
        assert_eq!(resource_group_of("/subscriptions/s1"), "");
    }

    #[test]
    fn vm_rows_read_the_documented_shape() {
        let vm: azure_mgmt_compute::package_2024_07_01::models::VirtualMachine =
            serde_json::from_value(serde_json::json!({
                "id": "/subscriptions/s1/resourceGroups/RG-1/providers/Microsoft.Compute/virtualMachines/web-1",
                "name": "web-1",
                "location": "westeurope",
                "properties": {
                    "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
                    "instanceView": {"statuses": [
                        {"code": "ProvisioningState/succeeded"},
                        {"code": "PowerState/deallocated"}
                    ]},
                    "timeCreated": "2026-11-20T08:00:00+00:00"
                }
            }))
            .unwrap();
        let r = vm_row(&vm);
        assert_eq!((r.name.as_str(), r.r#type.as_str(), r.state.as_str()), ("web-1", "Standard_D2s_v3", "deallocated"));
        assert_eq!(r.attributes["resource_group"], "RG-1");
        assert_eq!(r.created, "2026-11-20T08:00:00Z");
    }
}
